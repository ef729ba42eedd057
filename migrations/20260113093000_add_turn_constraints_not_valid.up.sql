-- SAFE (step 1 of 2): add the foreign key and CHECK as NOT VALID.
-- Existing rows are not scanned; new and updated rows are checked from now on.
-- VALIDATE CONSTRAINT runs in the next migration, i.e. in a separate transaction.
SET LOCAL lock_timeout = '5s';

ALTER TABLE conversation_turns
    ADD CONSTRAINT conversation_turns_conversation_id_fkey
    FOREIGN KEY (conversation_id) REFERENCES conversations (id) NOT VALID;

ALTER TABLE conversation_turns
    ADD CONSTRAINT conversation_turns_token_count_check
    CHECK (token_count >= 0) NOT VALID;
