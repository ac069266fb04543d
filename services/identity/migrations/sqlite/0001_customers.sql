-- Customers (clusters of source records), their aliases, the records and the
-- identifiers that find them. Times are microseconds since the Unix epoch.
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- The golden record as JSON, with per-field provenance.
    golden TEXT NOT NULL
);

CREATE TABLE customer_aliases (
    alias_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE
);
CREATE INDEX customer_aliases_by_customer ON customer_aliases (customer_id);

CREATE TABLE source_records (
    source_system TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    channel BIGINT NOT NULL,
    observed_at BIGINT NOT NULL,
    -- The record as received (normalized), JSON.
    record TEXT NOT NULL,
    PRIMARY KEY (source_system, source_record_id)
);
CREATE INDEX source_records_by_customer ON source_records (customer_id);

CREATE TABLE record_identifiers (
    kind BIGINT NOT NULL,
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    source_system TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    PRIMARY KEY (kind, system, value, source_system, source_record_id),
    FOREIGN KEY (source_system, source_record_id)
        REFERENCES source_records (source_system, source_record_id) ON DELETE CASCADE
);
