//! The plan confirmation: what a run will do, decided on one screen. The summary comes first —
//! what runs and in which transaction modes, the findings (errors and warnings counted, the
//! first ones with their rule, table, lock and the table's size), the sessions the migration
//! would queue behind (lock modes in SQL spelling, their state, transaction age and query), for
//! an apply the rehearsal of what it runs (each migration's verdict; a warning when none was done
//! or the files changed since, see [`super::rehearsal::review`]) — then the exact SQL of every
//! step, as the dry run prints it. Everything wraps at the dialog's edge and scrolls.
//!
//! Cancel is the default. `y` runs; a plan with error-level findings or a failed rehearsal, one
//! that reverts more than one migration, or a database that is not local asks for the version to
//! be typed instead.
//!
//! In an environment that asks for a snapshot, data copies or a confirmation of its own, the
//! guard's plan ([`GuardPlan`], prepared in the background) is listed under the summary in the
//! engine's words — the environment, where the schema snapshot goes, what data is kept before
//! which statement and where — and the environment's `confirm` policy decides what is typed (the
//! database name, the version, or `y`). Nothing runs until that plan is there, nor when the data
//! copies would pass their limit.

use super::theme::capitalised;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::data::{Data, Side};
use super::keys;
use super::layout::{CONFIRM_FOOTER, confirm_body_height, confirm_rect};
use super::theme::{DIM, dialog, glyph, key_hint, severity_color, wrapped, wrapped_height};
use super::visible;
use crate::analysis::{Severity, Target};
use crate::config::ConfirmPolicy;
use crate::guard::GuardPlan;
use crate::monitor::TableBlocker;
use crate::runner::text::{count, plan_summary};
use crate::runner::{Direction, Operation, Plan, render_step};

/// Findings listed in the summary (fewer on a short screen); the rest are counted (and in the
/// preview).
const FIRST_FINDINGS: usize = 5;
/// Tables the confirmation names when no session holds a lock on them (a longer list is counted).
const TABLES_NAMED: usize = 8;

/// What a key did to the confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmAction {
    /// Still open.
    Open,
    /// Closed without running.
    Cancel,
    /// Confirmed: run.
    Run,
    /// Enter with the wrong version typed.
    WrongAnswer,
    /// Confirmed, but the run cannot start (yet): why.
    NotReady(String),
}

/// Where the guard's plan for the run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardState {
    /// The environment asks for nothing around a run.
    NotNeeded,
    /// Being prepared (the database is read in the background).
    Preparing,
    /// Ready: the run takes it.
    Ready(Box<GuardPlan>),
    /// The run must not start: why.
    Refused(String),
}

/// The confirmation's state.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfirm {
    /// What will run.
    pub operation: Operation,
    /// A one-line title.
    pub title: String,
    /// The steps as the plan has them: the run refuses to start if the plan changed.
    pub expected: Vec<(Direction, i64)>,
    /// The tables the plan locks (that exist before it runs), for the blockers check.
    pub tables: Vec<String>,
    /// Sessions the migration would queue behind: `None` while being looked up, `Err` if the
    /// lookup failed.
    pub blockers: Option<Result<Vec<TableBlocker>, String>>,
    /// When set, the user must type this to confirm.
    pub challenge: Option<String>,
    /// Why the confirmation must be typed.
    pub challenge_reason: Option<String>,
    /// What the user typed so far.
    pub typed: String,
    /// Whether the Run button (not Cancel) is focused.
    pub on_confirm: bool,
    /// The guard's plan: the snapshot, the data copies, the environment's confirmation.
    pub guard: GuardState,
    /// What runs and the findings.
    summary: Vec<Line<'static>>,
    /// What the rehearsal of an apply found (after the blockers).
    rehearsal: Vec<Line<'static>>,
    /// The SQL of every step.
    statements: Vec<Line<'static>>,
    /// The first body row on screen.
    scroll: usize,
    /// The screen size, for the page size and the last scroll position.
    size: (u16, u16),
}

impl PlanConfirm {
    /// The confirmation of `plan`, with what `data` knows of its files and tables.
    pub fn new(plan: &Plan, data: &Data, size: (u16, u16)) -> PlanConfirm {
        let last = plan.steps.last().map(|s| s.version).unwrap_or_default();
        let steps = count(plan.steps.len(), "migration", "migrations");
        let title = match plan.operation {
            Operation::Up { .. } => format!("Apply {steps} through {last}?"),
            Operation::DownSteps { .. } | Operation::DownTo { .. } => {
                format!("Revert {steps} down to {last}?")
            }
            Operation::Redo => format!("Redo {last} (revert, then apply)?"),
        };
        let mut summary = vec![Line::styled(
            capitalised(&plan_summary(plan)),
            Style::default().add_modifier(Modifier::BOLD),
        )];
        if !plan.out_of_order.is_empty() {
            summary.push(Line::styled(
                format!(
                    "out of order (older than the newest applied; sqlx would apply them \
                     silently): {}",
                    plan.out_of_order
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Style::default().fg(Color::Yellow),
            ));
        }
        let first = if confirm_body_height(size) < 20 {
            3
        } else {
            FIRST_FINDINGS
        };
        let review = review(plan, data, first);
        summary.extend(review.lines);
        let rehearsal = super::rehearsal::review(plan, data);
        let mut rehearsal_lines = Vec::new();
        if let Some(title) = &rehearsal.title {
            rehearsal_lines.push(Line::raw(""));
            rehearsal_lines.push(super::rehearsal::styled(title).patch_style(Modifier::BOLD));
            rehearsal_lines.extend(rehearsal.details.iter().map(super::rehearsal::styled));
        }
        let reverts = plan
            .steps
            .iter()
            .filter(|s| s.direction == Direction::Revert)
            .count();
        let challenge_reason = if review.errors > 0 {
            Some(format!(
                "the plan has {}",
                count(review.errors, "error-level finding", "error-level findings")
            ))
        } else if !rehearsal.failed.is_empty() {
            Some(format!(
                "the rehearsal of {} failed",
                rehearsal
                    .failed
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if reverts > 1 && plan.operation != Operation::Redo {
            Some(format!(
                "this reverts {}",
                count(reverts, "migration", "migrations")
            ))
        } else if data.remote {
            Some("this database is not the sandbox or on this machine".to_string())
        } else {
            None
        };
        let mut statements = vec![Line::styled(
            "What runs, in order (as `--dry-run` prints it):",
            Style::default().add_modifier(Modifier::BOLD),
        )];
        let session = data.session_settings();
        if !session.is_empty() {
            statements.push(Line::raw(""));
            statements.push(Line::styled("-- the session, first:", DIM));
            statements.extend(
                session
                    .lines()
                    .map(|text| visible::line(text, Style::default())),
            );
        }
        for step in &plan.steps {
            statements.push(Line::raw(""));
            for text in render_step(step, &data.table, data.pooled_lock()).lines() {
                let style = if text.starts_with("--") {
                    DIM
                } else {
                    Style::default()
                };
                statements.push(visible::line(text, style));
            }
        }
        PlanConfirm {
            operation: plan.operation,
            title,
            expected: plan.signature(),
            tables: review.tables,
            blockers: None,
            challenge: challenge_reason.as_ref().map(|_| last.to_string()),
            challenge_reason,
            typed: String::new(),
            on_confirm: false,
            guard: if data.guarded() {
                GuardState::Preparing
            } else {
                GuardState::NotNeeded
            },
            summary,
            rehearsal: rehearsal_lines,
            statements,
            scroll: 0,
            size,
        }
    }

    /// The guard's plan arrived (or why it could not be made): the environment's confirmation
    /// policy decides what is typed from now on.
    pub fn guarded(&mut self, prepared: Result<Box<GuardPlan>, String>) {
        let plan = match prepared {
            Ok(plan) => plan,
            Err(why) => {
                self.guard = GuardState::Refused(why);
                return;
            }
        };
        if let Some(refusal) = plan.over_limit() {
            self.guard = GuardState::Refused(refusal);
            return;
        }
        if let Some(confirmation) = plan.confirmation()
            && confirmation.policy != ConfirmPolicy::Yes
        {
            let reason = format!(
                "the environment {} asks for it ({})",
                plan.environment.name,
                confirmation.policy.label()
            );
            self.challenge_reason = Some(match self.challenge_reason.take() {
                Some(earlier) => format!("{earlier}; {reason}"),
                None => reason,
            });
            self.challenge = Some(confirmation.expected);
            self.typed.clear();
        }
        self.guard = GuardState::Ready(plan);
    }

    /// The guard's plan, once ready.
    pub fn guard_plan(&self) -> Option<&GuardPlan> {
        match &self.guard {
            GuardState::Ready(plan) => Some(plan),
            _ => None,
        }
    }

    /// `Run`, or why the run cannot start yet.
    fn run(&self) -> ConfirmAction {
        match &self.guard {
            GuardState::NotNeeded | GuardState::Ready(_) => ConfirmAction::Run,
            GuardState::Preparing => ConfirmAction::NotReady(
                "the snapshot and data copies are still being planned; confirm again in a moment"
                    .to_string(),
            ),
            GuardState::Refused(why) => ConfirmAction::NotReady(format!(
                "the run cannot start: {}",
                why.lines().next().unwrap_or_default()
            )),
        }
    }

    /// The guard's section of the body: what will be kept and where, in the engine's words.
    fn guard_lines(&self) -> Vec<Line<'static>> {
        let mut lines = vec![Line::raw("")];
        match &self.guard {
            GuardState::NotNeeded => return Vec::new(),
            GuardState::Preparing => lines.push(Line::styled(
                "Planning the schema snapshot and the data to keep (reading the database)…",
                DIM,
            )),
            GuardState::Refused(why) => {
                for (i, text) in why.lines().enumerate() {
                    let text = if i == 0 {
                        format!("Refused: {text}")
                    } else {
                        text.to_string()
                    };
                    lines.push(visible::line(&text, Style::default().fg(Color::Red)));
                }
            }
            GuardState::Ready(plan) => {
                lines.push(Line::styled(
                    "Before the run:",
                    Style::default().add_modifier(Modifier::BOLD),
                ));
                for (i, text) in plan.lines().iter().enumerate() {
                    let style = match i {
                        0 if plan.environment.production_like => {
                            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
                        }
                        0 => Style::default().fg(Color::Green),
                        _ if text.starts_with("  ") => Style::default().fg(Color::Yellow),
                        _ => Style::default(),
                    };
                    lines.push(visible::line(text, style));
                }
                if let Some(confirmation) = plan.confirmation() {
                    lines.push(visible::line(
                        &confirmation.prompt,
                        Style::default().fg(Color::Red),
                    ));
                }
            }
        }
        lines
    }

    /// The screen's size changed.
    pub fn resize(&mut self, size: (u16, u16)) {
        self.size = size;
    }

    /// The body: summary, blockers, rehearsal, statements.
    fn body(&self) -> Vec<Line<'static>> {
        let mut body = self.summary.clone();
        body.extend(self.guard_lines());
        body.extend(self.blocker_lines());
        body.extend(self.rehearsal.iter().cloned());
        body.push(Line::raw(""));
        body.extend(self.statements.iter().cloned());
        body
    }

    /// The body as text, one line each (unwrapped): what the dialog says, scrolled or not.
    pub fn body_text(&self) -> String {
        self.body()
            .iter()
            .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect::<Vec<String>>()
            .join("\n")
    }

    fn last_scroll(&self) -> usize {
        let width = confirm_rect(self.size).width.saturating_sub(2);
        wrapped_height(&self.body(), width).saturating_sub(confirm_body_height(self.size))
    }

    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> ConfirmAction {
        let typing = self.challenge.is_some();
        if let Some(nav) = keys::nav(key, !typing) {
            let page = confirm_body_height(self.size);
            self.scroll = keys::moved(self.scroll, self.last_scroll(), page, nav);
            return ConfirmAction::Open;
        }
        match (&self.challenge, key.code) {
            (_, KeyCode::Esc) => ConfirmAction::Cancel,
            (Some(challenge), KeyCode::Enter) => {
                if &self.typed == challenge {
                    self.run()
                } else {
                    ConfirmAction::WrongAnswer
                }
            }
            (Some(_), KeyCode::Backspace) => {
                self.typed.pop();
                ConfirmAction::Open
            }
            (Some(_), KeyCode::Char(c)) => {
                self.typed.push(c);
                ConfirmAction::Open
            }
            (None, KeyCode::Char('y')) => self.run(),
            (None, KeyCode::Char('n')) => ConfirmAction::Cancel,
            (None, KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab) => {
                self.on_confirm = !self.on_confirm;
                ConfirmAction::Open
            }
            (None, KeyCode::Enter) if self.on_confirm => self.run(),
            (None, KeyCode::Enter) => ConfirmAction::Cancel,
            _ => ConfirmAction::Open,
        }
    }

    /// The sessions the migration would queue behind, or where the lookup stands (a run over many
    /// tables names the first [`TABLES_NAMED`] of them).
    fn blocker_lines(&self) -> Vec<Line<'static>> {
        if self.tables.is_empty() {
            return Vec::new();
        }
        let mut lines = vec![Line::raw("")];
        match &self.blockers {
            None => lines.push(Line::styled(
                "Looking for sessions holding locks on the tables…",
                DIM,
            )),
            Some(Err(error)) => lines.push(visible::line(
                &format!("Could not check for sessions holding locks: {error}"),
                Style::default().fg(Color::Yellow),
            )),
            Some(Ok(found)) if found.is_empty() => lines.push(visible::line(
                &format!(
                    "No long-running or idle-in-transaction session holds a lock on {}",
                    crate::format::first_and_more(&self.tables, TABLES_NAMED)
                ),
                Style::default().fg(Color::Green),
            )),
            Some(Ok(found)) => {
                lines.push(Line::styled(
                    format!(
                        "The migration will queue behind {} (and everything after it, behind the \
                         migration):",
                        count(found.len(), "session", "sessions")
                    ),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
                for b in found {
                    let color = if b.session.is_idle_in_transaction() {
                        Color::Red
                    } else {
                        Color::Yellow
                    };
                    lines.push(visible::line(
                        &format!("  {}", crate::monitor::render::table_blocker(b)),
                        Style::default().fg(color),
                    ));
                    if let Some(query) = b.session.query.as_deref().filter(|q| !q.is_empty()) {
                        lines.push(visible::line(
                            &format!("      {}", crate::format::one_line(query, 400)),
                            DIM,
                        ));
                    }
                }
            }
        }
        lines
    }

    /// Draws the dialog over `area`, `database` named at its top.
    pub fn draw(&self, frame: &mut Frame, area: Rect, database: &str, remote: bool) {
        let rect = confirm_rect((area.width, area.height)).intersection(area);
        frame.render_widget(Clear, rect);
        let block = dialog(
            visible::line(&format!(" {} ", self.title), Style::default()),
            Color::Yellow,
        );
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let [top, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(CONFIRM_FOOTER),
        ])
        .areas(inner);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw("on "),
                Span::styled(
                    database.to_string(),
                    Style::default()
                        .fg(if remote { Color::Red } else { Color::Green })
                        .add_modifier(Modifier::BOLD),
                ),
            ])),
            top,
        );
        let lines = self.body();
        let total = wrapped_height(&lines, body.width);
        let scroll = self.scroll.min(total.saturating_sub(body.height as usize));
        let below = total.saturating_sub(scroll + body.height as usize);
        let [text, more] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(u16::from(below > 0))])
                .areas(body);
        frame.render_widget(wrapped(lines).scroll((scroll as u16, 0)), text);
        if below > 0 {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!(
                        "… {} more: ↓ PgDn End to scroll",
                        count(below + 1, "line", "lines")
                    ),
                    Style::default().fg(Color::Cyan),
                )),
                more,
            );
        }
        frame.render_widget(wrapped(self.footer()), footer);
    }

    fn footer(&self) -> Vec<Line<'static>> {
        match &self.challenge {
            Some(challenge) => vec![
                Line::styled(
                    format!(
                        "{}: type {challenge} and press Enter to run · Esc cancels",
                        self.challenge_reason.as_deref().unwrap_or("confirm")
                    ),
                    Style::default().fg(Color::Red),
                ),
                Line::from(vec![
                    Span::styled("› ", Style::default().fg(Color::Yellow)),
                    Span::styled(
                        format!("{}█", self.typed),
                        Style::default()
                            .fg(Color::Yellow)
                            .add_modifier(Modifier::BOLD),
                    ),
                ]),
            ],
            None => {
                let (cancel, run) = if self.on_confirm {
                    (
                        Style::default(),
                        Style::default().fg(Color::Black).bg(Color::Yellow),
                    )
                } else {
                    (
                        Style::default().fg(Color::Black).bg(Color::White),
                        Style::default(),
                    )
                };
                let mut hints = key_hint("Tab", "switches");
                hints.push(Span::raw("  "));
                hints.extend(key_hint("Enter", "presses"));
                hints.push(Span::raw("  "));
                hints.extend(key_hint("j/k PgDn/PgUp", "scroll"));
                vec![
                    Line::from(vec![
                        Span::styled(" Cancel (n/Esc) ", cancel),
                        Span::raw("   "),
                        Span::styled(" Run (y) ", run),
                    ]),
                    Line::from(hints),
                ]
            }
        }
    }
}

/// What the analyses say about a plan's files.
struct Review {
    /// The summary's findings lines.
    lines: Vec<Line<'static>>,
    /// Error-level findings.
    errors: usize,
    /// Existing tables the plan locks.
    tables: Vec<String>,
}

/// The findings of the files a plan runs (counted; the first few listed with their rule, table,
/// lock and the table's size), and the existing tables it locks.
fn review(plan: &Plan, data: &Data, first: usize) -> Review {
    let mut found = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    let mut missing = 0;
    let mut suppressed = 0;
    for step in &plan.steps {
        let side = match step.direction {
            Direction::Apply => Side::Up,
            Direction::Revert => Side::Down,
        };
        let Some(analysis) = data.analysis(step.version, side) else {
            missing += 1;
            continue;
        };
        for statement in &analysis.statements {
            // Tables only: a lock on an index is taken with one on its table.
            for lock in statement
                .locks
                .iter()
                .filter(|l| !l.new_relation && l.target == Target::Table)
            {
                if !tables.contains(&lock.relation) {
                    tables.push(lock.relation.clone());
                }
            }
        }
        for f in &analysis.findings {
            found.push((step.version, f.clone()));
        }
        suppressed += analysis.suppressed.len();
    }
    // Errors first, then in plan order.
    found.sort_by_key(|(_, f)| std::cmp::Reverse(f.severity));
    let errors = found
        .iter()
        .filter(|(_, f)| f.severity == Severity::Error)
        .count();
    let warnings = found
        .iter()
        .filter(|(_, f)| f.severity == Severity::Warning)
        .count();
    let mut lines = vec![Line::raw("")];
    let mut still = if missing > 0 {
        format!("; {} still being analysed", count(missing, "file", "files"))
    } else {
        String::new()
    };
    if let Some(note) = crate::analysis::render::suppressed_note(suppressed) {
        still.push_str(&format!("; {note}"));
    }
    lines.push(match (errors, warnings) {
        (0, 0) if found.is_empty() => Line::styled(
            format!("Findings: none{still}"),
            Style::default().fg(Color::Green),
        ),
        _ => Line::styled(
            format!(
                "Findings: {}, {}{}{still}",
                count(errors, "error", "errors"),
                count(warnings, "warning", "warnings"),
                match found.len() - errors - warnings {
                    0 => String::new(),
                    notes => format!(", {}", count(notes, "note", "notes")),
                }
            ),
            Style::default()
                .fg(if errors > 0 {
                    Color::Red
                } else {
                    Color::Yellow
                })
                .add_modifier(Modifier::BOLD),
        ),
    });
    // One line each: the rule, the lock and its table with the table's size, where it is (the
    // message is in the preview).
    for (version, f) in found.iter().take(first) {
        let mut text = format!("  {} [{}]", glyph(f.severity), f.rule);
        match (f.lock, &f.table) {
            (Some(lock), Some(table)) => text.push_str(&format!(" {} on {table}", lock.sql_name())),
            (Some(lock), None) => text.push_str(&format!(" {}", lock.sql_name())),
            (None, Some(table)) => text.push_str(&format!(" on {table}")),
            (None, None) => {}
        }
        if let Some(note) = f.table.as_deref().and_then(|t| data.table_note(t)) {
            text.push_str(&format!(" ({note})"));
        }
        text.push_str(&format!(" · {version} line {}", f.start.line));
        lines.push(visible::line(
            &text,
            Style::default().fg(severity_color(f.severity)),
        ));
    }
    if found.len() > first {
        lines.push(Line::styled(
            format!(
                "  … and {} more (in the preview)",
                count(found.len() - first, "finding", "findings")
            ),
            DIM,
        ));
    }
    Review {
        lines,
        errors,
        tables,
    }
}
