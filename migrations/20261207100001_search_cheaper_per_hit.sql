-- search_records, the same rows, scores, order and cursors for the same data, at a
-- fraction of the database CPU per search (issue 22, point 4; the figures, before and
-- after on the same data, are in docs/performance.md, "Search").
--
-- A search for a surname shared by 1,000 contacts scores 1,000 rows to return 21, and
-- almost all of its cost was per row:
--
-- * The tenant rule `tenant_id = current_tenant_id()` is an index condition, but it is
--   also evaluated for every row the bitmap heap scan rechecks (the trigram index is
--   lossy, so every candidate is rechecked) and again as a filter: two or three
--   `current_setting` look-ups and uuid parses per row. The tenant is now read once and
--   passed in as a parameter (`$10`); the query is planned with its value, so the index
--   condition is the same.
-- * The score was computed in `numeric` and cast to double precision, which goes through
--   text (`numeric_out`, then `strtod`) for every row. It is now computed in integers:
--   `round(a / n, 4)` for positive a and n is `(20000 a + n) / (2 n)` ten-thousandths in
--   integer division (half away from zero, as numeric's round), and the double nearest
--   `k / 10000` is what both the cast from numeric and the float division give (both
--   round correctly). numeric's quotient is rounded to 16 or more digits before the round
--   to 4, which cannot cross a half for n below 10^11, so the result is the same bits.
-- * Each branch now sorts and cuts its own rows (`ORDER BY score DESC, id LIMIT $9`, the
--   page's order within one type, after the same cursor rule): the page is among them,
--   the union sorts at most 4 × $9 rows, and the title and subtitle are computed for
--   those rows only, not for every match. `OFFSET 0` keeps the score computed once per
--   row (without it the planner folds the subquery and repeats the score's expression in
--   the cursor's filter).
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
    AS $fn$
DECLARE
    -- Each type: its name, its table, its display title and subtitle, and the columns
    -- these two read (carried past the branch's LIMIT, where they are computed).
    branches constant text[][] := ARRAY[
        ARRAY['contact', 'contacts',
              'coalesce(nullif(btrim(coalesce(first_name, '''') || '' '' || coalesce(last_name, '''')), ''''), email)',
              'coalesce(email, phone)',
              'first_name, last_name, email, phone'],
        ARRAY['company', 'companies', 'name', 'domain', 'name, domain'],
        ARRAY['lead', 'leads', 'title',
              'coalesce(prospect_company_name, nullif(btrim(coalesce(prospect_first_name, '''') || '' '' || coalesce(prospect_last_name, '''')), ''''), prospect_email)',
              'title, prospect_company_name, prospect_first_name, prospect_last_name, prospect_email'],
        ARRAY['activity', 'activities', 'coalesce(subject, type)', 'type', 'subject, type']
    ];
    fts constant text := 'to_tsvector(''simple'', search_text) @@ to_tsquery(''simple'', $5)';
    -- The whole-field match (3), the word-start match (2) or another (1), plus the share
    -- of the text the needle covers, rounded to 4 places (the header says why integers).
    exact_score constant text := '(((CASE '
        || 'WHEN strpos(E''\x1f'' || search_text || E''\x1f'', E''\x1f'' || $1 || E''\x1f'') > 0 THEN 3 '
        || 'WHEN search_text ~ $3 THEN 2 ELSE 1 END) * 10000::bigint '
        || '+ (20000 * char_length($1)::bigint + greatest(char_length(search_text), 1)) '
        || '/ (2 * greatest(char_length(search_text), 1)::bigint))::double precision / 10000)';
    fuzzy_score constant text :=
        'least(round(word_similarity($1, search_text)::numeric, 4), 0.9999)::double precision';
    -- One branch: the type's matches after the cursor, best first, at most $9 of them.
    branch constant text := 'SELECT %1$L::text AS kind, id, score, %2$s AS title, %3$s AS subtitle '
        || 'FROM (SELECT id, score, %4$s FROM ('
        || 'SELECT id, %5$s AS score, %4$s FROM %6$I '
        || 'WHERE tenant_id = $10 AND deleted_at IS NULL AND %7$s OFFSET 0) s '
        || 'WHERE $8 IS NULL OR score < $6 OR (score = $6 AND (%1$L::text, id) > ($7, $8)) '
        || 'ORDER BY score DESC, id LIMIT $9) b';
    exact_match text;
    exact_parts text[] := '{}';
    fuzzy_parts text[] := '{}';
    page constant text := ' WHERE $8 IS NULL OR h.score < $6 OR (h.score = $6 AND (h.kind, h.id) > ($7, $8)) '
        || 'ORDER BY h.score DESC, h.kind, h.id LIMIT $9';
    found_exact bigint := 0;
    tsq text;
    -- Read once; a NULL tenant still matches nothing (`= NULL` is never true).
    tenant constant uuid := current_tenant_id();
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
            exact_parts := exact_parts || format(branch,
                branches[i][1], branches[i][3], branches[i][4], branches[i][5],
                exact_score, branches[i][2], '(' || exact_match || ')');
        END IF;
        IF p_fuzzy THEN
            fuzzy_parts := fuzzy_parts || format(branch,
                branches[i][1], branches[i][3], branches[i][4], branches[i][5],
                fuzzy_score, branches[i][2],
                '$1 <% search_text AND NOT ('
                || CASE WHEN exact_match = '' THEN 'false' ELSE exact_match END || ')');
        END IF;
    END LOOP;
    -- A cursor below 1 was left in the typo hits: the query matched nothing exactly.
    IF cardinality(exact_parts) > 0 AND (p_after_id IS NULL OR p_after_score >= 1) THEN
        RETURN QUERY EXECUTE
            'SELECT h.kind, h.id, h.score, h.title, h.subtitle FROM ('
            || array_to_string(exact_parts, ' UNION ALL ') || ') h' || page
            USING p_needle, p_like, p_word, p_fuzzy, tsq, p_after_score, p_after_type,
                  p_after_id, p_limit, tenant;
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
                  p_after_id, p_limit, tenant;
    END IF;
END
$fn$;
