-- Sandboxes (issue 24, point 1): disposable tenants an admin makes through the API, each
-- a copy of its parent's configuration that the worker purges, with all its data, once
-- it expires.
--
-- A sandbox is an ordinary tenant (its own `tenants` row, its own users, keys and
-- records, under the same row-level security) plus a row here in its *parent's* tenant,
-- so the parent lists and reads its sandboxes through the usual policy. The runtime role
-- may only read this table and `tenants`: making and removing tenants goes through the
-- three SECURITY DEFINER functions below, which take the parent from the pinned tenant
-- (`current_tenant_id()`), never from an argument, and bound what they are asked.
--
-- `id` is the sandbox's tenant id. Every key of this table leads with the parent's
-- `tenant_id` like those of every tenant table, and the one foreign key is to the
-- parent's own row (it-test `rls.rs` holds both rules): the sandbox's `tenants` row is
-- tied to this row by the functions below, which write and delete both together, not by
-- a foreign key that would cross tenants. `sandboxes_id_idx` (not unique: the `tenants`
-- primary key already makes the id unique) lets them tell whether a tenant *is* a
-- sandbox, and a sandbox makes no sandboxes. Deleting the sandbox's `tenants` row deletes
-- every row of it through the `ON DELETE CASCADE` of every tenant table.
--
-- Expand only: a new table and new functions the previous release never uses.

CREATE TABLE sandboxes (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    seed          text NOT NULL CHECK (seed IN ('none', 'demo')),
    -- The sandbox's owner user, in the sandbox's tenant (so no foreign key from here).
    owner_user_id uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandboxes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sandboxes_not_self CHECK (tenant_id <> id)
);
CREATE INDEX sandboxes_tenant_created_idx ON sandboxes (tenant_id, created_at, id);
CREATE INDEX sandboxes_id_idx ON sandboxes (id);
-- The worker's purge: the expired ones first, across tenants.
CREATE INDEX sandboxes_expires_idx ON sandboxes (expires_at);
ALTER TABLE sandboxes ENABLE ROW LEVEL SECURITY;
ALTER TABLE sandboxes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sandboxes
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT ON sandboxes TO momentum_app;

-- Makes the sandbox `p_id` of the pinned tenant: its `tenants` row and its row here.
-- The caller (the API, in the same transaction) then pins the sandbox and writes its
-- owner, key and configuration as the runtime role, under row-level security.
-- Returns 'created', or why not: 'nested' when the pinned tenant is itself a sandbox,
-- 'limit' when it already has `p_max` live (unexpired) sandboxes. The parent's row is
-- locked first, so two creations at once cannot both take the last place. Bounded: at
-- most 1,000 live sandboxes whatever `p_max` says, and 1 minute to 30 days to live.
CREATE FUNCTION sandbox_create(p_id uuid, p_name text, p_seed text, p_owner_user_id uuid,
                               p_expires_in interval, p_max integer)
    RETURNS TABLE (outcome text, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        parent uuid := public.current_tenant_id();
        live integer;
        until timestamptz := now() + least(greatest(p_expires_in, interval '1 minute'),
                                           interval '30 days');
    BEGIN
        PERFORM 1 FROM public.tenants t WHERE t.id = parent FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no tenant is pinned' USING ERRCODE = 'P0001';
        END IF;
        IF EXISTS (SELECT 1 FROM public.sandboxes s WHERE s.id = parent) THEN
            RETURN QUERY SELECT 'nested'::text, NULL::timestamptz;
            RETURN;
        END IF;
        SELECT count(*) INTO live FROM public.sandboxes s
         WHERE s.tenant_id = parent AND s.expires_at > now();
        IF live >= least(greatest(p_max, 0), 1000) THEN
            RETURN QUERY SELECT 'limit'::text, NULL::timestamptz;
            RETURN;
        END IF;
        INSERT INTO public.tenants (id, name) VALUES (p_id, p_name);
        INSERT INTO public.sandboxes (tenant_id, id, name, seed, owner_user_id, expires_at)
        VALUES (parent, p_id, p_name, p_seed, p_owner_user_id, until);
        RETURN QUERY SELECT 'created'::text, until;
    END
    $$;

-- Deletes the pinned tenant's sandbox `p_id` with all its data; false when the pinned
-- tenant has no such sandbox (another tenant's, or any tenant that is not a sandbox,
-- is left alone). Tells every instance to drop its cached credentials: the sandbox's
-- keys are gone (the notice is sent when, and only if, the transaction commits).
CREATE FUNCTION sandbox_delete(p_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        DELETE FROM public.sandboxes s
         WHERE s.id = p_id AND s.tenant_id = public.current_tenant_id();
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        DELETE FROM public.tenants t WHERE t.id = p_id;
        PERFORM pg_notify('momentum_credentials', '');
        RETURN true;
    END
    $$;

-- The worker's purge: deletes up to `p_limit` (1 to 100) expired sandboxes of any tenant
-- with all their data, skipping any another transaction holds; returns how many. A
-- sandbox's data can be large, so batches are small.
CREATE FUNCTION sandbox_purge_expired(p_limit integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        n integer;
    BEGIN
        WITH expired AS (
            DELETE FROM public.sandboxes s WHERE s.id IN (
                SELECT e.id FROM public.sandboxes e
                 WHERE e.expires_at <= now()
                 ORDER BY e.expires_at
                 LIMIT least(greatest(p_limit, 0), 100)
                   FOR UPDATE SKIP LOCKED)
            RETURNING s.id
        )
        DELETE FROM public.tenants t WHERE t.id IN (SELECT id FROM expired);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            PERFORM pg_notify('momentum_credentials', '');
        END IF;
        RETURN n;
    END
    $$;

REVOKE ALL ON FUNCTION sandbox_create(uuid, text, text, uuid, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION sandbox_delete(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION sandbox_purge_expired(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sandbox_create(uuid, text, text, uuid, interval, integer) TO momentum_app;
GRANT EXECUTE ON FUNCTION sandbox_delete(uuid) TO momentum_app;
-- The worker's role is a member of momentum_app; the API's role must not purge.
GRANT EXECUTE ON FUNCTION sandbox_purge_expired(integer) TO momentum_worker;
