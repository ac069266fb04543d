-- The reference each expressed preference was recorded under in the interaction service
-- (converted to this service's anchor format), so that a split in identity moves the
-- preference with the transactions of the same reference. Empty for rows stored
-- before: those stay with the customer they were recorded for.
ALTER TABLE preferences ADD COLUMN anchor TEXT NOT NULL DEFAULT '';
CREATE INDEX preferences_anchor ON preferences (customer_id, anchor);
