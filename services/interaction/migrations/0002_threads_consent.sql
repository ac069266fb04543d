-- Every field of RecordInteraction, threads, expressed preferences, consent, Segment
-- ingest and organization links. Times are microseconds since the Unix epoch; enums
-- are the wire numbers of the contract's enums; booleans are 0/1. `anchor` is the
-- reference the caller used ("id:cus_..." or "KIND:value"), kept so that an unmerge in
-- identity can move each row back to the customer its anchor resolves to.
ALTER TABLE interactions ADD COLUMN anchor TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN thread_status BIGINT NOT NULL DEFAULT 0;
-- Expressed needs as "key=value" lines, keys and values percent-escaped.
ALTER TABLE interactions ADD COLUMN needs TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN sentiment BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN cost_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE interactions ADD COLUMN cost_minor_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE interactions ADD COLUMN automated BIGINT NOT NULL DEFAULT 0;
CREATE INDEX interactions_thread ON interactions (thread_id, occurred_at, interaction_id);
CREATE INDEX interactions_period ON interactions (occurred_at);
CREATE INDEX interactions_anchor ON interactions (anchor, customer_id);

-- Conversations spanning contacts and channels.
CREATE TABLE threads (
    thread_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    anchor TEXT NOT NULL,
    topic TEXT NOT NULL,
    status BIGINT NOT NULL,
    opened_by BIGINT NOT NULL,
    opened_channel BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    -- 0 while not resolved.
    resolved_at BIGINT NOT NULL,
    step_count BIGINT NOT NULL,
    last_interaction_id TEXT NOT NULL
);
CREATE INDEX threads_customer ON threads (customer_id, status, last_activity_at DESC);
CREATE INDEX threads_resolved ON threads (resolved_at);

-- Expressed needs and preferences, one row per key per interaction.
CREATE TABLE preferences (
    interaction_id TEXT NOT NULL,
    pref_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    anchor TEXT NOT NULL,
    pref_value TEXT NOT NULL,
    channel BIGINT NOT NULL,
    expressed_at BIGINT NOT NULL,
    PRIMARY KEY (interaction_id, pref_key)
);
CREATE INDEX preferences_customer ON preferences (customer_id, expressed_at DESC);

-- Consent decisions, all kept; the latest per channel and purpose is the current one.
CREATE TABLE consents (
    consent_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    anchor TEXT NOT NULL,
    channel BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    status BIGINT NOT NULL,
    decided_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX consents_customer ON consents (customer_id, decided_at DESC);

-- Segment events already ingested, by messageId.
CREATE TABLE segment_messages (
    message_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    interaction_id TEXT NOT NULL,
    ingested_at BIGINT NOT NULL
);
CREATE INDEX segment_messages_customer ON segment_messages (customer_id);

-- Persons linked to organizations by Segment `group` calls.
CREATE TABLE organization_links (
    anchor TEXT NOT NULL,
    group_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    organization_name TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (anchor, group_id)
);
CREATE INDEX organization_links_customer ON organization_links (customer_id);
