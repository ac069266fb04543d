-- Engine snapshots on local disk (services/identity/src/snapshot): a database's
-- instance id, so a snapshot of another database is never loaded, and the change
-- counter that every embedded commit raises in its own transaction, so a snapshot is
-- loaded only when nothing was written after it (replicas use the log's position).
CREATE TABLE identity_generation (
    id BIGINT PRIMARY KEY,
    instance TEXT NOT NULL,
    changes BIGINT NOT NULL
);
INSERT INTO identity_generation (id, instance, changes) VALUES (1, '', 0);
