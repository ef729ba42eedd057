//! Watching the migration session from a second connection while one of its statements runs:
//! what it waits for and on whom (reported after a short grace period), and cancelling it on the
//! server when the run is interrupted.
//!
//! The second connection belongs to a task of its own that carries out each look and cancel to
//! its end: the statement is polled all the while. Behind a transaction pooler with every server
//! connection taken (by the migration's own transaction, say), a look waits for one; it must not
//! hold up the migration meanwhile, nor be dropped half-way with a transaction open on the
//! pooler.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::db::Database;
use crate::monitor::{LockWait, Monitor};

/// How long a statement runs before lockstep looks at what it waits for.
pub const WAIT_GRACE: Duration = Duration::from_millis(500);
/// How often a waiting statement is looked at again.
const WAIT_SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// The backend watched, and the `application_name` it must still carry to be the migration's
/// (under `--pooled` a backend serves other clients once the migration's transaction ends).
#[derive(Debug, Clone)]
struct Target {
    pid: i32,
    owner: Option<String>,
}

enum Request {
    Look(Target, oneshot::Sender<Option<LockWait>>),
    Cancel(Target),
    Close(oneshot::Sender<()>),
}

/// The second connection's task (connected the first time a statement runs longer than the
/// grace period or the run is interrupted, then kept for the run) and what it watches.
pub(super) struct Watch {
    target: Target,
    grace: Duration,
    requests: mpsc::UnboundedSender<Request>,
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
        let (requests, inbox) = mpsc::unbounded_channel();
        tokio::spawn(serve(db, inbox));
        Watch {
            target: Target { pid, owner: None },
            grace,
            requests,
        }
    }

    /// Watches `pid` from now on, while it carries `application_name`: under `--pooled` each
    /// migration's transaction may run on another server backend.
    pub fn follow(&mut self, pid: i32, application_name: &str) {
        self.target = Target {
            pid,
            owner: Some(application_name.to_string()),
        };
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
        let mut look: Option<oneshot::Receiver<Option<LockWait>>> = None;
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
                    self.cancel_on_server();
                }
                seen = async { look.as_mut().expect("a look is pending").await },
                    if look.is_some() =>
                {
                    look = None;
                    if let Ok(Some(wait)) = seen {
                        on_wait(started.elapsed(), &wait);
                        last_wait = Some(wait);
                    }
                }
                _ = tokio::time::sleep_until(next_look), if look.is_none() => {
                    next_look = tokio::time::Instant::now() + WAIT_SAMPLE_EVERY;
                    let (reply, seen) = oneshot::channel();
                    if self.requests.send(Request::Look(self.target.clone(), reply)).is_ok() {
                        look = Some(seen);
                    }
                }
            }
        }
    }

    /// Asks for the migration session's running query to be cancelled. Failing to (the query
    /// ended meanwhile, the connection cannot be opened) is not an error: the run stops before
    /// its next statement either way.
    pub fn cancel_on_server(&mut self) {
        let _ = self.requests.send(Request::Cancel(self.target.clone()));
    }

    /// Closes the second connection, if it was opened, once what was asked of it is done.
    pub async fn close(self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Close(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

/// The task that owns the second connection: each request is carried out to its end.
async fn serve(db: Database, mut inbox: mpsc::UnboundedReceiver<Request>) {
    let mut monitor: Option<Monitor> = None;
    while let Some(request) = inbox.recv().await {
        match request {
            Request::Look(target, reply) => {
                let wait = match connected(&db, &mut monitor).await {
                    Some(m) => match m.session_locks(target.pid).await {
                        // Behind a pooler the backend may serve someone else by now.
                        Ok(sample) if owned(&target, sample.session.as_ref()) => sample.wait(),
                        _ => None,
                    },
                    None => None,
                };
                let _ = reply.send(wait);
            }
            Request::Cancel(target) => {
                if let Some(m) = connected(&db, &mut monitor).await {
                    let _ = match &target.owner {
                        Some(owner) => m.cancel_owned(target.pid, owner).await.map(|_| ()),
                        None => m.cancel(target.pid).await,
                    };
                }
            }
            Request::Close(reply) => {
                if let Some(monitor) = monitor.take() {
                    monitor.close().await;
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

async fn connected<'m>(db: &Database, monitor: &'m mut Option<Monitor>) -> Option<&'m mut Monitor> {
    if monitor.is_none() {
        *monitor = Monitor::connect(db).await.ok();
    }
    monitor.as_mut()
}

fn owned(target: &Target, session: Option<&crate::monitor::Session>) -> bool {
    match &target.owner {
        None => true,
        Some(owner) => session.and_then(|s| s.application_name.as_deref()) == Some(owner.as_str()),
    }
}
