-- no-transaction
-- The search's trigram index on activities, led by the tenant (20261204100001 says why;
-- 20261204100010 switches the search to it and drops the index without the tenant).
-- CONCURRENTLY, so writes go on while it builds; that cannot run in a transaction, so
-- this migration has no other statement. An interrupted build leaves an invalid index:
-- 20261204100010 then stops and names it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS activities_tenant_search_trgm_idx ON activities
    USING gin (tenant_id, search_text gin_trgm_ops);
