-- Periodic background jobs run once per interval across all instances, not once per
-- instance.
--
-- The purges of the trash and of expired idempotency keys run in every process that runs
-- the webhook worker. With N such processes, each ran its own round every interval: N
-- rounds scanning the same rows, and at the same moment whenever their timers lined up
-- (a rolling restart starts them together). Now a process claims a round first: this
-- table holds one row per job with the time its last round started, and a process runs
-- a round only if its claim moves that time forward, which it does only when the last
-- round started at least (nine tenths of) its interval ago. The claim is one upsert: of
-- two processes claiming at once, the second waits on the first's row lock, then sees
-- the new time and skips. `db::periodic` is the code side.
--
-- Expand only (README, "Rolling upgrades"): a new table that the previous release never
-- reads, so its instances keep running their own purges, uncoordinated but harmless (each
-- batch skips rows another holds), until they are replaced.

CREATE TABLE periodic_jobs (
    job              text PRIMARY KEY CHECK (job ~ '^[a-z_]{1,64}$'),
    last_started_at  timestamptz NOT NULL,
    -- NULL while the first round runs, or when the last one failed half-way.
    last_finished_at timestamptz,
    -- What the last finished round did: rows purged.
    last_count       bigint
);

COMMENT ON TABLE periodic_jobs IS
    'When each periodic background job last ran, across all instances: a round is claimed by moving last_started_at forward.';

-- The jobs run through the worker's role (they act across tenants); the API's role has
-- no business here.
GRANT SELECT, INSERT, UPDATE ON periodic_jobs TO momentum_worker;
