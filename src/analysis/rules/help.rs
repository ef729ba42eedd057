//! Each rule's safe alternative in general terms (a finding carries the one for its statement):
//! the rule help of SARIF output and `lockstep lint --explain`.

/// The safe way to do what the rule flags; `None` for a rule lockstep does not know.
pub fn safe_alternative(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "require-concurrent-index" => {
            "CREATE INDEX CONCURRENTLY in a migration of its own that starts with -- no-transaction."
        }
        "require-concurrent-index-drop" => {
            "DROP INDEX CONCURRENTLY in a migration of its own that starts with -- no-transaction."
        }
        "not-in-transaction-block" => {
            "Move the statement into a migration of its own that starts with -- no-transaction."
        }
        "no-transaction-not-alone" => {
            "Give the statement a migration of its own whose first line is -- no-transaction, with nothing else in it (not even a SET: set timeouts on the connection)."
        }
        "require-concurrent-reindex" => {
            "REINDEX … CONCURRENTLY (PostgreSQL 12+), outside a transaction."
        }
        "volatile-default-rewrite" => {
            "Add the column without a default (or with a constant default on 11+), backfill it in batches, then SET DEFAULT."
        }
        "column-fill-rewrite" => {
            "Add a plain nullable column, backfill it in batches, then attach the sequence, identity or default."
        }
        "set-not-null-scan" => {
            "ADD CONSTRAINT … CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later transaction, then SET NOT NULL (12+ skips the scan) and drop the check."
        }
        "add-required-column" => {
            "Add the column nullable (or with a default), backfill it, deploy code that writes it, then make it NOT NULL."
        }
        "check-needs-not-valid" => {
            "ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a later transaction."
        }
        "foreign-key-needs-not-valid" => {
            "ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a later transaction."
        }
        "validate-in-same-transaction" => {
            "Run VALIDATE CONSTRAINT in a later migration (or a later transaction of a -- no-transaction one)."
        }
        "unique-constraint-builds-index" => {
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX."
        }
        "primary-key-builds-index" => {
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … PRIMARY KEY USING INDEX."
        }
        "exclusion-constraint" => {
            "Add it to a new or empty table, or schedule a maintenance window: there is no online form."
        }
        "column-type-rewrite" => {
            "Add a new column of the new type, backfill it in batches, switch the code over, then drop the old one (or change to a binary-coercible type)."
        }
        "missing-lock-timeout" => {
            "SET lock_timeout (e.g. '2s') before the statement, and retry on timeout; lockstep sets it for its session by default."
        }
        "missing-statement-timeout" => {
            "SET statement_timeout before the statement, sized for the table, or do the work online."
        }
        "lock-held-across-statements" => {
            "Put the statement that takes ACCESS EXCLUSIVE last in its transaction, or split the migration."
        }
        "require-concurrent-detach" => {
            "ALTER TABLE … DETACH PARTITION … CONCURRENTLY (14+), outside a transaction."
        }
        "vacuum-full-or-cluster" => {
            "Use pg_repack or pg_squeeze, or plain VACUUM, which takes no blocking lock."
        }
        "refresh-materialized-view" => {
            "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)."
        }
        "truncate-cascade" => "TRUNCATE the tables you mean by name, without CASCADE.",
        "domain-constraint" => {
            "Add the domain constraint NOT VALID and VALIDATE it later, or check the columns instead."
        }
        "enum-value-ordering" => {
            "Say where the value goes: ADD VALUE … BEFORE or AFTER an existing one."
        }
        "drop-column" => {
            "Stop reading and writing the column in the code first; drop it in a later release."
        }
        "drop-table" => "Stop using the table in the code first; drop it in a later release.",
        "delete-cascades" => {
            "Count the rows each referencing table would lose, and delete or detach them in \
             statements of their own before the DELETE, so each is reviewed."
        }
        "copy-loses-writes" => {
            "LOCK TABLE … IN EXCLUSIVE MODE before the statement that copies the table: writes wait until COMMIT (reads continue), so the copy misses nothing."
        }
        "rename-column" => {
            "Add the new column, write both, backfill, switch reads, then drop the old one (or use a view)."
        }
        "rename-table" => {
            "Create a view with the old name over the renamed table while old code still runs."
        }
        "transaction-nesting" => {
            "Drop BEGIN/COMMIT: the runner wraps the migration; or start the file with -- no-transaction."
        }
        "uncommitted-transaction" => "End every BEGIN with COMMIT in the same file.",
        "dynamic-sql" => {
            "Write out the statements the block or function would build (generated once, if \
             there are many), so that each is reviewed."
        }
        "prefer-robust-statements" => {
            "Use IF NOT EXISTS / IF EXISTS so a half-applied migration can run again."
        }
        "table-rewrite" => "Build a new table and copy online (or schedule a maintenance window).",
        "trigger-lock" => {
            "Run it at a quiet time with a short lock_timeout, in a migration of its own."
        }
        "fires-trigger" => {
            "Write the rows in small batches, each in its own transaction; or drop the trigger for the backfill and do its work once afterwards."
        }
        "function-locks" => {
            "Review the function's body with the migration; run the call at a quiet time with lock_timeout set, in a migration of its own."
        }
        "lock-table" => "Take the weakest mode that protects the work, with a short lock_timeout.",
        "unmatched-ignore-block" => {
            "Pair each `-- safety-assured:start` with a `-- safety-assured:end` after the statements it covers."
        }
        "unknown-rule-in-ignore" => {
            "Name a rule from `lockstep lint --explain` (or its squawk name) in the ignore comment."
        }
        "hidden-character" => {
            "Delete the character, or write it as an escape (E'\\u202E', U&'\\200D') so reviewers see it."
        }
        "mixed-script-identifier" => "Spell the identifier in one script.",
        "syntax-error" => "Fix the SQL so PostgreSQL can parse it.",
        "unwritten-migration" => {
            "Write the migration before it is applied anywhere: once a database records it, \
             its checksum is fixed and what you write later never runs there. For an intended \
             no-op, say so in an SQL comment."
        }
        "misplaced-no-transaction" => {
            "Make `-- no-transaction` the file's very first bytes (`lint --fix` moves it)."
        }
        "drop-view" => {
            "Deploy the code that stops reading the view first; drop it in a later migration, \
             without CASCADE (name each dependent view so nothing goes unseen)."
        }
        "create-partition-locks-parent" => {
            "Create the table on its own (LIKE the partitioned table), with a CHECK matching the \
             bounds, then ATTACH PARTITION: SHARE UPDATE EXCLUSIVE on the partitioned table (12+)."
        }
        "default-partition-scan" => {
            "Give the default partition a CHECK constraint excluding the new partition's bounds \
             (NOT VALID, then VALIDATE), or keep it empty: the scan is then skipped."
        }
        "fails-on-partitioned-table" => {
            "Index a partitioned table per partition: CREATE INDEX … ON ONLY the table, CREATE INDEX \
             CONCURRENTLY on each partition, ALTER INDEX … ATTACH PARTITION each. Before 18, add a \
             foreign key NOT VALID and VALIDATE it on each partition, then add it to the table. Drop \
             its index with DROP INDEX and a lock_timeout."
        }
        "needs-newer-server" => {
            "Write it the way the target version accepts (the finding says how), or set the \
             version production runs with --pg-version (or `pg-version` under `[lint]`)."
        }
        "modified-applied-migration" => {
            "Restore the applied migration as it was and put the change in a new migration."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::RULES;

    #[test]
    fn every_rule_has_a_safe_alternative() {
        for rule in RULES {
            assert!(
                super::safe_alternative(rule.name).is_some(),
                "{} has no safe alternative",
                rule.name
            );
        }
    }
}
