-- RISKY: gen_random_uuid() is VOLATILE, so every existing row needs its own value:
-- the table is rewritten under ACCESS EXCLUSIVE (reads and writes blocked).
-- Safe alternative: add the column nullable, SET DEFAULT, backfill in batches, then NOT NULL.
ALTER TABLE conversations
    ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
