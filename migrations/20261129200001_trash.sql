-- The trash (issue 10): deleting a contact, company, lead or activity sets its
-- `deleted_at` (added by 20261129000001) instead of removing the row. The row stays,
-- with its links, until it is restored (`deleted_at` back to NULL) or purged for good by
-- `purge_trash` below, once it has been in the trash longer than the retention period.
--
-- 1. Visibility. A RESTRICTIVE policy is AND-ed with the permissive `tenant_isolation`
--    policy, so for the runtime role a trashed row is invisible exactly as another
--    tenant's row is: every `SELECT ... WHERE id = $1` in the code answers 404, every
--    list leaves it out, every existence check of a linked record refuses it, without
--    any of them saying so. A transaction that must see the trash (a read with
--    `?include_deleted=true`, a restore, moving the leads of a stage being deleted) first
--    runs `set_config('app.include_deleted', 'on', true)` (`TenantTx::include_deleted`):
--    transaction-local, so nothing leaks to the next user of a pooled connection.
--
--    The policy is FOR SELECT, yet PostgreSQL applies SELECT policies to more than
--    SELECT: an UPDATE or DELETE whose WHERE or RETURNING reads the row only sees rows the
--    SELECT policy lets through, and the NEW row of such an UPDATE must pass it too (or
--    the statement fails with "new row violates row-level security policy"). So:
--    * an UPDATE or DELETE cannot reach a trashed row by accident (it is filtered out);
--    * moving a row INTO the trash (`SET deleted_at = now() WHERE id = $1`) needs
--      `app.include_deleted` on, since the new row is trashed; the delete handlers set it
--      after locking the (live) row.
--
-- 2. Uniqueness ignores trashed rows: the unique indexes on a contact's email and a
--    company's domain become partial (`AND deleted_at IS NULL`). A restore that would
--    break them is refused with a 409 naming the live record in the way. Queries that
--    look a live record up by email or domain say `deleted_at IS NULL` themselves, so the
--    planner can use these partial indexes (the policy's OR does not imply it).
--
-- 3. Links. A trashed record keeps its links and the links to it (so a restore brings it
--    back whole). Foreign-key checks bypass row-level security, so the composite foreign
--    keys alone would let a live record be newly linked to a trashed one. The trigger
--    below refuses that with the foreign key's own error (SQLSTATE 23503 and the
--    constraint's name), which the API already turns into the 422 naming the field it
--    gives for an unknown id. It fires only when a live row's link is set or changed, so
--    an update that leaves an existing link to a trashed record alone still passes.
--
-- 4. Purge: `purge_trash` deletes for good, across tenants and in batches, the rows
--    trashed before the retention period. Deleting them applies the foreign keys'
--    `ON DELETE SET NULL` to whatever still links to them.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'companies', 'leads', 'activities'] LOOP
        EXECUTE format(
            'CREATE POLICY hide_trashed ON %I AS RESTRICTIVE FOR SELECT '
            'USING (deleted_at IS NULL '
            '       OR current_setting(''app.include_deleted'', true) = ''on'')', t);
        -- What the purge scans for: only trashed rows are in it, so it stays small.
        EXECUTE format(
            'CREATE INDEX %I ON %I (deleted_at) WHERE deleted_at IS NOT NULL',
            t || '_trashed_idx', t);
    END LOOP;
END
$$;

DROP INDEX contacts_tenant_email_key;
CREATE UNIQUE INDEX contacts_tenant_email_key ON contacts (tenant_id, lower(email))
    WHERE email IS NOT NULL AND deleted_at IS NULL;

DROP INDEX companies_tenant_domain_key;
CREATE UNIQUE INDEX companies_tenant_domain_key ON companies (tenant_id, domain)
    WHERE domain IS NOT NULL AND deleted_at IS NULL;

-- TG_ARGV: the link column, the table it points at, the foreign key's name. Runs as the
-- caller, under its row-level security: the tenant's live rows are all it can see, and
-- an id it cannot see (unknown, another tenant's, trashed) is refused alike.
CREATE FUNCTION refuse_link_to_trash() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        target uuid := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
        live boolean;
    BEGIN
        EXECUTE format(
            'SELECT EXISTS (SELECT 1 FROM public.%I '
            'WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL)', TG_ARGV[1])
            INTO live USING NEW.tenant_id, target;
        IF NOT live THEN
            RAISE EXCEPTION 'no live % with id %', TG_ARGV[1], target
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[2];
        END IF;
        RETURN NEW;
    END
    $$;

DO $$
DECLARE
    link text[];
BEGIN
    FOREACH link SLICE 1 IN ARRAY ARRAY[
        ['contacts', 'company_id', 'companies', 'contacts_company_fkey'],
        ['leads', 'contact_id', 'contacts', 'leads_contact_fkey'],
        ['leads', 'company_id', 'companies', 'leads_company_fkey'],
        ['activities', 'contact_id', 'contacts', 'activities_contact_fkey'],
        ['activities', 'company_id', 'companies', 'activities_company_fkey'],
        ['activities', 'lead_id', 'leads', 'activities_lead_fkey']
    ] LOOP
        -- A trashed row may be written with a link to a trashed one (the `stage_change`
        -- activity of a trashed lead whose stage is deleted): both come back together.
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW '
            'WHEN (NEW.%I IS NOT NULL AND NEW.deleted_at IS NULL) '
            'EXECUTE FUNCTION refuse_link_to_trash(%L, %L, %L)',
            link[1] || '_' || link[2] || '_live_on_insert', link[1], link[2],
            link[2], link[3], link[4]);
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE OF %I ON %I FOR EACH ROW '
            'WHEN (NEW.%I IS NOT NULL AND NEW.%I IS DISTINCT FROM OLD.%I '
            '      AND NEW.deleted_at IS NULL) '
            'EXECUTE FUNCTION refuse_link_to_trash(%L, %L, %L)',
            link[1] || '_' || link[2] || '_live_on_update', link[2], link[1],
            link[2], link[2], link[2], link[2], link[3], link[4]);
    END LOOP;
END
$$;

-- Deletes for good, across tenants, up to `p_limit` rows of each type that were trashed
-- before `now() - p_retention`, and returns how many it deleted (call again until 0).
-- SECURITY DEFINER (owned by the owner role, which bypasses row-level security) because
-- the runtime role can reach one tenant at a time only; it takes nothing but the two
-- numbers and returns a count. Activities go first, then leads, contacts, companies, so a
-- lead's trashed `stage_change` activities go before it rather than being unlinked.
-- SKIP LOCKED leaves a row that a request holds (a restore in flight) for the next run.
CREATE FUNCTION purge_trash(p_retention interval, p_limit integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        cutoff timestamptz := now() - p_retention;
        n integer;
        total integer := 0;
    BEGIN
        DELETE FROM public.activities WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.activities WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.leads WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.leads WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.contacts WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.contacts WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.companies WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.companies WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        RETURN total;
    END
    $$;
REVOKE ALL ON FUNCTION purge_trash(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_trash(interval, integer) TO momentum_app;
