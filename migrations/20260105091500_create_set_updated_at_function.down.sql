-- Every table that uses the function is dropped by a later migration's DOWN first.
DROP FUNCTION set_updated_at();
