-- Events say what changed (issue 24, point 2): a `*.updated` event (and the
-- `lead.stage_changed` sent with a lead's move) records the names of the fields the change
-- touched and their values before it, and a webhook endpoint may take an updated type
-- only when one of the fields it names changed (e.g. `lead.updated` where `stage_id`
-- changed). docs/events.md describes both.
--
-- Where the filter is applied: in `emit_event`, where deliveries are created, as the
-- type filter is. A filtered-out event queues no delivery for that endpoint, so the
-- worker and the deliveries API see nothing new.
--
-- `changed_field_filters` is a map from event type to the field names that let its events
-- through (`{"lead.updated": ["stage_id"]}`), so the fan-out tests an endpoint with one
-- `?` and one `?|`; the API shows it as a list of `{event_type, changed_fields}`.
--
-- Expand only (README): nullable columns the previous release neither reads nor writes,
-- a filter column with a default that lets every event through, `emit_event(text, jsonb)`
-- with the same signature and behaviour (it is now the four-argument one without
-- changes: an event of the previous release's servers reaches a changed-field filter
-- with no changed fields and is not sent there), and a new claim beside the traced one.

SET LOCAL lock_timeout = '5s';

ALTER TABLE events ADD COLUMN changed_fields text[], ADD COLUMN previous jsonb;
COMMENT ON COLUMN events.changed_fields IS
    'The fields a *.updated (or lead.stage_changed) event changed, sorted; NULL for other events.';
COMMENT ON COLUMN events.previous IS
    'The values of changed_fields before the change; NULL when changed_fields is.';

ALTER TABLE webhook_endpoints
    ADD COLUMN changed_field_filters jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT webhook_endpoints_changed_field_filters_object
        CHECK (jsonb_typeof(changed_field_filters) = 'object');
COMMENT ON COLUMN webhook_endpoints.changed_field_filters IS
    'Event type -> field names: an event of that type is sent here only if one of them changed.';

-- The body of 20261208100001's, plus the changes and the changed-field filter.
CREATE FUNCTION emit_event(p_type text, p_data jsonb, p_changed_fields text[],
                           p_previous jsonb) RETURNS uuid
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
        INSERT INTO events (id, tenant_id, type, data, created_at, traceparent,
                            changed_fields, previous)
        VALUES (v_id, v_tenant, p_type, p_data, clock_timestamp(), v_traceparent,
                p_changed_fields, p_previous);
        INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, next_attempt_at)
        SELECT uuid_v7(), v_tenant, v_id, e.id, now()
          FROM webhook_endpoints e
         WHERE e.enabled AND (e.event_types = '{}' OR p_type = ANY (e.event_types))
           AND (NOT e.changed_field_filters ? p_type
                OR coalesce((e.changed_field_filters -> p_type) ?| p_changed_fields, false));
        GET DIAGNOSTICS v_queued = ROW_COUNT;
        IF v_queued > 0 THEN
            PERFORM pg_notify('momentum_webhooks', '');
        END IF;
        RETURN v_id;
    END
    $$;

-- Events without changes, as the previous release and this one's other events record
-- them: the fan-out exists once.
CREATE OR REPLACE FUNCTION emit_event(p_type text, p_data jsonb) RETURNS uuid
    LANGUAGE sql VOLATILE
    SET search_path = public, pg_temp
    AS $$ SELECT emit_event(p_type, p_data, NULL::text[], NULL::jsonb) $$;

-- The traced claim of 20261208100001, with the event's changes. Its body, not a call to
-- it, for the reason given there (a second snapshot would miss events).
CREATE FUNCTION webhook_claim_deliveries_changes(p_limit integer, p_lease interval,
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
        event_traceparent text,
        event_changed_fields text[],
        event_previous    jsonb
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
               c.event_id, ev.type, ev.data, ev.created_at, c.step, c.manual, ev.traceparent,
               ev.changed_fields, ev.previous
          FROM claimed c
          JOIN public.webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
          JOIN public.events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
    $$;-- The worker's role alone, as every claim (20261202100003_worker_role.sql).
REVOKE ALL ON FUNCTION webhook_claim_deliveries_changes(integer, interval, integer)
    FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION webhook_claim_deliveries_changes(integer, interval, integer)
    TO momentum_worker;

-- The traced claim, for servers of the previous release, is now this one without its last
-- two columns, so the claim's body exists once (as 20261208100001 did for the
-- three-argument claim). Same signature and results; CREATE OR REPLACE keeps its grants.
CREATE OR REPLACE FUNCTION webhook_claim_deliveries_traced(p_limit integer, p_lease interval,
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
        SELECT c.delivery_id, c.claim_id, c.tenant_id, c.endpoint_id, c.endpoint_enabled,
               c.url, c.secret, c.previous_secret, c.event_id, c.event_type, c.event_data,
               c.event_created_at, c.step, c.manual, c.event_traceparent
          FROM public.webhook_claim_deliveries_changes(p_limit, p_lease, p_per_endpoint) c
    $$;
