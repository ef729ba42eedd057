ALTER TABLE conversations DROP COLUMN public_id;
