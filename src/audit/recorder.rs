//! Writing a run to the audit, from the runner's event stream, on a connection of its own.
//!
//! [`Recorder::begin`] inserts the run's row (`outcome = 'running'`) and hands back the sink
//! the runner reports to: every event goes on to the caller's sink at once, and to a writer
//! task that writes the migrations and statements that changed, in batches, each in a
//! transaction of its own (no session state: safe behind a transaction pooler). While the run
//! lasts the writer refreshes the row's heartbeat. [`Recorder::finish`] writes how the run
//! ended. A process that dies before that leaves `running`, which readers report as
//! `interrupted` once the writer's server backend is gone or its heartbeat is stale.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::journal::{Changes, Journal};
use super::{AuditError, AuditSettings, RunInfo, schema};
use crate::db::Database;
use crate::pooler::{PoolMode, pinned};
use crate::runner::{EventSink, Resolution, RunEvent};

/// How often a running run's heartbeat is refreshed.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(10);
/// Every audit write commits without waiting for its own flush to disk: the migration's next
/// commit flushes it (WAL is written in order), and a server crash can lose at most the last
/// fraction of a second of it — after which the run reads as interrupted, never as succeeded.
const NO_FLUSH: &str = "SET LOCAL synchronous_commit = off;";

/// How often, at most, the rows of a running run are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How a run ended, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything it set out to do is done.
    Succeeded,
    /// It stopped on an error (the error, as the user was told).
    Failed(String),
    /// It was interrupted (Ctrl-C, SIGTERM, the dashboard's cancel).
    Interrupted,
}

impl RunEnd {
    fn outcome(&self) -> &'static str {
        match self {
            RunEnd::Succeeded => "succeeded",
            RunEnd::Failed(_) => "failed",
            RunEnd::Interrupted => "interrupted",
        }
    }
}

enum Message {
    Event(DateTime<Utc>, Box<RunEvent>),
    Resolved(DateTime<Utc>, i64, String, Resolution),
    Finish(RunEnd, oneshot::Sender<Result<(), AuditError>>),
}

/// The server's clock, read when the run's row was inserted, moved on by a monotonic local one:
/// every time in the audit is on the server's clock, as `installed_on` is.
#[derive(Debug, Clone, Copy)]
struct Clock {
    server: DateTime<Utc>,
    local: Instant,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        self.server + chrono::Duration::from_std(self.local.elapsed()).unwrap_or_default()
    }
}

/// A run being recorded. Finish it with [`Recorder::finish`]; dropped unfinished, its row says
/// `running` until readers see its writer gone, then `interrupted`.
pub struct Recorder {
    run_id: i64,
    clock: Clock,
    writer: mpsc::UnboundedSender<Message>,
    forwarder: JoinHandle<()>,
    task: JoinHandle<()>,
}

/// The runner's events on their way to the caller, held until the run's row is in
/// ([`Recorder::begin`]): the runner can connect while the audit begins.
pub struct Tap {
    upstream: mpsc::UnboundedReceiver<RunEvent>,
    downstream: EventSink,
}

impl Tap {
    /// A tap in front of `downstream`, and the sink to give the runner.
    pub fn new(downstream: EventSink) -> (Tap, EventSink) {
        let (sink, upstream) = mpsc::unbounded_channel();
        (
            Tap {
                upstream,
                downstream,
            },
            sink,
        )
    }
}

impl Recorder {
    /// Creates the audit schema if needed and inserts the run's row, on a connection of its own;
    /// from then on the events that pass `tap` are recorded, and reach its downstream sink
    /// unchanged.
    pub async fn begin(
        db: &Database,
        settings: &AuditSettings,
        info: &RunInfo,
        tap: Tap,
    ) -> Result<Recorder, AuditError> {
        let mut conn = db.connect("lockstep:audit").await?;
        let begun = async {
            let pooling = db.pooling(&mut conn).await?;
            schema::ensure(&mut conn, settings).await?;
            // Only a direct connection's backend lives exactly as long as this process.
            let own_backend = pooling.mode == PoolMode::None;
            let (id, started) = insert_run(&mut conn, settings, info, own_backend).await?;
            Ok((id, started, own_backend))
        }
        .await;
        let (run_id, server, own_backend) = match begun {
            Ok(begun) => begun,
            Err(error) => {
                let _ = conn.close().await;
                return Err(error);
            }
        };
        let clock = Clock {
            server,
            local: Instant::now(),
        };
        let (writer, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            Writer {
                db: db.detached(),
                conn: Some(conn),
                settings: settings.clone(),
                run_id,
                own_backend,
                journal: Journal::default(),
            }
            .serve(inbox),
        );
        let Tap {
            mut upstream,
            downstream,
        } = tap;
        let to_writer = writer.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(event) = upstream.recv().await {
                let at = clock.now();
                let _ = downstream.send(event.clone());
                let _ = to_writer.send(Message::Event(at, Box::new(event)));
            }
        });
        Ok(Recorder {
            run_id,
            clock,
            writer,
            forwarder,
            task,
        })
    }

    /// The run's id in the audit (`lockstep history --run ID`).
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Records that `version` was resolved (`lockstep resolve`).
    pub fn resolved(&self, version: i64, description: &str, resolution: Resolution) {
        let _ = self.writer.send(Message::Resolved(
            self.clock.now(),
            version,
            description.to_string(),
            resolution,
        ));
    }

    /// Writes what is left and how the run ended. Call it once the runner is closed (its events
    /// all sent). An error says the audit of this run is incomplete, and why.
    pub async fn finish(self, end: RunEnd) -> Result<(), AuditError> {
        // Every event the runner sent is passed on before the end is.
        let _ = self.forwarder.await;
        let (reply, done) = oneshot::channel();
        let _ = self.writer.send(Message::Finish(end, reply));
        let result = done.await.unwrap_or_else(|_| {
            Err(AuditError::Query {
                context: "finishing the audit".into(),
                source: sqlx::Error::WorkerCrashed,
            })
        });
        let _ = self.task.await;
        result
    }
}

async fn insert_run(
    conn: &mut PgConnection,
    settings: &AuditSettings,
    info: &RunInfo,
    own_backend: bool,
) -> Result<(i64, DateTime<Utc>), AuditError> {
    let s = settings.quoted_schema();
    let sql = format!(
        "INSERT INTO {s}.runs (lockstep_version, os_user, host, command, environment, snapshot, \
         snapshot_skipped, writer_pid, writer_backend_start) \
         SELECT $1, $2, $3, $4, $5, $6, $7, a.pid, a.backend_start \
         FROM (SELECT pg_backend_pid() AS pid) me \
         LEFT JOIN pg_stat_activity a ON a.pid = me.pid AND $8 \
         RETURNING id, started_at"
    );
    let context = "recording the run in the audit";
    let mut tx = pinned(conn, NO_FLUSH)
        .await
        .map_err(AuditError::query(context))?;
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(os_user())
        .bind(host())
        .bind(&info.command)
        .bind(&info.environment)
        .bind(
            info.snapshot
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        )
        .bind(info.snapshot_skipped)
        .bind(own_backend)
        .persistent(false)
        .fetch_one(&mut *tx)
        .await
        .map_err(AuditError::query(context))?;
    tx.commit().await.map_err(AuditError::query(context))?;
    let id: i64 = row.try_get(0).map_err(AuditError::query(context))?;
    let started: DateTime<Utc> = row.try_get(1).map_err(AuditError::query(context))?;
    Ok((id, started))
}

/// The operating-system account lockstep runs as.
fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
}

/// This machine's host name.
fn host() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

/// The writer task: the journal of the run and the connection it is written on.
struct Writer {
    db: Database,
    conn: Option<PgConnection>,
    settings: AuditSettings,
    run_id: i64,
    /// Whether the connection is to the server itself, whose backend lives as long as it.
    own_backend: bool,
    journal: Journal,
}

impl Writer {
    async fn serve(mut self, mut inbox: mpsc::UnboundedReceiver<Message>) {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        // Rows are written at most every FLUSH_EVERY: a run of many short statements costs a
        // few writes a second, not one per statement.
        // The row was just inserted: the first write can wait as long as the next ones.
        let mut next_flush = tokio::time::Instant::now() + FLUSH_EVERY;
        let mut unwritten = false;
        loop {
            tokio::select! {
                message = inbox.recv() => match message {
                    // Dropped unfinished: the row stays `running` (read back as interrupted).
                    None => break,
                    Some(Message::Finish(end, reply)) => {
                        let _ = reply.send(self.finish(end).await);
                        return self.close().await;
                    }
                    Some(Message::Event(at, event)) => self.journal.apply(at, &event),
                    Some(Message::Resolved(at, version, description, resolution)) => {
                        self.journal.resolved(at, version, description, resolution);
                    }
                },
                _ = tokio::time::sleep_until(next_flush), if unwritten => {}
                _ = heartbeat.tick() => {}
            }
            unwritten = true;
            if tokio::time::Instant::now() >= next_flush {
                let _ = self.flush().await;
                unwritten = false;
                next_flush = tokio::time::Instant::now() + FLUSH_EVERY;
            }
        }
        self.close().await;
    }

    async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }

    /// Writes the rows that changed and the heartbeat. On failure the rows stay to be written
    /// (on a new connection) next time.
    async fn flush(&mut self) -> Result<(), AuditError> {
        let changes = self.journal.take_changes();
        let written = self.write(changes, None).await;
        if written.is_ok() {
            self.journal.forget_written();
        } else {
            self.journal.mark_all_changed();
            if let Some(conn) = self.conn.take() {
                let _ = conn.close().await;
            }
        }
        written
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), AuditError> {
        let changes = self.journal.take_changes();
        let mut written = self.write(changes, Some(&end)).await;
        if written.is_err() {
            // Once more, on a new connection, with every row.
            self.conn = None;
            self.journal.mark_all_changed();
            let changes = self.journal.take_changes();
            written = self.write(changes, Some(&end)).await;
        }
        written
    }

    async fn write(&mut self, changes: Changes, end: Option<&RunEnd>) -> Result<(), AuditError> {
        let context = format!("writing run {} to the audit", self.run_id);
        if self.conn.is_none() {
            self.conn = Some(self.db.connect("lockstep:audit").await?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let s = self.settings.quoted_schema();
        let (run_id, own_backend) = (self.run_id, self.own_backend);
        let result: Result<(), sqlx::Error> = async {
            let mut tx = pinned(conn, NO_FLUSH).await?;
            // The rows and the run's row in one statement (data-modifying CTEs): one round trip.
            let rows = format!(
                "WITH m AS ({}), st AS ({}) ",
                upsert_migrations(&s, "$2"),
                upsert_statements(&s, "$3")
            );
            let query = match end {
                Some(end) => sqlx::query(AssertSqlSafe(format!(
                    "{rows}UPDATE {s}.runs SET heartbeat_at = clock_timestamp(), outcome = $4, \
                     error = coalesce($5, error), finished_at = clock_timestamp() WHERE id = $1"
                )))
                .bind(run_id)
                .bind(changes.migrations)
                .bind(changes.statements)
                .bind(end.outcome())
                .bind(match end {
                    RunEnd::Failed(error) => Some(error.as_str()),
                    _ => None,
                }),
                // After a reconnect the writer is another backend: the row follows it.
                None => sqlx::query(AssertSqlSafe(format!(
                    "{rows}UPDATE {s}.runs SET heartbeat_at = clock_timestamp(), \
                     writer_pid = CASE WHEN $4 THEN pg_backend_pid() END, \
                     writer_backend_start = CASE WHEN $4 THEN (SELECT backend_start \
                         FROM pg_stat_activity WHERE pid = pg_backend_pid()) END \
                     WHERE id = $1"
                )))
                .bind(run_id)
                .bind(changes.migrations)
                .bind(changes.statements)
                .bind(own_backend),
            };
            query.persistent(false).execute(&mut *tx).await?;
            tx.commit().await
        }
        .await;
        result.map_err(AuditError::query(context))
    }
}

/// The upsert of the migrations' rows from the JSON array in parameter `rows` (`$2`…).
fn upsert_migrations(s: &str, rows: &str) -> String {
    format!(
        "INSERT INTO {s}.migrations (run_id, seq, version, description, action, in_transaction, \
         started_at, finished_at, duration_ms, attempts, outcome, message) \
         SELECT $1, r.seq, r.version, r.description, r.action, r.in_transaction, r.started_at, \
         r.finished_at, r.duration_ms, r.attempts, r.outcome, r.message \
         FROM jsonb_to_recordset({rows}::text::jsonb) AS r(seq integer, version bigint, \
         description text, action text, in_transaction boolean, started_at timestamptz, \
         finished_at timestamptz, duration_ms double precision, attempts integer, outcome text, \
         message text) \
         ON CONFLICT (run_id, seq) DO UPDATE SET description = EXCLUDED.description, \
         in_transaction = EXCLUDED.in_transaction, finished_at = EXCLUDED.finished_at, \
         duration_ms = EXCLUDED.duration_ms, attempts = EXCLUDED.attempts, \
         outcome = EXCLUDED.outcome, message = EXCLUDED.message"
    )
}

/// The upsert of the statements' rows from the JSON array in parameter `rows`.
fn upsert_statements(s: &str, rows: &str) -> String {
    format!(
        "INSERT INTO {s}.statements (run_id, seq, migration_seq, version, direction, attempt, \
         statement_index, line, sha256, first_line, started_at, duration_ms, lock_wait_ms, \
         waiting_for, blocker_pid, blocker_user, blocker_application, blocker_query, \
         rows_affected, error) \
         SELECT $1, r.seq, r.migration_seq, r.version, r.direction, r.attempt, r.\"index\", \
         r.line, r.sha256, r.first_line, r.started_at, r.duration_ms, r.lock_wait_ms, \
         r.waiting_for, (r.blocker->>'pid')::integer, r.blocker->>'user', \
         r.blocker->>'application', r.blocker->>'query', r.rows_affected, r.error \
         FROM jsonb_to_recordset({rows}::text::jsonb) AS r(seq integer, migration_seq integer, \
         version bigint, direction text, attempt integer, \"index\" integer, line integer, \
         sha256 text, first_line text, started_at timestamptz, duration_ms double precision, \
         lock_wait_ms double precision, waiting_for text, blocker jsonb, rows_affected bigint, \
         error text) \
         ON CONFLICT (run_id, seq) DO UPDATE SET duration_ms = EXCLUDED.duration_ms, \
         lock_wait_ms = EXCLUDED.lock_wait_ms, waiting_for = EXCLUDED.waiting_for, \
         blocker_pid = EXCLUDED.blocker_pid, blocker_user = EXCLUDED.blocker_user, \
         blocker_application = EXCLUDED.blocker_application, \
         blocker_query = EXCLUDED.blocker_query, rows_affected = EXCLUDED.rows_affected, \
         error = EXCLUDED.error"
    )
}
