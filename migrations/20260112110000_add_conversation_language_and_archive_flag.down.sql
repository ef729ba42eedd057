ALTER TABLE conversations
    DROP COLUMN archived,
    DROP COLUMN language;
