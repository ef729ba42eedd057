-- RISKY: integer -> bigint is not binary-coercible: ACCESS EXCLUSIVE plus a full rewrite
-- of conversation_turns and a rebuild of every index on it.
ALTER TABLE conversation_turns ALTER COLUMN token_count TYPE bigint;
