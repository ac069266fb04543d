-- Change events waiting to be published on the bus topic identity.changes
-- (idic_runtime::outbox): written in the same transaction as the change they announce,
-- so a crash between commit and publication loses none. An erasure that never reached
-- the other services would leave the customer's data there.
CREATE TABLE outbox (
    event_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
