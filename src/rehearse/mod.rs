//! Rehearsing migrations on a copy before they run for real.
//!
//! The configured database's schema (and its history rows) is copied through read-only sessions
//! ([`copy`]) into a scratch database on lockstep's own throwaway PostgreSQL — of the same major
//! version when the machine has its binaries ([`scratch`]). Each pending migration then runs
//! there in order, statement by statement ([`session`]): the UP traced (the locks each statement
//! took on relations that existed before, rewrites, time, rows), compared with the static analysis
//! ([`compare`]); then its DOWN, after which the schema must equal the snapshot taken before the
//! UP; then the UP again, after which it must equal the first after-UP snapshot ([`catalog`]).
//! `all` rehearses the whole history from an empty database instead: up all, down all in
//! reverse, up all.
//!
//! [`rehearse`] reports progress as [`RehearsalEvent`]s and stops when its cancel token fires;
//! the result is a serializable [`RehearsalReport`], rendered for people once, in [`render`].
//! Nothing is ever written to the configured database.

pub mod catalog;
pub mod compare;
pub mod copy;
mod events;
pub(crate) mod libpq;
pub mod plan;
pub mod render;
mod report;
mod scratch;
mod session;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use events::{PhaseName, RehearsalEvent, RehearsalSink};
pub use report::{
    CopySummary, DataLoss, EXIT_DISAGREEMENTS, MigrationRehearsal, Outcome, Phase, RehearsalReport,
    ScratchInfo, Source, StatementRehearsal, Timings, Verdict,
};

use crate::analysis::migrations::analyze_pending;
use crate::analysis::model::{version_from_server_num, version_label};
use crate::analysis::{Analysis, LintOptions};
use crate::db::{Database, DbError};
use crate::history::HistoryError;
use crate::runner::{Operation, PlanError, RunOptions, Step, plan as plan_run};
use crate::source::{MigrationSet, SourceOptions};
use crate::status::Status;
use catalog::{Catalog, Difference, Moment, diff};
use session::{FileRun, Holding, ScratchSession, Tracing};

/// What to rehearse and how.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// Rehearse the pending migrations up to and including this version.
    pub to: Option<i64>,
    /// Rows to copy per table (0: the schema only).
    pub sample_rows: u64,
    /// A missing DOWN is a failure.
    pub require_down: bool,
    /// The whole history from an empty database: up all, down all in reverse, up all. The
    /// configured database is not read.
    pub all: bool,
    /// A server where the scratch database is created (and dropped), instead of a throwaway
    /// PostgreSQL of lockstep's own.
    pub scratch_server: Option<String>,
    /// The major version to rehearse on when no configured database says (`all`, or none
    /// configured); the newest local one otherwise.
    pub pg_version: Option<u32>,
    /// The history table, session timeouts (the scratch session gets them too).
    pub run: RunOptions,
    /// How the migration files are read (for an `.up.sql` without its `.down.sql`).
    pub source: SourceOptions,
}

/// Why a rehearsal could not run (a failing migration is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    /// A database could not be reached or queried, or the sandbox did not start.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The history table could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The migrations cannot be planned (bad files, drift, a failed version).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The session to the configured database was not read-only.
    #[error(
        "the session to {0} is not read-only although lockstep asked for \
         default_transaction_read_only = on (a connection pooler that drops startup options?); \
         rehearse reads the configured database only through read-only sessions and stops here. \
         Connect to the server directly"
    )]
    NotReadOnly(String),
    /// `pg_dump` failed.
    #[error("pg_dump could not read the configured database's schema: {0}")]
    Dump(String),
    /// The scratch server is older than PostgreSQL 10.
    #[error("the scratch server runs PostgreSQL {0}; rehearse needs 10 or newer")]
    OldScratchServer(String),
    /// A connection file for pg_dump/pg_restore could not be written.
    #[error(transparent)]
    Service(#[from] libpq::ServiceError),
    /// Reading the session's locks failed.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    /// A file or process operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The sandbox could not start, or a file operation of it failed.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The cancel token fired.
    #[error("the rehearsal was cancelled")]
    Cancelled,
}

/// Rehearses the pending migrations of `set` on a copy of `db` (or, with none, on an empty
/// database; with [`RehearseOptions::all`], the whole history from an empty database). Progress
/// goes to `events`; `cancel` stops it (the scratch database is removed either way).
pub async fn rehearse(
    db: Option<&Database>,
    set: &MigrationSet,
    options: &RehearseOptions,
    events: RehearsalSink,
    cancel: CancellationToken,
) -> Result<RehearsalReport, RehearseError> {
    let started = Instant::now();
    if set.has_errors() {
        // The same refusal `up` gives, before anything starts.
        plan_run(
            Operation::Up { to: options.to },
            set,
            &Status::build(set, None),
            false,
        )?;
    }
    let db = db.filter(|_| !options.all);
    let mut source = match db {
        Some(db) => {
            let _ = events.send(RehearsalEvent::Preparing {
                what: format!(
                    "reading the schema of {} (read-only session)",
                    db.display_url()
                ),
            });
            Some(copy::SourceSession::open(db, copy_lock_timeout(&options.run)).await?)
        }
        None => None,
    };
    let wanted = source
        .as_ref()
        .map(|s| version_from_server_num(s.version_num))
        .or(options.pg_version);
    let request = db.map(|db| copy::CopyRequest {
        db,
        table: &options.run.table,
        create_schemas: &options.run.create_schemas,
        sample_rows: options.sample_rows,
        lock_timeout: copy_lock_timeout(&options.run),
    });
    let tools = match scratch::locate(wanted).await {
        Ok(tools) => tools,
        Err(error) => {
            if let Some(source) = source {
                source.close().await;
            }
            return Err(error);
        }
    };
    // pg_dump reads the configured database while the scratch server starts.
    let dumping = async {
        match (&mut source, &request) {
            (Some(session), Some(request)) => match session.has_schema(request.table).await {
                // pg_dump is killed when the rehearsal is cancelled.
                Ok(true) => Some(tokio::select! {
                    dumped = copy::dump(session, request, &tools) => dumped,
                    _ = cancel.cancelled() => Err(RehearseError::Cancelled),
                }),
                Ok(false) => None,
                Err(error) => Some(Err(error)),
            },
            _ => None,
        }
    };
    let (dumped, scratch) = tokio::join!(
        dumping,
        start_scratch(options, wanted, tools.clone(), &events)
    );
    let scratch = match scratch {
        Ok(scratch) => scratch,
        Err(error) => {
            if let Some(source) = source {
                source.close().await;
            }
            return Err(error);
        }
    };
    let dump = match dumped.transpose() {
        Ok(dump) => dump,
        Err(error) => {
            if let Some(source) = source {
                source.close().await;
            }
            scratch.remove().await;
            return Err(error);
        }
    };
    let scratch_major = version_from_server_num(scratch.version_num);
    let same_major = wanted.is_none_or(|w| w == scratch_major);
    let server = ScratchInfo {
        server_version: scratch.version.clone(),
        same_major,
        server: scratch.describe(),
        warning: (!same_major).then(|| {
            format!(
                "rehearsed on PostgreSQL {} but the target is PostgreSQL {}: lock behaviour and \
                 rewrites can differ between major versions. Install the PostgreSQL {} server \
                 binaries (or point LOCKSTEP_PG_BIN at them) to rehearse on the same version",
                version_label(scratch_major),
                version_label(wanted.unwrap_or(scratch_major)),
                version_label(wanted.unwrap_or(scratch_major)),
            )
        }),
    };
    let mut timings = Timings {
        prepare_ms: millis(started.elapsed()),
        ..Timings::default()
    };
    let result = async {
        let copying = Instant::now();
        let (source_info, history) = match (&mut source, &request) {
            (Some(session), Some(request)) => {
                let _ = events.send(RehearsalEvent::Preparing {
                    what: "copying the schema to the scratch database".into(),
                });
                // pg_restore is killed when the rehearsal is cancelled.
                let summary = tokio::select! {
                    copied = copy::copy(session, request, dump, &scratch) => copied?,
                    _ = cancel.cancelled() => return Err(RehearseError::Cancelled),
                };
                let history = session.history(&options.run.table).await?;
                (Source::Copy(summary), history)
            }
            _ if options.all => (Source::All, None),
            _ => (Source::Empty, None),
        };
        if let Some(session) = source.take() {
            session.close().await;
        }
        // Cancelled while the scratch server started or the schema was copied.
        if cancel.is_cancelled() {
            return Err(RehearseError::Cancelled);
        }
        let status = Status::build(set, history.as_deref());
        let plan = plan_run(Operation::Up { to: options.to }, set, &status, false)?;
        let mut session = ScratchSession::open(&scratch, &options.run).await?;
        session.ensure_history(&options.run.create_schemas).await?;
        timings.copy_ms = millis(copying.elapsed());
        let running = Instant::now();
        let outcome = run_plan(&mut session, set, &plan.steps, options, &events, &cancel).await;
        timings.migrations_ms = millis(running.elapsed());
        timings.snapshots_ms = millis(session.snapshot_time);
        session.close().await;
        let (migrations, tables) = outcome?;
        let source_info = match source_info {
            Source::Copy(mut summary) => {
                summary.tables = tables;
                Source::Copy(summary)
            }
            other => other,
        };
        Ok::<_, RehearseError>((source_info, migrations))
    }
    .await;
    if let Some(source) = source {
        source.close().await;
    }
    let cleaning = Instant::now();
    scratch.remove().await;
    timings.cleanup_ms = millis(cleaning.elapsed());
    let (source, migrations) = result?;
    Ok(RehearsalReport {
        source,
        server,
        require_down: options.require_down,
        all: options.all,
        migrations,
        elapsed_ms: millis(started.elapsed()),
        timings,
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// How long reading the configured database may wait for a lock: the session's `lock_timeout`,
/// else 3 s.
fn copy_lock_timeout(run: &RunOptions) -> Duration {
    run.lock_timeout.unwrap_or(Duration::from_secs(3))
}

async fn start_scratch(
    options: &RehearseOptions,
    wanted: Option<u32>,
    binaries: crate::sandbox::PgBinaries,
    events: &RehearsalSink,
) -> Result<scratch::Scratch, RehearseError> {
    match &options.scratch_server {
        Some(url) => {
            let _ = events.send(RehearsalEvent::Preparing {
                what: format!("creating a scratch database on {}", crate::db::redact(url)),
            });
            scratch::Scratch::external(url, binaries).await
        }
        None => {
            let _ = events.send(RehearsalEvent::Preparing {
                what: match wanted {
                    Some(major) => {
                        format!("starting a throwaway PostgreSQL {}", version_label(major))
                    }
                    None => "starting a throwaway PostgreSQL".into(),
                },
            });
            scratch::Scratch::sandbox(binaries).await
        }
    }
}

/// Runs the plan in the rehearsal's mode; the results and the number of tables before it.
async fn run_plan(
    session: &mut ScratchSession,
    set: &MigrationSet,
    steps: &[Step],
    options: &RehearseOptions,
    events: &RehearsalSink,
    cancel: &CancellationToken,
) -> Result<(Vec<MigrationRehearsal>, usize), RehearseError> {
    let start = session.snapshot(false).await?;
    let tables = start
        .objects
        .keys()
        .filter(|k| k.kind == catalog::ObjectKind::Table)
        .count();
    let pending: BTreeSet<i64> = steps.iter().map(|s| s.version).collect();
    let lint = LintOptions {
        catalog: session.analysis_catalog().await?,
        ..LintOptions::for_session(
            version_from_server_num(session.version_num),
            options.run.lock_timeout.is_some(),
            options.run.statement_timeout.is_some(),
        )
    };
    let analyses: HashMap<i64, Analysis> = analyze_pending(set, &pending, &lint)
        .into_iter()
        .filter(|f| !f.down)
        .map(|f| (f.version, f.analysis))
        .collect();
    let mut rehearser = Rehearser {
        session,
        all: options.all,
        set,
        analyses,
        events,
        cancel,
    };
    let migrations = if options.all {
        rehearser.whole_history(steps, start).await?
    } else {
        rehearser.one_by_one(steps, start).await?
    };
    Ok((migrations, tables))
}

/// Why a phase did not run, until something more precise is known.
const NOT_REACHED: &str = "not reached";

struct Rehearser<'a> {
    session: &'a mut ScratchSession,
    /// The whole history (`--all`): the schema after a DOWN is the one the next DOWN runs on.
    all: bool,
    set: &'a MigrationSet,
    analyses: HashMap<i64, Analysis>,
    events: &'a RehearsalSink,
    cancel: &'a CancellationToken,
}

/// What a DOWN did.
struct Reverted {
    phase: Phase,
    data_loss: Vec<DataLoss>,
    /// The schema after it, when it ran to the end.
    after: Option<Catalog>,
    /// Every difference from the schema before the UP (also those left by earlier steps).
    all_differences: Vec<Difference>,
}

impl Rehearser<'_> {
    fn new_rehearsal(&self, step: &Step) -> MigrationRehearsal {
        let down = self.set.get(step.version).and_then(|m| m.down.as_ref());
        MigrationRehearsal {
            version: step.version,
            description: step.description.clone(),
            in_transaction: step.in_transaction,
            up_checksum: hex::encode(&step.checksum),
            down_checksum: down.map(|file| hex::encode(&file.checksum)),
            up: Phase::not_run(NOT_REACHED),
            statements: Vec::new(),
            down: Phase::not_run(NOT_REACHED),
            up_again: Phase::not_run(NOT_REACHED),
            data_loss: Vec::new(),
        }
    }

    fn finished(&self, rehearsal: &MigrationRehearsal) {
        let _ = self.events.send(RehearsalEvent::MigrationRehearsed {
            rehearsal: Box::new(rehearsal.clone()),
        });
    }

    /// Each migration in turn: UP (traced), DOWN, UP again.
    async fn one_by_one(
        &mut self,
        steps: &[Step],
        mut current: Catalog,
    ) -> Result<Vec<MigrationRehearsal>, RehearseError> {
        let mut out = Vec::new();
        let mut stopped: Option<String> = None;
        for step in steps {
            let mut rehearsal = self.new_rehearsal(step);
            if let Some(reason) = &stopped {
                rehearsal.up = Phase::not_run(reason.clone());
                rehearsal.down = Phase::not_run(reason.clone());
                rehearsal.up_again = Phase::not_run(reason.clone());
                self.finished(&rehearsal);
                out.push(rehearsal);
                continue;
            }
            let before = current.clone();
            let (up, statements) = self.apply(step, Some(&before), PhaseName::Up).await?;
            rehearsal.statements = statements;
            let up_failed = up.outcome.is_failure();
            rehearsal.up = up;
            if up_failed {
                rehearsal.down = Phase::not_run("the UP failed");
                rehearsal.up_again = Phase::not_run("the UP failed");
                stopped = Some(format!("migration {} failed before it", step.version));
                self.finished(&rehearsal);
                out.push(rehearsal);
                continue;
            }
            let after_up = self.session.snapshot(true).await?;
            current = after_up.clone();
            let reverted = self
                .revert(
                    step.version,
                    &before,
                    &after_up,
                    &after_up,
                    &BTreeSet::new(),
                )
                .await?;
            rehearsal.data_loss = reverted.data_loss;
            rehearsal.down = reverted.phase;
            match reverted.after {
                Some(after_down) => {
                    current = after_down.clone();
                    let (again, _) = self.apply(step, None, PhaseName::UpAgain).await?;
                    rehearsal.up_again = if again.outcome.is_failure() {
                        stopped = Some(format!(
                            "migration {} did not apply again after its DOWN",
                            step.version
                        ));
                        again
                    } else {
                        let after_again = self.session.snapshot(false).await?;
                        let differences =
                            diff(&after_up, &after_again, &after_down, Moment::AfterUpAgain);
                        current = after_again;
                        compared(again.elapsed_ms, differences)
                    };
                    self.phase_finished(step.version, PhaseName::UpAgain, &rehearsal.up_again);
                }
                None => {
                    let reason = match &rehearsal.down.outcome {
                        Outcome::NotReversible { .. } => "not reversible",
                        _ => "the DOWN failed",
                    };
                    rehearsal.up_again = Phase::not_run(reason);
                    if !step.in_transaction || rehearsal.down.outcome.is_failure() {
                        // A DOWN outside a transaction may have stopped half-way.
                        current = self.session.snapshot(false).await?;
                    }
                }
            }
            self.finished(&rehearsal);
            out.push(rehearsal);
        }
        Ok(out)
    }

    /// The whole history: up all (traced), down all in reverse, up all again.
    async fn whole_history(
        &mut self,
        steps: &[Step],
        start: Catalog,
    ) -> Result<Vec<MigrationRehearsal>, RehearseError> {
        let mut out: Vec<MigrationRehearsal> =
            steps.iter().map(|s| self.new_rehearsal(s)).collect();
        // states[k] is the schema before migration k; states[k + 1] after it.
        let mut states = vec![start];
        for (k, step) in steps.iter().enumerate() {
            let (up, statements) = self.apply(step, Some(&states[k]), PhaseName::Up).await?;
            out[k].statements = statements;
            let failed = up.outcome.is_failure();
            out[k].up = up;
            if failed {
                for later in &mut out[k + 1..] {
                    later.up =
                        Phase::not_run(format!("migration {} failed before it", step.version));
                }
                for rehearsal in &mut out {
                    rehearsal.down = Phase::not_run("an UP failed: nothing was reverted");
                    rehearsal.up_again = Phase::not_run("an UP failed: nothing was reverted");
                }
                out.iter().for_each(|r| self.finished(r));
                return Ok(out);
            }
            states.push(self.session.snapshot(k + 1 == steps.len()).await?);
        }
        let mut reverted = Vec::new();
        let mut leftover = BTreeSet::new();
        let mut current = states[steps.len()].clone();
        for (k, step) in steps.iter().enumerate().rev() {
            let result = self
                .revert(
                    step.version,
                    &states[k],
                    &states[k + 1],
                    &current,
                    &leftover,
                )
                .await?;
            out[k].data_loss = result.data_loss;
            out[k].down = result.phase;
            if result.after.is_none() {
                let why = match &out[k].down.outcome {
                    Outcome::NotReversible { .. } => {
                        format!("migration {} after it is not reversible", step.version)
                    }
                    _ => format!("the DOWN of migration {} after it failed", step.version),
                };
                for earlier in &mut out[..k] {
                    earlier.down = Phase::not_run(why.clone());
                }
                break;
            }
            leftover = result
                .all_differences
                .iter()
                .map(Difference::identity)
                .collect();
            if let Some(after) = result.after {
                current = after;
            }
            reverted.push(k);
        }
        let mut leftover = BTreeSet::new();
        let mut before = self.session.snapshot(false).await?;
        let mut stopped: Option<String> = None;
        for k in reverted.into_iter().rev() {
            let step = &steps[k];
            if let Some(reason) = &stopped {
                out[k].up_again = Phase::not_run(reason.clone());
                continue;
            }
            let (again, _) = self.apply(step, None, PhaseName::UpAgain).await?;
            if again.outcome.is_failure() {
                out[k].up_again = again;
                stopped = Some(format!("migration {} did not apply again", step.version));
            } else {
                let after = self.session.snapshot(false).await?;
                let all = diff(&states[k + 1], &after, &before, Moment::AfterUpAgain);
                let new: Vec<Difference> = all
                    .iter()
                    .filter(|d| !leftover.contains(&d.identity()))
                    .cloned()
                    .collect();
                leftover = all.iter().map(Difference::identity).collect();
                out[k].up_again = compared(again.elapsed_ms, new);
                before = after;
            }
            self.phase_finished(step.version, PhaseName::UpAgain, &out[k].up_again);
        }
        for rehearsal in &mut out {
            if matches!(&rehearsal.up_again.outcome, Outcome::NotRun { reason } if reason == NOT_REACHED)
            {
                rehearsal.up_again = Phase::not_run(match rehearsal.down.outcome {
                    Outcome::NotReversible { .. } => "not reversible",
                    Outcome::NotRun { .. } => "it was not reverted",
                    _ => "the DOWN failed",
                });
            }
        }
        out.iter().for_each(|r| self.finished(r));
        Ok(out)
    }

    fn phase_finished(&self, version: i64, phase: PhaseName, result: &Phase) {
        let _ = self.events.send(RehearsalEvent::PhaseFinished {
            version,
            phase,
            ok: matches!(result.outcome, Outcome::Ok),
        });
    }

    /// Runs the UP of `step` (traced against `before` when given).
    async fn apply(
        &mut self,
        step: &Step,
        before: Option<&Catalog>,
        phase: PhaseName,
    ) -> Result<(Phase, Vec<StatementRehearsal>), RehearseError> {
        let tracing = before.map(|before| Tracing {
            analysis: self.analyses.get(&step.version),
            before,
        });
        let run = self
            .session
            .run(step, phase, tracing, self.events, self.cancel)
            .await?;
        let result = ran(&run);
        if phase == PhaseName::Up {
            self.phase_finished(step.version, phase, &result);
        }
        Ok((result, run.statements))
    }

    /// Runs the DOWN of `version` on the schema `current`, compares the schema with `before_up`,
    /// and tells what data it dropped. Differences in `leftover` (left by an earlier step) are not
    /// reported again.
    async fn revert(
        &mut self,
        version: i64,
        before_up: &Catalog,
        after_up: &Catalog,
        current: &Catalog,
        leftover: &BTreeSet<(catalog::ObjectKey, catalog::Change)>,
    ) -> Result<Reverted, RehearseError> {
        let step = match self.set.get(version) {
            Some(migration) => plan::down_step(migration),
            None => Err("its files are missing".to_string()),
        };
        let step = match step {
            Ok(step) => step,
            Err(reason) => {
                return Ok(Reverted {
                    phase: Phase {
                        outcome: Outcome::NotReversible { reason },
                        elapsed_ms: 0.0,
                    },
                    data_loss: Vec::new(),
                    after: None,
                    all_differences: Vec::new(),
                });
            }
        };
        let holding = self.session.holding(current).await?;
        let run = self
            .session
            .run(&step, PhaseName::Down, None, self.events, self.cancel)
            .await?;
        if run.failure.is_some() {
            let phase = ran(&run);
            self.phase_finished(version, PhaseName::Down, &phase);
            return Ok(Reverted {
                phase,
                data_loss: Vec::new(),
                after: None,
                all_differences: Vec::new(),
            });
        }
        let after = self.session.snapshot(self.all).await?;
        let all = diff(before_up, &after, after_up, Moment::AfterDown);
        let new: Vec<Difference> = all
            .iter()
            .filter(|d| !leftover.contains(&d.identity()))
            .cloned()
            .collect();
        let phase = compared(run.elapsed.as_secs_f64() * 1e3, new);
        self.phase_finished(version, PhaseName::Down, &phase);
        Ok(Reverted {
            phase,
            data_loss: data_lost(before_up, after_up, &after, &holding),
            after: Some(after),
            all_differences: all,
        })
    }
}

/// The phase of a run: ok, or failed with its statement.
fn ran(run: &FileRun) -> Phase {
    let elapsed_ms = run.elapsed.as_secs_f64() * 1e3;
    match &run.failure {
        Some((failure, statement)) => Phase {
            outcome: Outcome::Failed {
                failure: Box::new(failure.clone()),
                statement: statement.clone(),
            },
            elapsed_ms,
        },
        None => Phase {
            outcome: Outcome::Ok,
            elapsed_ms,
        },
    }
}

/// Ok when nothing differs.
fn compared(elapsed_ms: f64, differences: Vec<Difference>) -> Phase {
    Phase {
        outcome: if differences.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Differs { differences }
        },
        elapsed_ms,
    }
}

/// The tables and columns the DOWN dropped that held data.
fn data_lost(
    before_up: &Catalog,
    after_up: &Catalog,
    after_down: &Catalog,
    holding: &Holding,
) -> Vec<DataLoss> {
    let mut out = Vec::new();
    for table in &holding.tables {
        if after_up.has_plain_table(table) && !after_down.has_plain_table(table) {
            let filled_by_up = !before_up.has_plain_table(table);
            out.push(DataLoss {
                table: table.clone(),
                column: None,
                filled_by_up,
                message: format!(
                    "DOWN drops table `{table}`, which {}",
                    if filled_by_up {
                        "the UP filled with rows"
                    } else {
                        "holds rows"
                    }
                ),
            });
        }
    }
    let columns_after: BTreeMap<(&str, &str), ()> =
        after_down.table_columns().map(|c| (c, ())).collect();
    let columns_before: BTreeSet<(&str, &str)> = before_up.table_columns().collect();
    for (table, column) in &holding.columns {
        let key = (table.as_str(), column.as_str());
        if !after_down.has_plain_table(table) || columns_after.contains_key(&key) {
            continue;
        }
        let filled_by_up = !columns_before.contains(&key);
        out.push(DataLoss {
            table: table.clone(),
            column: Some(column.clone()),
            filled_by_up,
            message: format!(
                "DOWN drops column `{table}.{column}`, which {}",
                if filled_by_up {
                    "the UP filled with values"
                } else {
                    "holds values"
                }
            ),
        });
    }
    out
}
