-- Shared trigger function that stamps updated_at on every UPDATE.
-- Tables opt in with: CREATE TRIGGER ... BEFORE UPDATE ... EXECUTE FUNCTION set_updated_at();
-- The body is dollar-quoted, so the semicolons inside it are not statement ends.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Skip no-op updates; the row is left untouched.
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION set_updated_at() IS 'BEFORE UPDATE trigger; sets NEW.updated_at := now()';
