-- A default pipeline per tenant (issue 24): a lead created without `pipeline_id` and
-- `stage_id` lands in the default pipeline's first open stage, where it was a 422.
--
-- Exactly one default while the tenant has pipelines, held by the database whatever
-- writes the rows (the API, `momentum tenant create` through create_default_pipeline,
-- the previous release during a rolling upgrade, which knows nothing of the flag):
--   * at most one: the partial unique index pipelines_tenant_default_key;
--   * at least one: a pipeline inserted while its tenant has no default becomes it
--     (trigger pipelines_first_is_default), and deleting the default makes the oldest
--     remaining pipeline the default (trigger pipelines_keep_a_default).
-- Moving the flag (`pipelines_update` with `default: true`) clears the old default and
-- sets the new one in one transaction, in that order (a unique index is checked row by
-- row, so one UPDATE setting both could trip over itself); the API refuses to clear the
-- flag otherwise (422).
--
-- Backfill: each tenant's oldest pipeline (created_at, then id: the "Sales" pipeline
-- every tenant starts with, unless it was deleted) becomes its default. One UPDATE:
-- pipelines is a small table (a few rows per tenant), and the owner role bypasses
-- row-level security, so it sees every tenant. The index is built in this transaction
-- for the same reason (a busy table would want CONCURRENTLY in a migration of its own).
-- Expand only: a column with a constant default (no rewrite), an index, two triggers.
SET LOCAL lock_timeout = '5s';

ALTER TABLE pipelines ADD COLUMN is_default boolean NOT NULL DEFAULT false;

UPDATE pipelines p SET is_default = true
  FROM (SELECT DISTINCT ON (tenant_id) id FROM pipelines
         ORDER BY tenant_id, created_at, id) oldest
 WHERE p.id = oldest.id;

CREATE UNIQUE INDEX pipelines_tenant_default_key ON pipelines (tenant_id) WHERE is_default;

-- Runs as the writer (not SECURITY DEFINER): the writer's row-level security scopes the
-- lookups to its own tenant, which is the tenant of the row.
CREATE FUNCTION pipelines_first_is_default() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF NOT NEW.is_default AND NOT EXISTS (
        SELECT 1 FROM pipelines WHERE tenant_id = NEW.tenant_id AND is_default
    ) THEN
        NEW.is_default := true;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER pipelines_first_is_default BEFORE INSERT ON pipelines
    FOR EACH ROW EXECUTE FUNCTION pipelines_first_is_default();

CREATE FUNCTION pipelines_keep_a_default() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
BEGIN
    IF OLD.is_default THEN
        UPDATE pipelines SET is_default = true, updated_at = now()
         WHERE id = (SELECT id FROM pipelines
                      WHERE tenant_id = OLD.tenant_id AND NOT is_default
                      ORDER BY created_at, id LIMIT 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pipelines_keep_a_default AFTER DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION pipelines_keep_a_default();
