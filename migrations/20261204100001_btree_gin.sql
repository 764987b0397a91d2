-- btree_gin lets a GIN index start with `tenant_id` (a plain equality column), so the
-- search indexes built next lead with the tenant: a search reads the matches of its own
-- tenant, not of every tenant (issue 22; figures in docs/performance.md, "Other
-- tenants' data"). Like pg_trgm it ships with PostgreSQL's contrib and is a trusted
-- extension (PostgreSQL 13+): the owner role, which holds CREATE on the database, may
-- install it without a superuser. In its own migration because the indexes after it
-- are built CONCURRENTLY, each alone in a migration without a transaction.
CREATE EXTENSION IF NOT EXISTS btree_gin;
