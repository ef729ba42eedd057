ALTER TABLE conversations ALTER COLUMN template_id DROP NOT NULL;
