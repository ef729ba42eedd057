//! Running one step: its statements one by one, in the transactions and with the history-row
//! writes its [`script`] says.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

use super::RunError;
use super::events::{EventSink, Failure, RunEvent};
use super::plan::Step;
use super::script::{Op, RowWrite, script};
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
        table,
        step,
        events,
        completed: Vec::new(),
        committed: 0,
        open: false,
        row_written: None,
        unfinished: false,
    };
    for op in script(step) {
        match op {
            Op::Segment(_) => {}
            Op::Begin => run.begin().await?,
            Op::Statement(index) => run.statement(&step.statements[index]).await?,
            Op::Row(write) => run.row(write).await?,
            Op::Commit => run.commit().await?,
            Op::RecordTime => {
                // As sqlx: outside the transaction, so -1 stays if the process dies right here.
                sqlx::query(AssertSqlSafe(table.update_time_sql()))
                    .bind(nanos(started.elapsed()))
                    .bind(step.version)
                    .execute(&mut *run.conn)
                    .await
                    .map_err(|source| RunError::Query {
                        context: format!("recording the execution time of {}", step.version),
                        source,
                    })?;
            }
        }
    }
    let elapsed = started.elapsed();
    let _ = events.send(RunEvent::MigrationFinished {
        version: step.version,
        direction: step.direction,
        elapsed,
    });
    Ok(elapsed)
}

fn nanos(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
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
    table: &'a HistoryTable,
    step: &'a Step,
    events: &'a EventSink,
    /// The statements that completed, committed or not.
    completed: Vec<usize>,
    /// How many of the first statements are committed.
    committed: usize,
    /// Whether a transaction lockstep opened is open.
    open: bool,
    /// The row write of the open transaction, until it commits.
    row_written: Option<RowWrite>,
    /// Whether the committed row says the migration is unfinished (`success = false`).
    unfinished: bool,
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
                if !self.open {
                    self.committed = statement.index + 1;
                }
                Ok(())
            }
            Err(error) => Err(self.fail(error, Some(statement)).await),
        }
    }

    async fn begin(&mut self) -> Result<(), RunError> {
        self.bookkeeping(|conn| Box::pin(simple(conn, "BEGIN")))
            .await?;
        self.open = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), RunError> {
        self.bookkeeping(|conn| Box::pin(simple(conn, "COMMIT")))
            .await?;
        self.open = false;
        self.committed = self.completed.last().map_or(self.committed, |i| i + 1);
        if let Some(write) = self.row_written.take() {
            self.unfinished = write.leaves_unfinished();
        }
        Ok(())
    }

    /// Writes the history row as `write` says.
    async fn row(&mut self, write: RowWrite) -> Result<(), RunError> {
        let (table, step) = (self.table, self.step);
        let (version, description, checksum) = (
            step.version,
            step.description.clone(),
            step.checksum.clone(),
        );
        let mark = |progress: crate::history::Progress| progress.encode();
        self.bookkeeping(move |conn| {
            let query = match write {
                RowWrite::Insert => sqlx::query(AssertSqlSafe(table.insert_sql()))
                    .bind(version)
                    .bind(description)
                    .bind(checksum),
                RowWrite::InsertUnfinished(progress) => {
                    sqlx::query(AssertSqlSafe(table.insert_unfinished_sql()))
                        .bind(version)
                        .bind(description)
                        .bind(checksum)
                        .bind(mark(progress))
                }
                RowWrite::Unfinished(progress) => sqlx::query(AssertSqlSafe(table.mark_sql()))
                    .bind(false)
                    .bind(mark(progress))
                    .bind(version),
                RowWrite::Finished => sqlx::query(AssertSqlSafe(table.mark_sql()))
                    .bind(true)
                    .bind(-1_i64)
                    .bind(version),
                RowWrite::Delete => sqlx::query(AssertSqlSafe(table.delete_sql())).bind(version),
            };
            Box::pin(async move { query.execute(conn).await.map(|_| ()) })
        })
        .await?;
        if self.open {
            self.row_written = Some(write);
        } else {
            self.unfinished = write.leaves_unfinished();
        }
        Ok(())
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

    /// Rolls back the open transaction, reports the failure and turns it into an error.
    async fn fail(&mut self, error: sqlx::Error, statement: Option<&Statement>) -> RunError {
        let step = self.step;
        if self.open {
            let _ = simple(self.conn, "ROLLBACK").await;
            self.open = false;
            self.row_written = None;
        }
        let completed = if step.in_transaction {
            self.completed.clone()
        } else {
            (0..self.committed).collect()
        };
        let failure = describe(&error, statement, step, &completed, self.unfinished);
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

/// SQLSTATE `25001`: "… cannot run inside a transaction block".
const ACTIVE_SQL_TRANSACTION: &str = "25001";

/// Turns a driver error into a [`Failure`] with the file line and column of the error.
fn describe(
    error: &sqlx::Error,
    statement: Option<&Statement>,
    step: &Step,
    completed: &[usize],
    unfinished: bool,
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
    let sqlstate = db_error.and_then(|e| e.code()).map(|c| c.into_owned());
    let mut hint = pg.and_then(|e| e.hint()).map(str::to_string);
    let grouped = statement.is_some_and(|s| {
        step.segments
            .iter()
            .any(|g| g.is_transaction() && g.statements.contains(&s.index))
    });
    if !step.in_transaction && grouped && sqlstate.as_deref() == Some(ACTIVE_SQL_TRANSACTION) {
        hint.get_or_insert_with(|| {
            "lockstep ran this statement in one transaction with its neighbours because it did \
             not recognise it as one that cannot run in a transaction block (nothing of that \
             transaction stayed applied); please report the statement to lockstep"
                .to_string()
        });
    }
    Failure {
        statement: statement.map(|s| s.index),
        line,
        column,
        sqlstate,
        message: db_error
            .map(|e| e.message().to_string())
            .unwrap_or_else(|| error.to_string()),
        detail: pg.and_then(|e| e.detail()).map(str::to_string),
        hint,
        in_transaction: step.in_transaction,
        partial: unfinished,
        completed: completed.to_vec(),
    }
}
