-- PostgreSQL cannot mark a constraint "not validated" again, so the exact inverse is
-- to re-create both constraints as NOT VALID (the state the previous migration left).
ALTER TABLE conversation_turns DROP CONSTRAINT conversation_turns_token_count_check;
ALTER TABLE conversation_turns
    ADD CONSTRAINT conversation_turns_token_count_check
    CHECK (token_count >= 0) NOT VALID;

ALTER TABLE conversation_turns DROP CONSTRAINT conversation_turns_conversation_id_fkey;
ALTER TABLE conversation_turns
    ADD CONSTRAINT conversation_turns_conversation_id_fkey
    FOREIGN KEY (conversation_id) REFERENCES conversations (id) NOT VALID;
