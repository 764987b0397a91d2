-- A QR session approved by one tenant belongs to it: to every other tenant it is as
-- absent as an id that was never made (NULL, a 404), where it used to report its status
-- (a 409 "approved"/"consumed"), telling another tenant that the session exists and
-- what became of it.
CREATE OR REPLACE FUNCTION qr_session_approve(p_id uuid, p_user_id uuid)
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
          FROM public.qr_sessions s
         WHERE s.id = p_id AND (s.tenant_id IS NULL OR s.tenant_id = v_tenant);
        RETURN v_status;
    END
    $$;
