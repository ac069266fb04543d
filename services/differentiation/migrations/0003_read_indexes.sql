-- A refit aggregates the purchases of one currency per customer and day: this index
-- covers that read (no table lookups, already in customer order) and the search for
-- the most common purchase currency.
CREATE INDEX transactions_purchases ON transactions
    (kind, currency, customer_id, occurred_at, amount_minor);
-- Per-customer reads (GetCustomerValue, GetCustomerNeeds) answered from the index
-- alone: value per currency, purchase times and commitments, and the order ids that
-- lead to the lines. It replaces the narrower (customer_id, occurred_at) index.
CREATE INDEX transactions_of_customer ON transactions
    (customer_id, kind, occurred_at, currency, amount_minor, margin_minor,
     commitment_months, order_id);
DROP INDEX transactions_by_customer;
