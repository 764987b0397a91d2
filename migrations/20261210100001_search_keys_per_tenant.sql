-- Search keys that belong to one tenant (issue 22, points 3 and 4): a tenant's search
-- should cost the same whether it is alone or among many tenants of its size.
--
-- The search's GIN indexes lead with `tenant_id` (btree_gin, 20261204100001), but a GIN
-- index stores each column's keys apart: the posting list of the trigram `lov` holds
-- every tenant's rows that contain it, and a search reads it whole to intersect it with
-- the tenant's. Among 20 other tenants of the same names, a surname's trigrams list 21
-- times the rows: PostgreSQL spent 26% more CPU per search with every page in memory
-- (docs/performance.md, "Other tenants' data").
--
-- These two functions make keys that carry the tenant: each key is prefixed with a tag
-- of the tenant, the first 8 hex digits of the md5 of its id, so the posting list of a
-- key holds one tenant's rows (two tenants whose tags collide, one pair in four billion,
-- share lists, which costs time and never a wrong row: the search still checks the
-- tenant). Indexes on them come next (20261210100002 to ...09), built CONCURRENTLY one
-- per migration, and 20261210100010 makes the search read through them.
--
-- search_trigrams: the text's trigrams as the search needs them. A record matches a
-- needle's `LIKE '%needle%'` only if the needle is a substring of its text; then every
-- run of letters and digits in the needle lies inside a run of the text, so every three
-- consecutive characters of the needle's runs are three consecutive characters of one
-- of the text's runs. So the needle's keys (this same function applied to the needle)
-- are always among a matching record's keys: probing the index with them loses no match,
-- and the LIKE, kept as a filter, removes what only shares trigrams. Characters, not
-- bytes (`substr`), and no case folding (the stored text and the needle are both lower
-- case already, and the LIKE is case-sensitive): nothing here can differ between the
-- needle and the text it is a substring of. pg_trgm's own trigrams are not used because
-- it pads words with spaces (a needle's padded trigrams need not be in a text that has
-- the needle inside a longer word) and stores non-ASCII trigrams as hashes, which hide
-- the padding.
--
-- search_lexemes: the text's full-text lexemes (`to_tsvector('simple', ...)`, which the
-- search's word query matches, each word as a prefix) with the tag in front of each. A
-- word query whose lexemes carry the same tag matches these exactly when the plain query
-- matches the plain lexemes: prefixing both sides keeps every prefix match and adds none.
-- Positions are dropped; the search's queries (`&` of prefixes) never use them.
--
-- IMMUTABLE, as an index expression must be: both read only their arguments (the regular
-- expression's classes and the text search configuration are fixed for a database, as
-- they are for the indexes that already use them). Names are schema-qualified because an
-- index expression runs under the search_path of whoever writes the row.
--
-- A key may repeat in one array (a trigram twice in a text); GIN keeps each key of a row
-- once, and containment does not count, so they are not made distinct (no sort per row).
--
-- PL/pgSQL, not SQL: an index expression is evaluated by every INSERT and every UPDATE
-- that changes the text, each a new statement, and a SQL function with a query in its
-- body is parsed and planned again for each one. Measured on a contact insert (pgbench,
-- one client, 2-core Xeon): 0.19 ms without these two indexes, 0.47 ms with them as
-- SQL functions, 0.31 ms as these loops, whose expressions PL/pgSQL prepares once per
-- session.
--
-- Expand only: new functions the previous release never calls.

CREATE FUNCTION search_trigrams(p_tenant uuid, p_text text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    tag constant text := pg_catalog.left(pg_catalog.md5(p_tenant::text), 8);
    keys text[] := '{}';
    w text;
BEGIN
    IF p_text IS NULL THEN
        RETURN keys;
    END IF;
    FOREACH w IN ARRAY pg_catalog.regexp_split_to_array(p_text, '[^[:alnum:]]+') LOOP
        FOR i IN 1 .. pg_catalog.char_length(w) - 2 LOOP
            keys := keys || (tag || pg_catalog.substr(w, i, 3));
        END LOOP;
    END LOOP;
    RETURN keys;
END
$$;

CREATE FUNCTION search_lexemes(p_tenant uuid, p_text text) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    tag constant text := pg_catalog.left(pg_catalog.md5(p_tenant::text), 8);
    lexemes text[] := pg_catalog.tsvector_to_array(
        coalesce(pg_catalog.to_tsvector('simple'::regconfig, p_text), ''::tsvector));
BEGIN
    FOR i IN 1 .. coalesce(pg_catalog.array_length(lexemes, 1), 0) LOOP
        lexemes[i] := tag || lexemes[i];
    END LOOP;
    RETURN pg_catalog.array_to_tsvector(lexemes);
END
$$;

COMMENT ON FUNCTION search_trigrams(uuid, text) IS
    'The tenant-tagged trigrams (three consecutive letters or digits) of a search text or needle; see migration 20261210100001.';
COMMENT ON FUNCTION search_lexemes(uuid, text) IS
    'The tenant-tagged full-text lexemes of a search text; see migration 20261210100001.';
