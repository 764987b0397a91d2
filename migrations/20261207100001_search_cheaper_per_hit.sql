-- search_records, with the same rows, scores, order and cursors for the same data, at
-- about a quarter of the database CPU per search (issue 22, point 4; the figures, before
-- and after on the same data, and the plans are in docs/performance.md, "Search").
--
-- A search for a surname shared by 1,000 contacts scores 1,000 rows to return 21. Where
-- its CPU went, and what replaces it:
--
-- * Planning. The query was built as text and run with `EXECUTE`, so it was parsed and
--   planned on every call (0.9 ms of ~4 ms in the end, ~20%). The queries are now static
--   SQL: PL/pgSQL prepares each once per session, and `plan_cache_mode =
--   force_generic_plan` keeps one plan for every needle (the plan is the same bitmap scan
--   of the tenant's trigram and full-text indexes whatever the needle; a type not asked
--   for is a one-time filter that skips its branch). A query without words (a phone
--   number) has its own statement without the full-text arm: in a generic plan that arm
--   stays in the recheck and computes `to_tsvector` for every trigram candidate the LIKE
--   rejects, only to compare it with NULL.
-- * The tenant rule `tenant_id = current_tenant_id()` is an index condition, but it was
--   also evaluated for every row the bitmap heap scan rechecks (the trigram index is
--   lossy, so every candidate) and again as a filter: `current_setting` and a uuid parse,
--   two or three times per row. The tenant is read once, into a variable.
-- * The word-start test, `search_text ~ p_word`, a regular expression, ran for every
--   match (about a microsecond each here). When p_word is exactly the needle
--   at a word start as domain::search::Needle writes it (checked once per call), a needle
--   at the start of the text or after a space is a word-start match without the
--   expression (a space is never alphanumeric); any other row, or any other p_word, still
--   runs it.
-- * The score was computed in `numeric` and cast to double precision, which goes through
--   text (`numeric_out`, then `strtod`) for every row. It is computed in integers:
--   `round(a / n, 4)` for positive a and n is `(20000 a + n) / (2 n)` ten-thousandths in
--   integer division (half away from zero, as numeric's round), and the double nearest
--   `k / 10000` is what both the cast from numeric and the float division give (both round
--   correctly). numeric rounds its quotient to 16 or more digits before the round to 4,
--   which cannot cross a half for n below 10^11. Checked equal, bit for bit, for a in
--   1..200 and n in 1..2,000,000 (docs/performance.md).
-- * Each branch sorts and cuts its own rows (`ORDER BY score DESC, id LIMIT p_limit`, the
--   page's order within one type, after the same cursor rule): the page is among them,
--   the union sorts at most 4 × p_limit rows, and titles and subtitles are computed for
--   those rows only. `OFFSET 0` keeps the score computed once per row (the planner would
--   otherwise fold the subquery and repeat the score's expression in the cursor's filter).
--
-- The typo queries (similarity) keep their score expression; they get the static plan,
-- the tenant variable and the per-branch cut. Columns are qualified throughout, and
-- `#variable_conflict use_column` says so, because the result columns (kind, id, score,
-- title, subtitle) are also variables in the body.
--
-- The function keeps its signature, its arguments and its results; the previous release
-- calls the same function, so it gets the new body too. No table or index changes.

CREATE OR REPLACE FUNCTION search_records(
    p_needle text, p_like text, p_word text, p_fuzzy boolean, p_words text,
    p_types text[], p_after_score double precision, p_after_type text, p_after_id uuid,
    p_limit integer
)
    RETURNS TABLE (kind text, id uuid, score double precision, title text, subtitle text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET plan_cache_mode = force_generic_plan
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
                           WHERE in_contacts AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like)
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
                           WHERE in_companies AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like)
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
                           WHERE in_leads AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like)
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
                           WHERE in_activities AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like)
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
                           WHERE in_contacts AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words)
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
                           WHERE in_companies AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words)
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
                           WHERE in_leads AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words)
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
                           WHERE in_activities AND t.tenant_id = tenant AND t.deleted_at IS NULL
                             AND (t.search_text LIKE p_like OR to_tsvector('simple', t.search_text) @@ words)
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
