ALTER TABLE conversation_turns ALTER COLUMN token_count TYPE integer;
