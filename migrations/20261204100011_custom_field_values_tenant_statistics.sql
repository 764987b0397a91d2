-- A custom field belongs to one tenant, so `field_id = $x` already implies the tenant;
-- the planner did not know it. Row-level security adds `tenant_id = current_tenant_id()`
-- to a filter's `EXISTS` on custom_field_values, and the planner multiplied the two
-- selectivities: with 20 other tenants it expected 1/21 of a field's matching values
-- (629 of 25,000 for `tier = gold`), read all of them first, then the contacts by id and
-- sorted them (150 ms, against 1 ms with one tenant). The dependency statistics tell
-- it that field_id determines tenant_id, so it walks the tenant's created_at index and
-- probes the values as it goes, as with one tenant (docs/performance.md, "Other tenants'
-- data"). ANALYZE fills them now rather than at autovacuum's next pass; it reads a sample
-- and does not block writes.
CREATE STATISTICS IF NOT EXISTS custom_field_values_tenant_field_stats (dependencies)
    ON tenant_id, field_id FROM custom_field_values;
ANALYZE custom_field_values;
