//! The fix dialog (`f`): what a finding's fix changes, as a diff of the migration file, and the
//! new migration it moves a statement to; `y` writes it, anything else closes it.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;

use super::keys;
use super::layout::large_dialog_rect;
use super::theme::{DIM, dialog, key_hint, wrapped, wrapped_height};
use super::visible;
use crate::source::fix::{DiffLine, FixWrite, diff};

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

/// What a key did to the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixAction {
    /// Still open.
    Open,
    /// Closed without writing.
    Cancel,
    /// Write the fix.
    Write,
}

/// The dialog's state.
#[derive(Debug, Clone, PartialEq)]
pub struct FixDialog {
    /// The fix.
    pub fix: FixWrite,
    scroll: usize,
    size: (u16, u16),
}

impl FixDialog {
    /// The dialog for `fix` on a screen of `size`.
    pub fn new(fix: FixWrite, size: (u16, u16)) -> FixDialog {
        FixDialog {
            fix,
            scroll: 0,
            size,
        }
    }

    /// The screen's size changed.
    pub fn resize(&mut self, size: (u16, u16)) {
        self.size = size;
    }

    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> FixAction {
        if let Some(nav) = keys::nav(key, true) {
            let rect = large_dialog_rect(self.size);
            let height = rect.height.saturating_sub(4) as usize;
            let last =
                wrapped_height(&self.body(), rect.width.saturating_sub(2)).saturating_sub(height);
            self.scroll = keys::moved(self.scroll, last, height, nav);
            return FixAction::Open;
        }
        match key.code {
            KeyCode::Char('y') => FixAction::Write,
            _ => FixAction::Cancel,
        }
    }

    fn body(&self) -> Vec<Line<'static>> {
        let fix = &self.fix;
        let mut lines = vec![
            visible::line(
                &format!("[{}] {}", fix.rule, fix.description),
                Style::default().fg(Color::Green),
            ),
            Line::raw(""),
            visible::line(
                &fix.path.display().to_string(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ];
        for line in diff(&fix.before, &fix.after, CONTEXT) {
            lines.push(match line {
                DiffLine::Same(text) => visible::line(&format!("  {text}"), DIM),
                DiffLine::Removed(text) => {
                    visible::line(&format!("- {text}"), Style::default().fg(Color::Red))
                }
                DiffLine::Added(text) => {
                    visible::line(&format!("+ {text}"), Style::default().fg(Color::Green))
                }
                DiffLine::Skipped(_) => Line::styled("  …", DIM),
            });
        }
        if let Some(moved) = &fix.new_migration {
            lines.push(Line::raw(""));
            lines.push(visible::line(
                &format!(
                    "new migration after the last one: \"{}\" (versioned as `lockstep new` \
                     would; a reversible set gets its DOWN as the template to fill in)",
                    moved.description
                ),
                Style::default().add_modifier(Modifier::BOLD),
            ));
            for text in moved.body.lines() {
                lines.push(visible::line(
                    &format!("+ {text}"),
                    Style::default().fg(Color::Green),
                ));
            }
        }
        lines
    }

    /// Draws the dialog over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let rect = large_dialog_rect((area.width, area.height)).intersection(area);
        frame.render_widget(Clear, rect);
        let block = dialog(Line::raw(" Apply this fix? "), Color::Green);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let [body, footer] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
        frame.render_widget(wrapped(self.body()).scroll((self.scroll as u16, 0)), body);
        let mut keys = key_hint("y", "write it");
        keys.push(Span::raw(" · "));
        keys.extend(key_hint("j/k PgDn/PgUp", "scroll"));
        keys.push(Span::raw(" · "));
        keys.extend(key_hint("any other key", "close without writing"));
        frame.render_widget(
            wrapped(vec![
                Line::styled(
                    "Only pending migrations are fixed in place: an applied one is checksum-locked.",
                    DIM,
                ),
                Line::from(keys),
            ]),
            footer,
        );
    }
}
