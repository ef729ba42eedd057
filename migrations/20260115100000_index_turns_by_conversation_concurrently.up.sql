-- no-transaction
-- SAFE: built with CONCURRENTLY (SHARE UPDATE EXCLUSIVE; writes keep flowing), so this file
-- must run outside a transaction and holds a single statement: PostgreSQL runs a multi-statement
-- query string as one implicit transaction, where CONCURRENTLY is refused.
-- If it fails, drop the INVALID index it leaves behind before retrying.
CREATE UNIQUE INDEX CONCURRENTLY conversation_turns_conversation_id_turn_index_key
    ON conversation_turns (conversation_id, turn_index);
