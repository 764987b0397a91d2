-- Bounds the pending lists of the GIN indexes that reads scan: the search's (tagged
-- trigrams and lexemes, and the typo arm's trigrams) and the duplicate suggestions'.
--
-- With `fastupdate` (on by default) an insert appends its keys to the index's pending
-- list, and they reach the index proper only when the list outgrows
-- `gin_pending_list_limit` (4 MB by default) or vacuum runs. Every scan of the index
-- reads the whole list. After a burst of writes (an import, or the bench's create case)
-- each search read up to 4 MB of pending keys in each index it probes: measured on
-- 100,000 contacts, 16 concurrent searches went from 936 a second on clean indexes to
-- 355-583 after 10 s of creates. With 1 MB they stayed at 870 (-7%), for 4% fewer
-- creates a second; 256 kB cost 16% of the creates for the same searches, and
-- `fastupdate = off` cost 53%. docs/performance.md has the runs.
--
-- `ALTER INDEX ... SET` takes an ACCESS EXCLUSIVE lock on the index alone, for as long as
-- it takes to rewrite one catalog row; `lock_timeout` makes a migration that waits behind
-- a long transaction fail instead of queueing every query on the table behind it.
SET LOCAL lock_timeout = '5s';

ALTER INDEX contacts_search_trigrams_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX contacts_search_lexemes_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX contacts_tenant_search_trgm_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX contacts_full_name_trgm_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX companies_search_trigrams_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX companies_search_lexemes_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX companies_tenant_search_trgm_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX leads_search_trigrams_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX leads_search_lexemes_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX leads_tenant_search_trgm_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX activities_search_trigrams_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX activities_search_lexemes_idx SET (gin_pending_list_limit = 1024);
ALTER INDEX activities_tenant_search_trgm_idx SET (gin_pending_list_limit = 1024);
