//! Reading the audit back: past runs with their migrations and statements ([`read`], [`load`]),
//! and who applied each version ([`who_applied`]). Every read is one read-only transaction
//! (safe behind a transaction pooler) and never creates anything.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::recorder::HEARTBEAT;
use super::{AuditError, AuditSettings, schema};
use crate::db::Database;
use crate::pooler::pinned;
use crate::status::Status;

/// How long a running run's heartbeat may be old before the run counts as interrupted (its
/// process is gone, or cannot reach the database any more).
pub const STALE_AFTER: std::time::Duration =
    std::time::Duration::from_secs(HEARTBEAT.as_secs() * 6);

/// How a run, or one of its migrations, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still running: its lockstep is alive.
    Running,
    /// Done.
    Succeeded,
    /// Stopped on an error.
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM, the dashboard's cancel), or its lockstep died before it
    /// could say how the run ended.
    Interrupted,
    /// (A migration) found done by another run meanwhile, under `--pooled`.
    Skipped,
    /// A value this lockstep does not know (written by a newer one).
    Unknown,
}

impl Outcome {
    fn from_db(text: &str) -> Outcome {
        match text {
            "running" => Outcome::Running,
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "interrupted" => Outcome::Interrupted,
            "skipped" => Outcome::Skipped,
            _ => Outcome::Unknown,
        }
    }

    /// Its name: `succeeded`, `failed`, …
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Skipped => "skipped",
            Outcome::Unknown => "unknown",
        }
    }

    /// One character for it: `✓`, `✗`, `↯`, `▶`, `·`, `?`.
    pub fn glyph(self) -> &'static str {
        match self {
            Outcome::Running => "▶",
            Outcome::Succeeded => "✓",
            Outcome::Failed => "✗",
            Outcome::Interrupted => "↯",
            Outcome::Skipped => "·",
            Outcome::Unknown => "?",
        }
    }
}

/// Which runs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// At most this many, newest first.
    pub limit: usize,
    /// Only this run.
    pub run: Option<i64>,
    /// With each migration's statements.
    pub statements: bool,
}

/// What the audit holds.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The audit schema.
    pub schema: String,
    /// Whether it exists (it is created by the first run with the audit on).
    pub exists: bool,
    /// The runs read, newest first.
    pub runs: Vec<RunRecord>,
}

/// One recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Its id (`lockstep history --run ID`).
    pub id: i64,
    /// How it ended (`running` while its lockstep is alive).
    pub outcome: Outcome,
    /// Its lockstep stopped without recording how the run ended (killed, or its connection to
    /// the database lost): it is reported as interrupted.
    pub ended_unrecorded: bool,
    /// The lockstep version that ran it.
    pub lockstep_version: String,
    /// The operating-system account that ran it.
    pub os_user: Option<String>,
    /// The machine it ran on.
    pub host: Option<String>,
    /// The database user it ran as.
    pub database_user: String,
    /// The command, as typed (passwords redacted).
    pub command: String,
    /// The environment it ran in, when one was named.
    pub environment: Option<String>,
    /// The schema snapshot taken before it, when one was.
    pub snapshot: Option<String>,
    /// Whether the snapshot was skipped on purpose (`--no-snapshot`).
    pub snapshot_skipped: bool,
    /// When it started (the server's clock).
    pub started_at: DateTime<Utc>,
    /// When it ended, when it recorded that.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it took, when it ended.
    pub duration_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its migrations, in order.
    pub migrations: Vec<MigrationRecord>,
}

/// One migration of a recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationRecord {
    /// Its version.
    pub version: i64,
    /// Its description.
    pub description: String,
    /// `apply`, `revert`, `mark_applied` or `mark_rolled_back` (`resolve`).
    pub action: String,
    /// Whether it ran in one transaction.
    pub in_transaction: Option<bool>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it took, bookkeeping included.
    pub duration_ms: Option<f64>,
    /// How many times it ran (more than 1 after lock timeouts).
    pub attempts: i32,
    /// How it ended.
    pub outcome: Outcome,
    /// The failure, or why it was skipped.
    pub message: Option<String>,
    /// Its statements, in the order they ran (empty unless asked for).
    pub statements: Vec<StatementRecord>,
}

/// One statement run of a recorded migration (one per attempt when it ran again).
#[derive(Debug, Clone, Serialize)]
pub struct StatementRecord {
    /// Which run of the migration it belongs to (1, then 2 after a lock timeout, …).
    pub attempt: i32,
    /// Its index in the migration (0-based).
    pub index: i32,
    /// Its first line in the file.
    pub line: Option<i32>,
    /// SHA-256 of its text, hex.
    pub sha256: String,
    /// Its first non-blank line.
    pub first_line: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it ran (until its error, when it failed).
    pub duration_ms: Option<f64>,
    /// How long it was seen waiting for a lock (sampled twice a second after half a second).
    pub lock_wait_ms: Option<f64>,
    /// The lock it waited for: `ACCESS EXCLUSIVE on users`.
    pub waiting_for: Option<String>,
    /// The session it waited on, when it waited.
    pub blocker: Option<Blocker>,
    /// Rows affected, as the server reported them.
    pub rows_affected: Option<i64>,
    /// Its error.
    pub error: Option<String>,
}

/// The session a statement was seen waiting on.
#[derive(Debug, Clone, Serialize)]
pub struct Blocker {
    /// Its backend pid.
    pub pid: i32,
    /// Its user.
    pub user: Option<String>,
    /// Its `application_name`.
    pub application: Option<String>,
    /// Its query, shortened.
    pub query: Option<String>,
}

/// Reads runs from the audit on `conn`, newest first.
pub async fn read(
    conn: &mut PgConnection,
    settings: &AuditSettings,
    query: HistoryQuery,
) -> Result<History, AuditError> {
    let context = "reading the audit";
    let mut history = History {
        schema: settings.schema.clone(),
        exists: false,
        runs: Vec::new(),
    };
    let Some(mut tx) = read_only_if_installed(conn, settings, context).await? else {
        return Ok(history);
    };
    history.exists = true;
    let s = settings.quoted_schema();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT r.id, r.lockstep_version, r.os_user, r.host, r.database_user, r.command, \
         r.environment, r.snapshot, r.snapshot_skipped, r.started_at, r.finished_at, r.outcome, \
         r.error, \
         r.outcome = 'running' AND ( \
             r.heartbeat_at < clock_timestamp() - $2 * interval '1 second' \
             OR (r.writer_pid IS NOT NULL AND NOT EXISTS ( \
                 SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.writer_pid \
                 AND (a.backend_start IS NULL OR a.backend_start = r.writer_backend_start))) \
         ) AS ended_unrecorded \
         FROM {s}.runs r WHERE ($1::bigint IS NULL OR r.id = $1) \
         ORDER BY r.id DESC LIMIT $3"
    )))
    .bind(query.run)
    .bind(STALE_AFTER.as_secs_f64())
    .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
    .persistent(false)
    .fetch_all(&mut *tx)
    .await
    .map_err(AuditError::query(context))?;
    history.runs = rows
        .iter()
        .map(run_from_row)
        .collect::<Result<_, _>>()
        .map_err(AuditError::query(context))?;
    let ids: Vec<i64> = history.runs.iter().map(|r| r.id).collect();
    let migrations = sqlx::query(AssertSqlSafe(format!(
        "SELECT run_id, seq, version, description, action, in_transaction, started_at, \
         finished_at, duration_ms, attempts, outcome, message \
         FROM {s}.migrations WHERE run_id = ANY($1) ORDER BY run_id, seq"
    )))
    .bind(&ids)
    .persistent(false)
    .fetch_all(&mut *tx)
    .await
    .map_err(AuditError::query(context))?;
    let mut by_seq: BTreeMap<(i64, i32), (usize, usize)> = BTreeMap::new();
    for row in &migrations {
        let (run_id, seq, migration) =
            migration_from_row(row).map_err(AuditError::query(context))?;
        if let Some(r) = history.runs.iter().position(|r| r.id == run_id) {
            by_seq.insert((run_id, seq), (r, history.runs[r].migrations.len()));
            history.runs[r].migrations.push(migration);
        }
    }
    if query.statements {
        let statements = sqlx::query(AssertSqlSafe(format!(
            "SELECT run_id, migration_seq, attempt, statement_index, line, sha256, first_line, \
             started_at, duration_ms, lock_wait_ms, waiting_for, blocker_pid, blocker_user, \
             blocker_application, blocker_query, rows_affected, error \
             FROM {s}.statements WHERE run_id = ANY($1) ORDER BY run_id, seq"
        )))
        .bind(&ids)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await
        .map_err(AuditError::query(context))?;
        for row in &statements {
            let (key, statement) = statement_from_row(row).map_err(AuditError::query(context))?;
            if let Some(&(r, m)) = by_seq.get(&key) {
                history.runs[r].migrations[m].statements.push(statement);
            }
        }
    }
    tx.commit().await.map_err(AuditError::query(context))?;
    for run in history.runs.iter_mut().filter(|r| r.ended_unrecorded) {
        run.outcome = Outcome::Interrupted;
        for migration in run
            .migrations
            .iter_mut()
            .filter(|m| m.outcome == Outcome::Running)
        {
            migration.outcome = Outcome::Interrupted;
        }
    }
    Ok(history)
}

/// A read-only transaction on `conn` when the audit in `settings` exists (`None` when it does
/// not: nothing is created).
async fn read_only_if_installed<'c>(
    conn: &'c mut PgConnection,
    settings: &AuditSettings,
    context: &str,
) -> Result<Option<sqlx::Transaction<'c, sqlx::Postgres>>, AuditError> {
    let mut tx = pinned(conn, "SET TRANSACTION READ ONLY;")
        .await
        .map_err(AuditError::query(context))?;
    let installed = schema::installed(&mut tx, settings)
        .await
        .map_err(AuditError::query(context))?;
    Ok(installed.map(|_| tx))
}

/// Connects to `db` and reads runs from its audit ([`read`]).
pub async fn load(
    db: &Database,
    settings: &AuditSettings,
    query: HistoryQuery,
) -> Result<History, AuditError> {
    let mut conn = db.connect("lockstep:history").await?;
    let history = read(&mut conn, settings, query).await;
    let _ = conn.close().await;
    history
}

fn run_from_row(row: &PgRow) -> Result<RunRecord, sqlx::Error> {
    let started_at: DateTime<Utc> = row.try_get("started_at")?;
    let finished_at: Option<DateTime<Utc>> = row.try_get("finished_at")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        outcome: Outcome::from_db(&outcome),
        ended_unrecorded: row
            .try_get::<Option<bool>, _>("ended_unrecorded")?
            .unwrap_or(false),
        lockstep_version: row.try_get("lockstep_version")?,
        os_user: row.try_get("os_user")?,
        host: row.try_get("host")?,
        database_user: row.try_get("database_user")?,
        command: row.try_get("command")?,
        environment: row.try_get("environment")?,
        snapshot: row.try_get("snapshot")?,
        snapshot_skipped: row.try_get("snapshot_skipped")?,
        started_at,
        finished_at,
        duration_ms: finished_at
            .map(|end| (end - started_at).num_microseconds().unwrap_or(0) as f64 / 1e3),
        error: row.try_get("error")?,
        migrations: Vec::new(),
    })
}

fn migration_from_row(row: &PgRow) -> Result<(i64, i32, MigrationRecord), sqlx::Error> {
    let outcome: String = row.try_get("outcome")?;
    Ok((
        row.try_get("run_id")?,
        row.try_get("seq")?,
        MigrationRecord {
            version: row.try_get("version")?,
            description: row.try_get("description")?,
            action: row.try_get("action")?,
            in_transaction: row.try_get("in_transaction")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            duration_ms: row.try_get("duration_ms")?,
            attempts: row.try_get("attempts")?,
            outcome: Outcome::from_db(&outcome),
            message: row.try_get("message")?,
            statements: Vec::new(),
        },
    ))
}

fn statement_from_row(row: &PgRow) -> Result<((i64, i32), StatementRecord), sqlx::Error> {
    let blocker_pid: Option<i32> = row.try_get("blocker_pid")?;
    let blocker = match blocker_pid {
        Some(pid) => Some(Blocker {
            pid,
            user: row.try_get("blocker_user")?,
            application: row.try_get("blocker_application")?,
            query: row.try_get("blocker_query")?,
        }),
        None => None,
    };
    Ok((
        (row.try_get("run_id")?, row.try_get("migration_seq")?),
        StatementRecord {
            attempt: row.try_get("attempt")?,
            index: row.try_get("statement_index")?,
            line: row.try_get("line")?,
            sha256: row.try_get("sha256")?,
            first_line: row.try_get("first_line")?,
            started_at: row.try_get("started_at")?,
            duration_ms: row.try_get("duration_ms")?,
            lock_wait_ms: row.try_get("lock_wait_ms")?,
            waiting_for: row.try_get("waiting_for")?,
            blocker,
            rows_affected: row.try_get("rows_affected")?,
            error: row.try_get("error")?,
        },
    ))
}

/// Who applied a version and when: from the audit when it recorded the apply that the history
/// row is from, else from the history row alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// `audit` or `history` (`_sqlx_migrations`, which does not say who).
    pub source: &'static str,
    /// When it was applied (the audit's end of the migration, else `installed_on`).
    pub at: DateTime<Utc>,
    /// Who, when the audit says.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub by: Option<AppliedBy>,
}

/// The recorded run that applied a version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedBy {
    /// The run's id.
    pub run_id: i64,
    /// The operating-system account.
    pub os_user: Option<String>,
    /// The machine.
    pub host: Option<String>,
    /// The database user.
    pub database_user: String,
    /// The command.
    pub command: String,
    /// The environment, when one was named.
    pub environment: Option<String>,
    /// Whether it was recorded as applied by `resolve` rather than run.
    pub resolved: bool,
}

/// How far the audit's end of a migration may lie before its history row's `installed_on` and
/// still be the apply that wrote the row.
const SAME_APPLY_SLACK: chrono::Duration = chrono::Duration::seconds(2);

/// Who applied each version the history records as applied (`installed_on`), from the audit
/// when it recorded that apply; versions the audit does not know come from the history row.
/// An audit that does not exist (or is off) leaves every version to the history.
pub async fn who_applied(
    conn: &mut PgConnection,
    settings: Option<&AuditSettings>,
    status: &Status,
) -> Result<BTreeMap<i64, Applied>, AuditError> {
    let mut applied = from_history(status);
    let Some(settings) = settings else {
        return Ok(applied);
    };
    if applied.is_empty() {
        return Ok(applied);
    }
    let context = "reading who applied each version from the audit";
    let Some(mut tx) = read_only_if_installed(conn, settings, context).await? else {
        return Ok(applied);
    };
    let s = settings.quoted_schema();
    let versions: Vec<i64> = applied.keys().copied().collect();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT DISTINCT ON (m.version) m.version, m.action, m.finished_at, r.id, r.os_user, \
         r.host, r.database_user, r.command, r.environment \
         FROM {s}.migrations m JOIN {s}.runs r ON r.id = m.run_id \
         WHERE m.version = ANY($1) AND m.outcome = 'succeeded' \
         AND m.action IN ('apply', 'mark_applied') AND m.finished_at IS NOT NULL \
         ORDER BY m.version, m.finished_at DESC"
    )))
    .bind(&versions)
    .persistent(false)
    .fetch_all(&mut *tx)
    .await
    .map_err(AuditError::query(context))?;
    tx.commit().await.map_err(AuditError::query(context))?;
    for row in &rows {
        let read = || -> Result<(i64, DateTime<Utc>, AppliedBy), sqlx::Error> {
            let action: String = row.try_get("action")?;
            Ok((
                row.try_get("version")?,
                row.try_get("finished_at")?,
                AppliedBy {
                    run_id: row.try_get("id")?,
                    os_user: row.try_get("os_user")?,
                    host: row.try_get("host")?,
                    database_user: row.try_get("database_user")?,
                    command: row.try_get("command")?,
                    environment: row.try_get("environment")?,
                    resolved: action == "mark_applied",
                },
            ))
        };
        let (version, finished, by) = read().map_err(AuditError::query(context))?;
        // An older apply than the row's (reverted and applied again without the audit since)
        // does not say who wrote the row.
        if let Some(entry) = applied.get_mut(&version)
            && finished + SAME_APPLY_SLACK >= entry.at
        {
            *entry = Applied {
                source: "audit",
                at: finished,
                by: Some(by),
            };
        }
    }
    Ok(applied)
}

/// Every version the history records, applied when its row says (`installed_on`), by no one
/// known.
fn from_history(status: &Status) -> BTreeMap<i64, Applied> {
    status
        .versions
        .iter()
        .filter_map(|v| {
            let row = v.applied.as_ref()?;
            Some((
                v.version,
                Applied {
                    source: "history",
                    at: row.installed_on,
                    by: None,
                },
            ))
        })
        .collect()
}

/// Who applied each version, and why the audit could not say when it could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppliedVersions {
    /// By version: from the audit when it recorded the apply, else from the history row.
    pub by_version: BTreeMap<i64, Applied>,
    /// Why the audit could not be read (every version then comes from the history).
    pub error: Option<String>,
}

/// [`who_applied`], and when the audit cannot be read, what the history rows alone say with
/// the reason: the status works without the audit.
pub async fn who_applied_or_history(
    conn: &mut PgConnection,
    settings: Option<&AuditSettings>,
    status: &Status,
) -> AppliedVersions {
    match who_applied(conn, settings, status).await {
        Ok(by_version) => AppliedVersions {
            by_version,
            error: None,
        },
        Err(error) => AppliedVersions {
            by_version: from_history(status),
            error: Some(error.to_string()),
        },
    }
}

/// A digest of what [`who_applied`] reads: the migrations the audit records as done (their count
/// and the latest end), so a running run's heartbeat does not change it; `None` when there is no
/// audit. One read-only transaction of its own: a watcher reads who applied each version again
/// when it changes, not on every look.
pub async fn fingerprint(
    conn: &mut PgConnection,
    settings: &AuditSettings,
) -> Result<Option<String>, AuditError> {
    let context = "reading the audit's digest";
    let Some(mut tx) = read_only_if_installed(conn, settings, context).await? else {
        return Ok(None);
    };
    let digest: String = sqlx::raw_sql(AssertSqlSafe(format!(
        "SELECT count(*)::text || ' ' || coalesce(max(finished_at)::text, '') \
         FROM {}.migrations WHERE outcome = 'succeeded'",
        settings.quoted_schema()
    )))
    .fetch_one(&mut *tx)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(AuditError::query(context))?;
    tx.commit().await.map_err(AuditError::query(context))?;
    Ok(Some(digest))
}
