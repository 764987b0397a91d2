-- The CRM domain: companies, pipelines with stages, leads and activities.
--
-- Tenancy is enforced twice: row-level security on every table (as for contacts), and
-- composite foreign keys `(tenant_id, x_id) REFERENCES x (tenant_id, id)`, so a row can
-- only ever point at a row of its own tenant, whatever the application does. Foreign-key
-- checks bypass row-level security, which is why the tenant must be part of the key.
-- `ON DELETE SET NULL (column)` clears only the link, never the tenant.

-- Time-ordered UUIDs (version 7) for rows made in SQL (the default pipeline, system
-- activities written in bulk), matching the ids the application makes.
CREATE FUNCTION uuid_v7() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$
        SELECT encode(
            set_bit(set_bit(
                overlay(uuid_send(gen_random_uuid())
                        PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6),
                52, 1), 53, 1),
            'hex')::uuid
    $$;

-- Targets of the composite foreign keys below.
ALTER TABLE users ADD CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id);
ALTER TABLE contacts ADD CONSTRAINT contacts_tenant_id_id_key UNIQUE (tenant_id, id);

CREATE TABLE companies (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Normalised by the API: lower case, no scheme, port or path.
    domain         text CHECK (length(domain) <= 253),
    website        text CHECK (length(website) <= 2048),
    industry       text CHECK (length(industry) <= 100),
    employee_count integer CHECK (employee_count >= 0),
    phone          text CHECK (length(phone) <= 32),
    address_line1  text CHECK (length(address_line1) <= 200),
    address_line2  text CHECK (length(address_line2) <= 200),
    city           text CHECK (length(city) <= 100),
    region         text CHECK (length(region) <= 100),
    postal_code    text CHECK (length(postal_code) <= 20),
    country        text CHECK (country ~ '^[A-Z]{2}$'),
    tags           text[] NOT NULL DEFAULT '{}',
    custom_fields  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT companies_tenant_id_id_key UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX companies_tenant_domain_key ON companies (tenant_id, domain)
    WHERE domain IS NOT NULL;
CREATE INDEX companies_tenant_created_idx ON companies (tenant_id, created_at, id);
CREATE INDEX companies_tenant_updated_idx ON companies (tenant_id, updated_at, id);
CREATE INDEX companies_tenant_name_idx ON companies (tenant_id, name, id);

-- A contact's company: deleting the company keeps the contact and clears the link.
ALTER TABLE contacts ADD COLUMN company_id uuid;
ALTER TABLE contacts ADD CONSTRAINT contacts_company_fkey
    FOREIGN KEY (tenant_id, company_id) REFERENCES companies (tenant_id, id)
    ON DELETE SET NULL (company_id);
CREATE INDEX contacts_tenant_company_idx ON contacts (tenant_id, company_id, created_at, id)
    WHERE company_id IS NOT NULL;

CREATE TABLE pipelines (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_tenant_id_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX pipelines_tenant_created_idx ON pipelines (tenant_id, created_at, id);
CREATE INDEX pipelines_tenant_updated_idx ON pipelines (tenant_id, updated_at, id);

-- Positions are dense (0, 1, 2, ...) per pipeline. The uniqueness check is deferred to
-- commit so a reorder can move every stage in one statement; the API serialises stage
-- changes per pipeline by locking the pipeline row first.
CREATE TABLE stages (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    pipeline_id  uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position     integer NOT NULL CHECK (position >= 0),
    probability  integer NOT NULL CHECK (probability BETWEEN 0 AND 100),
    kind         text NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stages_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id)
        REFERENCES pipelines (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT stages_tenant_pipeline_id_key UNIQUE (tenant_id, pipeline_id, id),
    CONSTRAINT stages_pipeline_position_key UNIQUE (pipeline_id, position)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE leads (
    id                      uuid PRIMARY KEY,
    tenant_id               uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title                   text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    contact_id              uuid,
    company_id              uuid,
    pipeline_id             uuid NOT NULL,
    stage_id                uuid NOT NULL,
    -- Follows the stage's kind; kept here so lists can filter on it with an index.
    status                  text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    value                   numeric(19, 4) CHECK (value >= 0),
    currency                text CHECK (currency ~ '^[A-Z]{3}$'),
    expected_close_date     date,
    owner_id                uuid,
    source                  text CHECK (length(source) <= 100),
    lost_reason             text CHECK (length(lost_reason) <= 500),
    -- Who the lead is about before it is converted into a contact and a company.
    prospect_first_name     text CHECK (length(prospect_first_name) <= 100),
    prospect_last_name      text CHECK (length(prospect_last_name) <= 100),
    prospect_email          text CHECK (length(prospect_email) <= 254),
    prospect_phone          text CHECK (length(prospect_phone) <= 32),
    prospect_company_name   text CHECK (length(prospect_company_name) <= 200),
    prospect_company_domain text CHECK (length(prospect_company_domain) <= 253),
    converted_at            timestamptz,
    stage_changed_at        timestamptz NOT NULL DEFAULT now(),
    won_at                  timestamptz,
    lost_at                 timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leads_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT leads_value_needs_currency CHECK (value IS NULL OR currency IS NOT NULL),
    CONSTRAINT leads_lost_needs_reason CHECK (status <> 'lost' OR lost_reason IS NOT NULL),
    -- The stage must belong to the lead's pipeline; a stage holding leads cannot be
    -- deleted (the API moves them first when asked to).
    CONSTRAINT leads_stage_fkey FOREIGN KEY (tenant_id, pipeline_id, stage_id)
        REFERENCES stages (tenant_id, pipeline_id, id),
    CONSTRAINT leads_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT leads_company_fkey FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT leads_owner_fkey FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX leads_tenant_created_idx ON leads (tenant_id, created_at, id);
CREATE INDEX leads_tenant_updated_idx ON leads (tenant_id, updated_at, id);
-- A lead without a value sorts as 0, one without a close date last.
CREATE INDEX leads_tenant_value_idx ON leads (tenant_id, (coalesce(value, 0)), id);
CREATE INDEX leads_tenant_close_idx
    ON leads (tenant_id, (coalesce(expected_close_date, DATE '9999-12-31')), id);
CREATE INDEX leads_tenant_stage_idx ON leads (tenant_id, pipeline_id, stage_id);
CREATE INDEX leads_tenant_contact_idx ON leads (tenant_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX leads_tenant_company_idx ON leads (tenant_id, company_id) WHERE company_id IS NOT NULL;
CREATE INDEX leads_tenant_owner_idx ON leads (tenant_id, owner_id) WHERE owner_id IS NOT NULL;

-- Activities. `system` rows (type `stage_change`) are written by the server and are
-- read-only through the API.
CREATE TABLE activities (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type          text NOT NULL
                  CHECK (type IN ('note', 'call', 'email', 'meeting', 'task', 'stage_change')),
    system        boolean NOT NULL DEFAULT false,
    subject       text CHECK (length(subject) <= 200),
    body          text CHECK (length(body) <= 10000),
    due_at        timestamptz,
    completed_at  timestamptz,
    owner_id      uuid,
    contact_id    uuid,
    company_id    uuid,
    lead_id       uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT activities_system_type CHECK (system = (type = 'stage_change')),
    CONSTRAINT activities_owner_fkey FOREIGN KEY (tenant_id, owner_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT activities_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT activities_company_fkey FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT activities_lead_fkey FOREIGN KEY (tenant_id, lead_id)
        REFERENCES leads (tenant_id, id) ON DELETE SET NULL (lead_id)
);
CREATE INDEX activities_tenant_created_idx ON activities (tenant_id, created_at, id);
CREATE INDEX activities_tenant_updated_idx ON activities (tenant_id, updated_at, id);
CREATE INDEX activities_tenant_due_idx
    ON activities (tenant_id, (coalesce(due_at, TIMESTAMPTZ '9999-12-31 00:00:00+00')), id);
-- Timelines: newest first per linked record.
CREATE INDEX activities_contact_timeline_idx ON activities (tenant_id, contact_id, created_at, id)
    WHERE contact_id IS NOT NULL;
CREATE INDEX activities_company_timeline_idx ON activities (tenant_id, company_id, created_at, id)
    WHERE company_id IS NOT NULL;
CREATE INDEX activities_lead_timeline_idx ON activities (tenant_id, lead_id, created_at, id)
    WHERE lead_id IS NOT NULL;
CREATE INDEX activities_tenant_owner_idx ON activities (tenant_id, owner_id) WHERE owner_id IS NOT NULL;

-- Users list sorts.
CREATE INDEX users_tenant_created_idx ON users (tenant_id, created_at, id);
CREATE INDEX users_tenant_updated_idx ON users (tenant_id, updated_at, id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['companies', 'pipelines', 'stages', 'leads', 'activities'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant_id()) '
            'WITH CHECK (tenant_id = current_tenant_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO momentum_app', t);
    END LOOP;
END
$$;

-- Every tenant starts with a "Sales" pipeline. `momentum tenant create` calls this inside
-- the new tenant's transaction; below, it backfills tenants that already exist.
CREATE FUNCTION create_default_pipeline(p_tenant uuid) RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    p_id uuid := uuid_v7();
BEGIN
    INSERT INTO pipelines (id, tenant_id, name) VALUES (p_id, p_tenant, 'Sales');
    INSERT INTO stages (id, tenant_id, pipeline_id, name, position, probability, kind)
    SELECT uuid_v7(), p_tenant, p_id, s.name, s.position, s.probability, s.kind
    FROM (VALUES ('Lead in', 0, 10, 'open'),
                 ('Qualified', 1, 25, 'open'),
                 ('Proposal', 2, 50, 'open'),
                 ('Negotiation', 3, 75, 'open'),
                 ('Won', 4, 100, 'won'),
                 ('Lost', 5, 0, 'lost')) AS s (name, position, probability, kind);
    RETURN p_id;
END
$$;

SELECT create_default_pipeline(id) FROM tenants;
