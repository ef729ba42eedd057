//! The dashboard's look, shared by every component: colours of states and severities, pane
//! borders, dialog frames, and text that wraps instead of being cut.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::analysis::Severity;
use crate::status::State;

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

/// The colour of a severity.
pub fn severity_color(severity: Severity) -> Color {
    match severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Info => Color::Cyan,
    }
}

/// The gutter glyph of a severity.
pub fn glyph(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "✗",
        Severity::Warning => "▲",
        Severity::Info => "●",
    }
}

/// Dim text (hints, placeholders, ages).
pub const DIM: Style = Style::new().fg(Color::DarkGray);

/// A pane's bordered block: green when focused, grey otherwise. `title` may hold migration text:
/// it is shown with hidden characters as markers.
pub fn pane(title: &str, focused: bool) -> Block<'static> {
    pane_titled(super::visible::line(title, Style::default()), focused)
}

/// A pane's bordered block with a styled `title` (its text already shown visibly).
pub fn pane_titled(title: Line<'static>, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().fg(Color::Green)
    } else {
        DIM
    };
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

/// A dialog's bordered block in `color`, titled.
pub fn dialog(title: Line<'static>, color: Color) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(color).add_modifier(Modifier::BOLD))
        .title(title)
}

/// A `width` × `height` rectangle centred in `area`, never larger than it.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    area.centered(Constraint::Length(width), Constraint::Length(height))
        .intersection(area)
}

/// `lines` as a paragraph that wraps at word boundaries (never cutting a line at the edge).
pub fn wrapped(lines: Vec<Line<'static>>) -> Paragraph<'static> {
    Paragraph::new(lines).wrap(Wrap { trim: false })
}

/// How many rows `lines` take wrapped to `width` columns.
pub fn wrapped_height(lines: &[Line<'static>], width: u16) -> usize {
    if width == 0 {
        return 0;
    }
    wrapped(lines.to_vec()).line_count(width)
}

/// Draws `block` over `area` and `lines` wrapped inside it, scrolled down `scroll` rows (never
/// past the last screenful).
pub fn draw_scrolled(
    frame: &mut ratatui::Frame,
    block: Block<'static>,
    area: Rect,
    lines: Vec<Line<'static>>,
    scroll: usize,
) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let last = wrapped_height(&lines, inner.width).saturating_sub(inner.height as usize);
    frame.render_widget(wrapped(lines).scroll((scroll.min(last) as u16, 0)), inner);
}

/// `mm:ss.sss`: a live timer.
pub fn clock(elapsed: std::time::Duration) -> String {
    let ms = elapsed.as_millis();
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// A key and what it does, for the hint line and the dialogs' footers.
pub fn key_hint(key: &str, what: &str) -> Vec<ratatui::text::Span<'static>> {
    vec![
        ratatui::text::Span::styled(key.to_string(), Style::default().fg(Color::Cyan)),
        ratatui::text::Span::styled(format!(" {what}"), DIM),
    ]
}

/// `text` with its first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
