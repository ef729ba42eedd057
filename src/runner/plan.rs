//! Deciding what an operation will run: which migrations, in which direction, in which order.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::analysis::{Segment, segment};
use crate::source::{MigrationFile, MigrationSet};
use crate::sql::{Statement, split_statements};
use crate::status::{State, Status};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "operation")]
pub enum Operation {
    /// Apply pending migrations, all or up to and including `to`.
    Up {
        /// The last version to apply.
        to: Option<i64>,
    },
    /// Revert the last `steps` applied migrations.
    DownSteps {
        /// How many.
        steps: usize,
    },
    /// Revert every applied migration newer than `to` (`0` reverts all).
    DownTo {
        /// The version to end at.
        to: i64,
    },
    /// Revert the last applied migration and apply it again.
    Redo,
}

/// Apply or revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Run the UP file and record the version.
    Apply,
    /// Run the DOWN file and delete the record.
    Revert,
}

impl Direction {
    /// `apply` or `revert`.
    pub fn verb(self) -> &'static str {
        match self {
            Direction::Apply => "apply",
            Direction::Revert => "revert",
        }
    }
}

/// One migration to run in one direction.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Apply or revert.
    pub direction: Direction,
    /// The version.
    pub version: i64,
    /// The description recorded in the history table.
    pub description: String,
    /// The file that runs (UP for apply, DOWN for revert).
    pub file: MigrationFile,
    /// The checksum recorded on apply (the UP file's).
    #[serde(serialize_with = "crate::serde_hex")]
    pub checksum: Vec<u8>,
    /// The file's statements, in order.
    pub statements: Vec<Statement>,
    /// Whether the step runs inside one transaction (no `-- no-transaction`, and the file does
    /// not open or end transactions itself).
    pub in_transaction: bool,
    /// The segments its statements run in: one transaction segment holding every statement
    /// when `in_transaction`, else as [`crate::analysis::segment`] groups them.
    pub segments: Vec<Segment>,
}

impl Step {
    /// What the statement `index` does to the transaction block, in a file that controls its
    /// own transactions.
    pub fn control(&self, index: usize) -> Option<crate::analysis::OwnTransaction> {
        // The segments cover the statements in order: found by bisection (a large file wrapped
        // in BEGIN/COMMIT has a segment per statement).
        let at = self.segments.partition_point(|s| s.statements.end <= index);
        self.segments
            .get(at)
            .filter(|s| s.statements.contains(&index))
            .and_then(|s| s.control)
    }

    /// Whether the file opens or ends transactions itself (and so runs as written).
    pub fn own_transactions(&self) -> bool {
        self.segments.iter().any(|s| s.control.is_some())
    }

    /// Whether a transaction of the file's own is still open after its last statement (a BEGIN
    /// without a COMMIT, a closing `… AND CHAIN`): it is committed at the end, as sqlx's own
    /// COMMIT would.
    pub fn leaves_transaction_open(&self) -> bool {
        !self.in_transaction
            && self
                .segments
                .iter()
                .rev()
                .find_map(|s| s.control)
                .is_some_and(crate::analysis::OwnTransaction::leaves_open)
    }

    /// For each statement, whether it runs inside a transaction block: the runner's (one for
    /// the file, or a segment's), or one the file opened itself.
    pub fn in_transaction_by_statement(&self) -> Vec<bool> {
        let mut inside = vec![self.in_transaction; self.statements.len()];
        if self.in_transaction {
            return inside;
        }
        let mut open = false;
        for segment in &self.segments {
            for index in segment.statements.clone() {
                if let Some(slot) = inside.get_mut(index) {
                    *slot = segment.is_transaction() || open;
                }
            }
            if let Some(control) = segment.control {
                open = control.leaves_open();
            }
        }
        inside
    }
}

/// Everything an operation will run, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The operation planned.
    pub operation: Operation,
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
    /// Out-of-order versions the plan applies (sqlx applies them silently; lockstep says so).
    pub out_of_order: Vec<i64>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// `(direction, version)` of each step: what a confirmation promised.
    pub fn signature(&self) -> Vec<(Direction, i64)> {
        self.steps
            .iter()
            .map(|s| (s.direction, s.version))
            .collect()
    }
}

/// Why an operation cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The migrations directory has errors.
    #[error("the migrations directory has problems; fix them first:\n{}", .0.join("\n"))]
    BadFiles(Vec<String>),
    /// A version is recorded as partially applied or failed (`success = false`).
    #[error(
        "migration {0} is recorded as partially applied or failed (success = false in the history table): \
         a run of it did not finish, and sqlx refuses to run past it too. `lockstep status` shows \
         what is known; finish or undo it by hand, then run `lockstep resolve {0} --applied` or \
         `lockstep resolve {0} --rolled-back`"
    )]
    Dirty(i64),
    /// An applied migration's file changed.
    #[error(
        "migration {0} was applied but its file has changed since (checksums differ; see \
         `lockstep status`); restore the file as it was applied — sqlx refuses to run on too"
    )]
    ChecksumMismatch(i64),
    /// An applied migration's file is gone.
    #[error(
        "migration {0} is applied but its file is missing; restore the file, or pass \
         --ignore-missing to go on without it"
    )]
    Missing(i64),
    /// `--to` names a version with no file.
    #[error("there is no migration with version {0} in the migrations directory")]
    UnknownVersion(i64),
    /// A migration to revert has no DOWN file.
    #[error(
        "migration {0} cannot be reverted: it has no .down.sql. Write a new migration that \
         undoes it instead"
    )]
    NotReversible(i64),
    /// A migration to revert has no file at all.
    #[error("migration {0} cannot be reverted: its files are missing")]
    RevertMissing(i64),
    /// Nothing applied to revert or redo.
    #[error("no applied migration to {0}")]
    NothingApplied(&'static str),
    /// `resolve` names a version that is not recorded as partially applied or failed.
    #[error(
        "migration {version} is {state}, not partially applied: there is nothing to resolve \
         (`lockstep status` shows every version's state)"
    )]
    NothingToResolve {
        /// The version.
        version: i64,
        /// Its state, as a label.
        state: &'static str,
    },
}

/// Statements already split, by file: planning again (under the migration lock) takes them
/// from here instead of parsing the files a second time.
#[derive(Debug, Default)]
pub struct Prepared {
    statements: HashMap<PathBuf, (Vec<Statement>, Vec<Segment>)>,
}

impl Prepared {
    /// Keeps the statements (and segments) of every step of `plan`.
    pub fn keep(&mut self, plan: Plan) {
        for step in plan.steps {
            self.statements
                .insert(step.file.path, (step.statements, step.segments));
        }
    }

    /// The statements of `file` and how they run: taken from what was kept, or cut now.
    fn split(&mut self, file: &MigrationFile) -> (Vec<Statement>, Vec<Segment>) {
        match self.statements.remove(&file.path) {
            Some(kept) => kept,
            None => cut(file),
        }
    }
}

/// The statements of `file` and the segments they run in. A `-- no-transaction` file, or one
/// that opens or ends transactions itself, is cut into segments; any other is one transaction.
/// A file's own `COMMIT` inside the runner's transaction would end that early, and what follows
/// would run outside any transaction unseen: such a file runs as written instead, a statement at
/// a time, its history row following what its own transactions commit.
pub fn cut(file: &MigrationFile) -> (Vec<Statement>, Vec<Segment>) {
    if file.no_transaction {
        let segmented = segment(&file.sql);
        return (segmented.statements, segmented.segments);
    }
    let (statements, _) = split_statements(&file.sql);
    if statements
        .iter()
        .any(|s| crate::sql::may_control_transaction(&s.text))
    {
        let segmented = segment(&file.sql);
        if segmented.own_transactions {
            return (segmented.statements, segmented.segments);
        }
    }
    let all = Segment {
        statements: 0..statements.len(),
        alone: None,
        control: None,
    };
    (statements, vec![all])
}

/// Whether `file`, cut into `segments` ([`cut`]), runs inside one transaction of the runner's.
pub fn in_one_transaction(file: &MigrationFile, segments: &[Segment]) -> bool {
    !file.no_transaction && segments.iter().all(Segment::is_transaction)
}

/// Plans `operation` on the current `status` of `set`.
pub fn plan(
    operation: Operation,
    set: &MigrationSet,
    status: &Status,
    ignore_missing: bool,
) -> Result<Plan, PlanError> {
    plan_prepared(
        operation,
        set,
        status,
        ignore_missing,
        &mut Prepared::default(),
    )
}

/// Like [`plan`], taking the statements of files split earlier from `prepared`.
pub fn plan_prepared(
    operation: Operation,
    set: &MigrationSet,
    status: &Status,
    ignore_missing: bool,
    prepared: &mut Prepared,
) -> Result<Plan, PlanError> {
    if set.has_errors() {
        let errors: Vec<crate::source::Problem> = set.errors().cloned().collect();
        return Err(PlanError::BadFiles(
            crate::source::problem_lines(&errors)
                .into_iter()
                .map(|(_, line)| line)
                .collect(),
        ));
    }
    if let Some(dirty) = status.versions.iter().find(|v| v.state.is_unfinished()) {
        return Err(PlanError::Dirty(dirty.version));
    }
    let mut out_of_order = Vec::new();
    let steps = match operation {
        Operation::Up { to } => {
            check_applied_intact(status, ignore_missing)?;
            if let Some(to) = to
                && set.get(to).is_none()
            {
                return Err(PlanError::UnknownVersion(to));
            }
            status
                .pending()
                .filter(|v| to.is_none_or(|to| v.version <= to))
                .filter_map(|v| {
                    if v.state == State::OutOfOrder {
                        out_of_order.push(v.version);
                    }
                    v.migration.as_ref().map(|m| apply_step(m, prepared))
                })
                .collect()
        }
        Operation::DownSteps { steps } => {
            let targets: Vec<_> = status.recorded().rev().take(steps).collect();
            if targets.is_empty() && steps > 0 {
                return Err(PlanError::NothingApplied("revert"));
            }
            targets
                .into_iter()
                .map(|v| revert_step(v.version, v.migration.as_ref(), prepared))
                .collect::<Result<_, _>>()?
        }
        Operation::DownTo { to } => {
            if to != 0 && set.get(to).is_none() && !status.recorded().any(|v| v.version == to) {
                return Err(PlanError::UnknownVersion(to));
            }
            status
                .recorded()
                .rev()
                .filter(|v| v.version > to)
                .map(|v| revert_step(v.version, v.migration.as_ref(), prepared))
                .collect::<Result<_, _>>()?
        }
        Operation::Redo => {
            let last = status
                .recorded()
                .next_back()
                .ok_or(PlanError::NothingApplied("redo"))?;
            // Redo of an edited migration is the usual development loop: it reverts with the
            // current DOWN and applies the current UP, so a checksum mismatch is no obstacle.
            let migration = last
                .migration
                .as_ref()
                .ok_or(PlanError::RevertMissing(last.version))?;
            vec![
                revert_step(last.version, Some(migration), prepared)?,
                apply_step(migration, prepared),
            ]
        }
    };
    Ok(Plan {
        operation,
        steps,
        out_of_order,
    })
}

fn check_applied_intact(status: &Status, ignore_missing: bool) -> Result<(), PlanError> {
    if let Some(v) = status.in_state(State::ChecksumMismatch).next() {
        return Err(PlanError::ChecksumMismatch(v.version));
    }
    if !ignore_missing && let Some(v) = status.in_state(State::Missing).next() {
        return Err(PlanError::Missing(v.version));
    }
    Ok(())
}

fn apply_step(migration: &crate::source::Migration, prepared: &mut Prepared) -> Step {
    step(
        Direction::Apply,
        migration.version,
        &migration.description,
        &migration.up,
        migration.checksum(),
        prepared,
    )
}

fn revert_step(
    version: i64,
    migration: Option<&crate::source::Migration>,
    prepared: &mut Prepared,
) -> Result<Step, PlanError> {
    let migration = migration.ok_or(PlanError::RevertMissing(version))?;
    let down = migration
        .down
        .as_ref()
        .ok_or(PlanError::NotReversible(version))?;
    Ok(step(
        Direction::Revert,
        version,
        &migration.description,
        down,
        migration.checksum(),
        prepared,
    ))
}

pub(super) fn step(
    direction: Direction,
    version: i64,
    description: &str,
    file: &MigrationFile,
    checksum: &[u8],
    prepared: &mut Prepared,
) -> Step {
    let (statements, segments) = prepared.split(file);
    Step {
        direction,
        version,
        description: description.to_string(),
        file: file.clone(),
        checksum: checksum.to_vec(),
        statements,
        in_transaction: in_one_transaction(file, &segments),
        segments,
    }
}
