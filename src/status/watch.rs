//! Watching what is applied and pending: the migration files, the history table, who applied
//! each version (from lockstep's audit, when on) and who holds the migration lock, read again
//! only when something changed. The dashboard runs one in the
//! background; `lockstep status` reads through the same code once ([`read_status_on`]).
//!
//! Idle costs little: the files are read again only when the directory changed (the OS tells,
//! through inotify and the like; where it cannot, the directory listing is compared), the history
//! only when its digest (computed on the server) or the audit's changed, on one connection kept
//! open and opened again after an error. Behind a transaction pooler every look is a read-only transaction, so
//! it stays on one server backend and sends only unnamed statements.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgConnection;
use tokio::sync::Notify;

use super::Status;
use crate::audit::{AppliedVersions, AuditSettings};
use crate::db::Database;
use crate::history::{self, HistoryError, HistoryTable};
use crate::pooler::{Pooling, pinned};
use crate::runner::{LockHolder, advisory_key, lock_holder};
use crate::source::{self, MigrationSet, SourceOptions};

/// The server, read once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `current_database()`.
    pub database: String,
    /// `server_version` (`15.4`).
    pub version: String,
    /// `server_version_num` (`150004`).
    pub version_num: u32,
    /// What sits between lockstep and the server.
    pub pooling: Pooling,
}

/// What one look found. Every field is `None` when it did not change since the last look
/// (`server` is `Some` after each new connection).
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The server, right after connecting.
    pub server: Option<ServerInfo>,
    /// Who holds sqlx's migration lock (read on every look: it changes without a trace).
    pub lock_holder: Option<Option<LockHolder>>,
    /// The files and the status, when either changed.
    pub status: Option<(MigrationSet, Status)>,
    /// Who applied each version: with every new status, and when the audit changed what it
    /// says.
    pub applied: Option<AppliedVersions>,
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The history table could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The server's facts about an unfinished run could not be read.
    #[error("reading the indexes an unfinished migration left: {}", crate::db::describe(.0))]
    Server(sqlx::Error),
    /// The read-only transaction the status is read in could not start or end.
    #[error("reading the history table: {}", crate::db::describe(.0))]
    Query(sqlx::Error),
}

/// The read-only transaction a look runs in: one consistent read, on one server backend even
/// behind a transaction pooler.
const READ_ONLY: &str = "SET TRANSACTION READ ONLY;";

/// Reads the status of `set` on an open connection without writing anything (the history table
/// is not created), with what the server knows of unfinished `-- no-transaction` runs, in one
/// read-only transaction.
pub async fn read_status_on(
    conn: &mut PgConnection,
    set: &MigrationSet,
    table: &HistoryTable,
) -> Result<Status, ReadError> {
    let mut tx = pinned(conn, READ_ONLY).await.map_err(ReadError::Query)?;
    let rows = history::read(&mut tx, table).await?;
    let status = status_of(&mut tx, set, rows.as_deref()).await?;
    tx.commit().await.map_err(ReadError::Query)?;
    Ok(status)
}

/// The status of `set` against history `rows` already read (`None`: no history table), with
/// what the server knows of unfinished `-- no-transaction` runs.
pub async fn status_of(
    conn: &mut PgConnection,
    set: &MigrationSet,
    rows: Option<&[crate::history::AppliedRow]>,
) -> Result<Status, ReadError> {
    let mut status = Status::build(set, rows);
    crate::unfinished::read_server_facts(conn, &mut status)
        .await
        .map_err(ReadError::Server)?;
    Ok(status)
}

/// The files, the history and the lock holder of one project, watched. See the
/// [module docs](self).
pub struct StatusWatcher {
    db: Arc<Database>,
    dir: PathBuf,
    source_options: SourceOptions,
    table: HistoryTable,
    conn: Option<PgConnection>,
    database: Option<String>,
    set: Option<MigrationSet>,
    files_print: Option<u64>,
    history_print: Option<Option<String>>,
    audit: Option<AuditSettings>,
    audit_print: Option<Option<String>>,
    applied: Option<AppliedVersions>,
    dirty: Arc<AtomicBool>,
    wake: Arc<Notify>,
    _os_watch: Option<notify::RecommendedWatcher>,
}

impl StatusWatcher {
    /// Watches `dir` (read with `source_options`) and the history `table` on `db`. Nothing is
    /// read until the first [`StatusWatcher::look`].
    pub fn new(
        db: Arc<Database>,
        dir: PathBuf,
        source_options: SourceOptions,
        table: HistoryTable,
    ) -> StatusWatcher {
        let dirty = Arc::new(AtomicBool::new(true));
        let wake = Arc::new(Notify::new());
        let os_watch = watch_dir(&dir, dirty.clone(), wake.clone());
        StatusWatcher {
            db,
            dir,
            source_options,
            table,
            conn: None,
            database: None,
            set: None,
            files_print: None,
            history_print: None,
            audit: None,
            audit_print: None,
            applied: None,
            dirty,
            wake,
            _os_watch: os_watch,
        }
    }

    /// Reads who applied each version from the audit in `settings` too (`None`: the audit is off,
    /// the history rows alone say when).
    pub fn with_audit(mut self, settings: Option<AuditSettings>) -> StatusWatcher {
        self.audit = settings;
        self
    }

    /// A handle that makes [`StatusWatcher::wait`] return at once (a forced look).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Waits until woken (by [`StatusWatcher::waker`] or a change in the directory) or `every`
    /// passed; returns whether it was woken, which forces the next look to read everything.
    pub async fn wait(&self, every: Duration) -> bool {
        tokio::time::timeout(every, self.wake.notified())
            .await
            .is_ok()
    }

    /// Looks at the files, the lock holder and the history; reads the files and the history
    /// again only when they changed, or everything when `forced`. After an error the connection
    /// is dropped and the next look starts over.
    pub async fn look(&mut self, forced: bool) -> Result<Observation, String> {
        let result = self.look_inner(forced).await;
        if result.is_err() {
            self.conn = None;
            self.history_print = None;
            self.audit_print = None;
        }
        result
    }

    async fn look_inner(&mut self, forced: bool) -> Result<Observation, String> {
        let mut seen = Observation::default();
        let print = if self._os_watch.is_some() {
            None
        } else {
            source::fingerprint(&self.dir)
        };
        let files_changed = self.dirty.swap(false, Ordering::SeqCst)
            || forced
            || self.set.is_none()
            || print != self.files_print;
        // Reading the files and reading the database go on at once (at start, both take a
        // while): the history's rows do not need the files.
        let files = async {
            if !files_changed {
                return Ok(None);
            }
            // Reading and hashing thousands of files blocks: not on a runtime worker.
            let (dir, options) = (self.dir.clone(), self.source_options.clone());
            tokio::task::spawn_blocking(move || source::load(&dir, &options))
                .await
                .map_err(|e| e.to_string())?
                .map(Some)
                .map_err(|e| e.to_string())
        };
        let mut conn = self.conn.take();
        let database = self.database.clone();
        let (db, table, last_print) = (
            self.db.clone(),
            self.table.clone(),
            self.history_print.clone(),
        );
        let (audit, last_audit_print) = (self.audit.clone(), self.audit_print.clone());
        let connecting = conn.is_none();
        // What sits in between is checked on a connection of its own, while the status is read
        // (it takes a second connection and a few round trips): the first status does not wait.
        let detect_db = self.db.clone();
        let pooling = async move {
            if !connecting {
                return Ok(None);
            }
            if let Some(known) = detect_db.known_pooling() {
                return Ok(Some(known.clone()));
            }
            let mut conn = detect_db
                .connect("lockstep:status")
                .await
                .map_err(|e| e.to_string())?;
            let pooling = detect_db
                .pooling(&mut conn)
                .await
                .map_err(|e| e.to_string());
            let _ = sqlx::Connection::close(conn).await;
            pooling.map(Some)
        };
        let history = async move {
            let mut server = None;
            if conn.is_none() {
                let mut fresh = db
                    .connect("lockstep:status")
                    .await
                    .map_err(|e| e.to_string())?;
                // An unnamed statement: a transaction pooler may hand the next one to another
                // server backend.
                let row = sqlx::raw_sql(
                    "SELECT current_database()::text, current_setting('server_version'), \
                     current_setting('server_version_num')",
                )
                .fetch_one(&mut fresh)
                .await
                .map_err(|e| e.to_string())?;
                let column =
                    |i| sqlx::Row::try_get::<String, _>(&row, i).map_err(|e| e.to_string());
                server = Some((
                    column(0)?,
                    column(1)?,
                    column(2)?.trim().parse().unwrap_or(0),
                ));
                conn = Some(fresh);
            }
            let Some(mut c) = conn else {
                return Err("no connection".to_string());
            };
            let name = server
                .as_ref()
                .map(|(database, _, _): &(String, String, u32)| database.clone())
                .or(database);
            let pooler = db.known_pooling().and_then(|p| p.pooler_address.clone());
            // The audit's digest, in a transaction of its own: an audit that cannot be read
            // (no right on its schema) must not stop the status.
            let audit_print = match &audit {
                Some(settings) => crate::audit::fingerprint(&mut c, settings)
                    .await
                    .unwrap_or_else(|e| Some(format!("unreadable: {e}"))),
                None => None,
            };
            let audit_changed = last_audit_print.as_ref() != Some(&audit_print);
            let read = async {
                let mut tx = pinned(&mut c, READ_ONLY).await.map_err(|e| e.to_string())?;
                let holder = match &name {
                    Some(name) => Some(
                        lock_holder(&mut tx, advisory_key(name), pooler.as_deref())
                            .await
                            .map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                let digest = history::fingerprint(&mut tx, &table)
                    .await
                    .map_err(|e| e.to_string())?;
                let history_changed = files_changed || last_print.as_ref() != Some(&digest);
                let rows = if history_changed || audit_changed {
                    Some(
                        history::read(&mut tx, &table)
                            .await
                            .map_err(|e| e.to_string())?,
                    )
                } else {
                    None
                };
                tx.commit().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((holder, digest, rows, history_changed, audit_print))
            }
            .await;
            Ok::<_, String>((c, server, read))
        };
        let (loaded, history, pooling) = tokio::join!(files, history, pooling);
        let (conn, server, read) = history?;
        if let (Some((database, version, version_num)), Some(pooling)) = (server, pooling?) {
            self.database = Some(database.clone());
            seen.server = Some(ServerInfo {
                database,
                version,
                version_num,
                pooling,
            });
        }
        self.conn = Some(conn);
        let (holder, digest, rows, history_changed, audit_print) = read?;
        if let Some(set) = loaded? {
            self.set = Some(set);
            self.files_print = print;
        }
        seen.lock_holder = holder;
        let (Some(rows), Some(set)) = (rows, self.set.clone()) else {
            return Ok(seen);
        };
        let Some(conn) = self.conn.as_mut() else {
            return Ok(seen);
        };
        let mut tx = pinned(conn, READ_ONLY).await.map_err(|e| e.to_string())?;
        let status = status_of(&mut tx, &set, rows.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        let applied =
            crate::audit::who_applied_or_history(conn, self.audit.as_ref(), &status).await;
        self.history_print = Some(digest);
        self.audit_print = Some(audit_print);
        // Only the audit changed (a migration's row lands after its history row): the status is
        // what it was; who applied each version is said again when it differs.
        if history_changed {
            seen.status = Some((set, status));
        }
        if history_changed || self.applied.as_ref() != Some(&applied) {
            seen.applied = Some(applied.clone());
        }
        self.applied = Some(applied);
        Ok(seen)
    }

    /// The migrations directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Watches the migrations directory: a change marks the files `dirty` and wakes the watcher.
/// `None` when the OS cannot watch it (the watcher then compares directory listings).
fn watch_dir(
    dir: &Path,
    dirty: Arc<AtomicBool>,
    wake: Arc<Notify>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            dirty.store(true, Ordering::SeqCst);
            wake.notify_one();
        }
    })
    .ok()?;
    watcher
        .watch(dir, notify::RecursiveMode::NonRecursive)
        .ok()?;
    Some(watcher)
}
