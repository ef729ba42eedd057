//! The fix dialog (`f`): what a finding's fix changes, as a diff of the migration file, and the
//! new migration it moves a statement to; `y` writes it once a background lint of the file with
//! the fix has found that it resolves its finding, anything else closes it.

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
use crate::source::fix::{DiffLine, FixWrite, UNRESOLVED, diff};

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
    /// `y` before the check found that the fix resolves its finding: still open, and why.
    NotYet(&'static str),
}

/// Whether the fix was found to resolve its finding (as `lockstep lint --fix` requires before
/// it writes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixCheck {
    /// The file is being linted again with the fix.
    Checking,
    /// Linted with the fix, the file has fewer findings of the rule and no new syntax error.
    Resolves,
    /// It does not: the fix is not written.
    Refused,
}

/// The dialog's state.
#[derive(Debug, Clone, PartialEq)]
pub struct FixDialog {
    /// The fix.
    pub fix: FixWrite,
    /// Whether it resolves its finding.
    pub check: FixCheck,
    scroll: usize,
    size: (u16, u16),
}

impl FixDialog {
    /// The dialog for `fix` on a screen of `size`, while the fix is being checked.
    pub fn new(fix: FixWrite, size: (u16, u16)) -> FixDialog {
        FixDialog {
            fix,
            check: FixCheck::Checking,
            scroll: 0,
            size,
        }
    }

    /// The check of `fix` ended (a check of another fix is ignored).
    pub fn checked(&mut self, fix: &FixWrite, resolves: bool) {
        if *fix == self.fix {
            self.check = if resolves {
                FixCheck::Resolves
            } else {
                FixCheck::Refused
            };
        }
    }

    /// The screen's size changed.
    pub fn resize(&mut self, size: (u16, u16)) {
        self.size = size;
    }

    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> FixAction {
        if let Some(nav) = keys::nav(key, true) {
            let (_, body, _) = self.areas(self.size);
            let height = body.height as usize;
            let last = wrapped_height(&self.body(), body.width).saturating_sub(height);
            self.scroll = keys::moved(self.scroll, last, height, nav);
            return FixAction::Open;
        }
        match key.code {
            // Not written before it is known to resolve its finding; `y` is no reason to close.
            KeyCode::Char('y') => match self.check {
                FixCheck::Resolves => FixAction::Write,
                FixCheck::Checking => {
                    FixAction::NotYet("still checking the fix; y writes it once it is checked")
                }
                FixCheck::Refused => FixAction::NotYet("this fix is not written: fix it by hand"),
            },
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

    /// What the check found, and the keys: under the diff.
    fn footer(&self) -> Vec<Line<'static>> {
        let (verdict, style) = match self.check {
            FixCheck::Checking => (
                "Checking: linting the file again with the fix…".to_string(),
                Style::default().fg(Color::Yellow),
            ),
            FixCheck::Resolves => (
                "Checked: with the fix, the finding is resolved and no syntax error is added."
                    .to_string(),
                Style::default().fg(Color::Green),
            ),
            FixCheck::Refused => (
                format!("Not written: {UNRESOLVED}."),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        let mut keys = Vec::new();
        if self.check == FixCheck::Resolves {
            keys.extend(key_hint("y", "write it"));
            keys.push(Span::raw(" · "));
        }
        keys.extend(key_hint("j/k PgDn/PgUp", "scroll"));
        keys.push(Span::raw(" · "));
        keys.extend(key_hint("any other key", "close without writing"));
        vec![Line::styled(verdict, style), Line::from(keys)]
    }

    /// The dialog's rectangle on a screen of `size`, and the diff's and the footer's inside it.
    fn areas(&self, size: (u16, u16)) -> (Rect, Rect, Rect) {
        let rect = large_dialog_rect(size);
        let inner = dialog(Line::raw(""), Color::Green).inner(rect);
        let footer = wrapped_height(&self.footer(), inner.width) as u16;
        let [body, footer] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(footer)]).areas(inner);
        (rect, body, footer)
    }

    /// Draws the dialog over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let (rect, body, footer) = self.areas((area.width, area.height));
        let rect = rect.intersection(area);
        frame.render_widget(Clear, rect);
        frame.render_widget(dialog(Line::raw(" Apply this fix? "), Color::Green), rect);
        frame.render_widget(
            wrapped(self.body()).scroll((self.scroll as u16, 0)),
            body.intersection(area),
        );
        frame.render_widget(wrapped(self.footer()), footer.intersection(area));
    }
}
