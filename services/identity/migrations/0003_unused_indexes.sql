-- The engine answers every read from memory and reads these tables whole, in key
-- order, only to rebuild itself at start: no query looks records or aliases up by
-- customer. Each of these indexes cost a write at a random place for every record
-- stored or moved (a merge moves every record of the absorbed customers).
DROP INDEX records_by_customer;
DROP INDEX customer_aliases_by_customer;
