-- Groundwork for the trash, custom fields and cross-record search (issue 10): the column
-- that marks a record as trashed, and the trigram extension the search and duplicate
-- suggestions use. What the trash means (visibility, uniqueness, restore, purge) is in
-- the migrations that follow.

ALTER TABLE contacts ADD COLUMN deleted_at timestamptz;
ALTER TABLE companies ADD COLUMN deleted_at timestamptz;
ALTER TABLE leads ADD COLUMN deleted_at timestamptz;
ALTER TABLE activities ADD COLUMN deleted_at timestamptz;

-- pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+), so the
-- database's owner may install it without a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
