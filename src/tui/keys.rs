//! The movement keys every scrollable component understands, the same everywhere: `j`/`k` and
//! the arrows by one, PgDn/PgUp (and Ctrl-d/Ctrl-u) by a page of the pane's height, `g`/`G` and
//! Home/End to either end. `h`/`l` and ←/→ move between panes.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// One up.
    Up,
    /// One down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// To the top.
    Home,
    /// To the bottom.
    End,
}

/// The movement `key` asks for, if it is one. `letters`: whether `j`/`k`/`g`/`G` count (not
/// where they are typed as text).
pub fn nav(key: &KeyEvent, letters: bool) -> Option<Nav> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Up => Nav::Up,
        KeyCode::Down => Nav::Down,
        KeyCode::PageUp => Nav::PageUp,
        KeyCode::PageDown => Nav::PageDown,
        KeyCode::Home => Nav::Home,
        KeyCode::End => Nav::End,
        KeyCode::Char('u') if ctrl => Nav::PageUp,
        KeyCode::Char('d') if ctrl => Nav::PageDown,
        KeyCode::Char('k') if letters && !ctrl => Nav::Up,
        KeyCode::Char('j') if letters && !ctrl => Nav::Down,
        KeyCode::Char('g') if letters && !ctrl => Nav::Home,
        KeyCode::Char('G') if letters && !ctrl => Nav::End,
        _ => return None,
    })
}

/// Where a cursor (or the top row of a scrolled view) at `at` goes with `nav`, among positions
/// `0..=last`, a page being `page` rows.
pub fn moved(at: usize, last: usize, page: usize, nav: Nav) -> usize {
    let page = page.max(1);
    match nav {
        Nav::Up => at.saturating_sub(1),
        Nav::Down => at.saturating_add(1),
        Nav::PageUp => at.saturating_sub(page),
        Nav::PageDown => at.saturating_add(page),
        Nav::Home => 0,
        Nav::End => last,
    }
    .min(last)
}

/// Whether `key` moves to the previous (`Some(false)`) or next (`Some(true)`) pane.
pub fn pane_step(key: &KeyEvent) -> Option<bool> {
    if key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    {
        return None;
    }
    match key.code {
        KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab => Some(false),
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_ends_stay_in_bounds() {
        assert_eq!(moved(5, 9, 4, Nav::PageDown), 9);
        assert_eq!(moved(5, 9, 4, Nav::PageUp), 1);
        assert_eq!(moved(0, 9, 4, Nav::Up), 0);
        assert_eq!(moved(3, 9, 4, Nav::End), 9);
        assert_eq!(moved(3, 0, 4, Nav::Down), 0);
    }
}
