-- The catalog of modular components. `slot` is the wire number of idic.v1.Slot;
-- costs are integer minor units of `cost_currency`; `available` is 0 or 1.
CREATE TABLE components (
    component_id TEXT PRIMARY KEY,
    slot BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    cost_currency TEXT NOT NULL,
    cost_minor BIGINT NOT NULL,
    available BIGINT NOT NULL
);
CREATE INDEX components_by_slot ON components (slot, component_id);
