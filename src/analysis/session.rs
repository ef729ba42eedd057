//! The per-statement pass: the transaction (the runner's wrapper, explicit BEGIN/COMMIT), the
//! lock window, the session timeouts, what is new, and the rules that need that state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::catalog::{
    Catalog, CatalogIndex, Relation, RelationKind, Routine, RoutineLock, Schema, TriggerEvent,
};
use super::coercion::{TypeChange, classify};
use super::describe::{Action, ConstraintKind, Control, Described, Detail, DropKind, Effect};
use super::locks::LockMode;
use super::model::{Cost, Shape, Target, at_least, lookup};
use super::rules::{self, ALock, ActionFacts, CheckCtx, Draft, no_transaction_edit};
use super::types::*;

/// A fix that removes a statement (with its semicolon and line break) so it can move to a
/// migration of its own.
fn move_statement_fix(text: &str, span: &std::ops::Range<usize>) -> Fix {
    let statement = text.get(span.clone()).unwrap_or("");
    let end = crate::sql::past_statement_end(text, span.end);
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

/// Whether the statement detaches `table` from its partitioned table.
fn detached(d: &Described, table: &str) -> bool {
    d.effects
        .iter()
        .any(|e| matches!(e, Effect::PartitionOf { table: t, parent: None, .. } if t == table))
}

/// For a lock hazard on a partitioned table: the partitions the statement locks along
/// (`; it also locks its 2 partitions ("a", "b")`).
fn partitions_note(locks: &[LockFact], draft: &Draft) -> String {
    let Some(table) = draft.table.as_deref() else {
        return String::new();
    };
    if rules::lookup(draft.rule).is_none_or(|r| r.axis != Axis::LockHazard) {
        return String::new();
    }
    let partitions: Vec<&str> = locks
        .iter()
        .filter(|l| l.partition_of.as_deref() == Some(table))
        .map(|l| l.relation.as_str())
        .collect();
    let list = crate::format::quoted_and_more(&partitions, 4);
    match partitions.len() {
        0 => String::new(),
        1 => format!("; it also locks its partition {list}"),
        n => format!("; it also locks its {n} partitions ({list})"),
    }
}

/// Whether a TimeZone value names a zone at UTC all year (the server then changes timestamp ↔
/// timestamptz without a rewrite).
fn is_utc(value: &str) -> bool {
    let v = value
        .trim()
        .trim_matches('\'')
        .trim_matches('"')
        .to_ascii_lowercase();
    matches!(
        v.as_str(),
        "utc" | "etc/utc" | "gmt" | "etc/gmt" | "z" | "zulu" | "universal" | "etc/universal"
    )
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

/// Where a statement's held locks are: the first `len` locks of window `window` (the open
/// transaction's while `window` is the number of windows closed).
#[derive(Debug, Clone, Copy)]
struct HeldRef {
    window: usize,
    len: usize,
}

/// The analyser's state between statements of one file.
pub(crate) struct State<'a> {
    ctx: &'a AnalysisContext,
    /// The runner's wrapping transaction is open.
    runner_tx: bool,
    /// An explicit BEGIN is open (statement index and span), or the transaction a COMMIT or
    /// ROLLBACK … AND CHAIN began after one ([`State::open_by_chain`]).
    pub(crate) open_explicit: Option<(usize, std::ops::Range<usize>)>,
    /// `open_explicit` is the transaction an `… AND CHAIN` began.
    pub(crate) open_by_chain: bool,
    /// The lock window of the open transaction: the locks held so far, in the order taken.
    held: Vec<HeldLock>,
    /// The windows of the transactions that ended (each one that held any lock).
    closed_windows: Vec<Vec<HeldLock>>,
    /// What each statement analysed so far started under.
    held_refs: Vec<HeldRef>,
    session_lock: bool,
    session_statement: bool,
    local_lock: Option<bool>,
    local_statement: Option<bool>,
    /// `SET [LOCAL] TimeZone` to a zone at UTC all year, in the session or the transaction.
    session_utc: bool,
    local_utc: Option<bool>,
    /// Relations new before this file (borrowed: cloning them per file would be quadratic).
    base_new: &'a BTreeSet<String>,
    /// Relations this file created so far.
    new: BTreeSet<String>,
    pub(crate) created: BTreeSet<String>,
    /// The schema as this file has left it so far.
    pub(crate) schema: Schema<'a>,
    /// Constraints added in the current transaction.
    added_in_tx: BTreeSet<String>,
    /// The lock window of the current transaction has been reported (once per transaction).
    window_reported: bool,
    /// Views locked in the current transaction (a view may be dropped by the time it matters).
    locked_views: BTreeSet<String>,
    /// The index the previous statement dropped with `DROP INDEX CONCURRENTLY IF EXISTS`.
    dropped_concurrently: Option<String>,
    /// The file has one lock-taking statement only.
    pub(crate) lone_statement: bool,
    /// Every statement of the file but one only changes settings (`SET`, `RESET`): a failure
    /// leaves nothing applied that a re-run would trip over.
    pub(crate) one_change: bool,
    /// How many statements the file has.
    pub(crate) statement_count: usize,
    /// The line each statement starts on, by index (0: not known): messages name an earlier
    /// statement by its line, as a reviewer finds it.
    pub(crate) statement_lines: Vec<usize>,
    /// How many of them cannot run in a transaction block.
    pub(crate) refusing_count: usize,
    /// A statement that cannot run in a transaction block next to others has been reported.
    not_alone_reported: bool,
    /// Where the previous statement ends (0 before the first).
    previous_end: usize,
    /// The names the file's statements give relations (CREATE, RENAME TO), with the statement.
    pub(crate) name_claims: Vec<(usize, String)>,
    /// The file's statements that end a transaction (COMMIT, ROLLBACK).
    pub(crate) transaction_ends: Vec<usize>,
    /// Relations renamed in the current transaction: the new name, and the name production knows.
    renamed_in_tx: BTreeMap<String, String>,
    /// The statements of the current transaction that write what they read (INSERT … SELECT,
    /// UPDATE … FROM, CREATE TABLE … AS, a DO block): copies of the tables they read.
    copies_at: BTreeSet<usize>,
}

impl<'a> State<'a> {
    /// The state at the start of a file that meets `catalog`, after earlier files of its run
    /// created `base_new`.
    pub(crate) fn new(
        ctx: &'a AnalysisContext,
        base_new: &'a BTreeSet<String>,
        catalog: &'a Catalog,
        index: Option<&'a CatalogIndex>,
    ) -> State<'a> {
        State {
            ctx,
            runner_tx: ctx.in_transaction,
            open_explicit: None,
            open_by_chain: false,
            held: Vec::new(),
            closed_windows: Vec::new(),
            held_refs: Vec::new(),
            session_lock: ctx.session_lock_timeout,
            session_statement: ctx.session_statement_timeout,
            local_lock: None,
            local_statement: None,
            session_utc: false,
            local_utc: None,
            base_new,
            new: BTreeSet::new(),
            created: BTreeSet::new(),
            schema: Schema::new(catalog, index),
            added_in_tx: BTreeSet::new(),
            window_reported: false,
            locked_views: BTreeSet::new(),
            dropped_concurrently: None,
            name_claims: Vec::new(),
            transaction_ends: Vec::new(),
            renamed_in_tx: BTreeMap::new(),
            copies_at: BTreeSet::new(),
            lone_statement: false,
            one_change: false,
            statement_count: 0,
            statement_lines: Vec::new(),
            refusing_count: 0,
            not_alone_reported: false,
            previous_end: 0,
        }
    }

    /// What deleting rows of `table` (or, unless `deletes`, changing its `columns`) does to the
    /// tables whose foreign keys reference it: each is searched for rows still pointing at them
    /// (ROW SHARE), or has them deleted or changed by the key's `CASCADE`, `SET NULL` or `SET
    /// DEFAULT` (ROW EXCLUSIVE); a cascading delete goes on to their own referencing tables.
    fn referencing_effects(
        &self,
        table: &str,
        deletes: bool,
        columns: &[String],
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(Shape, String)>,
    ) {
        for (name, referencing) in self.schema.keys_referencing(table) {
            let Some(key) = self.schema.constraint(&name) else {
                continue;
            };
            if !deletes && !key.referenced_columns.iter().any(|c| columns.contains(c)) {
                continue;
            }
            let action = if deletes {
                key.on_delete
            } else {
                key.on_update
            };
            let shape = if action.writes() {
                Shape::ReferencingRowsWritten
            } else {
                Shape::ReferencingRowsChecked
            };
            match out.iter_mut().find(|(_, t)| *t == referencing) {
                Some(found) if found.0 == Shape::ReferencingRowsChecked => found.0 = shape,
                Some(_) => {}
                None => out.push((shape, referencing.clone())),
            }
            if deletes && action == RefAction::Cascade && seen.insert(referencing.clone()) {
                self.referencing_effects(&referencing, true, &[], seen, out);
            }
        }
    }

    /// The functions a statement runs whose bodies the model knows: those of the triggers it
    /// fires on the tables it writes, and those it calls (`SELECT f()`, `CALL p()`).
    fn functions_run(&self, d: &Described, actions: &[(&Action, bool)]) -> Vec<Fired> {
        let mut out: Vec<Fired> = Vec::new();
        for &(a, no_op) in actions {
            // (A WITH query's write fires with its own events: among the body's writes below.)
            if no_op
                || !matches!(a.shape, Shape::Dml | Shape::Truncate)
                || matches!(a.detail, Detail::CteWrite)
            {
                continue;
            }
            let Some(relation) = self.schema.relation(&a.relation) else {
                continue;
            };
            for (name, trigger) in &relation.triggers {
                let fires = d
                    .fires
                    .iter()
                    .any(|e| trigger.fires_on(*e, d.dml_columns.as_deref()));
                let Some(routine) = self.schema.function(&trigger.function) else {
                    continue;
                };
                let by = Some((name.clone(), a.relation.clone()));
                if fires && !out.iter().any(|f| f.trigger == by) {
                    out.push(Fired {
                        trigger: by,
                        function: trigger.function.clone(),
                        per_row: trigger.per_row,
                        in_branch: false,
                        verb: write_verb(d.kind, &d.fires),
                        run: self.locks_run_by(&trigger.function, routine),
                    });
                }
            }
        }
        // A DO block's writes (a WITH query's) fire their tables' triggers as a function body's do.
        let owner = if d.kind == "DO" { "DO" } else { "WITH" };
        for write in &d.body_writes {
            for (name, trigger) in self.fired_by(write) {
                let Some(routine) = self.schema.function(&trigger.function) else {
                    continue;
                };
                let by = Some((name.clone(), write.relation.clone()));
                if let Some(fired) = out.iter_mut().find(|f| f.trigger == by) {
                    // Fired outside any branch by another write: surely run.
                    fired.in_branch &= write.conditional;
                } else {
                    out.push(Fired {
                        trigger: by,
                        function: trigger.function.clone(),
                        per_row: trigger.per_row,
                        in_branch: write.conditional,
                        verb: write_verb(owner, &write.fires),
                        run: self.locks_run_by(&trigger.function, routine),
                    });
                }
            }
        }
        for (function, per_row) in &d.calls {
            if let Some(routine) = self.schema.function(function)
                && !out
                    .iter()
                    .any(|f| f.trigger.is_none() && f.function == *function)
            {
                out.push(Fired {
                    trigger: None,
                    function: function.clone(),
                    per_row: *per_row,
                    in_branch: false,
                    verb: d.kind,
                    run: self.locks_run_by(function, routine),
                });
            }
        }
        out
    }

    /// What a DO block's writes do through foreign keys (see [`State::write_key_effects`]),
    /// each with whether it is only in a branch.
    fn body_write_key_effects(&self, d: &Described) -> Vec<(Shape, String, bool)> {
        d.body_writes
            .iter()
            .flat_map(|write| {
                self.write_key_effects(write)
                    .into_iter()
                    .map(|(shape, table)| (shape, table, write.conditional))
            })
            .collect()
    }

    /// What a write in a body (a DO block's, a function's) does through foreign keys, as the
    /// same statement written at the top would: a DELETE, or an UPDATE of a referenced key,
    /// reaches the referencing rows; the keys of the rows written are checked.
    fn write_key_effects(&self, write: &RoutineLock) -> Vec<(Shape, String)> {
        let mut effects = Vec::new();
        if let Some(written) = &write.columns {
            self.key_checks(&write.relation, written, &mut effects);
        }
        let deletes = write.fires.contains(&TriggerEvent::Delete);
        if deletes || write.fires == [TriggerEvent::Update] {
            let columns = write.columns.as_deref().unwrap_or_default();
            let mut seen = BTreeSet::from([write.relation.clone()]);
            self.referencing_effects(&write.relation, deletes, columns, &mut seen, &mut effects);
        }
        effects
    }

    /// The lock a statement's foreign keys make it take on `table` (see
    /// [`State::known_foreign_key_effects`]) as the lock-model row `shape` says.
    fn key_effect_lock(&self, shape: Shape, table: String) -> LockFact {
        let row = lookup(shape);
        let mode = row.lock_at(self.ctx.pg_version);
        let scan = row.cost_at(self.ctx.pg_version) == Cost::Scan;
        let new_relation = self.is_new(&table);
        let rows = if scan && !new_relation {
            self.schema.relation(&table).and_then(|r| r.rows)
        } else {
            None
        };
        LockFact {
            rows,
            ..LockFact::on_table(table, mode, shape, row.command, (scan, false), new_relation)
        }
    }

    /// The foreign-key check of a row written to `table` (its columns `written`; empty: every
    /// column): SELECT … FOR KEY SHARE on each referenced table (an UPDATE checks only the keys
    /// on the columns it sets).
    fn key_checks(&self, table: &str, written: &[String], out: &mut Vec<(Shape, String)>) {
        let keys: Vec<&KnownConstraint> = if written.is_empty() {
            self.schema.foreign_keys_of(table, None)
        } else {
            written
                .iter()
                .flat_map(|c| self.schema.foreign_keys_of(table, Some(c)))
                .collect()
        };
        for c in keys {
            if let Some(r) = &c.references
                && r != table
                && !out.iter().any(|(_, o)| o == r)
            {
                out.push((Shape::ForeignKeyCheck, r.clone()));
            }
        }
    }

    /// The triggers (with their names) that a body's write `l` fires on its table.
    fn fired_by<'s>(
        &'s self,
        l: &'s RoutineLock,
    ) -> impl Iterator<Item = (&'s String, &'s crate::analysis::Trigger)> {
        self.schema
            .relation(&l.relation)
            .filter(|_| !l.fires.is_empty())
            .into_iter()
            .flat_map(|relation| &relation.triggers)
            .filter(|(_, trigger)| {
                l.fires
                    .iter()
                    .any(|e| trigger.fires_on(*e, l.columns.as_deref()))
            })
    }

    /// What `function` (whose body is `routine`) locks when it runs: its own statements' locks,
    /// then those of the functions it calls and of the triggers its writes fire, and so on (to
    /// [`CALL_DEPTH`], each function once); a lock reached through a call or trigger that may
    /// not run is conditional, and names the function whose statement takes it.
    fn locks_run_by(&self, function: &str, routine: &Routine) -> RunBy {
        let mut out = Vec::new();
        let mut dynamic = None;
        let mut seen = BTreeSet::from([function.to_string()]);
        let mut pending: Vec<(&Routine, Option<&str>, bool, usize)> =
            vec![(routine, None, false, 0)];
        while let Some((routine, inner, maybe, depth)) = pending.pop() {
            if routine.dynamic && dynamic.is_none() {
                dynamic = Some(inner.unwrap_or(function).to_string());
            }
            out.extend(routine.locks.iter().map(|l| RoutineLock {
                conditional: l.conditional || maybe,
                inner: inner.map(str::to_string),
                ..l.clone()
            }));
            if depth == CALL_DEPTH {
                continue;
            }
            let mut next: Vec<(&str, bool)> = routine
                .calls
                .iter()
                .map(|(f, maybe)| (f.as_str(), *maybe))
                .collect();
            for l in &routine.locks {
                for (_, trigger) in self.fired_by(l) {
                    next.push((&trigger.function, l.conditional || trigger.per_row));
                }
            }
            // In reverse, so the stack runs them in the order written.
            for (name, may_not_run) in next.into_iter().rev() {
                if let Some(called) = self.schema.function(name)
                    && seen.insert(name.to_string())
                {
                    pending.push((called, Some(name), maybe || may_not_run, depth + 1));
                }
            }
        }
        RunBy {
            locks: out,
            dynamic,
        }
    }

    /// `fires-trigger` / `function-locks`: a statement runs a function (a trigger's, on an
    /// existing table, or one it calls) whose body blocks writes to an existing relation.
    fn function_run_finding(
        &self,
        d: &Described,
        span: &std::ops::Range<usize>,
        fire: &Fired,
    ) -> Option<Draft> {
        if fire
            .trigger
            .as_ref()
            .is_some_and(|(_, table)| self.is_new(table))
        {
            return None;
        }
        let blocking: Vec<(&crate::analysis::RoutineLock, LockMode)> = fire
            .run
            .locks
            .iter()
            .filter(|l| !self.is_new(&l.relation))
            .map(|l| (l, l.mode_at(self.ctx.pg_version)))
            .filter(|(_, mode)| mode.blocks_writes())
            .collect();
        let mode = blocking.iter().map(|(_, mode)| *mode).max()?;
        // Every relation it locks so, in the order the body locks them.
        let mut relations: Vec<&str> = Vec::new();
        for (l, m) in &blocking {
            if *m == mode && !relations.contains(&l.relation.as_str()) {
                relations.push(&l.relation);
            }
        }
        let lock = blocking.iter().find(|(_, m)| *m == mode)?.0;
        let others = blocking
            .iter()
            .filter(|(l, m)| *m == mode && l.statement != lock.statement)
            .map(|(l, _)| l.statement.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        let runs = format!(
            "{inner}runs `{statement}`{more}: {mode} lock on {relations} ({blocks}) until the \
             transaction ends",
            statement = lock.statement,
            inner = match &lock.inner {
                Some(function) => format!("runs {function}(), which "),
                None => String::new(),
            },
            more = match others {
                0 => String::new(),
                1 => " and 1 more such statement".to_string(),
                n => format!(" and {n} more such statements"),
            },
            relations = crate::format::quoted_and_more(&relations, 4),
            blocks = mode.blocking_summary(),
        );
        let relations = crate::format::quoted_and_more(&relations, 4);
        let Some((trigger, table)) = &fire.trigger else {
            let verb = if d.kind == "CALL" {
                "CALL"
            } else {
                "statement"
            };
            return Some(
                Draft::new(
                    "function-locks",
                    span.clone(),
                    format!("this {verb} calls {}(), which {runs}", fire.function),
                )
                .on(&lock.relation, mode)
                .help(format!(
                    "review the function's body with the migration: run it at a quiet time with \
                     lock_timeout set, in a migration of its own, so {relations} is not held \
                     locked behind the rest"
                )),
            );
        };
        let verb = fire.verb;
        let message = format!(
            "this {verb} on \"{table}\" fires the trigger \"{trigger}\"{level}, whose function \
             {function}() {runs}{times}",
            level = if fire.per_row { " (FOR EACH ROW)" } else { "" },
            function = fire.function,
            times = if fire.per_row {
                ", and runs it again for every row written"
            } else {
                ""
            },
        );
        Some(
            Draft::new("fires-trigger", span.clone(), message)
                .on(&lock.relation, mode)
                .help(format!(
                    "write the rows in small batches, each in a transaction of its own, so \
                     {relations} stays locked briefly each time; or, at a quiet time, drop the \
                     trigger for the backfill and do its work once afterwards"
                )),
        )
    }

    /// The referenced-table effects of known foreign keys touched by a statement.
    fn known_foreign_key_effects(
        &self,
        d: &Described,
        actions: &[(&Action, bool)],
    ) -> Vec<(Shape, String)> {
        let mut out = Vec::new();
        let cascade = d
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Drop { cascade: true, .. }));
        // DROP FUNCTION … CASCADE drops the triggers that execute them, each on its table.
        for effect in &d.effects {
            if let Effect::DropFunctions {
                names,
                cascade: true,
            } = effect
            {
                for (table, _) in self.schema.triggers_calling(names) {
                    out.push((Shape::DropTrigger, table));
                }
            }
        }
        for (a, _) in actions {
            let cte = matches!(a.detail, Detail::CteWrite);
            if a.shape == Shape::Dml && !cte && (d.deletes || d.updates) {
                let columns = d.dml_columns.as_deref().unwrap_or_default();
                let mut seen = BTreeSet::from([a.relation.clone()]);
                self.referencing_effects(&a.relation, d.deletes, columns, &mut seen, &mut out);
            }
            if cascade && matches!(a.shape, Shape::DropTable | Shape::DropView) {
                // DROP … CASCADE drops the views built on it too.
                for (dependent, kind) in self.schema.dependents(&a.relation) {
                    let shape = if kind == RelationKind::View {
                        Shape::DropView
                    } else {
                        Shape::DropTable
                    };
                    out.push((shape, dependent));
                }
            }
            if cascade && a.shape == Shape::DropTable {
                // … and the foreign keys of other tables that reference it.
                for (_, table) in self.schema.keys_referencing(&a.relation) {
                    if !out.iter().any(|(_, o)| *o == table) {
                        out.push((Shape::DropConstraint, table));
                    }
                }
            }
            match (&a.shape, &a.detail) {
                (_, Detail::Validate { name }) => {
                    if let Some(r) = self
                        .schema
                        .constraint(name)
                        .and_then(|c| c.references.clone())
                    {
                        out.push((Shape::ValidateForeignKeyReferenced, r));
                    }
                }
                (_, Detail::DropConstraint { name }) => {
                    if let Some(r) = self
                        .schema
                        .constraint(name)
                        .and_then(|c| c.references.clone())
                    {
                        out.push((Shape::DropForeignKeyReferenced, r));
                    }
                }
                (Shape::Dml, _) if d.dml_columns.is_some() && !cte => {
                    let written = d.dml_columns.as_deref().unwrap_or_default();
                    self.key_checks(&a.relation, written, &mut out);
                }
                (_, Detail::SetType { column, .. }) => {
                    // Each foreign key on the column, either way, is dropped and re-created: both
                    // tables locked; re-checked row by row when either table is rewritten.
                    let shape = if self.type_change(a) == Some(TypeChange::Rewrite) {
                        Shape::ForeignKeyRechecked
                    } else {
                        Shape::ForeignKeyRecreated
                    };
                    for other in self.foreign_key_tables(&a.relation, column) {
                        if !out.iter().any(|(_, o)| *o == other) {
                            out.push((shape, other));
                        }
                    }
                }
                (Shape::DropColumn, Detail::Column { column }) => {
                    // A foreign key on the column is dropped with it.
                    for c in self.schema.foreign_keys_of(&a.relation, Some(column)) {
                        if let Some(r) = &c.references
                            && *r != a.relation
                            && !out.iter().any(|(_, o)| o == r)
                        {
                            out.push((Shape::DropForeignKeyReferenced, r.clone()));
                        }
                    }
                }
                (Shape::DropTable, _) => {
                    for c in self.schema.foreign_keys_of(&a.relation, None) {
                        if let Some(r) = &c.references
                            && *r != a.relation
                            && !out.iter().any(|(_, o)| o == r)
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

    /// The name production knows a relation by: its name before a RENAME in this transaction.
    fn known_name<'n>(&'n self, relation: &'n str) -> &'n str {
        self.renamed_in_tx
            .get(relation)
            .map(String::as_str)
            .unwrap_or(relation)
    }

    /// Where the statement of `index` is, for a message: `line 8` (`statement 3` when its line is
    /// not known).
    fn statement_at(&self, index: usize) -> String {
        match self.statement_lines.get(index) {
            Some(&line) if line > 0 => format!("line {line}"),
            _ => format!("statement {}", index + 1),
        }
    }

    /// The statement that gives another relation the name `name` after statement `index` (of
    /// `d`) removes it, in the same transaction: this one (a DO block that does both), or a later
    /// one with no COMMIT or ROLLBACK between.
    fn reclaimed(&self, index: usize, d: &Described, name: &str) -> Option<usize> {
        if d.named_relations().any(|n| n == name) {
            return Some(index);
        }
        let end = self
            .transaction_ends
            .iter()
            .copied()
            .find(|&e| e >= index)
            .unwrap_or(usize::MAX);
        self.name_claims
            .iter()
            .find(|(at, claimed)| *at > index && *at < end && claimed == name)
            .map(|(at, _)| *at)
    }

    /// The other tables of the foreign keys on `table`.`column`, either way: the tables its keys
    /// reference, and those whose keys reference it.
    fn foreign_key_tables(&self, table: &str, column: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .schema
            .foreign_keys_of(table, Some(column))
            .into_iter()
            .filter_map(|c| c.references.clone())
            .chain(self.schema.keys_referencing_column(table, column))
            .filter(|other| other != table)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether a relation is known to be a view (no storage: its lock blocks only queries on it).
    fn is_view(&self, relation: &str) -> bool {
        self.locked_views.contains(relation)
            || self
                .schema
                .relation(relation)
                .is_some_and(Relation::is_view)
    }

    /// The statement's actions that run, each with whether it is a no-op (`IF NOT EXISTS` on an
    /// object that exists: it still takes its lock, but builds, scans and adds nothing). Actions
    /// on objects an `IF EXISTS` does not find, and statements an `IF NOT EXISTS` finds done
    /// already, take no lock at all.
    fn live_actions<'d>(&self, d: &'d Described) -> Vec<(&'d Action, bool)> {
        if let Some(table) = &d.only_if_exists
            && self.schema.relation_exists(table) == Some(false)
        {
            return Vec::new();
        }
        let mut absent: BTreeSet<&str> = BTreeSet::new();
        let mut no_op_tables: BTreeSet<&str> = BTreeSet::new();
        let mut present_columns: Vec<(&str, &str)> = Vec::new();
        for effect in &d.effects {
            match effect {
                Effect::Drop {
                    kind,
                    names,
                    if_exists: true,
                    ..
                } => {
                    for name in names {
                        let exists = if *kind == DropKind::Index {
                            self.schema.index_exists(name)
                        } else {
                            self.schema.relation_exists(name)
                        };
                        if exists == Some(false) {
                            absent.insert(name);
                        }
                    }
                }
                Effect::Create {
                    name,
                    if_not_exists: true,
                    ..
                } if self.schema.relation_exists(name) == Some(true) => return Vec::new(),
                // The server looks the trigger up before it locks the table.
                Effect::DropTrigger {
                    table,
                    name,
                    if_exists: true,
                } if self.schema.trigger_exists(table, name) == Some(false) => return Vec::new(),
                Effect::CreateIndex {
                    name,
                    table,
                    if_not_exists: true,
                } if self.schema.index_exists(name) == Some(true) => {
                    no_op_tables.insert(table);
                }
                Effect::AddColumn {
                    table,
                    column,
                    if_not_exists: true,
                    ..
                } if self
                    .schema
                    .relation(table)
                    .is_some_and(|r| r.columns.contains_key(column)) =>
                {
                    present_columns.push((table, column));
                }
                _ => {}
            }
        }
        d.actions
            .iter()
            .filter(|a| !absent.contains(a.relation.as_str()))
            .map(|a| {
                let no_op = match (&a.shape, &a.detail) {
                    // ON ONLY a partitioned table: an invalid index on the table alone, nothing
                    // to build.
                    (Shape::CreateIndex, _)
                        if d.only.contains(&a.relation)
                            && self
                                .schema
                                .relation(&a.relation)
                                .is_some_and(Relation::is_partitioned) =>
                    {
                        true
                    }
                    (Shape::CreateIndex | Shape::CreateIndexConcurrently, _) => {
                        no_op_tables.contains(a.relation.as_str())
                    }
                    (_, Detail::AddColumn { column, .. }) => present_columns
                        .iter()
                        .any(|(t, c)| *t == a.relation && *c == column),
                    // The column is NOT NULL already: the server skips the scan.
                    (Shape::SetNotNull, Detail::Column { column }) => self
                        .schema
                        .relation(&a.relation)
                        .is_some_and(|r| r.not_null.contains(column)),
                    _ => false,
                };
                (a, no_op)
            })
            .collect()
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

    /// Ends the open transaction's lock window.
    fn close_window(&mut self) {
        if !self.held.is_empty() {
            self.closed_windows.push(std::mem::take(&mut self.held));
        }
    }

    /// The locks held when the statement that started under `held` started.
    fn held_before(&self, held: HeldRef) -> &[HeldLock] {
        let window = self.closed_windows.get(held.window).unwrap_or(&self.held);
        &window[..held.len.min(window.len())]
    }

    /// The locks held when each statement analysed so far started, in order, each a prefix of
    /// its transaction's window (shared); ends the open transaction's window.
    pub(crate) fn take_held_before(&mut self) -> Vec<HeldBefore> {
        self.close_window();
        let windows: Vec<Arc<[HeldLock]>> = std::mem::take(&mut self.closed_windows)
            .into_iter()
            .map(Arc::from)
            .collect();
        std::mem::take(&mut self.held_refs)
            .into_iter()
            .map(|held| match windows.get(held.window) {
                Some(window) if held.len > 0 => HeldBefore::prefix(window.clone(), held.len),
                _ => HeldBefore::default(),
            })
            .collect()
    }

    fn end_transaction(&mut self) {
        self.runner_tx = false;
        self.open_explicit = None;
        self.open_by_chain = false;
        self.renamed_in_tx.clear();
        self.copies_at.clear();
        self.close_window();
        self.local_lock = None;
        self.local_statement = None;
        self.local_utc = None;
        self.added_in_tx.clear();
        self.window_reported = false;
        self.locked_views.clear();
    }

    fn is_new(&self, relation: &str) -> bool {
        self.new.contains(relation) || self.base_new.contains(relation)
    }

    /// Whether an action's relation is new (for an index: or its table; for CREATE OR REPLACE
    /// VIEW: or not there before).
    fn action_on_new(&self, a: &Action) -> bool {
        a.on_created
            || self.is_new(&a.relation)
            // CREATE OR REPLACE of a view known not to exist creates it.
            || (a.shape == Shape::ReplaceView
                && self.schema.relation_exists(&a.relation) == Some(false))
            || (lookup(a.shape).target == Target::Index
                && self
                    .schema
                    .index_table(&a.relation)
                    .is_some_and(|t| self.is_new(t)))
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
        let old = self.schema.column_type(&a.relation, column);
        match classify(old, new_type, *plain, self.ctx.pg_version) {
            TypeChange::FreeInUtc if self.local_utc.unwrap_or(self.session_utc) => {
                Some(TypeChange::Free)
            }
            verdict => Some(verdict),
        }
    }

    /// A `SET NOT NULL` the server runs without a scan: a validated `CHECK (col IS NOT NULL)`
    /// already proves the column (from 12 on: [`Shape::SetNotNullProven`]).
    fn not_null_proven(&self, a: &Action) -> bool {
        let (Shape::SetNotNull, Detail::Column { column }) = (&a.shape, &a.detail) else {
            return false;
        };
        lookup(Shape::SetNotNullProven).cost_at(self.ctx.pg_version) == Cost::None
            && self.schema.constraints_touching(&a.relation).any(|(_, c)| {
                c.table == a.relation
                    && c.validated
                    && c.proves_not_null.as_deref() == Some(column.as_str())
            })
    }

    fn facts(&self, a: &Action, no_op: bool) -> ActionFacts {
        let row = lookup(a.shape);
        let mut cost = row.cost_at(self.ctx.pg_version);
        if let Some(change) = self.type_change(a) {
            cost = match change {
                TypeChange::Rewrite => Cost::Rewrite,
                TypeChange::Free | TypeChange::Unknown | TypeChange::FreeInUtc => Cost::None,
            };
        }
        if no_op || self.not_null_proven(a) {
            cost = Cost::None;
        }
        ActionFacts {
            mode: a.mode_override.unwrap_or(row.lock_at(self.ctx.pg_version)),
            cost,
            new_relation: self.action_on_new(a),
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
        let previous_end = std::mem::replace(&mut self.previous_end, span.end);
        let in_tx = self.in_tx();
        let held_ref = HeldRef {
            window: self.closed_windows.len(),
            len: self.held.len(),
        };
        self.held_refs.push(held_ref);
        let runner_transaction = self.runner_tx && self.open_explicit.is_none();

        // Transaction control.
        for control in &d.control {
            match control {
                Control::Begin => {
                    if self.runner_tx {
                        let message = match self.ctx.runner {
                            Runner::Sqlx => "BEGIN inside the runner's transaction: sqlx (`sqlx migrate run`, `sqlx::migrate!`) already wraps this migration in a transaction, so this BEGIN only warns, and the matching COMMIT commits sqlx's transaction early (lockstep runs such a file as written instead, and records what its own transactions commit)".to_string(),
                            runner => format!(
                                "BEGIN inside the runner's transaction: {} already runs this migration in a transaction, so this BEGIN only warns, and the matching COMMIT commits that transaction early",
                                runner.name()
                            ),
                        };
                        out.push(Draft::new("transaction-nesting", span.clone(), message));
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
                &(Control::Commit { chain: chained } | Control::Rollback { chain: chained }) => {
                    let runner_open = self.runner_tx && self.open_explicit.is_none();
                    let explicit_open = self.open_explicit.is_some();
                    if runner_open {
                        let sqlx = self.ctx.runner == Runner::Sqlx;
                        let half_applied = if sqlx {
                            " (sqlx then records nothing; lockstep records it as partially applied)"
                        } else {
                            ""
                        };
                        let message = match (control, chained) {
                            (Control::Commit { .. }, true) => format!(
                                "COMMIT AND CHAIN inside the runner's transaction commits the statements before it on their own and begins another transaction: a failure after it leaves the migration half applied{half_applied}"
                            ),
                            (_, true) => format!(
                                "ROLLBACK AND CHAIN inside the runner's transaction undoes every statement before it and begins another transaction: {} then records the migration as applied without them",
                                self.ctx.runner.name()
                            ),
                            _ => format!(
                                "COMMIT/ROLLBACK inside the runner's transaction ends it early: the statements after it run outside any transaction, and a failure leaves the migration half applied{half_applied}"
                            ),
                        };
                        let mut draft = Draft::new("transaction-nesting", span.clone(), message);
                        draft.safe_alternative = Some(format!(
                            "remove BEGIN/COMMIT ({} wraps the migration), or {} and manage the transaction yourself",
                            self.ctx.runner.name(),
                            self.ctx.runner.outside_transaction()
                        ));
                        out.push(draft);
                    } else if self.runner_tx {
                        // BEGIN … COMMIT inside the runner's transaction: reported at the BEGIN.
                    }
                    self.end_transaction();
                    // AND CHAIN: the next transaction begins at once, in the same hands.
                    if chained && runner_open {
                        self.runner_tx = true;
                    } else if chained && explicit_open {
                        self.open_explicit = Some((index, span.clone()));
                        self.open_by_chain = true;
                    }
                }
                Control::Set {
                    param,
                    value,
                    local,
                } => {
                    let (on, session, local_slot) = match param.as_str() {
                        "lock_timeout" => (
                            !disables(value.as_deref()),
                            &mut self.session_lock,
                            &mut self.local_lock,
                        ),
                        "statement_timeout" => (
                            !disables(value.as_deref()),
                            &mut self.session_statement,
                            &mut self.local_statement,
                        ),
                        "timezone" => (
                            value.as_deref().is_some_and(is_utc),
                            &mut self.session_utc,
                            &mut self.local_utc,
                        ),
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
                    if all || p == "timezone" {
                        self.session_utc = false;
                        self.local_utc = None;
                    }
                }
            }
        }

        // Syntax this server refuses: the migration fails at this statement.
        for newer in &d.newer_syntax {
            if at_least(self.ctx.pg_version, newer.since) {
                continue;
            }
            let mut draft = Draft::new(
                "needs-newer-server",
                newer.span.clone(),
                format!(
                    "{} needs PostgreSQL {}: PostgreSQL {} refuses it (a syntax error), and the \
                     migration fails here",
                    newer.what, newer.since, self.ctx.pg_version
                ),
            );
            draft.safe_alternative = Some(format!(
                "on PostgreSQL {}: {}",
                self.ctx.pg_version, newer.instead
            ));
            out.push(draft);
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
                    match (runner_transaction, self.ctx.runner) {
                        (false, _) => "",
                        (true, Runner::Diesel) => " (diesel wraps this migration in one)",
                        (true, Runner::GolangMigrate | Runner::GolangMigrateMultiStatement) => {
                            " (golang-migrate sends the file as one query, which PostgreSQL runs as one implicit transaction)"
                        }
                        (true, Runner::Sqlx) => " (sqlx wraps this migration in one)",
                        (true, Runner::Goose) => " (goose runs this migration in one)",
                        (true, Runner::Dbmate) => {
                            " (dbmate runs this section in one: its own, or with `transaction:false` the implicit one PostgreSQL makes of a query of several statements, as dbmate sends the section)"
                        }
                        (true, Runner::Prisma) => {
                            " (Prisma sends migration.sql as one query, which PostgreSQL runs as one implicit transaction)"
                        }
                    }
                ),
            );
            draft.safe_alternative = Some(format!(
                "put it {}",
                self.ctx.runner.outside_transaction_home()
            ));
            let ctx = self.check_ctx(in_tx, runner_transaction);
            if let Some(edit) = no_transaction_edit(&ctx) {
                draft.fix = Some(Fix {
                    description: "mark the migration `-- no-transaction` (move any other statements to their own migration)".to_string(),
                    edits: vec![edit],
                });
            }
            out.push(draft);
        }

        if let Some(what) = d.no_transaction_block
            && !in_tx
        {
            out.extend(self.not_alone(what, index, span, previous_end, text));
        }

        // Outside a transaction a failed migration is re-run over its own half-applied work.
        let concurrent_build = d
            .actions
            .iter()
            .find(|a| a.shape == Shape::CreateIndexConcurrently);
        if !in_tx && let Some(build) = concurrent_build {
            out.extend(self.concurrent_build_robustness(d, build, span, text));
        } else if !in_tx
            && !self.one_change
            && let Some((false, insert_at)) = d.robustness
        {
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
        self.dropped_concurrently = d.effects.iter().find_map(|e| match e {
            Effect::Drop {
                kind: DropKind::Index,
                names,
                if_exists: true,
                ..
            } if d.no_transaction_block.is_some() => names.first().cloned(),
            _ => None,
        });
        let actions = self.live_actions(d);

        // Lock facts, merged per relation (the strongest mode and the most work).
        let mut locks: Vec<LockFact> = Vec::new();
        for &(a, no_op) in &actions {
            if a.relation.is_empty() || (a.shape == Shape::DomainAddConstraint) {
                continue;
            }
            let row = lookup(a.shape);
            let f = self.facts(a, no_op);
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
                rows: None,
                partition_of: None,
                conditional: a.conditional,
                via: None,
                new_relation: f.new_relation
                    || a.shape == Shape::CreateTable
                    || (d.kind != "DO" && d.creates.contains(&a.relation)),
            };
            match locks
                .iter_mut()
                .find(|l| l.relation == fact.relation && l.target == fact.target)
            {
                // A DO block that renames a table away and creates another under its name: the
                // new table's work is not done under the old one's lock.
                Some(existing) if a.on_created && !existing.new_relation => {}
                Some(existing) => {
                    existing.strengthen(&fact);
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
            lock.duration = LikelyDuration::of_lock(lock.shape, lock.scan, lock.rewrite);
            if lock.duration != LikelyDuration::Brief && !lock.new_relation {
                lock.rows = self.schema.relation(&lock.relation).and_then(|r| r.rows);
            }
        }

        // Foreign keys seen earlier in the run: VALIDATE takes ROW SHARE on the referenced table;
        // dropping the key (DROP CONSTRAINT, DROP TABLE) takes ACCESS EXCLUSIVE on it.
        let key_effects = self.known_foreign_key_effects(d, &actions).into_iter();
        let key_effects = key_effects
            .map(|(shape, table)| (shape, table, false))
            .chain(self.body_write_key_effects(d));
        for (shape, referenced, conditional) in key_effects {
            LockFact {
                // A foreign key's work for the rows a DML statement writes: none when it writes
                // none (or only NULL keys).
                conditional: conditional || shape.per_written_row(),
                ..self.key_effect_lock(shape, referenced)
            }
            .add_to(&mut locks);
        }

        // DROP FUNCTION … CASCADE: each trigger it drops along locks its table.
        for effect in &d.effects {
            let Effect::DropFunctions {
                names,
                cascade: true,
            } = effect
            else {
                continue;
            };
            for (table, triggers) in self.schema.triggers_calling(names) {
                let list = crate::format::quoted_and_more(&triggers, usize::MAX);
                out.push(
                    Draft::new(
                        "trigger-lock",
                        span.clone(),
                        format!(
                            "DROP FUNCTION … CASCADE also drops the trigger{} {list} on \"{table}\", which takes an ACCESS EXCLUSIVE lock on \"{table}\" (blocks reads and writes)",
                            if triggers.len() == 1 { "" } else { "s" }
                        ),
                    )
                    .on(&table, LockMode::AccessExclusive)
                    .help("drop the triggers first (DROP TRIGGER … ON each table, with lock_timeout set), then the functions without CASCADE"),
                );
            }
        }

        // An index statement also locks the index's table, when the index is known.
        for &(a, no_op) in &actions {
            // ALTER INDEX … RENAME locks the index alone.
            if lookup(a.shape).target != Target::Index || a.shape == Shape::RenameIndex {
                continue;
            }
            let Some(table) = self.schema.index_table(&a.relation).map(str::to_string) else {
                continue;
            };
            let f = self.facts(a, no_op);
            if locks
                .iter()
                .any(|l| l.relation == table && l.target == Target::Table)
            {
                continue;
            }
            let row = lookup(a.shape);
            // REINDEX INDEX reads the whole table under SHARE to rebuild the index; the others
            // take the index's lock on the table, briefly.
            let (mode, scan) = match a.shape {
                Shape::ReindexIndex => (LockMode::Share, true),
                // Attaching an index reads both indexes' tables.
                Shape::AttachIndexParent | Shape::AttachIndexChild => {
                    (LockMode::AccessShare, false)
                }
                _ => (f.mode, false),
            };
            let new_relation = self.is_new(&table);
            locks.push(LockFact {
                // (A DO block's branch: taken only when it runs, as the index's own lock.)
                conditional: a.conditional,
                ..LockFact::on_table(
                    table,
                    mode,
                    a.shape,
                    row.command,
                    (scan, false),
                    new_relation,
                )
            });
        }
        self.partition_locks(d, &actions, &mut locks);
        self.view_locks(d, &actions, &mut locks);

        // The functions the statement runs (its triggers', those it calls) lock what their
        // bodies' statements lock.
        let fired = self.functions_run(d, &actions);
        for fire in &fired {
            let via = fire.via();
            for l in &fire.run.locks {
                let row = lookup(l.shape);
                let mode = l.mode_at(self.ctx.pg_version);
                let conditional = fire.per_row || fire.in_branch || l.conditional;
                let cost = row.cost_at(self.ctx.pg_version);
                LockFact {
                    target: row.target,
                    conditional,
                    via: Some(via.clone()),
                    ..LockFact::on_table(
                        l.relation.clone(),
                        mode,
                        l.shape,
                        row.command,
                        (cost == Cost::Scan, cost == Cost::Rewrite),
                        self.is_new(&l.relation),
                    )
                }
                .add_to(&mut locks);
                for table in self.read_behind(std::iter::once((l.shape, l.relation.as_str()))) {
                    LockFact {
                        conditional,
                        via: Some(via.clone()),
                        ..self.read_through_view(table)
                    }
                    .add_to(&mut locks);
                }
                for (shape, table) in self.write_key_effects(l) {
                    LockFact {
                        conditional: conditional || shape.per_written_row(),
                        via: Some(via.clone()),
                        ..self.key_effect_lock(shape, table)
                    }
                    .add_to(&mut locks);
                }
            }
            if let Some(draft) = self.function_run_finding(d, span, fire) {
                out.push(draft);
            }
        }
        // So does a function's, which the statement runs.
        if let Some((fire, function)) = fired
            .iter()
            .find_map(|fire| Some((fire, fire.run.dynamic.as_deref()?)))
        {
            let who = match &fire.trigger {
                None if function == fire.function => format!("function {function}()"),
                _ => format!("function {function}() (run by {})", fire.via()),
            };
            self.schema.changes.unseen = true;
            out.push(dynamic_sql(
                span,
                &format!("this statement ({}) runs {who}, which runs", fire.verb),
            ));
        }

        // A DELETE reaches the rows that reference the deleted ones, through the keys' actions.
        // (A DO block's: the table of its first DELETE; else that of the first DELETE of a
        // function the statement runs.)
        let is_delete = |w: &&RoutineLock| w.fires.contains(&TriggerEvent::Delete);
        let deleted = if d.deletes {
            actions
                .iter()
                .find(|(a, _)| a.shape == Shape::Dml)
                .map(|(a, _)| {
                    (
                        a.relation.as_str(),
                        format!("this DELETE on \"{}\"", a.relation),
                    )
                })
        } else if let Some(w) = d.body_writes.iter().find(is_delete) {
            let head = if d.kind == "DO" {
                format!("this DO block's DELETE on \"{}\"", w.relation)
            } else {
                format!(
                    "the DELETE on \"{}\" in this statement's WITH query",
                    w.relation
                )
            };
            Some((w.relation.as_str(), head))
        } else {
            fired.iter().find_map(|fire| {
                let w = fire.run.locks.iter().find(is_delete)?;
                let head = format!("the DELETE on \"{}\" that {} runs", w.relation, fire.via());
                Some((w.relation.as_str(), head))
            })
        };
        if let Some((target, head)) = deleted
            && !self.is_new(target)
        {
            let reached: Vec<&str> = locks
                .iter()
                .filter(|l| l.shape == Shape::ReferencingRowsWritten && !l.new_relation)
                .map(|l| l.relation.as_str())
                .collect();
            if !reached.is_empty() {
                let mut draft = Draft::new(
                    "delete-cascades",
                    span.clone(),
                    format!(
                        "{head} also deletes or changes the rows that reference the deleted ones \
                         in {} table{} ({}), through their foreign keys' ON DELETE CASCADE, SET \
                         NULL or SET DEFAULT",
                        reached.len(),
                        if reached.len() == 1 { "" } else { "s" },
                        crate::format::first_and_more(&reached, 8),
                    ),
                );
                // (The finding is about the rows reached, not about a lock.)
                draft.table = Some(target.to_string());
                draft.safe_alternative = Some(
                    "count what each table would lose first (SELECT count(*) … WHERE the key IN \
                     the rows to delete), and delete or detach those rows in statements of their \
                     own, so the review sees each"
                        .to_string(),
                );
                out.push(draft);
            }
        }

        // What a DO block's EXECUTE runs is built at run time: nothing above saw it.
        if d.runs_dynamic_sql {
            out.push(dynamic_sql(span, "this DO block runs"));
        }

        // Per-action rules.
        for &(a, no_op) in &actions {
            if no_op {
                continue;
            }
            let f = self.facts(a, no_op);
            let mut ctx = self.check_ctx(in_tx, runner_transaction);
            if lookup(a.shape).target == Target::Index {
                ctx.index_table = self.schema.index_table(&a.relation).map(str::to_string);
            }
            ctx.default_partition = self
                .default_partition_met(d, a)
                .filter(|default| !self.is_new(default));
            if a.shape == Shape::DropTable {
                ctx.referenced_tables = self.schema.referenced_by_keys_of(&a.relation);
                ctx.partition_parent = self
                    .schema
                    .partition_parent(&a.relation)
                    .filter(|parent| !self.is_new(parent))
                    .map(str::to_string);
            }
            let table = match lookup(a.shape).target {
                Target::Index => ctx.index_table.as_deref(),
                _ => Some(a.relation.as_str()),
            };
            if let Some(partitions) = table.and_then(|t| self.schema.partitions_of(t)) {
                ctx.leaf_partitions = partitions
                    .iter()
                    .filter(|p| {
                        !self
                            .schema
                            .relation(p)
                            .is_some_and(Relation::is_partitioned)
                    })
                    .cloned()
                    .collect();
                ctx.partitions = Some(partitions);
            }
            out.extend(rules::refused_on_partitioned_table(a, &ctx));
            // A name given back in the same transaction (a table rebuilt and swapped in).
            let removed = match (&a.shape, &a.detail) {
                (Shape::DropTable, _) => Some(a.relation.as_str()),
                (
                    Shape::Rename,
                    Detail::Rename {
                        what: "table",
                        from,
                        ..
                    },
                ) => Some(from.as_str()),
                _ => None,
            };
            if in_tx && let Some(name) = removed {
                ctx.replaced_by = self.reclaimed(index, d, name).map(|at| {
                    if at == index {
                        "later in this statement".to_string()
                    } else {
                        format!("the statement at {}", self.statement_at(at))
                    }
                });
            }
            ctx.not_null_proven = self.not_null_proven(a);
            ctx.type_change = self.type_change(a);
            if let Detail::SetType { column, .. } = &a.detail {
                ctx.key_tables = self.foreign_key_tables(&a.relation, column);
            }
            if let Detail::Validate { name } = &a.detail {
                ctx.added_in_same_transaction = in_tx && self.added_in_tx.contains(name);
            }
            let mut drafts = rules::check_action(a, f, &ctx);
            if d.kind == "DO" {
                // Its actions are its body's statements (or an EXECUTE's command): their offsets
                // are in that text, not the file's, so no fix can edit the file from them.
                for draft in &mut drafts {
                    draft.fix = None;
                }
            }
            // A table renamed earlier in this transaction: production never saw its new name,
            // and the RENAME took the same lock already.
            let renamed_here = self.renamed_in_tx.contains_key(&a.relation)
                || d.effects
                    .iter()
                    .any(|e| matches!(e, Effect::RenameRelation { to, .. } if *to == a.relation));
            if a.shape == Shape::DropTable && in_tx && renamed_here {
                drafts.retain(|draft| draft.rule != "drop-table");
            }
            for draft in &mut drafts {
                draft.message.push_str(&partitions_note(&locks, draft));
                if draft.rule == "validate-in-same-transaction" && d.actions.len() == 1 {
                    draft.fix = Some(move_statement_fix(text, span));
                }
                if matches!(draft.rule, "drop-table" | "drop-view") {
                    draft
                        .message
                        .push_str(&self.dependents_note(d, &a.relation));
                }
            }
            out.extend(drafts);
        }

        // Lock timeout: a blocking lock on an existing relation requested without lock_timeout.
        let mut dangerous: Vec<&LockFact> = locks
            .iter()
            .filter(|l| {
                !l.new_relation
                    && l.target != Target::TypeObject
                    && l.mode.is_dangerous()
                    && !self.is_view(&l.relation)
            })
            .collect();
        // Name a table before an index (a DROP INDEX blocks the table's queries).
        dangerous.sort_by_key(|l| l.target != Target::Table);
        if let Some(first) = dangerous.first() {
            if !self.lock_timeout() {
                let mut draft = Draft::new(
                    "missing-lock-timeout",
                    span.clone(),
                    format!(
                        "{} requests {} without lock_timeout: while it waits behind a long transaction, every later query on \"{}\" queues behind it",
                        d.kind,
                        ALock(first.mode, &first.relation),
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
                        match &work.via {
                            Some(via) => format!("the {} that {via} runs", work.command),
                            None => d.kind.to_string(),
                        },
                        if work.rewrite { "rewrites" } else { "scans" },
                        work.relation,
                        ALock(work.mode, &work.relation)
                    ),
                );
                draft.table = Some(work.relation.clone());
                draft.lock = Some(work.mode);
                draft.safe_alternative =
                    Some("SET statement_timeout to a bound you can afford, or configure lockstep's statement timeout".to_string());
                out.push(draft);
            }
        }

        // Lock window: once per transaction, the first statement that does real work (scans,
        // rewrites, a bulk change, a function call) on a pre-existing table while an earlier
        // statement's ACCESS EXCLUSIVE or SHARE lock on a pre-existing table is still held.
        if in_tx && !self.window_reported {
            let on_existing = |l: &LockFact| {
                !l.new_relation && l.target == Target::Table && !self.is_view(&l.relation)
            };
            let work = locks
                .iter()
                .find(|l| on_existing(l) && (l.scan || l.rewrite))
                .map(|l| (if l.rewrite { "rewrites" } else { "scans" }, l))
                .or_else(|| {
                    // Rows read or written (a DO block's or a function's DDL is not such work:
                    // its scans and rewrites were looked for above).
                    let row_work = |l: &&LockFact| {
                        matches!(
                            l.shape,
                            Shape::Dml
                                | Shape::Select
                                | Shape::SelectForUpdate
                                | Shape::ForeignKeyCheck
                        )
                    };
                    locks
                        .iter()
                        .filter(row_work)
                        .find(|l| d.bulk && on_existing(l))
                        .map(|l| {
                            // (An INSERT … SELECT reads the table it copies from.)
                            let verb = if l.shape == Shape::Dml {
                                "changes rows of"
                            } else {
                                "reads"
                            };
                            (verb, l)
                        })
                });
            // (Looked for only when there is work: the held locks can be many.)
            let held_before = if work.is_some() {
                self.held_before(held_ref)
            } else {
                &[]
            };
            let candidates: Vec<&HeldLock> = held_before
                .iter()
                .filter(|h| {
                    matches!(h.lock.mode, LockMode::AccessExclusive | LockMode::Share)
                    && h.lock.target == Target::Table
                    && !h.lock.new_relation
                    && !self.is_view(&h.lock.relation)
                    // A dropped relation is gone at COMMIT: what reads it breaks either way.
                    && !matches!(h.lock.shape, Shape::DropTable | Shape::DropView)
                    && self
                        .schema
                        .relation(&h.lock.relation)
                        .and_then(|r| r.rows)
                        != Some(0)
                })
                .collect();
            // The lock on the table the work is on, when it is among them; else the first.
            let held = work.and_then(|(_, worked)| {
                let on = self.known_name(&worked.relation);
                candidates
                    .iter()
                    .find(|h| self.known_name(&h.lock.relation) == on)
                    .or(candidates.first())
                    .copied()
            });
            if let (Some((verb, worked)), Some(held)) = (work, held) {
                // The locked table renamed since (a copy back from a table renamed away).
                let worked_name = if worked.relation != held.lock.relation
                    && self.known_name(&worked.relation) == self.known_name(&held.lock.relation)
                {
                    format!(
                        "\"{}\" (\"{}\" before its RENAME)",
                        worked.relation, held.lock.relation
                    )
                } else {
                    format!("\"{}\"", worked.relation)
                };
                let mut draft = Draft::new(
                    "lock-held-across-statements",
                    span.clone(),
                    format!(
                        "this statement ({}) {verb} {worked_name} while the {} lock on \"{}\" taken at {} ({}) is still held (locks are held until COMMIT): {} of \"{}\" stay blocked for as long as it runs",
                        d.kind,
                        held.lock.mode,
                        held.lock.relation,
                        self.statement_at(held.since_statement),
                        // (A function's statement: named with what ran it.)
                        match &held.lock.via {
                            Some(via) => format!("{}, run by {via}", held.lock.command),
                            None => held.lock.command.to_string(),
                        },
                        if held.lock.mode.blocks_reads() {
                            "reads and writes"
                        } else {
                            "writes"
                        },
                        held.lock.relation
                    ),
                );
                draft.table = Some(held.lock.relation.clone());
                draft.lock = Some(held.lock.mode);
                draft.safe_alternative = Some(format!(
                    "run this work in its own migration (or before {}), so the lock on \"{}\" is held only briefly",
                    self.statement_at(held.since_statement),
                    held.lock.relation
                ));
                out.push(draft);
                self.window_reported = true;
            }
        }

        // Copied, then dropped: what other sessions write between the copy's read and the drop's
        // lock is lost, unless a lock that blocks writes was taken before the copy.
        if in_tx {
            for &(a, no_op) in &actions {
                if no_op || a.shape != Shape::DropTable || self.is_new(&a.relation) {
                    continue;
                }
                let known = self.known_name(&a.relation);
                let same = |h: &&HeldLock| {
                    h.lock.target == Target::Table && self.known_name(&h.lock.relation) == known
                };
                let Some(read) = self.held_before(held_ref).iter().filter(same).find(|h| {
                    h.lock.shape == Shape::Select && self.copies_at.contains(&h.since_statement)
                }) else {
                    continue;
                };
                let guarded = self.held_before(held_ref).iter().filter(same).any(|h| {
                    h.lock.mode.blocks_writes() && h.since_statement <= read.since_statement
                });
                if guarded {
                    continue;
                }
                let at = self.statement_at(read.since_statement);
                out.push(
                    Draft::new(
                        "copy-loses-writes",
                        span.clone(),
                        format!(
                            "DROP TABLE \"{rel}\" loses what other sessions write to \"{rel}\" after the statement at {at} copied from it: only {} is held in between",
                            ALock(read.lock.mode, &a.relation),
                            rel = a.relation
                        ),
                    )
                    .on(&a.relation, LockMode::AccessExclusive)
                    .help(format!(
                        "LOCK TABLE \"{}\" IN EXCLUSIVE MODE before {at}: writes wait until COMMIT (reads continue), so the copy misses nothing",
                        a.relation
                    )),
                );
            }
        }

        for lock in &locks {
            if self.is_view(&lock.relation) {
                self.locked_views.insert(lock.relation.clone());
            }
        }
        self.apply_effects(d, &actions, in_tx);
        // Locks taken now are held until the transaction ends.
        let in_tx_after = self.in_tx();
        if in_tx && in_tx_after {
            if matches!(
                d.kind,
                "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "DO" | "CREATE TABLE" | "SELECT"
            ) {
                self.copies_at.insert(index);
            }
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
            self.renamed_in_tx.clear();
            self.copies_at.clear();
            self.close_window();
        }

        let analysed = AnalyzedStatement {
            index,
            span: span.clone(),
            start: crate::sql::LineCol { line: 0, column: 0 },
            end: crate::sql::LineCol { line: 0, column: 0 },
            text: String::new(),
            kind: d.kind,
            locks,
            held_before: HeldBefore::default(),
            in_transaction: in_tx,
            lock_timeout: self.lock_timeout(),
            statement_timeout: self.statement_timeout(),
            requires_no_transaction: d.no_transaction_block,
        };
        self.weigh_by_rows(&mut out);
        (analysed, out)
    }

    /// The default partition an action meets: the one a new partition (CREATE TABLE …
    /// PARTITION OF, ATTACH PARTITION) is checked against, or the one whose bounds change when a
    /// partition is detached or dropped. Not the one the statement itself makes default, nor the
    /// partition the action is on.
    fn default_partition_met(&self, d: &Described, a: &Action) -> Option<String> {
        let table = match a.shape {
            Shape::PartitionParentOfNewTable | Shape::AttachPartitionParent => a.relation.as_str(),
            // DETACH names the partition too: its partitioned table's default counts.
            Shape::DetachPartition | Shape::DetachPartitionConcurrently => {
                match self.schema.partition_parent(&a.relation) {
                    Some(parent) if detached(d, &a.relation) => parent,
                    _ => a.relation.as_str(),
                }
            }
            Shape::DropTable => self.schema.partition_parent(&a.relation)?,
            _ => return None,
        };
        let default = self.schema.default_partition_of(table)?;
        let made_here = d.effects.iter().any(
            |e| matches!(e, Effect::PartitionOf { table: t, default: true, .. } if *t == default),
        );
        (!made_here && default != a.relation).then_some(default)
    }

    /// The locks a statement takes on partitions: a command on a partitioned table recurses to
    /// each of its partitions (unless written with `ONLY`), and dropping a partition locks its
    /// partitioned table.
    fn partition_locks(
        &self,
        d: &Described,
        actions: &[(&Action, bool)],
        locks: &mut Vec<LockFact>,
    ) {
        let mut found: Vec<LockFact> = Vec::new();
        for &(a, no_op) in actions {
            let row = lookup(a.shape);
            let f = self.facts(a, no_op);
            if a.shape == Shape::DropTable
                && let Some(parent) = self.schema.partition_parent(&a.relation)
            {
                found.push(LockFact::on_table(
                    parent.to_string(),
                    f.mode,
                    a.shape,
                    "DROP TABLE (a partition: on its partitioned table)",
                    (false, false),
                    self.is_new(parent),
                ));
            }
            // The default partition: a new partition's bounds are checked against its rows (a
            // scan); a partition leaving changes its bounds. (DETACH … CONCURRENTLY beside one is
            // refused.)
            if a.shape != Shape::DetachPartitionConcurrently
                && let Some(default) = self.default_partition_met(d, a)
            {
                let checked = matches!(
                    a.shape,
                    Shape::PartitionParentOfNewTable | Shape::AttachPartitionParent
                );
                let mut fact = LockFact::on_table(
                    default.clone(),
                    LockMode::AccessExclusive,
                    a.shape,
                    if checked {
                        "a new partition's bounds checked against the default partition"
                    } else {
                        "a partition leaving: the default partition's bounds change"
                    },
                    (checked, false),
                    self.is_new(&default),
                );
                fact.partition_of = self.schema.partition_parent(&default).map(str::to_string);
                found.push(fact);
            }
            let table = match row.target {
                Target::Table => a.relation.as_str(),
                // Dropping a partitioned index drops the index of each partition.
                Target::Index if a.shape == Shape::DropIndex => {
                    match self.schema.index_table(&a.relation) {
                        Some(table) => table,
                        None => continue,
                    }
                }
                _ => continue,
            };
            if d.only.iter().any(|o| o == table) {
                continue;
            }
            // DETACH recurses to the detached partition's own partitions, not to its siblings.
            if a.shape == Shape::DetachPartition && !detached(d, &a.relation) {
                continue;
            }
            // ENABLE/DISABLE TRIGGER recurses to the partitions' clones of the table's triggers:
            // with none known, it is taken to stay on the table.
            if a.shape == Shape::ToggleTrigger
                && self
                    .schema
                    .relation(table)
                    .is_none_or(|r| r.triggers.is_empty())
            {
                continue;
            }
            let Some(mode) = super::model::partition_lock(a.shape, &a.detail, f.mode) else {
                continue;
            };
            let Some(partitions) = self.schema.partitions_of(table) else {
                continue;
            };
            for partition in partitions {
                let new_relation = f.new_relation || self.is_new(&partition);
                let work = (f.cost == Cost::Scan, f.cost == Cost::Rewrite);
                let mut fact =
                    LockFact::on_table(partition, mode, a.shape, row.command, work, new_relation);
                if fact.duration != LikelyDuration::Brief && !new_relation {
                    fact.rows = self.schema.relation(&fact.relation).and_then(|r| r.rows);
                }
                fact.partition_of = Some(table.to_string());
                found.push(fact);
            }
        }
        for fact in found {
            fact.add_to(locks);
        }
    }

    /// The relations a running query reads through views: the rewriter replaces a view by its
    /// query, so reading a view takes ACCESS SHARE on every relation it reads, through nested
    /// views too; a REFRESH runs its materialized view's query. (Not for a query that is only
    /// stored, [`Described::keeps_query`].)
    fn view_locks(&self, d: &Described, actions: &[(&Action, bool)], locks: &mut Vec<LockFact>) {
        if d.keeps_query {
            return;
        }
        let read = actions.iter().map(|(a, _)| (a.shape, a.relation.as_str()));
        for table in self.read_behind(read) {
            self.read_through_view(table).add_to(locks);
        }
        // A locking clause on a view locks the rows it reads from the tables behind it.
        let locked = actions
            .iter()
            .filter(|(a, _)| a.shape == Shape::SelectForUpdate && self.is_view(&a.relation))
            .map(|(a, _)| (Shape::Select, a.relation.as_str()));
        for table in self.read_behind(locked) {
            LockFact::on_table(
                table.to_string(),
                LockMode::RowShare,
                Shape::SelectForUpdate,
                "a locking clause through a view (its query's rows are locked)",
                (false, false),
                self.is_new(table),
            )
            .add_to(locks);
        }
    }

    /// The relations a query's views and a refresh's materialized views read when their queries
    /// run (through nested views too), for statements of `shape` on `relation`.
    fn read_behind<'s>(
        &'s self,
        statements: impl Iterator<Item = (Shape, &'s str)>,
    ) -> Vec<&'s str> {
        let mut pending: Vec<&str> = Vec::new();
        for (shape, name) in statements {
            let expands = match shape {
                Shape::Select => self.is_view(name),
                Shape::RefreshMatview | Shape::RefreshMatviewConcurrently => true,
                _ => false,
            };
            if expands && let Some(relation) = self.schema.relation(name) {
                pending.extend(relation.reads.iter().map(String::as_str));
            }
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(read) = pending.pop() {
            if !seen.insert(read) {
                continue;
            }
            if let Some(relation) = self.schema.relation(read)
                && relation.is_view()
            {
                pending.extend(relation.reads.iter().map(String::as_str));
            }
            out.push(read);
        }
        out
    }

    /// The ACCESS SHARE lock a view's query takes on `table` when it runs.
    fn read_through_view(&self, table: &str) -> LockFact {
        LockFact::on_table(
            table.to_string(),
            LockMode::AccessShare,
            Shape::Select,
            "a read through a view (the view's query runs)",
            (false, false),
            self.is_new(table),
        )
    }

    /// A lock hazard on a table the database says is empty (its row estimate is 0) weighs one
    /// severity level less: the scan or rewrite is over at once.
    fn weigh_by_rows(&self, drafts: &mut [Draft]) {
        for draft in drafts {
            let Some(info) = rules::lookup(draft.rule) else {
                continue;
            };
            let empty = draft
                .table
                .as_deref()
                .and_then(|t| self.schema.relation(t))
                .is_some_and(|r| r.rows == Some(0));
            if !empty || info.axis != Axis::LockHazard {
                continue;
            }
            draft.severity = Some(match draft.severity.unwrap_or(info.severity) {
                Severity::Error => Severity::Warning,
                _ => Severity::Info,
            });
            draft.message.push_str(&format!(
                " (\"{}\" is empty in the database: over at once)",
                draft.table.as_deref().unwrap_or_default()
            ));
        }
    }

    fn check_ctx(&self, in_tx: bool, runner_transaction: bool) -> CheckCtx {
        CheckCtx {
            pg_version: self.ctx.pg_version,
            in_transaction: in_tx,
            marker_removes_transaction: runner_transaction && self.ctx.runner == Runner::Sqlx,
            not_null_proven: false,
            added_in_same_transaction: false,
            type_change: None,
            index_table: None,
            referenced_tables: None,
            key_tables: Vec::new(),
            replaced_by: None,
            runner: self.ctx.runner,
            partitions: None,
            leaf_partitions: Vec::new(),
            partition_parent: None,
            default_partition: None,
        }
    }

    /// `CREATE INDEX CONCURRENTLY` outside a transaction: a failed build leaves an INVALID index
    /// behind, so the re-run fails on it — or, with `IF NOT EXISTS`, silently keeps it. The
    /// robust form drops a leftover first. A build alone in its migration needs nothing: a failure
    /// is seen and handled by hand.
    /// A statement that cannot run in a transaction block, outside one, in a file of several
    /// statements: sqlx sends the file as one query string, which PostgreSQL runs as one implicit
    /// transaction block, so there it fails. Reported once per file, on the first such statement;
    /// the fix splits the file there (keeping the order), and again on each later lint.
    fn not_alone(
        &mut self,
        what: &str,
        index: usize,
        span: &std::ops::Range<usize>,
        previous_end: usize,
        text: &str,
    ) -> Option<Draft> {
        // Sent statement by statement, nothing shares a query.
        if self.statement_count < 2
            || self.not_alone_reported
            || matches!(
                self.ctx.runner,
                Runner::GolangMigrateMultiStatement | Runner::Goose
            )
        {
            return None;
        }
        self.not_alone_reported = true;
        let others = self.statement_count - 1;
        let statements = format!(
            "{others} other statement{}",
            if others == 1 { "" } else { "s" }
        );
        let fails = "fail here with \"cannot run inside a transaction block\" and apply none of it";
        let (message, migration) = match self.ctx.runner {
            Runner::Sqlx => (
                format!(
                    "{what} shares this `-- no-transaction` file with {statements}: sqlx sends the file as one query, which PostgreSQL runs as one implicit transaction, so `sqlx migrate run` and `sqlx::migrate!()` {fails} (`lockstep up` runs each statement on its own and succeeds)"
                ),
                "a `-- no-transaction` migration",
            ),
            Runner::Diesel => (
                format!(
                    "{what} shares this `run_in_transaction = false` migration with {statements}: diesel sends up.sql as one query, which PostgreSQL runs as one implicit transaction, so `diesel migration run` and `run_pending_migrations` {fails}"
                ),
                "a migration (`run_in_transaction = false`)",
            ),
            Runner::GolangMigrate | Runner::GolangMigrateMultiStatement => (
                format!(
                    "{what} shares this file with {statements}: golang-migrate sends the file as one query (unless `x-multi-statement` is on), which PostgreSQL runs as one implicit transaction, so `migrate up` and `m.Up()` {fails}"
                ),
                "a migration file",
            ),
            Runner::Dbmate => (
                format!(
                    "{what} shares this `transaction:false` section with {statements}: dbmate sends the section as one query, which PostgreSQL runs as one implicit transaction, so `dbmate up` and `dbmate migrate` {fails}"
                ),
                "a migration (`-- migrate:up transaction:false`)",
            ),
            Runner::Prisma => (
                format!(
                    "{what} shares this migration.sql with {statements}: Prisma sends the file as one query, which PostgreSQL runs as one implicit transaction, so `prisma migrate deploy` and `prisma migrate dev` {fails}"
                ),
                "a migration",
            ),
            // Returned above: goose sends each statement on its own.
            Runner::Goose => return None,
        };
        let mut draft = Draft::new("no-transaction-not-alone", span.clone(), message);
        draft.safe_alternative = Some(format!(
            "give {} {migration} of its own with nothing else in it, not even a SET (set timeouts on the connection instead)",
            match self.refusing_count {
                0 | 1 => "it".to_string(),
                n => format!(
                    "each of the {n} statements here that cannot run in a transaction block"
                ),
            }
        ));
        // lockstep writes the moved part as a sqlx migration, not as a diesel or Prisma folder
        // or a dbmate file.
        if matches!(
            self.ctx.runner,
            Runner::Diesel | Runner::Dbmate | Runner::Prisma
        ) {
            return Some(draft);
        }
        // The first statement stays and the rest moves; otherwise this one and the rest move.
        let (split, moving) = if index == 0 {
            (
                crate::sql::past_statement_end(text, span.end),
                format!(
                    "the {others} statement{} after it",
                    if others == 1 { "" } else { "s" }
                ),
            )
        } else {
            let after = self.statement_count - index - 1;
            (
                crate::sql::past_statement_end(text, previous_end),
                match after {
                    0 => "it".to_string(),
                    1 => "it and the statement after it".to_string(),
                    n => format!("it and the {n} statements after it"),
                },
            )
        };
        draft.fix = Some(Fix {
            description: format!(
                "move {moving} to a new `-- no-transaction` migration after this one"
            ),
            edits: vec![TextEdit {
                span: split..text.len(),
                replacement: String::new(),
            }],
        });
        Some(draft)
    }

    fn concurrent_build_robustness(
        &self,
        d: &Described,
        build: &Action,
        span: &std::ops::Range<usize>,
        text: &str,
    ) -> Option<Draft> {
        let index = d.effects.iter().find_map(|e| match e {
            Effect::CreateIndex { name, .. } => Some(name.clone()),
            _ => None,
        })?;
        if self.lone_statement || self.dropped_concurrently.as_deref() == Some(index.as_str()) {
            return None;
        }
        let if_not_exists = matches!(d.robustness, Some((true, _)));
        let mut draft = Draft::new(
            "prefer-robust-statements",
            span.clone(),
            format!(
                "CREATE INDEX CONCURRENTLY \"{index}\" outside a transaction: if the build fails it leaves an INVALID index \"{index}\" behind{}",
                if if_not_exists {
                    ", and re-running the migration silently keeps it (IF NOT EXISTS skips the build)"
                } else {
                    ", and re-running the migration fails here"
                }
            ),
        );
        draft.table = Some(build.relation.clone());
        draft.safe_alternative = Some(format!(
            "drop a leftover first: `DROP INDEX CONCURRENTLY IF EXISTS {index};` before it (or check pg_index.indisvalid); IF NOT EXISTS is not enough"
        ));
        let line_start = text[..span.start.min(text.len())]
            .rfind('\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        draft.fix = Some(Fix {
            description: format!("drop a leftover INVALID \"{index}\" before building it"),
            edits: vec![TextEdit {
                span: line_start..line_start,
                replacement: format!("DROP INDEX CONCURRENTLY IF EXISTS {index};\n"),
            }],
        });
        Some(draft)
    }

    /// For a DROP … CASCADE: the views and materialized views it drops along.
    fn dependents_note(&self, d: &Described, relation: &str) -> String {
        let cascade = d
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Drop { cascade: true, .. }));
        // What the same statement drops along does not stand in its way.
        let dropped_too = |name: &str| {
            d.actions.iter().any(|a| {
                matches!(a.shape, Shape::DropTable | Shape::DropView) && a.relation == name
            })
        };
        let list: Vec<String> = self
            .schema
            .dependents(relation)
            .iter()
            .filter(|(name, _)| !dropped_too(name))
            .map(|(name, kind)| match kind {
                RelationKind::MaterializedView => format!("materialized view \"{name}\""),
                RelationKind::View => format!("view \"{name}\""),
                _ => format!("\"{name}\""),
            })
            .chain(
                self.schema
                    .keys_referencing(relation)
                    .iter()
                    .filter(|(_, table)| !dropped_too(table))
                    .map(|(key, table)| {
                        let lock = if cascade {
                            format!(" (an ACCESS EXCLUSIVE lock on \"{table}\")")
                        } else {
                            String::new()
                        };
                        format!("the foreign key \"{key}\" of \"{table}\"{lock}")
                    }),
            )
            .collect();
        if list.is_empty() {
            String::new()
        } else if cascade {
            format!("; CASCADE also drops {}", list.join(", "))
        } else {
            format!(
                "; as written it fails, since {} depend{} on it: drop {} first, or add CASCADE",
                list.join(", "),
                if list.len() == 1 { "s" } else { "" },
                if list.len() == 1 { "that" } else { "those" },
            )
        }
    }

    /// Replays what a statement changes in the schema model.
    fn apply_effects(&mut self, d: &Described, actions: &[(&Action, bool)], in_tx: bool) {
        if actions.is_empty()
            && (d.only_if_exists.is_some()
                || d.effects.iter().any(|e| {
                    matches!(
                        e,
                        Effect::Create {
                            if_not_exists: true,
                            ..
                        }
                    )
                }))
        {
            // ALTER TABLE IF EXISTS on nothing, CREATE … IF NOT EXISTS on something: no change.
            return;
        }
        for name in &d.creates {
            self.new.insert(name.clone());
            self.created.insert(name.clone());
        }
        for effect in &d.effects {
            match effect {
                Effect::Create {
                    name,
                    kind,
                    columns,
                    reads,
                    ..
                } => {
                    let relation = Relation {
                        kind: Some(*kind),
                        columns: columns.iter().cloned().collect(),
                        reads: reads.clone(),
                        ..Relation::default()
                    };
                    self.schema.set_relation(name, Some(relation));
                }
                Effect::CreateIndex {
                    name,
                    table,
                    if_not_exists,
                } => {
                    if !(*if_not_exists && self.schema.index_exists(name) == Some(true)) {
                        self.schema.set_index(name, Some(table.clone()));
                    }
                }
                Effect::CreateUnnamedIndex { table, columns } => {
                    let name = super::naming::index_name(table, columns, |name| {
                        self.schema.relation(name).is_some()
                            || self.schema.index_table(name).is_some()
                    });
                    self.schema.set_index(&name, Some(table.clone()));
                }
                Effect::Drop {
                    kind,
                    names,
                    cascade,
                    ..
                } => {
                    for name in names {
                        if *kind == DropKind::Index {
                            self.schema.set_index(name, None);
                            continue;
                        }
                        if *cascade {
                            for (dependent, _) in self.schema.dependents(name) {
                                self.schema.drop_relation(&dependent);
                            }
                        }
                        self.schema.drop_relation(name);
                    }
                }
                Effect::AddColumn {
                    table, column, ty, ..
                } => {
                    let relation = self.schema.relation_mut(table);
                    relation
                        .columns
                        .entry(column.clone())
                        .or_insert_with(|| ty.clone());
                }
                Effect::DropColumn { table, column } => {
                    self.schema.drop_column(table, column);
                }
                Effect::PartitionOf {
                    table,
                    parent,
                    default,
                } => {
                    // A partition has its parent's columns (CREATE TABLE … PARTITION OF lists none).
                    let inherited = parent
                        .as_deref()
                        .and_then(|p| self.schema.relation(p))
                        .map(|p| (p.columns.clone(), p.not_null.clone()));
                    let relation = self.schema.relation_mut(table);
                    relation.partition_of = parent.clone();
                    relation.default_partition = *default;
                    if let Some((columns, not_null)) = inherited {
                        for (column, ty) in columns {
                            relation.columns.entry(column).or_insert(ty);
                        }
                        relation.not_null.extend(not_null);
                    }
                }
                Effect::CreateTrigger {
                    table,
                    name,
                    trigger,
                } => {
                    self.schema
                        .relation_mut(table)
                        .triggers
                        .insert(name.clone(), trigger.clone());
                }
                Effect::DefineFunction { name, routine } => {
                    self.schema.set_function(name, Some(routine.clone()));
                }
                Effect::DropTrigger { table, name, .. } => {
                    if self
                        .schema
                        .relation(table)
                        .is_some_and(|r| r.triggers.contains_key(name))
                    {
                        self.schema.relation_mut(table).triggers.remove(name);
                    }
                }
                Effect::RenameTrigger { table, from, to } => {
                    let trigger = self
                        .schema
                        .relation(table)
                        .and_then(|r| r.triggers.get(from))
                        .cloned();
                    if let Some(trigger) = trigger {
                        let triggers = &mut self.schema.relation_mut(table).triggers;
                        triggers.remove(from);
                        triggers.insert(to.clone(), trigger);
                    }
                }
                Effect::RenameFunction { from, to } => {
                    // Triggers execute the function itself, whatever its name.
                    for (table, triggers) in
                        self.schema.triggers_calling(std::slice::from_ref(from))
                    {
                        let relation = self.schema.relation_mut(&table);
                        for trigger in triggers {
                            if let Some(trigger) = relation.triggers.get_mut(&trigger) {
                                trigger.function = to.clone();
                            }
                        }
                    }
                    if let Some(routine) = self.schema.function(from).cloned() {
                        self.schema.set_function(to, Some(routine));
                    }
                    self.schema.set_function(from, None);
                }
                Effect::DropFunctions {
                    names,
                    cascade: true,
                } => {
                    for (table, triggers) in self.schema.triggers_calling(names) {
                        let relation = self.schema.relation_mut(&table);
                        for trigger in triggers {
                            relation.triggers.remove(&trigger);
                        }
                    }
                    for name in names {
                        self.schema.set_function(name, None);
                    }
                }
                Effect::DropFunctions { names, .. } => {
                    for name in names {
                        self.schema.set_function(name, None);
                    }
                }
                Effect::NotNull { table, columns, on } => {
                    let not_null = &mut self.schema.relation_mut(table).not_null;
                    for column in columns {
                        if *on {
                            not_null.insert(column.clone());
                        } else {
                            not_null.remove(column);
                        }
                    }
                }
                Effect::SetType { table, column, ty } => {
                    self.schema
                        .relation_mut(table)
                        .columns
                        .insert(column.clone(), ty.clone());
                }
                Effect::RenameColumn { table, from, to } => {
                    self.schema.rename_column(table, from, to)
                }
                Effect::RenameRelation { from, to } => {
                    if in_tx {
                        let known = self.known_name(from).to_string();
                        self.renamed_in_tx.remove(from);
                        self.renamed_in_tx.insert(to.clone(), known);
                    }
                    self.schema.rename_relation(from, to)
                }
                Effect::RenameIndex { from, to } => {
                    if let Some(table) = self.schema.index_table(from).map(str::to_string) {
                        self.schema.set_index(from, None);
                        self.schema.set_index(to, Some(table));
                    }
                }
                Effect::RenameConstraint { table, from, to } => {
                    if let Some(known) = self.schema.constraint(from).cloned() {
                        self.schema.set_constraint(from, None);
                        self.schema.set_constraint(to, Some(known));
                    }
                    // The index behind a PRIMARY KEY or UNIQUE constraint, in the table's schema.
                    let in_schema = |name: &str| match table.rsplit_once('.') {
                        Some((schema, _)) => format!("{schema}.{name}"),
                        None => name.to_string(),
                    };
                    let (from, to) = (in_schema(from), in_schema(to));
                    if self.schema.index_table(&from) == Some(table.as_str()) {
                        self.schema.set_index(&from, None);
                        self.schema.set_index(&to, Some(table.clone()));
                    }
                }
                Effect::Unseen => self.schema.changes.unseen = true,
            }
        }
        // Rows written into a table the database has empty: it may be empty no more for the
        // statements after (a count above zero stays, an estimate either way).
        for &(a, _) in actions {
            if a.shape == Shape::Dml
                && self
                    .schema
                    .relation(&a.relation)
                    .is_some_and(|r| r.rows == Some(0))
            {
                self.schema.relation_mut(&a.relation).rows = None;
            }
        }
        // The server drops constraints in an earlier pass than it adds them, whatever their order
        // in the statement (`DROP CONSTRAINT c, ADD CONSTRAINT c …` replaces c).
        for (a, _) in actions {
            if let Detail::DropConstraint { name } = &a.detail {
                self.schema.set_constraint(name, None);
            }
        }
        for (name, table, kind) in &d.constraints {
            let validated = !d.actions.iter().any(|a| {
                matches!(&a.detail, Detail::Constraint { name: Some(n), not_valid: true, .. } if n == name)
            });
            let mut known = KnownConstraint {
                table: table.clone(),
                references: None,
                columns: Vec::new(),
                referenced_columns: Vec::new(),
                primary_key: false,
                proves_not_null: None,
                validated,
                on_delete: RefAction::NoAction,
                on_update: RefAction::NoAction,
            };
            match kind {
                ConstraintKind::ForeignKey(r, columns, referenced, (on_delete, on_update)) => {
                    known.references = Some(r.clone());
                    known.columns = columns.clone();
                    known.on_delete = *on_delete;
                    known.on_update = *on_update;
                    // Naming no columns references the primary key.
                    known.referenced_columns = if referenced.is_empty() {
                        self.schema.primary_key_of(r).unwrap_or_default()
                    } else {
                        referenced.clone()
                    };
                }
                ConstraintKind::PrimaryKey(columns) => {
                    known.primary_key = true;
                    known.columns = columns.clone();
                }
                ConstraintKind::NotNullCheck(c) => known.proves_not_null = Some(c.clone()),
                ConstraintKind::Other => {}
            }
            self.schema.set_constraint(name, Some(known));
            if in_tx {
                self.added_in_tx.insert(name.clone());
            }
        }
        for (a, _) in actions {
            if let Detail::Validate { name } = &a.detail
                && let Some(mut c) = self.schema.constraint(name).cloned()
            {
                c.validated = true;
                self.schema.set_constraint(name, Some(c));
            }
        }
    }
}

/// A function a statement runs, with what its body locks.
/// How deep [`State::locks_run_by`] follows functions calling functions and firing triggers.
const CALL_DEPTH: usize = 8;

struct Fired {
    /// The trigger that runs it and that trigger's table (`None`: the statement calls it).
    trigger: Option<(String, String)>,
    function: String,
    /// Run once per row written (a row trigger) or per row selected: not at all without rows.
    per_row: bool,
    /// Run by a write in a branch of a DO block (IF, CASE, a loop): not at all when the branch
    /// is not taken.
    in_branch: bool,
    /// The statement that runs it, as the finding names it (`UPDATE`, `DO block's DELETE`).
    verb: &'static str,
    run: RunBy,
}

/// What running a function does, as far as the model follows it.
struct RunBy {
    /// The locks its body and the functions it runs in turn take.
    locks: Vec<RoutineLock>,
    /// The first of those functions (itself included) that runs SQL it builds at run time.
    dynamic: Option<String>,
}

impl Fired {
    /// What runs the function, as the `via` of the locks its body takes names it.
    fn via(&self) -> String {
        match &self.trigger {
            Some((trigger, table)) => format!("trigger \"{trigger}\" on \"{table}\""),
            None => format!("function {}()", self.function),
        }
    }
}

/// `dynamic-sql`: `runs` (`this DO block runs`) SQL built at run time, which the model cannot
/// follow.
fn dynamic_sql(span: &std::ops::Range<usize>, runs: &str) -> Draft {
    Draft::new(
        "dynamic-sql",
        span.clone(),
        format!(
            "{runs} SQL it builds at run time (EXECUTE): lockstep cannot tell which locks that \
             SQL takes or what it changes, and the schema the migrations after it meet may \
             differ from the one it models"
        ),
    )
    .help(
        "write out the statements it would run (generate them once if there are many), so the \
         review sees each; else read what it builds, and the locks each statement takes, by hand",
    )
}

/// How a finding names a statement of `kind` that writes rows with the events `fires` (a DO
/// block by the write in its body, `WITH` a data-modifying WITH query).
fn write_verb(kind: &'static str, fires: &[TriggerEvent]) -> &'static str {
    match (kind, fires) {
        ("COPY" | "TRUNCATE", _) => kind,
        ("DO", [TriggerEvent::Insert, ..]) => "DO block's INSERT",
        ("DO", [TriggerEvent::Update]) => "DO block's UPDATE",
        ("DO", [TriggerEvent::Delete]) => "DO block's DELETE",
        ("DO", [TriggerEvent::Truncate]) => "DO block's TRUNCATE",
        ("DO", _) => "DO block's MERGE",
        ("WITH", [TriggerEvent::Insert, ..]) => "WITH query's INSERT",
        ("WITH", [TriggerEvent::Update]) => "WITH query's UPDATE",
        ("WITH", [TriggerEvent::Delete]) => "WITH query's DELETE",
        ("WITH", _) => "WITH query's MERGE",
        (_, [TriggerEvent::Insert, ..]) => "INSERT",
        (_, [TriggerEvent::Update]) => "UPDATE",
        (_, [TriggerEvent::Delete]) => "DELETE",
        _ => "MERGE",
    }
}
