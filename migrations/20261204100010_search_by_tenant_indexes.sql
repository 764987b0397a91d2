-- The search reads through the indexes that lead with the tenant (20261204100002 to
-- ...100009), and the indexes without it go.
--
-- Before, each text index held every tenant's rows and the search filtered the tenant
-- out of the matches afterwards: a surname shared by 1% of the contacts cost 1% of
-- *all* tenants' contacts, so one tenant's search slowed down as others grew. Now the
-- index scan's condition includes `tenant_id = current_tenant_id()`, and GIN reads the
-- text's posting lists only where they meet this tenant's (figures, before and after,
-- with 20 other tenants: docs/performance.md, "Other tenants' data").
--
-- search_records keeps its signature, its arguments and its results: only the tenant
-- rule is written so the planner can use it (it was `(...) IS TRUE`, which kept the
-- planner from AND-ing the text indexes with the tenant's btree index; with the tenant
-- inside the GIN index that is no longer a risk). Same rows, same scores, same order.
-- The previous release calls the same function, so it gets the new body too.
--
-- `lock_timeout`: dropping an index takes a brief exclusive lock on its table; if a long
-- transaction holds the table, fail after 5 s (run it again) rather than queue every
-- request behind the lock.

SET LOCAL lock_timeout = '5s';

-- An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index, which the rerun's
-- `IF NOT EXISTS` then skipped: refuse to drop the old indexes, and say how to rebuild it.
DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(n.name, ', ') INTO bad
      FROM unnest(ARRAY['contacts_tenant_search_trgm_idx', 'contacts_tenant_search_fts_idx',
                        'companies_tenant_search_trgm_idx', 'companies_tenant_search_fts_idx',
                        'leads_tenant_search_trgm_idx', 'leads_tenant_search_fts_idx',
                        'activities_tenant_search_trgm_idx', 'activities_tenant_search_fts_idx'])
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
    AS $fn$
DECLARE
    -- The tenant rule is a plain `tenant_id = current_tenant_id()` (STABLE, so an index
    -- condition): the text indexes lead with tenant_id, and the scan reads only this
    -- tenant's matches. A NULL tenant still matches nothing (`= NULL` is never true).
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
                || 'WHERE tenant_id = current_tenant_id() AND deleted_at IS NULL AND (%s)',
                branches[i][1], branches[i][3], branches[i][4], branches[i][2], exact_match);
        END IF;
        IF p_fuzzy THEN
            fuzzy_parts := fuzzy_parts || format(
                'SELECT %L::text AS kind, id, '
                || 'least(round(word_similarity($1, search_text)::numeric, 4), 0.9999)::double precision AS score, '
                || '%s AS title, %s AS subtitle FROM %I '
                || 'WHERE tenant_id = current_tenant_id() AND deleted_at IS NULL '
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

DROP INDEX IF EXISTS contacts_search_trgm_idx, contacts_search_fts_idx,
    companies_search_trgm_idx, companies_search_fts_idx,
    leads_search_trgm_idx, leads_search_fts_idx,
    activities_search_trgm_idx, activities_search_fts_idx;
