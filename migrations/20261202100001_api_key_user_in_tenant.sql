-- An API key's user must belong to the key's tenant.
--
-- `api_keys.user_id` referenced `users (id)` alone, unlike every other reference between
-- tenant tables. Foreign-key checks bypass row-level security, so a key of tenant B could
-- be bound to a user of tenant A, and the credential lookup (which joins the key's user
-- for its role) would then hand that key A's user's role. Composite, like the others, the
-- database refuses such a key whatever the application does.

-- Keys bound across tenants can only have been made by a bug or an attack: revoke them
-- and detach them from the foreign user (keeping the rows, so the audit trail still names
-- them). Without scopes a detached key can do nothing even if its revocation were undone.
-- The migration runs as the owner (BYPASSRLS), so it sees every tenant's keys.
DO $$
DECLARE
    bad uuid[];
BEGIN
    SELECT array_agg(k.id) INTO bad
      FROM api_keys k JOIN users u ON u.id = k.user_id
     WHERE u.tenant_id <> k.tenant_id;
    IF bad IS NOT NULL THEN
        UPDATE api_keys
           SET revoked_at = coalesce(revoked_at, now()), updated_at = now(),
               user_id = NULL, scopes = '{}'
         WHERE id = ANY (bad);
        RAISE WARNING 'revoked % API key(s) bound to a user of another tenant: %',
            cardinality(bad), bad;
    END IF;
END
$$;

ALTER TABLE api_keys DROP CONSTRAINT api_keys_user_id_fkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_user_fkey FOREIGN KEY (tenant_id, user_id)
    REFERENCES users (tenant_id, id) ON DELETE CASCADE;
-- Deleting a user finds its keys through this index instead of scanning every key.
CREATE INDEX api_keys_tenant_user_idx ON api_keys (tenant_id, user_id)
    WHERE user_id IS NOT NULL;
