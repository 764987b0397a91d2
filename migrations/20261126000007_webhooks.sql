-- Webhooks through a transactional outbox, modelled on svix's split: an event (the
-- message) is written in the same transaction as the change it describes; a delivery is
-- that event bound for one endpoint (status and next attempt); an attempt is one HTTP
-- request of a delivery, recorded as it happened.

CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    tenant_id                  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description                text CHECK (length(description) <= 1000),
    -- Empty: every event type.
    event_types                text[] NOT NULL DEFAULT '{}',
    enabled                    boolean NOT NULL DEFAULT true,
    -- Why a disabled endpoint is disabled: by a user, by a 410 from the receiver, or for
    -- failing without a success for too long.
    disabled_reason            text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    disabled_at                timestamptz,
    -- `whsec_` + base64. Kept readable because signing needs it; only the API's create
    -- and rotate answers ever show it.
    secret                     text NOT NULL,
    -- The secret before the last rotation, still signing until it expires.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    last_success_at            timestamptz,
    -- The first failure since the last success: the clock for disabling a failing endpoint.
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT webhook_endpoints_disabled_has_reason
        CHECK (enabled = (disabled_reason IS NULL) AND enabled = (disabled_at IS NULL))
);
CREATE INDEX webhook_endpoints_tenant_created_idx
    ON webhook_endpoints (tenant_id, created_at, id);

-- Every change the API makes, as `GET /v1/events` and the webhook payloads show it.
CREATE TABLE events (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type       text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_tenant_id_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX events_tenant_created_idx ON events (tenant_id, created_at, id);
CREATE INDEX events_tenant_type_created_idx ON events (tenant_id, type, created_at, id);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempt_count    integer NOT NULL DEFAULT 0,
    -- Position in the retry schedule; a retry through the API starts it over.
    step             integer NOT NULL DEFAULT 0,
    -- When a pending delivery is due. While a worker holds it, the end of its lease: a
    -- worker that dies mid-send leaves it due again once the lease is over.
    next_attempt_at  timestamptz,
    -- The lease of the worker holding it; its result is only applied under that lease.
    claim_id         uuid,
    -- The next attempt was asked for through the API.
    manual           boolean NOT NULL DEFAULT false,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT webhook_deliveries_event_fkey FOREIGN KEY (tenant_id, event_id)
        REFERENCES events (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_pending_is_due CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
-- The worker's queue: only pending rows, across tenants, by due time.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx
    ON webhook_deliveries (tenant_id, endpoint_id, created_at, id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (tenant_id, event_id);

CREATE TABLE webhook_attempts (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    delivery_id   uuid NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    status_code   integer,
    duration_ms   integer NOT NULL,
    -- The start of the receiver's answer (truncated by the server).
    response_body text,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_attempts_delivery_fkey FOREIGN KEY (tenant_id, delivery_id)
        REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery_idx
    ON webhook_attempts (tenant_id, delivery_id, created_at, id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'events', 'webhook_deliveries',
                             'webhook_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant_id()) '
            'WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO momentum_app;
-- Events are append-only for the API.
GRANT SELECT, INSERT ON events TO momentum_app;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO momentum_app;
GRANT SELECT, INSERT ON webhook_attempts TO momentum_app;

-- Records an event of the transaction's tenant and queues a delivery to every enabled
-- endpoint that takes its type, in the caller's transaction: a rolled-back change leaves
-- neither. NOTIFY is sent at commit only, so workers wake for committed work alone.
-- SECURITY INVOKER: row-level security applies as to any other write.
CREATE FUNCTION emit_event(p_type text, p_data jsonb) RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_tenant uuid := current_tenant_id();
        v_id     uuid := uuid_v7();
        v_queued integer;
    BEGIN
        -- clock_timestamp(), not now(): several events of one transaction then list in
        -- the order they were emitted (now() is the same for the whole transaction).
        INSERT INTO events (id, tenant_id, type, data, created_at)
        VALUES (v_id, v_tenant, p_type, p_data, clock_timestamp());
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

-- The worker's claim, across tenants (hence SECURITY DEFINER: the worker has no tenant
-- until it reads one here). Takes up to `p_limit` due deliveries that no other worker is
-- claiming (SKIP LOCKED), leases them for `p_lease` and returns what sending needs. The
-- previous secret is returned only while it still signs.
CREATE FUNCTION webhook_claim_deliveries(p_limit integer, p_lease interval)
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
        WITH due AS (
            SELECT d.id
              FROM public.webhook_deliveries d
             WHERE d.status = 'pending' AND d.next_attempt_at <= now()
             ORDER BY d.next_attempt_at
             LIMIT p_limit
               FOR UPDATE SKIP LOCKED
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
REVOKE ALL ON FUNCTION webhook_claim_deliveries(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_claim_deliveries(integer, interval) TO momentum_app;

-- When the next pending delivery of any tenant is due (NULL: none), so an idle worker
-- sleeps exactly until then.
CREATE FUNCTION webhook_next_due() RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT min(next_attempt_at) FROM public.webhook_deliveries WHERE status = 'pending'
    $$;
REVOKE ALL ON FUNCTION webhook_next_due() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_next_due() TO momentum_app;
