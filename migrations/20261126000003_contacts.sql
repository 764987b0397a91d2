-- Contacts: the first CRM resource. Lengths are enforced by the API (with per-field
-- errors) and again here as a backstop.
CREATE TABLE contacts (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    first_name    text CHECK (length(first_name) <= 100),
    last_name     text CHECK (length(last_name) <= 100),
    email         text CHECK (length(email) <= 254),
    phone         text CHECK (length(phone) <= 32),
    title         text CHECK (length(title) <= 200),
    notes         text CHECK (length(notes) <= 10000),
    tags          text[] NOT NULL DEFAULT '{}',
    custom_fields jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_name_or_email CHECK (
        coalesce(first_name, last_name, email) IS NOT NULL
    )
);

-- Email is unique per tenant regardless of case.
CREATE UNIQUE INDEX contacts_tenant_email_key ON contacts (tenant_id, lower(email))
    WHERE email IS NOT NULL;

-- One index per sort order, each ending in id so keyset pagination is an index range
-- scan with a total order. last_name sorts NULLs as '' so the keyset stays comparable.
CREATE INDEX contacts_tenant_created_idx ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_tenant_updated_idx ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_tenant_last_name_idx ON contacts (tenant_id, (coalesce(last_name, '')), id);

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON contacts TO momentum_app;
