//! A cursor over a list that follows its item (a pid, a table) across refreshes.

use crossterm::event::{KeyEvent, KeyModifiers};

use crate::tui::keys;

/// The selected row of a list whose rows change between polls: the row index, and the key of the
/// row it pointed at, so the cursor stays on the same session or table when rows move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<K> {
    index: usize,
    key: Option<K>,
}

impl<K> Default for Selection<K> {
    fn default() -> Selection<K> {
        Selection {
            index: 0,
            key: None,
        }
    }
}

impl<K: PartialEq + Clone> Selection<K> {
    /// The selected row, clamped to a list of `len` rows (`None` when empty).
    pub fn index(&self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.index.min(len - 1))
    }

    /// Moves back to the row with the remembered key after the rows changed; when it is gone the
    /// index stays (clamped).
    pub fn follow(&mut self, keys: &[K]) {
        if let Some(found) = self
            .key
            .as_ref()
            .and_then(|key| keys.iter().position(|k| k == key))
        {
            self.index = found;
        }
        self.remember(keys);
    }

    /// Applies a movement key (a page being `page` rows); returns whether it was one.
    pub fn key(&mut self, key: &KeyEvent, rows: &[K], page: usize) -> bool {
        let Some(nav) = keys::nav(key, !key.modifiers.contains(KeyModifiers::ALT)) else {
            return false;
        };
        let last = rows.len().saturating_sub(1);
        self.index = keys::moved(self.index.min(last), last, page, nav);
        self.remember(rows);
        true
    }

    fn remember(&mut self, keys: &[K]) {
        self.index = self.index.min(keys.len().saturating_sub(1));
        self.key = keys.get(self.index).cloned();
    }
}
