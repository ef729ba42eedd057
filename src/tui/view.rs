//! Drawing: every frame is a pure function of [`App`].

use chrono::Local;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Gauge, Paragraph, Row, Table, TableState, Wrap,
};

use super::app::{App, Focus, LogKind, Overlay, Side};
use super::preview::{NoteKind, PreviewRow, Underline, glyph};
use super::visible::{self, visible_line, visible_lines};
use crate::analysis::{Finding, Severity};
use crate::format::human_duration as human;
use crate::status::State;

pub use crate::format::one_line;

/// The glyph and colour of a state.
pub fn state_look(state: State) -> (&'static str, Color) {
    match state {
        State::Applied => ("✓", Color::Green),
        State::Pending => ("○", Color::Cyan),
        State::OutOfOrder => ("↯", Color::Yellow),
        State::ChecksumMismatch => ("≠", Color::Red),
        State::Missing => ("?", Color::Magenta),
        State::Failed => ("✗", Color::Red),
        State::Partial => ("◐", Color::Red),
    }
}

/// Where each pane goes on a screen of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    /// The migrations list.
    pub migrations: Rect,
    /// The SQL preview.
    pub preview: Rect,
    /// The run pane.
    pub run: Rect,
    /// The status bar.
    pub status: Rect,
    /// The key hints.
    pub hints: Rect,
}

/// Columns reserved left of the preview's text for the mark and the line number.
const PREVIEW_GUTTER: u16 = 8;

impl Areas {
    /// Rows of the migrations list inside its border.
    pub fn list_height(&self) -> usize {
        self.migrations.height.saturating_sub(2) as usize
    }

    /// Columns for the preview's text and notes.
    pub fn preview_text_width(&self, _text: &str) -> usize {
        self.preview.width.saturating_sub(2 + PREVIEW_GUTTER) as usize
    }

    /// Rows of the preview inside its border.
    pub fn preview_height(&self) -> usize {
        self.preview.height.saturating_sub(2) as usize
    }
}

/// Whether a screen is too small to draw the panes.
fn too_small(area: Rect) -> bool {
    area.width < 20 || area.height < 6
}

/// The layout of a screen of `(columns, rows)` (all empty when it is too small).
pub fn layout(size: (u16, u16)) -> Areas {
    layout_in(Rect::new(0, 0, size.0, size.1))
}

fn layout_in(area: Rect) -> Areas {
    if too_small(area) {
        return Areas::default();
    }
    let rows = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(area);
    let columns =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).split(rows[0]);
    let right = Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)])
        .split(columns[1]);
    Areas {
        migrations: columns[0],
        preview: right[0],
        run: right[1],
        status: rows[1],
        hints: rows[2],
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if too_small(area) {
        frame.render_widget(Paragraph::new("lockstep: terminal too small"), area);
        return;
    }
    let areas = layout_in(area);
    draw_migrations(frame, app, areas.migrations);
    draw_preview(frame, app, areas.preview);
    if app.shows_inspect() {
        super::inspect::draw(frame, areas.run, &app.inspect, app.focus == Focus::Inspect);
    } else {
        draw_run(frame, app, areas.run);
    }
    draw_status_bar(frame, app, areas.status);
    draw_hints(frame, app, areas.hints);
    match &app.overlay {
        Overlay::Help => draw_help(frame, area),
        Overlay::Confirm(confirm) => draw_confirm(frame, app, confirm, area),
        Overlay::ConfirmCancel => draw_question(
            frame,
            area,
            "Cancel the running statement?",
            "pg_cancel_backend on the migration session; its transaction rolls back.",
            Color::Yellow,
        ),
        Overlay::ConfirmQuit => draw_question(
            frame,
            area,
            "A migration is running. Quit?",
            "The running statement is cancelled first; its transaction rolls back.",
            Color::Yellow,
        ),
        Overlay::NewMigration => {
            if let Some(editor) = &app.editor {
                draw_editor(frame, editor, area);
            }
        }
        Overlay::Resolve(dialog) => dialog.draw(frame, area),
        Overlay::None | Overlay::Filter | Overlay::Command(_) => {}
    }
}

fn pane(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(visible::line(&title, Style::default()))
}

fn draw_migrations(frame: &mut Frame, app: &App, area: Rect) {
    let height = area.height.saturating_sub(2) as usize;
    let dim = Style::default().fg(Color::DarkGray);
    let first_row = app.list_offset;
    let last_row = (first_row + height).min(app.list_rows());
    let version_width = (first_row..last_row)
        .filter_map(|row| app.version_at_row(row).and_then(|i| app.visible_at(i)))
        .map(|v| v.version.to_string().len())
        .max()
        .unwrap_or(1) as u16;
    let mut rows = Vec::with_capacity(height);
    let mut selected_row = None;
    // Columns only as wide as the rows on screen need, so descriptions get the rest.
    let mut any_applied = false;
    let mut findings_width = 0;
    for row in first_row..last_row {
        let Some(i) = app.version_at_row(row) else {
            rows.push(Row::new(vec![
                Cell::from(""),
                Cell::from(""),
                Cell::from("── pending ──").style(dim),
            ]));
            continue;
        };
        let Some(v) = app.visible_at(i) else { continue };
        if i == app.selected {
            selected_row = Some(rows.len());
        }
        any_applied |= v.applied.is_some();
        let findings = findings_cell(app, v, dim);
        findings_width = findings_width.max(findings.width());
        rows.push(migration_row(app, v, findings, dim));
    }
    let counts = app
        .status
        .as_ref()
        .map(|s| (s.recorded().count(), s.pending().count()));
    let title = match (counts, &app.filter) {
        (Some((a, p)), f) if f.is_empty() => format!(" 1 Migrations — {a} applied, {p} pending "),
        (Some((a, p)), f) => format!(" 1 Migrations — {a} applied, {p} pending — filter: {f} "),
        (None, _) => " 1 Migrations — loading… ".to_string(),
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(version_width),
            Constraint::Fill(1),
            Constraint::Length(findings_width as u16),
            Constraint::Length(if any_applied { 11 } else { 0 }),
            Constraint::Length(if any_applied { 9 } else { 0 }),
        ],
    )
    .block(pane(title, app.focus == Focus::Migrations))
    .row_highlight_style(
        Style::default()
            .bg(Color::Rgb(40, 44, 52))
            .add_modifier(Modifier::BOLD),
    )
    .highlight_symbol("›");
    let mut state = TableState::default().with_selected(selected_row);
    frame.render_stateful_widget(table, area, &mut state);
}

/// The findings of a version's UP file: ✗ errors and ▲ warnings, `…` while analysing.
fn findings_cell(app: &App, v: &crate::status::VersionStatus, dim: Style) -> Line<'static> {
    match app.finding_counts(v.version) {
        Some((errors, warnings, _)) => {
            let mut spans = Vec::new();
            if errors > 0 {
                spans.push(Span::styled(
                    format!("✗{errors}"),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
            if warnings > 0 {
                if !spans.is_empty() {
                    spans.push(Span::raw(" "));
                }
                spans.push(Span::styled(
                    format!("▲{warnings}"),
                    Style::default().fg(Color::Yellow),
                ));
            }
            Line::from(spans)
        }
        None if v.migration.is_some() => Line::styled("…", dim),
        None => Line::raw(""),
    }
}

/// One version's row: glyph, version, description and flags, findings, applied time, duration.
fn migration_row<'a>(
    app: &App,
    v: &crate::status::VersionStatus,
    findings: Line<'static>,
    dim: Style,
) -> Row<'a> {
    let (glyph, color) = state_look(v.state);
    let running = app.running.as_ref().and_then(|r| r.version) == Some(v.version);
    let glyph = if running { "▶" } else { glyph };
    let mut description = visible::spans(&v.description, Style::default());
    if v.migration.as_ref().is_some_and(|m| m.up.no_transaction) {
        description.push(Span::styled(" no-tx", Style::default().fg(Color::Yellow)));
    }
    if !matches!(v.state, State::Applied | State::Pending) {
        description.push(Span::styled(
            format!(" · {}", v.label()),
            Style::default().fg(color),
        ));
    }
    let (when, took) = match &v.applied {
        Some(applied) => (
            applied
                .installed_on
                .with_timezone(&Local)
                .format("%m-%d %H:%M")
                .to_string(),
            crate::format::execution_time(applied.execution_time),
        ),
        None => (String::new(), String::new()),
    };
    Row::new(vec![
        Cell::from(glyph).style(Style::default().fg(color).add_modifier(Modifier::BOLD)),
        Cell::from(v.version.to_string()).style(Style::default().fg(color)),
        Cell::from(Line::from(description)),
        Cell::from(findings),
        Cell::from(when).style(dim),
        Cell::from(Line::from(took).right_aligned()).style(dim),
    ])
}

fn draw_preview(frame: &mut Frame, app: &App, area: Rect) {
    let selected = app.selected_version();
    let side = match app.side {
        Side::Up => "UP",
        Side::Down => "DOWN",
    };
    let Some(v) = selected else {
        frame.render_widget(
            Paragraph::new("no migration selected")
                .block(pane(" 2 Preview ".into(), app.focus == Focus::Preview)),
            area,
        );
        return;
    };
    let Some(migration) = &v.migration else {
        frame.render_widget(
            Paragraph::new(format!(
                "version {} is applied but its file is missing",
                v.version
            ))
            .style(Style::default().fg(Color::Magenta))
            .block(pane(
                format!(" 2 {} {} ", v.version, v.description),
                app.focus == Focus::Preview,
            )),
            area,
        );
        return;
    };
    let file = match app.side {
        Side::Up => Some(&migration.up),
        Side::Down => migration.down.as_ref(),
    };
    let mode = if migration.up.no_transaction {
        "no transaction"
    } else {
        "one transaction"
    };
    let down = if migration.down.is_some() {
        "has DOWN"
    } else {
        "no DOWN (simple)"
    };
    let title = format!(
        " 2 {side} {} {} — {mode}, {down} ",
        v.version, v.description
    );
    let Some(file) = file else {
        frame.render_widget(
            Paragraph::new("this migration has no DOWN file: it cannot be reverted")
                .block(pane(title, app.focus == Focus::Preview)),
            area,
        );
        return;
    };
    let failing_line = app
        .failure
        .as_ref()
        .filter(|(version, _)| *version == v.version)
        .and_then(|(_, f)| f.line);
    let analysis = app.analysis(v.version, app.side);
    let title = match analysis {
        Some(a) if a.findings.is_empty() => format!("{title}· no findings "),
        Some(a) => format!(
            "{title}· {} finding(s), ] next [ previous ",
            a.findings.len()
        ),
        None => format!("{title}· analysing… "),
    };
    let block = pane(title, app.focus == Focus::Preview);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Only the rows on screen are built: a 1 MB migration costs no more per frame than a small one.
    let skip = app.preview_scroll as usize;
    let height = inner.height as usize;
    let shown = app.preview_rows.iter().skip(skip).take(height);
    let code_lines: Vec<usize> = shown
        .clone()
        .filter_map(|r| match r {
            PreviewRow::Code { line, .. } => Some(*line),
            PreviewRow::Note { .. } => None,
        })
        .collect();
    let source = source_lines(app, file, &code_lines);
    let total = app
        .preview_rows
        .iter()
        .rev()
        .find_map(|r| match r {
            PreviewRow::Code { line, .. } => Some(*line + 1),
            PreviewRow::Note { .. } => None,
        })
        .unwrap_or(1);
    let width = total.to_string().len();
    let mut lines: Vec<Line> = Vec::with_capacity(height);
    for row in shown {
        match row {
            PreviewRow::Code {
                line,
                mark,
                underlines,
            } => {
                let failing = failing_line == Some(line + 1);
                let number_style = if failing {
                    Style::default().fg(Color::White).bg(Color::Red)
                } else {
                    Style::default().fg(Color::DarkGray)
                };
                let mark = match mark {
                    Some(severity) => Span::styled(
                        glyph(*severity),
                        Style::default()
                            .fg(severity_color(*severity))
                            .add_modifier(Modifier::BOLD),
                    ),
                    None => Span::raw(" "),
                };
                let text = source
                    .get(line)
                    .cloned()
                    .unwrap_or_else(|| Line::raw(String::new()));
                let mut spans = vec![
                    mark,
                    Span::styled(format!("{:>width$} ", line + 1), number_style),
                ];
                spans.extend(underline(text, underlines).spans);
                let line = Line::from(spans);
                lines.push(if failing {
                    line.style(Style::default().bg(Color::Rgb(80, 20, 20)))
                } else {
                    line
                });
            }
            PreviewRow::Note {
                finding,
                kind,
                text,
            } => {
                let Some(f) = analysis.and_then(|a| a.findings.get(*finding)) else {
                    continue;
                };
                let color = severity_color(f.severity);
                let mut spans = vec![Span::styled(
                    format!("{:>w$}│ ", "", w = width + 1),
                    Style::default().fg(color),
                )];
                match kind {
                    NoteKind::Message { first: true } => {
                        spans.push(Span::styled(
                            text.clone(),
                            Style::default().fg(color).add_modifier(Modifier::BOLD),
                        ));
                    }
                    NoteKind::Message { first: false } => {
                        spans.push(Span::styled(text.clone(), Style::default().fg(color)));
                    }
                    NoteKind::Badges => {
                        if let Some(a) = analysis {
                            spans.extend(badges(app, a, f));
                        }
                    }
                    NoteKind::Help => {
                        spans.push(Span::styled(
                            text.clone(),
                            Style::default().fg(Color::Green),
                        ));
                    }
                }
                lines.push(Line::from(spans));
            }
        }
    }
    // Markers go in after the underlines, which count source characters.
    frame.render_widget(Paragraph::new(visible_lines(lines)), inner);
}

/// The source lines `wanted` (0-based) of the previewed file: highlighted when ready, else plain.
fn source_lines(
    app: &App,
    file: &crate::source::MigrationFile,
    wanted: &[usize],
) -> std::collections::HashMap<usize, Line<'static>> {
    let mut out = std::collections::HashMap::with_capacity(wanted.len());
    let (Some(&first), Some(&last)) = (wanted.iter().min(), wanted.iter().max()) else {
        return out;
    };
    match app.highlighted.get(&file.checksum) {
        Some(lines) => {
            for &i in wanted {
                if let Some(line) = lines.get(i) {
                    out.insert(i, line.clone());
                }
            }
        }
        None => {
            for (i, text) in file
                .sql
                .lines()
                .enumerate()
                .skip(first)
                .take(last + 1 - first)
            {
                out.insert(i, Line::raw(text.to_string()));
            }
        }
    }
    out
}

/// The colour of a severity.
pub fn severity_color(severity: Severity) -> Color {
    match severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Cyan,
    }
}

/// `line` with the character ranges in `underlines` underlined in their severity's colour.
fn underline(line: Line<'static>, underlines: &[Underline]) -> Line<'static> {
    if underlines.is_empty() {
        return line;
    }
    let covering = |column: usize| {
        underlines
            .iter()
            .filter(|u| u.from <= column && column < u.to)
            .map(|u| u.severity)
            .max()
    };
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut column = 0;
    for span in line.spans {
        let mut piece = String::new();
        let mut piece_mark = None;
        for ch in span.content.chars() {
            let mark = covering(column);
            if mark != piece_mark && !piece.is_empty() {
                spans.push(marked(std::mem::take(&mut piece), span.style, piece_mark));
            }
            piece_mark = mark;
            piece.push(ch);
            column += 1;
        }
        if !piece.is_empty() {
            spans.push(marked(piece, span.style, piece_mark));
        }
    }
    Line::from(spans).style(line.style)
}

fn marked(text: String, style: Style, mark: Option<Severity>) -> Span<'static> {
    match mark {
        Some(severity) => Span::styled(
            text,
            style
                .add_modifier(Modifier::UNDERLINED)
                .underline_color(severity_color(severity)),
        ),
        None => Span::styled(text, style),
    }
}

/// The lock badges of a finding's statement: mode and table, what it blocks, scan or rewrite,
/// the table's size when known, and the locks still held from earlier statements.
fn badges(app: &App, analysis: &crate::analysis::Analysis, f: &Finding) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let Some(statement) = f.statement_index.and_then(|i| analysis.statements.get(i)) else {
        spans.push(Span::styled(
            f.axis.label(),
            Style::default().fg(Color::DarkGray),
        ));
        return spans;
    };
    let badge = |text: String, color: Color| {
        Span::styled(
            format!(" {text} "),
            Style::default().fg(Color::Black).bg(color),
        )
    };
    for lock in statement
        .locks
        .iter()
        .filter(|l| f.table.as_deref().is_none_or(|t| t == l.relation))
        .take(3)
    {
        let color = if lock.blocks_reads {
            Color::Red
        } else if lock.blocks_writes {
            Color::Yellow
        } else {
            Color::Gray
        };
        spans.push(badge(
            format!("{} on {}", lock.mode.sql_name(), lock.relation),
            color,
        ));
        spans.push(Span::raw(" "));
        let blocks = match (lock.blocks_reads, lock.blocks_writes) {
            (true, _) => Some(("blocks reads+writes", Color::Red)),
            (false, true) => Some(("blocks writes", Color::Yellow)),
            _ => None,
        };
        if let Some((text, color)) = blocks {
            spans.push(Span::styled(format!("{text} "), Style::default().fg(color)));
        }
        if lock.rewrite {
            spans.push(Span::styled("rewrite ", Style::default().fg(Color::Red)));
        } else if lock.scan {
            spans.push(Span::styled("scan ", Style::default().fg(Color::Yellow)));
        }
        if lock.new_relation {
            spans.push(Span::styled(
                "new table ",
                Style::default().fg(Color::DarkGray),
            ));
        } else if let Some(size) = app.table_note(&lock.relation) {
            spans.push(Span::styled(
                format!("({size}) "),
                Style::default().fg(Color::Magenta),
            ));
        }
    }
    if !statement.held_before.is_empty() {
        spans.push(Span::styled(
            format!(
                "+{} lock(s) held since earlier statements",
                statement.held_before.len()
            ),
            Style::default().fg(Color::DarkGray),
        ));
    }
    if spans.is_empty() {
        spans.push(Span::styled(
            f.axis.label(),
            Style::default().fg(Color::DarkGray),
        ));
    }
    spans
}

fn draw_run(frame: &mut Frame, app: &App, area: Rect) {
    let block = pane(
        " 3 Run │ 4 Sizes · 5 Locks · 6 Activity ".into(),
        app.focus == Focus::Run,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut log_area = inner;
    if let Some(running) = &app.running {
        let sample = running
            .sample
            .as_deref()
            .map(lock_sample_lines)
            .unwrap_or_default();
        let parts = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(sample.len() as u16),
            Constraint::Min(0),
        ])
        .split(inner);
        frame.render_widget(Paragraph::new(sample), parts[2]);
        let status = match (&running.waiting_on, &running.statement) {
            (Some(holder), _) => Line::styled(
                format!(
                    "⏳ waiting for the migration lock held by {}  {}",
                    holder
                        .as_ref()
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another session".into()),
                    human(running.started.elapsed())
                ),
                Style::default().fg(Color::Yellow),
            ),
            (None, Some((index, line, text, started))) => Line::from(vec![
                Span::styled(
                    format!("▶ {} ", running.version.unwrap_or_default()),
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!(
                    "stmt {} line {line}: {}  ",
                    index + 1,
                    one_line(text, 40)
                )),
                Span::styled(clock(started.elapsed()), Style::default().fg(Color::Yellow)),
            ]),
            (None, None) => Line::raw(format!("starting… {}", clock(running.started.elapsed()))),
        };
        frame.render_widget(Paragraph::new(visible_line(status)), parts[0]);
        let ratio = if running.total == 0 {
            0.0
        } else {
            running.done as f64 / running.total as f64
        };
        frame.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Cyan))
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!("{}/{} statements", running.done, running.total)),
            parts[1],
        );
        log_area = parts[3];
    }
    let height = log_area.height as usize;
    let end = app.log.len().saturating_sub(app.log_scroll as usize);
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = app.log[start..end]
        .iter()
        .map(|entry| {
            let style = match entry.kind {
                LogKind::Heading => Style::default().add_modifier(Modifier::BOLD),
                LogKind::Statement => Style::default(),
                LogKind::Waiting => Style::default().fg(Color::Yellow),
                LogKind::Ok => Style::default().fg(Color::Green),
                LogKind::Error => Style::default().fg(Color::Red),
                LogKind::Info => Style::default().fg(Color::DarkGray),
            };
            visible::line(&entry.text, style)
        })
        .collect();
    let empty = app.log.is_empty() && app.running.is_none();
    let paragraph = if empty {
        Paragraph::new(Line::styled(
            "no run yet in this session: a applies, b rolls back",
            Style::default().fg(Color::DarkGray),
        ))
    } else {
        Paragraph::new(lines).wrap(Wrap { trim: false })
    };
    frame.render_widget(paragraph, log_area);
}

/// What a lock sample of the migration session says: the locks it holds, what it waits for and
/// on whom (with that session's state, age and query), and how many sessions queue behind it.
pub fn lock_sample_lines(sample: &crate::monitor::SessionLocks) -> Vec<Line<'static>> {
    use crate::monitor::render::{lock_target, wait_lines};
    let mut lines = Vec::new();
    let mut held: Vec<String> = sample
        .locks
        .iter()
        .filter(|l| l.granted && l.relation.is_some())
        .map(lock_target)
        .collect();
    held.dedup();
    if !held.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("holds ", Style::default().fg(Color::DarkGray)),
            Span::raw(held.join(", ")),
        ]));
    }
    if let Some(wait) = sample.wait() {
        for (i, text) in wait_lines(&wait, None).into_iter().enumerate() {
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
                "{} session(s) queued behind the migration",
                sample.queued_behind()
            ),
            Style::default().fg(Color::Yellow),
        ));
    }
    visible_lines(lines)
}

/// `mm:ss.sss`.
pub fn clock(elapsed: std::time::Duration) -> String {
    let ms = elapsed.as_millis();
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn draw_status_bar(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![
        Span::styled(" ", Style::default()),
        Span::styled(
            app.database.clone(),
            Style::default().fg(if app.remote { Color::Red } else { Color::Green }),
        ),
    ];
    if app.sandbox {
        spans.push(Span::styled(" [sandbox]", Style::default().fg(Color::Cyan)));
    }
    if let Some(version) = &app.server_version {
        spans.push(Span::raw(format!("  PostgreSQL {version}")));
    }
    if app.read_only {
        spans.push(Span::styled(
            "  READ-ONLY",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(short) = app.pooling.as_ref().and_then(|p| {
        p.short().map(|short| {
            (
                short,
                if p.keeps_sessions() {
                    Color::Gray
                } else {
                    Color::Yellow
                },
            )
        })
    }) {
        spans.push(Span::styled(
            format!("  {}", short.0),
            Style::default().fg(short.1),
        ));
    }
    if let Some(holder) = &app.lock_holder {
        let via = if holder.via_pooler {
            format!(
                " {}",
                crate::monitor::render::via_pooler(holder.client.as_deref())
            )
        } else {
            String::new()
        };
        spans.push(Span::styled(
            format!("  migration lock (sqlx): pid {}{via}", holder.pid),
            Style::default().fg(Color::Yellow),
        ));
    }
    if let Some(error) = &app.status_error {
        spans.push(Span::styled(
            format!("  ⚠ {error} (retrying)"),
            Style::default().fg(Color::Red),
        ));
    } else if let Some(message) = &app.message {
        spans.push(Span::styled(
            format!("  {message}"),
            Style::default().fg(Color::White),
        ));
    }
    frame.render_widget(
        Paragraph::new(visible_line(Line::from(spans)))
            .style(Style::default().bg(Color::Rgb(30, 30, 30))),
        area,
    );
}

fn draw_hints(frame: &mut Frame, app: &App, area: Rect) {
    if let (Overlay::Filter, Some(input)) = (&app.overlay, &app.filter_input) {
        let parts = Layout::horizontal([
            Constraint::Length(1),
            Constraint::Min(10),
            Constraint::Length(26),
        ])
        .split(area);
        frame.render_widget(Paragraph::new("/"), parts[0]);
        frame.render_widget(input, parts[1]);
        frame.render_widget(
            Paragraph::new(Line::styled(
                "  Enter keep · Esc clear",
                Style::default().fg(Color::DarkGray),
            )),
            parts[2],
        );
        return;
    }
    let line = match &app.overlay {
        Overlay::Filter => format!("/{}█  Enter keep · Esc clear", app.filter),
        Overlay::Command(text) => {
            format!(":{text}█  Enter run · Esc cancel · :up :up V :down N :down-to V :redo")
        }
        _ => {
            let common = "Tab pane · ? help · q quit";
            let inspect_keys;
            let keys = match app.focus {
                Focus::Migrations if app.read_only => "j/k move · u/d UP/DOWN · / filter",
                Focus::Migrations => {
                    "j/k move · a apply to · b roll back to · A all · B last · r redo · n new · u/d UP/DOWN · / filter · : cmd"
                }
                Focus::Preview => "j/k scroll · ] [ next/previous finding · u/d UP/DOWN",
                Focus::Run => "j/k scroll log · 4 5 6 sizes, locks, activity",
                Focus::Inspect => {
                    inspect_keys = app.inspect.hints();
                    inspect_keys.as_str()
                }
            };
            let cancel = if app.running.is_some() {
                " · c cancel"
            } else {
                ""
            };
            format!("{keys}{cancel} · {common}")
        }
    };
    frame.render_widget(
        Paragraph::new(Line::styled(line, Style::default().fg(Color::DarkGray))),
        area,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let rows = [
        (
            "↑/↓ j/k, g/G, PgUp/PgDn",
            "move / scroll in the focused pane",
        ),
        ("Tab / Shift-Tab, 1 2 3", "focus migrations, preview, run"),
        (
            "4 5 6",
            "sizes, locks, activity (in the run pane's place; 3 goes back)",
        ),
        (
            "  s / S, p, R",
            "sizes: sort column / reverse; pause refreshing; refresh now",
        ),
        (
            "  x / X",
            "locks, activity: cancel / terminate a session (asks; X twice)",
        ),
        ("u / d", "preview the UP / DOWN file"),
        (
            "] / [",
            "jump to the next / previous finding in the preview",
        ),
        ("a", "apply pending migrations up to the selected one"),
        ("A", "apply everything pending"),
        ("b", "roll back down to (and including) the selected one"),
        ("B", "roll back the last applied migration"),
        ("r", "redo: revert the last one and apply it again"),
        ("c", "cancel the running statement (asks first)"),
        (
            "m",
            "resolve a partially applied migration (shows what is known; asks)",
        ),
        ("n", "new migration: description, UP and DOWN; Ctrl-S saves"),
        ("/", "filter migrations by version or description"),
        (
            ":",
            "command: :up, :up V, :to V, :down N, :down-to V, :redo, :q",
        ),
        ("R", "re-read the status"),
        (
            "mouse",
            "click a pane to focus it, a migration to select it; wheel scrolls",
        ),
        ("? / F1", "this help"),
        ("q, Ctrl-c", "quit (asks while a migration runs)"),
    ];
    let lines: Vec<Line> = rows
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!("{key:<26}"), Style::default().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    let rect = centered(area, 100, rows.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys — any key closes "),
        ),
        rect,
    );
}

fn draw_confirm(frame: &mut Frame, app: &App, confirm: &super::app::Confirm, area: Rect) {
    let rect = centered(
        area,
        area.width.saturating_sub(8).min(100),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Yellow))
        .title(visible::line(
            &format!(" {} ", confirm.title),
            Style::default(),
        ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let parts = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .split(inner);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("on "),
            Span::styled(
                app.database.clone(),
                Style::default()
                    .fg(if app.remote { Color::Red } else { Color::Green })
                    .add_modifier(Modifier::BOLD),
            ),
        ])),
        parts[0],
    );
    let mut body: Vec<Line> = confirm
        .lines
        .iter()
        .map(|l| {
            let style = if l.starts_with("  ✗") {
                Style::default().fg(Color::Red)
            } else if l.starts_with("  ▲") {
                Style::default().fg(Color::Yellow)
            } else {
                Style::default()
            };
            visible::line(l, style)
        })
        .collect();
    body.extend(visible_lines(blocker_lines(confirm)));
    let height = parts[1].height as usize;
    let scroll = (app.confirm_scroll as usize).min(body.len().saturating_sub(height));
    let more_below = body.len().saturating_sub(scroll + height);
    let mut shown: Vec<Line> = body.into_iter().skip(scroll).take(height).collect();
    if more_below > 0 && !shown.is_empty() {
        shown.pop();
        shown.push(Line::styled(
            format!("… {} more line(s): ↓/PgDn to scroll", more_below + 1),
            Style::default().fg(Color::Cyan),
        ));
    }
    frame.render_widget(Paragraph::new(shown), parts[1]);
    let footer = match &confirm.challenge {
        Some(challenge) => Line::from(vec![
            Span::styled(
                format!(
                    "{}: type {challenge} and press Enter to run · Esc cancels: ",
                    confirm.challenge_reason.as_deref().unwrap_or("confirm")
                ),
                Style::default().fg(Color::Red),
            ),
            Span::styled(
                format!("{}█", confirm.typed),
                Style::default().fg(Color::Yellow),
            ),
        ]),
        None => {
            let (cancel, run) = if confirm.on_confirm {
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
            Line::from(vec![
                Span::styled(" Cancel (n/Esc) ", cancel),
                Span::raw("   "),
                Span::styled(" Run (y) ", run),
            ])
        }
    };
    frame.render_widget(Paragraph::new(footer), parts[2]);
}

/// The confirmation's list of sessions the migration would queue behind.
fn blocker_lines(confirm: &super::app::Confirm) -> Vec<Line<'static>> {
    if confirm.tables.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![Line::raw("")];
    match &confirm.blockers {
        None => lines.push(Line::styled(
            "Looking for sessions holding locks on the tables…",
            Style::default().fg(Color::DarkGray),
        )),
        Some(Err(error)) => lines.push(Line::styled(
            format!("Could not check for sessions holding locks: {error}"),
            Style::default().fg(Color::Yellow),
        )),
        Some(Ok(found)) if found.is_empty() => lines.push(Line::styled(
            format!(
                "No long-running or idle-in-transaction session holds a lock on {}",
                confirm.tables.join(", ")
            ),
            Style::default().fg(Color::Green),
        )),
        Some(Ok(found)) => {
            lines.push(Line::styled(
                format!(
                    "The migration will queue behind {} session(s):",
                    found.len()
                ),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
            for b in found {
                let s = &b.session;
                lines.push(Line::styled(
                    format!(
                        "  pid {} {} {} on {} ({}): {}",
                        s.pid,
                        if b.granted { "holds" } else { "waits for" },
                        b.mode,
                        b.table,
                        crate::monitor::render::session_brief(s),
                        one_line(s.query.as_deref().unwrap_or(""), 50)
                    ),
                    Style::default().fg(if s.is_idle_in_transaction() {
                        Color::Red
                    } else {
                        Color::Yellow
                    }),
                ));
            }
        }
    }
    lines
}

fn draw_editor(frame: &mut Frame, editor: &super::editor::Editor, area: Rect) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(" New migration (reversible) ");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let findings: Vec<Line> = editor
        .findings
        .iter()
        .take(5)
        .map(|f| {
            visible::line(
                &one_line(
                    &format!(
                        "{} {} line {}: {}",
                        glyph(f.severity),
                        if f.down { "DOWN" } else { "UP" },
                        f.line,
                        f.text
                    ),
                    rect.width.saturating_sub(4) as usize,
                ),
                Style::default().fg(severity_color(f.severity)),
            )
        })
        .collect();
    let rows = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(findings.len() as u16),
        Constraint::Length(1),
    ])
    .split(inner);
    let bodies =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).split(rows[1]);
    visible::draw_text_area(frame, &editor.description, rows[0]);
    visible::draw_text_area(frame, &editor.up, bodies[0]);
    visible::draw_text_area(frame, &editor.down, bodies[1]);
    frame.render_widget(Paragraph::new(findings), rows[2]);
    let footer = match &editor.error {
        Some(error) => visible::line(error, Style::default().fg(Color::Red)),
        None if editor.findings.len() > 5 => Line::styled(
            format!(
                "{} more finding(s) · Tab next field · Ctrl-S save as sqlx files · Esc discard",
                editor.findings.len() - 5
            ),
            Style::default().fg(Color::DarkGray),
        ),
        None => Line::styled(
            "analysed as you type · Tab next field · Ctrl-S save as sqlx files · Esc discard",
            Style::default().fg(Color::DarkGray),
        ),
    };
    frame.render_widget(Paragraph::new(footer), rows[3]);
}

fn draw_question(frame: &mut Frame, area: Rect, title: &str, body: &str, color: Color) {
    let rect = centered(area, 70, 5);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(vec![
            visible::line(body, Style::default()),
            Line::raw(""),
            Line::styled("y yes · any other key no", Style::default().fg(color)),
        ])
        .wrap(Wrap { trim: true })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(color))
                .title(format!(" {title} ")),
        ),
        rect,
    );
}
