//! The Activity tab: every session that is not idle (oldest transaction first), with its state,
//! ages, wait event and query. Sessions idle in a transaction past the threshold are red and
//! bold (a migration would queue behind them); sessions waiting on a lock are yellow.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::text::age;
use super::{SELECTED, empty};
use crate::format::one_line;
use crate::monitor::Session;
use crate::monitor::render::who;
use crate::tui::visible;

/// The sessions the tab lists: those with a state other than `idle` (so no background process
/// without a state either), in the monitor's order.
pub fn rows(sessions: &[Session]) -> Vec<&Session> {
    sessions
        .iter()
        .filter(|s| s.state.is_some() && !s.is_idle())
        .collect()
}

/// How a session's row stands out.
pub fn row_style(session: &Session) -> Style {
    if session.idle_in_transaction_too_long {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if session.is_waiting_on_lock() {
        Style::default().fg(Color::Yellow)
    } else {
        Style::default()
    }
}

/// Columns the query keeps at least.
const QUERY_MIN: u16 = 12;

/// Which columns stay when the pane narrows, most important first: pid, state, query, the
/// transaction's age, who, time in the state, the wait event.
const PRIORITY: [usize; 7] = [0, 2, 6, 3, 1, 4, 5];

/// Draws the sessions into `area`, the row at `selected` highlighted.
pub fn draw(frame: &mut Frame, area: Rect, sessions: &[&Session], selected: Option<usize>) {
    if sessions.is_empty() {
        return empty(frame, area, "no running session");
    }
    let bold = Style::default().add_modifier(Modifier::BOLD);
    // Whole states ("idle in transaction (aborted)"), sessions as long as the longest (up to 30);
    // the query takes the rest, at least QUERY_MIN; columns give way by priority.
    let state = sessions
        .iter()
        .map(|s| s.state.as_deref().map_or(0, |t| t.chars().count()))
        .max()
        .unwrap_or(0)
        .max(5) as u16;
    let session = sessions
        .iter()
        .map(|s| crate::text::visible::width(&who(s)))
        .max()
        .unwrap_or(0)
        .clamp(7, 30) as u16;
    let widths: [u16; 7] = [7, session, state, 7, 8, 18, QUERY_MIN];
    let keep = super::text::fit(&widths, &PRIORITY, area.width);
    let pick = |cells: [Cell<'static>; 7]| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
            .collect()
    };
    let header = Row::new(pick(
        [
            "PID", "SESSION", "STATE", "XACT", "IN STATE", "WAIT", "QUERY",
        ]
        .map(|h| Cell::from(Span::styled(h, bold))),
    ));
    let body = sessions.iter().map(|s| {
        let wait = match (&s.wait_event_type, &s.wait_event) {
            (Some(kind), Some(event)) => format!("{kind}:{event}"),
            _ => String::new(),
        };
        Row::new(pick(
            [
                s.pid.to_string(),
                who(s),
                s.state.clone().unwrap_or_default(),
                age(s.xact_age_secs),
                age(s.state_age_secs),
                wait,
                one_line(s.query.as_deref().unwrap_or(""), 200),
            ]
            .map(|text| Cell::from(visible::line(&text, Style::default()))),
        ))
        .style(row_style(s))
    });
    let widths: Vec<Constraint> = widths
        .iter()
        .enumerate()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|((i, w), _)| match i {
            6 => Constraint::Min(*w),
            _ => Constraint::Length(*w),
        })
        .collect();
    let table = Table::new(body, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(SELECTED);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}
