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
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < 20 || area.height < 6 {
        frame.render_widget(Paragraph::new("lockstep: terminal too small"), area);
        return;
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
    draw_migrations(frame, app, columns[0]);
    draw_preview(frame, app, right[0]);
    draw_run(frame, app, right[1]);
    draw_status_bar(frame, app, rows[1]);
    draw_hints(frame, app, rows[2]);
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
        .title(title)
}

fn draw_migrations(frame: &mut Frame, app: &App, area: Rect) {
    let visible = app.visible();
    let version_width = visible
        .iter()
        .map(|v| v.version.to_string().len())
        .max()
        .unwrap_or(1) as u16;
    let dim = Style::default().fg(Color::DarkGray);
    let mut rows = Vec::new();
    let mut selected_row = None;
    let mut shown_pending = false;
    for (i, v) in visible.iter().enumerate() {
        if !v.state.is_recorded() && !shown_pending {
            shown_pending = true;
            if i > 0 {
                rows.push(Row::new(vec![
                    Cell::from(""),
                    Cell::from(""),
                    Cell::from("── pending ──").style(dim),
                ]));
            }
        }
        if i == app.selected {
            selected_row = Some(rows.len());
        }
        let (glyph, color) = state_look(v.state);
        let running = app.running.as_ref().and_then(|r| r.version) == Some(v.version);
        let glyph = if running { "▶" } else { glyph };
        let mut description = vec![Span::raw(v.description.clone())];
        if v.migration.as_ref().is_some_and(|m| m.up.no_transaction) {
            description.push(Span::styled(" no-tx", Style::default().fg(Color::Yellow)));
        }
        if !matches!(v.state, State::Applied | State::Pending) {
            description.push(Span::styled(
                format!(" · {}", v.state.label()),
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
        rows.push(Row::new(vec![
            Cell::from(glyph).style(Style::default().fg(color).add_modifier(Modifier::BOLD)),
            Cell::from(v.version.to_string()).style(Style::default().fg(color)),
            Cell::from(Line::from(description)),
            Cell::from(when).style(dim),
            Cell::from(Line::from(took).right_aligned()).style(dim),
        ]));
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
            Constraint::Length(11),
            Constraint::Length(9),
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
    // Only the visible lines are built: a 1 MB migration costs no more per frame than a small one.
    let skip = app.preview_scroll as usize;
    let height = area.height as usize;
    let (total, visible): (usize, Vec<Line>) = match app.highlighted.get(&file.checksum) {
        Some(lines) => (
            lines.len(),
            lines.iter().skip(skip).take(height).cloned().collect(),
        ),
        None => (
            file.sql.lines().count(),
            file.sql
                .lines()
                .skip(skip)
                .take(height)
                .map(|l| Line::raw(l.to_string()))
                .collect(),
        ),
    };
    let width = total.max(1).to_string().len();
    let numbered: Vec<Line> = visible
        .into_iter()
        .enumerate()
        .map(|(i, line)| (i + skip, line))
        .map(|(i, line)| {
            let failing = failing_line == Some(i + 1);
            let gutter_style = if failing {
                Style::default().fg(Color::White).bg(Color::Red)
            } else {
                Style::default().fg(Color::DarkGray)
            };
            let mut spans = vec![Span::styled(format!("{:>width$} ", i + 1), gutter_style)];
            spans.extend(line.spans);
            let line = Line::from(spans);
            if failing {
                line.style(Style::default().bg(Color::Rgb(80, 20, 20)))
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(numbered).block(pane(title, app.focus == Focus::Preview)),
        area,
    );
}

fn draw_run(frame: &mut Frame, app: &App, area: Rect) {
    let block = pane(" 3 Run ".into(), app.focus == Focus::Run);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut log_area = inner;
    if let Some(running) = &app.running {
        let parts = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .split(inner);
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
        frame.render_widget(Paragraph::new(status), parts[0]);
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
        log_area = parts[2];
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
            Line::styled(entry.text.clone(), style)
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
    if let Some(holder) = &app.lock_holder {
        spans.push(Span::styled(
            format!("  migration lock (sqlx): pid {}", holder.pid),
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
        Paragraph::new(Line::from(spans)).style(Style::default().bg(Color::Rgb(30, 30, 30))),
        area,
    );
}

fn draw_hints(frame: &mut Frame, app: &App, area: Rect) {
    let line = match &app.overlay {
        Overlay::Filter => format!("/{}█  Enter keep · Esc clear", app.filter),
        Overlay::Command(text) => {
            format!(":{text}█  Enter run · Esc cancel · :up :up V :down N :down-to V :redo")
        }
        _ => {
            let common = "Tab pane · ? help · q quit";
            let keys = match app.focus {
                Focus::Migrations if app.read_only => "j/k move · u/d UP/DOWN · / filter",
                Focus::Migrations => {
                    "j/k move · a apply to · b roll back to · A all · B last · r redo · n new · u/d UP/DOWN · / filter · : cmd"
                }
                Focus::Preview => "j/k scroll · PgUp/PgDn · u/d UP/DOWN",
                Focus::Run => "j/k scroll log",
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
        ("u / d", "preview the UP / DOWN file"),
        ("a", "apply pending migrations up to the selected one"),
        ("A", "apply everything pending"),
        ("b", "roll back down to (and including) the selected one"),
        ("B", "roll back the last applied migration"),
        ("r", "redo: revert the last one and apply it again"),
        ("c", "cancel the running statement (asks first)"),
        ("n", "new migration: description, UP and DOWN; Ctrl-S saves"),
        ("/", "filter migrations by version or description"),
        (
            ":",
            "command: :up, :up V, :to V, :down N, :down-to V, :redo, :q",
        ),
        ("R", "re-read the status"),
        ("mouse wheel", "scroll"),
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
    let rect = centered(area, 90, rows.len() as u16 + 2);
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
        .title(format!(" {} ", confirm.title));
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
    let body: Vec<Line> = confirm.lines.iter().map(|l| Line::raw(l.clone())).collect();
    frame.render_widget(Paragraph::new(body), parts[1]);
    let footer = match &confirm.challenge {
        Some(challenge) => Line::from(vec![
            Span::raw(format!(
                "Type {challenge} and press Enter to run · Esc cancels: "
            )),
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
    let rows = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .split(inner);
    let bodies =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).split(rows[1]);
    frame.render_widget(&editor.description, rows[0]);
    frame.render_widget(&editor.up, bodies[0]);
    frame.render_widget(&editor.down, bodies[1]);
    let footer = match &editor.error {
        Some(error) => Line::styled(error.clone(), Style::default().fg(Color::Red)),
        None => Line::styled(
            "Tab next field · Ctrl-S save as sqlx files · Esc discard",
            Style::default().fg(Color::DarkGray),
        ),
    };
    frame.render_widget(Paragraph::new(footer), rows[2]);
}

fn draw_question(frame: &mut Frame, area: Rect, title: &str, body: &str, color: Color) {
    let rect = centered(area, 70, 5);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(body.to_string()),
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
