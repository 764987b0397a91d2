-- An event remembers the trace of the change that caused it, so its webhook deliveries
-- can carry that trace on to the receiver (W3C `traceparent`, docs/operations.md,
-- "Traces").
--
-- How the context gets here without changing `emit_event`'s signature: when tracing is
-- on, the server's tenant transaction (`db::TenantTx`) sets the transaction-local
-- `app.traceparent` in its first message, beside `app.tenant_id`; `emit_event` reads it
-- with `current_setting(..., true)` (NULL when unset) and stores it with the event. A
-- malformed value is stored as NULL: a trace context must never make a change fail.
--
-- The worker needs the value with each claimed delivery. `webhook_claim_deliveries`
-- returns a fixed row type, which cannot grow without dropping the function that servers
-- of the previous release call; so `webhook_claim_deliveries_traced` is a new function
-- beside it: the same claim, and the event's `traceparent` joined on.
--
-- Expand only (README): a nullable column the previous release neither reads nor
-- writes (its `INSERT`s leave it NULL), `emit_event` with the same signature and the
-- same behaviour for callers that set nothing, and a new function. A later release may
-- drop the three-argument claim once no server of this one's predecessor runs.

SET LOCAL lock_timeout = '5s';

ALTER TABLE events ADD COLUMN traceparent text;

COMMENT ON COLUMN events.traceparent IS
    'W3C traceparent of the change that emitted the event (NULL: none was traced); sent with its webhook deliveries.';

-- The body of 20261126000007's, plus the trace context.
CREATE OR REPLACE FUNCTION emit_event(p_type text, p_data jsonb) RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_tenant      uuid := current_tenant_id();
        v_id          uuid := uuid_v7();
        v_queued      integer;
        v_traceparent text := current_setting('app.traceparent', true);
    BEGIN
        IF v_traceparent IS NOT NULL
           AND v_traceparent !~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' THEN
            v_traceparent := NULL;
        END IF;
        -- clock_timestamp(), not now(): several events of one transaction then list in
        -- the order they were emitted (now() is the same for the whole transaction).
        INSERT INTO events (id, tenant_id, type, data, created_at, traceparent)
        VALUES (v_id, v_tenant, p_type, p_data, clock_timestamp(), v_traceparent);
        INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, next_attempt_at)
        SELECT uuid_v7(), v_tenant, v_id, e.id, now()
          FROM webhook_endpoints e
         WHERE e.enabled AND (e.event_types = '{}' OR p_type = ANY (e.event_types));
        GET DIAGNOSTICS v_queued = ROW_COUNT;
        IF v_queued > 0 THEN
            PERFORM pg_notify('momentum_webhooks', '');
        END IF;
        RETURN v_id;
    END
    $$;

-- The claim of 20261202400001 (bounds, per-endpoint cap, lease), with the event's trace
-- context. SECURITY DEFINER as the claim itself: the worker has no tenant yet. The join
-- is on the event's key, `(tenant_id, id)`.
--
-- The claim's body itself, not a call to the old claim: a statement that selected from the
-- (VOLATILE) claim and joined events would read events with its own snapshot, older than
-- the claim's, and drop every delivery whose event committed in between. Those would be
-- leased and never returned to the worker, so sent only once the lease ran out (25 s
-- late, measured by bench/run at 200 events/s).
CREATE FUNCTION webhook_claim_deliveries_traced(p_limit integer, p_lease interval,
                                                p_per_endpoint integer)
    RETURNS TABLE (
        delivery_id       uuid,
        claim_id          uuid,
        tenant_id         uuid,
        endpoint_id       uuid,
        endpoint_enabled  boolean,
        url               text,
        secret            text,
        previous_secret   text,
        event_id          uuid,
        event_type        text,
        event_data        jsonb,
        event_created_at  timestamptz,
        step              integer,
        manual            boolean,
        event_traceparent text
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
               c.event_id, ev.type, ev.data, ev.created_at, c.step, c.manual, ev.traceparent
          FROM claimed c
          JOIN public.webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
          JOIN public.events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
    $$;
-- Like every function that acts across tenants: the worker's role alone
-- (20261202100003_worker_role.sql).
REVOKE ALL ON FUNCTION webhook_claim_deliveries_traced(integer, interval, integer)
    FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION webhook_claim_deliveries_traced(integer, interval, integer)
    TO momentum_worker;

-- The three-argument claim, for servers of the previous release, is now the traced claim
-- without its last column, so the claim's body exists once. A projection of one function
-- call reads nothing else, so it has no second snapshot to miss rows with. Same
-- signature and results; CREATE OR REPLACE keeps its grants (20261202100003).
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
        SELECT c.delivery_id, c.claim_id, c.tenant_id, c.endpoint_id, c.endpoint_enabled,
               c.url, c.secret, c.previous_secret, c.event_id, c.event_type, c.event_data,
               c.event_created_at, c.step, c.manual
          FROM public.webhook_claim_deliveries_traced(p_limit, p_lease, p_per_endpoint) c
    $$;
