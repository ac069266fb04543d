-- Embedded (SQLite) only; PostgreSQL keeps 0001's tables. Shared migrations continue
-- at 0007, so that both engines apply theirs in one order.
--
-- An import adds records in id order and links between the new record and older ones.
-- SQLite writes every page a commit touched into its write-ahead log, and copies it
-- back later, so a key written at a random place in a large index costs a page per
-- row, where a key written at the end shares its page with the rows before it. The
-- 1M-record import wrote 9.5 GB through the log for a 0.7 GB database. Now:
-- * records: record_id is the table's own key (INTEGER PRIMARY KEY) instead of an
--   index beside a hidden rowid; the unique index on (source_system,
--   source_record_id) is gone. The engine files each key once, in memory, and refuses
--   a second record with a key it holds; loading refuses a table where two records
--   share one (`Engine::load_record`).
-- * links: keyed by (b, a), the newer record first, in one tree (WITHOUT ROWID).
CREATE TABLE records_by_id (
    record_id INTEGER PRIMARY KEY,
    source_system TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    channel BIGINT NOT NULL,
    observed_at BIGINT NOT NULL,
    -- The record as received (fields and attributes), JSON.
    raw TEXT NOT NULL
);
INSERT INTO records_by_id (record_id, source_system, source_record_id, customer_id, channel, observed_at, raw)
    SELECT record_id, source_system, source_record_id, customer_id, channel, observed_at, raw
    FROM records ORDER BY record_id;
DROP TABLE records;
ALTER TABLE records_by_id RENAME TO records;

-- a < b. kind: 0 probabilistic (weight in bits), 1 deterministic rule, 2 steward merge.
CREATE TABLE links_by_newer (
    a BIGINT NOT NULL,
    b BIGINT NOT NULL,
    kind BIGINT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (b, a)
) WITHOUT ROWID;
INSERT INTO links_by_newer (a, b, kind, weight) SELECT a, b, kind, weight FROM links;
DROP TABLE links;
ALTER TABLE links_by_newer RENAME TO links;
