//! The health check on demand (`H`): what the engine's check ([`crate::health::check`]) finds
//! — invalid indexes, constraints never validated, sequences near their maximum, tables without
//! fresh statistics, sessions blocked or idle in a transaction, how fast the server answers — in
//! its own words ([`Report::render`]), over the panes. The check runs in the background; `H`
//! checks again, `j`/`k` scroll, any other key closes.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Clear;

use super::keys;
use super::layout::large_dialog_rect;
use super::theme::{DIM, dialog, draw_scrolled, wrapped_height};
use super::visible;
use crate::health::Report;

/// What a key did to the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthAction {
    /// Still open.
    Open,
    /// Check again.
    Recheck,
    /// Closed.
    Close,
}

/// The report's state: the check's result once it is in, and how far it is scrolled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthView {
    /// `None` while the check runs.
    pub checked: Option<Result<Report, String>>,
    scroll: usize,
    /// The screen's size, for the last scroll position.
    size: (u16, u16),
}

impl HealthView {
    /// A check that has just started, on a `size` screen.
    pub fn checking(size: (u16, u16)) -> HealthView {
        HealthView {
            checked: None,
            scroll: 0,
            size,
        }
    }

    /// The check's result arrived.
    pub fn checked(&mut self, result: Result<Report, String>) {
        self.checked = Some(result);
    }

    /// The screen's size changed.
    pub fn resize(&mut self, size: (u16, u16)) {
        self.size = size;
    }

    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> HealthAction {
        if let Some(nav) = keys::nav(key, true) {
            let rect = large_dialog_rect(self.size);
            let page = rect.height.saturating_sub(2) as usize;
            let last =
                wrapped_height(&self.lines(), rect.width.saturating_sub(2)).saturating_sub(page);
            self.scroll = keys::moved(self.scroll, last, page, nav);
            return HealthAction::Open;
        }
        match key.code {
            KeyCode::Char('H') => {
                self.checked = None;
                self.scroll = 0;
                HealthAction::Recheck
            }
            _ => HealthAction::Close,
        }
    }

    /// The report in the engine's words, each line in its tone: headings bold, objects in
    /// yellow, what to do dimmed; "nothing needs action" in green.
    pub fn lines(&self) -> Vec<Line<'static>> {
        match &self.checked {
            None => vec![Line::styled(
                "Checking (read-only, 1 s lock timeout: it never queues behind a migration)…",
                DIM,
            )],
            Some(Err(error)) => vec![visible::line(
                &format!("the health check could not run: {error}"),
                Style::default().fg(Color::Red),
            )],
            Some(Ok(report)) => report
                .render()
                .lines()
                .map(|text| {
                    let style = if text == "nothing needs action" {
                        Style::default().fg(Color::Green)
                    } else if text.starts_with("    ") {
                        DIM
                    } else if text.starts_with("  ") {
                        Style::default().fg(Color::Yellow)
                    } else if text.ends_with(':') {
                        Style::default().add_modifier(Modifier::BOLD)
                    } else {
                        Style::default()
                    };
                    visible::line(text, style)
                })
                .collect(),
        }
    }

    /// Draws the report over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let rect = large_dialog_rect((area.width, area.height)).intersection(area);
        frame.render_widget(Clear, rect);
        let color = match &self.checked {
            Some(Ok(report)) if !report.needs_action() => Color::Green,
            None => Color::Cyan,
            _ => Color::Yellow,
        };
        let block = dialog(
            Line::raw(" Health check — H checks again · j/k scroll · any other key closes "),
            color,
        );
        draw_scrolled(frame, block, rect, self.lines(), self.scroll);
    }
}
