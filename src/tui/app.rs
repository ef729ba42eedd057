//! The dashboard's state and how every event changes it: a pure reducer. No terminal, no
//! database, no clock — the time comes in with each event. Side effects go back to the loop as
//! [`Effect`]s.
//!
//! [`App`] holds what the components share ([`Data`]) and routes each event to the component it
//! is for: the overlay on top (a typed [`Overlay`] holding its component's state), else the
//! focused pane, else the keys that work everywhere.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

pub use super::data::Side;
pub use super::event::{Effect, Event};
pub use super::layout::Pane;

use super::command::{self, Command, CommandAction, CommandLine};
use super::confirm::{ConfirmAction, PlanConfirm};
use super::data::Data;
use super::editor::{Editor, EditorOutcome};
use super::filter::{Filter, FilterAction};
use super::fix::{FixAction, FixDialog};
use super::health::{HealthAction, HealthView};
use super::help::Help;
use super::history::HistoryPane;
use super::inspect::{Inspect, InspectAction, Tab};
use super::keys::{self, Nav};
use super::layout::{Areas, Shape};
use super::list::{ListAction, MigrationList};
use super::preview::{Preview, PreviewAction};
use super::question::Question;
use super::rehearsal::RehearsalEnd;
use super::resolve::{ResolveDialog, ResolveStep};
use super::run::{RunNews, RunPane};
use crate::runner::text::LogKind;
use crate::runner::{Direction, Operation, plan};
use crate::source::MigrationSet;
use crate::status::{State, VersionStatus};

/// What the bottom pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottom {
    /// The run pane.
    Run,
    /// Sizes, Locks, Activity.
    Inspect,
    /// Past runs from the audit trail.
    History,
}

/// What is on top of the panes, with its state.
#[derive(Debug, Clone, Default)]
pub enum Overlay {
    /// Nothing.
    #[default]
    None,
    /// The key help.
    Help(Help),
    /// A plan's confirmation.
    Confirm(Box<PlanConfirm>),
    /// A yes/no question.
    Question(Question),
    /// The `/` filter line.
    Filter(Box<Filter>),
    /// The `:` command line.
    Command(CommandLine),
    /// The new-migration editor.
    Editor(Box<Editor>),
    /// Resolving a partially applied migration.
    Resolve(Box<ResolveDialog>),
    /// A fix's diff, before writing it.
    Fix(Box<FixDialog>),
    /// The health check's report (`H`).
    Health(Box<HealthView>),
}

impl Overlay {
    /// Whether nothing is on top.
    pub fn is_none(&self) -> bool {
        matches!(self, Overlay::None)
    }
}

/// The dashboard's state.
pub struct App {
    /// What the components share.
    pub data: Data,
    /// The migrations list.
    pub list: MigrationList,
    /// The preview.
    pub preview: Preview,
    /// The run pane.
    pub run: RunPane,
    /// The Sizes, Locks and Activity panes.
    pub inspect: Inspect,
    /// The History pane.
    pub history: HistoryPane,
    /// What is on top.
    pub overlay: Overlay,
    /// The focused pane.
    pub focus: Pane,
    /// What the bottom pane shows.
    pub bottom: Bottom,
    /// A message for the status bar.
    pub message: Option<String>,
    /// The terminal's size (columns, rows).
    pub size: (u16, u16),
    /// The time of the latest event.
    pub now: Instant,
}

impl App {
    /// A dashboard over `set` on the database shown as `database`, at `now`.
    pub fn new(
        set: MigrationSet,
        database: String,
        sandbox: bool,
        remote: bool,
        read_only: bool,
        now: Instant,
    ) -> App {
        let mut data = Data::new(set, database, sandbox, remote);
        data.read_only = read_only;
        App {
            data,
            list: MigrationList::default(),
            preview: Preview::default(),
            run: RunPane::default(),
            inspect: Inspect::new(),
            history: HistoryPane::default(),
            overlay: Overlay::None,
            focus: Pane::Migrations,
            bottom: Bottom::Run,
            message: None,
            size: (120, 40),
            now,
        }
    }

    /// Runs with `options`: the confirmation shows the SQL such a run sends (its session's
    /// timeouts; under `--pooled`, each transaction's `SET LOCAL`s and lock).
    pub fn with_run_options(mut self, options: &crate::runner::RunOptions) -> App {
        self.data.table = options.table.clone();
        self.data.run_options = Some(options.clone());
        self
    }

    /// Runs in `environment`: its name in the status bar (red when production-like), its
    /// snapshot, data copies and confirmation policy around every run; a read-only one opens the
    /// dashboard read-only.
    pub fn with_environment(mut self, environment: crate::guard::Environment) -> App {
        self.data.read_only |= environment.read_only;
        self.data.environment = Some(environment);
        self
    }

    /// Applies the project's rule configuration to the findings shown (as `lockstep lint`
    /// does), analyses for its `pg-version` until the server says, and says when it comes from
    /// `.squawk.toml`.
    pub fn with_lint(mut self, lint: &crate::config::LintConfig) -> App {
        self.data.lint_policy = lint.policy.clone();
        if let Some(version) = lint.pg_version {
            self.data.pg_version = version;
        }
        if let Some(note) = lint.squawk_note() {
            self.message = Some(note);
        }
        self
    }

    /// Where everything goes now.
    pub fn areas(&self) -> Areas {
        Areas::new(
            self.size,
            Shape {
                status_rows: super::status_bar::rows(
                    &self.data,
                    self.message.as_deref(),
                    self.size.0,
                ),
                running: self.run.running().is_some(),
                idle: self.bottom == Bottom::Run && self.run.is_idle(),
                list_min: super::list::min_width(self.data.status.as_ref()),
                list_wanted: super::list::wanted_width(&self.data),
            },
        )
    }

    /// The selected version.
    pub fn selected_version(&self) -> Option<&VersionStatus> {
        self.list.selected(self.data.status.as_ref())
    }

    /// The versions shown, after the filter.
    pub fn visible(&self) -> Vec<&VersionStatus> {
        self.list.visible(self.data.status.as_ref())
    }

    /// Applies one event that happened at `now`; returns what the loop must do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        self.now = now;
        let mut effects = match event {
            Event::Key(key) => self.key(key),
            Event::Mouse(mouse) => self.mouse(mouse),
            Event::Resize(columns, rows) => {
                self.size = (columns, rows);
                match &mut self.overlay {
                    Overlay::Confirm(confirm) => confirm.resize(self.size),
                    Overlay::Fix(fix) => fix.resize(self.size),
                    Overlay::Health(health) => health.resize(self.size),
                    _ => {}
                }
                Vec::new()
            }
            Event::Tick => Vec::new(),
            Event::Status(Ok((set, status))) => {
                self.data.set_status(set, status);
                self.list.refresh(self.data.status.as_ref());
                Vec::new()
            }
            Event::Status(Err(error)) => {
                self.data.status_error = Some(error);
                Vec::new()
            }
            Event::Applied(applied) => {
                if applied.error.is_some() && applied.error != self.data.applied.error {
                    self.message = applied
                        .error
                        .as_deref()
                        .map(|error| format!("who applied each version is not known: {error}"));
                }
                self.data.set_applied(applied);
                Vec::new()
            }
            Event::ServerVersion {
                database,
                version,
                num,
            } => {
                self.data.server_version = Some(version);
                self.data.database_name = Some(database);
                let major = crate::analysis::model::version_from_server_num(num);
                if num > 0 && major != self.data.pg_version {
                    self.data.pg_version = major;
                    self.data.analyses.invalidate();
                }
                Vec::new()
            }
            Event::Analyzed { generation, files } => {
                self.data.store_analyses(generation, files);
                if self.message.as_deref() == Some(super::preview::ANALYSIS_NOT_READY) {
                    self.message = None;
                }
                Vec::new()
            }
            Event::Guarded(prepared) => {
                if let Overlay::Confirm(confirm) = &mut self.overlay {
                    confirm.guarded(prepared);
                }
                Vec::new()
            }
            Event::RunNote(text) => {
                self.run.say(LogKind::Info, &text);
                Vec::new()
            }
            Event::Health(checked) => {
                self.message = Some(match &checked {
                    Ok(report) if report.needs_action() => format!(
                        "health check: {} need action",
                        crate::runner::text::count(report.items.len(), "item", "items")
                    ),
                    Ok(_) => "health check: nothing needs action".to_string(),
                    Err(error) => format!("the health check could not run: {}", first_line(error)),
                });
                if let Overlay::Health(health) = &mut self.overlay {
                    health.checked(checked);
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
                if let Some(sizes) = state.snapshot.as_ref().and_then(|s| s.sizes.as_ref()) {
                    self.data.sizes = sizes.clone();
                }
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
                self.run.sample(sample);
                Vec::new()
            }
            Event::LockHolder(holder) => {
                self.data.lock_holder = holder;
                Vec::new()
            }
            Event::Pooling(pooling) => {
                self.data.pooling = Some(pooling);
                Vec::new()
            }
            Event::DraftAnalyzed {
                generation,
                findings,
            } => {
                if let Overlay::Editor(editor) = &mut self.overlay {
                    editor.analysed(generation, findings);
                }
                Vec::new()
            }
            Event::Highlighted { key, lines } => {
                let for_editor = match &mut self.overlay {
                    Overlay::Editor(editor) => editor.highlighted(&key, &lines),
                    _ => false,
                };
                if !for_editor {
                    self.data.highlighting.retain(|p| p != &key);
                    self.data.highlighted.insert(key, lines);
                }
                Vec::new()
            }
            Event::Run(event) => self.run_event(event),
            Event::RunDone(result) => {
                self.message = Some(first_line(match &result {
                    Ok(text) | Err(text) => text,
                }));
                self.run.done(&result);
                let mut effects = vec![Effect::RefreshStatus];
                if self.bottom == Bottom::History {
                    effects.push(self.load_history());
                }
                effects
            }
            Event::History(history) => {
                self.history.loaded(history);
                Vec::new()
            }
            Event::HealthChecked(words) => {
                self.run.say(LogKind::Waiting, words.trim_end());
                Vec::new()
            }
            Event::Resolved(result) => {
                let (kind, text) = match &result {
                    Ok(text) => (LogKind::Done, text),
                    Err(error) => (LogKind::Error, error),
                };
                self.message = Some(first_line(text));
                self.run.say(kind, text);
                vec![Effect::RefreshStatus]
            }
            Event::Rehearsal(event) => {
                if let Some(rehearsal) = self.run.rehearsal_event(&event, self.now) {
                    self.data.rehearsals.store(rehearsal);
                }
                Vec::new()
            }
            Event::RehearsalDone(end) => {
                if let RehearsalEnd::Done(report) = &end {
                    self.data.rehearsals.finished(report);
                }
                self.message = Some(self.run.rehearsal_done(&end));
                Vec::new()
            }
            Event::Saved(Ok(paths)) => {
                self.overlay = Overlay::None;
                self.message = Some(format!("created {}", file_names(&paths)));
                vec![Effect::RefreshStatus]
            }
            Event::Saved(Err(error)) => {
                if let Overlay::Editor(editor) = &mut self.overlay {
                    editor.error = Some(error);
                }
                Vec::new()
            }
            Event::FixChecked { fix, resolves } => {
                if let Overlay::Fix(dialog) = &mut self.overlay {
                    dialog.checked(&fix, resolves);
                }
                Vec::new()
            }
            Event::Fixed(result) => {
                self.overlay = Overlay::None;
                self.message = Some(match result {
                    Ok(text) => text,
                    Err(error) => error,
                });
                vec![Effect::RefreshStatus]
            }
        };
        effects.extend(self.wanted());
        effects
    }

    /// Brings the derived state up to date with what is on screen (page sizes, the preview's
    /// rows) and asks for the work it needs (analysing the files, highlighting what is shown).
    fn wanted(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(status) = &self.data.status
            && let Some(effect) = self.data.analyses.wanted(status, self.data.pg_version)
        {
            effects.push(effect);
        }
        let areas = self.areas();
        self.list.set_height(areas.list_height());
        self.preview.set_height(areas.preview_height());
        self.run.set_height(areas.bottom_height());
        self.history
            .set_height(areas.bottom_height().saturating_sub(2));
        self.inspect
            .set_page(areas.bottom_height().saturating_sub(2));
        let selected = self.list.selected(self.data.status.as_ref());
        self.preview
            .refresh(&self.data, selected, areas.preview_width());
        let highlight = selected
            .and_then(|v| self.data.file(v, self.preview.side()))
            .and_then(|file| self.data.want_highlight(file));
        if let Some(Effect::Highlight { key, .. }) = &highlight {
            self.data.highlighting.push(key.clone());
        }
        effects.extend(highlight);
        if let Overlay::Editor(editor) = &self.overlay {
            effects.extend(editor.want_highlight());
        }
        effects
    }

    fn run_event(&mut self, event: crate::runner::RunEvent) -> Vec<Effect> {
        match self.run.event(&event, self.now) {
            RunNews::Nothing => Vec::new(),
            RunNews::Failed(version, failure) => {
                self.data.failure = Some((version, *failure));
                Vec::new()
            }
            RunNews::Finished(version, direction) => {
                // The list shows it at once; the status read that follows fills in the rest.
                if let Some(v) = self
                    .data
                    .status
                    .as_mut()
                    .and_then(|s| s.versions.iter_mut().find(|v| v.version == version))
                {
                    v.state = match direction {
                        Direction::Apply => State::Applied,
                        Direction::Revert => State::Pending,
                    };
                    if direction == Direction::Revert {
                        v.applied = None;
                    }
                }
                self.list.refresh(self.data.status.as_ref());
                vec![Effect::RefreshStatus]
            }
        }
    }

    fn say(&mut self, message: impl Into<String>) -> Vec<Effect> {
        self.message = Some(message.into());
        Vec::new()
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return self.request_quit();
        }
        if !self.overlay.is_none() {
            return self.overlay_key(key);
        }
        if self.focus == Pane::Bottom && self.bottom == Bottom::Inspect
            || self.inspect.has_overlay()
        {
            match self.inspect.key(key) {
                InspectAction::Ignored => {}
                InspectAction::Handled => return Vec::new(),
                InspectAction::Signal { signal, pid } => {
                    if self.data.read_only {
                        return self.say(format!("read-only: cannot {} sessions", signal.verb()));
                    }
                    return vec![Effect::Signal { signal, pid }];
                }
                InspectAction::Pause(paused) => return vec![Effect::PauseMonitor(paused)],
            }
        }
        if let Some(forward) = keys::pane_step(&key) {
            self.focus = self.focus.step(forward);
            return Vec::new();
        }
        match self.focus {
            Pane::Migrations => match self.list.key(&key, self.data.status.as_ref()) {
                ListAction::Ignored => {}
                ListAction::Moved => {
                    self.preview.top();
                    return Vec::new();
                }
                ListAction::Open => {
                    self.focus = Pane::Preview;
                    return Vec::new();
                }
            },
            Pane::Preview => {
                if keys::nav(&key, true).is_some() {
                    return self.preview_key(key);
                }
            }
            Pane::Bottom => {
                if self.bottom == Bottom::Run && self.run.key(&key)
                    || self.bottom == Bottom::History && self.history.key(&key)
                {
                    return Vec::new();
                }
            }
        }
        self.global_key(key)
    }

    /// Keys that work whichever pane has the focus.
    fn global_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('r') if ctrl => {
                let mut effects = vec![Effect::RefreshStatus, Effect::RefreshMonitor];
                if self.bottom == Bottom::History {
                    effects.push(self.load_history());
                }
                return effects;
            }
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Char('?') | KeyCode::F(1) => self.overlay = Overlay::Help(Help::default()),
            KeyCode::Char('/') => {
                self.overlay = Overlay::Filter(Box::new(Filter::new(self.list.filter())))
            }
            KeyCode::Char(':') => self.overlay = Overlay::Command(CommandLine::default()),
            KeyCode::Char('1') => self.focus = Pane::Migrations,
            KeyCode::Char('2') => self.focus = Pane::Preview,
            KeyCode::Char('3') => {
                self.bottom = Bottom::Run;
                self.focus = Pane::Bottom;
            }
            KeyCode::Char('4') => self.show_inspect(Tab::Sizes),
            KeyCode::Char('5') => self.show_inspect(Tab::Locks),
            KeyCode::Char('6') => self.show_inspect(Tab::Activity),
            KeyCode::Char('7') => {
                self.bottom = Bottom::History;
                self.focus = Pane::Bottom;
                return vec![self.load_history()];
            }
            KeyCode::Char(']' | '[' | 'u' | 'd' | 'f') => return self.preview_key(key),
            KeyCode::Enter => self.focus = Pane::Preview,
            KeyCode::Char('c') => {
                if self.run.rehearsing().is_some() {
                    self.run.cancel_rehearsal();
                    self.run.say(
                        LogKind::Info,
                        "cancelling the rehearsal: its scratch database is removed",
                    );
                    return vec![Effect::CancelRehearsal];
                }
                if self.run.running().is_some_and(|r| r.backend_pid.is_some()) {
                    self.overlay = Overlay::Question(Question::CancelRun);
                } else {
                    return self.say("nothing is running");
                }
            }
            KeyCode::Char('R') => return self.rehearse(),
            KeyCode::Char('H') => {
                // Read-only on its own connection: read-only mode may check too.
                self.overlay = Overlay::Health(Box::new(HealthView::checking(self.size)));
                return vec![Effect::CheckHealth];
            }
            KeyCode::Char('a') => return self.propose_selected(Direction::Apply),
            KeyCode::Char('b') => return self.propose_selected(Direction::Revert),
            KeyCode::Char('A') => return self.propose(Operation::Up { to: None }),
            KeyCode::Char('B') => return self.propose(Operation::DownSteps { steps: 1 }),
            KeyCode::Char('r') => return self.propose(Operation::Redo),
            KeyCode::Char('m') => return self.propose_resolve(),
            KeyCode::Char('n') => {
                if self.data.read_only {
                    return self.say("read-only: creating migrations is disabled");
                }
                let mut editor = Editor::new();
                let draft = editor.draft();
                self.overlay = Overlay::Editor(Box::new(editor));
                return vec![Effect::AnalyzeDraft {
                    draft,
                    pg_version: self.data.pg_version,
                }];
            }
            _ => {}
        }
        Vec::new()
    }

    fn preview_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let selected = self.list.selected(self.data.status.as_ref());
        match self.preview.key(&key, &self.data, selected) {
            PreviewAction::Ignored => Vec::new(),
            PreviewAction::Handled => {
                if matches!(key.code, KeyCode::Char(']' | '[')) {
                    self.focus = Pane::Preview;
                }
                Vec::new()
            }
            PreviewAction::Say(message) => self.say(message),
            PreviewAction::Fix(finding) => self.propose_fix(finding),
        }
    }

    fn overlay_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match std::mem::take(&mut self.overlay) {
            Overlay::None => Vec::new(),
            Overlay::Help(mut help) => {
                if help.key(&key) {
                    self.overlay = Overlay::Help(help);
                }
                Vec::new()
            }
            Overlay::Question(question) => {
                if !question.yes(&key) {
                    return Vec::new();
                }
                match question {
                    Question::CancelRun if self.run.running().is_some() => {
                        self.run.say(
                            LogKind::Info,
                            "interrupting the run: the running statement is cancelled, its \
                             transaction rolls back, nothing new starts",
                        );
                        vec![Effect::CancelRun]
                    }
                    Question::CancelRun => Vec::new(),
                    Question::Quit { .. } => {
                        let mut effects = Vec::new();
                        if self.run.running().is_some() {
                            effects.push(Effect::CancelRun);
                        }
                        effects.push(Effect::Quit);
                        effects
                    }
                }
            }
            Overlay::Confirm(mut confirm) => match confirm.key(&key) {
                ConfirmAction::Open => {
                    self.overlay = Overlay::Confirm(confirm);
                    Vec::new()
                }
                ConfirmAction::WrongAnswer => {
                    let challenge = confirm.challenge.clone().unwrap_or_default();
                    self.overlay = Overlay::Confirm(confirm);
                    self.say(format!("type {challenge} and press Enter to confirm"))
                }
                ConfirmAction::Cancel => self.say("cancelled"),
                ConfirmAction::NotReady(why) => {
                    self.overlay = Overlay::Confirm(confirm);
                    self.say(why)
                }
                ConfirmAction::Run => {
                    self.data.failure = None;
                    self.run.start(confirm.operation, self.now);
                    self.focus = Pane::Bottom;
                    self.bottom = Bottom::Run;
                    let guard = confirm.guard_plan().cloned().map(Box::new);
                    vec![Effect::Run {
                        operation: confirm.operation,
                        expected: confirm.expected,
                        guard,
                    }]
                }
            },
            Overlay::Filter(mut filter) => {
                match filter.key(&key) {
                    FilterAction::Changed(text) => {
                        self.list.set_filter(text, self.data.status.as_ref());
                        self.overlay = Overlay::Filter(filter);
                    }
                    FilterAction::Keep => {}
                    FilterAction::Clear => self
                        .list
                        .set_filter(String::new(), self.data.status.as_ref()),
                }
                self.preview.top();
                Vec::new()
            }
            Overlay::Command(mut line) => match line.key(&key) {
                CommandAction::Open => {
                    self.overlay = Overlay::Command(line);
                    Vec::new()
                }
                CommandAction::Cancel => Vec::new(),
                CommandAction::Run(text) => match command::parse(&text) {
                    Ok(Command::Operation(operation)) => self.propose(operation),
                    Ok(Command::Quit) => self.request_quit(),
                    Err(why) => self.say(why),
                },
            },
            Overlay::Editor(mut editor) => match editor.key(key) {
                EditorOutcome::Editing => {
                    self.overlay = Overlay::Editor(editor);
                    Vec::new()
                }
                EditorOutcome::Changed => {
                    let draft = editor.draft();
                    self.overlay = Overlay::Editor(editor);
                    vec![Effect::AnalyzeDraft {
                        draft,
                        pg_version: self.data.pg_version,
                    }]
                }
                EditorOutcome::Cancelled => self.say("new migration discarded"),
                EditorOutcome::Save {
                    description,
                    up,
                    down,
                } => {
                    self.overlay = Overlay::Editor(editor);
                    vec![Effect::SaveMigration {
                        description,
                        up,
                        down,
                    }]
                }
            },
            Overlay::Resolve(dialog) => match dialog.key(key) {
                ResolveStep::Open(dialog) => {
                    self.overlay = Overlay::Resolve(Box::new(dialog));
                    Vec::new()
                }
                ResolveStep::Cancelled => self.say("cancelled"),
                ResolveStep::Resolve(version, resolution) => vec![Effect::Resolve {
                    version,
                    resolution,
                }],
            },
            Overlay::Health(mut health) => match health.key(&key) {
                HealthAction::Open => {
                    self.overlay = Overlay::Health(health);
                    Vec::new()
                }
                HealthAction::Recheck => {
                    self.overlay = Overlay::Health(health);
                    vec![Effect::CheckHealth]
                }
                HealthAction::Close => Vec::new(),
            },
            Overlay::Fix(mut dialog) => match dialog.key(&key) {
                FixAction::Open => {
                    self.overlay = Overlay::Fix(dialog);
                    Vec::new()
                }
                FixAction::NotYet(why) => {
                    self.overlay = Overlay::Fix(dialog);
                    self.say(why)
                }
                FixAction::Cancel => self.say("fix not applied"),
                FixAction::Write => {
                    let fix = Box::new(dialog.fix.clone());
                    self.overlay = Overlay::Fix(dialog);
                    vec![Effect::WriteFix(fix)]
                }
            },
        }
    }

    fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if !self.overlay.is_none() {
            return Vec::new();
        }
        let Some((pane, row)) = self.areas().pane_at(mouse.column, mouse.row) else {
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
                let key = KeyEvent::new(code, KeyModifiers::NONE);
                match (pane, self.bottom) {
                    (Pane::Migrations, _) => {
                        let nav = if code == KeyCode::Down {
                            Nav::Down
                        } else {
                            Nav::Up
                        };
                        self.list.go(nav, self.data.status.as_ref());
                        self.preview.top();
                    }
                    (Pane::Preview, _) => return self.preview_key(key),
                    (Pane::Bottom, Bottom::Run) => {
                        self.run.key(&key);
                    }
                    (Pane::Bottom, Bottom::Inspect) => {
                        self.inspect.key(key);
                    }
                    (Pane::Bottom, Bottom::History) => {
                        self.history.key(&key);
                    }
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Pane::Migrations
                    && let Some(row) = row
                    && self.list.click(row, self.data.status.as_ref())
                {
                    self.preview.top();
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Reads the audit trail again (in the background) for the History pane.
    fn load_history(&mut self) -> Effect {
        self.history.loading();
        Effect::LoadHistory {
            limit: super::history::RUNS,
        }
    }

    fn show_inspect(&mut self, tab: Tab) {
        self.inspect.set_tab(tab);
        self.bottom = Bottom::Inspect;
        self.focus = Pane::Bottom;
    }

    fn request_quit(&mut self) -> Vec<Effect> {
        if self.run.rehearsing().is_some() {
            self.message = Some("stopping the rehearsal and removing its scratch database…".into());
            return vec![Effect::CancelRehearsal, Effect::Quit];
        }
        if let Some(running) = self.run.running() {
            self.overlay = Overlay::Question(Question::Quit {
                migrating: running.migrating,
            });
            Vec::new()
        } else {
            vec![Effect::Quit]
        }
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
                    .data
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

    /// Why nothing may write now, if so.
    fn refusal(&self, what: &str) -> Option<String> {
        if self.data.read_only {
            return Some(format!("read-only: {what} disabled"));
        }
        if self.run.running().is_some() {
            return Some("a migration is running; wait for it or cancel it with c".into());
        }
        None
    }

    /// Opens the resolve dialog for the selected migration, or says why not.
    fn propose_resolve(&mut self) -> Vec<Effect> {
        if let Some(why) = self.refusal("resolving is") {
            return self.say(why);
        }
        let Some(v) = self.selected_version() else {
            return Vec::new();
        };
        match ResolveDialog::open(v) {
            Some(dialog) => {
                self.overlay = Overlay::Resolve(Box::new(dialog));
                Vec::new()
            }
            None => {
                let message = format!(
                    "m resolves a partially applied migration; {} is {}",
                    v.version,
                    v.label()
                );
                self.say(message)
            }
        }
    }

    /// Starts a rehearsal of the pending migrations up to the selected one (as `lockstep
    /// rehearse --to`), or says why not. Read-only mode may rehearse: it never writes to this
    /// database.
    fn rehearse(&mut self) -> Vec<Effect> {
        if self.run.running().is_some() {
            return self.say("a migration is running: rehearse after it");
        }
        if self.run.rehearsing().is_some() {
            return self.say("a rehearsal is running: c cancels it");
        }
        let Some(status) = &self.data.status else {
            return self.say("the status is not loaded yet");
        };
        let Some(to) = self.selected_version().map(|v| v.version) else {
            return self.say("no migration selected");
        };
        let plan = match plan(
            Operation::Up { to: Some(to) },
            &self.data.set,
            status,
            false,
        ) {
            Ok(plan) => plan,
            Err(e) => return self.say(first_line(&e.to_string())),
        };
        if plan.is_empty() {
            return self.say(format!(
                "nothing to rehearse: no migration is pending up to {to}"
            ));
        }
        self.run.start_rehearsal(plan.steps.len(), to, self.now);
        self.bottom = Bottom::Run;
        vec![Effect::Rehearse { to: Some(to) }]
    }

    /// Opens the confirmation for `operation`, or says why it cannot run.
    fn propose(&mut self, operation: Operation) -> Vec<Effect> {
        if let Some(why) = self.refusal("applying and reverting are") {
            return self.say(why);
        }
        if self.run.rehearsing().is_some() {
            return self.say("a rehearsal is running; wait for it or cancel it with c");
        }
        let Some(status) = &self.data.status else {
            return self.say("the status is not loaded yet");
        };
        let plan = match plan(operation, &self.data.set, status, false) {
            Ok(plan) => plan,
            Err(e) => return self.say(first_line(&e.to_string())),
        };
        if plan.is_empty() {
            return self.say("nothing to do");
        }
        let confirm = PlanConfirm::new(&plan, &self.data, self.size);
        let tables = confirm.tables.clone();
        self.overlay = Overlay::Confirm(Box::new(confirm));
        let mut effects = Vec::new();
        if self.data.guarded() {
            effects.push(Effect::PrepareGuard { operation });
        }
        if !tables.is_empty() {
            effects.push(Effect::FindBlockers { tables });
        }
        effects
    }

    /// Opens the diff of a finding's fix in the previewed file, or says why not.
    fn propose_fix(&mut self, finding: usize) -> Vec<Effect> {
        if let Some(why) = self.refusal("fixing is") {
            return self.say(why);
        }
        let side = self.preview.side();
        let Some(v) = self.selected_version() else {
            return Vec::new();
        };
        if v.state.is_recorded() {
            let message = format!(
                "{} is {}: its file is checksum-locked (sqlx refuses a changed file); write the \
                 change as a new migration with n",
                v.version,
                v.label()
            );
            return self.say(message);
        }
        let (Some(file), Some(analysis)) =
            (self.data.file(v, side), self.data.analysis(v.version, side))
        else {
            return Vec::new();
        };
        let Some(fix) = analysis.findings.get(finding).and_then(|f| {
            crate::source::fix::plan_fix(&file.path, &file.sql, analysis, f, &v.description)
        }) else {
            return self.say("this finding has no fix");
        };
        if fix.after == fix.before && fix.new_migration.is_none() {
            return self.say("this finding's fix changes nothing in the file; fix it by hand");
        }
        let Some(status) = &self.data.status else {
            return Vec::new();
        };
        let check = Effect::CheckFix {
            fix: Box::new(fix.clone()),
            pending: status.pending().map(|v| v.version).collect(),
            pg_version: self.data.pg_version,
        };
        self.overlay = Overlay::Fix(Box::new(FixDialog::new(fix, self.size)));
        vec![check]
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The file names of `paths`, comma-separated.
pub fn file_names(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}
