-- Company domains ignore one leading `www.` (issue 24): `https://WWW.Acme.com` and
-- `acme.com` name one company, so the API now stores `acme.com` for both
-- (`domain::fields::optional_domain`). Domains stored before kept the `www.`, and would
-- neither match a lookup nor collide with a new `acme.com` under the unique index
-- `companies_tenant_domain_key`, which compares stored values: this brings them to the
-- new form.
--
-- Collisions: a live `www.acme.com` whose tenant also has a live `acme.com` is left as it
-- is (renaming it would break the unique index, and which of the two is "the" company is
-- for a person to decide: merge them with `companies_merge`). The warning below counts
-- such rows; docs/api.md says how to find them. A trashed company is normalised whatever
-- the live ones hold: restoring it then answers the usual 409 naming the holder.
-- `www.<name>` without a further dot (`www.io`) is a name, not a prefix, and is kept, as
-- the API keeps it. `updated_at` moves (it is each row's version and sync mark, so a
-- client syncing with `updated_after` sees the new domain); no event is recorded (the
-- data did not change, its spelling did).
--
-- One UPDATE rather than batches: it touches only companies whose domain starts with
-- `www.` (a minority; the scan to find them reads the table once, without holding more
-- than those rows' locks). The owner role bypasses row-level security, so it sees every
-- tenant. Rolling upgrade: the previous release still writes `www.` domains until it is
-- replaced; docs/operations.md says to rerun the query below after the rollout.
SET LOCAL lock_timeout = '5s';

DO $$
DECLARE
    renamed bigint;
    kept bigint;
BEGIN
    UPDATE companies c
       SET domain = substr(c.domain, 5), updated_at = now()
     WHERE c.domain LIKE 'www.%'
       AND c.domain NOT LIKE 'www.www.%'
       AND strpos(substr(c.domain, 5), '.') > 0
       AND (c.deleted_at IS NOT NULL
            OR NOT EXISTS (SELECT 1 FROM companies o
                            WHERE o.tenant_id = c.tenant_id
                              AND o.domain = substr(c.domain, 5)
                              AND o.deleted_at IS NULL));
    GET DIAGNOSTICS renamed = ROW_COUNT;
    SELECT count(*) INTO kept
      FROM companies c
     WHERE c.domain LIKE 'www.%' AND strpos(substr(c.domain, 5), '.') > 0
       AND c.deleted_at IS NULL;
    IF renamed > 0 OR kept > 0 THEN
        RAISE WARNING 'company domains without www.: % normalised, % left as they are '
            '(another live company of the tenant has the domain without www.)', renamed, kept;
    END IF;
END
$$;
