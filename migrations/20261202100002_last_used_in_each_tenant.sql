-- `auth_touch_credentials` wrote `last_used_at` for any credential id it was given, of
-- any tenant: a SECURITY DEFINER function (it ran as the owner, past row-level security)
-- that the API's role could call with another tenant's ids. The server now records each
-- credential's tenant when it is used and writes `last_used_at` in that tenant's own
-- transaction, under row-level security (the runtime role holds UPDATE on `api_keys` and
-- `session_tokens`), so the function goes. A server of the previous release still calling
-- it during a rolling upgrade logs a warning and loses those `last_used_at` writes only.
DROP FUNCTION auth_touch_credentials(text[], uuid[], timestamptz[]);
