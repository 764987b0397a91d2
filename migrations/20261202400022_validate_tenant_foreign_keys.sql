-- Validates the foreign keys 20261202400021 added back NOT VALID when it moved them onto
-- the tenants' primary keys. They have been checked for every row written since; this
-- checks the rows from before. VALIDATE scans the referencing table under a SHARE UPDATE
-- EXCLUSIVE lock, which lets reads and writes go on (unlike the ACCESS EXCLUSIVE lock a
-- validating ADD CONSTRAINT would have held in the swap), so it runs in a migration of
-- its own. The rows were valid under the same columns before, so none can fail.
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT k.conrelid::regclass::text AS tbl, k.conname::text AS name
          FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
         WHERE n.nspname = 'public' AND k.contype = 'f' AND NOT k.convalidated
         ORDER BY 1, 2
    LOOP
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', fk.tbl, fk.name);
    END LOOP;
END
$$;
