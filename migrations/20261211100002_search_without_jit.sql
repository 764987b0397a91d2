-- The search compiles nothing: `jit = off` for search_records, beside its other settings.
--
-- Its generic plan's estimated cost grows with the tables' sizes (the planner scales its
-- row estimates by each table's current pages), and once it passed `jit_above_cost`
-- (100,000) PostgreSQL compiled the plan with LLVM at every call: a generic plan is
-- reused, its JIT code is not. Measured on one tenant of 100,000 contacts among 20 others
-- of the same shape (2.1 million contacts), 16 concurrent searches, pgbench as the runtime
-- role: 970 searches a second at first; after 20 s of inserts grew the measured tenant
-- to 180,000 contacts, 31 a second (p50 512 ms), 48 ms of each search spent compiling 57
-- functions (`auto_explain`: "JIT: ... Emission 40.461 ms, Total 48.079 ms") for a plan
-- that then ran in 3.6 ms. With `jit = off` on the function, 640 a second on the same
-- data. A search is one tenant's small read; compiling pays only for long scans.
--
-- ALTER FUNCTION rewrites the function's settings in place: callers keep calling it, and
-- the previous release calls the same function. A later CREATE OR REPLACE must repeat
-- this SET (a test reads the catalog for it).
ALTER FUNCTION search_records(text, text, text, boolean, text, text[], double precision, text, uuid, integer)
    SET jit = off;
