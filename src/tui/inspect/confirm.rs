//! Confirmation of cancel and terminate, and the guards that refuse them outright.
//!
//! Cancel asks once, in yellow; terminate asks twice, in red, with a different second question.
//! Only `y` says yes; `n`, Esc and every other key abort (the default answer is No).

use crate::tui::theme::capitalised;
use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::text::centered;
use crate::format::one_line;
use crate::monitor::render::who;
use crate::monitor::{Placeholder, Session, Signal};
use crate::tui::visible::visible_lines;

/// The session a signal would go to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Its pid.
    pub pid: i32,
    /// Its activity row, when it has one.
    pub session: Option<Session>,
    /// Why it has none.
    pub placeholder: Option<Placeholder>,
}

/// Why `signal` must not be sent to `target` at all, or `None` when it may be asked for.
pub fn refusal(signal: Signal, target: &Target) -> Option<String> {
    let pid = target.pid;
    let verb = signal.verb();
    let Some(session) = &target.session else {
        return Some(match target.placeholder {
            Some(Placeholder::PreparedTransaction) => format!(
                "pid {pid} is a prepared transaction: it has no session to {verb}; \
                 end it with COMMIT PREPARED or ROLLBACK PREPARED"
            ),
            _ => format!("pid {pid} has ended"),
        });
    };
    if session.is_lockstep {
        let app = session.application_name.as_deref().unwrap_or("lockstep");
        return Some(format!(
            "pid {pid} is lockstep's own session ({app}): not signalled from here, because the \
             run would not know; stop a migration with c in the run pane"
        ));
    }
    if session.datname.is_none() {
        return Some(format!(
            "pid {pid} is a background process: refusing to {verb} it"
        ));
    }
    if signal == Signal::Cancel && session.is_idle() {
        return Some(format!("pid {pid} is idle: there is no query to cancel"));
    }
    None
}

/// What a key does to an open confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Still open (terminate's first `y` opens the second question).
    Open,
    /// Aborted.
    Abort,
    /// Confirmed: send the signal.
    Go,
}

/// An open confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// What to send.
    pub signal: Signal,
    /// To whom.
    pub target: Target,
    /// Whether terminate's second question is showing.
    pub second: bool,
}

impl Confirm {
    /// Opens the first question.
    pub fn new(signal: Signal, target: Target) -> Confirm {
        Confirm {
            signal,
            target,
            second: false,
        }
    }

    /// Applies a key: `y` answers yes (terminate needs it twice), anything else aborts.
    pub fn key(&mut self, code: KeyCode) -> Answer {
        match code {
            KeyCode::Char('y') if self.signal == Signal::Terminate && !self.second => {
                self.second = true;
                Answer::Open
            }
            KeyCode::Char('y') => Answer::Go,
            _ => Answer::Abort,
        }
    }

    /// The dialog's colour: yellow for cancel, red for terminate.
    pub fn color(&self) -> Color {
        match self.signal {
            Signal::Cancel => Color::Yellow,
            Signal::Terminate => Color::Red,
        }
    }

    /// The title and the question.
    fn question(&self) -> (String, String) {
        let pid = self.target.pid;
        match (self.signal, self.second) {
            (Signal::Cancel, _) => (
                format!("Cancel the query of pid {pid}?"),
                "Its statement stops and its transaction rolls back; the session stays connected."
                    .into(),
            ),
            (Signal::Terminate, false) => (
                format!("Terminate pid {pid}? (1 of 2)"),
                "Its session ends: the transaction rolls back and the client is disconnected."
                    .into(),
            ),
            (Signal::Terminate, true) => (
                format!("Really terminate pid {pid}? (2 of 2)"),
                format!("Last chance: press y again to end pid {pid}'s connection for good."),
            ),
        }
    }

    /// Draws the dialog centred over `area`, the No button selected.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let color = self.color();
        let (title, question) = self.question();
        let session = self.target.session.as_ref();
        let mut lines = vec![Line::raw(question), Line::raw("")];
        if let Some(session) = session {
            lines.push(Line::styled(
                who(session),
                Style::default().add_modifier(Modifier::BOLD),
            ));
            if let Some(query) = session.query.as_deref() {
                lines.push(Line::styled(
                    one_line(query, 200),
                    Style::default().fg(Color::DarkGray),
                ));
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled(
                " No (n/Esc) ",
                Style::default().fg(Color::Black).bg(Color::White),
            ),
            Span::raw("   "),
            Span::styled(
                format!(" {} (y) ", capitalised(self.signal.verb())),
                Style::default().fg(color),
            ),
        ]));
        let height = lines.len() as u16 + 4;
        let rect = centered(area, area.width.saturating_sub(4).min(72), height);
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(visible_lines(lines))
                .wrap(Wrap { trim: true })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(Style::default().fg(color).add_modifier(Modifier::BOLD))
                        .title(Span::styled(
                            format!(" {title} "),
                            Style::default().fg(color),
                        )),
                ),
            rect,
        );
    }
}
