//! Watching the migration session from a second connection while one of its statements runs:
//! what it waits for and on whom (reported after a short grace period), and cancelling it on the
//! server when the run is interrupted.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::db::Database;
use crate::monitor::{LockWait, Monitor};

/// How long a statement runs before lockstep looks at what it waits for.
pub const WAIT_GRACE: Duration = Duration::from_millis(500);
/// How often a waiting statement is looked at again.
const WAIT_SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// The second connection: opened the first time a statement runs longer than the grace period
/// or the run is interrupted, then kept for the run.
pub(super) struct Watch {
    db: Database,
    pid: i32,
    grace: Duration,
    monitor: Option<Monitor>,
}

/// What watching a statement saw.
pub(super) struct Watched<T> {
    /// The statement's result.
    pub output: T,
    /// The last lock wait seen while it ran.
    pub last_wait: Option<LockWait>,
    /// Whether the run was interrupted while it ran (a cancel was sent to the server).
    pub interrupted: bool,
}

impl Watch {
    /// Watches `pid` (the migration session) on `db`. A statement is first looked at after
    /// `grace`, shortened to half the session's `lock_timeout` so a lock timeout can name its
    /// blocker.
    pub fn new(db: Database, pid: i32, lock_timeout: Option<Duration>) -> Watch {
        let grace = match lock_timeout {
            Some(timeout) => WAIT_GRACE.min(timeout / 2),
            None => WAIT_GRACE,
        };
        Watch {
            db,
            pid,
            grace,
            monitor: None,
        }
    }

    /// Watches `pid` from now on: behind a transaction pooler (`--pooled`) each migration's
    /// transaction may run on another server backend.
    pub fn follow(&mut self, pid: i32) {
        self.pid = pid;
    }

    /// Runs `work` (a query on the migration connection) to its end. While it runs: when
    /// `cancel` fires, the query is cancelled on the server (`pg_cancel_backend`) and `work`
    /// is still awaited, so the connection stays usable; from the grace period on, the
    /// session's lock wait, if any, is passed to `on_wait` with how long the work has run.
    pub async fn supervise<T>(
        &mut self,
        work: impl Future<Output = T>,
        cancel: &CancellationToken,
        mut on_wait: impl FnMut(Duration, &LockWait),
    ) -> Watched<T> {
        let started = Instant::now();
        tokio::pin!(work);
        let mut next_look = tokio::time::Instant::now() + self.grace;
        let mut last_wait = None;
        let mut interrupted = false;
        loop {
            tokio::select! {
                biased;
                output = &mut work => {
                    return Watched { output, last_wait, interrupted };
                }
                _ = cancel.cancelled(), if !interrupted => {
                    interrupted = true;
                    self.cancel_on_server().await;
                }
                _ = tokio::time::sleep_until(next_look) => {
                    next_look += WAIT_SAMPLE_EVERY;
                    if let Some(wait) = self.look().await {
                        on_wait(started.elapsed(), &wait);
                        last_wait = Some(wait);
                    }
                }
            }
        }
    }

    /// Cancels the migration session's running query. Failing to (the query ended meanwhile,
    /// the connection cannot be opened) is not an error: the run stops before its next
    /// statement either way.
    pub async fn cancel_on_server(&mut self) {
        let pid = self.pid;
        if let Some(monitor) = self.monitor().await {
            let _ = monitor.cancel(pid).await;
        }
    }

    async fn look(&mut self) -> Option<LockWait> {
        let pid = self.pid;
        let monitor = self.monitor().await?;
        match monitor.session_locks(pid).await {
            Ok(sample) => sample.wait(),
            Err(_) => None,
        }
    }

    async fn monitor(&mut self) -> Option<&mut Monitor> {
        if self.monitor.is_none() {
            self.monitor = Monitor::connect(&self.db).await.ok();
        }
        self.monitor.as_mut()
    }

    /// Closes the second connection, if it was opened.
    pub async fn close(self) {
        if let Some(monitor) = self.monitor {
            monitor.close().await;
        }
    }
}
