-- RISKY: SET NOT NULL takes ACCESS EXCLUSIVE and scans the whole table to prove
-- there are no NULLs; reads and writes on conversations wait for the scan.
-- Safe alternative: CHECK (template_id IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL.
ALTER TABLE conversations ALTER COLUMN template_id SET NOT NULL;
