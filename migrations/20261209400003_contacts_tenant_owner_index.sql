-- no-transaction
-- The contact list's `owner_id` filter and sort (issue 24), and deleting a user (its
-- foreign key clears the owner of that user's contacts). The key is the sort expression,
-- `db::page::OWNER_EXPR`: an unowned contact reads as the largest UUID, so it sorts last
-- and the keyset never compares a NULL; `owner_id = $1` (never that UUID) is answered
-- from the same index. Built concurrently: contacts is a busy table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS contacts_tenant_owner_idx
    ON contacts (tenant_id, (coalesce(owner_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)), id);
