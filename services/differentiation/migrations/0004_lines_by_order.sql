-- A customer's spend per category (GetCustomerNeeds) joins its purchases to their
-- lines: this index answers the lines' side alone, without a table lookup per line.
CREATE INDEX transaction_lines_spend ON transaction_lines
    (order_id, kind, category, amount_minor);
