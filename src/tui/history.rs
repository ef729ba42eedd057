//! The History pane (`7`, in the run pane's place): past runs from the audit trail, newest first,
//! each in full — who, when, how it ended, the snapshot, then each migration with its statements'
//! timings, lock waits and blockers — in the engine's words ([`crate::audit::render`], as
//! `lockstep history --run` prints them). Read in the background when the pane opens, on
//! Ctrl-r and after a run; `j`/`k` scroll.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

use super::keys;
use super::slot::{self, SlotPane};
use super::theme::{DIM, draw_scrolled, pane_titled};
use super::visible;
use crate::audit::render::run_detail;
use crate::audit::{History, Outcome};
use crate::runner::text::count;

/// How many runs the pane reads.
pub const RUNS: usize = 50;

/// The pane's state.
#[derive(Debug, Clone, Default)]
pub struct HistoryPane {
    /// `None` while being read.
    pub history: Option<Result<History, String>>,
    scroll: usize,
    height: usize,
}

impl HistoryPane {
    /// The audit is being read again (the runs read before stay until it is in).
    pub fn loading(&mut self) {
        if matches!(self.history, Some(Err(_))) {
            self.history = None;
        }
    }

    /// The audit was read (or why not).
    pub fn loaded(&mut self, history: Result<History, String>) {
        self.history = Some(history);
    }

    /// Sets the page size (rows on screen).
    pub fn set_height(&mut self, height: usize) {
        self.height = height;
    }

    /// Handles a key: movement scrolls.
    pub fn key(&mut self, key: &crossterm::event::KeyEvent) -> bool {
        let Some(nav) = keys::nav(key, true) else {
            return false;
        };
        let last = self.lines().len().saturating_sub(1);
        self.scroll = keys::moved(self.scroll, last, self.height, nav);
        true
    }

    /// What the pane says: each run in the engine's words, its heading in its outcome's colour,
    /// waits in yellow, errors in red.
    pub fn lines(&self) -> Vec<Line<'static>> {
        let history = match &self.history {
            None => return vec![Line::styled("reading the audit trail…", DIM)],
            Some(Err(error)) => {
                return vec![visible::line(
                    &format!("the audit trail could not be read: {error}"),
                    Style::default().fg(Color::Red),
                )];
            }
            Some(Ok(history)) => history,
        };
        if !history.exists {
            return vec![Line::styled(
                format!(
                    "no audit trail yet (schema {}): it is created by the first up, down, redo \
                     or resolve with the audit on",
                    history.schema
                ),
                DIM,
            )];
        }
        if history.runs.is_empty() {
            return vec![Line::styled("no run recorded yet", DIM)];
        }
        let mut lines = Vec::new();
        for (i, run) in history.runs.iter().enumerate() {
            if i > 0 {
                lines.push(Line::raw(""));
            }
            let color = match run.outcome {
                Outcome::Succeeded => Color::Green,
                Outcome::Failed => Color::Red,
                Outcome::Running => Color::Cyan,
                _ => Color::Yellow,
            };
            for (n, text) in run_detail(run).iter().enumerate() {
                let style = if n == 0 {
                    Style::default().fg(color).add_modifier(Modifier::BOLD)
                } else if text.trim_start().starts_with("error") || text.contains(" ✗ ") {
                    Style::default().fg(Color::Red)
                } else if text.contains("waited") || text.contains("blocked") {
                    Style::default().fg(Color::Yellow)
                } else {
                    Style::default()
                };
                lines.push(visible::line(text, style));
            }
        }
        lines
    }

    /// Draws the pane.
    pub fn draw(&self, frame: &mut Frame, area: Rect, focused: bool) {
        let words = match &self.history {
            Some(Ok(history)) if history.exists => format!(
                "— {}, newest first ({})",
                count(history.runs.len(), "run", "runs"),
                history.schema
            ),
            _ => String::new(),
        };
        let title = slot::title(SlotPane::History, &words, area.width, 0);
        let block = pane_titled(title, focused);
        draw_scrolled(frame, block, area, self.lines(), self.scroll);
    }
}
