-- Exports (issue 25, point 2): a tenant's contacts, companies or leads written to a file
-- by the worker, from one snapshot, kept until `expires_at`.
--
-- The API inserts a row here (`queued`) in the tenant's transaction, under the usual
-- policy. Workers claim rows across tenants through `export_claim`, the one SECURITY
-- DEFINER function below (the worker's role alone may run it); everything after the
-- claim (progress, completion, failure, expiry) is an `UPDATE` in the tenant's own
-- transaction, guarded by the claim's `claim_id`, so a worker that lost its lease can no
-- longer touch the row.
--
-- Expand only: a new table and a new function the previous release never uses.

CREATE TABLE exports (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    record_type   text NOT NULL CHECK (record_type IN ('contact', 'company', 'lead')),
    format        text NOT NULL CHECK (format IN ('ndjson', 'csv')),
    -- The list filters, as the API took them (`app::*Query`), applied by the worker.
    filters       jsonb NOT NULL CHECK (jsonb_typeof(filters) = 'object'),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'failed', 'expired')),
    rows          bigint NOT NULL DEFAULT 0 CHECK (rows >= 0),
    size_bytes    bigint CHECK (size_bytes >= 0),
    -- Where the file is in the blob store; set on completion, cleared on expiry.
    file_key      text CHECK (length(file_key) BETWEEN 1 AND 500),
    error_code    text CHECK (length(error_code) BETWEEN 1 AND 100),
    error_message text CHECK (length(error_message) <= 1000),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claim_id      uuid,
    lease_until   timestamptz,
    snapshot_at   timestamptz,
    started_at    timestamptz,
    completed_at  timestamptz,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exports_pkey PRIMARY KEY (tenant_id, id),
    -- A running export has a claim and a lease; nothing else has either.
    CONSTRAINT exports_running_is_claimed
        CHECK ((status = 'running') = (claim_id IS NOT NULL AND lease_until IS NOT NULL)
               AND (claim_id IS NULL) = (lease_until IS NULL)),
    CONSTRAINT exports_completed_has_its_file
        CHECK (status <> 'completed'
               OR (file_key IS NOT NULL AND size_bytes IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX exports_tenant_created_idx ON exports (tenant_id, created_at, id);
-- The claim's scan: what waits or runs, oldest first, across tenants.
CREATE INDEX exports_queue_idx ON exports (created_at) WHERE status IN ('queued', 'running');
-- The purge's scan: completed files, by when they expire.
CREATE INDEX exports_expiry_idx ON exports (expires_at) WHERE status = 'completed';
ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE exports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exports
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON exports TO momentum_app;

-- Claims up to `p_limit` (at most 16) exports of any tenant for `p_lease` (1 second to 1
-- hour): queued ones, and running ones whose lease ran out (their worker died), oldest
-- first, never more than `p_per_tenant` (1 to 16) running at once for one tenant. Each
-- claim gets a new `claim_id` and counts an attempt; the worker gives up on an export
-- past its attempts. Claims take a transaction-scoped advisory lock first, so two
-- workers claiming at once cannot both take a tenant's last place; claims are rare (a
-- worker claims when it has a free slot and something is queued), so they wait little.
-- Returns only what the worker needs to pin the tenant and guard its updates.
CREATE FUNCTION export_claim(p_limit integer, p_lease interval, p_per_tenant integer)
    RETURNS TABLE (tenant_id uuid, id uuid, claim_id uuid, attempts integer)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    #variable_conflict use_column
    DECLARE
        lease interval := least(greatest(p_lease, interval '1 second'), interval '1 hour');
        cap integer := least(greatest(p_per_tenant, 1), 16);
        picked record;
    BEGIN
        -- 'mexp' in ASCII: the exports claim's own lock.
        PERFORM pg_advisory_xact_lock(1835366512);
        FOR i IN 1 .. least(greatest(p_limit, 0), 16) LOOP
            SELECT e.tenant_id AS t, e.id AS x INTO picked
              FROM public.exports e
             WHERE e.status IN ('queued', 'running')
               AND (e.status = 'queued' OR e.lease_until < now())
               AND (SELECT count(*)
                      FROM public.exports l
                     WHERE l.tenant_id = e.tenant_id AND l.status = 'running'
                       AND l.lease_until >= now()) < cap
             ORDER BY e.created_at
             LIMIT 1
               FOR UPDATE SKIP LOCKED;
            EXIT WHEN NOT FOUND;
            RETURN QUERY
                UPDATE public.exports u
                   SET status = 'running', claim_id = gen_random_uuid(),
                       lease_until = now() + lease, attempts = u.attempts + 1,
                       started_at = coalesce(u.started_at, now()), updated_at = now()
                 WHERE u.tenant_id = picked.t AND u.id = picked.x
             RETURNING u.tenant_id, u.id, u.claim_id, u.attempts;
        END LOOP;
    END
    $$;
-- The worker's role alone, as every claim (20261202100003_worker_role.sql).
REVOKE ALL ON FUNCTION export_claim(integer, interval, integer) FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION export_claim(integer, interval, integer) TO momentum_worker;

-- Completed exports past their time, of any tenant, oldest first (at most `p_limit`, 1
-- to 1,000): the worker deletes each one's file, then marks it expired in the tenant's
-- transaction. Read-only: a file is never forgotten before it is deleted.
CREATE FUNCTION export_expired_files(p_limit integer)
    RETURNS TABLE (tenant_id uuid, id uuid, file_key text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.tenant_id, e.id, e.file_key
          FROM public.exports e
         WHERE e.status = 'completed' AND e.expires_at <= now()
         ORDER BY e.expires_at
         LIMIT least(greatest(p_limit, 0), 1000)
    $$;
REVOKE ALL ON FUNCTION export_expired_files(integer) FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION export_expired_files(integer) TO momentum_worker;
