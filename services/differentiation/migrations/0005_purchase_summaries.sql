-- What a refit needs of each customer's purchases in one currency (see
-- `idic_value::DayTotals`): first and last purchase day (UTC days since the epoch),
-- the number of distinct purchase days, the sum of every purchase and of the first
-- day's. Every write that touches purchases keeps it current in the same transaction
-- (RecordTransactions, merges, unmerges, erasures), so a refit over every stored
-- purchase reads one row per customer instead of one per purchase.
CREATE TABLE purchase_summaries (
    customer_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    first_day BIGINT NOT NULL,
    last_day BIGINT NOT NULL,
    transaction_days BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    first_day_minor BIGINT NOT NULL,
    PRIMARY KEY (customer_id, currency)
);
-- A refit reads one currency in customer order from this index alone.
CREATE INDEX purchase_summaries_of_currency ON purchase_summaries
    (currency, customer_id, first_day, last_day, transaction_days, total_minor,
     first_day_minor);

-- Backfill from the purchases already stored. The day is the floor of the time over a
-- day in microseconds (both engines' `%` truncates towards zero, hence the shift for
-- times before 1970).
INSERT INTO purchase_summaries
    (customer_id, currency, first_day, last_day, transaction_days, total_minor,
     first_day_minor)
SELECT days.customer_id, days.currency, MIN(days.day), MAX(days.day), COUNT(*),
       SUM(days.day_minor),
       SUM(CASE WHEN days.day = firsts.first_day THEN days.day_minor ELSE 0 END)
FROM (
    SELECT customer_id, currency,
           (occurred_at - ((occurred_at % 86400000000) + 86400000000) % 86400000000)
               / 86400000000 AS day,
           SUM(amount_minor) AS day_minor
    FROM transactions
    WHERE kind = 'purchase'
    GROUP BY customer_id, currency,
             (occurred_at - ((occurred_at % 86400000000) + 86400000000) % 86400000000)
                 / 86400000000
) AS days
JOIN (
    SELECT customer_id, currency,
           MIN((occurred_at - ((occurred_at % 86400000000) + 86400000000) % 86400000000)
               / 86400000000) AS first_day
    FROM transactions
    WHERE kind = 'purchase'
    GROUP BY customer_id, currency
) AS firsts ON firsts.customer_id = days.customer_id AND firsts.currency = days.currency
GROUP BY days.customer_id, days.currency;
