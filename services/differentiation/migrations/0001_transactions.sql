-- Transactions from order systems. Amounts are integer minor units of `currency`;
-- returns and refunds are their own entries with negative amounts. Times are
-- microseconds since the Unix epoch.
CREATE TABLE transactions (
    order_id TEXT NOT NULL,
    -- 'purchase', 'return' or 'refund'
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    margin_minor BIGINT,
    PRIMARY KEY (order_id, kind)
);
CREATE INDEX transactions_by_customer ON transactions (customer_id, occurred_at);
