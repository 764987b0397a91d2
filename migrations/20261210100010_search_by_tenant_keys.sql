-- The search reads through the tenant's own keys (20261210100001 to ...09): their posting
-- lists hold one tenant's rows, so a tenant's search costs what its own matches cost,
-- whatever other tenants hold (issue 22, points 3 and 4; figures before and after in
-- docs/performance.md, "Other tenants' data").
--
-- search_records keeps its signature, its arguments and its results: the same rows,
-- scores, order and cursors for the same data. Only the exact arms' conditions change.
-- Each now has two parts:
--
-- * what the index reads: the needle's tenant-tagged trigrams contained in the row's
--   (search_trigrams), or the tenant-tagged words (search_lexemes). Every row the old
--   condition matched is among them (20261210100001 shows why), plus rows that only
--   share the needle's trigrams;
-- * the old condition itself, as a filter on what the index found: the `LIKE` or the
--   word query. The `LIKE` is written `(... LIKE p_like) IS TRUE`, which keeps its
--   meaning in a WHERE (a NULL is false either way) but which the planner cannot turn
--   into a scan of the old trigram index: it would AND that scan (whose lists hold every
--   tenant's rows) with the new one, and pay again what this migration removes. The
--   tenant rule is written `IS TRUE` for the same reason: as an index condition it would
--   read the tenant's whole entry of the old trigram index (one item per row of the
--   tenant). It is still checked on every row, so a tag two tenants share never shows
--   one the other's rows.
--
-- No parallel workers: the generic plan cannot know how many rows a needle's keys
-- find, estimates thousands, and would start two workers for a scan that reads about a
-- thousand rows in well under a millisecond (measured: 12 ms per search with the workers,
-- most of it starting them). A search is one tenant's small read; the cores are better
-- spent on other requests.
--
-- The typo arm (`<%`, trigram similarity) still reads the trigram index that leads with
-- the tenant, `(tenant_id, search_text gin_trgm_ops)`, which stays for it: similarity
-- needs pg_trgm's own trigrams. It runs only when nothing matched exactly.
--
-- The full-text indexes that led with the tenant are dropped: nothing reads them now.
-- The previous release calls the same function, so it gets the new body too.
--
-- `lock_timeout`: dropping an index takes a brief exclusive lock on its table; if a long
-- transaction holds the table, fail after 5 s (run it again) rather than queue every
-- request behind the lock.

SET LOCAL lock_timeout = '5s';

-- An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index, which the rerun's
-- `IF NOT EXISTS` then skipped: refuse to switch to it, and say how to rebuild it.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(n.name, ', ') INTO bad
      FROM unnest(ARRAY['contacts_search_trigrams_idx', 'contacts_search_lexemes_idx',
                        'companies_search_trigrams_idx', 'companies_search_lexemes_idx',
                        'leads_search_trigrams_idx', 'leads_search_lexemes_idx',
                        'activities_search_trigrams_idx', 'activities_search_lexemes_idx'])
           AS n(name)
      LEFT JOIN pg_class c ON c.relname = n.name AND c.relkind = 'i'
      LEFT JOIN pg_index i ON i.indexrelid = c.oid
     WHERE i.indexrelid IS NULL OR NOT (i.indisvalid AND i.indisready);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'missing or invalid search index(es): %', bad
            USING HINT = 'REINDEX INDEX CONCURRENTLY each invalid one (or run the migration '
                         'that builds a missing one), then migrate again';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION search_records(
    p_needle text, p_like text, p_word text, p_fuzzy boolean, p_words text,
    p_types text[], p_after_score double precision, p_after_type text, p_after_id uuid,
    p_limit integer
)
    RETURNS TABLE (kind text, id uuid, score double precision, title text, subtitle text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET plan_cache_mode = force_generic_plan
    SET max_parallel_workers_per_gather = 0
    AS $fn$
#variable_conflict use_column
DECLARE
    -- Read once; a NULL tenant still matches nothing (`= NULL` is never true).
    tenant constant uuid := current_tenant_id();
    -- A type is searched unless p_types rules it out, as before: `IS NOT FALSE`, so a
    -- NULL list (or a NULL in it) leaves it in.
    in_contacts constant boolean := ('contact' = ANY (p_types)) IS NOT FALSE;
    in_companies constant boolean := ('company' = ANY (p_types)) IS NOT FALSE;
    in_leads constant boolean := ('lead' = ANY (p_types)) IS NOT FALSE;
    in_activities constant boolean := ('activity' = ANY (p_types)) IS NOT FALSE;
    -- The needle as a whole field, and its length, for the score.
    as_field constant text := E'\x1f' || p_needle || E'\x1f';
    after_space constant text := ' ' || p_needle;
    needle_len constant bigint := char_length(p_needle);
    -- Whether p_word is the needle at a word start, written as domain::search::Needle
    -- writes it: then a needle at the text's start or after a space is a word-start
    -- match without running the regular expression (the common case, and the regular
    -- expression was the dearest part of the score). Any other p_word: the expression.
    word_is_needle boolean;
    words tsquery;
    -- The same words with the tenant's tag on each lexeme, for the index of
    -- search_lexemes (20261210100001).
    tenant_words tsquery;
    -- The needle's tenant-tagged trigrams, which every record whose text holds the
    -- needle has among its search_trigrams (20261210100001 shows why). NULL without a
    -- LIKE, so the trigram arm then matches nothing, as `LIKE NULL` did; none, `'{}'`
    -- (contained in every row's), if p_like is not the needle as domain::search::Needle
    -- writes it (`%`, the needle with LIKE's wildcards escaped, `%`), which only a
    -- caller other than this release's would send: the arm then reads every key of the
    -- index, slowly and still right.
    needle_trigrams text[];
    found_exact bigint := 0;
BEGIN
    -- How similar a word must be to count as a typo of the needle (pg_trgm's default,
    -- 0.6, misses one wrong letter in a five-letter name). A function's SET clause cannot
    -- name an extension's setting before the extension is loaded, so it is set here, for
    -- the rest of this (read-only) transaction.
    PERFORM set_config('pg_trgm.word_similarity_threshold', '0.45', true);
    -- Each word of p_words as a prefix, `'ada':* & 'lovelace':*`, quoted as tsquery
    -- quotes (a lexeme of an email or a URL may hold any character).
    SELECT to_tsquery('simple', string_agg(
               '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '))
      INTO words
      FROM unnest(to_tsvector('simple', p_words));
    SELECT to_tsquery('simple', string_agg(
               '''' || replace(replace(left(md5(tenant::text), 8) || lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '))
      INTO tenant_words
      FROM unnest(to_tsvector('simple', p_words));
    needle_trigrams := CASE
        WHEN p_like IS NULL THEN NULL
        WHEN p_like = '%' || replace(replace(replace(p_needle, '\', '\\'), '%', '\%'), '_', '\_') || '%'
            THEN search_trigrams(tenant, p_needle)
        ELSE '{}'
    END;
    word_is_needle := coalesce(
        p_word = '(^|[^[:alnum:]])' || regexp_replace(p_needle, '([^[:alnum:]])', '\\\1', 'g'),
        false);
    -- A cursor below 1 was left in the typo hits: the query matched nothing exactly.
    IF (p_like IS NOT NULL OR words IS NOT NULL)
       AND (p_after_id IS NULL OR p_after_score >= 1) THEN
        -- Without words (a phone number), a query without the full-text arm: in a
        -- generic plan the arm would stay in the recheck and compute to_tsvector for
        -- every trigram candidate the LIKE rejects, only to compare it with NULL.
        IF words IS NULL THEN
            RETURN QUERY
            SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM (
                SELECT 'contact'::text AS kind, b.id, b.score,
                       coalesce(nullif(btrim(coalesce(b.first_name, '') || ' ' || coalesce(b.last_name, '')), ''), b.email) AS title,
                       coalesce(b.email, b.phone) AS subtitle
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.first_name, t.last_name, t.email, t.phone
                            FROM contacts t
                           WHERE in_contacts AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                             AND (t.search_text LIKE p_like) IS TRUE
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('contact'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'company'::text, b.id, b.score, b.name, b.domain
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.name, t.domain
                            FROM companies t
                           WHERE in_companies AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                             AND (t.search_text LIKE p_like) IS TRUE
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('company'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'lead'::text, b.id, b.score, b.title,
                       coalesce(b.prospect_company_name, nullif(btrim(coalesce(b.prospect_first_name, '') || ' ' || coalesce(b.prospect_last_name, '')), ''), b.prospect_email)
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.title, t.prospect_company_name, t.prospect_first_name, t.prospect_last_name, t.prospect_email
                            FROM leads t
                           WHERE in_leads AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                             AND (t.search_text LIKE p_like) IS TRUE
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('lead'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'activity'::text, b.id, b.score, coalesce(b.subject, b.type), b.type
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.subject, t.type
                            FROM activities t
                           WHERE in_activities AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                             AND (t.search_text LIKE p_like) IS TRUE
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('activity'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
            ) h
            WHERE p_after_id IS NULL OR h.score < p_after_score
               OR (h.score = p_after_score AND (h.kind, h.id) > (p_after_type, p_after_id))
            ORDER BY h.score DESC, h.kind, h.id LIMIT p_limit;
        ELSE
            RETURN QUERY
            SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM (
                SELECT 'contact'::text AS kind, b.id, b.score,
                       coalesce(nullif(btrim(coalesce(b.first_name, '') || ' ' || coalesce(b.last_name, '')), ''), b.email) AS title,
                       coalesce(b.email, b.phone) AS subtitle
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.first_name, t.last_name, t.email, t.phone
                            FROM contacts t
                           WHERE in_contacts AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND (search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                                  OR search_lexemes(t.tenant_id, t.search_text) @@ tenant_words)
                             AND ((t.search_text LIKE p_like) IS TRUE OR to_tsvector('simple', t.search_text) @@ words)
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('contact'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'company'::text, b.id, b.score, b.name, b.domain
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.name, t.domain
                            FROM companies t
                           WHERE in_companies AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND (search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                                  OR search_lexemes(t.tenant_id, t.search_text) @@ tenant_words)
                             AND ((t.search_text LIKE p_like) IS TRUE OR to_tsvector('simple', t.search_text) @@ words)
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('company'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'lead'::text, b.id, b.score, b.title,
                       coalesce(b.prospect_company_name, nullif(btrim(coalesce(b.prospect_first_name, '') || ' ' || coalesce(b.prospect_last_name, '')), ''), b.prospect_email)
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.title, t.prospect_company_name, t.prospect_first_name, t.prospect_last_name, t.prospect_email
                            FROM leads t
                           WHERE in_leads AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND (search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                                  OR search_lexemes(t.tenant_id, t.search_text) @@ tenant_words)
                             AND ((t.search_text LIKE p_like) IS TRUE OR to_tsvector('simple', t.search_text) @@ words)
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('lead'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
                UNION ALL
                SELECT 'activity'::text, b.id, b.score, coalesce(b.subject, b.type), b.type
                  FROM (SELECT s.* FROM (
                          SELECT t.id, ((CASE
                                     WHEN strpos(E'\x1f' || t.search_text || E'\x1f', as_field) > 0 THEN 3
                                     WHEN word_is_needle AND (starts_with(t.search_text, p_needle) OR strpos(t.search_text, after_space) > 0) THEN 2
                                     WHEN t.search_text ~ p_word THEN 2 ELSE 1 END) * 10000::bigint
                                 + (20000 * needle_len + greatest(char_length(t.search_text), 1))
                                   / (2 * greatest(char_length(t.search_text), 1)::bigint))::double precision / 10000 AS score,
                                 t.subject, t.type
                            FROM activities t
                           WHERE in_activities AND (t.tenant_id = tenant) IS TRUE AND t.deleted_at IS NULL
                             AND (search_trigrams(t.tenant_id, t.search_text) @> needle_trigrams
                                  OR search_lexemes(t.tenant_id, t.search_text) @@ tenant_words)
                             AND ((t.search_text LIKE p_like) IS TRUE OR to_tsvector('simple', t.search_text) @@ words)
                          OFFSET 0) s
                         WHERE p_after_id IS NULL OR s.score < p_after_score
                            OR (s.score = p_after_score AND ('activity'::text, s.id) > (p_after_type, p_after_id))
                         ORDER BY s.score DESC, s.id LIMIT p_limit) b
            ) h
            WHERE p_after_id IS NULL OR h.score < p_after_score
               OR (h.score = p_after_score AND (h.kind, h.id) > (p_after_type, p_after_id))
            ORDER BY h.score DESC, h.kind, h.id LIMIT p_limit;
        END IF;
        GET DIAGNOSTICS found_exact = ROW_COUNT;
        -- Exact hits (on this page, or before the cursor): no typo hits.
        IF found_exact > 0 OR p_after_id IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    IF p_fuzzy THEN
        RETURN QUERY
        SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM (
            SELECT 'contact'::text AS kind, b.id, b.score,
                   coalesce(nullif(btrim(coalesce(b.first_name, '') || ' ' || coalesce(b.last_name, '')), ''), b.email) AS title,
                   coalesce(b.email, b.phone) AS subtitle
              FROM (SELECT s.* FROM (
                      SELECT t.id, least(round(word_similarity(p_needle, t.search_text)::numeric, 4), 0.9999)::double precision AS score,
                             t.first_name, t.last_name, t.email, t.phone
                        FROM contacts t
                       WHERE in_contacts AND t.tenant_id = tenant AND t.deleted_at IS NULL
                         AND p_needle <% t.search_text
                         AND NOT coalesce(t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words, false)
                      OFFSET 0) s
                     WHERE p_after_id IS NULL OR s.score < p_after_score
                        OR (s.score = p_after_score AND ('contact'::text, s.id) > (p_after_type, p_after_id))
                     ORDER BY s.score DESC, s.id LIMIT p_limit) b
            UNION ALL
            SELECT 'company'::text, b.id, b.score, b.name, b.domain
              FROM (SELECT s.* FROM (
                      SELECT t.id, least(round(word_similarity(p_needle, t.search_text)::numeric, 4), 0.9999)::double precision AS score,
                             t.name, t.domain
                        FROM companies t
                       WHERE in_companies AND t.tenant_id = tenant AND t.deleted_at IS NULL
                         AND p_needle <% t.search_text
                         AND NOT coalesce(t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words, false)
                      OFFSET 0) s
                     WHERE p_after_id IS NULL OR s.score < p_after_score
                        OR (s.score = p_after_score AND ('company'::text, s.id) > (p_after_type, p_after_id))
                     ORDER BY s.score DESC, s.id LIMIT p_limit) b
            UNION ALL
            SELECT 'lead'::text, b.id, b.score, b.title,
                   coalesce(b.prospect_company_name, nullif(btrim(coalesce(b.prospect_first_name, '') || ' ' || coalesce(b.prospect_last_name, '')), ''), b.prospect_email)
              FROM (SELECT s.* FROM (
                      SELECT t.id, least(round(word_similarity(p_needle, t.search_text)::numeric, 4), 0.9999)::double precision AS score,
                             t.title, t.prospect_company_name, t.prospect_first_name, t.prospect_last_name, t.prospect_email
                        FROM leads t
                       WHERE in_leads AND t.tenant_id = tenant AND t.deleted_at IS NULL
                         AND p_needle <% t.search_text
                         AND NOT coalesce(t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words, false)
                      OFFSET 0) s
                     WHERE p_after_id IS NULL OR s.score < p_after_score
                        OR (s.score = p_after_score AND ('lead'::text, s.id) > (p_after_type, p_after_id))
                     ORDER BY s.score DESC, s.id LIMIT p_limit) b
            UNION ALL
            SELECT 'activity'::text, b.id, b.score, coalesce(b.subject, b.type), b.type
              FROM (SELECT s.* FROM (
                      SELECT t.id, least(round(word_similarity(p_needle, t.search_text)::numeric, 4), 0.9999)::double precision AS score,
                             t.subject, t.type
                        FROM activities t
                       WHERE in_activities AND t.tenant_id = tenant AND t.deleted_at IS NULL
                         AND p_needle <% t.search_text
                         AND NOT coalesce(t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words, false)
                      OFFSET 0) s
                     WHERE p_after_id IS NULL OR s.score < p_after_score
                        OR (s.score = p_after_score AND ('activity'::text, s.id) > (p_after_type, p_after_id))
                     ORDER BY s.score DESC, s.id LIMIT p_limit) b
        ) h
        WHERE p_after_id IS NULL OR h.score < p_after_score
           OR (h.score = p_after_score AND (h.kind, h.id) > (p_after_type, p_after_id))
        ORDER BY h.score DESC, h.kind, h.id LIMIT p_limit;
    END IF;
END
$fn$;

DROP INDEX IF EXISTS contacts_tenant_search_fts_idx;
DROP INDEX IF EXISTS companies_tenant_search_fts_idx;
DROP INDEX IF EXISTS leads_tenant_search_fts_idx;
DROP INDEX IF EXISTS activities_tenant_search_fts_idx;
