-- Component constraints, authored rules, offerings with their inputs and reasons,
-- outcomes, the control group and the bandit's arms. Lists are JSON arrays of strings;
-- stored protobuf messages are base64 text, so one schema serves both engines.
ALTER TABLE components ADD COLUMN price_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE components ADD COLUMN constraints TEXT NOT NULL DEFAULT '{}';

-- One row per published version; `rules` is an idic.v1.OfferRuleSet.
CREATE TABLE rule_sets (
    version BIGINT PRIMARY KEY,
    published_at BIGINT NOT NULL,
    rules TEXT NOT NULL
);

-- Every offering, with what it was built from (`record`: an idic.v1.StoredOffering
-- without outcomes). `anchor` is the reference the caller gave, so that identity's
-- splits can move rows to the right customer; `subject` is the customer id, or the
-- anchor when the reference matched no customer.
CREATE TABLE offerings (
    offering_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    anchor TEXT NOT NULL,
    idempotency_key TEXT,
    segment TEXT NOT NULL,
    control BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX offerings_by_key ON offerings (idempotency_key);
CREATE INDEX offerings_by_subject ON offerings (subject);

-- One outcome per offering and slot; `outcome` 1 accepted, 2 rejected, 3 changed.
CREATE TABLE outcomes (
    offering_id TEXT NOT NULL,
    slot BIGINT NOT NULL,
    subject TEXT NOT NULL,
    anchor TEXT NOT NULL,
    offered TEXT NOT NULL,
    outcome BIGINT NOT NULL,
    changed_to TEXT NOT NULL,
    control BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (offering_id, slot)
);
CREATE INDEX outcomes_by_subject ON outcomes (subject, recorded_at);

-- Control-group membership, decided once per customer and kept.
CREATE TABLE control_group (
    subject TEXT PRIMARY KEY,
    anchor TEXT NOT NULL,
    in_control BIGINT NOT NULL,
    assigned_at BIGINT NOT NULL
);

-- The bandit: outcomes per needs segment, slot and component (aggregates, no
-- personal data).
CREATE TABLE arms (
    segment TEXT NOT NULL,
    slot BIGINT NOT NULL,
    component_id TEXT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    PRIMARY KEY (segment, slot, component_id)
);
