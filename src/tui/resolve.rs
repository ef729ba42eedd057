//! The resolve dialog: for a migration recorded with `success = false`, what lockstep knows of the
//! run that left it, then a choice — mark it applied, or delete its row — confirmed by typing the
//! version. The same as `lockstep resolve`.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::runner::Resolution;
use crate::status::VersionStatus;

/// The dialog's state.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveDialog {
    /// The version.
    pub version: i64,
    /// Its title line.
    pub title: String,
    /// What is known, as `status` prints it.
    pub lines: Vec<String>,
    /// The resolution chosen, awaiting the typed version.
    pub choice: Option<Resolution>,
    /// What the user typed so far.
    pub typed: String,
}

/// What a key did to the dialog.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveStep {
    /// Still open.
    Open(ResolveDialog),
    /// Closed without a change.
    Cancelled,
    /// Confirmed: resolve `version` so.
    Resolve(i64, Resolution),
}

impl ResolveDialog {
    /// The dialog for `v`, when its row says `success = false`.
    pub fn open(v: &VersionStatus) -> Option<ResolveDialog> {
        let unfinished = v.unfinished.as_ref()?;
        Some(ResolveDialog {
            version: v.version,
            title: format!("Resolve {} {} — {}", v.version, v.description, v.label()),
            lines: unfinished.lines(v.version),
            choice: None,
            typed: String::new(),
        })
    }

    /// Handles a key.
    pub fn key(mut self, key: KeyEvent) -> ResolveStep {
        match (self.choice, key.code) {
            (_, KeyCode::Esc) => return ResolveStep::Cancelled,
            (None, KeyCode::Char('a')) => self.choice = Some(Resolution::Applied),
            (None, KeyCode::Char('r')) => self.choice = Some(Resolution::RolledBack),
            (None, KeyCode::Char('n' | 'q')) => return ResolveStep::Cancelled,
            (Some(choice), KeyCode::Enter) if self.typed == self.version.to_string() => {
                return ResolveStep::Resolve(self.version, choice);
            }
            (Some(_), KeyCode::Backspace) => {
                self.typed.pop();
            }
            (Some(_), KeyCode::Char(c)) => self.typed.push(c),
            _ => {}
        }
        ResolveStep::Open(self)
    }

    /// Draws the dialog over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let width = area.width.saturating_sub(8).min(110);
        // Rows the wrapped lines take, plus the borders, a blank row and the two-row prompt.
        let text_width = usize::from(width.saturating_sub(2)).max(1);
        let rows: usize = self
            .lines
            .iter()
            .map(|l| l.chars().count().div_ceil(text_width).max(1))
            .sum();
        let height = u16::try_from(rows + 5)
            .unwrap_or(u16::MAX)
            .min(area.height.saturating_sub(2));
        let rect = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        frame.render_widget(Clear, rect);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(Color::Red))
            .title(format!(" {} ", self.title));
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let [body, _, footer] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(2),
        ])
        .areas(inner);
        let lines: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.clone())).collect();
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        let prompt = match self.choice {
            None => "a: it is finished by hand — mark it applied · r: it is undone by hand — \
                     delete its row · Esc: cancel"
                .to_string(),
            Some(choice) => format!(
                "{}: type {} and press Enter · Esc cancels: {}█",
                match choice {
                    Resolution::Applied => "mark it applied (success = true)",
                    Resolution::RolledBack => "delete its row (pending again)",
                },
                self.version,
                self.typed
            ),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(prompt, Style::default().fg(Color::Yellow)))
                .wrap(Wrap { trim: true }),
            footer,
        );
    }
}
