-- GetContext reads. Open threads: OPEN (1) and WAITING (2) threads of a customer, most
-- recently active first, read straight from this index without a sort, however many
-- threads the customer has.
CREATE INDEX threads_active ON threads (customer_id, last_activity_at DESC, thread_id DESC)
    WHERE status IN (1, 2);

-- The latest expression per preference key of a customer, found by one seek per key.
CREATE INDEX preferences_latest
    ON preferences (customer_id, pref_key, expressed_at DESC, interaction_id DESC);
