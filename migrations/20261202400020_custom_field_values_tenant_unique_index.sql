-- no-transaction
-- The future `custom_field_values_unique_key` (the `unique` rule of custom fields), with
-- the tenant: (field_id, v_text, tenant_id) for live values of unique fields. It keeps
-- `field_id` first like the table's other indexes (a field belongs to one tenant, so it
-- is the more selective prefix); the tenant is there so a shard can enforce the rule on
-- its own rows. 20261202400021 swaps it in under the old name. Built CONCURRENTLY, alone
-- in its migration, as the primary keys' indexes are.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS custom_field_values_tenant_unique_key
    ON custom_field_values (field_id, v_text, tenant_id) WHERE is_unique AND live;
