-- The functions that read across tenants find rows by their tenant and id, not by id alone.
--
-- Why: the migrations that follow make every primary key of a tenant table
-- `(tenant_id, id)` (20261202400021), so that the tables can one day be sharded by tenant
-- (docs/scaling.md: Citus requires every key to include the distribution column). Under
-- row-level security a lookup by id is served by that key, because the policy adds
-- `tenant_id = current_tenant_id()`. These SECURITY DEFINER functions run as the owner,
-- which bypasses row-level security, so nothing adds the tenant for them: a join on `id`
-- alone would lose its index once `(id)` is no longer a key. Each row they join already
-- carries its tenant, so they now say it. Results are unchanged (ids are UUIDv7, unique
-- in practice whatever the key says), and so are the signatures: servers of the previous
-- release call them exactly as before.
--
-- The bodies are those of 20261202000001 (the credential lookup) and 20261202100003 (the
-- worker's functions, with their bounds), with the tenant added to each join on an id.

-- The key's (or token's) user is looked up in the key's tenant: the same row, since the
-- composite foreign keys already tie a credential to a user of its own tenant.
CREATE OR REPLACE FUNCTION auth_lookup_credential(p_kind text, p_public_id text)
    RETURNS TABLE (
        credential_id uuid,
        tenant_id     uuid,
        user_id       uuid,
        user_role     text,
        user_active   boolean,
        secret_hash   bytea,
        scopes        text[],
        expires_at    timestamptz,
        revoked_at    timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.user_id, u.role, u.id IS NULL OR u.deactivated_at IS NULL,
               k.secret_hash, k.scopes, k.expires_at, k.revoked_at
          FROM public.api_keys k
          LEFT JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
         WHERE p_kind = 'api_key' AND k.public_id = p_public_id
        UNION ALL
        SELECT t.id, t.tenant_id, t.user_id, u.role, u.deactivated_at IS NULL,
               t.secret_hash, t.scopes, t.expires_at, t.revoked_at
          FROM public.session_tokens t
          JOIN public.users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
         WHERE p_kind = 'session_token' AND t.public_id = p_public_id
    $$;

-- The claim: candidates carry their tenant, and the lock, the lease and the joins to the
-- endpoint and the event go through `(tenant_id, id)`. Endpoints are still walked by
-- `endpoint_id` alone (webhook_deliveries_endpoint_due_idx): an endpoint belongs to one
-- tenant, so its queue is that tenant's already.
CREATE OR REPLACE FUNCTION webhook_claim_deliveries(p_limit integer, p_lease interval, p_per_endpoint integer)
    RETURNS TABLE (
        delivery_id      uuid,
        claim_id         uuid,
        tenant_id        uuid,
        endpoint_id      uuid,
        endpoint_enabled boolean,
        url              text,
        secret           text,
        previous_secret  text,
        event_id         uuid,
        event_type       text,
        event_data       jsonb,
        event_created_at timestamptz,
        step             integer,
        manual           boolean
    )
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH RECURSIVE bounds AS (
            SELECT least(greatest(p_limit, 0), 1024) AS max_rows,
                   least(greatest(p_per_endpoint, 0), 1024) AS per_endpoint,
                   least(greatest(p_lease, interval '1 second'), interval '1 hour') AS lease
        ), pending_endpoints AS (
            (SELECT d.endpoint_id
               FROM public.webhook_deliveries d
              WHERE d.status = 'pending'
              ORDER BY d.endpoint_id
              LIMIT 1)
            UNION ALL
            SELECT (SELECT d.endpoint_id
                      FROM public.webhook_deliveries d
                     WHERE d.status = 'pending' AND d.endpoint_id > p.endpoint_id
                     ORDER BY d.endpoint_id
                     LIMIT 1)
              FROM pending_endpoints p
             WHERE p.endpoint_id IS NOT NULL
        ), room AS (
            SELECT p.endpoint_id,
                   greatest((SELECT per_endpoint FROM bounds) - (
                       SELECT count(*)
                         FROM public.webhook_deliveries l
                        WHERE l.endpoint_id = p.endpoint_id AND l.status = 'pending'
                          AND l.claim_id IS NOT NULL AND l.next_attempt_at > now()), 0) AS free
              FROM pending_endpoints p
             WHERE p.endpoint_id IS NOT NULL
        ), candidates AS (
            SELECT c.tenant_id, c.id, c.next_attempt_at
              FROM room r
             CROSS JOIN LATERAL (
                   SELECT d.tenant_id, d.id, d.next_attempt_at
                     FROM public.webhook_deliveries d
                    WHERE d.endpoint_id = r.endpoint_id AND d.status = 'pending'
                      AND d.next_attempt_at <= now()
                    ORDER BY d.next_attempt_at
                    LIMIT r.free) c
             WHERE r.free > 0
        ), due AS (
            SELECT d.tenant_id, d.id
              FROM public.webhook_deliveries d
              JOIN candidates c ON c.tenant_id = d.tenant_id AND c.id = d.id
             WHERE d.status = 'pending' AND d.next_attempt_at <= now()
             ORDER BY c.next_attempt_at
             LIMIT (SELECT max_rows FROM bounds)
               FOR UPDATE OF d SKIP LOCKED
        ), claimed AS (
            UPDATE public.webhook_deliveries d
               SET claim_id = gen_random_uuid(),
                   next_attempt_at = now() + (SELECT lease FROM bounds)
              FROM due
             WHERE d.tenant_id = due.tenant_id AND d.id = due.id
            RETURNING d.id, d.claim_id, d.tenant_id, d.endpoint_id, d.event_id, d.step, d.manual
        )
        SELECT c.id, c.claim_id, c.tenant_id, c.endpoint_id, e.enabled, e.url, e.secret,
               CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END,
               c.event_id, ev.type, ev.data, ev.created_at, c.step, c.manual
          FROM claimed c
          JOIN public.webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
          JOIN public.events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
    $$;

-- The purge deletes the rows it picked by `(tenant_id, id)`.
CREATE OR REPLACE FUNCTION purge_trash(p_retention interval, p_limit integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        cutoff timestamptz := now() - greatest(p_retention, interval '1 day');
        batch integer := least(greatest(p_limit, 0), 10000);
        n integer;
        total integer := 0;
    BEGIN
        DELETE FROM public.activities WHERE deleted_at < cutoff AND (tenant_id, id) IN (
            SELECT tenant_id, id FROM public.activities WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.leads WHERE deleted_at < cutoff AND (tenant_id, id) IN (
            SELECT tenant_id, id FROM public.leads WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.contacts WHERE deleted_at < cutoff AND (tenant_id, id) IN (
            SELECT tenant_id, id FROM public.contacts WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.companies WHERE deleted_at < cutoff AND (tenant_id, id) IN (
            SELECT tenant_id, id FROM public.companies WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        RETURN total;
    END
    $$;

-- Endpoints still holding plaintext, in key order `(tenant_id, id)`, so the batch can be
-- read off the new primary key as it was off `(id)`; the caller seals each one and asks
-- again until none is left, so the order is otherwise immaterial.
CREATE OR REPLACE FUNCTION webhook_plaintext_secrets(p_limit integer)
    RETURNS TABLE (tenant_id uuid, endpoint_id uuid, secret text, previous_secret text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.tenant_id, e.id, e.secret, e.previous_secret
          FROM public.webhook_endpoints e
         WHERE e.secret NOT LIKE 'enc:%' OR e.previous_secret NOT LIKE 'enc:%'
         ORDER BY e.tenant_id, e.id
         LIMIT least(greatest(p_limit, 0), 1000)
    $$;
