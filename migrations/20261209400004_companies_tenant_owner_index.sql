-- no-transaction
-- The company list's `owner_id` filter and sort (issue 24), as
-- 20261209400003 for contacts. Built concurrently: companies is a busy table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS companies_tenant_owner_idx
    ON companies (tenant_id, (coalesce(owner_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)), id);
