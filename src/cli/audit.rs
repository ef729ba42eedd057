//! The audit of the commands that change a database (`up`, `down`, `redo`, `resolve`): begun
//! before the run (which does not start when the audit cannot be written, unless
//! `--no-audit`), finished with how the run ended.

use anstream::eprintln;
use color_eyre::eyre::{Result, eyre};

use super::Project;
use super::output::{dim, yellow};
use crate::audit::{self, AuditSettings, Recorder, RunEnd, RunInfo, Tap};
use crate::db::Database;
use crate::runner::EventSink;

/// Whether and how a command's run is recorded.
#[derive(Clone)]
pub(super) struct AuditPlan {
    /// Where, or `None` when the audit is off.
    settings: Option<AuditSettings>,
    /// Off for this run only, by `--no-audit`.
    skipped: bool,
    info: RunInfo,
}

impl AuditPlan {
    /// The project's audit for this command line.
    pub(super) fn of(project: &Project) -> AuditPlan {
        let enabled = project.config.audit.enabled && !project.no_audit;
        AuditPlan {
            settings: enabled.then(|| project.config.audit.clone()),
            skipped: project.config.audit.enabled && project.no_audit,
            info: RunInfo::command(audit::command_line()),
        }
    }

    /// Records the environment the run is in (when one is named in `lockstep.toml`) and the
    /// schema snapshot taken before it, or that `--no-snapshot` skipped it.
    pub(super) fn with_guard(
        mut self,
        environment: &crate::guard::Environment,
        snapshot: Option<&crate::guard::SnapshotOutcome>,
    ) -> AuditPlan {
        self.info.environment = environment.configured.then(|| environment.name.clone());
        if let Some(snapshot) = snapshot {
            self.info.snapshot = snapshot.path.clone();
            self.info.snapshot_skipped = snapshot.skipped_by_flag;
        }
        self
    }

    /// No audit (the demo's throwaway server).
    pub(super) fn off() -> AuditPlan {
        AuditPlan {
            settings: None,
            skipped: false,
            info: RunInfo::default(),
        }
    }

    /// The sink the runner reports to (`downstream` gets every event), and the tap that
    /// records them once [`AuditPlan::begin`] has inserted the run's row.
    pub(super) fn tap(&self, downstream: EventSink) -> (Option<Tap>, EventSink) {
        if self.settings.is_none() {
            return (None, downstream);
        }
        let (tap, sink) = Tap::new(downstream);
        (Some(tap), sink)
    }

    /// Inserts the run's row (or says the audit is off for this run). An audit that cannot be
    /// written stops the command, saying what to do.
    pub(super) async fn begin(&self, db: &Database, tap: Option<Tap>) -> Result<Option<Recorder>> {
        let (Some(settings), Some(tap)) = (&self.settings, tap) else {
            if self.skipped {
                let y = yellow();
                eprintln!("{y}--no-audit: this run is not recorded in the audit trail{y:#}");
            }
            return Ok(None);
        };
        match Recorder::begin(db, settings, &self.info, tap).await {
            Ok(recorder) => Ok(Some(recorder)),
            Err(error) => Err(eyre!("{}", error.refusal(settings))),
        }
    }
}

impl AuditPlan {
    /// Where and what [`crate::run::carry_out`] records (`None`: nothing, and `--no-audit` is
    /// said when it turned the audit off).
    pub(super) fn for_run(&self) -> Option<(AuditSettings, RunInfo)> {
        if self.skipped {
            let y = yellow();
            eprintln!("{y}--no-audit: this run is not recorded in the audit trail{y:#}");
        }
        Some((self.settings.clone()?, self.info.clone()))
    }
}

/// Writes how the run ended; says so at once when the audit could not be completed. Returns
/// the run's id in the audit.
pub(super) async fn finish(recorder: Option<Recorder>, end: RunEnd) -> Option<i64> {
    let recorder = recorder?;
    let id = recorder.run_id();
    if let Err(error) = recorder.finish(end).await {
        say_incomplete(&audit::render::incomplete(id, &error));
    }
    Some(id)
}

/// Says at once that the audit of a run could not be completed (`words` from
/// [`audit::render::incomplete`]).
pub(super) fn say_incomplete(words: &str) {
    let y = yellow();
    eprintln!("{y}warning: {words}{y:#}");
}

/// Tells a person where the run is recorded (after its summary).
pub(super) fn say_recorded(run: Option<i64>) {
    if let Some(id) = run {
        let d = dim();
        eprintln!("{d}recorded in the audit trail as run {id} (lockstep history --run {id}){d:#}");
    }
}
