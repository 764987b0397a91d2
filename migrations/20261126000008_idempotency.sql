-- Idempotency keys: the first completed answer to a POST sent with an `Idempotency-Key`,
-- kept for a day so a client's retry gets that answer again instead of a second write.

CREATE TABLE idempotency_keys (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, the path with its query, and the body: the same key with a
    -- different request is refused, not replayed.
    fingerprint      bytea NOT NULL CHECK (length(fingerprint) = 32),
    -- `running` until the first request finishes; `completed` with its answer after.
    status           text NOT NULL CHECK (status IN ('running', 'completed')),
    -- A running request's claim: after it, a server that died mid-request is presumed
    -- gone and a retry may run the request again.
    locked_until     timestamptz,
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key),
    CONSTRAINT idempotency_keys_completed_has_answer
        CHECK (status = 'running' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO momentum_app;

-- Expired keys of every tenant, removed in batches by each server in the background
-- (SECURITY DEFINER: the purge has no tenant). Returns how many went.
CREATE FUNCTION idempotency_purge(p_limit integer) RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH gone AS (
            DELETE FROM public.idempotency_keys
             WHERE ctid IN (SELECT ctid FROM public.idempotency_keys
                             WHERE expires_at < now() LIMIT p_limit)
            RETURNING 1
        )
        SELECT count(*)::integer FROM gone
    $$;
REVOKE ALL ON FUNCTION idempotency_purge(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_purge(integer) TO momentum_app;
