//! What a run reports while it runs: a stream of events for the CLI or the dashboard.

use std::time::Duration;

use serde::Serialize;

use super::plan::Direction;
use crate::monitor::LockWait;

/// Where events go. Sending never blocks; a closed receiver is ignored.
pub type EventSink = tokio::sync::mpsc::UnboundedSender<RunEvent>;

/// The session holding the migration advisory lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockHolder {
    /// Its backend pid.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: Option<String>,
    /// Its user.
    pub user: Option<String>,
    /// Its client address (`None` over a Unix socket).
    #[serde(default)]
    pub client: Option<String>,
    /// Whether it is a connection from the pooler lockstep goes through: its client address is
    /// the pooler's, the real client is hidden behind it.
    #[serde(default)]
    pub via_pooler: bool,
    /// Its state (`active`, `idle`, `idle in transaction`, ...).
    pub state: Option<String>,
    /// Its current or last query (shortened).
    pub query: Option<String>,
    /// Seconds since its session started.
    pub session_age_secs: Option<f64>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if let Some(app) = self.application_name.as_deref().filter(|a| !a.is_empty()) {
            write!(f, " ({app})")?;
        }
        if let Some(user) = &self.user {
            write!(f, " user {user}")?;
        }
        if self.via_pooler {
            write!(
                f,
                " {}",
                crate::monitor::render::via_pooler(self.client.as_deref())
            )?;
        }
        if let Some(state) = &self.state {
            write!(f, ", {state}")?;
        }
        if let Some(age) = self.session_age_secs {
            write!(f, ", connected {age:.0}s")?;
        }
        if let Some(query) = self.query.as_deref().filter(|q| !q.is_empty()) {
            write!(f, ", query: {query}")?;
        }
        Ok(())
    }
}

/// Why a migration failed, with its place in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The failing statement's index, or `None` when the bookkeeping (or `BEGIN`/`COMMIT`) failed.
    pub statement: Option<usize>,
    /// The 1-based line in the file where the error is (the statement's start, or the error
    /// position within it when the server gives one).
    pub line: Option<usize>,
    /// The 1-based column of the error position, when the server gives one.
    pub column: Option<usize>,
    /// SQLSTATE, e.g. `42P01`.
    pub sqlstate: Option<String>,
    /// The server's message.
    pub message: String,
    /// The server's DETAIL.
    pub detail: Option<String>,
    /// The server's HINT.
    pub hint: Option<String>,
    /// Whether the migration ran in one transaction (rolled back on failure).
    pub in_transaction: bool,
    /// Whether it ran outside one transaction (`-- no-transaction`) and its history row is left
    /// saying `success = false`: recorded as partially applied (or reverted).
    pub partial: bool,
    /// Whether it ran as written, in transactions the file opens and ends itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_transactions: bool,
    /// In a transaction, the statements that completed before the failure (rolled back with it);
    /// outside one, the statements that are committed and stay applied.
    pub completed: Vec<usize>,
    /// What the statement was waiting for, and on whom, when it was last looked at (set when it
    /// waited longer than the grace period, e.g. before a lock timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<LockWait>,
}

/// SQLSTATE `55P03`: `lock_timeout` expired (lock_not_available).
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

impl Failure {
    /// Whether the statement gave up waiting for a lock (`lock_timeout`): worth a retry.
    pub fn is_lock_timeout(&self) -> bool {
        self.sqlstate.as_deref() == Some(LOCK_NOT_AVAILABLE)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.statement, self.line) {
            (Some(i), Some(line)) => write!(f, "statement {} (line {line})", i + 1)?,
            (Some(i), None) => write!(f, "statement {}", i + 1)?,
            (None, _) => write!(f, "bookkeeping")?,
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(code) = &self.sqlstate {
            write!(f, " (SQLSTATE {code})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\n  detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        if let Some(wait) = &self.blocked_by {
            for line in crate::monitor::render::wait_lines(wait, None) {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

/// The rows (or one column's values) of one table, copied before a destructive statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptTable {
    /// The table, schema-qualified.
    pub table: String,
    /// The column, when only its values (with the table's key) were kept.
    pub column: Option<String>,
    /// Rows copied.
    pub rows: u64,
    /// Size of the compressed copy on disk.
    pub bytes: u64,
    /// The copy (`COPY` text format, gzip-compressed).
    pub file: std::path::PathBuf,
}

/// One thing that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum RunEvent {
    /// The migration connection is open.
    Connected {
        /// Its backend pid (for monitoring and cancelling; behind a transaction pooler, the
        /// backend of its first transaction only: see [`RunEvent::LockAcquired`]).
        backend_pid: i32,
        /// `server_version` of the server.
        server_version: String,
        /// What sits between lockstep and the server.
        pooling: crate::pooler::Pooling,
    },
    /// The migration advisory lock is held by someone else; still polling.
    LockWaiting {
        /// Who holds it, when visible.
        holder: Option<LockHolder>,
        /// How long lockstep has waited so far.
        waited: Duration,
        /// How long it will wait in all.
        limit: Duration,
    },
    /// The migration advisory lock is ours (under `--pooled`: for one migration's transaction).
    LockAcquired {
        /// How long it took.
        waited: Duration,
        /// The server backend that holds it and runs the migrations under it (under `--pooled`,
        /// it may change from one migration to the next).
        backend_pid: i32,
    },
    /// A migration starts.
    MigrationStarted {
        /// Its version.
        version: i64,
        /// Its description.
        description: String,
        /// Apply or revert.
        direction: Direction,
        /// Whether it runs in a transaction.
        in_transaction: bool,
        /// How many statements it has.
        statements: usize,
    },
    /// A statement starts.
    StatementStarted {
        /// The migration.
        version: i64,
        /// The statement's index.
        index: usize,
        /// Its first line in the file.
        line: usize,
        /// Its text.
        text: String,
    },
    /// A statement completed.
    StatementFinished {
        /// The migration.
        version: i64,
        /// The statement's index.
        index: usize,
        /// How long it ran.
        elapsed: Duration,
        /// Rows affected, as the server reports them.
        rows_affected: u64,
    },
    /// A migration completed and is recorded.
    MigrationFinished {
        /// Its version.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// How long it took, bookkeeping included.
        elapsed: Duration,
    },
    /// A statement has been waiting for a lock longer than the grace period (reported again
    /// about twice a second while it waits).
    StatementWaiting {
        /// The migration.
        version: i64,
        /// The statement's index.
        index: usize,
        /// How long the statement has run so far.
        waited: Duration,
        /// What it waits for and on whom.
        wait: LockWait,
    },
    /// A migration gave up on a lock (`lock_timeout`), rolled back, and will run again from its
    /// start after `delay`.
    Retrying {
        /// The migration.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// Which retry this is (1-based).
        attempt: u32,
        /// How many retries are allowed in all.
        retries: u32,
        /// How long lockstep waits before it.
        delay: Duration,
        /// What failed.
        failure: Failure,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM, the dashboard's cancel) while this migration
    /// ran; a transactional one was rolled back.
    MigrationInterrupted {
        /// Its version.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// Whether it ran in a transaction (and so was rolled back).
        in_transaction: bool,
        /// The statements that completed (outside a transaction they stay applied).
        completed: Vec<usize>,
    },
    /// Under `--pooled`: a planned migration was found already done (applied, or reverted) when
    /// its transaction got the lock and read the history again: another run did it.
    MigrationSkipped {
        /// Its version.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// Why, for a person.
        reason: String,
    },
    /// The data a destructive statement is about to drop was copied, right before it runs (see
    /// [`crate::guard`]), with a `restore.sql` beside the copies.
    DataKept {
        /// The migration.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// The statement's index.
        index: usize,
        /// The directory holding the copies and `restore.sql`.
        directory: std::path::PathBuf,
        /// The `restore.sql` that loads them back.
        restore: std::path::PathBuf,
        /// What was copied.
        tables: Vec<KeptTable>,
    },
    /// A migration failed; the run stops.
    MigrationFailed {
        /// Its version.
        version: i64,
        /// Apply or revert.
        direction: Direction,
        /// What failed and where.
        failure: Failure,
    },
}
