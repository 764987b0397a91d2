-- Imports (issue 25, point 1): a file of contacts, companies or leads uploaded by a
-- tenant, applied by the worker in chunks.
--
-- The API stores the file, then inserts a row here (`queued`) in the tenant's
-- transaction. Workers claim rows across tenants through `import_claim` (SECURITY
-- DEFINER, the worker's role alone), exactly as exports are claimed. Each chunk of rows
-- is then one tenant transaction that locks this row (guarded by the claim's
-- `claim_id` and by `next_byte`), applies the rows, stores their errors and moves
-- `next_byte` / `next_line` and the counts on, all or nothing: a worker that dies
-- mid-chunk leaves no trace of that chunk, and the next claim reads the file from
-- `next_byte` again. So rows are neither applied twice nor skipped.
--
-- Expand only: two new tables and two new functions the previous release never uses.

CREATE TABLE imports (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    record_type   text NOT NULL CHECK (record_type IN ('contact', 'company', 'lead')),
    format        text NOT NULL CHECK (format IN ('ndjson', 'csv')),
    match_key     text NOT NULL CHECK (match_key IN ('email', 'domain', 'id', 'none')),
    -- CSV: one entry per header column, in order, {"column": "E-mail", "field": "email"}
    -- (`field` null: the column is ignored). Empty for NDJSON.
    columns       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(columns) = 'array'),
    -- Owner of the records the import creates, as the API would choose it.
    requested_by  uuid,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    -- The uploaded file in the blob store; cleared once the import is over and the
    -- file deleted (only the counts and the errors are kept).
    file_key      text CHECK (length(file_key) BETWEEN 1 AND 500),
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        bytea CHECK (length(sha256) = 32),
    -- Where the next chunk starts: a byte offset into the file and its 1-based line.
    next_byte     bigint NOT NULL CHECK (next_byte >= 0),
    next_line     bigint NOT NULL CHECK (next_line >= 1),
    rows_read     bigint NOT NULL DEFAULT 0 CHECK (rows_read >= 0),
    created       bigint NOT NULL DEFAULT 0 CHECK (created >= 0),
    updated       bigint NOT NULL DEFAULT 0 CHECK (updated >= 0),
    unchanged     bigint NOT NULL DEFAULT 0 CHECK (unchanged >= 0),
    failed        bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),
    -- Row errors kept in `import_errors` (capped; `failed` stays exact past the cap).
    errors_stored integer NOT NULL DEFAULT 0 CHECK (errors_stored >= 0),
    error_code    text CHECK (length(error_code) BETWEEN 1 AND 100),
    error_message text CHECK (length(error_message) <= 1000),
    -- Claims since the last committed chunk: a chunk that kills its worker every time
    -- fails the import after a few, a long import that survives unrelated crashes
    -- goes on.
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claim_id      uuid,
    lease_until   timestamptz,
    started_at    timestamptz,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT imports_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT imports_requested_by_fkey FOREIGN KEY (tenant_id, requested_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (requested_by),
    -- A running import has a claim and a lease; nothing else has either.
    CONSTRAINT imports_running_is_claimed
        CHECK ((status = 'running') = (claim_id IS NOT NULL AND lease_until IS NOT NULL)
               AND (claim_id IS NULL) = (lease_until IS NULL)),
    CONSTRAINT imports_within_file CHECK (next_byte <= size_bytes),
    CONSTRAINT imports_counts_add_up CHECK (created + updated + unchanged + failed = rows_read)
);
CREATE INDEX imports_tenant_created_idx ON imports (tenant_id, created_at, id);
-- The claim's scan: what waits or runs, oldest first, across tenants.
CREATE INDEX imports_queue_idx ON imports (created_at) WHERE status IN ('queued', 'running');
-- The purge's scan: finished imports whose file is still stored.
CREATE INDEX imports_spent_idx ON imports (completed_at)
    WHERE file_key IS NOT NULL AND status IN ('completed', 'failed', 'cancelled');
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON imports
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON imports TO momentum_app;

-- The rows an import could not apply: where they are in the file and why, never a
-- value from the file (the file may hold personal data; the errors outlive it).
CREATE TABLE import_errors (
    tenant_id   uuid NOT NULL,
    import_id   uuid NOT NULL,
    -- The error's place in the file as one ordered key: (line, n) packed into a UUID
    -- (line in the high 64 bits), so the errors page in file order through the
    -- lists' keyset machinery, and a chunk retried writes the same keys again.
    id          uuid NOT NULL,
    line        bigint NOT NULL CHECK (line >= 1),
    column_name text CHECK (length(column_name) <= 200),
    field       text CHECK (length(field) <= 200),
    code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    message     text NOT NULL CHECK (length(message) <= 1000),
    CONSTRAINT import_errors_pkey PRIMARY KEY (tenant_id, import_id, id),
    CONSTRAINT import_errors_import_fkey FOREIGN KEY (tenant_id, import_id)
        REFERENCES imports (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE import_errors ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_errors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_errors
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT ON import_errors TO momentum_app;

-- Claims up to `p_limit` (at most 16) imports of any tenant for `p_lease` (1 second to 1
-- hour), never more than `p_per_tenant` (1 to 16) running at once for one tenant: the
-- rules of `export_claim`, on its own advisory lock. A claim never takes a row a
-- worker holds locked (a chunk in progress), so a chunk cannot lose its import midway.
CREATE FUNCTION import_claim(p_limit integer, p_lease interval, p_per_tenant integer)
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
        -- 'mimp' in ASCII: the imports claim's own lock.
        PERFORM pg_advisory_xact_lock(1835625840);
        FOR i IN 1 .. least(greatest(p_limit, 0), 16) LOOP
            SELECT e.tenant_id AS t, e.id AS x INTO picked
              FROM public.imports e
             WHERE e.status IN ('queued', 'running')
               AND (e.status = 'queued' OR e.lease_until < now())
               AND (SELECT count(*)
                      FROM public.imports l
                     WHERE l.tenant_id = e.tenant_id AND l.status = 'running'
                       AND l.lease_until >= now()) < cap
             ORDER BY e.created_at
             LIMIT 1
               FOR UPDATE SKIP LOCKED;
            EXIT WHEN NOT FOUND;
            RETURN QUERY
                UPDATE public.imports u
                   SET status = 'running', claim_id = gen_random_uuid(),
                       lease_until = now() + lease, attempts = u.attempts + 1,
                       started_at = coalesce(u.started_at, now()), updated_at = now()
                 WHERE u.tenant_id = picked.t AND u.id = picked.x
             RETURNING u.tenant_id, u.id, u.claim_id, u.attempts;
        END LOOP;
    END
    $$;
REVOKE ALL ON FUNCTION import_claim(integer, interval, integer) FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION import_claim(integer, interval, integer) TO momentum_worker;

-- Finished imports whose file is still stored, of any tenant, oldest first (at most
-- `p_limit`, 1 to 1,000): the worker deletes each file, then forgets it in the
-- tenant's transaction. Read-only: a file is never forgotten before it is deleted.
CREATE FUNCTION import_spent_files(p_limit integer)
    RETURNS TABLE (tenant_id uuid, id uuid, file_key text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.tenant_id, e.id, e.file_key
          FROM public.imports e
         WHERE e.file_key IS NOT NULL AND e.status IN ('completed', 'failed', 'cancelled')
         ORDER BY e.completed_at
         LIMIT least(greatest(p_limit, 0), 1000)
    $$;
REVOKE ALL ON FUNCTION import_spent_files(integer) FROM PUBLIC, momentum_app;
GRANT EXECUTE ON FUNCTION import_spent_files(integer) TO momentum_worker;
