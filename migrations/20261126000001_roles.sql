-- The runtime role. The server never runs as the owner of the tables: it logs in as a
-- role that is a member of `momentum_app`, which holds exactly the grants the API needs.
-- NOLOGIN so nobody can connect as it directly; roles are cluster-wide, hence the guard.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'momentum_app') THEN
        CREATE ROLE momentum_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO momentum_app;

-- The readiness probe compares applied migrations with the ones the binary carries.
GRANT SELECT ON _sqlx_migrations TO momentum_app;

-- The tenant of the current transaction, or NULL when none was set. Every row-level
-- security policy goes through this one function so a session without a tenant sees
-- nothing: `nullif` turns the empty string a reset GUC leaves behind into NULL, and
-- `tenant_id = NULL` is never true. STABLE so the planner evaluates it once per query.
CREATE FUNCTION current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
