-- The base's skew is stored as JSON of the domain's SkewSnapshot (src/skew.rs), not as
-- a prost-encoded GetValueSkewResponse, so that neither the store nor the refit speaks
-- protobuf. Snapshots stored before are not converted (SQL cannot read protobuf): they
-- are removed, and the next refit (scheduled, or RefitModels) stores a new one. Until
-- then the service answers as before a first refit: the skew computed live from
-- historical revenue, no needs spread, no rescoring after a merge. The customers'
-- scores of the last refit are kept. Portable SQL: PostgreSQL, and SQLite 3.35 or
-- later for DROP COLUMN.
DELETE FROM base_snapshots;
ALTER TABLE base_snapshots DROP COLUMN skew;
ALTER TABLE base_snapshots ADD COLUMN skew_json TEXT NOT NULL DEFAULT '';
