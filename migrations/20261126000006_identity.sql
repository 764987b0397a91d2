-- Identity and access: user management, API keys managed through the API, session
-- tokens from QR-code device login, and the audit log.

-- Users can be created, changed and deactivated by admins. A deactivated user keeps
-- their records; their keys and session tokens stop working.
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;
GRANT INSERT, UPDATE ON users TO momentum_app;

-- Keys are created and revoked through the API (as a hash; the secret is never stored).
GRANT INSERT, UPDATE ON api_keys TO momentum_app;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tenant_id_id_key UNIQUE (tenant_id, id);
-- Changes on revocation (not on use: last_used_at is bookkeeping), for `updated_after`.
ALTER TABLE api_keys ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX api_keys_tenant_updated_idx ON api_keys (tenant_id, updated_at, id);

-- Short-lived bearer tokens acting as a user, issued by a QR login exchange. Stored like
-- keys: a public id to find the row and a SHA-256 of the secret.
CREATE TABLE session_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL,
    public_id     text NOT NULL UNIQUE,
    secret_hash   bytea NOT NULL CHECK (length(secret_hash) = 32),
    qr_session_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT session_tokens_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX session_tokens_tenant_created_idx ON session_tokens (tenant_id, created_at, id);

-- Who did what to keys, tokens, users and QR sessions. Append-only for the API.
CREATE TABLE audit_events (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    action        text NOT NULL CHECK (length(action) <= 100),
    -- The credential that acted (`api_key` or `session_token`) and its user, if any.
    actor_kind    text CHECK (actor_kind IN ('api_key', 'session_token', 'device')),
    actor_id      uuid,
    actor_user_id uuid,
    target_type   text NOT NULL CHECK (length(target_type) <= 50),
    target_id     uuid NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant_created_idx ON audit_events (tenant_id, created_at, id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['session_tokens', 'audit_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant_id()) '
            'WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
GRANT SELECT, UPDATE ON session_tokens TO momentum_app;
GRANT SELECT, INSERT ON audit_events TO momentum_app;

-- QR-code login sessions. Created, polled and exchanged before any tenant is known, so
-- the runtime role has no grant on the table at all: every access goes through the
-- SECURITY DEFINER functions below. RLS is forced with no policy, so nothing else can
-- read a row either. Ids are random (v4): they are shown in the QR code.
CREATE TABLE qr_sessions (
    id               uuid PRIMARY KEY,
    poll_secret_hash bytea NOT NULL CHECK (length(poll_secret_hash) = 32),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'consumed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    tenant_id        uuid REFERENCES tenants (id) ON DELETE CASCADE,
    user_id          uuid,
    approved_at      timestamptz,
    consumed_at      timestamptz,
    token_id         uuid,
    CONSTRAINT qr_sessions_approved_has_user
        CHECK (status = 'pending' OR (tenant_id IS NOT NULL AND user_id IS NOT NULL))
);
CREATE INDEX qr_sessions_expires_idx ON qr_sessions (expires_at);
ALTER TABLE qr_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE qr_sessions FORCE ROW LEVEL SECURITY;

-- Key lookup now also says whether the key's user is active and what role they hold.
DROP FUNCTION auth_lookup_api_key(text);
CREATE FUNCTION auth_lookup_credential(p_kind text, p_public_id text)
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
               t.secret_hash, NULL, t.expires_at, t.revoked_at
          FROM public.session_tokens t
          JOIN public.users u ON u.id = t.user_id
         WHERE p_kind = 'session_token' AND t.public_id = p_public_id
    $$;
REVOKE ALL ON FUNCTION auth_lookup_credential(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_lookup_credential(text, text) TO momentum_app;

-- `last_used_at`, written in batches by the server (at most one write per credential per
-- flush interval, not one per request). Only ever moves forward.
CREATE FUNCTION auth_touch_credentials(p_kinds text[], p_ids uuid[], p_used_at timestamptz[])
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        UPDATE public.api_keys k SET last_used_at = u.used_at
          FROM unnest(p_kinds, p_ids, p_used_at) AS u (kind, id, used_at)
         WHERE u.kind = 'api_key' AND k.id = u.id
           AND (k.last_used_at IS NULL OR k.last_used_at < u.used_at);
        UPDATE public.session_tokens t SET last_used_at = u.used_at
          FROM unnest(p_kinds, p_ids, p_used_at) AS u (kind, id, used_at)
         WHERE u.kind = 'session_token' AND t.id = u.id
           AND (t.last_used_at IS NULL OR t.last_used_at < u.used_at);
    $$;
REVOKE ALL ON FUNCTION auth_touch_credentials(text[], uuid[], timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_touch_credentials(text[], uuid[], timestamptz[]) TO momentum_app;

CREATE FUNCTION qr_session_create(p_id uuid, p_poll_secret_hash bytea, p_expires_at timestamptz)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        -- Sessions long expired are of no use to anyone: each new one clears some away.
        DELETE FROM public.qr_sessions
         WHERE id IN (SELECT id FROM public.qr_sessions
                       WHERE expires_at < now() - interval '1 day' LIMIT 100);
        INSERT INTO public.qr_sessions (id, poll_secret_hash, expires_at)
        VALUES (p_id, p_poll_secret_hash, p_expires_at);
    $$;

-- A session's state, `expired` when its time is up before it was consumed. The poll
-- secret's hash is returned for the server to compare in constant time.
CREATE FUNCTION qr_session_read(p_id uuid)
    RETURNS TABLE (status text, poll_secret_hash bytea, expires_at timestamptz,
                   tenant_id uuid, user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN s.status <> 'consumed' AND s.expires_at <= now() THEN 'expired'
                    ELSE s.status END,
               s.poll_secret_hash, s.expires_at, s.tenant_id, s.user_id
          FROM public.qr_sessions s
         WHERE s.id = p_id
    $$;

-- Binds a pending, unexpired session to the approving user, who must belong to the
-- transaction's tenant. Returns the session's status afterwards (NULL: no such session).
CREATE FUNCTION qr_session_approve(p_id uuid, p_user_id uuid)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        v_tenant uuid := public.current_tenant_id();
        v_status text;
    BEGIN
        IF v_tenant IS NULL OR NOT EXISTS (
            SELECT 1 FROM public.users
             WHERE id = p_user_id AND tenant_id = v_tenant AND deactivated_at IS NULL) THEN
            RAISE EXCEPTION 'qr_session_approve: the user is not an active user of this tenant';
        END IF;
        UPDATE public.qr_sessions
           SET status = 'approved', tenant_id = v_tenant, user_id = p_user_id,
               approved_at = now()
         WHERE id = p_id AND status = 'pending' AND expires_at > now();
        SELECT CASE WHEN s.status <> 'consumed' AND s.expires_at <= now() THEN 'expired'
                    ELSE s.status END
          INTO v_status
          FROM public.qr_sessions s WHERE s.id = p_id;
        RETURN v_status;
    END
    $$;

-- Consumes an approved, unexpired session exactly once and issues its session token in
-- the same transaction, recording both in the audit log. Returns nothing when the
-- session is not (or no longer) approved.
CREATE FUNCTION qr_session_exchange(p_id uuid, p_token_id uuid, p_public_id text,
                                    p_secret_hash bytea, p_token_expires_at timestamptz)
    RETURNS TABLE (tenant_id uuid, user_id uuid)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        v_tenant uuid;
        v_user uuid;
    BEGIN
        UPDATE public.qr_sessions s
           SET status = 'consumed', consumed_at = now(), token_id = p_token_id
         WHERE s.id = p_id AND s.status = 'approved' AND s.expires_at > now()
        RETURNING s.tenant_id, s.user_id INTO v_tenant, v_user;
        IF v_tenant IS NULL THEN
            RETURN;
        END IF;
        INSERT INTO public.session_tokens
               (id, tenant_id, user_id, public_id, secret_hash, qr_session_id, expires_at)
        VALUES (p_token_id, v_tenant, v_user, p_public_id, p_secret_hash, p_id,
                p_token_expires_at);
        INSERT INTO public.audit_events
               (id, tenant_id, action, actor_kind, actor_id, actor_user_id, target_type,
                target_id, data)
        VALUES (public.uuid_v7(), v_tenant, 'qr_session.exchanged', 'device', p_id, v_user,
                'qr_session', p_id, '{}'),
               (public.uuid_v7(), v_tenant, 'session_token.created', 'device', p_id, v_user,
                'session_token', p_token_id,
                jsonb_build_object('expires_at', p_token_expires_at, 'qr_session_id', p_id));
        RETURN QUERY SELECT v_tenant, v_user;
    END
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'qr_session_create(uuid, bytea, timestamptz)',
        'qr_session_read(uuid)',
        'qr_session_approve(uuid, uuid)',
        'qr_session_exchange(uuid, uuid, text, bytea, timestamptz)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO momentum_app', f);
    END LOOP;
END
$$;
