-- SAFE: ADD COLUMN with a constant DEFAULT is metadata-only on PostgreSQL 11+;
-- no table rewrite, only a brief ACCESS EXCLUSIVE lock.
SET LOCAL lock_timeout = '5s';

ALTER TABLE conversations
    ADD COLUMN language text NOT NULL DEFAULT 'en',
    ADD COLUMN archived boolean NOT NULL DEFAULT false;
