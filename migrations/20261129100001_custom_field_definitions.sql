-- Typed custom fields (issue 10).
--
-- A tenant defines fields per record type; every record's `custom_fields` jsonb holds the
-- values, validated by the API against the definitions. Beside it, `custom_field_values`
-- holds one row per value (one per option of a multi_select) in typed columns, kept in
-- step with the jsonb by a trigger on the four record tables, so every write path (single
-- writes, batch upserts, merges, restores, purges, any future one) maintains it in the
-- same transaction as the record. List filters and the `unique` rule run on it.

CREATE TABLE custom_field_definitions (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    record_type text NOT NULL CHECK (record_type IN ('contact', 'company', 'lead', 'activity')),
    -- The API demands `^[a-z][a-z0-9_]{0,62}$` for new keys; keys carried over from the
    -- free-form era (below) only had to be 1 to 64 characters.
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    type        text NOT NULL CHECK (type IN ('text', 'number', 'decimal', 'boolean', 'date',
                                              'datetime', 'url', 'email', 'select',
                                              'multi_select')),
    options     text[] NOT NULL DEFAULT '{}',
    required    boolean NOT NULL DEFAULT false,
    "unique"    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT custom_field_definitions_key UNIQUE (tenant_id, record_type, key),
    CONSTRAINT custom_field_definitions_tenant_id_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX custom_field_definitions_tenant_created_idx
    ON custom_field_definitions (tenant_id, created_at, id);

-- One row per stored value. `v_text` is the value's canonical text (what equality on
-- text-like types and the unique rule compare: emails lower-cased, numbers without
-- trailing zeros); `v_num` holds numbers and decimals exactly, `v_time` dates (midnight
-- UTC) and datetimes, `v_bool` booleans.
--
-- `v_float` is `v_num` as float8, and it is what numbers are indexed by: under row-level
-- security PostgreSQL only uses a condition in an index scan when its operator is
-- leakproof, and numeric's are not (float8's, text's and timestamptz's are). The
-- conversion is monotonic, so a filter takes its candidates by `v_float` with a bound
-- that includes the rounding (`>=` for `>`) and keeps the exact comparison on `v_num`. `is_unique` copies the definition's flag and `live`
-- follows the record's `deleted_at`, so the partial unique index below is the unique
-- rule: trashed records do not hold their values.
--
-- Indexes lead with `field_id` rather than `tenant_id`: a field belongs to one tenant, so
-- it is the more selective prefix and already scopes the scan to the tenant.
CREATE TABLE custom_field_values (
    tenant_id   uuid NOT NULL,
    field_id    uuid NOT NULL,
    record_id   uuid NOT NULL,
    v_text      text NOT NULL,
    v_num       numeric,
    v_float     double precision,
    v_time      timestamptz,
    v_bool      boolean,
    is_unique   boolean NOT NULL DEFAULT false,
    live        boolean NOT NULL DEFAULT true,
    -- Deleting a definition removes its values here (the API strips the key from the
    -- records' jsonb in the same transaction).
    CONSTRAINT custom_field_values_field_fkey FOREIGN KEY (tenant_id, field_id)
        REFERENCES custom_field_definitions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX custom_field_values_record_idx ON custom_field_values (record_id, field_id);
CREATE INDEX custom_field_values_text_idx ON custom_field_values (field_id, v_text, record_id);
CREATE INDEX custom_field_values_num_idx ON custom_field_values (field_id, v_float, record_id)
    WHERE v_float IS NOT NULL;
CREATE INDEX custom_field_values_time_idx ON custom_field_values (field_id, v_time, record_id)
    WHERE v_time IS NOT NULL;
CREATE UNIQUE INDEX custom_field_values_unique_key ON custom_field_values (field_id, v_text)
    WHERE is_unique AND live;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['custom_field_definitions', 'custom_field_values'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant_id()) '
            'WITH CHECK (tenant_id = current_tenant_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO momentum_app', t);
    END LOOP;
END
$$;

-- Leads and activities gain custom fields like contacts and companies.
ALTER TABLE leads ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE activities ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(custom_fields) = 'object');

-- The index rows of one value of one definition. The API has validated the value, so the
-- casts hold.
CREATE FUNCTION custom_field_index_rows(
    p_tenant uuid, p_record uuid, p_record_type text, p_fields jsonb, p_live boolean
) RETURNS TABLE (tenant_id uuid, field_id uuid, record_id uuid, v_text text, v_num numeric,
                 v_float double precision, v_time timestamptz, v_bool boolean,
                 is_unique boolean, live boolean)
    LANGUAGE sql STABLE
    AS $$
    SELECT p_tenant, d.id, p_record,
           CASE
               WHEN d.type = 'email' THEN lower(x.value #>> '{}')
               WHEN d.type IN ('number', 'decimal') THEN trim_scale((x.value #>> '{}')::numeric)::text
               ELSE x.value #>> '{}'
           END,
           CASE WHEN d.type IN ('number', 'decimal') THEN (x.value #>> '{}')::numeric END,
           CASE WHEN d.type IN ('number', 'decimal') THEN (x.value #>> '{}')::numeric::float8 END,
           CASE
               WHEN d.type = 'date' THEN ((x.value #>> '{}')::date)::timestamp AT TIME ZONE 'UTC'
               WHEN d.type = 'datetime' THEN (x.value #>> '{}')::timestamptz
           END,
           CASE WHEN d.type = 'boolean' THEN (x.value #>> '{}')::boolean END,
           d."unique", p_live
    FROM jsonb_each(p_fields) AS e (key, value)
    JOIN custom_field_definitions d
      ON d.tenant_id = p_tenant AND d.record_type = p_record_type AND d.key = e.key
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value ELSE jsonb_build_array(e.value) END
    ) AS x (value)
    WHERE jsonb_typeof(x.value) <> 'null'
$$;

-- Keeps `custom_field_values` in step with a record (TG_ARGV[0]: its record type).
CREATE FUNCTION custom_field_values_sync() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO custom_field_values
        SELECT * FROM custom_field_index_rows(NEW.tenant_id, NEW.id, TG_ARGV[0],
                                              NEW.custom_fields, NEW.deleted_at IS NULL);
        RETURN NULL;
    END IF;
    DELETE FROM custom_field_values WHERE record_id = OLD.id;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO custom_field_values
        SELECT * FROM custom_field_index_rows(NEW.tenant_id, NEW.id, TG_ARGV[0],
                                              NEW.custom_fields, NEW.deleted_at IS NULL);
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('contacts', 'contact'), ('companies', 'company'),
                                   ('leads', 'lead'), ('activities', 'activity')) AS v (tbl, kind)
    LOOP
        EXECUTE format(
            'CREATE TRIGGER custom_field_values_insert AFTER INSERT ON %I '
            'FOR EACH ROW WHEN (NEW.custom_fields <> ''{}'') '
            'EXECUTE FUNCTION custom_field_values_sync(%L)', r.tbl, r.kind);
        EXECUTE format(
            'CREATE TRIGGER custom_field_values_update AFTER UPDATE ON %I '
            'FOR EACH ROW WHEN (OLD.custom_fields IS DISTINCT FROM NEW.custom_fields '
            'OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) '
            'EXECUTE FUNCTION custom_field_values_sync(%L)', r.tbl, r.kind);
        EXECUTE format(
            'CREATE TRIGGER custom_field_values_delete AFTER DELETE ON %I '
            'FOR EACH ROW WHEN (OLD.custom_fields <> ''{}'') '
            'EXECUTE FUNCTION custom_field_values_sync(%L)', r.tbl, r.kind);
    END LOOP;
END
$$;

-- Values stored before definitions existed are kept: each key found on a tenant's
-- contacts (companies) becomes a definition of that record type, labelled with the key.
-- Its type is inferred when every value of the key has one JSON type (string -> text,
-- number -> number, boolean -> boolean); otherwise it is `text`, and values that are not
-- strings are rewritten to their JSON text (`[1,2]` becomes the string "[1,2]"). Nulls
-- are dropped. Run per tenant so row-level security admits the rows whoever migrates.
DO $$
DECLARE
    t uuid;
    r record;
BEGIN
    FOR t IN SELECT id FROM tenants LOOP
        PERFORM set_config('app.tenant_id', t::text, true);
        FOR r IN SELECT * FROM (VALUES ('contacts', 'contact'), ('companies', 'company'))
                 AS v (tbl, kind)
        LOOP
            EXECUTE format($q$
                INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label, type)
                SELECT uuid_v7(), $1, $2, e.key, left(e.key, 200),
                       CASE WHEN count(DISTINCT jsonb_typeof(e.value)) = 1
                            THEN CASE min(jsonb_typeof(e.value))
                                     WHEN 'string' THEN 'text'
                                     WHEN 'number' THEN 'number'
                                     WHEN 'boolean' THEN 'boolean'
                                     ELSE 'text' END
                            ELSE 'text' END
                FROM %I c, jsonb_each(c.custom_fields) AS e (key, value)
                WHERE c.tenant_id = $1 AND jsonb_typeof(e.value) <> 'null'
                GROUP BY e.key
            $q$, r.tbl) USING t, r.kind;
            -- Values of `text` definitions that are not strings become their JSON text;
            -- nulls go (only the records holding such a value are rewritten, so the
            -- others keep their `updated_at`). The update trigger indexes what it
            -- rewrites. The tenant is named although RLS would scope the statements:
            -- a superuser running migrations bypasses RLS.
            EXECUTE format($q$
                UPDATE %I c SET custom_fields = (
                    SELECT coalesce(jsonb_object_agg(e.key,
                               CASE WHEN d.type = 'text' AND jsonb_typeof(e.value) <> 'string'
                                    THEN to_jsonb(e.value::text) ELSE e.value END), '{}')
                    FROM jsonb_each(c.custom_fields) AS e (key, value)
                    JOIN custom_field_definitions d
                      ON d.tenant_id = c.tenant_id AND d.record_type = $1 AND d.key = e.key
                    WHERE jsonb_typeof(e.value) <> 'null')
                WHERE c.tenant_id = $2 AND EXISTS (
                    SELECT 1 FROM jsonb_each(c.custom_fields) AS e (key, value)
                    JOIN custom_field_definitions d
                      ON d.tenant_id = c.tenant_id AND d.record_type = $1 AND d.key = e.key
                    WHERE jsonb_typeof(e.value) = 'null'
                       OR (d.type = 'text' AND jsonb_typeof(e.value) <> 'string'))
            $q$, r.tbl) USING r.kind, t;
            -- Records the update left as they were still need their index rows.
            EXECUTE format($q$
                INSERT INTO custom_field_values
                SELECT i.* FROM %I c,
                     custom_field_index_rows(c.tenant_id, c.id, $1, c.custom_fields,
                                             c.deleted_at IS NULL) AS i
                WHERE c.tenant_id = $2 AND c.custom_fields <> '{}'
                  AND NOT EXISTS (SELECT 1 FROM custom_field_values v WHERE v.record_id = c.id)
            $q$, r.tbl) USING r.kind, t;
        END LOOP;
    END LOOP;
END
$$;
