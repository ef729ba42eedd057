//! The analyser's public data types (all serde-serialisable for JSON output).

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use super::catalog::Catalog;
use super::locks::LockMode;
use super::model::{Shape, Target};
use crate::sql::{LineCol, SyntaxProblem};

/// What the analyser knows about the migration's surroundings.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisContext {
    /// Target server major version (`15`); 9.x is written `90`–`96` (`95` = 9.5).
    pub pg_version: u32,
    /// Whether the runner wraps the whole file in one transaction (sqlx does unless the file starts
    /// with `-- no-transaction`).
    pub in_transaction: bool,
    /// Relations created by earlier pending migrations of the same run: not production hazards.
    pub new_tables: BTreeSet<String>,
    /// lockstep (or the role) sets `lock_timeout` for the session.
    pub session_lock_timeout: bool,
    /// lockstep (or the role) sets `statement_timeout` for the session.
    pub session_statement_timeout: bool,
    /// The schema the migration meets: relations, columns and types, indexes, constraints, views
    /// (replayed from earlier migrations, or read from the database).
    pub catalog: Catalog,
    /// The tool that runs the migration: findings about how it sends the file name it.
    pub runner: Runner,
}

impl Default for AnalysisContext {
    fn default() -> Self {
        AnalysisContext {
            pg_version: 15,
            in_transaction: true,
            new_tables: BTreeSet::new(),
            session_lock_timeout: false,
            session_statement_timeout: false,
            catalog: Catalog::default(),
            runner: Runner::Sqlx,
        }
    }
}

/// The migration tools whose way of running a file the analysis knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// sqlx (and lockstep, which runs sqlx's migrations).
    #[default]
    Sqlx,
    /// diesel: a directory per migration, `metadata.toml` for its settings.
    Diesel,
    /// golang-migrate: each file sent as one query, without a transaction of its own (so
    /// PostgreSQL runs a file of several statements as one implicit transaction).
    GolangMigrate,
    /// golang-migrate with `x-multi-statement=true`: each statement sent on its own, none in a
    /// transaction.
    GolangMigrateMultiStatement,
    /// goose (a file with `-- +goose Up`): the UP section's statements sent one by one, in one
    /// transaction unless the file says `-- +goose NO TRANSACTION`.
    Goose,
    /// dbmate (a file with `-- migrate:up`): the UP section sent as one query, in a transaction
    /// unless its directive says `transaction:false`.
    Dbmate,
    /// Prisma Migrate (a directory per migration holding `migration.sql`): the file sent as one
    /// query, without a transaction of its own, as golang-migrate does.
    Prisma,
}

impl Runner {
    /// The tool's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Runner::Sqlx => "sqlx",
            Runner::Diesel => "diesel",
            Runner::GolangMigrate | Runner::GolangMigrateMultiStatement => "golang-migrate",
            Runner::Goose => "goose",
            Runner::Dbmate => "dbmate",
            Runner::Prisma => "Prisma",
        }
    }

    /// Whether the tool sends each migration file as one query of its own, in no transaction it
    /// opens: PostgreSQL then runs a file of several statements as one implicit transaction.
    pub fn sends_file_as_one_query(self) -> bool {
        matches!(self, Runner::GolangMigrate | Runner::Prisma)
    }

    /// The command that writes a new migration of the tool's own layout, for advice.
    pub fn new_migration_command(self) -> &'static str {
        match self {
            Runner::Sqlx => "`lockstep new NAME`",
            Runner::Diesel => "`diesel migration generate NAME`",
            Runner::GolangMigrate | Runner::GolangMigrateMultiStatement => {
                "`migrate create -ext sql NAME`"
            }
            Runner::Goose => "`goose create NAME sql`",
            Runner::Dbmate => "`dbmate new NAME`",
            Runner::Prisma => "`prisma migrate dev --create-only --name NAME`",
        }
    }

    /// Where a statement that must run outside a transaction block goes, for advice that
    /// follows the statement (`CREATE INDEX CONCURRENTLY … in a migration marked …`).
    pub fn outside_transaction_home(self) -> &'static str {
        match self {
            Runner::Sqlx => "in a migration marked `-- no-transaction`",
            Runner::Diesel => {
                "in a migration of its own with `run_in_transaction = false` in its metadata.toml"
            }
            // One query of one statement runs in no transaction.
            Runner::GolangMigrate | Runner::Prisma => "alone in a migration of its own",
            Runner::GolangMigrateMultiStatement => {
                "in any migration (golang-migrate sends each statement on its own)"
            }
            Runner::Goose => "in a migration marked `-- +goose NO TRANSACTION`",
            Runner::Dbmate => {
                "alone in a migration whose up section is `-- migrate:up transaction:false`"
            }
        }
    }

    /// How a migration is made to run outside the tool's transaction, for advice.
    pub fn outside_transaction(self) -> &'static str {
        match self {
            Runner::Sqlx => "mark the file `-- no-transaction`",
            Runner::Diesel => "set `run_in_transaction = false` in its metadata.toml",
            // (golang-migrate never wraps a file in a transaction of its own.)
            Runner::GolangMigrate | Runner::GolangMigrateMultiStatement => {
                "let golang-migrate send the file as written"
            }
            Runner::Goose => "mark the file `-- +goose NO TRANSACTION`",
            Runner::Dbmate => "write its up section as `-- migrate:up transaction:false`",
            // (Nor does Prisma: a lone statement runs in none.)
            Runner::Prisma => "make it the only statement of its migration.sql",
        }
    }
}

impl From<crate::sql::SectionTool> for Runner {
    /// The runner of a file with goose's or dbmate's sections.
    fn from(tool: crate::sql::SectionTool) -> Runner {
        match tool {
            crate::sql::SectionTool::Goose => Runner::Goose,
            crate::sql::SectionTool::Dbmate => Runner::Dbmate,
        }
    }
}

/// A named constraint the analyser has seen being added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownConstraint {
    /// The table it is on.
    pub table: String,
    /// A foreign key's referenced table.
    pub references: Option<String>,
    /// A foreign key's own (referencing) columns, or a primary key's columns, when known.
    pub columns: Vec<String>,
    /// A foreign key's referenced columns, when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referenced_columns: Vec<String>,
    /// Whether it is the table's primary key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub primary_key: bool,
    /// For `CHECK (c IS NOT NULL)`: the column it proves non-null.
    pub proves_not_null: Option<String>,
    /// Whether it is validated (added without NOT VALID, or VALIDATEd since).
    pub validated: bool,
    /// A foreign key's action when a referenced row is deleted.
    #[serde(skip_serializing_if = "RefAction::is_no_action")]
    pub on_delete: RefAction,
    /// A foreign key's action when a referenced key is changed.
    #[serde(skip_serializing_if = "RefAction::is_no_action")]
    pub on_update: RefAction,
}

/// What a foreign key does to the rows that reference a deleted or changed key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefAction {
    /// `NO ACTION` (the default): the statement fails if such rows remain at its end.
    #[default]
    NoAction,
    /// `RESTRICT`: it fails at once.
    Restrict,
    /// `CASCADE`: they are deleted (or their key updated) too.
    Cascade,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
}

impl RefAction {
    /// From `pg_constraint.confdeltype` / `confupdtype`.
    pub fn from_catalog(code: &str) -> RefAction {
        match code {
            "r" => RefAction::Restrict,
            "c" => RefAction::Cascade,
            "n" => RefAction::SetNull,
            "d" => RefAction::SetDefault,
            _ => RefAction::NoAction,
        }
    }

    /// Whether it changes the referencing rows (rather than only looking for them).
    pub fn writes(self) -> bool {
        matches!(
            self,
            RefAction::Cascade | RefAction::SetNull | RefAction::SetDefault
        )
    }

    fn is_no_action(&self) -> bool {
        *self == RefAction::NoAction
    }
}

/// How serious a finding is. Only [`Severity::Error`] makes `lockstep lint` fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Probably wrong; review it.
    Warning,
    /// Will hurt production or fail: fix or suppress.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Which kind of damage a finding is about. Lock hazards and backward compatibility are kept
/// apart (squawk #937): a fix for one can break the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Axis {
    /// Blocks production now: locks, scans, rewrites, lock windows, timeouts.
    LockHazard,
    /// Breaks running application code: drops, renames, required columns.
    Compatibility,
    /// The migration fails or is not applied as written: transaction shape, statements that cannot
    /// run in a transaction block, non-idempotent statements, syntax errors, bad ignore comments.
    Robustness,
    /// The text reads differently from how PostgreSQL parses it: hidden control, bidirectional
    /// and invisible characters, identifiers that mix scripts ("Trojan Source"); or what runs is
    /// not in the text (SQL built at run time).
    ReviewIntegrity,
}

impl Axis {
    /// A short label: `blocks production`, `breaks running code`, `migration robustness` or
    /// `review integrity`.
    pub fn label(self) -> &'static str {
        match self {
            Axis::LockHazard => "blocks production",
            Axis::Compatibility => "breaks running code",
            Axis::Robustness => "migration robustness",
            Axis::ReviewIntegrity => "review integrity",
        }
    }
}

/// One lock a statement takes, with its consequences, computed from the lock model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockFact {
    /// The relation (or type) locked, folded, without a `public.` prefix.
    pub relation: String,
    /// What kind of object is locked.
    pub target: Target,
    /// The strongest mode the statement takes on it.
    pub mode: LockMode,
    /// The lock-model row (the strongest action on this relation).
    pub shape: Shape,
    /// The command as written in the lock model.
    pub command: &'static str,
    /// Whether the lock blocks plain SELECT.
    pub blocks_reads: bool,
    /// Whether the lock blocks INSERT/UPDATE/DELETE.
    pub blocks_writes: bool,
    /// Whether the statement reads the whole table under the lock (for a partitioned table,
    /// which holds no rows itself: its partitions).
    pub scan: bool,
    /// Whether the statement rewrites the table (new `relfilenode`; for a partitioned table: of
    /// its partitions).
    pub rewrite: bool,
    /// How long the lock is likely held by the statement itself (it is then held to COMMIT).
    pub duration: LikelyDuration,
    /// Created earlier in this migration or run: invisible to production, not a hazard.
    pub new_relation: bool,
    /// For a scan or a rewrite of a table that exists: its rows as the connected database
    /// estimates them (`pg_class.reltuples`), when a database was read and has analysed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Locked as a partition of this partitioned table, which the statement names: a command
    /// on it reaches each partition, and a new or leaving partition its default partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_of: Option<String>,
    /// Taken (in this mode) only by a branch of a DO block (IF, CASE, a loop, an exception
    /// handler), or only for each row written (a row trigger's, a foreign key's check or
    /// cascade): when the branch is not taken or no row is written, neither is the lock.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub conditional: bool,
    /// Taken by a function the statement runs, not by its own text: `trigger "t" on "x"` (the
    /// function of a trigger it fires) or `function f()` (one it calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl LockFact {
    /// Takes `other`'s mode (with its command and what it blocks) when it is stronger: one
    /// statement's locks on a relation, merged.
    pub(crate) fn strengthen(&mut self, other: &LockFact) {
        if other.mode > self.mode {
            self.mode = other.mode;
            self.shape = other.shape;
            self.command = other.command;
            self.blocks_reads = other.blocks_reads;
            self.blocks_writes = other.blocks_writes;
            self.conditional = other.conditional;
            self.via.clone_from(&other.via);
        } else if other.mode == self.mode {
            if self.conditional && !other.conditional {
                self.via.clone_from(&other.via);
            }
            self.conditional &= other.conditional;
        }
    }

    /// Adds the lock to `locks`, or strengthens the one already there on its relation.
    pub(crate) fn add_to(self, locks: &mut Vec<LockFact>) {
        match locks
            .iter_mut()
            .find(|l| l.relation == self.relation && l.target == self.target)
        {
            Some(existing) => existing.strengthen(&self),
            None => locks.push(self),
        }
    }

    /// A lock on a table (no rows known, locked in its own name), with what its mode blocks and
    /// how long its work likely holds it.
    pub(crate) fn on_table(
        relation: String,
        mode: LockMode,
        shape: crate::analysis::Shape,
        command: &'static str,
        (scan, rewrite): (bool, bool),
        new_relation: bool,
    ) -> LockFact {
        LockFact {
            relation,
            target: Target::Table,
            mode,
            shape,
            command,
            blocks_reads: mode.blocks_reads(),
            blocks_writes: mode.blocks_writes(),
            scan,
            rewrite,
            duration: LikelyDuration::of_lock(shape, scan, rewrite),
            new_relation,
            rows: None,
            partition_of: None,
            conditional: false,
            via: None,
        }
    }

    /// How much the scan or rewrite has to go through, when the connected database says
    /// (`about 20.0k rows in the database`).
    pub fn rows_note(&self) -> Option<String> {
        // An empty table is said in the finding itself (its severity is lowered).
        let rows = self.rows.filter(|r| *r > 0)?;
        let noun = if rows == 1 { "row" } else { "rows" };
        Some(format!(
            "about {} {noun} in the database",
            crate::monitor::format::human_count(rows)
        ))
    }
}

/// How long a statement's work under its lock is likely to take, from its cost in the lock model.
/// (Waiting for the lock comes on top: it depends on the other sessions, not on the statement.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LikelyDuration {
    /// Metadata only: milliseconds once the lock is granted.
    Brief,
    /// Reads or changes rows (SELECT, INSERT, UPDATE, DELETE): grows with the rows it goes
    /// through, every row of the table for an UPDATE or DELETE without WHERE.
    Rows,
    /// A full read of the table: grows with its size.
    TableScan,
    /// A full copy of the table and a rebuild of its indexes: the longest.
    TableRewrite,
}

impl LikelyDuration {
    /// The duration class of a statement that scans and/or rewrites.
    pub fn of(scan: bool, rewrite: bool) -> LikelyDuration {
        match (scan, rewrite) {
            (_, true) => LikelyDuration::TableRewrite,
            (true, false) => LikelyDuration::TableScan,
            (false, false) => LikelyDuration::Brief,
        }
    }

    /// The duration class of a lock of `shape`: [`LikelyDuration::of`], or
    /// [`LikelyDuration::Rows`] for a query's or a row change's lock that neither scans nor
    /// rewrites by itself (its work is the rows it goes through, not metadata).
    pub fn of_lock(shape: crate::analysis::Shape, scan: bool, rewrite: bool) -> LikelyDuration {
        use crate::analysis::Shape;
        match LikelyDuration::of(scan, rewrite) {
            LikelyDuration::Brief
                if matches!(shape, Shape::Select | Shape::SelectForUpdate | Shape::Dml) =>
            {
                LikelyDuration::Rows
            }
            other => other,
        }
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            LikelyDuration::Brief => "brief (metadata only)",
            LikelyDuration::Rows => "grows with the rows it reads or writes",
            LikelyDuration::TableScan => "grows with the table size (full scan)",
            LikelyDuration::TableRewrite => "grows with the table and index sizes (full rewrite)",
        }
    }
}

/// A lock still held when a statement starts (taken by an earlier statement of the transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    /// Index of the statement that took it.
    pub since_statement: usize,
    /// The lock.
    #[serde(flatten)]
    pub lock: LockFact,
}

/// The locks held when a statement starts: the first locks of its transaction's lock window (the
/// locks its statements take on relations that existed before, in the order taken). A window only
/// grows, so the statements of a transaction share it and memory stays linear in the statements.
#[derive(Debug, Clone, Default)]
pub struct HeldBefore {
    window: Option<Arc<[HeldLock]>>,
    len: usize,
}

impl HeldBefore {
    /// The first `len` locks of `window`.
    pub(crate) fn prefix(window: Arc<[HeldLock]>, len: usize) -> HeldBefore {
        debug_assert!(len <= window.len());
        let len = len.min(window.len());
        HeldBefore {
            window: (len > 0).then_some(window),
            len,
        }
    }

    /// The whole window these locks begin (locks later statements of the transaction take
    /// included), shared by the transaction's statements; `None` when nothing is held.
    pub fn window(&self) -> Option<&Arc<[HeldLock]>> {
        self.window.as_ref()
    }
}

impl std::ops::Deref for HeldBefore {
    type Target = [HeldLock];

    fn deref(&self) -> &[HeldLock] {
        self.window.as_deref().map_or(&[], |w| &w[..self.len])
    }
}

impl Serialize for HeldBefore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

/// One statement with its lock facts.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedStatement {
    /// Position in the file, from 0.
    pub index: usize,
    /// Byte range in the file (without the semicolon).
    pub span: Range<usize>,
    /// Where it starts.
    pub start: LineCol,
    /// Where it ends.
    pub end: LineCol,
    /// The statement text.
    pub text: String,
    /// The statement kind (`CREATE INDEX`, `ALTER TABLE`…).
    pub kind: &'static str,
    /// The locks it takes.
    pub locks: Vec<LockFact>,
    /// Locks taken by earlier statements of the same transaction, still held (the lock window).
    pub held_before: HeldBefore,
    /// Whether it runs inside a transaction block.
    pub in_transaction: bool,
    /// Whether `lock_timeout` is in effect when it runs.
    pub lock_timeout: bool,
    /// Whether `statement_timeout` is in effect when it runs.
    pub statement_timeout: bool,
    /// Why it cannot run inside a transaction block, if it cannot.
    pub requires_no_transaction: Option<&'static str>,
}

/// A text replacement: `span` of the original file becomes `replacement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextEdit {
    /// Byte range to replace (empty for an insertion).
    pub span: Range<usize>,
    /// The new text.
    pub replacement: String,
}

/// A mechanical fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// What the fix does and what is left to do by hand.
    pub description: String,
    /// The edits, non-overlapping, in file order.
    pub edits: Vec<TextEdit>,
}

impl Fix {
    /// Applies the edits to `text` (the text the analysis ran on).
    pub fn apply(&self, text: &str) -> String {
        let mut edits = self.edits.clone();
        edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
        let mut out = text.to_string();
        for edit in edits {
            if edit.span.end <= out.len()
                && out.is_char_boundary(edit.span.start)
                && out.is_char_boundary(edit.span.end)
            {
                out.replace_range(edit.span.clone(), &edit.replacement);
            }
        }
        out
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case rule name.
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Lock hazard, compatibility, robustness or review integrity.
    pub axis: Axis,
    /// The statement it is about (None for file-level findings such as syntax errors).
    pub statement_index: Option<usize>,
    /// Byte range in the file.
    pub span: Range<usize>,
    /// Where it starts.
    pub start: LineCol,
    /// Where it ends.
    pub end: LineCol,
    /// The table concerned.
    pub table: Option<String>,
    /// The lock concerned.
    pub lock: Option<LockMode>,
    /// What is wrong, naming the table and the lock.
    pub message: String,
    /// The safe way to do it.
    pub safe_alternative: Option<String>,
    /// A mechanical fix, when there is one.
    pub fix: Option<Fix>,
}

/// The analysis of one migration file.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The statements, in order.
    pub statements: Vec<AnalyzedStatement>,
    /// Findings left after ignore comments, in file order.
    pub findings: Vec<Finding>,
    /// Findings an ignore comment suppressed.
    pub suppressed: Vec<Finding>,
    /// Syntax errors (each also reported as a `syntax-error` finding).
    pub syntax_errors: Vec<SyntaxProblem>,
    /// Relations (tables, indexes, views) this file creates.
    pub tables_created: BTreeSet<String>,
}

impl Analysis {
    /// Whether any error-level finding remains.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Whether the file opens or ends transactions itself (`BEGIN`, `COMMIT`, `ROLLBACK`): the
    /// runner then runs it as written, a statement at a time.
    pub fn controls_own_transactions(&self) -> bool {
        self.statements
            .iter()
            .any(|s| matches!(s.kind, "BEGIN" | "COMMIT" | "ROLLBACK"))
    }
}
