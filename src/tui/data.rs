//! What the components share: the database and the server, the files and their status, their
//! analyses and highlighting, the tables' sizes. Components read it; only [`super::app::App`]
//! changes it, from events.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ratatui::text::Line;

use chrono::{DateTime, Utc};

use super::event::Effect;
use super::rehearsal::Rehearsals;
use crate::analysis::migrations::FileAnalysis;
use crate::analysis::policy::RulePolicy;
use crate::analysis::{Analysis, Severity};
use crate::audit::render::applied_sentence;
use crate::audit::{Applied, AppliedBy, AppliedVersions};
use crate::history::HistoryTable;
use crate::monitor::TableSize;
use crate::runner::{Failure, LockHolder};
use crate::source::{MigrationFile, MigrationSet};
use crate::status::{Status, VersionStatus};

/// Which file of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The UP file.
    Up,
    /// The DOWN file.
    Down,
}

impl Side {
    /// `UP` or `DOWN`.
    pub fn label(self) -> &'static str {
        match self {
            Side::Up => "UP",
            Side::Down => "DOWN",
        }
    }
}

/// The dashboard's shared facts.
pub struct Data {
    /// The database, redacted.
    pub database: String,
    /// Whether it is lockstep's throwaway server.
    pub sandbox: bool,
    /// Whether it is elsewhere than this machine (confirmations must be typed).
    pub remote: bool,
    /// `--read-only`: nothing that writes.
    pub read_only: bool,
    /// The history table, for the SQL a plan sends.
    pub table: HistoryTable,
    /// `server_version`, once connected.
    pub server_version: Option<String>,
    /// `current_database()`, once connected (it names the migration lock).
    pub database_name: Option<String>,
    /// The options runs start with, once given (the SQL a plan sends depends on them).
    pub run_options: Option<crate::runner::RunOptions>,
    /// The server's major version for the analysis (15 until the server says).
    pub pg_version: u32,
    /// The migration files.
    pub set: Arc<MigrationSet>,
    /// The latest status.
    pub status: Option<Status>,
    /// Why the latest status read failed (the watcher retries).
    pub status_error: Option<String>,
    /// Who holds sqlx's migration lock.
    pub lock_holder: Option<LockHolder>,
    /// What sits between lockstep and the server, once checked.
    pub pooling: Option<crate::pooler::Pooling>,
    /// The files' analyses.
    pub analyses: Analyses,
    /// Highlighted files, by checksum.
    pub highlighted: HashMap<Vec<u8>, Vec<Line<'static>>>,
    /// Files being highlighted.
    pub highlighting: Vec<Vec<u8>>,
    /// The tables' sizes, from the monitor's latest poll that read them.
    pub sizes: Vec<TableSize>,
    /// The last run's failure, to mark its line in the preview.
    pub failure: Option<(i64, Failure)>,
    /// The project's rule policy (`[lint]` of `lockstep.toml`, or `.squawk.toml`): rules turned
    /// off or given another severity, as `lockstep lint` applies it.
    pub lint_policy: RulePolicy,
    /// The latest rehearsal of each migration (`R`).
    pub rehearsals: Rehearsals,
    /// The environment the dashboard runs in (`--env`, or the one whose URL is in use): its
    /// name in the status bar; its snapshot, data copies and confirmation around every run.
    pub environment: Option<crate::guard::Environment>,
    /// Who applied each version (from the audit when it recorded the apply), as last read.
    pub applied: AppliedVersions,
    /// The widest database user in `applied` (0: the audit names no one).
    applied_by_width: u16,
}

impl Data {
    /// Facts about a database, before anything is read.
    pub fn new(set: MigrationSet, database: String, sandbox: bool, remote: bool) -> Data {
        Data {
            database,
            sandbox,
            remote,
            read_only: false,
            table: HistoryTable::new("_sqlx_migrations"),
            server_version: None,
            database_name: None,
            run_options: None,
            pg_version: 15,
            set: Arc::new(set),
            status: None,
            status_error: None,
            lock_holder: None,
            pooling: None,
            analyses: Analyses::default(),
            highlighted: HashMap::new(),
            highlighting: Vec::new(),
            sizes: Vec::new(),
            failure: None,
            lint_policy: RulePolicy::default(),
            rehearsals: Rehearsals::default(),
            environment: None,
            applied: AppliedVersions::default(),
            applied_by_width: 0,
        }
    }

    /// Whether the environment asks for anything around a run (a snapshot, data copies, a
    /// confirmation of its own): the confirmation then waits for the guard's plan.
    pub fn guarded(&self) -> bool {
        use crate::config::{ConfirmPolicy, SnapshotPolicy};
        self.environment.as_ref().is_some_and(|env| {
            env.snapshot != SnapshotPolicy::Off
                || env.keep_data
                || env.confirm != ConfirmPolicy::None
        })
    }

    /// Takes freshly read files and status.
    pub fn set_status(&mut self, set: MigrationSet, status: Status) {
        self.analyses.files_changed(&set, &status);
        self.set = Arc::new(set);
        self.status = Some(status);
        self.status_error = None;
    }

    /// Takes who applied each version, as read with the status.
    pub fn set_applied(&mut self, applied: AppliedVersions) {
        self.applied_by_width = applied
            .by_version
            .values()
            .filter_map(|a| a.by.as_ref())
            .map(|by| super::visible::line(&by.database_user, Default::default()).width() as u16)
            .max()
            .unwrap_or(0);
        self.applied = applied;
    }

    /// When a version was applied: when the audit recorded the apply, else its history row's
    /// `installed_on`.
    pub fn applied_at(&self, v: &VersionStatus) -> Option<DateTime<Utc>> {
        match self.applied.by_version.get(&v.version) {
            Some(applied) => Some(applied.at),
            None => v.applied.as_ref().map(|row| row.installed_on),
        }
    }

    /// The recorded run that applied a version, when the audit knows it.
    pub fn applied_by(&self, v: &VersionStatus) -> Option<&AppliedBy> {
        self.applied.by_version.get(&v.version)?.by.as_ref()
    }

    /// The widest database user the audit names, for the list's column (0: none).
    pub fn applied_by_width(&self) -> u16 {
        self.applied_by_width
    }

    /// Who applied a version and when, in the engine's words, for a version the history records
    /// as applied (not one whose row says it failed).
    pub fn applied_sentence(&self, v: &VersionStatus) -> Option<String> {
        if v.state.is_unfinished() {
            return None;
        }
        let sentence = match self.applied.by_version.get(&v.version) {
            Some(applied) => applied_sentence(applied),
            None => applied_sentence(&Applied {
                source: "history",
                at: v.applied.as_ref()?.installed_on,
                by: None,
            }),
        };
        Some(sentence)
    }

    /// Stores analysed files of `generation`, their findings under the project's rule policy.
    pub fn store_analyses(&mut self, generation: u64, mut files: Vec<FileAnalysis>) {
        for file in &mut files {
            self.lint_policy.apply_to(&mut file.analysis.findings);
        }
        self.analyses.store(generation, files);
    }

    /// The analysis of a version's UP or DOWN file, when done.
    pub fn analysis(&self, version: i64, side: Side) -> Option<&Arc<Analysis>> {
        self.analyses.by_file.get(&(version, side))
    }

    /// Counts of findings (errors, warnings) of a version's UP file, when analysed.
    pub fn finding_counts(&self, version: i64) -> Option<(usize, usize)> {
        let analysis = self.analysis(version, Side::Up)?;
        Some(
            analysis
                .findings
                .iter()
                .fold((0, 0), |(e, w), f| match f.severity {
                    Severity::Error => (e + 1, w),
                    Severity::Warning => (e, w + 1),
                    Severity::Info => (e, w),
                }),
        )
    }

    /// A table's size as a note (`1.2 GB, 8.1M rows`), when the monitor has read it.
    pub fn table_note(&self, table: &str) -> Option<String> {
        super::inspect::find_size(&self.sizes, table).map(super::inspect::size_note)
    }

    /// The UP or DOWN file of a version, when it has one.
    pub fn file<'a>(&self, v: &'a VersionStatus, side: Side) -> Option<&'a MigrationFile> {
        let migration = v.migration.as_ref()?;
        match side {
            Side::Up => Some(&migration.up),
            Side::Down => migration.down.as_ref(),
        }
    }

    /// The problems `lockstep status` reports for the `side` file of `version` (empty, still the
    /// template, a misplaced `-- no-transaction`), as text; but those its analysis already
    /// reports as findings.
    pub fn problems(&self, version: i64, side: Side, file: &MigrationFile) -> Vec<String> {
        let findings = self.analysis(version, side).map(|a| &a.findings);
        let said = |message: &str| findings.is_some_and(|f| f.iter().any(|f| f.message == message));
        self.set
            .problems
            .iter()
            .filter(|p| p.path == file.path && !said(&p.message))
            .map(|p| match p.line {
                Some(line) => format!("line {line}: {}", p.message),
                None => p.message.clone(),
            })
            .collect()
    }

    /// Under `--pooled`, the options and the migration lock's key, for the SQL a plan sends.
    pub fn pooled_lock(&self) -> Option<(&crate::runner::RunOptions, i64)> {
        let options = self.run_options.as_ref().filter(|o| o.pooled)?;
        Some((
            options,
            crate::runner::advisory_key(self.database_name.as_deref()?),
        ))
    }

    /// The `SET`s a (not `--pooled`) run's session starts with, one per line.
    pub fn session_settings(&self) -> String {
        self.run_options
            .as_ref()
            .filter(|o| !o.pooled)
            .map(crate::runner::RunOptions::session_settings)
            .unwrap_or_default()
    }

    /// Highlighting for `file`, unless it is done or under way.
    pub fn want_highlight(&self, file: &MigrationFile) -> Option<Effect> {
        let known = self.highlighted.contains_key(&file.checksum)
            || self.highlighting.contains(&file.checksum);
        (!known).then(|| Effect::Highlight {
            key: file.checksum.clone(),
            text: file.sql.clone(),
        })
    }
}

/// The analyses of the migration files, kept by generation: a change in the files, in what is
/// pending or in the server's version starts a new one, and results of older ones are dropped.
#[derive(Debug, Default)]
pub struct Analyses {
    /// Bumped whenever the files, what is pending or the server version change.
    generation: u64,
    /// The generation last asked for.
    requested: u64,
    /// A fingerprint of the files and what is pending, to notice changes.
    fingerprint: u64,
    /// The generation the stored analyses belong to.
    stored: u64,
    /// Analyses by version and side.
    by_file: HashMap<(i64, Side), Arc<Analysis>>,
}

impl Analyses {
    /// Notes new files and status: a new generation when they differ from the last.
    fn files_changed(&mut self, set: &MigrationSet, status: &Status) {
        let print = fingerprint(set, status);
        if print != self.fingerprint {
            self.fingerprint = print;
            self.generation += 1;
        }
    }

    /// Starts a new generation (the server's version changed).
    pub fn invalidate(&mut self) {
        self.generation += 1;
    }

    /// The analysis to ask for, once per generation.
    pub fn wanted(&mut self, status: &Status, pg_version: u32) -> Option<Effect> {
        if self.requested == self.generation {
            return None;
        }
        self.requested = self.generation;
        let pending: BTreeSet<i64> = status.pending().map(|v| v.version).collect();
        Some(Effect::Analyze {
            generation: self.generation,
            pg_version,
            pending,
        })
    }

    /// Stores analysed files of `generation` (dropped when a newer one was asked for since).
    pub fn store(&mut self, generation: u64, files: Vec<FileAnalysis>) {
        if generation != self.generation {
            return;
        }
        if generation != self.stored {
            self.by_file.clear();
            self.stored = generation;
        }
        for file in files {
            let side = if file.down { Side::Down } else { Side::Up };
            self.by_file
                .insert((file.version, side), Arc::new(file.analysis));
        }
    }

    /// The generation the stored analyses belong to (changes when they are replaced).
    pub fn stored_generation(&self) -> u64 {
        self.stored
    }
}

/// A fingerprint of the files and of what is pending: a change means analysing again.
fn fingerprint(set: &MigrationSet, status: &Status) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migration in &set.migrations {
        migration.version.hash(&mut hasher);
        migration.up.checksum.hash(&mut hasher);
        migration
            .down
            .as_ref()
            .map(|d| &d.checksum)
            .hash(&mut hasher);
    }
    for v in status.pending() {
        v.version.hash(&mut hasher);
    }
    hasher.finish()
}
