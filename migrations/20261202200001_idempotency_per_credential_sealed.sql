-- Idempotency records belong to the credential that sent the request, and the answers
-- they keep are sealed.
--
-- Why: a record was keyed by (tenant, key) alone, so another credential of the tenant
-- that sent the same key and body was replayed the first credential's answer, and the
-- answers of `api_keys_create`, `webhook_endpoints_create` and
-- `webhook_endpoints_rotate_secret` carry a secret (`mk_…`, `whsec_…`), which was kept
-- here in plaintext for a day. Now:
-- - a key is scoped to (tenant, credential): another credential's same key is simply
--   another key, and its request runs;
-- - the server seals every stored body under MOMENTUM_SECRET_KEY (XChaCha20-Poly1305,
--   `enc:v1:<key id>:<base64>`, bound to the tenant, the credential and the key: see
--   `api::idempotency`), so a copy of the database holds no usable secret. The CHECK
--   refuses anything that is not in that sealed form, so no code path can store a body
--   in plaintext by mistake.
--
-- Rows stored before this migration are deleted: they name no credential, so they could
-- be replayed to no one safely, and their bodies are plaintext (some holding secrets)
-- that SQL cannot seal, having no key. The cost is that a retry of a request first
-- answered before the upgrade runs again, as if its key had expired.
--
-- Servers from before this migration cannot use the table any more (their INSERT names
-- no credential): their requests with an `Idempotency-Key` fail with a 500 and change
-- nothing until they are upgraded. Upgrade every server of a database together, as
-- SECURITY.md already asks for the sealed webhook secrets.

DELETE FROM idempotency_keys;

-- The credential (API key or session token) is not a foreign key: it lives in one of
-- two tables, and a record outlives nothing but its own TTL anyway.
ALTER TABLE idempotency_keys
    ADD COLUMN credential_id uuid NOT NULL,
    DROP CONSTRAINT idempotency_keys_pkey,
    ADD PRIMARY KEY (tenant_id, credential_id, key),
    DROP CONSTRAINT idempotency_keys_completed_has_answer,
    DROP COLUMN response_body,
    ADD COLUMN sealed_body text CHECK (sealed_body LIKE 'enc:%'),
    ADD CONSTRAINT idempotency_keys_completed_has_answer
        CHECK (status = 'running' OR (response_status IS NOT NULL AND sealed_body IS NOT NULL));

COMMENT ON COLUMN idempotency_keys.credential_id IS
    'The API key or session token that sent the request: a key is per credential.';
COMMENT ON COLUMN idempotency_keys.sealed_body IS
    'The answer''s body sealed under MOMENTUM_SECRET_KEY, bound to tenant, credential and key.';
