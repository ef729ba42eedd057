//! What reaches the dashboard's loop ([`Event`], through one channel) and what the reducer asks
//! the loop to do ([`Effect`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::text::Line;

use super::editor::{Draft, EditorFinding};
use super::rehearsal::RehearsalEnd;
use crate::analysis::migrations::FileAnalysis;
use crate::guard::GuardPlan;
use crate::health::Report;
use crate::monitor::{PollState, SessionLocks, Signal, TableBlocker};
use crate::rehearse::RehearsalEvent;
use crate::runner::{Direction, LockHolder, Operation, Resolution, RunEvent};
use crate::source::MigrationSet;
use crate::source::fix::FixWrite;
use crate::status::Status;

/// Everything that reaches the UI loop, through one channel.
#[derive(Debug)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal's size (at start and on every resize): columns, rows.
    Resize(u16, u16),
    /// Time passed (live timers).
    Tick,
    /// Freshly read files and status (or why reading failed).
    Status(Result<(MigrationSet, Status), String>),
    /// Who applied each version (from the audit when it recorded the apply, else when the
    /// history row says), read with the status in the background; why the audit could not be
    /// read, when it could not.
    Applied(crate::audit::AppliedVersions),
    /// The server, once connected: the database's name, `server_version` and
    /// `server_version_num`.
    ServerVersion {
        /// `current_database()`.
        database: String,
        /// As the server writes it (`15.4`).
        version: String,
        /// `server_version_num` (`150004`).
        num: u32,
    },
    /// Analyses of migration files, for the analysis generation `generation`.
    Analyzed {
        /// The generation they were asked for (older ones are dropped).
        generation: u64,
        /// The files.
        files: Vec<FileAnalysis>,
    },
    /// A lock sample of the running migration's session.
    LockSample(Arc<SessionLocks>),
    /// The guard's plan for the run being confirmed (the snapshot, the data copies, the
    /// environment's confirmation), or why it could not be made.
    Guarded(Result<Box<GuardPlan>, String>),
    /// Sessions holding locks on the tables of the plan being confirmed.
    Blockers(Result<Vec<TableBlocker>, String>),
    /// The monitor's latest poll (sizes, locks, activity).
    Monitor(PollState),
    /// A cancel or terminate from the inspection panes was carried out (or refused).
    Signalled {
        /// Which.
        signal: Signal,
        /// The session.
        pid: i32,
        /// What happened.
        outcome: Result<(), String>,
    },
    /// Who holds the migration advisory lock, polled.
    LockHolder(Option<LockHolder>),
    /// What sits between lockstep and the server, once checked.
    Pooling(crate::pooler::Pooling),
    /// Findings of the new-migration editor's draft `generation`.
    DraftAnalyzed {
        /// The draft they are for (older ones are dropped).
        generation: u64,
        /// The findings.
        findings: Vec<EditorFinding>,
    },
    /// Highlighted lines for a file.
    Highlighted {
        /// The file's checksum (the cache key: an edited file is highlighted again).
        key: Vec<u8>,
        /// Its lines.
        lines: Vec<Line<'static>>,
    },
    /// An event from the running migration.
    Run(RunEvent),
    /// A line for the run log from around the run: where the schema snapshot was written (or
    /// why there is none), in the engine's words; an audit that could not be completed.
    RunNote(String),
    /// The run ended.
    RunDone(Result<String, String>),
    /// What the health check after a run that changed something found, in words, when something
    /// needs action or the check could not run.
    HealthChecked(String),
    /// Past runs read from the audit trail (`7`), newest first, or why they could not be.
    History(Result<crate::audit::History, String>),
    /// The health check on demand (`H`): its report, or why it could not run.
    Health(Result<Report, String>),
    /// A resolve ended: what it did, or why not.
    Resolved(Result<String, String>),
    /// Progress of the rehearsal (`R`).
    Rehearsal(RehearsalEvent),
    /// The rehearsal ended.
    RehearsalDone(RehearsalEnd),
    /// New migration files were written (or why not).
    Saved(Result<Vec<std::path::PathBuf>, String>),
    /// A fix was written (what was written, or why not).
    Fixed(Result<String, String>),
    /// Whether a fix, linted again with its edits, resolves its finding without a new syntax
    /// error (the fix dialog writes only such a fix).
    FixChecked {
        /// The fix.
        fix: Box<FixWrite>,
        /// Whether it resolves its finding.
        resolves: bool,
    },
}

/// A side effect for the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the status again.
    RefreshStatus,
    /// Analyse the migration files ([`App::set`]) off the UI thread.
    Analyze {
        /// The generation, returned with the results.
        generation: u64,
        /// The server version to analyse for.
        pg_version: u32,
        /// The pending versions (analysed as one run).
        pending: BTreeSet<i64>,
    },
    /// Analyse the new-migration editor's bodies off the UI thread.
    AnalyzeDraft {
        /// The bodies.
        draft: Draft,
        /// The server version to analyse for.
        pg_version: u32,
    },
    /// Highlight a file's text off the UI thread.
    Highlight {
        /// The file's checksum.
        key: Vec<u8>,
        /// Its text.
        text: String,
    },
    /// Start a run in the background.
    Run {
        /// What to run.
        operation: Operation,
        /// The plan the user confirmed: the run refuses to start if it changed.
        expected: Vec<(Direction, i64)>,
        /// What the environment asks for before and during the run: the schema snapshot
        /// first (the run does not start without a required one), data kept before destructive
        /// statements.
        guard: Option<Box<GuardPlan>>,
    },
    /// Plan the guard's work for `operation` in the environment (read-only, in the background).
    PrepareGuard {
        /// What the confirmation is for.
        operation: Operation,
    },
    /// Run the health check (`H`) in the background.
    CheckHealth,
    /// Read past runs from the audit trail, with their statements, in the background.
    LoadHistory {
        /// At most this many, newest first.
        limit: usize,
    },
    /// Resolve a partially applied migration (as `lockstep resolve`).
    Resolve {
        /// The version.
        version: i64,
        /// Applied, or rolled back.
        resolution: Resolution,
    },
    /// Rehearse the pending migrations up to `to` on a scratch copy, in the background.
    Rehearse {
        /// The last version to rehearse.
        to: Option<i64>,
    },
    /// Stop the rehearsal (its scratch database is removed).
    CancelRehearsal,
    /// Interrupt the run: the statement in flight is cancelled on the server, a transactional
    /// migration rolls back, and nothing new starts.
    CancelRun,
    /// Cancel or terminate a session from the inspection panes (confirmed there).
    Signal {
        /// Which.
        signal: Signal,
        /// The session.
        pid: i32,
    },
    /// Pause or resume the monitor's polling.
    PauseMonitor(bool),
    /// Poll the monitor now.
    RefreshMonitor,
    /// Look up the sessions holding locks on tables a confirmed plan touches.
    FindBlockers {
        /// The tables.
        tables: Vec<String>,
    },
    /// Write a new reversible migration.
    SaveMigration {
        /// Its description.
        description: String,
        /// The UP body.
        up: String,
        /// The DOWN body.
        down: String,
    },
    /// Lint the file a fix edits again, with the fix, as the review lints it: does the fix
    /// resolve its finding?
    CheckFix {
        /// The fix.
        fix: Box<FixWrite>,
        /// The pending versions (the review lints their UP files as one run).
        pending: BTreeSet<i64>,
        /// The server version to analyse for.
        pg_version: u32,
    },
    /// Write a fix: the edited file, and the new migration it moves a statement to.
    WriteFix(Box<FixWrite>),
    /// Leave.
    Quit,
}
