-- Search across records (`GET /v1/search`): one searchable text per record type, and two
-- GIN indexes on it per table, a trigram index (substrings, typos, word prefixes) and a
-- full-text index (every word of a query, in any order).
--
-- Each `search_text_*` function builds the text the indexes hold and the search compares:
-- the record's key fields, lower case, separated by U+001F (a control character, which
-- the API refuses in these fields, so a separator can only be a field boundary: "equals
-- a whole field" is a substring test on the separated text). Phone numbers are reduced
-- to their digits so `+44 20 7946 0958`, `442079460958` and `2079460958` all find one.
-- Each table stores its text in a generated column, `search_text` (below).

CREATE FUNCTION search_text_contact(first_name text, last_name text, email text, phone text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT lower(
            btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))
            || E'\x1f' || coalesce(email, '')
            || E'\x1f' || regexp_replace(coalesce(phone, ''), '\D', '', 'g'))
    $$;

CREATE FUNCTION search_text_company(name text, domain text, phone text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT lower(
            coalesce(name, '')
            || E'\x1f' || coalesce(domain, '')
            || E'\x1f' || regexp_replace(coalesce(phone, ''), '\D', '', 'g'))
    $$;

CREATE FUNCTION search_text_lead(
    title text, first_name text, last_name text, email text, phone text,
    company_name text, company_domain text
)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT lower(
            coalesce(title, '')
            || E'\x1f' || btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))
            || E'\x1f' || coalesce(email, '')
            || E'\x1f' || coalesce(company_name, '')
            || E'\x1f' || coalesce(company_domain, '')
            || E'\x1f' || regexp_replace(coalesce(phone, ''), '\D', '', 'g'))
    $$;

CREATE FUNCTION search_text_activity(subject text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(coalesce(subject, '')) $$;

-- The searchable text is stored (a generated column, kept in step by PostgreSQL on every
-- write): the indexes need a recheck of each candidate row, and recomputing the text
-- (regexp_replace and all) for every candidate cost more than the index scan itself.
ALTER TABLE contacts ADD COLUMN search_text text
    GENERATED ALWAYS AS (search_text_contact(first_name, last_name, email, phone)) STORED;
ALTER TABLE companies ADD COLUMN search_text text
    GENERATED ALWAYS AS (search_text_company(name, domain, phone)) STORED;
ALTER TABLE leads ADD COLUMN search_text text
    GENERATED ALWAYS AS (search_text_lead(title, prospect_first_name, prospect_last_name,
        prospect_email, prospect_phone, prospect_company_name, prospect_company_domain)) STORED;
ALTER TABLE activities ADD COLUMN search_text text
    GENERATED ALWAYS AS (search_text_activity(subject)) STORED;

-- GIN indexes cannot lead with tenant_id (that would need btree_gin, and a tenant's
-- posting list would be read whole on every search); the tenant filter is applied to
-- the rows the text matched. EXPLAIN figures on 100,000 records per type among other
-- tenants' rows are in the README ("Search").
CREATE INDEX contacts_search_trgm_idx ON contacts USING gin (search_text gin_trgm_ops);
CREATE INDEX contacts_search_fts_idx ON contacts USING gin (to_tsvector('simple', search_text));
CREATE INDEX companies_search_trgm_idx ON companies USING gin (search_text gin_trgm_ops);
CREATE INDEX companies_search_fts_idx ON companies USING gin (to_tsvector('simple', search_text));
CREATE INDEX leads_search_trgm_idx ON leads USING gin (search_text gin_trgm_ops);
CREATE INDEX leads_search_fts_idx ON leads USING gin (to_tsvector('simple', search_text));
CREATE INDEX activities_search_trgm_idx ON activities USING gin (search_text gin_trgm_ops);
CREATE INDEX activities_search_fts_idx ON activities USING gin (to_tsvector('simple', search_text));

-- The search itself. Row-level security cannot serve it: under a policy, PostgreSQL uses
-- an index only for operators marked LEAKPROOF (it must not evaluate a user's condition
-- on rows the policy hides), and LIKE, pg_trgm's `<%` and full-text `@@` are not; only a
-- superuser could mark them. Run as the runtime role, every search was a sequential scan
-- of the table (400-500 ms for 100,000 contacts). So, like the credential lookup, this is
-- a narrow SECURITY DEFINER function owned by the owner role (which holds BYPASSRLS), with
-- a pinned search_path. It applies the tenant rule itself, exactly as the policies do
-- (`tenant_id = current_tenant_id()`: a transaction without a tenant finds nothing), and
-- never returns a trashed record (`deleted_at IS NULL`). It returns only a hit's type, id,
-- score and display text; the API then reads the records themselves under row-level
-- security as usual.
--
-- Arguments (prepared by the API, `db::search`):
--   p_needle   the query, trimmed and lower-cased (for a phone number: its digits)
--   p_like     `%needle%` with LIKE's wildcards escaped, or NULL to skip substring matching
--              (a needle without a run of 3 letters or digits gives the trigram index
--              nothing to look up, and would read all of it)
--   p_word     a regular expression matching the needle at the start of a word
--   p_fuzzy    whether to match by trigram word similarity (typos)
--   p_words    text whose words (as PostgreSQL's parser splits it: an email or a host
--              stays one word) must all start words of the record, in any order, through
--              the full-text index; or NULL
--   p_types    the record types to search
--   p_after_*  the last hit of the previous page (score, type, id), or NULLs
--   p_limit    how many hits to return
--
-- Ranking, deterministic: a tier (3: the needle is a whole field, e.g. the full name, the
-- email, the domain, the phone digits; 2: it starts a word; 1: it is inside a field, or
-- every word of it starts a word somewhere) plus the share of the record's searchable
-- text the needle covers (0..1: a closer match ranks higher; cheaper than a trigram
-- similarity per candidate, which cost twice as much on common names), rounded to 4
-- decimals, so every such hit scores 1 or more; a hit found only by
-- similarity (a typo) scores its similarity, capped below 1. Ties by type, then id. Pages
-- continue strictly after the previous page's last (score, type, id).
--
-- Typos are a fallback: hits found only by similarity are served when the query matches
-- nothing otherwise. Similarity is the expensive part (one per candidate row, and a long
-- needle such as an email has thousands of similar candidates: 700 ms, seven times the
-- exact phase), and a query that matched exactly has its answer.
CREATE FUNCTION search_records(
    p_needle text, p_like text, p_word text, p_fuzzy boolean, p_words text,
    p_types text[], p_after_score double precision, p_after_type text, p_after_id uuid,
    p_limit integer
)
    RETURNS TABLE (kind text, id uuid, score double precision, title text, subtitle text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $fn$
DECLARE
    -- The tenant rule is written `(tenant_id = current_tenant_id()) IS TRUE` (the same
    -- rule: a NULL tenant matches nothing) so the planner cannot AND the text indexes
    -- with the tenant_id index: that read the tenant's whole range of it (100,000 entries,
    -- 30 ms) to drop a few other tenants' matches that filtering drops for free.
    -- Each type: its name, its table, and its display title and subtitle.
    branches constant text[][] := ARRAY[
        ARRAY['contact', 'contacts',
              'coalesce(nullif(btrim(coalesce(first_name, '''') || '' '' || coalesce(last_name, '''')), ''''), email)',
              'coalesce(email, phone)'],
        ARRAY['company', 'companies', 'name', 'domain'],
        ARRAY['lead', 'leads', 'title',
              'coalesce(prospect_company_name, nullif(btrim(coalesce(prospect_first_name, '''') || '' '' || coalesce(prospect_last_name, '''')), ''''), prospect_email)'],
        ARRAY['activity', 'activities', 'coalesce(subject, type)', 'type']
    ];
    fts constant text := 'to_tsvector(''simple'', search_text) @@ to_tsquery(''simple'', $5)';
    exact_match text;
    exact_parts text[] := '{}';
    fuzzy_parts text[] := '{}';
    page constant text := ' WHERE $8 IS NULL OR h.score < $6 OR (h.score = $6 AND (h.kind, h.id) > ($7, $8)) '
        || 'ORDER BY h.score DESC, h.kind, h.id LIMIT $9';
    found_exact bigint := 0;
    tsq text;
BEGIN
    -- How similar a word must be to count as a typo of the needle (pg_trgm's default,
    -- 0.6, misses one wrong letter in a five-letter name). A function's SET clause cannot
    -- name an extension's setting before the extension is loaded, so it is set here, for
    -- the rest of this (read-only) transaction.
    PERFORM set_config('pg_trgm.word_similarity_threshold', '0.45', true);
    -- Each word of p_words as a prefix, `'ada':* & 'lovelace':*`, quoted as tsquery
    -- quotes (a lexeme of an email or a URL may hold any character).
    SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & ')
      INTO tsq
      FROM unnest(to_tsvector('simple', p_words));
    exact_match := concat_ws(' OR ',
        CASE WHEN p_like IS NOT NULL THEN 'search_text LIKE $2' END,
        CASE WHEN tsq IS NOT NULL THEN fts END);
    FOR i IN 1 .. array_length(branches, 1) LOOP
        CONTINUE WHEN NOT branches[i][1] = ANY (p_types);
        IF exact_match <> '' THEN
            exact_parts := exact_parts || format(
                'SELECT %L::text AS kind, id, round(((CASE '
                || 'WHEN strpos(E''\x1f'' || search_text || E''\x1f'', E''\x1f'' || $1 || E''\x1f'') > 0 THEN 3 '
                || 'WHEN search_text ~ $3 THEN 2 ELSE 1 END) '
                || '+ char_length($1)::numeric / greatest(char_length(search_text), 1))::numeric, 4)::double precision AS score, '
                || '%s AS title, %s AS subtitle FROM %I '
                || 'WHERE (tenant_id = current_tenant_id()) IS TRUE AND deleted_at IS NULL AND (%s)',
                branches[i][1], branches[i][3], branches[i][4], branches[i][2], exact_match);
        END IF;
        IF p_fuzzy THEN
            fuzzy_parts := fuzzy_parts || format(
                'SELECT %L::text AS kind, id, '
                || 'least(round(word_similarity($1, search_text)::numeric, 4), 0.9999)::double precision AS score, '
                || '%s AS title, %s AS subtitle FROM %I '
                || 'WHERE (tenant_id = current_tenant_id()) IS TRUE AND deleted_at IS NULL '
                || 'AND $1 <%% search_text AND NOT (%s)',
                branches[i][1], branches[i][3], branches[i][4], branches[i][2],
                CASE WHEN exact_match = '' THEN 'false' ELSE exact_match END);
        END IF;
    END LOOP;
    -- A cursor below 1 was left in the typo hits: the query matched nothing exactly.
    IF cardinality(exact_parts) > 0 AND (p_after_id IS NULL OR p_after_score >= 1) THEN
        RETURN QUERY EXECUTE
            'SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM ('
            || array_to_string(exact_parts, ' UNION ALL ') || ') h' || page
            USING p_needle, p_like, p_word, p_fuzzy, tsq, p_after_score, p_after_type,
                  p_after_id, p_limit;
        GET DIAGNOSTICS found_exact = ROW_COUNT;
        -- Exact hits (on this page, or before the cursor): no typo hits.
        IF found_exact > 0 OR p_after_id IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    IF cardinality(fuzzy_parts) > 0 THEN
        RETURN QUERY EXECUTE
            'SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM ('
            || array_to_string(fuzzy_parts, ' UNION ALL ') || ') h' || page
            USING p_needle, p_like, p_word, p_fuzzy, tsq, p_after_score, p_after_type,
                  p_after_id, p_limit;
    END IF;
END
$fn$;

REVOKE ALL ON FUNCTION search_records(text, text, text, boolean, text, text[],
    double precision, text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_records(text, text, text, boolean, text, text[],
    double precision, text, uuid, integer) TO momentum_app;
