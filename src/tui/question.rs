//! A yes/no question over the panes: cancel the running statement, or quit while a run is in
//! progress. Only `y` says yes; every other key says no.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::theme::{centered, dialog, wrapped_height};

/// The question's width, borders included.
const WIDTH: u16 = 70;

/// Which question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Cancel the running statement?
    CancelRun,
    /// Quit while a run is in progress? `migrating`: a migration is under way (else the run is
    /// starting, between migrations or finishing, and nothing of it runs on the server).
    Quit { migrating: bool },
}

impl Question {
    /// Whether `key` answers yes.
    pub fn yes(self, key: &KeyEvent) -> bool {
        key.code == KeyCode::Char('y')
    }

    /// Draws the question centred over `area`.
    pub fn draw(self, frame: &mut Frame, area: Rect) {
        let (title, body) = match self {
            Question::CancelRun => (
                "Cancel the running statement?",
                "pg_cancel_backend on the migration session; its transaction rolls back and \
                 nothing new starts.",
            ),
            Question::Quit { migrating: true } => (
                "A migration is running. Quit?",
                "The running statement is cancelled first; its transaction rolls back.",
            ),
            Question::Quit { migrating: false } => (
                "No migration is under way. Quit?",
                "The run is starting, between migrations or finishing: what committed stays \
                 applied, no further migration starts, and the run's audit may read as \
                 interrupted.",
            ),
        };
        let lines = vec![
            Line::raw(body),
            Line::raw(""),
            Line::styled(
                "y yes · any other key no",
                Style::default().fg(Color::Yellow),
            ),
        ];
        // As tall as the wrapped text, within the borders.
        let width = WIDTH.min(area.width);
        let height = wrapped_height(&lines, width.saturating_sub(2)) as u16 + 2;
        let rect = centered(area, width, height);
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(dialog(Line::raw(format!(" {title} ")), Color::Yellow)),
            rect,
        );
    }
}
