//! The key help (`?`): every key, scrollable on a small screen; any other key closes it.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::keys;
use super::theme::{centered, dialog};

/// Every key and what it does.
const KEYS: &[(&str, &str)] = &[
    ("j/k ↑/↓", "move or scroll in the focused pane"),
    ("g/G Home/End", "to the top / bottom"),
    ("PgUp/PgDn Ctrl-u/d", "a page up / down (the pane's height)"),
    ("h/l ←/→ Tab", "focus the previous / next pane"),
    ("1 2 3", "focus the migrations, the preview, the run pane"),
    (
        "4 5 6",
        "sizes, locks, activity (in the run pane's place; 3 goes back)",
    ),
    ("  [ ] (there)", "previous / next tab"),
    (
        "7",
        "history: past runs from the audit trail, their statements' timings and waits",
    ),
    (
        "  s / S, p",
        "sizes: sort column / reverse; pause refreshing",
    ),
    (
        "  x / X",
        "locks, activity: cancel / terminate a session (asks; X twice)",
    ),
    ("Enter", "open the selected migration in the preview"),
    ("u / d", "preview the UP / DOWN file"),
    (
        "] / [",
        "jump to the next / previous finding in the preview",
    ),
    (
        "f",
        "apply the fix of the finding on screen (shows the diff; asks)",
    ),
    ("a", "apply pending migrations up to the selected one"),
    ("A", "apply everything pending"),
    ("b", "roll back down to (and including) the selected one"),
    ("B", "roll back the last applied migration"),
    ("r", "redo: revert the last one and apply it again"),
    (
        "R",
        "rehearse the pending migrations up to the selected one on a scratch copy",
    ),
    (
        "",
        "(observed locks, a DOWN that undoes the UP; in --read-only too: it only reads)",
    ),
    (
        "  list column",
        "✓ round trip, ✗ failed, ∅ not reversible, ≠ disagrees, * files changed",
    ),
    (
        "c",
        "cancel the running statement (asks first), or the rehearsal",
    ),
    (
        "H",
        "run the health check now (in the background); its report",
    ),
    (
        "m",
        "resolve a partially applied migration (shows what is known; asks)",
    ),
    ("n", "new migration: description, UP and DOWN; Ctrl-S saves"),
    ("/", "filter migrations by version or description"),
    (
        ":",
        "command: :up, :up V, :to V, :down N, :down-to V, :redo, :q",
    ),
    (
        "Ctrl-r",
        "refresh now: the status, and sizes, locks and activity",
    ),
    (
        "mouse",
        "click a pane to focus it, a migration to select it; wheel scrolls",
    ),
    ("? / F1", "this help"),
    ("q, Ctrl-c", "quit (asks while a migration runs)"),
];

/// The help's state: how far it is scrolled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Help {
    scroll: usize,
}

impl Help {
    /// Handles a key: movement scrolls; any other key closes (returns `false`).
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        match keys::nav(key, true) {
            Some(nav) => {
                self.scroll = keys::moved(self.scroll, KEYS.len().saturating_sub(1), 10, nav);
                true
            }
            None => false,
        }
    }

    /// Draws the help centred over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let lines: Vec<Line> = KEYS
            .iter()
            .map(|(key, what)| {
                Line::from(vec![
                    Span::styled(format!("{key:<20}"), Style::default().fg(Color::Cyan)),
                    Span::raw(*what),
                ])
            })
            .collect();
        let rect = centered(area, 100, KEYS.len() as u16 + 2);
        let scroll = self.scroll.min(
            KEYS.len()
                .saturating_sub(rect.height.saturating_sub(2) as usize),
        );
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll as u16, 0))
                .block(dialog(
                    Line::raw(" Keys — j/k scroll, any other key closes "),
                    Color::Cyan,
                )),
            rect,
        );
    }
}
