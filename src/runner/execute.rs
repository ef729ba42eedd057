//! Running one step: its statements one by one, in the transactions and with the history-row
//! writes its [`script`] says. Before every statement, `BEGIN` and `COMMIT` the run's cancel token
//! is checked; each statement is watched from a second connection ([`Watch`]), which names what it
//! waits for and cancels it on the server when the run is interrupted. A transaction that gave up
//! on a lock (`lock_timeout`) has been rolled back whole, so it runs again from its `BEGIN`.

use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};
use tokio_util::sync::CancellationToken;

use super::RunError;
use super::events::{EventSink, Failure, RunEvent};
use super::hook::{BeforeStatement, HookError};
use super::plan::Step;
use super::retry_delay;
use super::script::{Op, RowWrite, row_sql, script};
use super::watch::Watch;
use crate::analysis::OwnTransaction;
use crate::history::HistoryTable;
use crate::monitor::LockWait;
use crate::sql::{LineIndex, Statement};

/// What a step runs with: the migration connection, where events go, the run's cancel token, the
/// watcher on a second connection and how often a transaction may run again after a lock timeout.
pub(super) struct Exec<'a> {
    pub conn: &'a mut PgConnection,
    pub table: &'a HistoryTable,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
    pub watch: &'a mut Watch,
    pub retries: u32,
    /// The step's transaction is open already, with its settings and lock (`--pooled`, see
    /// `pooled.rs`): no session-level `SET`, no `BEGIN`.
    pub begun: bool,
    /// Called right before each statement.
    pub hook: Option<&'a mut (dyn BeforeStatement + 'static)>,
}

/// Why a step did not complete. Failures are not reported yet: the caller does.
pub(super) enum StepError {
    /// A statement or the bookkeeping failed (an open transaction was rolled back).
    Failed(Failure),
    /// The run was interrupted (an open transaction was rolled back); the statements that stayed
    /// applied (outside a transaction) or completed before the rollback.
    Interrupted(Vec<usize>),
    /// A session setting failed.
    Setup(RunError),
}

/// Runs `step` and records it; returns how long it took, bookkeeping included.
pub(super) async fn run_step(exec: &mut Exec<'_>, step: &Step) -> Result<Duration, StepError> {
    let started = Instant::now();
    // The session is named after the migration; when the step opens with a transaction, in the
    // same round trip as its BEGIN.
    let ops = script(step);
    let naming = format!(
        "SET application_name = 'lockstep:{}:{}'",
        step.direction.verb(),
        step.version
    );
    let first = ops.iter().position(|op| !matches!(op, Op::Segment(_)));
    let opens_with_begin = first.filter(|&first| ops[first] == Op::Begin);
    // Under --pooled the step's transaction is open already, named with SET LOCAL.
    let (naming_begin, begun_at) = if exec.begun {
        (None, opens_with_begin)
    } else {
        (opens_with_begin, None)
    };
    if naming_begin.is_none() && !exec.begun {
        simple(exec.conn, &naming).await.map_err(|source| {
            StepError::Setup(RunError::Query {
                context: "setting application_name".into(),
                source,
            })
        })?;
    }
    let _ = exec.events.send(RunEvent::MigrationStarted {
        version: step.version,
        description: step.description.clone(),
        direction: step.direction,
        in_transaction: step.in_transaction,
        statements: step.statements.len(),
    });
    let (table, events, cancel, retries) = (exec.table, exec.events, exec.cancel, exec.retries);
    let mut run = StepRun {
        conn: &mut *exec.conn,
        table,
        step,
        events,
        cancel,
        watch: &mut *exec.watch,
        completed: Vec::new(),
        committed: 0,
        open: false,
        row_written: None,
        unfinished: false,
        hook: exec.hook.as_deref_mut(),
    };
    let (mut at, mut transaction_start, mut attempt) = (0, 0, 0);
    while at < ops.len() {
        let in_transaction = run.open;
        let done = match ops[at] {
            Op::Segment(_) => Ok(()),
            Op::Begin => {
                transaction_start = at;
                // A retry sends this BEGIN again, and the naming with it: the rollback undid it.
                let naming = (naming_begin == Some(at)).then_some(naming.as_str());
                match run.stop_if_cancelled().await {
                    Ok(()) if begun_at == Some(at) => {
                        run.open = true;
                        Ok(())
                    }
                    Ok(()) => run.begin(naming).await,
                    Err(e) => Err(e),
                }
            }
            Op::Statement(index) => {
                match step.control(index) {
                    // The file's own transaction: a retry after a lock timeout starts here.
                    Some(OwnTransaction::Begins) => transaction_start = at,
                    // … or after a COMMIT/ROLLBACK AND CHAIN, which begins the next one.
                    Some(OwnTransaction::CommitsAndChains | OwnTransaction::RollsBackAndChains) => {
                        transaction_start = at + 1
                    }
                    _ => {}
                }
                run.statement(&step.statements[index]).await
            }
            // The row and the COMMIT after it go in one round trip.
            Op::Row(write) if ops.get(at + 1) == Some(&Op::Commit) => {
                match run.stop_if_cancelled().await {
                    Ok(()) => run.row(write, nanos(started.elapsed()), true).await,
                    Err(e) => Err(e),
                }
                .map(|()| at += 1)
            }
            Op::Row(write) => run.row(write, nanos(started.elapsed()), false).await,
            Op::Commit => match run.stop_if_cancelled().await {
                Ok(()) => run.commit().await,
                Err(e) => Err(e),
            },
        };
        match done {
            Ok(()) => at += 1,
            Err(StepError::Failed(failure))
                if in_transaction && failure.is_lock_timeout() && attempt < retries =>
            {
                // The transaction was rolled back whole: run it again from its BEGIN.
                attempt += 1;
                let delay = retry_delay(attempt);
                let _ = events.send(RunEvent::Retrying {
                    version: step.version,
                    direction: step.direction,
                    attempt,
                    retries,
                    delay,
                    failure,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(StepError::Interrupted(run.stayed())),
                }
                let committed = run.committed;
                run.completed.retain(|&i| i < committed);
                at = transaction_start;
            }
            Err(error) => return Err(error),
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
    cancel: &'a CancellationToken,
    watch: &'a mut Watch,
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
    /// Called right before each statement.
    hook: Option<&'a mut (dyn BeforeStatement + 'static)>,
}

impl StepRun<'_> {
    /// The statements that stay applied when the step stops now (after a rollback): all that
    /// completed in a migration that runs in one transaction (reported as rolled back), the
    /// committed ones otherwise.
    fn stayed(&self) -> Vec<usize> {
        if self.step.in_transaction {
            self.completed.clone()
        } else {
            (0..self.committed).collect()
        }
    }

    /// Rolls back the open transaction.
    async fn roll_back(&mut self) {
        if self.open {
            let _ = simple(self.conn, "ROLLBACK").await;
            self.open = false;
            self.row_written = None;
        }
    }

    /// Stops (rolling back an open transaction) when the run has been interrupted.
    async fn stop_if_cancelled(&mut self) -> Result<(), StepError> {
        if !self.cancel.is_cancelled() {
            return Ok(());
        }
        self.roll_back().await;
        Err(StepError::Interrupted(self.stayed()))
    }

    async fn statement(&mut self, statement: &Statement) -> Result<(), StepError> {
        self.stop_if_cancelled().await?;
        self.before(statement).await?;
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
            Ok(result) => {
                let _ = self.events.send(RunEvent::StatementFinished {
                    version: step.version,
                    index: statement.index,
                    elapsed: started.elapsed(),
                    rows_affected: result.rows_affected(),
                });
                self.completed.push(statement.index);
                match step.control(statement.index) {
                    // The file's own transaction: its statements count once it commits.
                    Some(OwnTransaction::Begins) => self.open = true,
                    Some(OwnTransaction::Commits) if self.open => self.committed_now(),
                    Some(OwnTransaction::CommitsAndChains) if self.open => {
                        self.committed_now();
                        self.open = true;
                    }
                    Some(
                        control @ (OwnTransaction::RollsBack | OwnTransaction::RollsBackAndChains),
                    ) if self.open => {
                        // Undone as the file says: nothing of its transaction stays, and the
                        // run goes on past it (in the next transaction, after AND CHAIN).
                        self.open = control.leaves_open();
                        self.row_written = None;
                        self.committed = statement.index + 1;
                    }
                    _ if !self.open => self.committed = statement.index + 1,
                    _ => {}
                }
                // Interrupted while it ran, too late to cancel it: stop before the next.
                self.stop_if_cancelled().await
            }
            Err(_) if watched.interrupted => {
                self.roll_back().await;
                Err(StepError::Interrupted(self.stayed()))
            }
            Err(error) => Err(self.fail(error, Some(statement), watched.last_wait).await),
        }
    }

    /// The hook's work before `statement` (watched and cancellable like the statement itself).
    async fn before(&mut self, statement: &Statement) -> Result<(), StepError> {
        let Some(hook) = self.hook.as_deref_mut() else {
            return Ok(());
        };
        let watched = self
            .watch
            .supervise(
                hook.before(&mut *self.conn, self.step, statement, self.events),
                self.cancel,
                |_, _| {},
            )
            .await;
        match watched.output {
            Ok(()) => Ok(()),
            Err(_) if watched.interrupted => {
                self.roll_back().await;
                Err(StepError::Interrupted(self.stayed()))
            }
            Err(HookError::Query(error)) => {
                Err(self.fail(error, Some(statement), watched.last_wait).await)
            }
            Err(HookError::Refused(message)) => {
                self.roll_back().await;
                let mut failure = describe(
                    &sqlx::Error::Protocol(String::new()),
                    Some(statement),
                    self.step,
                    &self.stayed(),
                    self.unfinished,
                );
                failure.message = message;
                Err(StepError::Failed(failure))
            }
        }
    }

    /// `BEGIN`, after `naming` (a `SET application_name`) in the same round trip when given.
    async fn begin(&mut self, naming: Option<&str>) -> Result<(), StepError> {
        let sql = match naming {
            Some(naming) => format!("{naming}; BEGIN"),
            None => "BEGIN".to_string(),
        };
        self.bookkeeping(move |conn| Box::pin(async move { simple(conn, &sql).await }))
            .await?;
        self.open = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StepError> {
        self.bookkeeping(|conn| Box::pin(simple(conn, "COMMIT")))
            .await?;
        self.committed_now();
        Ok(())
    }

    /// The open transaction has committed.
    fn committed_now(&mut self) {
        self.open = false;
        self.committed = self.completed.last().map_or(self.committed, |i| i + 1);
        if let Some(write) = self.row_written.take() {
            self.unfinished = write.leaves_unfinished();
        }
    }
    /// Writes the history row as `write` says (`elapsed`: the execution time so far, in
    /// nanoseconds), and commits in the same round trip when `commit`.
    async fn row(&mut self, write: RowWrite, elapsed: i64, commit: bool) -> Result<(), StepError> {
        let mut sql = row_sql(self.table, self.step, write, &elapsed.to_string());
        if commit {
            sql.push_str("; COMMIT");
        }
        self.bookkeeping(move |conn| Box::pin(async move { simple(conn, &sql).await }))
            .await?;
        if self.open {
            self.row_written = Some(write);
        } else {
            self.unfinished = write.leaves_unfinished();
        }
        if commit {
            self.committed_now();
        }
        Ok(())
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

    /// Rolls back the open transaction and describes the failure (the caller reports it).
    async fn fail(
        &mut self,
        error: sqlx::Error,
        statement: Option<&Statement>,
        blocked_by: Option<LockWait>,
    ) -> StepError {
        self.roll_back().await;
        let mut failure = describe(
            &error,
            statement,
            self.step,
            &self.stayed(),
            self.unfinished,
        );
        failure.blocked_by = blocked_by;
        StepError::Failed(failure)
    }
}

/// SQLSTATE `25001`: "… cannot run inside a transaction block".
const ACTIVE_SQL_TRANSACTION: &str = "25001";

/// Turns a driver error into a [`Failure`] with the file line and column of the error.
pub(crate) fn describe(
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
        own_transactions: step.own_transactions(),
        completed: completed.to_vec(),
        blocked_by: None,
    }
}
