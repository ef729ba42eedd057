//! The dashboard's state and how every event changes it. Pure: no terminal, no database. Side
//! effects are returned as [`Effect`]s for the event loop to carry out.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::text::Line;
use ratatui_textarea::TextArea;

use super::editor::{Draft, Editor, EditorFinding, EditorOutcome};
use super::inspect::{Inspect, InspectAction, Tab, size_note};
use super::preview::{PreviewRow, build_rows, finding_rows};
use super::resolve::{ResolveDialog, ResolveStep};
use crate::analysis::migrations::FileAnalysis;
use crate::analysis::{Analysis, Severity};
use crate::monitor::{PollState, SessionLocks, Signal, TableBlocker};
use crate::runner::{Direction, Failure, LockHolder, Operation, Resolution, RunEvent, plan};
use crate::source::MigrationSet;
use crate::status::{Status, VersionStatus};

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
    /// The server's version, once connected: `server_version` and `server_version_num`.
    ServerVersion {
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
    /// The run ended.
    RunDone(Result<String, String>),
    /// A resolve ended: what it did, or why not.
    Resolved(Result<String, String>),
    /// New migration files were written (or why not).
    Saved(Result<Vec<std::path::PathBuf>, String>),
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
    },
    /// Resolve a partially applied migration (as `lockstep resolve`).
    Resolve {
        /// The version.
        version: i64,
        /// Applied, or rolled back.
        resolution: Resolution,
    },
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
    /// Leave.
    Quit,
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The migrations list.
    Migrations,
    /// The SQL preview.
    Preview,
    /// The run log.
    Run,
    /// The inspection panes (sizes, locks, activity), in the run pane's place.
    Inspect,
}

/// Which file the preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The UP file.
    Up,
    /// The DOWN file.
    Down,
}

/// A confirmation dialog before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// What will run.
    pub operation: Operation,
    /// A one-line title.
    pub title: String,
    /// The steps as the plan has them.
    pub expected: Vec<(Direction, i64)>,
    /// What will be sent, for review.
    pub lines: Vec<String>,
    /// When set, the user must type this to confirm.
    pub challenge: Option<String>,
    /// Why the confirmation must be typed.
    pub challenge_reason: Option<String>,
    /// The tables the plan locks (that exist before it runs), for the blockers check.
    pub tables: Vec<String>,
    /// Sessions the migration would queue behind: `None` while being looked up, `Err` if the
    /// lookup failed.
    pub blockers: Option<Result<Vec<TableBlocker>, String>>,
    /// What the user typed so far.
    pub typed: String,
    /// Whether the confirm button (not Cancel) is focused.
    pub on_confirm: bool,
}

/// What is shown on top of the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Nothing.
    None,
    /// The key help.
    Help,
    /// A confirmation.
    Confirm(Box<Confirm>),
    /// Asking whether to cancel the running statement.
    ConfirmCancel,
    /// Asking whether to quit while a migration runs.
    ConfirmQuit,
    /// The `/` filter line.
    Filter,
    /// The `:` command line.
    Command(String),
    /// The new-migration editor ([`App::editor`]).
    NewMigration,
    /// Resolving a partially applied migration.
    Resolve(Box<ResolveDialog>),
}

/// One line of the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Its kind, for colour.
    pub kind: LogKind,
    /// Its text.
    pub text: String,
}

/// The kind of a run log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A heading (a migration starts).
    Heading,
    /// A statement completed.
    Statement,
    /// Waiting for a lock.
    Waiting,
    /// Success.
    Ok,
    /// Failure.
    Error,
    /// Anything else.
    Info,
}

/// The run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// Its operation.
    pub operation: Operation,
    /// When it started.
    pub started: Instant,
    /// The migration session's backend pid, once connected.
    pub backend_pid: Option<i32>,
    /// The migration running now.
    pub version: Option<i64>,
    /// The statement running now: index, line, text, start.
    pub statement: Option<(usize, usize, String, Instant)>,
    /// Statements done in this migration / in all.
    pub done: usize,
    /// Statements in this migration.
    pub total: usize,
    /// Who holds the migration lock while we wait for it.
    pub waiting_on: Option<Option<LockHolder>>,
    /// The latest lock sample of the migration session.
    pub sample: Option<Arc<SessionLocks>>,
}

/// The dashboard state.
pub struct App {
    /// The database, redacted, for the status bar.
    pub database: String,
    /// Whether it is lockstep's throwaway server.
    pub sandbox: bool,
    /// Whether confirmations must be typed (not a local database).
    pub remote: bool,
    /// `--read-only`: nothing that writes.
    pub read_only: bool,
    /// `server_version`.
    pub server_version: Option<String>,
    /// The terminal size (columns, rows), for layout-dependent state (mouse, scrolling).
    pub size: (u16, u16),
    /// The migration files.
    pub set: Arc<MigrationSet>,
    /// The latest status.
    pub status: Option<Status>,
    /// The latest status error (shown in the status bar; the loop retries).
    pub status_error: Option<String>,
    /// Who holds the migration lock.
    pub lock_holder: Option<LockHolder>,
    /// What sits between lockstep and the server, once checked.
    pub pooling: Option<crate::pooler::Pooling>,
    /// The selected row among the visible versions.
    pub selected: usize,
    /// The focused pane.
    pub focus: Focus,
    /// UP or DOWN.
    pub side: Side,
    /// Preview scroll, in lines.
    pub preview_scroll: u16,
    /// What is on top.
    pub overlay: Overlay,
    /// The `/` filter.
    pub filter: String,
    /// The filter's input line while it is being edited.
    pub filter_input: Option<TextArea<'static>>,
    /// Highlighted files, by checksum.
    pub highlighted: HashMap<Vec<u8>, Vec<Line<'static>>>,
    /// Files being highlighted.
    pending_highlight: Vec<Vec<u8>>,
    /// The run in progress.
    pub running: Option<Running>,
    /// The log of this session's runs.
    pub log: Vec<LogLine>,
    /// The last failure, to highlight its line in the preview.
    pub failure: Option<(i64, Failure)>,
    /// A one-line message for the status bar.
    pub message: Option<String>,
    /// Log scroll from the bottom.
    pub log_scroll: u16,
    /// The new-migration editor, while open.
    pub editor: Option<Editor>,
    /// Indices into the status' versions of the rows shown, after the filter.
    visible_idx: Vec<usize>,
    /// The index among them of the first version not recorded in the database.
    first_pending_idx: Option<usize>,
    /// The first list row on screen.
    pub list_offset: usize,
    /// The server's major version for the analysis (15 until the server says).
    pub pg_version: u32,
    /// Bumped whenever the files, what is pending or the server version change.
    analysis_generation: u64,
    /// The generation last asked for.
    analysis_requested: u64,
    /// A fingerprint of the files and what is pending, to notice changes.
    analysis_fingerprint: u64,
    /// The generation the stored analyses belong to.
    analyses_generation: u64,
    /// Analyses by version and side.
    pub analyses: HashMap<(i64, Side), Arc<Analysis>>,
    /// The preview's rows, and what they were built for.
    pub preview_rows: Vec<PreviewRow>,
    preview_key: Option<PreviewKey>,
    /// Scroll of the confirmation dialog's body.
    pub confirm_scroll: u16,
    /// The inspection panes' state.
    pub inspect: Inspect,
    /// The bottom-right pane shows the inspection panes (else the run pane).
    bottom_inspect: bool,
}

/// What the preview rows were built for.
#[derive(Debug, Clone, PartialEq)]
struct PreviewKey {
    version: i64,
    side: Side,
    checksum: Vec<u8>,
    analysed: bool,
    analyses_generation: u64,
    width: usize,
}

impl App {
    /// A dashboard over `set` on the database shown as `database`.
    pub fn new(
        set: MigrationSet,
        database: String,
        sandbox: bool,
        remote: bool,
        read_only: bool,
    ) -> App {
        App {
            database,
            sandbox,
            remote,
            read_only,
            server_version: None,
            size: (120, 40),
            set: Arc::new(set),
            status: None,
            status_error: None,
            lock_holder: None,
            pooling: None,
            selected: 0,
            focus: Focus::Migrations,
            side: Side::Up,
            preview_scroll: 0,
            overlay: Overlay::None,
            filter: String::new(),
            filter_input: None,
            highlighted: HashMap::new(),
            pending_highlight: Vec::new(),
            running: None,
            log: Vec::new(),
            failure: None,
            message: None,
            log_scroll: 0,
            editor: None,
            visible_idx: Vec::new(),
            first_pending_idx: None,
            list_offset: 0,
            pg_version: 15,
            analysis_generation: 0,
            analysis_requested: 0,
            analysis_fingerprint: 0,
            analyses_generation: 0,
            analyses: HashMap::new(),
            preview_rows: Vec::new(),
            preview_key: None,
            confirm_scroll: 0,
            inspect: Inspect::new(),
            bottom_inspect: false,
        }
    }

    /// The versions shown, after the filter.
    pub fn visible(&self) -> Vec<&VersionStatus> {
        (0..self.visible_len())
            .filter_map(|i| self.visible_at(i))
            .collect()
    }

    /// How many versions are shown.
    pub fn visible_len(&self) -> usize {
        self.visible_idx.len()
    }

    /// The `i`-th version shown.
    pub fn visible_at(&self, i: usize) -> Option<&VersionStatus> {
        let status = self.status.as_ref()?;
        status.versions.get(*self.visible_idx.get(i)?)
    }

    /// Recomputes the shown versions after the status or the filter changed.
    fn refresh_visible(&mut self) {
        let Some(status) = &self.status else {
            self.visible_idx.clear();
            return;
        };
        let filter = self.filter.to_lowercase();
        self.visible_idx = status
            .versions
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                filter.is_empty()
                    || v.description.to_lowercase().contains(&filter)
                    || v.version.to_string().contains(&filter)
            })
            .map(|(i, _)| i)
            .collect();
        self.first_pending_idx = self
            .visible_idx
            .iter()
            .position(|&i| !status.versions[i].state.is_recorded());
    }

    /// The list rows: each shown version, with a "pending" separator row before the first
    /// pending one. Returns the row of shown version `i`.
    pub fn list_row_of(&self, i: usize) -> usize {
        match self.first_pending() {
            Some(p) if p > 0 && i >= p => i + 1,
            _ => i,
        }
    }

    /// The shown version at list row `row`, or `None` for the separator.
    pub fn version_at_row(&self, row: usize) -> Option<usize> {
        let i = match self.first_pending() {
            Some(p) if p > 0 && row == p => return None,
            Some(p) if p > 0 && row > p => row - 1,
            _ => row,
        };
        (i < self.visible_len()).then_some(i)
    }

    /// How many list rows there are (versions plus the separator).
    pub fn list_rows(&self) -> usize {
        self.list_row_of(self.visible_len())
    }

    /// The index among the shown versions of the first one not recorded in the database.
    pub fn first_pending(&self) -> Option<usize> {
        self.first_pending_idx
    }

    /// The selected version.
    pub fn selected_version(&self) -> Option<&VersionStatus> {
        self.visible_at(self.selected)
    }

    /// The analysis of a version's UP or DOWN file, when done.
    pub fn analysis(&self, version: i64, side: Side) -> Option<&Arc<Analysis>> {
        self.analyses.get(&(version, side))
    }

    /// The size of a table as a note ("1.2 GB, 8.1M rows"), when the monitor has read it.
    pub fn table_note(&self, table: &str) -> Option<String> {
        self.inspect.table_size(table).map(size_note)
    }

    /// Counts of findings (errors, warnings, infos) of a version's UP file.
    pub fn finding_counts(&self, version: i64) -> Option<(usize, usize, usize)> {
        let analysis = self.analysis(version, Side::Up)?;
        let mut counts = (0, 0, 0);
        for finding in &analysis.findings {
            match finding.severity {
                Severity::Error => counts.0 += 1,
                Severity::Warning => counts.1 += 1,
                Severity::Info => counts.2 += 1,
            }
        }
        Some(counts)
    }

    /// The file the preview shows, with its text.
    pub fn preview_file(&self) -> Option<&crate::source::MigrationFile> {
        let migration = self.selected_version()?.migration.as_ref()?;
        match self.side {
            Side::Up => Some(&migration.up),
            Side::Down => migration.down.as_ref(),
        }
    }

    /// Effects needed for what is on screen now (analysing the files, highlighting the previewed
    /// file), and the derived state brought up to date (list window, preview rows).
    pub fn wanted(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.status.is_some() && self.analysis_requested != self.analysis_generation {
            self.analysis_requested = self.analysis_generation;
            let pending = self
                .status
                .as_ref()
                .map(|s| s.pending().map(|v| v.version).collect())
                .unwrap_or_default();
            effects.push(Effect::Analyze {
                generation: self.analysis_generation,
                pg_version: self.pg_version,
                pending,
            });
        }
        self.scroll_list_to_selection();
        self.refresh_preview_rows();
        effects.extend(self.wanted_highlight());
        effects
    }

    /// Keeps the selected row inside the list window.
    fn scroll_list_to_selection(&mut self) {
        let height = super::view::layout(self.size).list_height();
        let row = self.list_row_of(self.selected);
        if row < self.list_offset {
            self.list_offset = row;
        } else if height > 0 && row >= self.list_offset + height {
            self.list_offset = row + 1 - height;
        }
        let max_offset = self.list_rows().saturating_sub(height.max(1));
        self.list_offset = self.list_offset.min(max_offset);
    }

    /// Rebuilds the preview rows when the file, its analysis or the width changed.
    fn refresh_preview_rows(&mut self) {
        let Some(v) = self.selected_version() else {
            self.preview_rows.clear();
            self.preview_key = None;
            return;
        };
        let version = v.version;
        let Some(file) = self.preview_file() else {
            self.preview_rows.clear();
            self.preview_key = None;
            return;
        };
        let analysis = self.analysis(version, self.side).cloned();
        let width = super::view::layout(self.size).preview_text_width(&file.sql);
        let key = PreviewKey {
            version,
            side: self.side,
            checksum: file.checksum.clone(),
            analysed: analysis.is_some(),
            analyses_generation: self.analyses_generation,
            width,
        };
        if self.preview_key.as_ref() == Some(&key) {
            return;
        }
        let lines = file.sql.lines().count();
        self.preview_rows = build_rows(lines, analysis.as_deref(), width);
        self.preview_key = Some(key);
    }

    /// Scrolls the preview to the next (or previous) finding of the previewed file.
    fn jump_to_finding(&mut self, forward: bool) {
        let Some(v) = self.selected_version() else {
            return;
        };
        if self.analysis(v.version, self.side).is_none() {
            self.message = Some("the analysis is not ready yet".into());
            return;
        }
        let current = self.preview_scroll as usize + FINDING_CONTEXT;
        let rows = finding_rows(&self.preview_rows);
        let target = if forward {
            rows.iter().find(|&&r| r > current).or(rows.first())
        } else {
            rows.iter().rev().find(|&&r| r < current).or(rows.last())
        };
        match target {
            Some(&row) => {
                self.preview_scroll = row.saturating_sub(FINDING_CONTEXT) as u16;
                self.focus = Focus::Preview;
            }
            None => self.message = Some("no findings in this file".into()),
        }
    }

    /// Highlighting for the previewed file, unless done or under way.
    fn wanted_highlight(&mut self) -> Vec<Effect> {
        let Some(file) = self.preview_file() else {
            return Vec::new();
        };
        if self.highlighted.contains_key(&file.checksum)
            || self.pending_highlight.contains(&file.checksum)
        {
            return Vec::new();
        }
        let effect = Effect::Highlight {
            key: file.checksum.clone(),
            text: file.sql.clone(),
        };
        self.pending_highlight.push(file.checksum.clone());
        vec![effect]
    }

    /// Applies one event; returns what the loop must do.
    pub fn handle(&mut self, event: Event) -> Vec<Effect> {
        let mut effects = match event {
            Event::Key(key) => self.key(key),
            Event::Mouse(mouse) => self.mouse(mouse),
            Event::Resize(columns, rows) => {
                self.size = (columns, rows);
                Vec::new()
            }
            Event::Tick => Vec::new(),
            Event::Status(Ok((set, status))) => {
                let print = fingerprint(&set, &status);
                if print != self.analysis_fingerprint {
                    self.analysis_fingerprint = print;
                    self.analysis_generation += 1;
                }
                self.set = Arc::new(set);
                self.status = Some(status);
                self.status_error = None;
                self.refresh_visible();
                self.clamp();
                Vec::new()
            }
            Event::Analyzed { generation, files } => {
                if generation == self.analysis_generation {
                    if generation != self.analyses_generation {
                        self.analyses.clear();
                        self.analyses_generation = generation;
                    }
                    for file in files {
                        let side = if file.down { Side::Down } else { Side::Up };
                        self.analyses
                            .insert((file.version, side), Arc::new(file.analysis));
                    }
                }
                Vec::new()
            }
            Event::Blockers(found) => {
                if let Overlay::Confirm(confirm) = &mut self.overlay {
                    confirm.blockers = Some(found);
                }
                Vec::new()
            }
            Event::Monitor(state) => {
                self.inspect.update(state);
                Vec::new()
            }
            Event::Signalled {
                signal,
                pid,
                outcome,
            } => {
                self.inspect.signalled(signal, pid, outcome);
                Vec::new()
            }
            Event::LockSample(sample) => {
                if let Some(running) = self.running.as_mut() {
                    running.sample = Some(sample);
                }
                Vec::new()
            }
            Event::Status(Err(error)) => {
                self.status_error = Some(error);
                Vec::new()
            }
            Event::ServerVersion { version, num } => {
                self.server_version = Some(version);
                let major = crate::analysis::model::version_from_server_num(num);
                if num > 0 && major != self.pg_version {
                    self.pg_version = major;
                    self.analysis_generation += 1;
                }
                Vec::new()
            }
            Event::LockHolder(holder) => {
                self.lock_holder = holder;
                Vec::new()
            }
            Event::Pooling(pooling) => {
                self.pooling = Some(pooling);
                Vec::new()
            }
            Event::DraftAnalyzed {
                generation,
                findings,
            } => {
                if let Some(editor) = self.editor.as_mut() {
                    editor.analysed(generation, findings);
                }
                Vec::new()
            }
            Event::Highlighted { key, lines } => {
                self.pending_highlight.retain(|p| p != &key);
                self.highlighted.insert(key, lines);
                Vec::new()
            }
            Event::Run(event) => self.run_event(event),
            Event::Saved(Ok(paths)) => {
                self.editor = None;
                self.overlay = Overlay::None;
                let names: Vec<String> = paths
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                self.message = Some(format!("created {}", names.join(", ")));
                vec![Effect::RefreshStatus]
            }
            Event::Saved(Err(error)) => {
                if let Some(editor) = self.editor.as_mut() {
                    editor.error = Some(error);
                }
                Vec::new()
            }
            Event::Resolved(result) => {
                let (kind, text) = match result {
                    Ok(text) => (LogKind::Ok, text),
                    Err(error) => (LogKind::Error, error),
                };
                self.message = Some(first_line(&text));
                self.push_log(kind, text);
                vec![Effect::RefreshStatus]
            }
            Event::RunDone(result) => {
                self.running = None;
                match result {
                    Ok(summary) => {
                        self.push_log(LogKind::Ok, summary.clone());
                        self.message = Some(summary);
                    }
                    Err(error) => {
                        self.push_log(LogKind::Error, error.clone());
                        self.message = Some(first_line(&error));
                    }
                }
                vec![Effect::RefreshStatus]
            }
        };
        effects.extend(self.wanted());
        effects
    }

    fn clamp(&mut self) {
        let len = self.visible_len();
        if self.selected >= len {
            self.selected = len.saturating_sub(1);
        }
    }

    fn push_log(&mut self, kind: LogKind, text: String) {
        self.log.push(LogLine { kind, text });
        self.log_scroll = 0;
    }

    fn run_event(&mut self, event: RunEvent) -> Vec<Effect> {
        let Some(running) = self.running.as_mut() else {
            return Vec::new();
        };
        match event {
            RunEvent::Connected { backend_pid, .. } => running.backend_pid = Some(backend_pid),
            RunEvent::LockWaiting { holder, .. } => {
                let changed = running.waiting_on.as_ref() != Some(&holder);
                running.waiting_on = Some(holder.clone());
                if changed {
                    let who = holder
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another session".into());
                    self.push_log(
                        LogKind::Waiting,
                        format!("waiting for the migration lock held by {who}"),
                    );
                }
            }
            RunEvent::LockAcquired { backend_pid, .. } => {
                running.waiting_on = None;
                running.backend_pid = Some(backend_pid);
            }
            RunEvent::MigrationSkipped {
                version, reason, ..
            } => self.push_log(LogKind::Ok, format!("  skip {version}: {reason}")),
            RunEvent::MigrationStarted {
                version,
                description,
                direction,
                in_transaction,
                statements,
            } => {
                running.version = Some(version);
                running.done = 0;
                running.total = statements;
                let verb = direction.verb();
                let tx = if in_transaction {
                    "in a transaction"
                } else {
                    "no transaction"
                };
                self.push_log(
                    LogKind::Heading,
                    format!("{verb} {version} {description} ({tx}, {statements} statements)"),
                );
            }
            RunEvent::StatementStarted {
                index, line, text, ..
            } => {
                running.statement = Some((index, line, text, Instant::now()));
            }
            RunEvent::StatementFinished { index, elapsed, .. } => {
                let text = running.statement.take().map(|s| s.2).unwrap_or_default();
                running.done += 1;
                self.push_log(
                    LogKind::Statement,
                    format!(
                        "  {:>3}  {}  {}",
                        index + 1,
                        crate::format::one_line(&text, 60),
                        crate::format::human_duration(elapsed)
                    ),
                );
            }
            RunEvent::MigrationFinished {
                version, elapsed, ..
            } => {
                running.statement = None;
                self.push_log(
                    LogKind::Ok,
                    format!(
                        "  {version} done in {}",
                        crate::format::human_duration(elapsed)
                    ),
                );
            }
            RunEvent::MigrationFailed {
                version, failure, ..
            } => {
                running.statement = None;
                self.push_log(LogKind::Error, format!("  {version} failed at {failure}"));
                self.failure = Some((version, failure));
            }
            // The run pane shows the live lock samples instead.
            RunEvent::StatementWaiting { .. } => {}
            RunEvent::DataKept { .. } => {}
            RunEvent::Retrying {
                version,
                attempt,
                retries,
                delay,
                failure,
                ..
            } => {
                running.statement = None;
                running.done = 0;
                self.push_log(
                    LogKind::Waiting,
                    format!(
                        "  {version} gave up on a lock at {failure}; rolled back, retry {attempt} of {retries} in {}",
                        crate::format::human_duration(delay)
                    ),
                );
            }
            RunEvent::MigrationInterrupted { .. } => {
                running.statement = None;
                if let Some(stopped) = crate::runner::Stopped::from_event(&event) {
                    self.push_log(
                        LogKind::Error,
                        format!("  interrupted: {}", stopped.describe()),
                    );
                }
            }
        }
        Vec::new()
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return self.request_quit();
        }
        match self.overlay.clone() {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            Overlay::Confirm(confirm) => return self.confirm_key(*confirm, key),
            Overlay::ConfirmCancel => {
                self.overlay = Overlay::None;
                if key.code == KeyCode::Char('y') && self.running.is_some() {
                    self.push_log(
                        LogKind::Info,
                        "interrupting the run: the running statement is cancelled, its transaction rolls back, nothing new starts".into(),
                    );
                    return vec![Effect::CancelRun];
                }
                return Vec::new();
            }
            Overlay::ConfirmQuit => {
                self.overlay = Overlay::None;
                if key.code == KeyCode::Char('y') {
                    let mut effects = Vec::new();
                    if self.running.is_some() {
                        effects.push(Effect::CancelRun);
                    }
                    effects.push(Effect::Quit);
                    return effects;
                }
                return Vec::new();
            }
            Overlay::Filter => {
                match key.code {
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.filter_input = None;
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Enter => {
                        self.filter_input = None;
                        self.overlay = Overlay::None;
                    }
                    _ => {
                        let input = self.filter_input.get_or_insert_with(TextArea::default);
                        input.input(key);
                        self.filter = input.lines().concat();
                    }
                }
                self.selected = 0;
                self.refresh_visible();
                return Vec::new();
            }
            Overlay::Command(mut line) => {
                match key.code {
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Enter => {
                        self.overlay = Overlay::None;
                        return self.command(&line);
                    }
                    KeyCode::Backspace => {
                        line.pop();
                        self.overlay = Overlay::Command(line);
                    }
                    KeyCode::Char(c) => {
                        line.push(c);
                        self.overlay = Overlay::Command(line);
                    }
                    _ => {}
                }
                return Vec::new();
            }
            Overlay::NewMigration => {
                let Some(editor) = self.editor.as_mut() else {
                    self.overlay = Overlay::None;
                    return Vec::new();
                };
                return match editor.key(key) {
                    EditorOutcome::Editing => Vec::new(),
                    EditorOutcome::Changed => vec![Effect::AnalyzeDraft {
                        draft: editor.draft(),
                        pg_version: self.pg_version,
                    }],
                    EditorOutcome::Cancelled => {
                        self.editor = None;
                        self.overlay = Overlay::None;
                        self.message = Some("new migration discarded".into());
                        Vec::new()
                    }
                    EditorOutcome::Save {
                        description,
                        up,
                        down,
                    } => {
                        vec![Effect::SaveMigration {
                            description,
                            up,
                            down,
                        }]
                    }
                };
            }
            Overlay::Resolve(dialog) => {
                self.overlay = Overlay::None;
                match dialog.key(key) {
                    ResolveStep::Open(dialog) => self.overlay = Overlay::Resolve(Box::new(dialog)),
                    ResolveStep::Cancelled => self.message = Some("cancelled".into()),
                    ResolveStep::Resolve(version, resolution) => {
                        return vec![Effect::Resolve {
                            version,
                            resolution,
                        }];
                    }
                }
                return Vec::new();
            }
            Overlay::None => {}
        }
        if self.focus == Focus::Inspect || self.inspect.has_overlay() {
            match self.inspect.key(key) {
                InspectAction::Ignored => {}
                InspectAction::Handled => return Vec::new(),
                InspectAction::Signal { signal, pid } => {
                    if self.read_only {
                        return self.say(format!("read-only: cannot {} sessions", signal.verb()));
                    }
                    return vec![Effect::Signal { signal, pid }];
                }
                InspectAction::Pause(paused) => return vec![Effect::PauseMonitor(paused)],
                InspectAction::RefreshNow => return vec![Effect::RefreshMonitor],
            }
        }
        match key.code {
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Overlay::Help,
            KeyCode::Char('/') => {
                let mut input = TextArea::new(vec![self.filter.clone()]);
                input.move_cursor(ratatui_textarea::CursorMove::End);
                input.set_cursor_line_style(ratatui::style::Style::default());
                self.filter_input = Some(input);
                self.overlay = Overlay::Filter;
            }
            KeyCode::Char(':') => self.overlay = Overlay::Command(String::new()),
            KeyCode::Tab => self.focus = next_focus(self.focus, self.bottom_focus(), true),
            KeyCode::BackTab => self.focus = next_focus(self.focus, self.bottom_focus(), false),
            KeyCode::Char('1') => self.focus = Focus::Migrations,
            KeyCode::Char('2') => self.focus = Focus::Preview,
            KeyCode::Char('3') => {
                self.bottom_inspect = false;
                self.focus = Focus::Run;
            }
            KeyCode::Char('4') => self.show_inspect(Tab::Sizes),
            KeyCode::Char('5') => self.show_inspect(Tab::Locks),
            KeyCode::Char('6') => self.show_inspect(Tab::Activity),
            KeyCode::Char(']') => self.jump_to_finding(true),
            KeyCode::Char('[') => self.jump_to_finding(false),
            KeyCode::Char('u') => self.set_side(Side::Up),
            KeyCode::Char('d') => self.set_side(Side::Down),
            KeyCode::Char('c') => {
                if self
                    .running
                    .as_ref()
                    .is_some_and(|r| r.backend_pid.is_some())
                {
                    self.overlay = Overlay::ConfirmCancel;
                } else {
                    self.message = Some("nothing is running".into());
                }
            }
            KeyCode::Char('R') => return vec![Effect::RefreshStatus],
            KeyCode::Char('a') => return self.propose_selected(Direction::Apply),
            KeyCode::Char('b') => return self.propose_selected(Direction::Revert),
            KeyCode::Char('A') => return self.propose(Operation::Up { to: None }),
            KeyCode::Char('B') => return self.propose(Operation::DownSteps { steps: 1 }),
            KeyCode::Char('r') => return self.propose(Operation::Redo),
            KeyCode::Char('m') => return self.propose_resolve(),
            KeyCode::Char('n') => {
                if self.read_only {
                    return self.say("read-only: creating migrations is disabled".into());
                }
                let mut editor = Editor::new();
                let draft = editor.draft();
                self.editor = Some(editor);
                self.overlay = Overlay::NewMigration;
                return vec![Effect::AnalyzeDraft {
                    draft,
                    pg_version: self.pg_version,
                }];
            }
            _ => self.navigate(key.code),
        }
        Vec::new()
    }

    fn navigate(&mut self, code: KeyCode) {
        match self.focus {
            Focus::Migrations => {
                let len = self.visible_len();
                let before = self.selected;
                match code {
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.selected = (self.selected + 1).min(len.saturating_sub(1))
                    }
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.selected = self.selected.saturating_sub(1)
                    }
                    KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
                    KeyCode::End | KeyCode::Char('G') => self.selected = len.saturating_sub(1),
                    KeyCode::PageDown => {
                        self.selected = (self.selected + 10).min(len.saturating_sub(1))
                    }
                    KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
                    _ => {}
                }
                if before != self.selected {
                    self.preview_scroll = 0;
                }
            }
            Focus::Preview => match code {
                KeyCode::Down | KeyCode::Char('j') => {
                    let last = self.preview_rows.len().saturating_sub(1) as u16;
                    self.preview_scroll = self.preview_scroll.saturating_add(1).min(last)
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.preview_scroll = self.preview_scroll.saturating_sub(1)
                }
                KeyCode::PageDown => {
                    let last = self.preview_rows.len().saturating_sub(1) as u16;
                    self.preview_scroll = self.preview_scroll.saturating_add(20).min(last)
                }
                KeyCode::End | KeyCode::Char('G') => {
                    let height = super::view::layout(self.size).preview_height();
                    self.preview_scroll =
                        self.preview_rows.len().saturating_sub(height.max(1)) as u16
                }
                KeyCode::PageUp => self.preview_scroll = self.preview_scroll.saturating_sub(20),
                KeyCode::Home | KeyCode::Char('g') => self.preview_scroll = 0,
                _ => {}
            },
            Focus::Inspect => {}
            Focus::Run => match code {
                KeyCode::Up | KeyCode::Char('k') => {
                    self.log_scroll = self.log_scroll.saturating_add(1)
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    self.log_scroll = self.log_scroll.saturating_sub(1)
                }
                _ => {}
            },
        }
    }

    fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if self.overlay != Overlay::None {
            return Vec::new();
        }
        let areas = super::view::layout(self.size);
        let at = ratatui::layout::Position::new(mouse.column, mouse.row);
        let under = [
            (areas.migrations, Focus::Migrations),
            (areas.preview, Focus::Preview),
            (areas.run, self.bottom_focus()),
        ]
        .into_iter()
        .find(|(rect, _)| rect.contains(at));
        let Some((rect, pane)) = under else {
            return Vec::new();
        };
        match mouse.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                // The wheel scrolls the pane under the pointer, without moving the focus.
                let code = if mouse.kind == MouseEventKind::ScrollDown {
                    KeyCode::Down
                } else {
                    KeyCode::Up
                };
                if pane == Focus::Inspect {
                    self.inspect.key(KeyEvent::new(code, KeyModifiers::NONE));
                } else {
                    let focus = std::mem::replace(&mut self.focus, pane);
                    self.navigate(code);
                    self.focus = focus;
                }
            }
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                self.focus = pane;
                let inside = mouse.row.checked_sub(rect.y + 1).map(usize::from);
                if pane == Focus::Migrations
                    && let Some(row) = inside
                    && row < areas.list_height()
                    && let Some(i) = self.version_at_row(self.list_offset + row)
                    && i != self.selected
                {
                    self.selected = i;
                    self.preview_scroll = 0;
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn show_inspect(&mut self, tab: Tab) {
        self.inspect.set_tab(tab);
        self.bottom_inspect = true;
        self.focus = Focus::Inspect;
    }

    /// Whether the bottom-right pane shows the inspection panes (else the run pane).
    pub fn shows_inspect(&self) -> bool {
        self.bottom_inspect
    }

    /// The focus of the bottom-right pane, whichever it shows.
    fn bottom_focus(&self) -> Focus {
        if self.bottom_inspect {
            Focus::Inspect
        } else {
            Focus::Run
        }
    }

    fn set_side(&mut self, side: Side) {
        self.side = side;
        self.preview_scroll = 0;
    }

    fn request_quit(&mut self) -> Vec<Effect> {
        if self.running.is_some() {
            self.overlay = Overlay::ConfirmQuit;
            Vec::new()
        } else {
            vec![Effect::Quit]
        }
    }

    fn command(&mut self, line: &str) -> Vec<Effect> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let operation = match words.as_slice() {
            ["up"] => Operation::Up { to: None },
            ["up", v] | ["to", v] => match v.parse() {
                Ok(to) => Operation::Up { to: Some(to) },
                Err(_) => return self.say(format!("not a version: {v}")),
            },
            ["down"] => Operation::DownSteps { steps: 1 },
            ["down", n] => match n.parse() {
                Ok(steps) => Operation::DownSteps { steps },
                Err(_) => return self.say(format!("not a number: {n}")),
            },
            ["down-to", v] => match v.parse() {
                Ok(to) => Operation::DownTo { to },
                Err(_) => return self.say(format!("not a version: {v}")),
            },
            ["redo"] => Operation::Redo,
            ["q"] | ["quit"] => return self.request_quit(),
            _ => {
                return self.say(format!(
                    "unknown command `:{line}` (try :up, :down 2, :to V, :redo)"
                ));
            }
        };
        self.propose(operation)
    }

    fn say(&mut self, message: String) -> Vec<Effect> {
        self.message = Some(message);
        Vec::new()
    }

    fn propose_selected(&mut self, direction: Direction) -> Vec<Effect> {
        let Some(selected) = self.selected_version() else {
            return Vec::new();
        };
        let version = selected.version;
        let operation = match direction {
            Direction::Apply => Operation::Up { to: Some(version) },
            Direction::Revert => {
                let before = self
                    .status
                    .as_ref()
                    .and_then(|s| {
                        s.recorded()
                            .map(|v| v.version)
                            .filter(|v| *v < version)
                            .max()
                    })
                    .unwrap_or(0);
                Operation::DownTo { to: before }
            }
        };
        self.propose(operation)
    }

    /// Opens the resolve dialog for the selected migration, or says why not.
    fn propose_resolve(&mut self) -> Vec<Effect> {
        if self.read_only {
            return self.say("read-only: resolving is disabled".into());
        }
        if self.running.is_some() {
            return self.say("a migration is running; wait for it or cancel it with c".into());
        }
        let Some(v) = self.selected_version() else {
            return Vec::new();
        };
        match ResolveDialog::open(v) {
            Some(dialog) => self.overlay = Overlay::Resolve(Box::new(dialog)),
            None => {
                let message = format!(
                    "m resolves a partially applied migration; {} is {}",
                    v.version,
                    v.label()
                );
                return self.say(message);
            }
        }
        Vec::new()
    }

    /// Opens the confirmation for `operation`, or says why it cannot run.
    fn propose(&mut self, operation: Operation) -> Vec<Effect> {
        if self.read_only {
            return self.say("read-only: applying and reverting are disabled".into());
        }
        if self.running.is_some() {
            return self.say("a migration is running; wait for it or cancel it with c".into());
        }
        let Some(status) = &self.status else {
            return self.say("the status is not loaded yet".into());
        };
        let plan = match plan(operation, &self.set, status, false) {
            Ok(plan) => plan,
            Err(e) => return self.say(first_line(&e.to_string())),
        };
        if plan.is_empty() {
            return self.say("nothing to do".into());
        }
        let mut lines = Vec::new();
        for step in &plan.steps {
            let verb = step.direction.verb();
            lines.push(format!(
                "{verb} {} {} — {}, {} statements",
                step.version,
                step.description,
                if step.in_transaction {
                    "in one transaction"
                } else {
                    "NO TRANSACTION"
                },
                step.statements.len()
            ));
            for statement in &step.statements {
                lines.push(format!(
                    "    {}",
                    crate::format::one_line(&statement.text, 70)
                ));
            }
            lines.push(match step.direction {
                Direction::Apply => format!(
                    "    + INSERT INTO history ({}, success = TRUE)",
                    step.version
                ),
                Direction::Revert => {
                    format!("    + DELETE FROM history WHERE version = {}", step.version)
                }
            });
        }
        let (findings, errors, tables) = self.plan_findings(&plan.steps);
        lines.extend(findings);
        let last = plan.steps.last().map(|s| s.version).unwrap_or_default();
        let title = match operation {
            Operation::Up { .. } => {
                format!("Apply {} migration(s) through {last}?", plan.steps.len())
            }
            Operation::DownSteps { .. } | Operation::DownTo { .. } => {
                format!("Revert {} migration(s) down to {last}?", plan.steps.len())
            }
            Operation::Redo => format!("Redo {last} (revert, then apply)?"),
        };
        let challenge_reason = match (errors, self.remote) {
            (0, false) => None,
            (0, true) => Some("this database is not the sandbox or on this machine".to_string()),
            (n, _) => Some(format!("the plan has {n} error-level finding(s)")),
        };
        self.confirm_scroll = 0;
        self.overlay = Overlay::Confirm(Box::new(Confirm {
            operation,
            title,
            expected: plan.signature(),
            lines,
            challenge: challenge_reason.as_ref().map(|_| last.to_string()),
            challenge_reason,
            blockers: None,
            tables: tables.clone(),
            typed: String::new(),
            on_confirm: false,
        }));
        if tables.is_empty() {
            return Vec::new();
        }
        vec![Effect::FindBlockers { tables }]
    }

    /// The findings of the files a plan runs, as dialog lines; how many are errors; and the
    /// existing tables the plan locks.
    fn plan_findings(&self, steps: &[crate::runner::Step]) -> (Vec<String>, usize, Vec<String>) {
        let mut lines = Vec::new();
        let mut errors = 0;
        let mut tables: Vec<String> = Vec::new();
        let mut missing = 0;
        for step in steps {
            let side = match step.direction {
                Direction::Apply => Side::Up,
                Direction::Revert => Side::Down,
            };
            let Some(analysis) = self.analysis(step.version, side) else {
                missing += 1;
                continue;
            };
            for statement in &analysis.statements {
                for lock in statement.locks.iter().filter(|l| !l.new_relation) {
                    if !tables.contains(&lock.relation) {
                        tables.push(lock.relation.clone());
                    }
                }
            }
            for f in &analysis.findings {
                if f.severity == Severity::Error {
                    errors += 1;
                }
                lines.push(format!(
                    "  {} {} line {}: [{}] {}",
                    super::preview::glyph(f.severity),
                    step.version,
                    f.start.line,
                    f.rule,
                    crate::format::one_line(&f.message, 90)
                ));
            }
        }
        let mut out = vec![String::new()];
        out.push(match (lines.len(), missing) {
            (0, 0) => "Findings: none".to_string(),
            (n, 0) => format!("Findings: {n} ({errors} error-level)"),
            (n, m) => {
                format!("Findings: {n} ({errors} error-level); {m} file(s) still being analysed")
            }
        });
        out.extend(lines);
        (out, errors, tables)
    }

    fn confirm_key(&mut self, mut confirm: Confirm, key: KeyEvent) -> Vec<Effect> {
        let accept = |app: &mut App, confirm: Confirm| {
            app.overlay = Overlay::None;
            app.failure = None;
            app.running = Some(Running {
                operation: confirm.operation,
                started: Instant::now(),
                backend_pid: None,
                version: None,
                statement: None,
                done: 0,
                total: 0,
                waiting_on: None,
                sample: None,
            });
            app.focus = Focus::Run;
            app.bottom_inspect = false;
            vec![Effect::Run {
                operation: confirm.operation,
                expected: confirm.expected,
            }]
        };
        match (&confirm.challenge, key.code) {
            (_, KeyCode::Down) | (None, KeyCode::Char('j')) => {
                self.confirm_scroll = self.confirm_scroll.saturating_add(1)
            }
            (_, KeyCode::Up) | (None, KeyCode::Char('k')) => {
                self.confirm_scroll = self.confirm_scroll.saturating_sub(1)
            }
            (_, KeyCode::PageDown) => self.confirm_scroll = self.confirm_scroll.saturating_add(10),
            (_, KeyCode::PageUp) => self.confirm_scroll = self.confirm_scroll.saturating_sub(10),
            (_, KeyCode::Esc) => {
                self.overlay = Overlay::None;
                self.message = Some("cancelled".into());
                return Vec::new();
            }
            (Some(challenge), KeyCode::Enter) => {
                if &confirm.typed == challenge {
                    return accept(self, confirm);
                }
                self.message = Some(format!("type {challenge} and press Enter to confirm"));
            }
            (Some(_), KeyCode::Backspace) => {
                confirm.typed.pop();
            }
            (Some(_), KeyCode::Char(c)) => confirm.typed.push(c),
            (None, KeyCode::Char('y')) => return accept(self, confirm),
            (None, KeyCode::Char('n')) => {
                self.overlay = Overlay::None;
                self.message = Some("cancelled".into());
                return Vec::new();
            }
            (None, KeyCode::Left | KeyCode::Right | KeyCode::Tab) => {
                confirm.on_confirm = !confirm.on_confirm
            }
            (None, KeyCode::Enter) => {
                if confirm.on_confirm {
                    return accept(self, confirm);
                }
                self.overlay = Overlay::None;
                self.message = Some("cancelled".into());
                return Vec::new();
            }
            _ => {}
        }
        self.overlay = Overlay::Confirm(Box::new(confirm));
        Vec::new()
    }
}

/// Lines of source shown above a finding the preview jumps to.
const FINDING_CONTEXT: usize = 2;

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

fn next_focus(focus: Focus, bottom: Focus, forward: bool) -> Focus {
    let order = [Focus::Migrations, Focus::Preview, bottom];
    let i = order.iter().position(|f| *f == focus).unwrap_or(0);
    let next = if forward { (i + 1) % 3 } else { (i + 2) % 3 };
    order[next]
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
