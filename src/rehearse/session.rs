//! The rehearsal's session on the scratch database: running a migration file statement by
//! statement (the UP traced), catalogue snapshots, and which tables and
//! columns hold data before a DOWN.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use tokio_util::sync::CancellationToken;

use super::RehearseError;
use super::catalog::{self, Catalog};
use super::compare::{Observation, disagreements, held_before, observed_locks, predicted_locks};
use super::events::{PhaseName, RehearsalEvent, RehearsalSink};
use super::report::StatementRehearsal;
use super::scratch::Scratch;
use crate::analysis::{Analysis, OwnTransaction};
use crate::config::pg_duration;
use crate::db::DbError;
use crate::history::HistoryTable;
use crate::runner::{Failure, RunOptions, Step, describe_failure};
use crate::trace::Tracer;

/// How often the locks of a statement outside a transaction are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// What a file's run did.
pub struct FileRun {
    /// The traced statements (empty when not traced).
    pub statements: Vec<StatementRehearsal>,
    /// What failed, with the failing statement's text.
    pub failure: Option<(Failure, Option<String>)>,
    /// Wall time, `COMMIT` included.
    pub elapsed: Duration,
}

/// What a traced run compares with.
pub struct Tracing<'a> {
    /// The static analysis of the file, when there is one.
    pub analysis: Option<&'a Analysis>,
    /// The schema before the file ran (to tell tables from other relations).
    pub before: &'a Catalog,
}

/// Tables and columns that hold data.
#[derive(Debug, Default)]
pub struct Holding {
    /// Tables with at least one row.
    pub tables: BTreeSet<String>,
    /// `(table, column)` with at least one non-null value.
    pub columns: BTreeSet<(String, String)>,
}

/// The migration session on the scratch database.
pub struct ScratchSession {
    conn: PgConnection,
    monitor: Option<PgConnection>,
    pid: i32,
    url: String,
    table: HistoryTable,
    /// The scratch server's `server_version_num`.
    pub version_num: u32,
    /// Time spent taking snapshots so far.
    pub snapshot_time: Duration,
}

fn query_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> RehearseError {
    move |error| {
        RehearseError::Db(DbError::Query {
            context: context.into(),
            error,
        })
    }
}

impl ScratchSession {
    /// Connects with the run's session timeouts.
    pub async fn open(
        scratch: &Scratch,
        run: &RunOptions,
    ) -> Result<ScratchSession, RehearseError> {
        let mut conn = scratch.connect("lockstep:rehearse").await?;
        // A throwaway database: no commit waits for its WAL to reach the disk.
        sqlx::raw_sql("SET synchronous_commit = off")
            .execute(&mut conn)
            .await
            .map_err(query_err("setting up the scratch session"))?;
        for (name, value) in [
            ("lock_timeout", run.lock_timeout),
            ("statement_timeout", run.statement_timeout),
        ] {
            if let Some(value) = value {
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "SET {name} = '{}'",
                    pg_duration(value)
                )))
                .execute(&mut conn)
                .await
                .map_err(query_err(
                    "setting the session timeouts of the scratch session",
                ))?;
            }
        }
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .map_err(query_err("reading the scratch session"))?;
        Ok(ScratchSession {
            conn,
            monitor: None,
            pid,
            url: scratch.url().to_string(),
            table: run.table.clone(),
            version_num: scratch.version_num,
            snapshot_time: Duration::ZERO,
        })
    }

    /// Creates the history table (and its schemas) when the copy has none, as sqlx does before
    /// applying.
    pub async fn ensure_history(&mut self, create_schemas: &[String]) -> Result<(), RehearseError> {
        crate::history::ensure(&mut self.conn, &self.table, create_schemas).await?;
        Ok(())
    }

    /// A snapshot of the scratch database's schema; with `sizes`, also which tables may hold
    /// rows (before a DOWN: see [`ScratchSession::holding`]).
    pub async fn snapshot(&mut self, sizes: bool) -> Result<Catalog, RehearseError> {
        let started = Instant::now();
        let snapshot = catalog::snapshot(&mut self.conn, self.version_num, sizes)
            .await
            .map_err(query_err("reading the catalogue of the scratch database"));
        self.snapshot_time += started.elapsed();
        snapshot
    }

    /// The scratch database's catalogue as the analysis reads a live database (tables, columns
    /// and their types, indexes, views), so the static prediction meets the same schema.
    pub async fn analysis_catalog(&mut self) -> Result<crate::analysis::Catalog, RehearseError> {
        crate::schema::read_catalog(&mut self.conn)
            .await
            .map_err(query_err("reading the catalogue of the scratch database"))
    }

    /// Which tables of `catalog` (just taken) hold rows and which of their columns hold values
    /// (read before a DOWN, to tell what it would lose). Only tables whose storage is not empty
    /// are read; when there are none, nothing is.
    pub async fn holding(&mut self, catalog: &Catalog) -> Result<Holding, RehearseError> {
        if catalog.nonempty.is_empty() {
            return Ok(Holding::default());
        }
        // One query: does each table have a row, and each column a value?
        let mut checks: Vec<(&str, Option<&str>)> = Vec::new();
        let mut parts = Vec::new();
        for (table, quoted) in &catalog.nonempty {
            parts.push(format!(
                "SELECT {}, EXISTS (SELECT 1 FROM ONLY {quoted})",
                checks.len()
            ));
            checks.push((table, None));
            for (_, column) in catalog.table_columns().filter(|(t, _)| t == table) {
                parts.push(format!(
                    "SELECT {}, EXISTS (SELECT 1 FROM ONLY {quoted} WHERE {} IS NOT NULL)",
                    checks.len(),
                    quote_ident(column)
                ));
                checks.push((table, Some(column)));
            }
        }
        let found: Vec<(i32, bool)> = sqlx::query_as(AssertSqlSafe(parts.join(" UNION ALL ")))
            .fetch_all(&mut self.conn)
            .await
            .map_err(query_err("looking for tables that hold rows"))?;
        let mut holding = Holding::default();
        for (check, present) in found {
            let Some(&(table, column)) = usize::try_from(check).ok().and_then(|i| checks.get(i))
            else {
                continue;
            };
            if !present {
                continue;
            }
            match column {
                None => holding.tables.insert(table.to_string()),
                Some(column) => holding
                    .columns
                    .insert((table.to_string(), column.to_string())),
            };
        }
        Ok(holding)
    }

    /// Runs `step` statement by statement, in one transaction unless
    /// `-- no-transaction`. With `tracing`, each statement's locks and rewrites are observed and
    /// compared with the analysis. A failure is returned in the [`FileRun`] (the transaction
    /// rolled back); an `Err` means the rehearsal itself cannot go on (cancelled, the scratch
    /// server gone).
    pub async fn run(
        &mut self,
        step: &Step,
        phase: PhaseName,
        tracing: Option<Tracing<'_>>,
        events: &RehearsalSink,
        cancel: &CancellationToken,
    ) -> Result<FileRun, RehearseError> {
        let started = Instant::now();
        let _ = events.send(RehearsalEvent::PhaseStarted {
            version: step.version,
            description: step.description.clone(),
            phase,
            statements: step.statements.len(),
        });
        let mut tracer = match tracing {
            Some(_) => Some(Tracer::start(&mut self.conn).await?),
            None => None,
        };
        if step.in_transaction {
            self.simple("BEGIN").await?;
        }
        // Outside a transaction a statement's locks go when it ends: they are sampled while it
        // runs instead of read after it (a `-- no-transaction` file, or one's own COMMIT).
        let inside = step.in_transaction_by_statement();
        let mut held = BTreeMap::new();
        let mut statements = Vec::new();
        let mut completed = Vec::new();
        // A `-- no-transaction` file runs in the runner's segments: a group of statements in a
        // transaction of its own, a statement that cannot run in one alone.
        let segment_of = |index: usize| {
            step.segments
                .iter()
                .find(|segment| segment.statements.contains(&index))
        };
        // The open segment's statements (committed once they are traced).
        let mut segment_open: Option<std::ops::Range<usize>> = None;
        // What stays applied when the file stops now: in a transaction, nothing (all that
        // completed is reported as rolled back, as the runner does); else what was committed.
        let stayed = |completed: &[usize], open: &Option<std::ops::Range<usize>>| -> Vec<usize> {
            completed
                .iter()
                .copied()
                .filter(|i| open.as_ref().is_none_or(|open| *i < open.start))
                .collect()
        };
        for statement in &step.statements {
            if cancel.is_cancelled() {
                return Err(RehearseError::Cancelled);
            }
            if segment_open
                .as_ref()
                .is_some_and(|open| statement.index >= open.end)
            {
                if let Err(error) = self.commit_segment().await {
                    let stayed = stayed(&completed, &segment_open);
                    let failure = describe_failure(&error, None, step, &stayed, false);
                    return Ok(FileRun {
                        statements,
                        failure: Some((failure, None)),
                        elapsed: started.elapsed(),
                    });
                }
                segment_open = None;
            }
            let segment = segment_of(statement.index).filter(|_| !step.in_transaction);
            let grouped = segment.is_some_and(|s| s.alone.is_none());
            if grouped && segment.is_some_and(|s| s.statements.start == statement.index) {
                self.simple("BEGIN").await?;
                segment_open = segment.map(|s| s.statements.clone());
            }
            let in_transaction = inside.get(statement.index).copied().unwrap_or(grouped);
            let sampled = tracer.is_some() && !in_transaction;
            if sampled && self.monitor.is_none() {
                self.monitor =
                    Some(crate::db::connect(&self.url, "lockstep:rehearse:monitor").await?);
            }
            let begun = Instant::now();
            let exec =
                sqlx::raw_sql(AssertSqlSafe(statement.text.as_str())).execute(&mut self.conn);
            let (result, watched) = match (&tracer, self.monitor.as_mut()) {
                (Some(tracer), Some(monitor)) if sampled => tokio::select! {
                    (result, watched) = tracer.watch(monitor, self.pid, SAMPLE_EVERY, exec) => (result, Some(watched)),
                    _ = cancel.cancelled() => return Err(RehearseError::Cancelled),
                },
                _ => tokio::select! {
                    result = exec => (result, None),
                    _ = cancel.cancelled() => return Err(RehearseError::Cancelled),
                },
            };
            let elapsed = begun.elapsed();
            let done = match result {
                Ok(done) => done,
                Err(error) => {
                    if in_transaction {
                        let _ = self.simple("ROLLBACK").await;
                    }
                    let stayed = match step.in_transaction {
                        true => completed.clone(),
                        false => {
                            let mut kept = stayed(&completed, &segment_open);
                            // In a transaction the file opened itself: rolled back from its
                            // BEGIN on.
                            // (After COMMIT/ROLLBACK AND CHAIN: from the statement after it.)
                            let begin =
                                (0..statement.index)
                                    .rev()
                                    .find_map(|i| match step.control(i)? {
                                        OwnTransaction::Begins => Some(i),
                                        OwnTransaction::CommitsAndChains
                                        | OwnTransaction::RollsBackAndChains => Some(i + 1),
                                        _ => None,
                                    });
                            if in_transaction && let Some(begin) = begin {
                                kept.retain(|&i| i < begin);
                            }
                            kept
                        }
                    };
                    let failure = describe_failure(&error, Some(statement), step, &stayed, false);
                    return Ok(FileRun {
                        statements,
                        failure: Some((failure, Some(statement.text.clone()))),
                        elapsed: started.elapsed(),
                    });
                }
            };
            completed.push(statement.index);
            let _ = events.send(RehearsalEvent::StatementFinished {
                version: step.version,
                phase,
                index: statement.index,
                elapsed,
            });
            let (Some(tracer), Some(tracing)) = (tracer.as_mut(), tracing.as_ref()) else {
                continue;
            };
            let analysed = tracing
                .analysis
                .and_then(|a| a.statements.get(statement.index))
                .filter(|a| a.text == statement.text);
            // BEGIN, SET and RESET take no lock: they are not observed, as the observation would
            // be the transaction's first query, which a `SET TRANSACTION` after them must precede
            // (and in REPEATABLE READ it would take the transaction's snapshot early).
            let takes_no_lock = step.control(statement.index) == Some(OwnTransaction::Begins)
                || analysed.is_some_and(|a| matches!(a.kind, "BEGIN" | "SET" | "RESET"));
            let (observed, predicted, rewritten, found, held_already) = if takes_no_lock {
                Default::default()
            } else {
                let (locks, rewritten) = match watched {
                    Some(watched) => (watched?, tracer.rewritten(&mut self.conn).await?),
                    None => tracer.observe(&mut self.conn).await?,
                };
                let rewritten: Vec<String> = rewritten
                    .into_iter()
                    .filter(|relation| tracing.before.has_table(relation))
                    .collect();
                let observed = observed_locks(&locks);
                let predicted = analysed
                    .map(|a| predicted_locks(a, |relation| tracer.existed(relation)))
                    .unwrap_or_default();
                let held_already = held_before(&predicted, &observed, &held);
                let found = match analysed {
                    Some(_) => disagreements(
                        &predicted,
                        &observed,
                        &Observation {
                            rewritten: &rewritten,
                            sampled,
                            statement: (statement.index, statement.start.line),
                        },
                        &mut held,
                    ),
                    None => Vec::new(),
                };
                (observed, predicted, rewritten, found, held_already)
            };
            statements.push(StatementRehearsal {
                index: statement.index,
                line: statement.start.line,
                text: statement.text.clone(),
                elapsed_ms: elapsed.as_secs_f64() * 1e3,
                rows_affected: done.rows_affected(),
                observed,
                predicted,
                rewritten,
                sampled,
                disagreements: found,
                held: held_already,
            });
        }
        if cancel.is_cancelled() {
            return Err(RehearseError::Cancelled);
        }
        let committed = match segment_open {
            Some(_) => self.commit_segment().await,
            None => self.commit(step).await,
        };
        if let Err(error) = committed {
            let completed = match step.in_transaction {
                true => completed,
                false => stayed(&completed, &segment_open),
            };
            if step.in_transaction {
                let _ = self.simple("ROLLBACK").await;
            }
            let failure = describe_failure(&error, None, step, &completed, false);
            return Ok(FileRun {
                statements,
                failure: Some((failure, None)),
                elapsed: started.elapsed(),
            });
        }
        Ok(FileRun {
            statements,
            failure: None,
            elapsed: started.elapsed(),
        })
    }

    /// `COMMIT` (deferred constraints are checked here). The history rows are not written: the
    /// plan was made from the copied history, and nothing reads them after.
    async fn commit(&mut self, step: &Step) -> Result<(), sqlx::Error> {
        // (Or the file's own transaction it leaves open, which the runner commits too.)
        if step.in_transaction || step.leaves_transaction_open() {
            sqlx::raw_sql("COMMIT").execute(&mut self.conn).await?;
        }
        Ok(())
    }

    /// Commits a `-- no-transaction` file's segment (rolled back when the commit fails).
    async fn commit_segment(&mut self) -> Result<(), sqlx::Error> {
        let result = sqlx::raw_sql("COMMIT").execute(&mut self.conn).await;
        if result.is_err() {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await;
        }
        result.map(|_| ())
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), RehearseError> {
        sqlx::raw_sql(sql)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(query_err("controlling the scratch transaction"))
    }

    /// Closes the connections.
    pub async fn close(self) {
        if let Some(monitor) = self.monitor {
            let _ = monitor.close().await;
        }
        let _ = self.conn.close().await;
    }
}

/// `"name"`, with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
