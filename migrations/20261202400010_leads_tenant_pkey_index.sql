-- no-transaction
-- The future primary key of leads, (tenant_id, id), built before the swap in
-- 20261202400021 (which says why). CONCURRENTLY, so writes go on while it builds; that
-- cannot run in a transaction, so this migration has no other statement. If it is
-- interrupted it leaves an invalid index behind: 20261202400021 then stops and names it.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS leads_tenant_pkey ON leads (tenant_id, id);
