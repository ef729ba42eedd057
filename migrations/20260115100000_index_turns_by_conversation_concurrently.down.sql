-- no-transaction
DROP INDEX CONCURRENTLY conversation_turns_conversation_id_turn_index_key;
