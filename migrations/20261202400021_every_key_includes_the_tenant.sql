-- Every primary key, unique constraint and unique index of a tenant table includes
-- `tenant_id`, as every foreign key between them already does.
--
-- Why: when one primary is no longer enough, the tenant tables are to be sharded by
-- `tenant_id` (Citus, `create_distributed_table(..., 'tenant_id')`; docs/scaling.md).
-- A shard holds some tenants' rows and can only enforce uniqueness among its own, so
-- Citus refuses a primary key or unique constraint that does not include the
-- distribution column. 20 keys did not: the primary keys `(id)` of 18 tables, the
-- position of a stage in its pipeline, and the `unique` rule of custom fields. They
-- become `(tenant_id, id)`, `(tenant_id, pipeline_id, position)` and
-- `(field_id, v_text, tenant_id)`. Three keys stay global, because they are looked up
-- before any tenant is known (it/rls.rs, `GLOBAL_KEYS`, lists them with their reasons):
-- the public ids of API keys and session tokens, and the QR sessions' ids.
--
-- What it changes for queries: nothing a client sees. Ids are UUIDv7 (random bits after
-- the timestamp), so dropping their global uniqueness changes nothing in practice, and a
-- lookup by id runs under row-level security, which adds `tenant_id =
-- current_tenant_id()`: the new key serves `WHERE id = $1` as the old one did (the plans
-- compared are in docs/scaling.md). The functions that read across tenants without
-- row-level security name the tenant in their joins since 20261202400001.
--
-- How, so the previous release keeps working while it applies (a rolling upgrade):
-- 1. 20261202400002 to ...400020 built the new unique indexes CONCURRENTLY, without
--    blocking writes, one per migration (CONCURRENTLY cannot run in a transaction).
-- 2. Here, in one short transaction, each key is swapped for its new index with
--    `ADD CONSTRAINT ... USING INDEX`, which builds nothing: every table is locked up
--    front, in one statement, then only the catalog changes. The foreign keys that
--    pointed at the old keys are dropped and added again under the same names, with
--    the same columns and actions, pointing at the new keys; they are added NOT VALID
--    (no scan under the lock) and still checked for every new row. 20261202400022
--    validates them without blocking writes.
-- 3. Names that code refers to stay: `<table>_pkey`, the foreign keys' names (the API
--    maps them to the field a bad id was given for), `custom_field_values_unique_key`
--    (the 409 naming the holder), `stages_pipeline_position_key`. The
--    `<table>_tenant_id_id_key` constraints, the old targets of the foreign keys, go:
--    the primary key is the same index now.
--
-- `lock_timeout`: if a long transaction holds one of these tables, the migration fails
-- after 10 s (run it again) rather than queue every request behind its lock.

SET LOCAL lock_timeout = '10s';

-- An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index, which the rerun's
-- `IF NOT EXISTS` then skipped: refuse to swap it in, and say how to rebuild it.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(c.relname, ', ') INTO bad
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname IN ('users_tenant_pkey', 'api_keys_tenant_pkey',
                         'session_tokens_tenant_pkey', 'audit_events_tenant_pkey',
                         'contacts_tenant_pkey', 'companies_tenant_pkey',
                         'pipelines_tenant_pkey', 'stages_tenant_pkey', 'leads_tenant_pkey',
                         'activities_tenant_pkey', 'custom_field_definitions_tenant_pkey',
                         'association_labels_tenant_pkey', 'associations_tenant_pkey',
                         'record_merges_tenant_pkey', 'webhook_endpoints_tenant_pkey',
                         'events_tenant_pkey', 'webhook_deliveries_tenant_pkey',
                         'webhook_attempts_tenant_pkey', 'custom_field_values_tenant_unique_key')
       AND NOT (i.indisvalid AND i.indisready);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invalid index(es) left by an interrupted CREATE INDEX CONCURRENTLY: %', bad
            USING HINT = 'REINDEX INDEX CONCURRENTLY each of them, then migrate again';
    END IF;
END
$$;

LOCK TABLE users, api_keys, session_tokens, audit_events, contacts, companies, pipelines,
           stages, leads, activities, custom_field_definitions, custom_field_values,
           association_labels, associations, record_merges, webhook_endpoints, events,
           webhook_deliveries, webhook_attempts
    IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
    t text;
    old_key text;
    fk record;
    -- The foreign keys to add back once every key is swapped: table, name, definition.
    fk_tables text[] := '{}';
    fk_names text[] := '{}';
    fk_defs text[] := '{}';
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'api_keys', 'session_tokens', 'audit_events', 'contacts',
                             'companies', 'pipelines', 'stages', 'leads', 'activities',
                             'custom_field_definitions', 'association_labels', 'associations',
                             'record_merges', 'webhook_endpoints', 'events',
                             'webhook_deliveries', 'webhook_attempts'] LOOP
        -- The old `UNIQUE (tenant_id, id)` the foreign keys pointed at, if the table had one.
        SELECT k.conname INTO old_key
          FROM pg_constraint k
         WHERE k.conrelid = t::regclass AND k.contype = 'u'
           AND k.conkey = ARRAY[
                   (SELECT attnum FROM pg_attribute
                     WHERE attrelid = t::regclass AND attname = 'tenant_id'),
                   (SELECT attnum FROM pg_attribute WHERE attrelid = t::regclass AND attname = 'id')];
        -- Every foreign key resting on the old primary key or that constraint; pointing
        -- at the same columns, it will rest on the new primary key once added back.
        FOR fk IN
            SELECT k.conrelid::regclass::text AS tbl, k.conname::text AS name,
                   pg_get_constraintdef(k.oid) AS def
              FROM pg_constraint k
             WHERE k.contype = 'f' AND k.confrelid = t::regclass
               AND k.conindid IN (SELECT c.conindid FROM pg_constraint c
                                   WHERE c.conrelid = t::regclass
                                     AND (c.contype = 'p' OR c.conname = old_key))
        LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
            fk_tables := fk_tables || fk.tbl;
            fk_names := fk_names || fk.name;
            fk_defs := fk_defs || fk.def;
        END LOOP;
        IF old_key IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, old_key);
        END IF;
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_pkey');
        -- Renames the index to `<table>_pkey`. Both columns are NOT NULL already, so
        -- nothing is scanned.
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
                       t, t || '_pkey', t || '_tenant_pkey');
    END LOOP;

    FOR i IN 1 .. cardinality(fk_names) LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s NOT VALID',
                       fk_tables[i], fk_names[i], fk_defs[i]);
        RAISE NOTICE 'foreign key %.% now rests on the tenant''s primary key (validated by the next migration)',
            fk_tables[i], fk_names[i];
    END LOOP;
END
$$;

-- A stage's position is unique in its pipeline, checked at commit (a reorder moves every
-- stage in one statement), now with the tenant. Built here under the lock rather than
-- concurrently beforehand: an index built alone is checked row by row, and would have
-- failed the previous release's reorders while it existed. Stages are few (a handful
-- per pipeline), so the build is short.
ALTER TABLE stages DROP CONSTRAINT stages_pipeline_position_key;
ALTER TABLE stages ADD CONSTRAINT stages_pipeline_position_key
    UNIQUE (tenant_id, pipeline_id, position) DEFERRABLE INITIALLY DEFERRED;

-- The `unique` rule of custom fields keeps its name, which the API maps to the 409 that
-- names the record holding the value.
DROP INDEX custom_field_values_unique_key;
ALTER INDEX custom_field_values_tenant_unique_key RENAME TO custom_field_values_unique_key;
