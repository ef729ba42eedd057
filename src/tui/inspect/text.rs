//! Small pieces of text and geometry shared by the panes.

use ratatui::layout::{Constraint, Rect};

use crate::monitor::format::human_age;

/// An optional age in seconds, `-` when unknown.
pub fn age(secs: Option<f64>) -> String {
    secs.map(human_age).unwrap_or_else(|| "-".into())
}

/// A `width` × `height` rectangle centred in `area`, never larger than it.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    area.centered(Constraint::Length(width), Constraint::Length(height))
        .intersection(area)
}
