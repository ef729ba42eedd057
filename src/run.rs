//! A whole run as lockstep carries one out, the same for `up`, `down`, `redo`, `demo` and the
//! dashboard.
//!
//! The run's audit begins in a task of its own while the migration connection opens (and the
//! health check's baseline is taken) and while the runner plans and takes the migration lock;
//! the runner writes nothing, not even the history table, before the run's audit row is in
//! ([`Gate`]), so a crash cannot leave applied migrations that no audit row accounts for. After
//! the run, the audit's last write and (after a run that changed something) the health check go
//! at once, each on its own connection.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditSettings, Recorder, RunEnd, RunInfo, Tap};
use crate::db::{Database, DbError};
use crate::health::{self, Report};
use crate::runner::{
    BeforeStatement, Direction, EventSink, Gate, Operation, RunError, RunOptions, RunSummary,
    RunTally, Runner,
};
use crate::source::MigrationSet;

/// What surrounds a run.
pub struct Surroundings {
    /// Where the run is recorded and what is recorded of it; `None`: it is not recorded.
    pub audit: Option<(AuditSettings, RunInfo)>,
    /// Called before each statement (the guard's copies of the data a statement destroys).
    pub hook: Option<Box<dyn BeforeStatement>>,
    /// The plan a person confirmed: the run does not start when the plan made under the lock
    /// differs.
    pub expected: Option<Vec<(Direction, i64)>>,
    /// Whether the health check runs after a run that changed something.
    pub check: bool,
    /// Interrupts the run: before the migration connection is open, at once; after, as
    /// [`Runner::cancel_token`] says (the statement in flight is cancelled on the server, a
    /// transactional migration rolls back, nothing new starts).
    pub cancel: CancellationToken,
}

/// How a run went.
pub struct Carried {
    /// The runner's result.
    pub result: Result<RunSummary, RunError>,
    /// The account of every event the run sent.
    pub tally: RunTally,
    /// From the start to the runner's end (the audit's last write and the health check after
    /// it are not counted).
    pub elapsed: Duration,
    /// The run's id in the audit trail, when it is recorded.
    pub audit_run: Option<i64>,
    /// That the audit of the run could not be completed (it then reads as interrupted), in
    /// words.
    pub audit_incomplete: Option<String>,
    /// The health check's result, when it ran.
    pub health: Option<Result<Report, DbError>>,
    /// Whether the run was cancelled, even after its last migration had committed.
    pub cancelled: bool,
}

impl Carried {
    /// Whether the run was interrupted: cancelled, or stopped by an interruption.
    pub fn interrupted(&self) -> bool {
        self.cancelled || self.result.as_ref().is_err_and(RunError::is_interrupted)
    }

    /// The run's summary in the engine's words (`done: 2 applied …`, `interrupted after …`,
    /// `failed after …`): the CLI's last line and the dashboard's run result.
    pub fn summary(&self) -> String {
        let elapsed = self
            .result
            .as_ref()
            .map_or(self.elapsed, |summary| summary.elapsed);
        self.tally.summary(elapsed, self.interrupted())
    }
}

/// The run did not start: its audit could not be written. The words say what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Carries out `operation` on `db`, sending the runner's events to `events` as they come (after
/// the run's audit row is in, when it is recorded).
pub async fn carry_out(
    db: &Database,
    set: &MigrationSet,
    options: RunOptions,
    operation: Operation,
    around: Surroundings,
    events: EventSink,
) -> Result<Carried, Refused> {
    let Surroundings {
        audit,
        hook,
        expected,
        check,
        cancel,
    } = around;
    let started = Instant::now();
    let audit_schema = audit.as_ref().map_or_else(
        || crate::audit::AuditSettings::default().schema,
        |(settings, _)| settings.schema.clone(),
    );
    let (events, tallied) = tallying(events);
    let (tap, sink) = match &audit {
        Some(_) => {
            let (tap, sink) = Tap::new(events);
            (Some(tap), sink)
        }
        None => (None, events),
    };
    let (opens, gate) = oneshot::channel();
    let begun = begin_opening(db, audit, tap, opens);
    let (baseline, runner) = tokio::select! {
        both = async {
            tokio::join!(
                async { if check { health::baseline(db).await.ok() } else { None } },
                Runner::connect(db, options, sink),
            )
        } => both,
        () = cancel.cancelled() => (None, Err(nothing_started())),
    };
    let connected = runner.is_ok();
    let result = match runner {
        Ok(runner) => run_gated(runner, gate, hook, &cancel, operation, set, expected).await,
        Err(error) => Err(error),
    };
    let elapsed = started.elapsed();
    let recorder = match begun.await {
        Ok(Ok(recorder)) => recorder,
        // When the server cannot be reached at all, that is what to say, not the audit's advice.
        Ok(Err(_)) if !connected => None,
        Ok(Err(refused)) => {
            if let Some(baseline) = baseline {
                baseline.close().await;
            }
            return Err(refused);
        }
        Err(task) => return Err(Refused(format!("the audit could not begin: {task}"))),
    };
    // Every sender is gone now (the runner's, and the tap's once the recorder passed it on).
    let tally = tallied.await.unwrap_or_default();
    let interrupted = result.as_ref().is_err_and(RunError::is_interrupted);
    let end = match &result {
        _ if interrupted => RunEnd::Interrupted,
        Ok(_) => RunEnd::Succeeded,
        Err(error) => RunEnd::Failed(error.to_string()),
    };
    let audit_run = recorder.as_ref().map(Recorder::run_id);
    let finish = async {
        let recorder = recorder?;
        let id = recorder.run_id();
        let error = recorder.finish(end).await.err()?;
        Some(crate::audit::render::incomplete(id, &error))
    };
    let checked = async {
        let baseline = baseline?;
        if interrupted || !tally.changed_something() {
            baseline.close().await;
            return None;
        }
        Some(
            health::check(
                db,
                Some(baseline),
                health::IDLE_IN_TRANSACTION_ALERT,
                &audit_schema,
            )
            .await,
        )
    };
    let (audit_incomplete, health) = tokio::join!(finish, checked);
    Ok(Carried {
        result,
        tally,
        elapsed,
        audit_run,
        audit_incomplete,
        health,
        cancelled: cancel.is_cancelled(),
    })
}

/// The runner's own run, behind `gate`, then its connection closed.
async fn run_gated(
    runner: Runner,
    gate: Gate,
    hook: Option<Box<dyn BeforeStatement>>,
    cancel: &CancellationToken,
    operation: Operation,
    set: &MigrationSet,
    expected: Option<Vec<(Direction, i64)>>,
) -> Result<RunSummary, RunError> {
    let mut runner = runner.gated(gate).cancelled_by(cancel.clone());
    if let Some(hook) = hook {
        runner = runner.with_hook(hook);
    }
    let result = runner
        .run_checked(operation, set, expected.as_deref())
        .await;
    runner.close().await;
    result
}

/// An interruption before the migration connection was open.
fn nothing_started() -> RunError {
    RunError::Interrupted {
        during: None,
        completed: Vec::new(),
    }
}

/// Begins the audit in a task of its own, opening the runner's gate once the run's row is in or
/// closing it for good when the audit cannot be written. Without an audit the gate opens at once.
fn begin_opening(
    db: &Database,
    audit: Option<(AuditSettings, RunInfo)>,
    tap: Option<Tap>,
    gate: oneshot::Sender<Result<(), String>>,
) -> JoinHandle<Result<Option<Recorder>, Refused>> {
    let db = db.detached();
    tokio::spawn(async move {
        let (Some((settings, info)), Some(tap)) = (audit, tap) else {
            let _ = gate.send(Ok(()));
            return Ok(None);
        };
        let begun = Recorder::begin(&db, &settings, &info, tap)
            .await
            .map(Some)
            .map_err(|error| Refused(error.refusal(&settings)));
        let _ = gate.send(match &begun {
            Ok(_) => Ok(()),
            Err(_) => Err("the audit trail could not be written".into()),
        });
        begun
    })
}

/// A sink that passes every event on to `downstream` and keeps their account, which the task
/// returns once every sender is gone.
fn tallying(downstream: EventSink) -> (EventSink, JoinHandle<RunTally>) {
    let (sink, mut events) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut tally = RunTally::default();
        while let Some(event) = events.recv().await {
            tally.record(&event);
            let _ = downstream.send(event);
        }
        tally
    });
    (sink, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn carried(cancelled: bool) -> Carried {
        Carried {
            result: Ok(RunSummary {
                completed: vec![(Direction::Apply, 1, Duration::from_millis(5))],
                elapsed: Duration::from_millis(20),
            }),
            tally: RunTally {
                applied: vec![1],
                ..RunTally::default()
            },
            elapsed: Duration::from_millis(30),
            audit_run: Some(7),
            audit_incomplete: None,
            health: None,
            cancelled,
        }
    }

    #[test]
    fn a_run_cancelled_after_its_last_commit_reads_as_interrupted_in_the_same_words() {
        let done = carried(false);
        assert!(!done.interrupted());
        assert!(
            done.summary().starts_with("done: 1 applied (1)"),
            "{}",
            done.summary()
        );
        let cancelled = carried(true);
        assert!(cancelled.interrupted());
        assert!(
            cancelled
                .summary()
                .starts_with("interrupted after 20.0 ms: 1 applied (1)"),
            "{}",
            cancelled.summary()
        );
    }
}
