-- RISKY: a plain CREATE INDEX on a populated table holds a SHARE lock for the whole
-- build, blocking INSERT/UPDATE/DELETE on conversations (reads still work).
-- Safe alternative: CREATE INDEX CONCURRENTLY in its own -- no-transaction migration.
CREATE INDEX conversations_status_created_at_idx ON conversations (status, created_at);
