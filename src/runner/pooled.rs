//! `--pooled`: running behind a transaction pooler, where nothing survives from one transaction
//! to the next. Everything session-level moves into each migration's transaction:
//!
//! 1. `BEGIN ISOLATION LEVEL READ COMMITTED` (so the history read below sees what committed
//!    before the lock was ours), `SET LOCAL` lock_timeout, statement_timeout and
//!    application_name;
//! 2. `pg_try_advisory_xact_lock` on sqlx's key, polled like the session lock (it conflicts with
//!    sqlx's `pg_advisory_lock` too, and the transaction's end releases it, whatever happens to
//!    the client);
//! 3. the history read again under the lock: a migration another run applied (or reverted)
//!    meanwhile is skipped; a revert that is no longer of the newest applied migration stops;
//! 4. the migration's statements and its history row, then `COMMIT` (`execute.rs`).
//!
//! The plan is made from a history read without the lock; `-- no-transaction` migrations are
//! refused before anything runs, since no lock could cover them.

use std::time::Instant;

use super::events::RunEvent;
use super::lock::{self, Scope};
use super::plan::{Direction, Operation, PlanError, Step, plan};
use super::{RunError, RunSummary, Runner, check_expected, read_history};
use crate::history::{self, AppliedRow, HistoryTable};
use crate::pooler::no_transaction_refusal;
use crate::source::MigrationSet;
use crate::status::Status;

/// How a `--pooled` migration's transaction starts.
pub(super) const POOLED_BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

impl Runner {
    /// Plans from the history as it is, then runs each step in a transaction of its own under
    /// the transaction-level lock.
    pub(super) async fn run_pooled(
        &mut self,
        operation: Operation,
        set: &MigrationSet,
        expected: Option<&[(Direction, i64)]>,
        started: Instant,
    ) -> Result<RunSummary, RunError> {
        let table = self.options.table.clone();
        let rows = read_history(&mut self.conn, &table).await?;
        let status = Status::build(set, rows.as_deref());
        let plan = plan(operation, set, &status, self.options.ignore_missing)?;
        check_expected(&plan, expected)?;
        if let Some(step) = plan.steps.iter().find(|s| !s.in_transaction) {
            return Err(RunError::Pooling(no_transaction_refusal(
                step.version,
                step.own_transactions(),
            )));
        }
        if !plan.steps.is_empty() {
            self.pass_gate().await?;
        }
        if plan.steps.iter().any(|s| s.direction == Direction::Apply) && rows.is_none() {
            self.begin_locked("lockstep:apply").await?;
            let ensured =
                history::ensure(&mut self.conn, &table, &self.options.create_schemas).await;
            match ensured {
                Ok(()) => self.simple("COMMIT", "creating the history table").await?,
                Err(error) => {
                    self.rollback().await;
                    return Err(error.into());
                }
            }
        }
        self.run_steps(&plan, &table, started).await
    }

    /// Opens `step`'s transaction with its settings and the lock, and reads the history under
    /// it. `false` (rolled back, reported as skipped) when another run has done the step.
    pub(super) async fn begin_pooled_step(
        &mut self,
        step: &Step,
        table: &HistoryTable,
    ) -> Result<bool, RunError> {
        let application_name = format!("lockstep:{}:{}", step.direction.verb(), step.version);
        let pid = self.begin_locked(&application_name).await?;
        self.watch.follow(pid, &application_name);
        let checked = match history::read(&mut self.conn, table).await {
            Ok(rows) => still_to_do(step, rows.as_deref().unwrap_or_default()).map_err(Into::into),
            Err(error) => Err(error.into()),
        };
        match checked {
            Ok(None) => Ok(true),
            Ok(Some(reason)) => {
                self.rollback().await;
                let _ = self.events.send(RunEvent::MigrationSkipped {
                    version: step.version,
                    direction: step.direction,
                    reason,
                });
                Ok(false)
            }
            Err(error) => {
                self.rollback().await;
                Err(error)
            }
        }
    }

    /// `BEGIN`, the `SET LOCAL`s and the transaction-level lock; returns the backend the
    /// transaction runs on. Rolled back when the lock is not had.
    async fn begin_locked(&mut self, application_name: &str) -> Result<i32, RunError> {
        let settings = self.options.transaction_settings(application_name);
        self.simple(
            &format!("{POOLED_BEGIN}; {settings}"),
            "starting a migration's transaction",
        )
        .await?;
        let locked = lock::acquire(
            &mut self.conn,
            Scope::Transaction,
            self.key,
            self.options.lock_wait,
            &self.events,
            &self.cancel,
            self.pooling.pooler_address.as_deref(),
        )
        .await;
        match locked {
            Ok(pid) => Ok(pid),
            Err(error) => {
                self.rollback().await;
                Err(error.into())
            }
        }
    }

    async fn simple(&mut self, sql: &str, context: &str) -> Result<(), RunError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|source| RunError::Query {
                context: context.to_string(),
                source,
            })
    }

    async fn rollback(&mut self) {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await;
    }
}

/// Whether `step` is still to do on the history `rows` read under the lock: `None` when it is,
/// the reason to skip it when another run did it, an error when the history changed in a way
/// the plan cannot follow.
fn still_to_do(step: &Step, rows: &[AppliedRow]) -> Result<Option<String>, PlanError> {
    if let Some(failed) = rows.iter().find(|r| !r.success) {
        return Err(PlanError::Dirty(failed.version));
    }
    let recorded = rows.iter().any(|r| r.version == step.version);
    match step.direction {
        Direction::Apply if recorded => Ok(Some(format!(
            "migration {} was applied by another run meanwhile",
            step.version
        ))),
        Direction::Apply => Ok(None),
        Direction::Revert if !recorded => Ok(Some(format!(
            "migration {} was reverted by another run meanwhile",
            step.version
        ))),
        Direction::Revert => match rows.iter().map(|r| r.version).max() {
            Some(newest) if newest != step.version => Err(PlanError::BadFiles(vec![format!(
                "migration {newest} was applied by another run meanwhile, so {} is no \
                     longer the newest applied migration; nothing was reverted: look at \
                     `lockstep status` and run again",
                step.version
            )])),
            _ => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationFile;

    fn step(direction: Direction, version: i64) -> Step {
        Step {
            direction,
            version,
            description: "x".into(),
            file: MigrationFile {
                path: format!("{version}_x.sql").into(),
                sql: String::new(),
                checksum: vec![],
                no_transaction: false,
            },
            checksum: vec![],
            statements: vec![],
            segments: vec![],
            in_transaction: true,
        }
    }

    fn row(version: i64, success: bool) -> AppliedRow {
        AppliedRow {
            version,
            description: "x".into(),
            installed_on: chrono::Utc::now(),
            success,
            checksum: vec![],
            execution_time: 1,
        }
    }

    #[test]
    fn a_step_another_run_did_is_skipped() {
        let rows = [row(1, true), row(2, true)];
        assert!(
            still_to_do(&step(Direction::Apply, 2), &rows)
                .unwrap()
                .unwrap()
                .contains("applied by another run")
        );
        assert_eq!(
            still_to_do(&step(Direction::Apply, 3), &rows).unwrap(),
            None
        );
        assert!(
            still_to_do(&step(Direction::Revert, 3), &rows)
                .unwrap()
                .unwrap()
                .contains("reverted by another run")
        );
        assert_eq!(
            still_to_do(&step(Direction::Revert, 2), &rows).unwrap(),
            None
        );
    }

    #[test]
    fn a_revert_behind_a_newer_migration_or_a_failed_row_stops() {
        let rows = [row(1, true), row(2, true)];
        let error = still_to_do(&step(Direction::Revert, 1), &rows).unwrap_err();
        assert!(
            error.to_string().contains("migration 2 was applied"),
            "{error}"
        );
        let dirty = [row(1, true), row(2, false)];
        assert_eq!(
            still_to_do(&step(Direction::Apply, 3), &dirty),
            Err(PlanError::Dirty(2))
        );
    }
}
