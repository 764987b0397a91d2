-- Owners on contacts and companies (issue 24), as leads and activities have them: the
-- user who owns the record, a user of the same tenant (the composite foreign key makes
-- the database refuse any other, whatever the application does; the API answers 422 on
-- `owner_id`), cleared when that user is deleted.
--
-- Existing rows get no owner (NULL): nothing records who created them, and guessing (the
-- tenant's first owner, say) would hand every old record to one person and make the
-- owner filter lie. New records default to the acting user in the application, not
-- here, so the previous release, which does not know the column, keeps inserting (NULL).
--
-- Expand only: nullable columns without a default (no table rewrite), foreign keys added
-- NOT VALID (no scan under lock; every existing value is NULL and satisfies them) and
-- validated by 20261209400005. The indexes are built concurrently by 20261209400003 and
-- 20261209400004.
SET LOCAL lock_timeout = '5s';

ALTER TABLE contacts ADD COLUMN owner_id uuid;
ALTER TABLE contacts ADD CONSTRAINT contacts_owner_fkey FOREIGN KEY (tenant_id, owner_id)
    REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id) NOT VALID;

ALTER TABLE companies ADD COLUMN owner_id uuid;
ALTER TABLE companies ADD CONSTRAINT companies_owner_fkey FOREIGN KEY (tenant_id, owner_id)
    REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id) NOT VALID;
