//! Every rule lockstep knows, with its catalogue row, severity, axis and squawk aliases.

use serde::Serialize;

use crate::analysis::{Axis, Severity};

/// One rule's static description.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RuleInfo {
    /// Stable kebab-case name.
    pub name: &'static str,
    /// Rows of the reference catalogue (§5) it implements; empty for lockstep-only rules.
    pub catalogue: &'static [u32],
    /// Default severity.
    pub severity: Severity,
    /// Which axis it is on.
    pub axis: Axis,
    /// squawk rule names accepted in ignore comments for it.
    pub squawk: &'static [&'static str],
    /// One line saying what it catches.
    pub summary: &'static str,
}

const fn rule(
    name: &'static str,
    catalogue: &'static [u32],
    severity: Severity,
    axis: Axis,
    squawk: &'static [&'static str],
    summary: &'static str,
) -> RuleInfo {
    RuleInfo {
        name,
        catalogue,
        severity,
        axis,
        squawk,
        summary,
    }
}

use Axis::{
    Compatibility as Compat, LockHazard as Lock, ReviewIntegrity as Review, Robustness as Robust,
};
use Severity::{Error, Info, Warning};

/// All rules.
pub const RULES: &[RuleInfo] = &[
    rule(
        "require-concurrent-index",
        &[1],
        Error,
        Lock,
        &["require-concurrent-index-creation"],
        "CREATE INDEX on an existing table blocks writes for the whole build; use CONCURRENTLY",
    ),
    rule(
        "require-concurrent-index-drop",
        &[2],
        Warning,
        Lock,
        &["require-concurrent-index-deletion"],
        "DROP INDEX takes ACCESS EXCLUSIVE on the table; use DROP INDEX CONCURRENTLY",
    ),
    rule(
        "not-in-transaction-block",
        &[3],
        Error,
        Robust,
        &["ban-concurrent-index-creation-in-transaction"],
        "CONCURRENTLY, VACUUM and friends fail inside a transaction block",
    ),
    rule(
        "require-concurrent-reindex",
        &[4],
        Error,
        Lock,
        &["require-concurrent-reindex"],
        "REINDEX locks the table (SHARE) and each index (ACCESS EXCLUSIVE); use REINDEX CONCURRENTLY",
    ),
    rule(
        "volatile-default-rewrite",
        &[5],
        Error,
        Lock,
        &["adding-field-with-default"],
        "ADD COLUMN with a volatile default (or any default before 11) rewrites the table under ACCESS EXCLUSIVE",
    ),
    rule(
        "column-fill-rewrite",
        &[6],
        Error,
        Lock,
        &[
            "adding-field-with-default",
            "adding-serial-primary-key-field",
        ],
        "ADD COLUMN of a serial, identity or STORED generated column rewrites the table",
    ),
    rule(
        "set-not-null-scan",
        &[7],
        Error,
        Lock,
        &["adding-not-nullable-field"],
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a valid CHECK proves it (12+)",
    ),
    rule(
        "add-required-column",
        &[8],
        Error,
        Compat,
        &["adding-required-field"],
        "ADD COLUMN … NOT NULL without a default fails on a non-empty table and breaks old INSERTs",
    ),
    rule(
        "check-needs-not-valid",
        &[9],
        Error,
        Lock,
        &["constraint-missing-not-valid"],
        "ADD CHECK scans the table under ACCESS EXCLUSIVE; add it NOT VALID and VALIDATE later",
    ),
    rule(
        "foreign-key-needs-not-valid",
        &[10],
        Error,
        Lock,
        &[
            "adding-foreign-key-constraint",
            "constraint-missing-not-valid",
        ],
        "ADD FOREIGN KEY blocks writes on both tables during validation; add it NOT VALID and VALIDATE later",
    ),
    rule(
        "validate-in-same-transaction",
        &[11],
        Error,
        Lock,
        &["constraint-missing-not-valid"],
        "VALIDATE in the transaction that added the NOT VALID constraint keeps its lock: the split buys nothing",
    ),
    rule(
        "unique-constraint-builds-index",
        &[12],
        Error,
        Lock,
        &["disallowed-unique-constraint"],
        "ADD UNIQUE builds an index under ACCESS EXCLUSIVE; build it concurrently and add USING INDEX",
    ),
    rule(
        "primary-key-builds-index",
        &[13],
        Error,
        Lock,
        &["adding-serial-primary-key-field"],
        "ADD PRIMARY KEY builds an index under ACCESS EXCLUSIVE; build it concurrently and add USING INDEX",
    ),
    rule(
        "exclusion-constraint",
        &[14],
        Error,
        Lock,
        &[],
        "ADD EXCLUDE builds an index under ACCESS EXCLUSIVE and has no online form",
    ),
    rule(
        "column-type-rewrite",
        &[15],
        Error,
        Lock,
        &["changing-column-type"],
        "ALTER COLUMN TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE unless binary-coercible",
    ),
    rule(
        "missing-lock-timeout",
        &[17],
        Warning,
        Lock,
        &["require-lock-timeout", "require-timeout-settings"],
        "A blocking lock is requested without lock_timeout: a queued request blocks every later query",
    ),
    rule(
        "missing-statement-timeout",
        &[17],
        Warning,
        Lock,
        &["require-statement-timeout", "require-timeout-settings"],
        "A scan or rewrite runs under a blocking lock without statement_timeout",
    ),
    rule(
        "lock-held-across-statements",
        &[18],
        Warning,
        Lock,
        &[],
        "More work runs while an ACCESS EXCLUSIVE lock from an earlier statement is still held",
    ),
    rule(
        "require-concurrent-detach",
        &[20],
        Error,
        Lock,
        &["require-concurrent-partition-detach"],
        "DETACH PARTITION takes ACCESS EXCLUSIVE on parent and partition; use CONCURRENTLY (14+)",
    ),
    rule(
        "vacuum-full-or-cluster",
        &[22],
        Error,
        Lock,
        &["prefer-repack"],
        "VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE",
    ),
    rule(
        "refresh-materialized-view",
        &[23],
        Warning,
        Lock,
        &[],
        "REFRESH MATERIALIZED VIEW blocks reads of the view; use CONCURRENTLY",
    ),
    rule(
        "truncate-cascade",
        &[24],
        Error,
        Lock,
        &["ban-truncate-cascade"],
        "TRUNCATE … CASCADE locks and empties every table reached through foreign keys",
    ),
    rule(
        "domain-constraint",
        &[25],
        Warning,
        Lock,
        &[
            "ban-create-domain-with-constraint",
            "ban-alter-domain-with-add-constraint",
        ],
        "Domain CHECK constraints are checked against every column using the domain",
    ),
    rule(
        "enum-value-ordering",
        &[26],
        Info,
        Robust,
        &["require-enum-value-ordering"],
        "ALTER TYPE … ADD VALUE without BEFORE/AFTER appends the value at the end of the sort order",
    ),
    rule(
        "drop-column",
        &[27],
        Warning,
        Compat,
        &["ban-drop-column"],
        "DROP COLUMN breaks application versions still reading or writing the column",
    ),
    rule(
        "drop-table",
        &[28],
        Warning,
        Compat,
        &["ban-drop-table"],
        "DROP TABLE breaks running code and locks every referenced table",
    ),
    rule(
        "delete-cascades",
        &[],
        Warning,
        Robust,
        &[],
        "A DELETE also deletes or changes rows of the tables whose foreign keys reference it (ON DELETE CASCADE, SET NULL, SET DEFAULT)",
    ),
    rule(
        "copy-loses-writes",
        &[],
        Error,
        Compat,
        &[],
        "A table copied under a lock that lets writes through, then dropped in the same transaction: rows written in between are lost",
    ),
    rule(
        "drop-view",
        &[],
        Warning,
        Compat,
        &["ban-drop-view"],
        "DROP VIEW breaks running code that still reads the view (and CASCADE drops the views built on it)",
    ),
    rule(
        "rename-column",
        &[32],
        Warning,
        Compat,
        &["renaming-column"],
        "RENAME COLUMN breaks application versions using the old name",
    ),
    rule(
        "rename-table",
        &[33],
        Warning,
        Compat,
        &["renaming-table"],
        "RENAME TO breaks application versions using the old table name",
    ),
    rule(
        "transaction-nesting",
        &[48],
        Error,
        Robust,
        &["transaction-nesting"],
        "BEGIN/COMMIT inside a runner-wrapped migration, or a nested BEGIN",
    ),
    rule(
        "dynamic-sql",
        &[],
        Warning,
        Review,
        &[],
        "A DO block, or a function a statement runs, builds SQL at run time (EXECUTE): its locks and changes are not in the text",
    ),
    rule(
        "uncommitted-transaction",
        &[49],
        Error,
        Robust,
        &["ban-uncommitted-transaction"],
        "BEGIN without COMMIT: the work is rolled back when the connection closes",
    ),
    rule(
        "prefer-robust-statements",
        &[50],
        Warning,
        Robust,
        &["prefer-robust-stmts"],
        "Outside a transaction a half-applied migration is re-run: use IF [NOT] EXISTS",
    ),
    rule(
        "table-rewrite",
        &[],
        Error,
        Lock,
        &[],
        "SET TABLESPACE, SET LOGGED/UNLOGGED and SET ACCESS METHOD copy the table under ACCESS EXCLUSIVE",
    ),
    rule(
        "trigger-lock",
        &[],
        Warning,
        Lock,
        &[],
        "CREATE/DROP/ENABLE/DISABLE TRIGGER block writes (SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE)",
    ),
    rule(
        "fires-trigger",
        &[],
        Warning,
        Lock,
        &[],
        "A statement fires a trigger whose function blocks writes to a table or materialized view (REFRESH, LOCK, DDL), once per statement or once per row",
    ),
    rule(
        "function-locks",
        &[],
        Warning,
        Lock,
        &[],
        "A statement calls a function (SELECT f(), CALL p()) whose body blocks writes to a table or materialized view",
    ),
    rule(
        "lock-table",
        &[],
        Warning,
        Lock,
        &[],
        "LOCK TABLE takes a blocking lock (ACCESS EXCLUSIVE when no mode is given)",
    ),
    rule(
        "unknown-rule-in-ignore",
        &[],
        Warning,
        Robust,
        &["unused-ignore"],
        "An ignore comment names a rule lockstep does not know",
    ),
    rule(
        "unmatched-ignore-block",
        &[],
        Warning,
        Robust,
        &[],
        "A `-- safety-assured:start` without its `-- safety-assured:end`, or the reverse: the block suppresses nothing",
    ),
    rule(
        "hidden-character",
        &[],
        Error,
        Review,
        &[],
        "A control, bidirectional or invisible character (in code, a string literal or a comment) makes the SQL read differently from how PostgreSQL parses it",
    ),
    rule(
        "mixed-script-identifier",
        &[],
        Info,
        Review,
        &[],
        "An identifier mixes scripts (a Cyrillic а in a Latin name): it can pass for another name",
    ),
    rule(
        "modified-applied-migration",
        &[],
        Error,
        Robust,
        &[],
        "A migration already applied (present at the base ref) was edited: its checksum no longer matches the database's",
    ),
    rule(
        "unwritten-migration",
        &[],
        Warning,
        Robust,
        &[],
        "The migration is still the template from `lockstep new`: it runs nothing and is recorded as applied",
    ),
    rule(
        "misplaced-no-transaction",
        &[],
        Warning,
        Robust,
        &[],
        "`-- no-transaction` below the first line: sqlx does not see it and runs the file in a transaction",
    ),
    rule(
        "no-transaction-not-alone",
        &[],
        Error,
        Robust,
        &[],
        "A statement that cannot run in a transaction block shares its -- no-transaction file with others: sqlx runs the file as one implicit transaction, and it fails",
    ),
    rule(
        "create-partition-locks-parent",
        &[],
        Warning,
        Lock,
        &[],
        "CREATE TABLE … PARTITION OF takes ACCESS EXCLUSIVE on the partitioned table; create the table alone and ATTACH PARTITION (SHARE UPDATE EXCLUSIVE, 12+)",
    ),
    rule(
        "default-partition-scan",
        &[21],
        Error,
        Lock,
        &[],
        "A new partition locks (ACCESS EXCLUSIVE) and scans the default partition; a CHECK on the default partition excluding the new bounds skips the scan",
    ),
    rule(
        "fails-on-partitioned-table",
        &[1, 10],
        Error,
        Robust,
        &[],
        "PostgreSQL refuses this on a partitioned table: CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY of its index, a NOT VALID foreign key before 18, DETACH … CONCURRENTLY beside a default partition",
    ),
    rule(
        "needs-newer-server",
        &[],
        Error,
        Robust,
        &[],
        "Syntax the target PostgreSQL version refuses (MERGE and NULLS NOT DISTINCT before 15, CREATE OR REPLACE TRIGGER and DETACH … CONCURRENTLY before 14, REINDEX CONCURRENTLY before 12, a named NOT NULL constraint before 18)",
    ),
    rule(
        "syntax-error",
        &[],
        Error,
        Robust,
        &["syntax-error"],
        "The parser could not read this part of the file",
    ),
];

/// The rule with this lockstep name.
pub fn lookup(name: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.name == name)
}

/// The lockstep rules a name in an ignore comment refers to: the rule itself, or every rule that
/// accepts it as a squawk alias. Empty when the name is unknown.
pub fn resolve(name: &str) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|r| r.name == name || r.squawk.contains(&name))
        .map(|r| r.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
        }
        assert_eq!(resolve("constraint-missing-not-valid").len(), 3);
        assert!(resolve("no-such-rule").is_empty());
    }

    #[test]
    fn catalogue_rows_required_by_the_issue_are_covered() {
        let required = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 20, 22, 23, 24, 25, 26, 27,
            28, 32, 33, 48, 49, 50,
        ];
        for row in required {
            assert!(
                RULES.iter().any(|r| r.catalogue.contains(&row)),
                "row {row}"
            );
        }
    }
}
