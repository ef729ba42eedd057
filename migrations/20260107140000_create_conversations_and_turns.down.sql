DROP FUNCTION conversation_transcript(bigint);
DROP TABLE conversation_turns;
DROP TABLE conversations;
