-- One endpoint may hold at most N deliveries under lease at a time, across all workers.
-- Without it, a receiver that hangs (or answers slowly) until the timeout collects every
-- worker slot once enough of its deliveries are due, and every other endpoint's deliveries
-- wait behind it.

-- Each endpoint's queue in due order (the claim takes the head of each), and, among the
-- endpoints with anything pending, the walk from one to the next.
CREATE INDEX webhook_deliveries_endpoint_due_idx
    ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
-- Deliveries under a lease (or whose lease ran out): few, counted per endpoint per claim.
CREATE INDEX webhook_deliveries_leased_idx
    ON webhook_deliveries (endpoint_id) WHERE status = 'pending' AND claim_id IS NOT NULL;

-- The claim of 20261126000007 with a per-endpoint cap, `p_per_endpoint`: an endpoint
-- already holding that many live leases gets nothing more, and one holding fewer gets at
-- most the difference, so the rest of the batch goes to other endpoints. Cost follows the
-- number of endpoints with pending deliveries, not the size of the backlog: the endpoints
-- are walked one index probe at a time, and each gives at most `p_per_endpoint` rows.
--
-- The cap is exact for one worker. Two workers claiming at the same instant each see the
-- other's leases only once committed, so together they can briefly exceed it, by at most
-- the cap per concurrent claim.
--
-- The two-argument function stays for servers of the previous release during a rolling
-- upgrade; a later migration drops it.
CREATE FUNCTION webhook_claim_deliveries(p_limit integer, p_lease interval, p_per_endpoint integer)
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
        WITH RECURSIVE pending_endpoints AS (
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
                   greatest(p_per_endpoint - (
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
             LIMIT p_limit
               FOR UPDATE OF d SKIP LOCKED
        ), claimed AS (
            UPDATE public.webhook_deliveries d
               SET claim_id = gen_random_uuid(), next_attempt_at = now() + p_lease
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
REVOKE ALL ON FUNCTION webhook_claim_deliveries(integer, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_claim_deliveries(integer, interval, integer) TO momentum_app;
