-- Events of committed writes waiting to be published on the bus (idic_runtime::outbox):
-- written in the same transaction as the interactions they announce, so a crash
-- between commit and publication loses none.
CREATE TABLE outbox (
    event_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
