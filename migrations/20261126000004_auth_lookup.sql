-- API-key authentication happens before the tenant is known, so it cannot go through a
-- tenant-scoped transaction. This narrow SECURITY DEFINER function (owned by the owner
-- role, which holds BYPASSRLS) returns only what verification needs for one public id.
-- The secret hash is compared by the server in constant time; the function never sees
-- the secret. search_path is pinned so a caller cannot shadow the tables.
CREATE FUNCTION auth_lookup_api_key(p_public_id text)
    RETURNS TABLE (
        key_id      uuid,
        tenant_id   uuid,
        user_id     uuid,
        secret_hash bytea,
        scopes      text[],
        expires_at  timestamptz,
        revoked_at  timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.user_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at
          FROM public.api_keys k
         WHERE k.public_id = p_public_id
    $$;

REVOKE ALL ON FUNCTION auth_lookup_api_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_lookup_api_key(text) TO momentum_app;
