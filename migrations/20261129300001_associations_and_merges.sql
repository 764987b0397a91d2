-- Associations between records, their labels, the record of merges, and the indexes the
-- duplicate suggestions need (issue 10).
--
-- An association links any two records of the four CRM types (contact, company, lead,
-- activity). Its ends are polymorphic (a type and an id), so they cannot carry foreign
-- keys: the API checks that both ends exist with a SELECT (which row-level security and,
-- once the trash lands, its policy filter), and statement-level triggers below remove the
-- associations of records deleted for good (the trash's purge, the duplicate of a merge).

-- A tenant-defined label, e.g. "Parent company" or "Decision maker". Names are unique per
-- tenant ignoring case. `from_type`/`to_type`, when set, restrict which ends the label
-- may join (both or neither).
CREATE TABLE association_labels (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description text CHECK (length(description) <= 1000),
    from_type   text CHECK (from_type IN ('contact', 'company', 'lead', 'activity')),
    to_type     text CHECK (to_type IN ('contact', 'company', 'lead', 'activity')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT association_labels_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT association_labels_types_together CHECK ((from_type IS NULL) = (to_type IS NULL))
);
CREATE UNIQUE INDEX association_labels_tenant_name_key ON association_labels (tenant_id, lower(name));
CREATE INDEX association_labels_tenant_created_idx ON association_labels (tenant_id, created_at, id);

CREATE TRIGGER association_labels_advance_updated_at BEFORE UPDATE ON association_labels
    FOR EACH ROW
    WHEN (NEW.updated_at < OLD.updated_at
          OR (NEW.updated_at = OLD.updated_at AND OLD.* IS DISTINCT FROM NEW.*))
    EXECUTE FUNCTION advance_updated_at();

-- Directed (from -> to) so a company-company link reads "parent -> subsidiary". The same
-- (from, to, label) twice is refused; NULLS NOT DISTINCT makes that hold for unlabelled
-- links too. A label in use cannot be deleted (the API answers 409 with the count).
CREATE TABLE associations (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    from_type  text NOT NULL CHECK (from_type IN ('contact', 'company', 'lead', 'activity')),
    from_id    uuid NOT NULL,
    to_type    text NOT NULL CHECK (to_type IN ('contact', 'company', 'lead', 'activity')),
    to_id      uuid NOT NULL,
    label_id   uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT associations_not_self CHECK (NOT (from_type = to_type AND from_id = to_id)),
    CONSTRAINT associations_label_fkey FOREIGN KEY (tenant_id, label_id)
        REFERENCES association_labels (tenant_id, id)
);
CREATE UNIQUE INDEX associations_tenant_link_key
    ON associations (tenant_id, from_type, from_id, to_type, to_id, label_id) NULLS NOT DISTINCT;
CREATE INDEX associations_tenant_created_idx ON associations (tenant_id, created_at, id);
-- A record's associations, from either end, newest first.
CREATE INDEX associations_tenant_from_idx ON associations (tenant_id, from_type, from_id, created_at, id);
CREATE INDEX associations_tenant_to_idx ON associations (tenant_id, to_type, to_id, created_at, id);
CREATE INDEX associations_tenant_label_idx ON associations (tenant_id, label_id, created_at, id)
    WHERE label_id IS NOT NULL;

-- Removes the associations of deleted records. Statement-level with a transition table,
-- so a purge deleting thousands of rows runs one DELETE, not one per row. It runs as the
-- deleting role under the same row-level security as the deletion itself, so it only
-- ever reaches associations of the tenant whose records it deleted.
CREATE FUNCTION delete_associations_of_deleted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        DELETE FROM associations a
        USING gone g
        WHERE a.tenant_id = g.tenant_id
          AND ((a.from_type = TG_ARGV[0] AND a.from_id = g.id)
               OR (a.to_type = TG_ARGV[0] AND a.to_id = g.id));
        RETURN NULL;
    END
    $$;

CREATE TRIGGER contacts_delete_associations AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION delete_associations_of_deleted('contact');
CREATE TRIGGER companies_delete_associations AFTER DELETE ON companies
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION delete_associations_of_deleted('company');
CREATE TRIGGER leads_delete_associations AFTER DELETE ON leads
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION delete_associations_of_deleted('lead');
CREATE TRIGGER activities_delete_associations AFTER DELETE ON activities
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION delete_associations_of_deleted('activity');

-- One row per merge: the survivor, the id that was merged into it, and the duplicate as
-- the API returned it just before it was deleted (its only remaining trace), with who did
-- it. `merged_id` has no foreign key: that record no longer exists.
CREATE TABLE record_merges (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    record_type   text NOT NULL CHECK (record_type IN ('contact', 'company')),
    survivor_id   uuid NOT NULL,
    merged_id     uuid NOT NULL,
    snapshot      jsonb NOT NULL,
    actor_user_id uuid,
    credential_id uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_merges_tenant_survivor_idx ON record_merges (tenant_id, survivor_id, created_at);
CREATE INDEX record_merges_tenant_merged_idx ON record_merges (tenant_id, merged_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['association_labels', 'associations', 'record_merges'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant_id()) '
            'WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON association_labels, associations TO momentum_app;
-- Merges are a record: written once, never changed through the API.
GRANT SELECT, INSERT ON record_merges TO momentum_app;

-- Duplicate suggestions. Similar names: a trigram index on the full name, as the
-- suggestions compare it. Same phone: digits only (phones are stored as E.164 already;
-- this also matches numbers written before that rule or imported as extensions). Same
-- email: lower case with a `+tag` dropped from the local part, which the unique index on
-- `lower(email)` does not prevent (`ada+crm@x.com` beside `ada@x.com`).
CREATE INDEX contacts_full_name_trgm_idx ON contacts
    USING gin ((lower(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))) gin_trgm_ops);
CREATE INDEX contacts_tenant_phone_digits_idx
    ON contacts (tenant_id, (regexp_replace(phone, '[^0-9]', '', 'g')))
    WHERE phone IS NOT NULL;
CREATE INDEX contacts_tenant_email_key_idx
    ON contacts (tenant_id, (regexp_replace(lower(email), '\+[^@]*@', '@')))
    WHERE email IS NOT NULL;

-- The candidate pairs of the duplicate suggestions: id pairs of the current tenant's live
-- contacts that share an email key or phone digits, or whose full names are similar. A
-- SECURITY DEFINER function (owned by the owner role, which holds BYPASSRLS) because under
-- row-level security the planner may not use an index through an operator that is not
-- LEAKPROOF, and pg_trgm's `%` and the key expressions are not: every probe would be a
-- sequential scan (measured: 350 ms each on 100,000 contacts, 15 ms through the index).
-- It filters on the transaction's tenant and on `deleted_at IS NULL` itself, returns ids
-- only, and the caller joins them back to `contacts` under row-level security.
CREATE FUNCTION contact_duplicate_candidates(
    p_contact uuid, p_threshold real, p_window integer, p_group_max integer)
    RETURNS TABLE (x uuid, y uuid)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET pg_trgm.similarity_threshold = 0.5
    AS $$
DECLARE
    v_tenant uuid := public.current_tenant_id();
BEGIN
    IF v_tenant IS NULL THEN
        RETURN;
    END IF;
    IF p_contact IS NULL THEN
        RETURN QUERY
        WITH key_groups AS (
            SELECT array_agg(c.id) AS ids FROM public.contacts c
             WHERE c.tenant_id = v_tenant AND c.deleted_at IS NULL AND c.email IS NOT NULL
             GROUP BY regexp_replace(lower(c.email), '\+[^@]*@', '@')
            HAVING count(*) BETWEEN 2 AND p_group_max
            UNION ALL
            SELECT array_agg(c.id) FROM public.contacts c
             WHERE c.tenant_id = v_tenant AND c.deleted_at IS NULL AND c.phone IS NOT NULL
             GROUP BY regexp_replace(c.phone, '[^0-9]', '', 'g')
            HAVING count(*) BETWEEN 2 AND p_group_max
        )
        SELECT a.x, b.y FROM key_groups g, unnest(g.ids) a(x), unnest(g.ids) b(y)
         WHERE a.x < b.y;
    ELSE
        RETURN QUERY
        SELECT least(p_contact, c.id), greatest(p_contact, c.id)
          FROM public.contacts me, public.contacts c
         WHERE me.tenant_id = v_tenant AND me.id = p_contact AND me.deleted_at IS NULL
           AND c.tenant_id = v_tenant AND c.deleted_at IS NULL AND c.id <> me.id
           AND ((me.email IS NOT NULL AND c.email IS NOT NULL
                 AND regexp_replace(lower(c.email), '\+[^@]*@', '@')
                     = regexp_replace(lower(me.email), '\+[^@]*@', '@'))
             OR (me.phone IS NOT NULL AND c.phone IS NOT NULL
                 AND regexp_replace(c.phone, '[^0-9]', '', 'g')
                     = regexp_replace(me.phone, '[^0-9]', '', 'g')));
    END IF;
    RETURN QUERY
    SELECT least(s.id, m.id), greatest(s.id, m.id)
      FROM (SELECT c.id, lower(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) AS full_name
              FROM public.contacts c
             WHERE c.tenant_id = v_tenant AND c.deleted_at IS NULL
               AND (p_contact IS NULL OR c.id = p_contact)
             ORDER BY c.updated_at DESC, c.id DESC LIMIT p_window) s
     CROSS JOIN LATERAL (
         SELECT c.id FROM public.contacts c
          WHERE c.tenant_id = v_tenant AND c.deleted_at IS NULL
            AND lower(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, ''))
                OPERATOR(public.%) s.full_name
            AND public.similarity(lower(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')),
                                  s.full_name) >= p_threshold
            AND c.id <> s.id
          LIMIT p_group_max
     ) m
     WHERE length(trim(s.full_name)) > 0;
END
$$;

REVOKE ALL ON FUNCTION contact_duplicate_candidates(uuid, real, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION contact_duplicate_candidates(uuid, real, integer, integer) TO momentum_app;
