//! The run pane: the run in progress (its statement timer, what it waits for and on whom, its
//! progress, the locks it holds) or the rehearsal in progress ([`Rehearsing`]) above the log of
//! this session's runs and rehearsals, in the engine's words ([`crate::runner::text::RunLog`],
//! [`crate::rehearse::render`]).
//!
//! Nothing is cut at the pane's edge: lines wrap. When the pane is short, the timer and the
//! blocker (pid, state, transaction age, query) keep their rows and the rest gives way: first
//! the log, then the locks held, then the progress gauge. The log follows new lines unless it
//! has been scrolled back.

use std::sync::Arc;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};

use super::keys;
use super::rehearsal::{self, RehearsalEnd, Rehearsing};
use super::slot::{self, SlotPane};
use super::theme::{DIM, clock, pane_titled, wrapped, wrapped_height};
use super::visible::{self, visible_line, visible_lines};
use crate::format::{human_duration, one_line, sql_one_line};
use crate::monitor::SessionLocks;
use crate::rehearse::render;
use crate::rehearse::{MigrationRehearsal, RehearsalEvent};
use crate::runner::text::{LogKind, LogLine, RunLog, count, lines_of};
use crate::runner::{Direction, Failure, LockHolder, Operation, RunEvent};

/// The statement running now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatement {
    /// Its index in the migration.
    pub index: usize,
    /// Its first line in the file.
    pub line: usize,
    /// Its text.
    pub text: String,
    /// When it started.
    pub started: Instant,
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
    /// The statement running now.
    pub statement: Option<LiveStatement>,
    /// Statements done in this migration.
    pub done: usize,
    /// Statements in this migration.
    pub total: usize,
    /// Who holds the migration lock while lockstep waits for it.
    pub waiting_on: Option<Option<LockHolder>>,
    /// A retry after a lock timeout: which, of how many.
    pub retry: Option<(u32, u32)>,
    /// The latest lock sample of the migration session.
    pub sample: Option<Arc<SessionLocks>>,
    /// Whether a migration is under way (started and not yet finished, failed or interrupted);
    /// otherwise the run is between migrations or finishing (lock, audit, health check).
    pub migrating: bool,
}

/// What a run event means for the rest of the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum RunNews {
    /// Nothing beyond the run pane.
    Nothing,
    /// A migration was applied or reverted and recorded.
    Finished(i64, Direction),
    /// A migration failed here.
    Failed(i64, Box<Failure>),
}

/// A line of the run pane's log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry {
    /// A run's, in the runner's words.
    Run(LogLine),
    /// A rehearsal's, in the rehearsal's words (with their tones).
    Rehearsal(render::Line),
}

/// The run pane's state.
#[derive(Debug, Clone, Default)]
pub struct RunPane {
    running: Option<Running>,
    rehearsing: Option<Rehearsing>,
    log: Vec<LogEntry>,
    /// Log lines scrolled back from the end (0 follows new lines).
    scroll: usize,
    height: usize,
    words: RunLog,
}

impl RunPane {
    /// The run in progress.
    pub fn running(&self) -> Option<&Running> {
        self.running.as_ref()
    }

    /// The rehearsal in progress.
    pub fn rehearsing(&self) -> Option<&Rehearsing> {
        self.rehearsing.as_ref()
    }

    /// Whether there is nothing to show: no run or rehearsal in progress, and no log yet.
    pub fn is_idle(&self) -> bool {
        self.running.is_none() && self.rehearsing.is_none() && self.log.is_empty()
    }

    /// The log so far.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Sets the page size (rows on screen).
    pub fn set_height(&mut self, height: usize) {
        self.height = height;
    }

    /// A run starts at `now`.
    pub fn start(&mut self, operation: Operation, now: Instant) {
        self.running = Some(Running {
            operation,
            started: now,
            backend_pid: None,
            version: None,
            statement: None,
            done: 0,
            total: 0,
            waiting_on: None,
            retry: None,
            sample: None,
            migrating: false,
        });
        self.words = RunLog::default();
    }

    /// Adds lines to the log; a log scrolled back stays where it is.
    pub fn push(&mut self, lines: Vec<LogLine>) {
        self.push_entries(lines.into_iter().map(LogEntry::Run).collect());
    }

    fn push_entries(&mut self, entries: Vec<LogEntry>) {
        if self.scroll > 0 {
            self.scroll += entries.len();
        }
        self.log.extend(entries);
    }

    /// A rehearsal of `planned` migrations up to `to` starts at `now`.
    pub fn start_rehearsal(&mut self, planned: usize, to: i64, now: Instant) {
        self.rehearsing = Some(Rehearsing::new(planned, now));
        self.say(
            LogKind::Heading,
            &format!(
                "rehearse {} up to {to} on a scratch copy (this database is only read)",
                count(planned, "pending migration", "pending migrations")
            ),
        );
    }

    /// Takes a rehearsal event at `now`: its lines go to the log; returns the migration's
    /// rehearsal once one is complete.
    pub fn rehearsal_event(
        &mut self,
        event: &RehearsalEvent,
        now: Instant,
    ) -> Option<MigrationRehearsal> {
        let (lines, rehearsed) = self.rehearsing.as_mut()?.event(event, now);
        self.push_entries(lines.into_iter().map(LogEntry::Rehearsal).collect());
        rehearsed
    }

    /// `c` asked the rehearsal to stop.
    pub fn cancel_rehearsal(&mut self) {
        if let Some(rehearsing) = self.rehearsing.as_mut() {
            rehearsing.cancelling = true;
        }
    }

    /// The rehearsal ended: what it found, or why it stopped; returns the status bar's message.
    pub fn rehearsal_done(&mut self, end: &RehearsalEnd) -> String {
        self.rehearsing = None;
        let (lines, message) = rehearsal::end_lines(end);
        self.push_entries(lines.into_iter().map(LogEntry::Rehearsal).collect());
        message
    }

    /// Adds one line of `kind` (split at line breaks).
    pub fn say(&mut self, kind: LogKind, text: &str) {
        self.push(lines_of(kind, "", text));
    }

    /// A lock sample of the migration session.
    pub fn sample(&mut self, sample: Arc<SessionLocks>) {
        if let Some(running) = self.running.as_mut() {
            running.sample = Some(sample);
        }
    }

    /// The run ended: its summary, or why it failed.
    pub fn done(&mut self, result: &Result<String, String>) {
        self.running = None;
        match result {
            Ok(summary) => self.say(LogKind::Done, summary),
            Err(error) => self.say(LogKind::Error, error),
        }
    }

    /// Takes a run event at `now`.
    pub fn event(&mut self, event: &RunEvent, now: Instant) -> RunNews {
        let lines = self.words.lines(event);
        let Some(running) = self.running.as_mut() else {
            return RunNews::Nothing;
        };
        let mut news = RunNews::Nothing;
        match event {
            RunEvent::Connected { backend_pid, .. } => running.backend_pid = Some(*backend_pid),
            RunEvent::LockWaiting { holder, .. } => running.waiting_on = Some(holder.clone()),
            RunEvent::LockAcquired { backend_pid, .. } => {
                // Under --pooled each migration's lock names the backend it runs on.
                running.waiting_on = None;
                running.backend_pid = Some(*backend_pid);
            }
            RunEvent::MigrationSkipped { .. } | RunEvent::DataKept { .. } => {}
            RunEvent::MigrationStarted {
                version,
                statements,
                ..
            } => {
                running.version = Some(*version);
                running.migrating = true;
                running.done = 0;
                running.total = *statements;
            }
            RunEvent::StatementStarted {
                index, line, text, ..
            } => {
                running.retry = None;
                running.statement = Some(LiveStatement {
                    index: *index,
                    line: *line,
                    text: text.clone(),
                    started: now,
                });
            }
            RunEvent::StatementFinished { .. } => {
                running.statement = None;
                running.done += 1;
            }
            RunEvent::MigrationFinished {
                version, direction, ..
            } => {
                running.statement = None;
                running.migrating = false;
                news = RunNews::Finished(*version, *direction);
            }
            RunEvent::MigrationFailed {
                version, failure, ..
            } => {
                running.statement = None;
                running.migrating = false;
                news = RunNews::Failed(*version, Box::new(failure.clone()));
            }
            RunEvent::StatementWaiting { .. } => {}
            RunEvent::Retrying {
                attempt, retries, ..
            } => {
                running.statement = None;
                running.done = 0;
                running.sample = None;
                running.retry = Some((*attempt, *retries));
            }
            RunEvent::MigrationInterrupted { .. } => {
                running.statement = None;
                running.migrating = false;
            }
        }
        self.push(lines);
        news
    }

    /// Scrolls the log: returns whether `key` was a movement.
    pub fn key(&mut self, key: &crossterm::event::KeyEvent) -> bool {
        let Some(nav) = keys::nav(key, true) else {
            return false;
        };
        let last = self.log.len().saturating_sub(1);
        // Up goes back in time: the offset from the end grows.
        let from_top = last.saturating_sub(self.scroll);
        self.scroll = last - keys::moved(from_top, last, self.height, nav);
        true
    }

    /// Draws the pane.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        now: Instant,
        focused: bool,
        read_only: bool,
    ) {
        let words = if self.scroll > 0 {
            format!(
                "─ log scrolled back {} (End follows)",
                count(self.scroll, "line", "lines")
            )
        } else {
            String::new()
        };
        let title = slot::title(SlotPane::Run, &words, area.width, 0);
        let block = pane_titled(title, focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut rest = inner;
        if let Some(running) = &self.running {
            rest = draw_live(frame, inner, running, now);
        } else if let Some(rehearsing) = &self.rehearsing {
            rest = draw_rehearsing(frame, inner, rehearsing, now);
        } else if self.log.is_empty() {
            let text = if read_only {
                "no run in this session (read-only; R rehearses)"
            } else {
                "no run yet in this session: a applies, b rolls back, R rehearses"
            };
            frame.render_widget(Paragraph::new(Line::styled(text, DIM)), inner);
            return;
        }
        self.draw_log(frame, rest);
    }

    /// The log's last lines (less those scrolled back) that fit `area` whole; a line taller than
    /// the whole area shows its end.
    fn draw_log(&self, frame: &mut Frame, area: Rect) {
        if area.height == 0 || area.width == 0 {
            return;
        }
        let end = self.log.len().saturating_sub(self.scroll);
        let room = area.height as usize;
        let mut rows = 0;
        let mut lines: Vec<Line<'static>> = Vec::new();
        let mut cut = false;
        for entry in self.log[..end].iter().rev() {
            let line = log_line(entry, area.width as usize);
            let height = wrapped_height(std::slice::from_ref(&line), area.width);
            if rows + height > room && !lines.is_empty() {
                cut = true;
                break;
            }
            rows += height;
            lines.push(line);
            if rows >= room {
                break;
            }
        }
        lines.reverse();
        let overflow = rows.saturating_sub(room) as u16;
        // Older lines left out: the newest stays on the last row.
        let mut area = area;
        if cut {
            let gap = (room - rows) as u16;
            area.y += gap;
            area.height -= gap;
        }
        frame.render_widget(wrapped(lines).scroll((overflow, 0)), area);
    }
}

/// One log line as drawn: a timing stays on its line, right-aligned (the text before it is
/// shortened); other lines wrap.
fn log_line(entry: &LogEntry, width: usize) -> Line<'static> {
    let entry = match entry {
        LogEntry::Run(line) => line,
        LogEntry::Rehearsal(line) => return rehearsal::styled(line),
    };
    let style = match entry.kind {
        LogKind::Heading => Style::default().add_modifier(Modifier::BOLD),
        LogKind::Statement => Style::default(),
        LogKind::Waiting => Style::default().fg(Color::Yellow),
        LogKind::Done => Style::default().fg(Color::Green),
        LogKind::Error => Style::default().fg(Color::Red),
        LogKind::Info => DIM,
    };
    match &entry.timing {
        Some(timing) => {
            let room = width.saturating_sub(timing.chars().count() + 1);
            let body = entry.text.trim_start();
            let indent = &entry.text[..entry.text.len() - body.len()];
            let text = format!(
                "{indent}{}",
                one_line(body, room.saturating_sub(indent.len()))
            );
            let pad = room.saturating_sub(crate::text::visible::width(&text));
            let mut spans = visible::spans(&text, style);
            spans.push(Span::raw(" ".repeat(pad + 1)));
            spans.push(Span::styled(timing.clone(), DIM));
            Line::from(spans)
        }
        None => visible::line(&entry.text, style),
    }
}

/// Draws the rehearsal in progress at the top of `area` (its timer, what runs, a gauge of the
/// migrations rehearsed); returns what is left for the log.
fn draw_rehearsing(frame: &mut Frame, area: Rect, rehearsing: &Rehearsing, now: Instant) -> Rect {
    let header = rehearsing.header(now);
    let header_rows = wrapped_height(&header, area.width).min(area.height as usize) as u16;
    frame.render_widget(
        wrapped(header),
        Rect::new(area.x, area.y, area.width, header_rows),
    );
    let mut y = area.y + header_rows;
    if y < area.bottom() && rehearsing.planned > 0 {
        let ratio = rehearsing.done as f64 / rehearsing.planned as f64;
        frame.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Cyan))
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!(
                    "{} of {} rehearsed",
                    rehearsing.done,
                    count(rehearsing.planned, "migration", "migrations")
                )),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
    }
    Rect::new(area.x, y, area.width, area.bottom().saturating_sub(y))
}

/// Draws the run in progress at the top of `area`; returns what is left for the log.
fn draw_live(frame: &mut Frame, area: Rect, running: &Running, now: Instant) -> Rect {
    let width = area.width;
    let header = visible_lines(header_lines(running, now));
    let blocker = running
        .sample
        .as_deref()
        .map(|s| wait_lines(s))
        .unwrap_or_default();
    let holds = running
        .sample
        .as_deref()
        .map(|s| held_lines(s))
        .unwrap_or_default();
    // Rows by priority: the header and the blocker first, then the gauge, the locks held, the log.
    let mut left = area.height as usize;
    let mut take = |wanted: usize| {
        let got = wanted.min(left);
        left -= got;
        got
    };
    let header_rows = take(wrapped_height(&header, width));
    let blocker_rows = take(wrapped_height(&blocker, width));
    let gauge_rows = take(usize::from(running.total > 0));
    let holds_rows = take(wrapped_height(&holds, width));
    let mut y = area.y;
    let mut place = |rows: usize| {
        let rect = Rect::new(area.x, y, width, rows as u16);
        y += rows as u16;
        rect
    };
    frame.render_widget(wrapped(header), place(header_rows));
    frame.render_widget(wrapped(blocker), place(blocker_rows));
    if gauge_rows > 0 {
        let ratio = running.done as f64 / running.total.max(1) as f64;
        frame.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Cyan))
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!(
                    "{} of {} done",
                    running.done,
                    count(running.total, "statement", "statements")
                )),
            place(gauge_rows),
        );
    }
    frame.render_widget(wrapped(holds), place(holds_rows));
    Rect::new(area.x, y, width, area.bottom().saturating_sub(y))
}

/// The run's first lines: its timer and what it is doing.
fn header_lines(running: &Running, now: Instant) -> Vec<Line<'static>> {
    let timer = |at: Instant| {
        Span::styled(
            clock(now.saturating_duration_since(at)),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    };
    let bold_cyan = Style::default()
        .fg(Color::Cyan)
        .add_modifier(Modifier::BOLD);
    let version = running.version.map(|v| v.to_string()).unwrap_or_default();
    match (&running.waiting_on, &running.statement, running.retry) {
        (Some(holder), _, _) => vec![Line::from(vec![
            Span::styled("⏳ ", Style::default().fg(Color::Yellow)),
            timer(running.started),
            Span::styled(
                format!(
                    "  waiting for the migration lock, held by {}",
                    holder
                        .as_ref()
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another session".into())
                ),
                Style::default().fg(Color::Yellow),
            ),
        ])],
        (None, Some(statement), _) => vec![
            Line::from(vec![
                Span::styled("▶ ", bold_cyan),
                timer(statement.started),
                Span::styled(format!("  {version}"), bold_cyan),
                Span::raw(format!(
                    " · statement {} of {} · line {} · run {}",
                    statement.index + 1,
                    running.total,
                    statement.line,
                    human_duration(now.saturating_duration_since(running.started))
                )),
            ]),
            Line::styled(sql_one_line(&statement.text, 200), DIM),
        ],
        (None, None, Some((attempt, retries))) => vec![Line::from(vec![
            Span::styled("⟳ ", Style::default().fg(Color::Yellow)),
            timer(running.started),
            Span::styled(
                format!("  {version} gave up on a lock; retry {attempt} of {retries}"),
                Style::default().fg(Color::Yellow),
            ),
        ])],
        (None, None, None) => vec![Line::from(vec![
            Span::raw("▶ "),
            timer(running.started),
            Span::raw(if running.version.is_some() {
                format!("  {version}")
            } else {
                "  starting…".to_string()
            }),
        ])],
    }
}

/// What the migration session waits for and on whom (each blocker's pid, state, transaction age
/// and query), and how many sessions queue behind it, in the engine's words.
pub fn wait_lines(sample: &SessionLocks) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(wait) = sample.wait() {
        for (i, text) in crate::monitor::render::wait_lines(&wait, None)
            .into_iter()
            .enumerate()
        {
            let queued = wait.queued_behind > 0 && text.ends_with("queued behind it");
            lines.push(match (i, queued) {
                (0, _) => Line::styled(
                    format!("⏳ {text}"),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
                (_, true) => Line::styled(text, Style::default().fg(Color::Yellow)),
                _ => Line::styled(format!("   {text}"), Style::default().fg(Color::Red)),
            });
        }
    } else if sample.queued_behind() > 0 {
        lines.push(Line::styled(
            format!(
                "{} queued behind the migration",
                count(sample.queued_behind(), "session", "sessions")
            ),
            Style::default().fg(Color::Yellow),
        ));
    }
    visible_lines(lines)
}

/// The locks the migration session holds.
fn held_lines(sample: &SessionLocks) -> Vec<Line<'static>> {
    let mut held: Vec<String> = sample
        .locks
        .iter()
        .filter(|l| l.granted && l.relation.is_some())
        .map(crate::monitor::render::lock_target)
        .collect();
    held.dedup();
    if held.is_empty() {
        return Vec::new();
    }
    vec![visible_line(Line::from(vec![
        Span::styled("holds ", DIM),
        Span::raw(held.join(", ")),
    ]))]
}

/// What a lock sample says, as the run pane shows it: the locks held, then the wait.
pub fn lock_sample_lines(sample: &SessionLocks) -> Vec<Line<'static>> {
    let mut lines = held_lines(sample);
    lines.extend(wait_lines(sample));
    lines
}
