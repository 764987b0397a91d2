-- API keys can be rotated with an overlap (issue 24): the rotation gives the key a new
-- secret, and the secret it replaces keeps working until a time the caller chose, so a
-- deployment can switch to the new one without an outage. The key keeps its id and its
-- public id (its `mk_<public id>` prefix), so whatever names the key (audit log, lists,
-- `last_used_at`) still names the same key.
--
-- Two nullable columns hold the replaced secret's hash and when it stops working. The
-- credential lookup must return them, and `auth_lookup_credential` returns a fixed row
-- type that servers of the previous release call: so `auth_lookup_credential_rotating`
-- is a new function beside it, the same lookup plus the two columns (NULL for session
-- tokens, which are never rotated).
--
-- Expand only (README): nullable columns the previous release neither reads nor writes,
-- and a new function. A previous-release server ignores the overlap (it honours only the
-- new secret), which is the safe side. A later release may drop the old lookup.

SET LOCAL lock_timeout = '5s';

ALTER TABLE api_keys
    ADD COLUMN previous_secret_hash bytea,
    ADD COLUMN previous_secret_expires_at timestamptz;

COMMENT ON COLUMN api_keys.previous_secret_hash IS
    'SHA-256 of the secret the last rotation replaced; honoured until previous_secret_expires_at.';
COMMENT ON COLUMN api_keys.previous_secret_expires_at IS
    'When the replaced secret stops working (NULL: no rotation overlap).';

-- The body of 20261202400001's, plus the replaced secret.
CREATE FUNCTION auth_lookup_credential_rotating(p_kind text, p_public_id text)
    RETURNS TABLE (
        credential_id              uuid,
        tenant_id                  uuid,
        user_id                    uuid,
        user_role                  text,
        user_active                boolean,
        secret_hash                bytea,
        scopes                     text[],
        expires_at                 timestamptz,
        revoked_at                 timestamptz,
        previous_secret_hash       bytea,
        previous_secret_expires_at timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.user_id, u.role, u.id IS NULL OR u.deactivated_at IS NULL,
               k.secret_hash, k.scopes, k.expires_at, k.revoked_at,
               k.previous_secret_hash, k.previous_secret_expires_at
          FROM public.api_keys k
          LEFT JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
         WHERE p_kind = 'api_key' AND k.public_id = p_public_id
        UNION ALL
        SELECT t.id, t.tenant_id, t.user_id, u.role, u.deactivated_at IS NULL,
               t.secret_hash, t.scopes, t.expires_at, t.revoked_at,
               NULL::bytea, NULL::timestamptz
          FROM public.session_tokens t
          JOIN public.users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
         WHERE p_kind = 'session_token' AND t.public_id = p_public_id
    $$;

REVOKE ALL ON FUNCTION auth_lookup_credential_rotating(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_lookup_credential_rotating(text, text) TO momentum_app;
