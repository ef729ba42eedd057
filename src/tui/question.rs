//! A yes/no question over the panes: cancel the running statement, or quit while a migration
//! runs. Only `y` says yes; every other key says no.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::theme::{centered, dialog};

/// Which question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Cancel the running statement?
    CancelRun,
    /// Quit while a migration runs?
    Quit,
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
            Question::Quit => (
                "A migration is running. Quit?",
                "The running statement is cancelled first; its transaction rolls back.",
            ),
        };
        let rect = centered(area, 70, 6);
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(body),
                Line::raw(""),
                Line::styled(
                    "y yes · any other key no",
                    Style::default().fg(Color::Yellow),
                ),
            ])
            .wrap(Wrap { trim: true })
            .block(dialog(Line::raw(format!(" {title} ")), Color::Yellow)),
            rect,
        );
    }
}
