//! The dashboard's state and how every event changes it. Pure: no terminal, no database. Side
//! effects are returned as [`Effect`]s for the event loop to carry out.

use std::collections::HashMap;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::text::Line;

use super::editor::{Editor, EditorOutcome};
use crate::runner::{Direction, Failure, LockHolder, Operation, RunEvent, plan};
use crate::source::MigrationSet;
use crate::status::{Status, VersionStatus};

/// Everything that reaches the UI loop, through one channel.
#[derive(Debug)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal was resized.
    Resize,
    /// Time passed (live timers).
    Tick,
    /// Freshly read files and status (or why reading failed).
    Status(Result<(MigrationSet, Status), String>),
    /// The server's version, once connected.
    ServerVersion(String),
    /// Who holds the migration advisory lock, polled.
    LockHolder(Option<LockHolder>),
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
    /// New migration files were written (or why not).
    Saved(Result<Vec<std::path::PathBuf>, String>),
}

/// A side effect for the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read the status again.
    RefreshStatus,
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
    /// Cancel the running statement (`pg_cancel_backend`).
    Cancel {
        /// The migration session's backend pid.
        pid: i32,
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
}

/// Which file the preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The migration files.
    pub set: MigrationSet,
    /// The latest status.
    pub status: Option<Status>,
    /// The latest status error (shown in the status bar; the loop retries).
    pub status_error: Option<String>,
    /// Who holds the migration lock.
    pub lock_holder: Option<LockHolder>,
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
            set,
            status: None,
            status_error: None,
            lock_holder: None,
            selected: 0,
            focus: Focus::Migrations,
            side: Side::Up,
            preview_scroll: 0,
            overlay: Overlay::None,
            filter: String::new(),
            highlighted: HashMap::new(),
            pending_highlight: Vec::new(),
            running: None,
            log: Vec::new(),
            failure: None,
            message: None,
            log_scroll: 0,
            editor: None,
        }
    }

    /// The versions shown, after the filter.
    pub fn visible(&self) -> Vec<&VersionStatus> {
        let Some(status) = &self.status else {
            return Vec::new();
        };
        let filter = self.filter.to_lowercase();
        status
            .versions
            .iter()
            .filter(|v| {
                filter.is_empty()
                    || v.description.to_lowercase().contains(&filter)
                    || v.version.to_string().contains(&filter)
            })
            .collect()
    }

    /// The selected version.
    pub fn selected_version(&self) -> Option<&VersionStatus> {
        self.visible().get(self.selected).copied()
    }

    /// The file the preview shows, with its text.
    pub fn preview_file(&self) -> Option<&crate::source::MigrationFile> {
        let migration = self.selected_version()?.migration.as_ref()?;
        match self.side {
            Side::Up => Some(&migration.up),
            Side::Down => migration.down.as_ref(),
        }
    }

    /// Effects needed for what is on screen now (highlighting the previewed file).
    pub fn wanted(&mut self) -> Vec<Effect> {
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
            Event::Resize | Event::Tick => Vec::new(),
            Event::Status(Ok((set, status))) => {
                self.set = set;
                self.status = Some(status);
                self.status_error = None;
                self.clamp();
                Vec::new()
            }
            Event::Status(Err(error)) => {
                self.status_error = Some(error);
                Vec::new()
            }
            Event::ServerVersion(version) => {
                self.server_version = Some(version);
                Vec::new()
            }
            Event::LockHolder(holder) => {
                self.lock_holder = holder;
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
        let len = self.visible().len();
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
            RunEvent::LockAcquired { .. } => running.waiting_on = None,
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
                if key.code == KeyCode::Char('y')
                    && let Some(pid) = self.running.as_ref().and_then(|r| r.backend_pid)
                {
                    self.push_log(
                        LogKind::Info,
                        format!("cancelling the running statement (pid {pid})"),
                    );
                    return vec![Effect::Cancel { pid }];
                }
                return Vec::new();
            }
            Overlay::ConfirmQuit => {
                self.overlay = Overlay::None;
                if key.code == KeyCode::Char('y') {
                    let mut effects = Vec::new();
                    if let Some(pid) = self.running.as_ref().and_then(|r| r.backend_pid) {
                        effects.push(Effect::Cancel { pid });
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
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Enter => self.overlay = Overlay::None,
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) => self.filter.push(c),
                    _ => {}
                }
                self.selected = 0;
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
            Overlay::None => {}
        }
        match key.code {
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Overlay::Help,
            KeyCode::Char('/') => self.overlay = Overlay::Filter,
            KeyCode::Char(':') => self.overlay = Overlay::Command(String::new()),
            KeyCode::Tab => self.focus = next_focus(self.focus, true),
            KeyCode::BackTab => self.focus = next_focus(self.focus, false),
            KeyCode::Char('1') => self.focus = Focus::Migrations,
            KeyCode::Char('2') => self.focus = Focus::Preview,
            KeyCode::Char('3') => self.focus = Focus::Run,
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
            KeyCode::Char('n') => {
                if self.read_only {
                    return self.say("read-only: creating migrations is disabled".into());
                }
                self.editor = Some(Editor::new());
                self.overlay = Overlay::NewMigration;
            }
            _ => self.navigate(key.code),
        }
        Vec::new()
    }

    fn navigate(&mut self, code: KeyCode) {
        match self.focus {
            Focus::Migrations => {
                let len = self.visible().len();
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
                    self.preview_scroll = self.preview_scroll.saturating_add(1)
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.preview_scroll = self.preview_scroll.saturating_sub(1)
                }
                KeyCode::PageDown => self.preview_scroll = self.preview_scroll.saturating_add(20),
                KeyCode::PageUp => self.preview_scroll = self.preview_scroll.saturating_sub(20),
                KeyCode::Home | KeyCode::Char('g') => self.preview_scroll = 0,
                _ => {}
            },
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
        match mouse.kind {
            MouseEventKind::ScrollDown => self.navigate(KeyCode::Down),
            MouseEventKind::ScrollUp => self.navigate(KeyCode::Up),
            _ => {}
        }
        Vec::new()
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
        self.overlay = Overlay::Confirm(Box::new(Confirm {
            operation,
            title,
            expected: plan.signature(),
            lines,
            challenge: self.remote.then(|| last.to_string()),
            typed: String::new(),
            on_confirm: false,
        }));
        Vec::new()
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
            });
            app.focus = Focus::Run;
            vec![Effect::Run {
                operation: confirm.operation,
                expected: confirm.expected,
            }]
        };
        match (&confirm.challenge, key.code) {
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

fn next_focus(focus: Focus, forward: bool) -> Focus {
    let order = [Focus::Migrations, Focus::Preview, Focus::Run];
    let i = order.iter().position(|f| *f == focus).unwrap_or(0);
    let next = if forward { (i + 1) % 3 } else { (i + 2) % 3 };
    order[next]
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
