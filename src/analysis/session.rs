//! The per-statement pass: the transaction (the runner's wrapper, explicit BEGIN/COMMIT), the
//! lock window, the session timeouts, what is new, and the rules that need that state.

use std::collections::{BTreeMap, BTreeSet};

use super::coercion::{TypeChange, classify};
use super::describe::{Action, ConstraintKind, Control, Described, Detail};
use super::engine::Prior;
use super::locks::LockMode;
use super::model::{Cost, Shape, Target, lookup};
use super::rules::{self, ActionFacts, CheckCtx, Draft, a_lock, no_transaction_edit};
use super::types::*;

/// A fix that removes a statement (with its semicolon and line break) so it can move to a
/// migration of its own.
fn move_statement_fix(text: &str, span: &std::ops::Range<usize>) -> Fix {
    let statement = text.get(span.clone()).unwrap_or("");
    let mut end = span.end.min(text.len());
    let rest = text.get(end..).unwrap_or("");
    if rest.starts_with(';') {
        end += 1;
    }
    let rest = text.get(end..).unwrap_or("");
    if rest.starts_with("\r\n") {
        end += 2;
    } else if rest.starts_with('\n') {
        end += 1;
    }
    Fix {
        description: format!(
            "remove it here and put `{statement};` in a new migration after this one"
        ),
        edits: vec![TextEdit {
            span: span.start..end,
            replacement: String::new(),
        }],
    }
}

/// Whether a SET value turns a timeout off.
fn disables(value: Option<&str>) -> bool {
    match value {
        None => true,
        Some(v) => {
            let v = v
                .trim()
                .trim_matches('\'')
                .trim_matches('"')
                .to_ascii_lowercase();
            let digits: String = v
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            !digits.is_empty() && digits.parse::<f64>().map(|n| n == 0.0).unwrap_or(false)
        }
    }
}

/// The analyser's state between statements of one file.
pub(crate) struct State<'a> {
    ctx: &'a AnalysisContext,
    /// The runner's wrapping transaction is open.
    runner_tx: bool,
    /// An explicit BEGIN is open (statement index and span).
    pub(crate) open_explicit: Option<(usize, std::ops::Range<usize>)>,
    held: Vec<HeldLock>,
    session_lock: bool,
    session_statement: bool,
    local_lock: Option<bool>,
    local_statement: Option<bool>,
    /// Relations new before this file (borrowed: cloning them per file would be quadratic).
    base_new: &'a BTreeSet<String>,
    /// Relations this file created so far.
    new: BTreeSet<String>,
    /// Constraints known before this file.
    base_constraints: &'a BTreeMap<String, KnownConstraint>,
    pub(crate) created: BTreeSet<String>,
    /// Indexes known before this file.
    base_indexes: &'a BTreeMap<String, String>,
    /// Indexes this file created.
    pub(crate) indexes: BTreeMap<String, String>,
    /// Constraints this file added, changed (Some) or dropped (None).
    pub(crate) constraints: BTreeMap<String, Option<KnownConstraint>>,
    /// Constraints added in the current transaction.
    added_in_tx: BTreeSet<String>,
}

impl<'a> State<'a> {
    /// The state at the start of a file.
    pub(crate) fn new(ctx: &'a AnalysisContext, prior: &'a Prior) -> State<'a> {
        State {
            ctx,
            runner_tx: ctx.in_transaction,
            open_explicit: None,
            held: Vec::new(),
            session_lock: ctx.session_lock_timeout,
            session_statement: ctx.session_statement_timeout,
            local_lock: None,
            local_statement: None,
            base_new: &prior.new_tables,
            new: BTreeSet::new(),
            base_constraints: &prior.constraints,
            base_indexes: &prior.index_tables,
            indexes: BTreeMap::new(),
            created: BTreeSet::new(),
            constraints: BTreeMap::new(),
            added_in_tx: BTreeSet::new(),
        }
    }

    /// A named constraint as known at this point: this file's changes over the earlier files'.
    fn constraint(&self, name: &str) -> Option<&KnownConstraint> {
        match self.constraints.get(name) {
            Some(changed) => changed.as_ref(),
            None => self.base_constraints.get(name),
        }
    }

    /// The referenced-table effects of known foreign keys touched by a statement.
    fn known_foreign_key_effects(&self, d: &Described) -> Vec<(Shape, String)> {
        let mut out = Vec::new();
        for a in &d.actions {
            match (&a.shape, &a.detail) {
                (_, Detail::Validate { name }) => {
                    if let Some(r) = self.constraint(name).and_then(|c| c.references.clone()) {
                        out.push((Shape::ValidateForeignKeyReferenced, r));
                    }
                }
                (_, Detail::DropConstraint { name }) => {
                    if let Some(r) = self.constraint(name).and_then(|c| c.references.clone()) {
                        out.push((Shape::DropForeignKeyReferenced, r));
                    }
                }
                (Shape::DropTable, _) => {
                    for c in self.known_constraints() {
                        if c.table == a.relation
                            && let Some(r) = &c.references
                            && *r != a.relation
                        {
                            out.push((Shape::DropForeignKeyReferenced, r.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Every constraint known at this point.
    fn known_constraints(&self) -> impl Iterator<Item = &KnownConstraint> {
        self.constraints.values().flatten().chain(
            self.base_constraints
                .iter()
                .filter(|(name, _)| !self.constraints.contains_key(*name))
                .map(|(_, c)| c),
        )
    }

    fn in_tx(&self) -> bool {
        self.runner_tx || self.open_explicit.is_some()
    }

    fn lock_timeout(&self) -> bool {
        self.local_lock.unwrap_or(self.session_lock)
    }

    fn statement_timeout(&self) -> bool {
        self.local_statement.unwrap_or(self.session_statement)
    }

    fn end_transaction(&mut self) {
        self.runner_tx = false;
        self.open_explicit = None;
        self.held.clear();
        self.local_lock = None;
        self.local_statement = None;
        self.added_in_tx.clear();
    }

    fn is_new(&self, relation: &str) -> bool {
        self.new.contains(relation) || self.base_new.contains(relation)
    }

    /// For ALTER COLUMN TYPE: the verdict, using the column's known type if any.
    fn type_change(&self, a: &Action) -> Option<TypeChange> {
        let Detail::SetType {
            column,
            new_type,
            plain,
        } = &a.detail
        else {
            return None;
        };
        let old = self
            .ctx
            .column_types
            .get(&format!("{}.{column}", a.relation))
            .map(String::as_str);
        Some(classify(old, new_type, *plain, self.ctx.pg_version))
    }

    fn facts(&self, a: &Action) -> ActionFacts {
        let row = lookup(a.shape);
        let mut cost = row.cost_at(self.ctx.pg_version);
        if let Some(change) = self.type_change(a) {
            cost = match change {
                TypeChange::Rewrite => Cost::Rewrite,
                TypeChange::Free | TypeChange::Unknown => Cost::None,
            };
        }
        ActionFacts {
            mode: a.mode_override.unwrap_or(row.lock_at(self.ctx.pg_version)),
            cost,
            new_relation: self.is_new(&a.relation),
        }
    }

    /// Analyses one statement: its lock facts and findings; updates the state.
    pub(crate) fn statement(
        &mut self,
        index: usize,
        span: &std::ops::Range<usize>,
        d: &Described,
        text: &str,
    ) -> (AnalyzedStatement, Vec<Draft>) {
        let mut out: Vec<Draft> = Vec::new();
        let in_tx = self.in_tx();
        let held_before = self.held.clone();
        let runner_transaction = self.runner_tx && self.open_explicit.is_none();

        // Transaction control.
        for control in &d.control {
            match control {
                Control::Begin => {
                    if self.runner_tx {
                        out.push(Draft::new(
                            "transaction-nesting",
                            span.clone(),
                            "BEGIN inside the runner's transaction: sqlx already wraps this migration in a transaction, so this BEGIN only warns, and the matching COMMIT commits the runner's transaction early".to_string(),
                        ));
                    } else if self.open_explicit.is_some() {
                        out.push(Draft::new(
                            "transaction-nesting",
                            span.clone(),
                            "nested BEGIN: a transaction is already open; PostgreSQL ignores it with a warning".to_string(),
                        ));
                    } else {
                        self.open_explicit = Some((index, span.clone()));
                    }
                }
                Control::Commit | Control::Rollback => {
                    if self.runner_tx && self.open_explicit.is_none() {
                        let mut draft = Draft::new(
                            "transaction-nesting",
                            span.clone(),
                            "COMMIT/ROLLBACK inside the runner's transaction ends it early: the statements after it run outside any transaction, and a failure leaves the migration half applied".to_string(),
                        );
                        draft.safe_alternative = Some("remove BEGIN/COMMIT (sqlx wraps the file), or mark the file `-- no-transaction` and manage the transaction yourself".to_string());
                        out.push(draft);
                    } else if self.runner_tx {
                        // BEGIN … COMMIT inside the runner's transaction: reported at the BEGIN.
                    }
                    self.end_transaction();
                }
                Control::Set {
                    param,
                    value,
                    local,
                } => {
                    let on = !disables(value.as_deref());
                    let (session, local_slot) = match param.as_str() {
                        "lock_timeout" => (&mut self.session_lock, &mut self.local_lock),
                        "statement_timeout" => {
                            (&mut self.session_statement, &mut self.local_statement)
                        }
                        _ => continue,
                    };
                    if *local {
                        if in_tx {
                            *local_slot = Some(on);
                        }
                    } else {
                        *session = on;
                        *local_slot = None;
                    }
                }
                Control::Reset { param } => {
                    let all = param.is_none();
                    let p = param.as_deref().unwrap_or("");
                    if all || p == "lock_timeout" {
                        self.session_lock = self.ctx.session_lock_timeout;
                        self.local_lock = None;
                    }
                    if all || p == "statement_timeout" {
                        self.session_statement = self.ctx.session_statement_timeout;
                        self.local_statement = None;
                    }
                }
            }
        }

        // Statements that cannot run in a transaction block.
        if let Some(what) = d.no_transaction_block
            && in_tx
        {
            let mut draft = Draft::new(
                "not-in-transaction-block",
                span.clone(),
                format!(
                    "{what} cannot run inside a transaction block{}: the migration fails with \"cannot run inside a transaction block\"",
                    if runner_transaction {
                        " (sqlx wraps this migration in one)"
                    } else {
                        ""
                    }
                ),
            );
            draft.safe_alternative = Some(
                "put it in its own migration whose first line is `-- no-transaction`".to_string(),
            );
            let ctx = self.check_ctx(in_tx, runner_transaction);
            if let Some(edit) = no_transaction_edit(&ctx) {
                draft.fix = Some(Fix {
                    description: "mark the migration `-- no-transaction` (move any other statements to their own migration)".to_string(),
                    edits: vec![edit],
                });
            }
            out.push(draft);
        }

        // Outside a transaction a failed migration is re-run over its own half-applied work.
        if !in_tx && let Some((false, insert_at)) = d.robustness {
            let (words, verb) = if d.kind.starts_with("DROP") {
                (" IF EXISTS", "DROP")
            } else {
                (" IF NOT EXISTS", "CREATE/ADD")
            };
            let mut draft = Draft::new(
                "prefer-robust-statements",
                span.clone(),
                format!(
                    "{} without{words} outside a transaction: if the migration fails after it, re-running it fails here",
                    d.kind
                ),
            );
            draft.safe_alternative = Some(format!(
                "write {verb} …{words}, or run the migration in a transaction"
            ));
            if insert_at > 0 {
                draft.fix = Some(Fix {
                    description: format!("add{words}"),
                    edits: vec![TextEdit {
                        span: insert_at..insert_at,
                        replacement: words.to_string(),
                    }],
                });
            }
            out.push(draft);
        }

        // Lock facts, merged per relation (the strongest mode and the most work).
        let mut locks: Vec<LockFact> = Vec::new();
        for a in &d.actions {
            if a.relation.is_empty() || (a.shape == Shape::DomainAddConstraint) {
                continue;
            }
            let row = lookup(a.shape);
            let f = self.facts(a);
            let target = row.target;
            let type_object = target == Target::TypeObject;
            let fact = LockFact {
                relation: a.relation.clone(),
                target,
                mode: f.mode,
                shape: a.shape,
                command: row.command,
                blocks_reads: !type_object && f.mode.blocks_reads(),
                blocks_writes: !type_object && f.mode.blocks_writes(),
                scan: f.cost == Cost::Scan,
                rewrite: f.cost == Cost::Rewrite,
                duration: LikelyDuration::Brief,
                new_relation: f.new_relation
                    || a.shape == Shape::CreateTable
                    || d.creates.contains(&a.relation),
            };
            match locks
                .iter_mut()
                .find(|l| l.relation == fact.relation && l.target == fact.target)
            {
                Some(existing) => {
                    if fact.mode > existing.mode {
                        existing.mode = fact.mode;
                        existing.shape = fact.shape;
                        existing.command = fact.command;
                        existing.blocks_reads = fact.blocks_reads;
                        existing.blocks_writes = fact.blocks_writes;
                    }
                    existing.scan |= fact.scan;
                    existing.rewrite |= fact.rewrite;
                    if existing.rewrite {
                        existing.scan = false;
                    }
                }
                None => locks.push(fact),
            }
        }

        for lock in &mut locks {
            lock.duration = LikelyDuration::of(lock.scan, lock.rewrite);
        }

        // Foreign keys seen earlier in the run: VALIDATE takes ROW SHARE on the referenced table;
        // dropping the key (DROP CONSTRAINT, DROP TABLE) takes ACCESS EXCLUSIVE on it.
        for (shape, referenced) in self.known_foreign_key_effects(d) {
            if locks
                .iter()
                .any(|l| l.relation == referenced && l.target == Target::Table)
            {
                continue;
            }
            let row = lookup(shape);
            let mode = row.lock_at(self.ctx.pg_version);
            locks.push(LockFact {
                new_relation: self.is_new(&referenced),
                relation: referenced,
                target: Target::Table,
                mode,
                shape,
                command: row.command,
                blocks_reads: mode.blocks_reads(),
                blocks_writes: mode.blocks_writes(),
                scan: false,
                rewrite: false,
                duration: LikelyDuration::Brief,
            });
        }

        // An index statement also locks the index's table, when the index is known.
        for a in &d.actions {
            if lookup(a.shape).target != Target::Index {
                continue;
            }
            let Some(table) = self
                .indexes
                .get(&a.relation)
                .or_else(|| self.base_indexes.get(&a.relation))
                .cloned()
            else {
                continue;
            };
            let f = self.facts(a);
            if locks
                .iter()
                .any(|l| l.relation == table && l.target == Target::Table)
            {
                continue;
            }
            let row = lookup(a.shape);
            locks.push(LockFact {
                new_relation: self.is_new(&table),
                relation: table,
                target: Target::Table,
                mode: f.mode,
                shape: a.shape,
                command: row.command,
                blocks_reads: f.mode.blocks_reads(),
                blocks_writes: f.mode.blocks_writes(),
                scan: false,
                rewrite: false,
                duration: LikelyDuration::Brief,
            });
        }

        // Per-action rules.
        for a in &d.actions {
            let f = self.facts(a);
            let mut ctx = self.check_ctx(in_tx, runner_transaction);
            if let (Shape::SetNotNull, Detail::Column { column }) = (&a.shape, &a.detail) {
                ctx.not_null_proven = super::model::at_least(self.ctx.pg_version, 12)
                    && self.known_constraints().any(|c| {
                        c.table == a.relation
                            && c.validated
                            && c.proves_not_null.as_deref() == Some(column.as_str())
                    });
            }
            ctx.type_change = self.type_change(a);
            if let Detail::Validate { name } = &a.detail {
                ctx.added_in_same_transaction = in_tx && self.added_in_tx.contains(name);
            }
            let mut drafts = rules::check_action(a, f, &ctx);
            for draft in &mut drafts {
                if draft.rule == "validate-in-same-transaction" && d.actions.len() == 1 {
                    draft.fix = Some(move_statement_fix(text, span));
                }
            }
            out.extend(drafts);
        }

        // Lock timeout: a blocking lock on an existing relation requested without lock_timeout.
        let dangerous: Vec<&LockFact> = locks
            .iter()
            .filter(|l| !l.new_relation && l.target != Target::TypeObject && l.mode.is_dangerous())
            .collect();
        if let Some(first) = dangerous.first() {
            if !self.lock_timeout() {
                let mut draft = Draft::new(
                    "missing-lock-timeout",
                    span.clone(),
                    format!(
                        "{} requests {} without lock_timeout: while it waits behind a long transaction, every later query on \"{}\" queues behind it",
                        d.kind,
                        a_lock(first.mode, &first.relation),
                        first.relation
                    ),
                );
                draft.table = Some(first.relation.clone());
                draft.lock = Some(first.mode);
                let mut help = "SET lock_timeout = '2s' (or SET LOCAL in the transaction) before it, and retry on timeout; or configure lockstep's lock timeout".to_string();
                if super::model::at_least(self.ctx.pg_version, 17) {
                    help.push_str("; on 17+ also bound the whole transaction with transaction_timeout (set it before BEGIN)");
                }
                draft.safe_alternative = Some(help);
                if runner_transaction || !in_tx {
                    let stmt_start = span.start;
                    let line_start = text[..stmt_start.min(text.len())]
                        .rfind('\n')
                        .map(|i| i + 1)
                        .unwrap_or(0);
                    draft.fix = Some(Fix {
                        description: "set lock_timeout before the statement".to_string(),
                        edits: vec![TextEdit {
                            span: line_start..line_start,
                            replacement: if in_tx {
                                "SET LOCAL lock_timeout = '2s';\n".to_string()
                            } else {
                                "SET lock_timeout = '2s';\n".to_string()
                            },
                        }],
                    });
                }
                out.push(draft);
            }
            if !self.statement_timeout()
                && let Some(work) = dangerous.iter().find(|l| l.scan || l.rewrite)
            {
                let mut draft = Draft::new(
                    "missing-statement-timeout",
                    span.clone(),
                    format!(
                        "{} {} \"{}\" under {} without statement_timeout: nothing bounds how long the lock is held",
                        d.kind,
                        if work.rewrite { "rewrites" } else { "scans" },
                        work.relation,
                        a_lock(work.mode, &work.relation)
                    ),
                );
                draft.table = Some(work.relation.clone());
                draft.lock = Some(work.mode);
                draft.safe_alternative =
                    Some("SET statement_timeout to a bound you can afford, or configure lockstep's statement timeout".to_string());
                out.push(draft);
            }
        }

        // Lock window: more work while an ACCESS EXCLUSIVE from an earlier statement is held.
        // "More work" = a scan, a rewrite, a backfill, or a blocking lock on another existing table.
        let does_work = d.is_dml
            || locks
                .iter()
                .any(|l| !l.new_relation && (l.scan || l.rewrite));
        let other_table = |held: &HeldLock| {
            locks.iter().any(|l| {
                !l.new_relation
                    && l.mode.is_dangerous()
                    && l.relation != held.lock.relation
                    && l.target != Target::TypeObject
            })
        };
        if in_tx
            && let Some(held) = held_before.iter().find(|h| {
                !h.lock.new_relation
                    && h.lock.mode == LockMode::AccessExclusive
                    && h.lock.target != Target::TypeObject
                    && (does_work || other_table(h))
            })
        {
            let mut draft = Draft::new(
                "lock-held-across-statements",
                span.clone(),
                format!(
                    "the {} lock on \"{}\" taken by statement {} is still held while this statement runs (locks are held until COMMIT): reads and writes of \"{}\" stay blocked for longer",
                    held.lock.mode,
                    held.lock.relation,
                    held.since_statement + 1,
                    held.lock.relation
                ),
            );
            draft.table = Some(held.lock.relation.clone());
            draft.lock = Some(held.lock.mode);
            draft.safe_alternative = Some(
                "put the statement that takes ACCESS EXCLUSIVE last in its transaction, or in its own migration".to_string(),
            );
            out.push(draft);
        }

        // Remember what this statement creates and the constraints it adds / validates.
        for (index, table) in &d.indexes {
            self.indexes.insert(index.clone(), table.clone());
        }
        for name in &d.creates {
            self.new.insert(name.clone());
            self.created.insert(name.clone());
        }
        for (name, table, kind) in &d.constraints {
            let validated = !d.actions.iter().any(|a| {
                matches!(&a.detail, Detail::Constraint { name: Some(n), not_valid: true, .. } if n == name)
            });
            let (references, proves_not_null) = match kind {
                ConstraintKind::ForeignKey(r) => (Some(r.clone()), None),
                ConstraintKind::NotNullCheck(c) => (None, Some(c.clone())),
                ConstraintKind::Other => (None, None),
            };
            self.constraints.insert(
                name.clone(),
                Some(KnownConstraint {
                    table: table.clone(),
                    references,
                    proves_not_null,
                    validated,
                }),
            );
            if in_tx {
                self.added_in_tx.insert(name.clone());
            }
        }
        for a in &d.actions {
            if let Detail::Validate { name } = &a.detail
                && let Some(mut c) = self.constraint(name).cloned()
            {
                c.validated = true;
                self.constraints.insert(name.clone(), Some(c));
            }
            if let Detail::DropConstraint { name } = &a.detail {
                self.constraints.insert(name.clone(), None);
            }
        }
        // Locks taken now are held until the transaction ends.
        let in_tx_after = self.in_tx();
        if in_tx && in_tx_after {
            // Locks on relations created in this run are invisible to production: not tracked.
            for lock in locks.iter().filter(|l| !l.new_relation) {
                let stronger_held = self.held.iter().any(|h| {
                    h.lock.relation == lock.relation
                        && h.lock.target == lock.target
                        && h.lock.mode >= lock.mode
                });
                if !stronger_held {
                    self.held.push(HeldLock {
                        since_statement: index,
                        lock: lock.clone(),
                    });
                }
            }
        }
        if !in_tx && in_tx_after {
            // BEGIN: nothing held yet.
            self.held.clear();
        }

        let analysed = AnalyzedStatement {
            index,
            span: span.clone(),
            start: crate::sql::LineCol { line: 0, column: 0 },
            end: crate::sql::LineCol { line: 0, column: 0 },
            text: String::new(),
            kind: d.kind,
            locks,
            held_before,
            in_transaction: in_tx,
            lock_timeout: self.lock_timeout(),
            statement_timeout: self.statement_timeout(),
            requires_no_transaction: d.no_transaction_block,
        };
        (analysed, out)
    }

    fn check_ctx(&self, in_tx: bool, runner_transaction: bool) -> CheckCtx {
        CheckCtx {
            pg_version: self.ctx.pg_version,
            in_transaction: in_tx,
            runner_transaction,
            not_null_proven: false,
            added_in_same_transaction: false,
            type_change: None,
        }
    }
}
