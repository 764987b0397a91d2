-- The demo data set (issue 24, point 1): what `"seed": "demo"` puts in a new sandbox and
-- `momentum tenant create --seed demo` in a new tenant, written once, here, for both.
--
-- SECURITY INVOKER on purpose: it writes only the pinned tenant's rows
-- (`current_tenant_id()`), as whoever calls it, under row-level security: the runtime
-- role for a sandbox, the owner role for the CLI. No grant is needed beyond the
-- caller's own on the tables.
--
-- Deterministic content (the same names, amounts and links every time; only ids and
-- timestamps differ): 10 companies, 30 contacts (3 per company), 15 leads spread over
-- the stages of the tenant's first pipeline (by creation), 20 activities and 10
-- associations (a lead's main contact to the lead, labelled when the tenant has a label
-- named 'Decision maker' that allows contact-to-lead links). Records are owned by `p_owner`. No events are recorded: the
-- data is a starting point, not changes anyone made (docs/sandboxes.md).
--
-- Expand only: a new function.

CREATE FUNCTION seed_demo(p_owner uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        t uuid := public.current_tenant_id();
        pipeline uuid;
        stage_ids uuid[];
        stage_kinds text[];
        company_ids uuid[] := ARRAY[]::uuid[];
        contact_ids uuid[] := ARRAY[]::uuid[];
        lead_ids uuid[] := ARRAY[]::uuid[];
        label uuid;
        id uuid;
        i integer;
        k integer;
        kind text;
        companies text[][] := ARRAY[
            ['Acme Robotics', 'acme-robotics.example', 'Manufacturing', '420', 'Berlin', 'DE'],
            ['Bluefin Logistics', 'bluefin-logistics.example', 'Logistics', '1200', 'Rotterdam', 'NL'],
            ['Cedar Health', 'cedar-health.example', 'Healthcare', '310', 'Boston', 'US'],
            ['Dynamo Energy', 'dynamo-energy.example', 'Energy', '2500', 'Houston', 'US'],
            ['Evergreen Foods', 'evergreen-foods.example', 'Food & Beverage', '180', 'Lyon', 'FR'],
            ['Fjord Analytics', 'fjord-analytics.example', 'Software', '65', 'Oslo', 'NO'],
            ['Granite Insurance', 'granite-insurance.example', 'Insurance', '900', 'Zurich', 'CH'],
            ['Harbor Retail', 'harbor-retail.example', 'Retail', '3400', 'Sydney', 'AU'],
            ['Ion Telecom', 'ion-telecom.example', 'Telecommunications', '5100', 'Madrid', 'ES'],
            ['Juniper Education', 'juniper-education.example', 'Education', '140', 'Toronto', 'CA']];
        first_names text[] := ARRAY['Ada', 'Ben', 'Chloe', 'Dev', 'Elena', 'Farid', 'Grace',
            'Hugo', 'Ines', 'Jonas', 'Keiko', 'Liam', 'Maya', 'Noah', 'Olivia', 'Pablo',
            'Quinn', 'Rosa', 'Sami', 'Tara', 'Umar', 'Vera', 'Wen', 'Xavier', 'Yara', 'Zoe',
            'Arjun', 'Bianca', 'Carlos', 'Dana'];
        last_names text[] := ARRAY['Lovelace', 'Okafor', 'Martin', 'Patel', 'Rossi',
            'Haddad', 'Hopper', 'Lefevre', 'Santos', 'Berg', 'Tanaka', 'Murphy', 'Cohen',
            'Schmidt', 'Brown', 'Garcia', 'Nguyen', 'Silva', 'Kowalski', 'Singh', 'Khan',
            'Ivanova', 'Li', 'Dubois', 'Haddad', 'Fischer', 'Mehta', 'Ricci', 'Mendes',
            'Novak'];
        titles text[] := ARRAY['Head of Operations', 'CTO', 'Procurement Manager'];
        activity_types text[] := ARRAY['note', 'call', 'email', 'meeting', 'task'];
    BEGIN
        SELECT p.id INTO pipeline FROM public.pipelines p ORDER BY p.created_at, p.id LIMIT 1;
        IF pipeline IS NULL THEN
            RAISE EXCEPTION 'the tenant has no pipeline to seed leads into' USING ERRCODE = 'P0001';
        END IF;
        SELECT array_agg(s.id ORDER BY s.position), array_agg(s.kind ORDER BY s.position)
          INTO stage_ids, stage_kinds
          FROM public.stages s WHERE s.pipeline_id = pipeline;
        SELECT l.id INTO label FROM public.association_labels l
         WHERE lower(l.name) = 'decision maker'
           AND coalesce(l.from_type, 'contact') = 'contact' AND coalesce(l.to_type, 'lead') = 'lead'
         LIMIT 1;

        FOR i IN 1..10 LOOP
            id := public.uuid_v7();
            INSERT INTO public.companies (id, tenant_id, name, domain, website, industry,
                                          employee_count, city, country, tags)
            VALUES (id, t, companies[i][1], companies[i][2], 'https://' || companies[i][2],
                    companies[i][3], companies[i][4]::integer, companies[i][5],
                    companies[i][6], ARRAY['demo']);
            company_ids := company_ids || id;
        END LOOP;

        FOR i IN 1..30 LOOP
            id := public.uuid_v7();
            k := (i - 1) / 3 + 1;
            INSERT INTO public.contacts (id, tenant_id, first_name, last_name, email, phone,
                                         title, company_id, tags)
            VALUES (id, t, first_names[i], last_names[i],
                    lower(first_names[i] || '.' || last_names[i]) || '@' || companies[k][2],
                    '+1555' || lpad((1000000 + i * 7919)::text, 7, '0'),
                    titles[(i - 1) % 3 + 1], company_ids[k],
                    CASE WHEN i % 3 = 2 THEN ARRAY['demo', 'decision-maker']
                         ELSE ARRAY['demo'] END);
            contact_ids := contact_ids || id;
        END LOOP;

        FOR i IN 1..15 LOOP
            id := public.uuid_v7();
            k := (i - 1) % array_length(stage_ids, 1) + 1;
            kind := stage_kinds[k];
            INSERT INTO public.leads (id, tenant_id, title, contact_id, company_id, pipeline_id,
                                      stage_id, status, value, currency, expected_close_date,
                                      owner_id, source, lost_reason, won_at, lost_at)
            VALUES (id, t,
                    companies[(i - 1) % 10 + 1][1] || ' — ' ||
                        (ARRAY['pilot', 'rollout', 'renewal', 'expansion', 'support plan'])[(i - 1) % 5 + 1],
                    contact_ids[((i - 1) % 10) * 3 + 2], company_ids[(i - 1) % 10 + 1],
                    pipeline, stage_ids[k], kind, (5000 + i * 2500)::numeric, 'USD',
                    current_date + i * 7, p_owner,
                    (ARRAY['website', 'referral', 'event', 'outbound'])[(i - 1) % 4 + 1],
                    CASE WHEN kind = 'lost' THEN 'Chose a competitor' END,
                    CASE WHEN kind = 'won' THEN now() END,
                    CASE WHEN kind = 'lost' THEN now() END);
            lead_ids := lead_ids || id;
        END LOOP;

        FOR i IN 1..20 LOOP
            kind := activity_types[(i - 1) % 5 + 1];
            INSERT INTO public.activities (id, tenant_id, type, subject, body, due_at,
                                           completed_at, owner_id, contact_id, company_id,
                                           lead_id)
            VALUES (public.uuid_v7(), t, kind,
                    initcap(kind) || ' with ' || first_names[((i - 1) % 10) * 3 + 2] || ' about '
                        || companies[(i - 1) % 10 + 1][1],
                    'Demo ' || kind || ' ' || i || '.',
                    CASE WHEN kind IN ('task', 'meeting') THEN now() + i * interval '1 day' END,
                    CASE WHEN kind IN ('call', 'email') THEN now() END,
                    p_owner, contact_ids[((i - 1) % 10) * 3 + 2], company_ids[(i - 1) % 10 + 1],
                    lead_ids[(i - 1) % 15 + 1]);
        END LOOP;

        FOR i IN 1..10 LOOP
            INSERT INTO public.associations (id, tenant_id, from_type, from_id, to_type, to_id,
                                             label_id)
            VALUES (public.uuid_v7(), t, 'contact', contact_ids[(i - 1) * 3 + 2], 'lead',
                    lead_ids[i], label);
        END LOOP;
    END
    $$;
