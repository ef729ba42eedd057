//! A background poller for the dashboard: refreshes on a fixed cadence on the one monitoring
//! connection, publishes the latest state on a `watch` channel, keeps the last good data when a
//! poll times out, and runs cancel/terminate requests between polls.
//!
//! A poll is awaited before the next tick is considered, ticks missed meanwhile are skipped, and
//! requests queued during a poll coalesce into one, so two polls are never in flight. The cadence
//! can change while it runs ([`Poller::set_interval`]: [`INTERVAL_RUNNING`] while a migration
//! runs, [`INTERVAL_IDLE`] otherwise) and can be paused ([`Poller::pause`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

use super::{Monitor, MonitorError, RefreshOptions, SessionLocks, Signal, Snapshot};

/// The time between polls while a migration runs.
pub const INTERVAL_RUNNING: Duration = Duration::from_secs(1);
/// The time between polls otherwise.
pub const INTERVAL_IDLE: Duration = Duration::from_secs(2);

/// How the poller refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerConfig {
    /// Time between polls: 1 s while a migration runs, 2 s otherwise.
    pub interval: Duration,
    /// Read sizes on every n-th poll (sizes are the costly part); at least 1.
    pub sizes_every: u32,
    /// From what idle time an idle-in-transaction session is flagged.
    pub idle_threshold: Duration,
    /// A pid to take a lock sample of on every poll (the running migration's backend).
    pub follow: Option<i32>,
}

impl Default for PollerConfig {
    fn default() -> PollerConfig {
        PollerConfig {
            interval: INTERVAL_IDLE,
            sizes_every: 5,
            idle_threshold: super::DEFAULT_IDLE_THRESHOLD,
            follow: None,
        }
    }
}

/// What the poller publishes after every poll.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// The last good snapshot (its `sizes` are carried over from the last poll that read them).
    pub snapshot: Option<Arc<Snapshot>>,
    /// The last lock sample of the followed pid.
    pub sample: Option<Arc<SessionLocks>>,
    /// When the last poll succeeded.
    pub last_success: Option<Instant>,
    /// The last poll's error, if it failed (the data above is then older than this poll).
    pub error: Option<String>,
    /// Whether the last poll timed out (show the data as stale, with its age).
    pub stale: bool,
    /// How many polls ran.
    pub polls: u64,
}

enum Command {
    Signal(Signal, i32, oneshot::Sender<Result<(), MonitorError>>),
    Follow(Option<i32>),
    RefreshNow,
    Interval(Duration),
    Pause(bool),
}

/// A running poller. Dropping it stops the task; [`Poller::stop`] also gives the monitor back.
pub struct Poller {
    state: watch::Receiver<PollState>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<Monitor>,
}

impl Poller {
    /// Starts polling with `monitor` (the poller owns it until [`Poller::stop`]).
    pub fn spawn(monitor: Monitor, config: PollerConfig) -> Poller {
        let (state_tx, state) = watch::channel(PollState::default());
        let (commands, command_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(monitor, config, state_tx, command_rx));
        Poller {
            state,
            commands,
            task,
        }
    }

    /// A receiver of every published state.
    pub fn subscribe(&self) -> watch::Receiver<PollState> {
        self.state.clone()
    }

    /// The latest published state.
    pub fn latest(&self) -> PollState {
        self.state.borrow().clone()
    }

    /// Cancels `pid`'s query between two polls (with the monitor's guards).
    pub async fn cancel(&self, pid: i32) -> Result<(), MonitorError> {
        self.signal(Signal::Cancel, pid).await
    }

    /// Terminates `pid`'s session between two polls (with the monitor's guards).
    pub async fn terminate(&self, pid: i32) -> Result<(), MonitorError> {
        self.signal(Signal::Terminate, pid).await
    }

    async fn signal(&self, signal: Signal, pid: i32) -> Result<(), MonitorError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Signal(signal, pid, reply))
            .map_err(|_| MonitorError::NoSuchSession(pid))?;
        answer
            .await
            .unwrap_or(Err(MonitorError::NoSuchSession(pid)))
    }

    /// Takes a lock sample of `pid` on every poll from now on (`None` to stop).
    pub fn follow(&self, pid: Option<i32>) {
        let _ = self.commands.send(Command::Follow(pid));
    }

    /// Polls as soon as the current poll (if any) is done.
    pub fn refresh_now(&self) {
        let _ = self.commands.send(Command::RefreshNow);
    }

    /// Changes the time between polls from now on (see [`INTERVAL_RUNNING`] and
    /// [`INTERVAL_IDLE`]); the next poll comes one new interval after the last one.
    pub fn set_interval(&self, interval: Duration) {
        let _ = self.commands.send(Command::Interval(interval));
    }

    /// Pauses (`true`) or resumes (`false`) the cadence. A paused poller does not poll, except
    /// once for each [`Poller::refresh_now`]; resuming polls at once. Cancel and terminate
    /// requests are served either way.
    pub fn pause(&self, paused: bool) {
        let _ = self.commands.send(Command::Pause(paused));
    }

    /// Stops polling and gives the monitor back.
    pub async fn stop(self) -> Option<Monitor> {
        drop(self.commands);
        self.task.await.ok()
    }
}

/// What the loop does next; a later, larger value wins when commands queue up, so a burst of
/// refresh requests makes one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    /// Nothing to poll for.
    Wait,
    /// The cadence is due (skipped while paused).
    Tick,
    /// An explicit request: refresh now, or resume.
    Now,
    /// The poller was dropped or stopped.
    Stop,
}

/// The poller task's own state.
struct Task {
    monitor: Monitor,
    config: PollerConfig,
    ticker: Interval,
    paused: bool,
    state: PollState,
}

impl Task {
    /// Serves one command.
    async fn handle(&mut self, command: Option<Command>) -> Next {
        match command {
            None => Next::Stop,
            Some(Command::Signal(signal, pid, reply)) => {
                let _ = reply.send(self.monitor.signal(signal, pid).await);
                Next::Wait
            }
            Some(Command::Follow(pid)) => {
                self.config.follow = pid;
                Next::Wait
            }
            Some(Command::RefreshNow) => Next::Now,
            Some(Command::Interval(interval)) => {
                if interval != self.config.interval && !interval.is_zero() {
                    self.config.interval = interval;
                    self.ticker = ticker(interval);
                }
                Next::Wait
            }
            Some(Command::Pause(paused)) => {
                let resumed = self.paused && !paused;
                self.paused = paused;
                if resumed { Next::Now } else { Next::Wait }
            }
        }
    }

    /// One poll: refresh, sample the followed pid, keep the last good data on failure.
    async fn poll(&mut self) {
        let state = &mut self.state;
        let config = &self.config;
        let with_sizes = state
            .polls
            .is_multiple_of(u64::from(config.sizes_every.max(1)))
            || state.snapshot.as_ref().is_none_or(|s| s.sizes.is_none());
        let options = RefreshOptions {
            sizes: with_sizes,
            idle_threshold: config.idle_threshold,
        };
        state.polls += 1;
        let result = self.monitor.refresh_all(&options).await;
        let sample = match (config.follow, &result) {
            (Some(pid), Ok(_)) => Some(self.monitor.session_locks(pid).await),
            _ => None,
        };
        match result {
            Ok(mut snapshot) => {
                if snapshot.sizes.is_none() {
                    snapshot.sizes = state.snapshot.as_ref().and_then(|s| s.sizes.clone());
                }
                state.snapshot = Some(Arc::new(snapshot));
                state.last_success = Some(Instant::now());
                state.error = None;
                state.stale = false;
                match sample {
                    Some(Ok(sample)) => state.sample = Some(Arc::new(sample)),
                    Some(Err(e)) => {
                        state.stale = e.is_stale();
                        state.error = Some(e.to_string());
                    }
                    None => state.sample = None,
                }
            }
            Err(e) => {
                state.stale = e.is_stale();
                state.error = Some(e.to_string());
            }
        }
        // The next tick comes a whole interval after this poll, whatever triggered it.
        self.ticker.reset();
    }
}

/// A cadence of `interval` whose first tick is one interval away; missed ticks are skipped.
fn ticker(interval: Duration) -> Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticker
}

async fn run(
    monitor: Monitor,
    config: PollerConfig,
    state_tx: watch::Sender<PollState>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> Monitor {
    let mut task = Task {
        ticker: ticker(config.interval.max(Duration::from_millis(1))),
        monitor,
        config,
        paused: false,
        state: PollState::default(),
    };
    // The first poll runs at once.
    let mut next = Next::Now;
    loop {
        // Serve whatever queued up meanwhile, so requests made during a poll coalesce.
        while let Ok(command) = commands.try_recv() {
            next = next.max(task.handle(Some(command)).await);
        }
        match next {
            Next::Stop => return task.monitor,
            Next::Wait => {}
            Next::Tick if task.paused => {}
            Next::Tick | Next::Now => {
                task.poll().await;
                if state_tx.send(task.state.clone()).is_err() {
                    return task.monitor;
                }
            }
        }
        let paused = task.paused;
        next = tokio::select! {
            _ = task.ticker.tick(), if !paused => Next::Tick,
            command = commands.recv() => task.handle(command).await,
        };
    }
}
