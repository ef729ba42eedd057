//! Running one step: its statements one by one, then sqlx's bookkeeping.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};
use tokio_util::sync::CancellationToken;

use super::RunError;
use super::events::{EventSink, Failure, RunEvent};
use super::plan::{Direction, Step};
use super::watch::Watch;
use crate::history::HistoryTable;
use crate::monitor::LockWait;
use crate::sql::{LineIndex, Statement};

/// What a step runs with: the migration connection, where events go, the run's cancel token and
/// the watcher on a second connection.
pub(super) struct Exec<'a> {
    pub conn: &'a mut PgConnection,
    pub table: &'a HistoryTable,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
    pub watch: &'a mut Watch,
}

/// Why a step did not complete. Nothing is reported yet: the caller decides whether to retry.
pub(super) enum StepError {
    /// A statement or the bookkeeping failed (a transaction was rolled back).
    Failed(Failure),
    /// The run was interrupted (a transaction was rolled back); the statements that completed.
    Interrupted(Vec<usize>),
    /// A session setting failed before the migration started.
    Setup(RunError),
}

/// Runs `step` and records it; returns how long it took, bookkeeping included. Before each
/// statement and before the bookkeeping the cancel token is checked: once it fires, nothing
/// new starts.
pub(super) async fn run_step(exec: &mut Exec<'_>, step: &Step) -> Result<Duration, StepError> {
    let started = Instant::now();
    let Exec {
        conn,
        table,
        events,
        cancel,
        watch,
    } = exec;
    let (conn, table, events, cancel, watch): (&mut PgConnection, _, _, _, &mut Watch) =
        (conn, *table, *events, *cancel, watch);
    let role = step.direction.verb();
    simple(
        conn,
        &format!("SET application_name = 'lockstep:{role}:{}'", step.version),
    )
    .await
    .map_err(|source| {
        StepError::Setup(RunError::Query {
            context: "setting application_name".into(),
            source,
        })
    })?;
    let _ = events.send(RunEvent::MigrationStarted {
        version: step.version,
        description: step.description.clone(),
        direction: step.direction,
        in_transaction: step.in_transaction,
        statements: step.statements.len(),
    });
    let mut run = StepRun {
        conn,
        step,
        events,
        cancel,
        watch,
        completed: Vec::new(),
    };
    if step.in_transaction {
        run.bookkeeping(|conn| Box::pin(simple(conn, "BEGIN")))
            .await?;
    }
    for statement in &step.statements {
        run.statement(statement).await?;
    }
    run.stop_if_cancelled().await?;
    let (version, description, checksum) = (
        step.version,
        step.description.clone(),
        step.checksum.clone(),
    );
    match step.direction {
        Direction::Apply => {
            let sql = table.insert_sql();
            run.bookkeeping(move |conn| {
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(version)
                        .bind(description)
                        .bind(checksum)
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .await?;
        }
        Direction::Revert => {
            let sql = table.delete_sql();
            run.bookkeeping(move |conn| {
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(version)
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .await?;
        }
    }
    if step.in_transaction {
        run.bookkeeping(|conn| Box::pin(simple(conn, "COMMIT")))
            .await?;
    }
    let elapsed = started.elapsed();
    if step.direction == Direction::Apply {
        // As sqlx: outside the transaction, so -1 stays if the process dies right here.
        sqlx::query(AssertSqlSafe(table.update_time_sql()))
            .bind(i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
            .bind(step.version)
            .execute(&mut *run.conn)
            .await
            .map_err(|source| {
                StepError::Setup(RunError::Query {
                    context: format!("recording the execution time of {}", step.version),
                    source,
                })
            })?;
    }
    let _ = events.send(RunEvent::MigrationFinished {
        version: step.version,
        direction: step.direction,
        elapsed,
    });
    Ok(elapsed)
}

async fn simple(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(conn)
        .await
        .map(|_| ())
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

struct StepRun<'a> {
    conn: &'a mut PgConnection,
    step: &'a Step,
    events: &'a EventSink,
    cancel: &'a CancellationToken,
    watch: &'a mut Watch,
    completed: Vec<usize>,
}

impl StepRun<'_> {
    /// Stops (rolling back a transaction) when the run has been interrupted.
    async fn stop_if_cancelled(&mut self) -> Result<(), StepError> {
        if !self.cancel.is_cancelled() {
            return Ok(());
        }
        if self.step.in_transaction {
            let _ = simple(self.conn, "ROLLBACK").await;
        }
        Err(StepError::Interrupted(self.completed.clone()))
    }

    async fn statement(&mut self, statement: &Statement) -> Result<(), StepError> {
        self.stop_if_cancelled().await?;
        let step = self.step;
        let _ = self.events.send(RunEvent::StatementStarted {
            version: step.version,
            index: statement.index,
            line: statement.start.line,
            text: statement.text.clone(),
        });
        let started = Instant::now();
        let events = self.events;
        let (version, index) = (step.version, statement.index);
        let watched = self
            .watch
            .supervise(
                sqlx::raw_sql(AssertSqlSafe(statement.text.as_str())).execute(&mut *self.conn),
                self.cancel,
                |waited, wait| {
                    let _ = events.send(RunEvent::StatementWaiting {
                        version,
                        index,
                        waited,
                        wait: wait.clone(),
                    });
                },
            )
            .await;
        match watched.output {
            Ok(_) if watched.interrupted => {
                self.completed.push(statement.index);
                self.stop_if_cancelled().await.map(|_| ())
            }
            Err(_) if watched.interrupted => {
                if step.in_transaction {
                    let _ = simple(self.conn, "ROLLBACK").await;
                }
                Err(StepError::Interrupted(self.completed.clone()))
            }
            Ok(result) => {
                let _ = self.events.send(RunEvent::StatementFinished {
                    version: step.version,
                    index: statement.index,
                    elapsed: started.elapsed(),
                    rows_affected: result.rows_affected(),
                });
                self.completed.push(statement.index);
                Ok(())
            }
            Err(error) => Err(self.fail(error, Some(statement), watched.last_wait).await),
        }
    }

    async fn bookkeeping(
        &mut self,
        work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>,
    ) -> Result<(), StepError> {
        match work(&mut *self.conn).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self.fail(error, None, None).await),
        }
    }

    /// Rolls back (when in a transaction) and describes the failure.
    async fn fail(
        &mut self,
        error: sqlx::Error,
        statement: Option<&Statement>,
        blocked_by: Option<LockWait>,
    ) -> StepError {
        let step = self.step;
        if step.in_transaction {
            let _ = simple(self.conn, "ROLLBACK").await;
        }
        let mut failure = describe(&error, statement, step, &self.completed);
        failure.blocked_by = blocked_by;
        StepError::Failed(failure)
    }
}

/// Turns a driver error into a [`Failure`] with the file line and column of the error.
pub(crate) fn describe(
    error: &sqlx::Error,
    statement: Option<&Statement>,
    step: &Step,
    completed: &[usize],
) -> Failure {
    let db_error = error.as_database_error();
    let pg = db_error.and_then(|e| e.try_downcast_ref::<PgDatabaseError>());
    let mut line = statement.map(|s| s.start.line);
    let mut column = None;
    if let (Some(statement), Some(PgErrorPosition::Original(position))) =
        (statement, pg.and_then(|e| e.position()))
    {
        // The position counts characters from 1 within the statement text.
        let offset_in_statement: usize = statement
            .text
            .chars()
            .take(position.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        let text = &step.file.sql;
        let at = LineIndex::new(text).line_col(text, statement.span.start + offset_in_statement);
        line = Some(at.line);
        column = Some(at.column);
    }
    Failure {
        statement: statement.map(|s| s.index),
        line,
        column,
        sqlstate: db_error.and_then(|e| e.code()).map(|c| c.into_owned()),
        message: db_error
            .map(|e| e.message().to_string())
            .unwrap_or_else(|| error.to_string()),
        detail: pg.and_then(|e| e.detail()).map(str::to_string),
        hint: pg.and_then(|e| e.hint()).map(str::to_string),
        in_transaction: step.in_transaction,
        partial: !step.in_transaction && !completed.is_empty(),
        completed: completed.to_vec(),
        blocked_by: None,
    }
}
