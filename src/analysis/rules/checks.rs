//! The per-action checks: each looks at one action of a statement, with its lock-model facts, and
//! drafts findings. Messages are built from the lock facts, never from per-rule lock strings.

use std::ops::Range;

use crate::analysis::coercion::TypeChange;
use crate::analysis::describe::{Action, DefaultKind, Detail};
use crate::analysis::locks::LockMode;
use crate::analysis::model::{Cost, Shape, at_least};
use crate::analysis::{Fix, Runner, Severity, TextEdit};

/// A finding before positions and registry data are filled in.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    /// Rule name (must be in the registry).
    pub rule: &'static str,
    /// Overrides the registry severity.
    pub severity: Option<Severity>,
    /// Byte range.
    pub span: Range<usize>,
    /// Table concerned.
    pub table: Option<String>,
    /// Lock concerned.
    pub lock: Option<LockMode>,
    /// Message.
    pub message: String,
    /// Safe alternative.
    pub safe_alternative: Option<String>,
    /// Fix.
    pub fix: Option<Fix>,
}

impl Draft {
    pub(crate) fn new(rule: &'static str, span: Range<usize>, message: String) -> Draft {
        Draft {
            rule,
            severity: None,
            span,
            table: None,
            lock: None,
            message,
            safe_alternative: None,
            fix: None,
        }
    }

    /// The table and lock the finding is about.
    pub(crate) fn on(mut self, table: &str, lock: LockMode) -> Draft {
        self.table = Some(table.to_string());
        self.lock = Some(lock);
        self
    }

    /// The safe alternative.
    pub(crate) fn help(mut self, alternative: impl Into<String>) -> Draft {
        self.safe_alternative = Some(alternative.into());
        self
    }

    fn fix(mut self, fix: Option<Fix>) -> Draft {
        self.fix = fix;
        self
    }

    fn severity(mut self, severity: Severity) -> Draft {
        self.severity = Some(severity);
        self
    }
}

/// The facts of one action as the lock model computes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionFacts {
    /// Lock mode taken.
    pub mode: LockMode,
    /// Work under the lock.
    pub cost: Cost,
    /// The relation was created earlier in this migration or run.
    pub new_relation: bool,
}

/// What a check may know about the surroundings.
#[derive(Debug, Clone)]
pub(crate) struct CheckCtx {
    /// Target version.
    pub pg_version: u32,
    /// The statement runs in a transaction block.
    pub in_transaction: bool,
    /// The transaction is the runner's wrapper and a `-- no-transaction` first line removes it
    /// (sqlx's; diesel's is a setting in `metadata.toml`, which no edit of the file changes).
    pub marker_removes_transaction: bool,
    /// For SET NOT NULL: a valid CHECK proves the column non-null.
    pub not_null_proven: bool,
    /// For VALIDATE: the constraint was added in the same transaction.
    pub added_in_same_transaction: bool,
    /// For ALTER COLUMN TYPE: the verdict.
    pub type_change: Option<TypeChange>,
    /// For an index: its table, when known.
    pub index_table: Option<String>,
    /// For DROP TABLE: the tables its foreign keys reference, when the schema knows them all.
    pub referenced_tables: Option<Vec<String>>,
    /// For ALTER COLUMN TYPE: the other tables of the foreign keys on the column (each key is
    /// re-created, locking them too).
    pub key_tables: Vec<String>,
    /// For DROP TABLE or RENAME TO: where the same transaction gives the name to another table
    /// (`statement 4`, `later in this statement`).
    pub replaced_by: Option<String>,
    /// The tool that runs the migration, for where advice sends a statement.
    pub runner: Runner,
    /// The partitions of the action's table (for an index: of its table), when that table is
    /// partitioned.
    pub partitions: Option<Vec<String>>,
    /// Of those, the ones that hold rows (not partitioned in turn): advice builds indexes and
    /// keys there.
    pub leaf_partitions: Vec<String>,
    /// For DROP TABLE of a partition: its partitioned table, which the drop locks too.
    pub partition_parent: Option<String>,
    /// The default partition (existing before the migration) the action meets: checked for a
    /// new partition's rows (CREATE TABLE … PARTITION OF, ATTACH), or re-bounded when a partition
    /// leaves (DETACH, DROP TABLE).
    pub default_partition: Option<String>,
}

/// `an ACCESS EXCLUSIVE lock on "t" (blocks reads and writes)`, `a SHARE lock on "t" (blocks
/// writes, not reads)`: written out only when a message that uses it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ALock<'a>(pub LockMode, pub &'a str);

impl std::fmt::Display for ALock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ALock(mode, relation) = *self;
        let article = if mode.sql_name().starts_with(['A', 'E']) {
            "an"
        } else {
            "a"
        };
        write!(
            f,
            "{article} {mode} lock on \"{relation}\" ({})",
            mode.blocking_summary()
        )
    }
}

fn cost_phrase(cost: Cost) -> &'static str {
    match cost {
        Cost::None => "",
        Cost::Scan => " for a full scan of the table",
        Cost::Rewrite => " while it rewrites the table and its indexes",
    }
}

fn insert(at: usize, text: &str) -> TextEdit {
    TextEdit {
        span: at..at,
        replacement: text.to_string(),
    }
}

/// The `-- no-transaction` edit, when the runner's wrapper is what makes a statement fail.
pub(crate) fn no_transaction_edit(ctx: &CheckCtx) -> Option<TextEdit> {
    ctx.marker_removes_transaction
        .then(|| insert(0, "-- no-transaction\n"))
}

fn concurrently_fix(ctx: &CheckCtx, at: usize, what: &str) -> Option<Fix> {
    let mut edits = vec![];
    let mut description = format!("add CONCURRENTLY to the {what}");
    if ctx.in_transaction {
        edits.push(no_transaction_edit(ctx)?);
        description.push_str(
            " and mark the migration `-- no-transaction` (move any other statements to their own migration)",
        );
    }
    edits.push(insert(at, " CONCURRENTLY"));
    Some(Fix { description, edits })
}

fn not_valid_fix(at: usize, name: Option<&str>) -> Fix {
    let validate = match name {
        Some(name) => format!("ALTER TABLE … VALIDATE CONSTRAINT {name}"),
        None => "name the constraint and VALIDATE it".to_string(),
    };
    Fix {
        description: format!("add NOT VALID; then run {validate} in a separate migration"),
        edits: vec![insert(at, " NOT VALID")],
    }
}

/// Drafts the findings for one action.
pub(crate) fn check_action(a: &Action, f: ActionFacts, ctx: &CheckCtx) -> Vec<Draft> {
    let mut out = Vec::new();
    let rel = a.relation.as_str();
    let span = a.span.clone();
    let mode = f.mode;
    let locked = ALock(mode, rel);
    let cost = cost_phrase(f.cost);
    // Compatibility findings apply to existing relations only, like lock findings.
    if f.new_relation {
        return out;
    }
    match (&a.shape, &a.detail) {
        (Shape::CreateIndex, Detail::CreateIndex { insert_at }) => {
            let mut d = Draft::new(
                "require-concurrent-index",
                span,
                format!("CREATE INDEX takes {locked}{cost}"),
            )
            .on(rel, mode);
            d = match &ctx.partitions {
                // CONCURRENTLY is refused on a partitioned table: no fix adds it.
                Some(_) => d.help(super::partitioned::index_recipe(
                    rel,
                    &ctx.leaf_partitions,
                    ctx,
                )),
                None => d
                    .help(format!(
                        "CREATE INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE, writes continue) {}; \
                         if it fails, drop the INVALID index and retry",
                        ctx.runner.outside_transaction_home()
                    ))
                    .fix(concurrently_fix(ctx, *insert_at, "CREATE INDEX")),
            };
            if ctx.pg_version == 14 {
                d.message.push_str(
                    " (note: PostgreSQL 14.0–14.3 can corrupt indexes built CONCURRENTLY; run 14.4+)",
                );
            }
            out.push(d);
        }
        (Shape::DropIndex, Detail::Concurrently { insert_at }) => out.push(
            Draft::new(
                "require-concurrent-index-drop",
                span,
                match &ctx.index_table {
                    Some(table) => format!(
                        "DROP INDEX \"{rel}\" takes {} as well as on the index; brief, but a queued request blocks every later query",
                        ALock(mode, table)
                    ),
                    None => format!(
                        "DROP INDEX \"{rel}\" takes an {mode} lock on its table (blocks reads and writes); brief, but a queued request blocks every later query"
                    ),
                },
            )
            .on(ctx.index_table.as_deref().unwrap_or(rel), mode)
            .help(match (&ctx.partitions, &ctx.index_table) {
                (Some(_), Some(table)) => super::partitioned::drop_index_advice(table),
                _ => format!(
                    "DROP INDEX CONCURRENTLY (one index per statement, no CASCADE) {}",
                    ctx.runner.outside_transaction_home()
                ),
            })
            .fix((*insert_at > 0 && ctx.partitions.is_none()).then(|| concurrently_fix(ctx, *insert_at, "DROP INDEX")).flatten()),
        ),
        (
            Shape::Reindex | Shape::ReindexIndexes | Shape::ReindexIndex,
            Detail::Concurrently { insert_at },
        ) if a.shape != Shape::Reindex => {
            let can = at_least(ctx.pg_version, 12);
            let message = match (a.shape, ctx.index_table.as_deref()) {
                (Shape::ReindexIndex, Some(table)) => format!(
                    "REINDEX INDEX takes an {mode} lock on \"{rel}\" and SHARE on its table \"{table}\" (blocks writes); a query planned on \"{table}\" opens its indexes, so reads wait too while the index is rebuilt"
                ),
                (Shape::ReindexIndex, None) => format!(
                    "REINDEX INDEX takes an {mode} lock on \"{rel}\" and SHARE on its table (blocks writes); a query planned on the table opens its indexes, so reads wait too while the index is rebuilt"
                ),
                _ => format!(
                    "REINDEX takes SHARE on the table and an {mode} lock on each index of \"{rel}\"; queries that plan with those indexes block while every index is rebuilt"
                ),
            };
            let mut d = Draft::new("require-concurrent-reindex", span, message).on(rel, mode);
            if can {
                d = d
                    .help(format!(
                        "REINDEX … CONCURRENTLY (12+) {}",
                        ctx.runner.outside_transaction_home()
                    ))
                    .fix(concurrently_fix(ctx, *insert_at, "REINDEX"));
            } else {
                d = d.help("upgrade to 12+ for REINDEX CONCURRENTLY, or build a new index concurrently and drop the old one");
            }
            out.push(d);
        }
        (
            Shape::AddColumnRewrite | Shape::AddColumnDefault | Shape::AddColumn,
            Detail::AddColumn {
                column,
                not_null,
                default,
                rewrite_reason,
            },
        ) => {
            if let Some(reason) = rewrite_reason {
                out.push(
                    Draft::new(
                        "column-fill-rewrite",
                        span.clone(),
                        format!(
                            "ADD COLUMN \"{column}\" rewrites \"{rel}\": {reason}; it holds {locked} for the whole rewrite"
                        ),
                    )
                    .on(rel, mode)
                    .help(
                        "add a nullable column, fill it with a trigger plus batched backfill, or create a new table and swap",
                    ),
                );
            } else if f.cost == Cost::Rewrite {
                let why = if *default == DefaultKind::Volatile {
                    "its default is volatile (or not known to be stable), so every row gets its own value".to_string()
                } else {
                    format!(
                        "before PostgreSQL 11 any default rewrites the table (target: {})",
                        ctx.pg_version
                    )
                };
                out.push(
                    Draft::new(
                        "volatile-default-rewrite",
                        span.clone(),
                        format!(
                            "ADD COLUMN \"{column}\" rewrites \"{rel}\" because {why}; it holds {locked} for the whole rewrite"
                        ),
                    )
                    .on(rel, mode)
                    .help(
                        "add the column without a default, SET DEFAULT, backfill in batches, then make it NOT NULL via a NOT VALID CHECK",
                    ),
                );
            }
            if *not_null && *default == DefaultKind::None && rewrite_reason.is_none() {
                out.push(
                    Draft::new(
                        "add-required-column",
                        span,
                        format!(
                            "ADD COLUMN \"{column}\" NOT NULL without a default fails on a non-empty \"{rel}\", and running code that INSERTs without it breaks"
                        ),
                    )
                    .on(rel, mode)
                    .help(if at_least(ctx.pg_version, 11) {
                        "add it nullable (or NOT NULL DEFAULT <constant>, metadata-only on 11+) and deploy code that writes it first"
                    } else {
                        "add it nullable, backfill, then SET NOT NULL via a NOT VALID CHECK"
                    }),
                );
            }
        }
        (Shape::SetNotNull, detail) if !ctx.not_null_proven => {
            let column = match detail {
                Detail::Column { column } => column.as_str(),
                _ => "",
            };
            out.push(
                Draft::new(
                    "set-not-null-scan",
                    span,
                    format!(
                        "SET NOT NULL on \"{rel}\".\"{column}\" takes {locked}{cost} to prove no NULLs exist"
                    ),
                )
                .on(rel, mode)
                .help(if at_least(ctx.pg_version, 18) {
                    "ADD CONSTRAINT c NOT NULL col NOT VALID (18+) and VALIDATE it in another migration; or CHECK (col IS NOT NULL) NOT VALID → VALIDATE → SET NOT NULL (no scan) → drop the CHECK"
                } else if at_least(ctx.pg_version, 12) {
                    "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE it in another migration (SHARE UPDATE EXCLUSIVE); then SET NOT NULL skips the scan (12+); then drop the CHECK"
                } else {
                    "before 12 SET NOT NULL always scans; keep a validated CHECK (col IS NOT NULL) NOT VALID → VALIDATE instead"
                }),
            );
        }
        (
            Shape::AddCheck,
            Detail::Constraint {
                name,
                insert_at,
                inline,
                ..
            },
        ) => out.push(
            Draft::new(
                "check-needs-not-valid",
                span,
                format!("ADD CHECK takes {locked}{cost} to validate existing rows"),
            )
            .on(rel, mode)
            .help("ADD CONSTRAINT … CHECK (…) NOT VALID, then VALIDATE CONSTRAINT in a separate migration (SHARE UPDATE EXCLUSIVE: reads and writes continue)")
            .fix((!inline).then(|| not_valid_fix(*insert_at, name.as_deref()))),
        ),
        (
            Shape::AddForeignKey,
            Detail::Constraint {
                name,
                insert_at,
                inline,
                referenced,
                ..
            },
        ) => {
            let referenced = referenced.as_deref().unwrap_or("?");
            out.push(
                Draft::new(
                    "foreign-key-needs-not-valid",
                    span,
                    format!(
                        "ADD FOREIGN KEY takes {locked} and the same lock on the referenced \"{referenced}\"{cost} to validate existing rows"
                    ),
                )
                .on(rel, mode)
                .help(match &ctx.partitions {
                    Some(_) if !at_least(ctx.pg_version, 18) => {
                        super::partitioned::foreign_key_recipe(rel, &ctx.leaf_partitions)
                    }
                    _ => "ADD CONSTRAINT … FOREIGN KEY … NOT VALID, then VALIDATE CONSTRAINT in a separate migration (SHARE UPDATE EXCLUSIVE, plus ROW SHARE on the referenced table)".to_string(),
                })
                .fix((!inline && (ctx.partitions.is_none() || at_least(ctx.pg_version, 18))).then(|| not_valid_fix(*insert_at, name.as_deref()))),
            );
        }
        (Shape::ValidateConstraint, Detail::Validate { name }) if ctx.added_in_same_transaction => {
            out.push(
                Draft::new(
                    "validate-in-same-transaction",
                    span,
                    format!(
                        "VALIDATE CONSTRAINT {name} runs in the transaction that added it NOT VALID: the lock taken by the ADD on \"{rel}\" is still held during the validation scan, so the split buys nothing"
                    ),
                )
                .on(rel, mode)
                .help("move the VALIDATE CONSTRAINT to its own migration (a separate transaction)"),
            );
        }
        (Shape::AddIndexConstraint, Detail::Constraint { primary_key, .. }) => {
            let (rule, what, help) = if *primary_key {
                (
                    "primary-key-builds-index",
                    "ADD PRIMARY KEY",
                    "CREATE UNIQUE INDEX CONCURRENTLY, make the columns NOT NULL via a validated CHECK, then ADD CONSTRAINT … PRIMARY KEY USING INDEX",
                )
            } else {
                (
                    "unique-constraint-builds-index",
                    "ADD UNIQUE",
                    "CREATE UNIQUE INDEX CONCURRENTLY ix …; then ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX ix",
                )
            };
            out.push(
                Draft::new(
                    rule,
                    span,
                    format!("{what} builds its index under {locked} for the whole build"),
                )
                .on(rel, mode)
                .help(help),
            );
        }
        (Shape::AddExclude, _) => out.push(
            Draft::new(
                "exclusion-constraint",
                span,
                format!("ADD EXCLUDE builds its index under {locked} for the whole build; it has no NOT VALID or USING INDEX form"),
            )
            .on(rel, mode)
            .help("create exclusion constraints together with the table, or accept the outage in a maintenance window"),
        ),
        (
            Shape::AlterColumnType,
            Detail::SetType {
                column, new_type, ..
            },
        ) => {
            let help = "add a new column, dual-write with a trigger, backfill in batches, switch reads, then drop the old column";
            let others = crate::format::quoted_and_more(&ctx.key_tables, 8);
            match ctx.type_change {
                Some(TypeChange::Free) => {}
                Some(verdict @ (TypeChange::FreeInUtc | TypeChange::Unknown)) => {
                    let (when, advice) = if verdict == TypeChange::FreeInUtc {
                        (
                            "between timestamp and timestamptz it is metadata-only when the session's TimeZone is UTC".to_string(),
                            format!("if the stored values are UTC, SET LOCAL TimeZone = 'UTC' before it (the values are read in the session's time zone): the change is then metadata-only; otherwise: {help}"),
                        )
                    } else {
                        (
                            "it is metadata-only if the change is binary-coercible (varchar widening, varchar → text, dropping a limit)".to_string(),
                            format!("check the current type of \"{rel}\".\"{column}\" (lockstep decides when it knows the column types); if it rewrites: {help}"),
                        )
                    };
                    let keys = if ctx.key_tables.is_empty() {
                        String::new()
                    } else {
                        format!(" and re-checks the foreign keys on \"{column}\" under the same lock on {others}")
                    };
                    out.push(
                        Draft::new(
                            "column-type-rewrite",
                            span,
                            format!(
                                "ALTER COLUMN \"{column}\" TYPE {new_type} takes {locked}; {when}, otherwise it rewrites \"{rel}\" and its indexes{keys}"
                            ),
                        )
                        .on(rel, mode)
                        .severity(Severity::Info)
                        .help(advice),
                    );
                }
                _ => out.push(
                    Draft::new(
                        "column-type-rewrite",
                        span,
                        if ctx.key_tables.is_empty() {
                            format!(
                                "ALTER COLUMN \"{column}\" TYPE {new_type} rewrites \"{rel}\" and its indexes under {locked}"
                            )
                        } else {
                            format!(
                                "ALTER COLUMN \"{column}\" TYPE {new_type} rewrites \"{rel}\" and its indexes under {locked}, and re-checks every row of the foreign keys on \"{column}\" under the same lock on {others}"
                            )
                        },
                    )
                    .on(rel, mode)
                    .help(help),
                ),
            }
        }
        (Shape::AlterColumnType, _) => out.push(
            Draft::new(
                "column-type-rewrite",
                span,
                format!("changing a generation expression rewrites \"{rel}\" under {locked}"),
            )
            .on(rel, mode)
            .help("add a new generated column and switch to it"),
        ),
        (Shape::PartitionParentOfNewTable | Shape::AttachPartitionParent, _) => {
            out.extend(super::partitioned::new_partition(a, mode, ctx));
        }
        (Shape::DetachPartition, Detail::Concurrently { insert_at }) => {
            let can = at_least(ctx.pg_version, 14);
            let mut d = Draft::new(
                "require-concurrent-detach",
                span,
                format!("DETACH PARTITION takes {locked} and on the partition it detaches"),
            )
            .on(rel, mode);
            if let Some(default) = &ctx.default_partition {
                d = d.severity(Severity::Warning).help(format!(
                    "DETACH … CONCURRENTLY is refused while \"{rel}\" has a default partition (\"{default}\"): run it in a quiet window, with SET lock_timeout before it and a retry"
                ));
            } else if can {
                d = d
                    .help(format!(
                        "DETACH PARTITION … CONCURRENTLY (14+; no default partition) {}",
                        ctx.runner.outside_transaction_home()
                    ))
                    .fix(concurrently_fix(ctx, *insert_at, "DETACH PARTITION"));
            } else {
                d = d
                    .severity(Severity::Warning)
                    .help("DETACH … CONCURRENTLY needs PostgreSQL 14; until then run it in a quiet window with lock_timeout");
            }
            out.push(d);
        }
        (Shape::VacuumFull | Shape::Cluster, _) => out.push(
            Draft::new(
                "vacuum-full-or-cluster",
                span,
                format!("{} rewrites \"{rel}\" under {locked}", if a.shape == Shape::Cluster { "CLUSTER" } else { "VACUUM FULL" }),
            )
            .on(rel, mode)
            .help(if at_least(ctx.pg_version, 19) {
                "REPACK (CONCURRENTLY) (19+), or pg_repack / pg_squeeze"
            } else {
                "pg_repack or pg_squeeze rebuild the table online"
            }),
        ),
        (Shape::RefreshMatview, _) => out.push(
            Draft::new(
                "refresh-materialized-view",
                span,
                format!("REFRESH MATERIALIZED VIEW takes {locked} while it recomputes the view"),
            )
            .on(rel, mode)
            .help("REFRESH MATERIALIZED VIEW CONCURRENTLY (EXCLUSIVE: reads continue; needs a unique index on the view)"),
        ),
        (Shape::Truncate, Detail::Truncate { cascade: true }) => out.push(
            Draft::new(
                "truncate-cascade",
                span,
                format!("TRUNCATE … CASCADE takes {locked} and on every table reached through foreign keys, and empties them all"),
            )
            .on(rel, mode)
            .help("list the tables to truncate explicitly"),
        ),
        (Shape::DomainAddConstraint, detail) => {
            let not_valid = matches!(detail, Detail::Constraint { not_valid: true, .. });
            if !not_valid {
                out.push(
                    Draft::new(
                        "domain-constraint",
                        span,
                        format!("a CHECK on domain \"{rel}\" is checked against every column using the domain (their tables are locked SHARE: writes blocked), and coercing a column to a constrained domain rewrites it"),
                    )
                    .help("put CHECK constraints on the columns (they can be NOT VALID + VALIDATE); or add the domain constraint NOT VALID and VALIDATE it later"),
                );
            }
        }
        (Shape::EnumAddValue, Detail::EnumValue { ordered: false }) => out.push(
            Draft::new(
                "enum-value-ordering",
                span,
                format!("ALTER TYPE \"{rel}\" ADD VALUE appends the value at the end of the enum's sort order (it takes an EXCLUSIVE lock on the type object only: table reads and writes continue)"),
            )
            .help("give BEFORE or AFTER if the order matters; the value is unusable until the transaction commits"),
        ),
        (Shape::DropColumn, Detail::Column { column }) => out.push(
            Draft::new(
                "drop-column",
                span,
                format!("DROP COLUMN \"{column}\" breaks application versions (and ORM column caches) that still use \"{rel}\".\"{column}\"; it briefly takes {locked}"),
            )
            .on(rel, mode)
            .help("stop using the column in code, deploy, then drop it in a later migration"),
        ),
        (Shape::DropTable, _) => {
            let (also, help) = match ctx.referenced_tables.as_deref() {
                None => (
                    " (and the same lock on each table its foreign keys reference, to remove their triggers)".to_string(),
                    "stop using the table, deploy, drop its foreign keys, then drop it",
                ),
                Some([]) => (String::new(), "stop using the table, deploy, then drop it"),
                Some(tables) => {
                    let (them, triggers) = if tables.len() == 1 {
                        ("which its foreign key references", "its trigger")
                    } else {
                        ("which its foreign keys reference", "their triggers")
                    };
                    (
                        format!(" (and the same lock on {}, {them}, to remove {triggers})", crate::format::quoted_and_more(tables, 8)),
                        "stop using the table, deploy, drop its foreign keys, then drop it",
                    )
                }
            };
            let (also, help) = match &ctx.partition_parent {
                Some(parent) => (
                    format!("{also}, and the same lock on its partitioned table \"{parent}\": every query on \"{parent}\" waits for the drop"),
                    if at_least(ctx.pg_version, 14) && ctx.default_partition.is_none() {
                        format!("DETACH PARTITION \"{rel}\" CONCURRENTLY from \"{parent}\" (14+, {}) first; the DROP then locks \"{rel}\" alone", ctx.runner.outside_transaction_home())
                    } else {
                        format!("SET lock_timeout before it, so the lock on \"{parent}\" never waits behind a long transaction (DETACH … CONCURRENTLY needs 14+ and no default partition)")
                    },
                ),
                None => (also, help.to_string()),
            };
            let (message, help) = match &ctx.replaced_by {
                None => (
                    format!("DROP TABLE \"{rel}\" breaks code that still uses it, and takes {locked}{also}"),
                    help.as_str(),
                ),
                Some(at) => (
                    format!("DROP TABLE \"{rel}\" takes {locked}{also}; {at} gives another table its name in the same transaction, so code that uses \"{rel}\" keeps working only if the new table has every column it uses"),
                    "check that the new table keeps the columns, defaults and constraints running code relies on",
                ),
            };
            out.push(Draft::new("drop-table", span, message).on(rel, mode).help(help));
        }
        (Shape::DropView, _) => out.push(
            Draft::new(
                "drop-view",
                span,
                format!("DROP VIEW \"{rel}\" breaks running code that still reads it (a view has no data: no table is locked or rewritten)"),
            )
            .on(rel, mode)
            .help("stop reading the view in code, deploy, then drop it in a later migration"),
        ),
        (Shape::Rename, Detail::Rename { what: "column", from, to }) => out.push(
            Draft::new(
                "rename-column",
                span,
                format!("RENAME COLUMN \"{from}\" TO \"{to}\" breaks running code that uses \"{rel}\".\"{from}\"; it briefly takes {locked}"),
            )
            .on(rel, mode)
            .help("add the new column, dual-write, backfill, switch reads, then drop the old one"),
        ),
        (Shape::Rename, Detail::Rename { what: "table", from, to }) => out.push(match &ctx.replaced_by {
            None => Draft::new(
                "rename-table",
                span,
                format!("RENAME \"{from}\" TO \"{to}\" breaks running code that uses \"{from}\"; it briefly takes {locked}"),
            )
            .on(rel, mode)
            .help("rename, then create a view with the old name until no code uses it"),
            Some(at) => Draft::new(
                "rename-table",
                span,
                format!("RENAME \"{from}\" TO \"{to}\" swaps tables: {at} gives another table the name \"{from}\" in the same transaction, so code that uses \"{from}\" keeps working only if the new table has every column it uses; it takes {locked}"),
            )
            .on(rel, mode)
            .help("check that the new table keeps the columns, defaults and constraints running code relies on"),
        }),
        (Shape::SetTablespace | Shape::SetPersistence, _) => out.push(
            Draft::new(
                "table-rewrite",
                span,
                format!("this ALTER TABLE copies \"{rel}\" to new files under {locked}"),
            )
            .on(rel, mode)
            .help("pg_repack (which can move tablespaces), or a new table filled online and swapped"),
        ),
        (
            Shape::CreateTrigger | Shape::DropTrigger | Shape::AlterTrigger | Shape::ToggleTrigger,
            _,
        ) => out.push(
            Draft::new(
                "trigger-lock",
                span,
                format!("this trigger change takes {locked}"),
            )
            .on(rel, mode)
            .help("brief, but set lock_timeout so a queued request does not block the table"),
        ),
        (Shape::LockTable, _) if mode.is_dangerous() => out.push(
            Draft::new("lock-table", span, format!("LOCK TABLE takes {locked} until the transaction ends"))
                .on(rel, mode)
                .help("lock only if you must, in the weakest mode that works, with lock_timeout set"),
        ),
        _ => {}
    }
    out
}
