//! Small pieces of text and geometry shared by the panes.

use ratatui::layout::{Constraint, Rect};

use crate::monitor::Session;
use crate::monitor::format::human_age;

/// An optional age in seconds, `-` when unknown.
pub fn age(secs: Option<f64>) -> String {
    secs.map(human_age).unwrap_or_else(|| "-".into())
}

/// Who a session is: `alice · psql`, the backend type for background processes, and
/// `(lockstep) lockstep:apply:…` for lockstep's own sessions.
pub fn who(session: &Session) -> String {
    let app = session
        .application_name
        .as_deref()
        .filter(|a| !a.is_empty());
    if session.is_lockstep {
        return format!("(lockstep) {}", app.unwrap_or("lockstep"));
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(user) = session.user.as_deref() {
        parts.push(user);
    }
    if let Some(app) = app {
        parts.push(app);
    }
    if parts.is_empty()
        && let Some(kind) = session.backend_type.as_deref()
    {
        parts.push(kind);
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" · ")
    }
}

/// A `width` × `height` rectangle centred in `area`, never larger than it.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    area.centered(Constraint::Length(width), Constraint::Length(height))
        .intersection(area)
}
