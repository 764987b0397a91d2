-- Validates the owner foreign keys 20261209400002 added NOT VALID. A SHARE UPDATE
-- EXCLUSIVE lock only: reads and writes go on while the existing rows are checked.
SET LOCAL lock_timeout = '5s';
ALTER TABLE contacts VALIDATE CONSTRAINT contacts_owner_fkey;
ALTER TABLE companies VALIDATE CONSTRAINT companies_owner_fkey;
