-- The functions that act across tenants for background work become a separate role's.
--
-- The webhook worker's claim, the trash's purge, the sealing of plaintext secrets and the
-- idempotency purge are SECURITY DEFINER: they run as the owner, which bypasses row-level
-- security, because background work has no tenant. They were executable by
-- `momentum_app`, the role every API request runs as, and trusted their arguments: the
-- API's role could purge every tenant's trash with a retention of zero, or claim every
-- tenant's deliveries under a century-long lease and read their payloads and secrets.
--
-- 1. A group role, `momentum_worker`, alone may execute them. It is a member of
--    `momentum_app`, so its members also run tenant transactions (recording attempts,
--    sealing a secret in its endpoint's tenant). The process that runs the worker and the
--    purges connects as a member of it (`MOMENTUM_WORKER_DATABASE_URL`); the API's role
--    stays a plain member of `momentum_app`.
-- 2. Each function bounds its own arguments as well (defence in depth): a lease of an
--    hour at most, a trash retention of a day at least, batches of a few thousand rows.
--
-- Upgrades: every login role that is already a member of `momentum_app` (the runtime role
-- of an existing deployment, which ran the worker in the same process) is granted
-- `momentum_worker` below, so servers keep working through the upgrade, the previous
-- release included. Each such grant is reported as a WARNING, and the server warns at
-- every start while the API's role can run these functions: give the worker a role of its
-- own and `REVOKE momentum_worker FROM <api role>` (README, "Your own PostgreSQL").
-- Refusing to start instead would have stopped every existing deployment at once.

-- NOLOGIN so nobody connects as it directly; roles are cluster-wide, hence the guard.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'momentum_worker') THEN
        CREATE ROLE momentum_worker NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT momentum_app TO momentum_worker;

-- The claim without the per-endpoint cap was kept for servers of the release before
-- 20261128120000 during its rolling upgrade; none runs any more.
DROP FUNCTION webhook_claim_deliveries(integer, interval);

-- The claim of 20261128120000, with its arguments bounded: at most 1,024 deliveries per
-- claim (a worker's largest concurrency), a per-endpoint cap of at most 1,024, and a lease
-- of one second to one hour (the worker asks for its request timeout plus 10 s, at most
-- 310 s), so no caller can park deliveries for longer than an hour.
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
            SELECT c.id, c.next_attempt_at
              FROM room r
             CROSS JOIN LATERAL (
                   SELECT d.id, d.next_attempt_at
                     FROM public.webhook_deliveries d
                    WHERE d.endpoint_id = r.endpoint_id AND d.status = 'pending'
                      AND d.next_attempt_at <= now()
                    ORDER BY d.next_attempt_at
                    LIMIT r.free) c
             WHERE r.free > 0
        ), due AS (
            SELECT d.id
              FROM public.webhook_deliveries d
              JOIN candidates c ON c.id = d.id
             WHERE d.status = 'pending' AND d.next_attempt_at <= now()
             ORDER BY c.next_attempt_at
             LIMIT (SELECT max_rows FROM bounds)
               FOR UPDATE OF d SKIP LOCKED
        ), claimed AS (
            UPDATE public.webhook_deliveries d
               SET claim_id = gen_random_uuid(),
                   next_attempt_at = now() + (SELECT lease FROM bounds)
              FROM due
             WHERE d.id = due.id
            RETURNING d.id, d.claim_id, d.tenant_id, d.endpoint_id, d.event_id, d.step, d.manual
        )
        SELECT c.id, c.claim_id, c.tenant_id, c.endpoint_id, e.enabled, e.url, e.secret,
               CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END,
               c.event_id, ev.type, ev.data, ev.created_at, c.step, c.manual
          FROM claimed c
          JOIN public.webhook_endpoints e ON e.id = c.endpoint_id
          JOIN public.events ev ON ev.id = c.event_id
    $$;

-- The purge of 20261129200001 with a floor under the retention: whatever it is asked, a
-- record trashed less than a day ago stays, so one deleted by mistake can be restored at
-- least the same day. A day is the smallest retention the server can be configured with
-- (MOMENTUM_TRASH_RETENTION_DAYS counts days), so the floor takes away nothing an
-- operator can ask for except "at once". Batches are 1 to 10,000 rows per type.
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
        DELETE FROM public.activities WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.activities WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.leads WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.leads WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.contacts WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.contacts WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        DELETE FROM public.companies WHERE deleted_at < cutoff AND id IN (
            SELECT id FROM public.companies WHERE deleted_at < cutoff
             ORDER BY deleted_at LIMIT batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        RETURN total;
    END
    $$;

-- 20261128000001's, with the batch bounded to 1 to 1,000 endpoints.
CREATE OR REPLACE FUNCTION webhook_plaintext_secrets(p_limit integer)
    RETURNS TABLE (tenant_id uuid, endpoint_id uuid, secret text, previous_secret text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.tenant_id, e.id, e.secret, e.previous_secret
          FROM public.webhook_endpoints e
         WHERE e.secret NOT LIKE 'enc:%' OR e.previous_secret NOT LIKE 'enc:%'
         ORDER BY e.id
         LIMIT least(greatest(p_limit, 0), 1000)
    $$;

-- 20261126000008's, with the batch bounded to 1 to 10,000 keys. It only ever deletes
-- expired keys; it moves to the worker because it works across tenants.
CREATE OR REPLACE FUNCTION idempotency_purge(p_limit integer) RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH gone AS (
            DELETE FROM public.idempotency_keys
             WHERE ctid IN (SELECT ctid FROM public.idempotency_keys
                             WHERE expires_at < now() LIMIT least(greatest(p_limit, 0), 10000))
            RETURNING 1
        )
        SELECT count(*)::integer FROM gone
    $$;

-- What every server checks its MOMENTUM_SECRET_KEY against at start: the ids of the keys
-- that sealed stored secrets (a hash of the operator's key, nothing of a tenant). The API
-- needs this much; the per-key counts of `webhook_secret_keys`, which also tell how many
-- endpoints every tenant holds and whether plaintext remains, are the worker's.
CREATE FUNCTION webhook_secret_key_ids() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT DISTINCT split_part(s, ':', 3)
          FROM public.webhook_endpoints e,
               LATERAL (VALUES (e.secret), (e.previous_secret)) AS v (s)
         WHERE s LIKE 'enc:v1:%'
    $$;
REVOKE ALL ON FUNCTION webhook_secret_key_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_secret_key_ids() TO momentum_app;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'webhook_claim_deliveries(integer, interval, integer)',
        'webhook_next_due()',
        'purge_trash(interval, integer)',
        'webhook_plaintext_secrets(integer)',
        -- Still called at start by servers of the previous release.
        'webhook_secret_keys()',
        'idempotency_purge(integer)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, momentum_app', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO momentum_worker', f);
    END LOOP;
END
$$;

-- Existing deployments: their runtime roles ran the worker too; keep them working.
DO $$
DECLARE
    r name;
BEGIN
    FOR r IN SELECT m.rolname
               FROM pg_auth_members am
               JOIN pg_roles g ON g.oid = am.roleid
               JOIN pg_roles m ON m.oid = am.member
              WHERE g.rolname = 'momentum_app' AND m.rolcanlogin
                AND NOT pg_has_role(m.oid, 'momentum_worker', 'MEMBER') LOOP
        EXECUTE format('GRANT momentum_worker TO %I', r);
        RAISE WARNING 'granted momentum_worker to % so it keeps running the worker: give the worker a role of its own, then REVOKE momentum_worker FROM %', r, r;
    END LOOP;
END
$$;
