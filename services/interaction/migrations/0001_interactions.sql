-- Every contact with a customer. Times are microseconds since the Unix epoch; enums
-- are the wire numbers of idic.v1.Channel, InteractionType and Direction.
CREATE TABLE interactions (
    interaction_id TEXT PRIMARY KEY,
    -- The client's idempotency key: a retried write finds the first one.
    idempotency_key TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    channel BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    direction BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    thread_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX interactions_timeline ON interactions (customer_id, occurred_at DESC, interaction_id DESC);
