-- Webhook signing secrets are stored sealed (XChaCha20-Poly1305 under the operator's
-- MOMENTUM_SECRET_KEY, bound to their tenant and endpoint; see server/src/crypto.rs):
-- `enc:v1:<key id>:<base64>`. Databases from before hold them in plaintext (`whsec_...`);
-- the server seals those at start, before it serves or sends anything, through the two
-- functions below. The key never reaches the database.
COMMENT ON COLUMN webhook_endpoints.secret IS
    'Sealed signing secret: enc:v1:<key id>:<base64>; the server seals and opens it';
COMMENT ON COLUMN webhook_endpoints.previous_secret IS
    'The sealed secret before the last rotation, still signing until it expires';

-- Which keys sealed the stored secrets (NULL: plaintext from before sealing), across
-- tenants, so a server started with the wrong MOMENTUM_SECRET_KEY refuses to start
-- instead of failing every delivery. Returns key ids and counts, never a secret.
CREATE FUNCTION webhook_secret_keys()
    RETURNS TABLE (key_id text, secrets bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE WHEN s LIKE 'enc:v1:%' THEN split_part(s, ':', 3) END, count(*)
          FROM public.webhook_endpoints e,
               LATERAL (VALUES (e.secret), (e.previous_secret)) AS v (s)
         WHERE s IS NOT NULL
         GROUP BY 1
    $$;
REVOKE ALL ON FUNCTION webhook_secret_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_secret_keys() TO momentum_app;

-- Up to `p_limit` endpoints still holding a plaintext secret, with their tenant, for the
-- server to seal in that tenant's transaction. (The worker's claim already hands secrets
-- across tenants to the same role; this exposes nothing more.)
CREATE FUNCTION webhook_plaintext_secrets(p_limit integer)
    RETURNS TABLE (tenant_id uuid, endpoint_id uuid, secret text, previous_secret text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT e.tenant_id, e.id, e.secret, e.previous_secret
          FROM public.webhook_endpoints e
         WHERE e.secret NOT LIKE 'enc:%' OR e.previous_secret NOT LIKE 'enc:%'
         ORDER BY e.id
         LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION webhook_plaintext_secrets(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_plaintext_secrets(integer) TO momentum_app;
