-- Remove the demo data and reset every identity sequence to its start.
-- All tables that reference each other are listed, so no CASCADE is needed.
TRUNCATE evaluations, conversation_turns, conversations, batch_jobs,
         conversation_templates, scenarios, personas
    RESTART IDENTITY;
