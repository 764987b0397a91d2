-- no-transaction
-- The search's index of the tenant-tagged trigrams of activities (20261210100001 says
-- why; 20261210100010 switches the search to it). CONCURRENTLY, so writes go on while it
-- builds; that cannot run in a transaction, so this migration has no other statement. An
-- interrupted build leaves an invalid index: 20261210100010 then stops and names it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS activities_search_trigrams_idx ON activities
    USING gin (search_trigrams(tenant_id, search_text));
