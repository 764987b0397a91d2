-- The purge (`purge_trash`, SECURITY DEFINER) runs with `search_path = pg_catalog,
-- pg_temp`, and a trigger function runs with the caller's search_path unless it pins its
-- own: the two triggers that clean up after a deleted record (its custom field values,
-- its associations) name their tables unqualified, so under the purge they failed with
-- "relation does not exist" and took the purge down with them. Pinning their path makes
-- them work the same whoever deletes the record. `public` holds only the owner's objects
-- (PostgreSQL 15 grants no CREATE on it to PUBLIC, and the migrations grant none).
ALTER FUNCTION custom_field_values_sync() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION delete_associations_of_deleted() SET search_path = pg_catalog, public, pg_temp;
