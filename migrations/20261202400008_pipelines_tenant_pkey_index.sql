-- no-transaction
-- The future primary key of pipelines, (tenant_id, id), built before the swap in
-- 20261202400021 (which says why). CONCURRENTLY, so writes go on while it builds; that
-- cannot run in a transaction, so this migration has no other statement. If it is
-- interrupted it leaves an invalid index behind: 20261202400021 then stops and names it.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS pipelines_tenant_pkey ON pipelines (tenant_id, id);
