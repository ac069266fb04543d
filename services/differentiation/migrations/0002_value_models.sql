-- What the caller named the customer by ("KIND:VALUE" or a customer id), so that an
-- unmerge can send each transaction back to the customer its anchor resolves to.
ALTER TABLE transactions ADD COLUMN anchor TEXT NOT NULL DEFAULT '';
ALTER TABLE transactions ADD COLUMN channel INTEGER NOT NULL DEFAULT 0;
-- Months of contract or subscription the order commits the customer to (0: none).
ALTER TABLE transactions ADD COLUMN commitment_months INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transactions_by_time ON transactions (kind, occurred_at);

-- Order lines: what was bought, for needs profiles.
CREATE TABLE transaction_lines (
    order_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    product TEXT NOT NULL,
    category TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (order_id, kind, line_no)
);

-- Needs and preferences expressed in interactions (from `interaction.interactions`).
CREATE TABLE preferences (
    interaction_id TEXT NOT NULL,
    pref_key TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    pref_value TEXT NOT NULL,
    channel INTEGER NOT NULL,
    expressed_at BIGINT NOT NULL,
    PRIMARY KEY (interaction_id, pref_key)
);
CREATE INDEX preferences_by_customer ON preferences (customer_id, expressed_at);

-- Fitted models: parameters, log-likelihoods and the fit time.
CREATE TABLE value_models (
    model_id TEXT PRIMARY KEY,
    fitted_at BIGINT NOT NULL,
    observation_end BIGINT NOT NULL,
    time_unit TEXT NOT NULL,
    currency TEXT NOT NULL,
    customers BIGINT NOT NULL,
    bg_r DOUBLE PRECISION NOT NULL,
    bg_alpha DOUBLE PRECISION NOT NULL,
    bg_a DOUBLE PRECISION NOT NULL,
    bg_b DOUBLE PRECISION NOT NULL,
    bg_log_likelihood DOUBLE PRECISION NOT NULL,
    gg_p DOUBLE PRECISION NOT NULL,
    gg_q DOUBLE PRECISION NOT NULL,
    gg_gamma DOUBLE PRECISION NOT NULL,
    gg_log_likelihood DOUBLE PRECISION NOT NULL,
    gg_customers BIGINT NOT NULL,
    fit_millis DOUBLE PRECISION NOT NULL
);
CREATE INDEX value_models_by_time ON value_models (fitted_at);

-- Per-customer scores of the latest refit.
CREATE TABLE customer_scores (
    customer_id TEXT PRIMARY KEY,
    frequency BIGINT NOT NULL,
    recency DOUBLE PRECISION NOT NULL,
    age DOUBLE PRECISION NOT NULL,
    monetary DOUBLE PRECISION NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    probability_alive DOUBLE PRECISION NOT NULL,
    expected_spend DOUBLE PRECISION NOT NULL,
    clv DOUBLE PRECISION NOT NULL,
    historical DOUBLE PRECISION NOT NULL,
    rank_percentile DOUBLE PRECISION NOT NULL,
    tier TEXT NOT NULL,
    rfm_r INTEGER NOT NULL,
    rfm_f INTEGER NOT NULL,
    rfm_m INTEGER NOT NULL,
    segment_id TEXT NOT NULL
);
CREATE INDEX customer_scores_by_tier ON customer_scores (tier, clv);
CREATE INDEX customer_scores_by_segment ON customer_scores (segment_id, clv);
CREATE INDEX customer_scores_by_value ON customer_scores (clv);

-- Needs segments of the latest refit.
CREATE TABLE needs_segments (
    segment_id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    customers BIGINT NOT NULL
);

-- Base-wide snapshots (skew, needs spread), newest served; payload is the
-- prost-encoded GetValueSkewResponse.
CREATE TABLE base_snapshots (
    computed_at BIGINT PRIMARY KEY,
    skew BYTEA NOT NULL,
    needs_differentiation DOUBLE PRECISION NOT NULL,
    needs_segments INTEGER NOT NULL
);

-- The base's share of spend per category at the last refit (for affinity lift).
CREATE TABLE category_shares (
    category TEXT PRIMARY KEY,
    share DOUBLE PRECISION NOT NULL
);
