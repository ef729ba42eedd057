//! Small pieces of text and geometry shared by the panes.

use crate::monitor::format::human_age;

pub use crate::tui::theme::centered;

/// An optional age in seconds, `-` when unknown.
pub fn age(secs: Option<f64>) -> String {
    secs.map(human_age).unwrap_or_else(|| "-".into())
}

/// Which of a table's columns (`widths`, one column of spacing between them) fit in `room`,
/// taken in `priority` order (indices, most important first); the first always stays.
pub fn fit(widths: &[u16], priority: &[usize], room: u16) -> Vec<bool> {
    let mut keep = vec![false; widths.len()];
    let mut used = 0u16;
    for (rank, &column) in priority.iter().enumerate() {
        let cost = widths[column] + u16::from(rank > 0);
        if rank > 0 && used + cost > room {
            continue;
        }
        used += cost;
        keep[column] = true;
    }
    keep
}
