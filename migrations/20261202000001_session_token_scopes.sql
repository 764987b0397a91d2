-- A session token is never stronger than the credential that approved its QR login.
--
-- Until now a session token held everything its user's role allowed, whatever the
-- approving credential could do: an owner's key restricted to `contacts:read` approved a
-- login, and the token it issued made a `*` API key and read every user. Now the approval
-- stores the approving credential's effective scopes on the QR session, the exchange
-- copies them onto the token, and `auth_lookup_credential` returns them, so a token holds
-- its stored scopes bounded by its user's role, exactly like an API key.

ALTER TABLE qr_sessions ADD COLUMN scopes text[];

-- Tokens issued before this migration have no record of what their approver could do, so
-- there is nothing safe to give them: they get no scope, and those still live are revoked
-- (and the revocation audited). They lived an hour at most; their devices sign in again.
ALTER TABLE session_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
ALTER TABLE session_tokens ALTER COLUMN scopes DROP DEFAULT;

WITH revoked AS (
    UPDATE session_tokens
       SET revoked_at = now(), updated_at = now()
     WHERE revoked_at IS NULL AND expires_at > now()
    RETURNING id, tenant_id
)
INSERT INTO audit_events (id, tenant_id, action, actor_kind, actor_id, actor_user_id,
                          target_type, target_id, data)
SELECT uuid_v7(), tenant_id, 'session_token.revoked', NULL, NULL, NULL, 'session_token', id,
       jsonb_build_object('reason', 'issued before session tokens held scopes')
  FROM revoked;

-- Sessions approved under the old rules but not yet exchanged have no scopes either: they
-- expire now (the device sees `expired` and starts a new login), and the exchange below
-- refuses any session without scopes.
UPDATE qr_sessions SET expires_at = now()
 WHERE status = 'approved' AND scopes IS NULL AND expires_at > now();

-- The approval now takes the scopes to grant. The old two-argument form is dropped rather
-- than kept: a server of the previous release still running would approve without scopes,
-- and failing its approvals is safer than issuing tokens nobody can bound.
DROP FUNCTION qr_session_approve(uuid, uuid);
CREATE FUNCTION qr_session_approve(p_id uuid, p_user_id uuid, p_scopes text[])
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        v_tenant uuid := public.current_tenant_id();
        v_status text;
    BEGIN
        IF p_scopes IS NULL THEN
            RAISE EXCEPTION 'qr_session_approve: the scopes to grant are required';
        END IF;
        IF v_tenant IS NULL OR NOT EXISTS (
            SELECT 1 FROM public.users
             WHERE id = p_user_id AND tenant_id = v_tenant AND deactivated_at IS NULL) THEN
            RAISE EXCEPTION 'qr_session_approve: the user is not an active user of this tenant';
        END IF;
        UPDATE public.qr_sessions
           SET status = 'approved', tenant_id = v_tenant, user_id = p_user_id,
               approved_at = now(), scopes = p_scopes
         WHERE id = p_id AND status = 'pending' AND expires_at > now();
        -- Another tenant's session is as absent as one never made (20261128000002).
        SELECT CASE WHEN s.status <> 'consumed' AND s.expires_at <= now() THEN 'expired'
                    ELSE s.status END
          INTO v_status
          FROM public.qr_sessions s
         WHERE s.id = p_id AND (s.tenant_id IS NULL OR s.tenant_id = v_tenant);
        RETURN v_status;
    END
    $$;

-- The exchange copies the session's scopes onto the token and returns them. Its arguments
-- are unchanged and it only gains a column, so a caller selecting `tenant_id, user_id`
-- still works; it is dropped and created because a function's result type cannot be
-- replaced in place.
DROP FUNCTION qr_session_exchange(uuid, uuid, text, bytea, timestamptz);
CREATE FUNCTION qr_session_exchange(p_id uuid, p_token_id uuid, p_public_id text,
                                    p_secret_hash bytea, p_token_expires_at timestamptz)
    RETURNS TABLE (tenant_id uuid, user_id uuid, scopes text[])
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        v_tenant uuid;
        v_user uuid;
        v_scopes text[];
    BEGIN
        UPDATE public.qr_sessions s
           SET status = 'consumed', consumed_at = now(), token_id = p_token_id
         WHERE s.id = p_id AND s.status = 'approved' AND s.expires_at > now()
           AND s.scopes IS NOT NULL
        RETURNING s.tenant_id, s.user_id, s.scopes INTO v_tenant, v_user, v_scopes;
        IF v_tenant IS NULL THEN
            RETURN;
        END IF;
        INSERT INTO public.session_tokens
               (id, tenant_id, user_id, public_id, secret_hash, qr_session_id, expires_at,
                scopes)
        VALUES (p_token_id, v_tenant, v_user, p_public_id, p_secret_hash, p_id,
                p_token_expires_at, v_scopes);
        INSERT INTO public.audit_events
               (id, tenant_id, action, actor_kind, actor_id, actor_user_id, target_type,
                target_id, data)
        VALUES (public.uuid_v7(), v_tenant, 'qr_session.exchanged', 'device', p_id, v_user,
                'qr_session', p_id, '{}'),
               (public.uuid_v7(), v_tenant, 'session_token.created', 'device', p_id, v_user,
                'session_token', p_token_id,
                jsonb_build_object('expires_at', p_token_expires_at, 'qr_session_id', p_id,
                                   'scopes', v_scopes));
        RETURN QUERY SELECT v_tenant, v_user, v_scopes;
    END
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'qr_session_approve(uuid, uuid, text[])',
        'qr_session_exchange(uuid, uuid, text, bytea, timestamptz)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO momentum_app', f);
    END LOOP;
END
$$;

-- Session tokens now return their stored scopes where they returned NULL (which the
-- server read as "everything the role allows").
CREATE OR REPLACE FUNCTION auth_lookup_credential(p_kind text, p_public_id text)
    RETURNS TABLE (
        credential_id uuid,
        tenant_id     uuid,
        user_id       uuid,
        user_role     text,
        user_active   boolean,
        secret_hash   bytea,
        scopes        text[],
        expires_at    timestamptz,
        revoked_at    timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.user_id, u.role, u.id IS NULL OR u.deactivated_at IS NULL,
               k.secret_hash, k.scopes, k.expires_at, k.revoked_at
          FROM public.api_keys k
          LEFT JOIN public.users u ON u.id = k.user_id
         WHERE p_kind = 'api_key' AND k.public_id = p_public_id
        UNION ALL
        SELECT t.id, t.tenant_id, t.user_id, u.role, u.deactivated_at IS NULL,
               t.secret_hash, t.scopes, t.expires_at, t.revoked_at
          FROM public.session_tokens t
          JOIN public.users u ON u.id = t.user_id
         WHERE p_kind = 'session_token' AND t.public_id = p_public_id
    $$;
