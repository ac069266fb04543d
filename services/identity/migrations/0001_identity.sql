-- Identity: source records, the links the matcher found between them, customers
-- (clusters), aliases of merged customers, steward blocks, the change log that other
-- services follow, and saved match parameters. Times are microseconds since the Unix
-- epoch. Golden records are derived from the records on read, never stored.
CREATE TABLE records (
    record_id BIGINT PRIMARY KEY,
    source_system TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel BIGINT NOT NULL,
    observed_at BIGINT NOT NULL,
    -- The record as received (fields and attributes), JSON.
    raw TEXT NOT NULL,
    UNIQUE (source_system, source_record_id)
);
CREATE INDEX records_by_customer ON records (customer_id);

-- a < b. kind: 0 probabilistic (weight in bits), 1 deterministic rule, 2 steward merge.
CREATE TABLE links (
    a BIGINT NOT NULL,
    b BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (a, b)
);

CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Set when erased: the id stays, with no personal data.
    erased_at BIGINT
);

CREATE TABLE customer_aliases (
    alias_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
);
CREATE INDEX customer_aliases_by_customer ON customer_aliases (customer_id);

-- Pairs of records a steward forbade to be one customer again. a < b.
CREATE TABLE pair_blocks (
    a BIGINT NOT NULL,
    b BIGINT NOT NULL,
    PRIMARY KEY (a, b)
);

-- Merges, splits and erasures. kind: the wire number of idic.v1.ChangeKind.
CREATE TABLE change_events (
    event_id BIGINT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    -- JSON arrays of customer ids.
    absorbed_ids TEXT NOT NULL,
    new_ids TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
-- Every customer an event concerns, for a customer's history.
CREATE TABLE change_event_customers (
    customer_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    PRIMARY KEY (customer_id, event_id)
);

CREATE TABLE match_parameters (
    version BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    -- MatchParameters as JSON, and how the estimate went.
    parameters TEXT NOT NULL,
    report TEXT NOT NULL
);
