-- SAFE (step 2 of 2): VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE
-- (plus ROW SHARE on conversations for the FK); reads and writes keep flowing.
ALTER TABLE conversation_turns VALIDATE CONSTRAINT conversation_turns_conversation_id_fkey;
ALTER TABLE conversation_turns VALIDATE CONSTRAINT conversation_turns_token_count_check;
