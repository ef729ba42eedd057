//! The `/` filter line: filters the migrations list by version or description as it is typed.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui_textarea::{CursorMove, TextArea};

use super::theme::DIM;

/// The filter being edited.
#[derive(Debug, Clone)]
pub struct Filter {
    input: TextArea<'static>,
}

/// What a key did to the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterAction {
    /// The filter is now this text (still editing).
    Changed(String),
    /// Enter: keep it.
    Keep,
    /// Esc: clear it.
    Clear,
}

impl Filter {
    /// Starts editing `current`.
    pub fn new(current: &str) -> Filter {
        let mut input = TextArea::new(vec![current.to_string()]);
        input.move_cursor(CursorMove::End);
        input.set_cursor_line_style(Style::default());
        Filter { input }
    }

    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> FilterAction {
        match key.code {
            KeyCode::Esc => FilterAction::Clear,
            KeyCode::Enter => FilterAction::Keep,
            _ => {
                self.input.input(*key);
                FilterAction::Changed(self.input.lines().concat())
            }
        }
    }

    /// Draws the line in the hint row.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let [slash, input, hint] = Layout::horizontal([
            Constraint::Length(1),
            Constraint::Min(10),
            Constraint::Length(26),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new("/"), slash);
        super::visible::draw_text_area(frame, &self.input, input);
        frame.render_widget(
            Paragraph::new(Line::styled("  Enter keep · Esc clear", DIM)),
            hint,
        );
    }
}
