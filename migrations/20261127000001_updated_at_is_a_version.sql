-- `updated_at` is a record's version: the API's strong `ETag` is made from it (and
-- `If-Match` compares against it), and `updated_after` syncs by it. So on every table
-- whose records the API versions, it must move whenever the record changes, and never
-- back to a value it had:
--
-- * deleting a company, contact, lead or user clears the links to it through
--   `ON DELETE SET NULL`, an update that does not set `updated_at`;
-- * `updated_at = now()` is the start of the writing transaction, so a transaction that
--   began before another one wrote the row, and writes it after, would move it back.
--
-- This trigger fixes both, in one place: when a changed row's `updated_at` did not move
-- forward, it becomes now, or a microsecond after the old value if now is not later.
-- (Foreign-key actions fire the referencing table's ordinary triggers; an update that
-- changes nothing is left alone.)

CREATE FUNCTION advance_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        NEW.updated_at := greatest(now(), OLD.updated_at + interval '1 microsecond');
        RETURN NEW;
    END
    $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'companies', 'pipelines', 'stages', 'leads',
                             'activities', 'users', 'webhook_endpoints'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW '
            'WHEN (NEW.updated_at < OLD.updated_at '
            '      OR (NEW.updated_at = OLD.updated_at AND OLD.* IS DISTINCT FROM NEW.*)) '
            'EXECUTE FUNCTION advance_updated_at()',
            t || '_advance_updated_at', t);
    END LOOP;
END
$$;
