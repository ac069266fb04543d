-- One anchor format across the suite (idic_runtime::refs::CustomerSelector::anchor):
-- `id:cus_...`, `KIND:value`, `EXTERNAL_ID:system:value`. Differentiation stored its
-- own (`cus_...`, `email:x`, `loyalty:x`, `system:x`), and those rows are rewritten so that
-- a split in identity resolves them again. Portable SQL: PostgreSQL and SQLite alike
-- (substr counts characters on both, and comparisons are case-sensitive on both).
UPDATE transactions SET anchor = CASE
    WHEN anchor = '' THEN anchor
    WHEN anchor NOT LIKE '%:%' THEN 'id:' || anchor
    WHEN substr(anchor, 1, 6) = 'email:' THEN 'EMAIL:' || substr(anchor, 7)
    WHEN substr(anchor, 1, 6) = 'phone:' THEN 'PHONE:' || substr(anchor, 7)
    WHEN substr(anchor, 1, 8) = 'loyalty:' THEN 'LOYALTY_ID:' || substr(anchor, 9)
    WHEN substr(anchor, 1, 8) = 'account:' THEN 'ACCOUNT_CODE:' || substr(anchor, 9)
    WHEN substr(anchor, 1, 7) = 'device:' THEN 'DEVICE_ID:' || substr(anchor, 8)
    WHEN substr(anchor, 1, 9) = 'national:' THEN 'NATIONAL_ID:' || substr(anchor, 10)
    WHEN substr(anchor, 1, 8) = 'address:' THEN 'POSTAL_ADDRESS:' || substr(anchor, 9)
    ELSE 'EXTERNAL_ID:' || anchor
END;

UPDATE preferences SET anchor = CASE
    WHEN anchor = '' THEN anchor
    WHEN anchor NOT LIKE '%:%' THEN 'id:' || anchor
    WHEN substr(anchor, 1, 6) = 'email:' THEN 'EMAIL:' || substr(anchor, 7)
    WHEN substr(anchor, 1, 6) = 'phone:' THEN 'PHONE:' || substr(anchor, 7)
    WHEN substr(anchor, 1, 8) = 'loyalty:' THEN 'LOYALTY_ID:' || substr(anchor, 9)
    WHEN substr(anchor, 1, 8) = 'account:' THEN 'ACCOUNT_CODE:' || substr(anchor, 9)
    WHEN substr(anchor, 1, 7) = 'device:' THEN 'DEVICE_ID:' || substr(anchor, 8)
    WHEN substr(anchor, 1, 9) = 'national:' THEN 'NATIONAL_ID:' || substr(anchor, 10)
    WHEN substr(anchor, 1, 8) = 'address:' THEN 'POSTAL_ADDRESS:' || substr(anchor, 9)
    ELSE 'EXTERNAL_ID:' || anchor
END;
