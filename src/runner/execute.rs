//! Running one step: its statements one by one, then sqlx's bookkeeping.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

use super::RunError;
use super::events::{EventSink, Failure, RunEvent};
use super::plan::{Direction, Step};
use crate::history::HistoryTable;
use crate::sql::{LineIndex, Statement};

/// Runs `step` and records it; returns how long it took, bookkeeping included.
pub(super) async fn run_step(
    conn: &mut PgConnection,
    table: &HistoryTable,
    step: &Step,
    events: &EventSink,
) -> Result<Duration, RunError> {
    let started = Instant::now();
    let role = step.direction.verb();
    simple(
        conn,
        &format!("SET application_name = 'lockstep:{role}:{}'", step.version),
    )
    .await
    .map_err(|source| RunError::Query {
        context: "setting application_name".into(),
        source,
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
        completed: Vec::new(),
    };
    if step.in_transaction {
        run.bookkeeping(|conn| Box::pin(simple(conn, "BEGIN")))
            .await?;
    }
    for statement in &step.statements {
        run.statement(statement).await?;
    }
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
            .map_err(|source| RunError::Query {
                context: format!("recording the execution time of {}", step.version),
                source,
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
    completed: Vec<usize>,
}

impl StepRun<'_> {
    async fn statement(&mut self, statement: &Statement) -> Result<(), RunError> {
        let step = self.step;
        let _ = self.events.send(RunEvent::StatementStarted {
            version: step.version,
            index: statement.index,
            line: statement.start.line,
            text: statement.text.clone(),
        });
        let started = Instant::now();
        match sqlx::raw_sql(AssertSqlSafe(statement.text.clone()))
            .execute(&mut *self.conn)
            .await
        {
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
            Err(error) => Err(self.fail(error, Some(statement)).await),
        }
    }

    async fn bookkeeping(
        &mut self,
        work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>,
    ) -> Result<(), RunError> {
        match work(&mut *self.conn).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self.fail(error, None).await),
        }
    }

    /// Rolls back (when in a transaction), reports the failure and turns it into an error.
    async fn fail(&mut self, error: sqlx::Error, statement: Option<&Statement>) -> RunError {
        let step = self.step;
        if step.in_transaction {
            let _ = simple(self.conn, "ROLLBACK").await;
        }
        let failure = describe(&error, statement, step, &self.completed);
        let _ = self.events.send(RunEvent::MigrationFailed {
            version: step.version,
            direction: step.direction,
            failure: failure.clone(),
        });
        RunError::Migration {
            version: step.version,
            description: step.description.clone(),
            direction: step.direction,
            failure,
        }
    }
}

/// Turns a driver error into a [`Failure`] with the file line and column of the error.
fn describe(
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
    }
}
