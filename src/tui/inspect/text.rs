//! Small pieces of text and geometry shared by the panes.

use crate::monitor::format::human_age;

pub use crate::tui::theme::centered;

/// An optional age in seconds, `-` when unknown.
pub fn age(secs: Option<f64>) -> String {
    secs.map(human_age).unwrap_or_else(|| "-".into())
}
