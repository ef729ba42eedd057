//! Where everything goes on a screen of a given size: the panes, the status bar and the hints,
//! the dialogs, and which pane a mouse position is in. Read by the reducer (page sizes, clicks)
//! and by the drawing, so both agree.
//!
//! From 140 columns on, the migrations list takes the left column at full height and the preview
//! sits over the run pane on the right. Narrower, the list and the preview share the top and the
//! run pane (or Sizes, Locks, Activity) takes the full width below, where a blocker's query and
//! the tables' columns fit; while a migration runs it gets more of the height. The list is never
//! narrower than what shows a full version and 20 characters of description; in the wide layout
//! it takes up to half the screen when its columns (the time applied, who applied it) want it.

use ratatui::layout::{Constraint, Layout, Position, Rect};

/// A pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The migrations list.
    Migrations,
    /// The SQL preview.
    Preview,
    /// The run pane, or the inspection panes in its place.
    Bottom,
}

impl Pane {
    /// The panes in focus order.
    pub const ALL: [Pane; 3] = [Pane::Migrations, Pane::Preview, Pane::Bottom];

    /// The pane after (or before) this one, wrapping around.
    pub fn step(self, forward: bool) -> Pane {
        let at = Pane::ALL.iter().position(|&p| p == self).unwrap_or(0);
        let len = Pane::ALL.len();
        Pane::ALL[if forward { at + 1 } else { at + len - 1 } % len]
    }
}

/// Where each part goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Areas {
    /// The migrations list.
    pub migrations: Rect,
    /// The SQL preview.
    pub preview: Rect,
    /// The run pane (or the inspection panes).
    pub bottom: Rect,
    /// The status bar (one row, more when a message wraps).
    pub status: Rect,
    /// The key hints.
    pub hints: Rect,
}

/// What the layout depends on besides the screen size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Rows the status bar needs.
    pub status_rows: u16,
    /// Whether a migration runs (the run pane gets more room).
    pub running: bool,
    /// Whether the bottom pane is the run pane with nothing to show yet: it keeps only its
    /// title and its one line, and the list and the preview take the rest.
    pub idle: bool,
    /// Columns the list needs for a full version and 20 characters of description.
    pub list_min: u16,
    /// Columns the list would take to show all its columns.
    pub list_wanted: u16,
}

/// From this width on, the list takes the whole left column.
pub const WIDE: u16 = 140;

/// Whether a screen is too small to draw the panes.
pub fn too_small(area: Rect) -> bool {
    area.width < 20 || area.height < 8
}

/// Rows of the run pane with nothing to show: its border and title, and its one line.
pub const IDLE_ROWS: u16 = 3;

/// The split between what is above the bottom pane and the bottom pane: `share` percent of the
/// height for the bottom, `running_share` while a migration runs, [`IDLE_ROWS`] when idle.
fn split(shape: Shape, share: u16, running_share: u16) -> [Constraint; 2] {
    if shape.running {
        [
            Constraint::Percentage(100 - running_share),
            Constraint::Percentage(running_share),
        ]
    } else if shape.idle {
        [Constraint::Min(0), Constraint::Length(IDLE_ROWS)]
    } else {
        [
            Constraint::Percentage(100 - share),
            Constraint::Percentage(share),
        ]
    }
}

impl Areas {
    /// The layout of a `(columns, rows)` screen (all empty when it is too small).
    pub fn new(size: (u16, u16), shape: Shape) -> Areas {
        let area = Rect::new(0, 0, size.0, size.1);
        if too_small(area) {
            return Areas::default();
        }
        let status_rows = shape.status_rows.clamp(1, 3).min(area.height / 4);
        let [body, status, hints] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(status_rows),
            Constraint::Length(1),
        ])
        .areas(area);
        let list_width = if body.width >= WIDE {
            (body.width * 40 / 100).max(shape.list_wanted.min(body.width / 2))
        } else {
            body.width * 45 / 100
        }
        .max(shape.list_min)
        .min(body.width.saturating_sub(24));
        let (migrations, preview, bottom) = if body.width >= WIDE {
            let [left, right] =
                Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)])
                    .areas(body);
            let [preview, bottom] = Layout::vertical(split(shape, 38, 50)).areas(right);
            (left, preview, bottom)
        } else {
            let [top, bottom] = Layout::vertical(split(shape, 40, 55)).areas(body);
            let [left, right] =
                Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(top);
            (left, right, bottom)
        };
        Areas {
            migrations,
            preview,
            bottom,
            status,
            hints,
        }
    }

    /// Rows of the migrations list inside its border.
    pub fn list_height(&self) -> usize {
        self.migrations.height.saturating_sub(2) as usize
    }

    /// Rows of the preview inside its border.
    pub fn preview_height(&self) -> usize {
        self.preview.height.saturating_sub(2) as usize
    }

    /// Rows of the bottom pane inside its border.
    pub fn bottom_height(&self) -> usize {
        self.bottom.height.saturating_sub(2) as usize
    }

    /// Columns inside the preview's border.
    pub fn preview_width(&self) -> usize {
        self.preview.width.saturating_sub(2) as usize
    }

    /// The pane at a screen position, with the row inside its border (`None` on the border).
    pub fn pane_at(&self, column: u16, row: u16) -> Option<(Pane, Option<usize>)> {
        let at = Position::new(column, row);
        [
            (self.migrations, Pane::Migrations),
            (self.preview, Pane::Preview),
            (self.bottom, Pane::Bottom),
        ]
        .into_iter()
        .find(|(rect, _)| rect.contains(at))
        .map(|(rect, pane)| {
            let inside = row
                .checked_sub(rect.y + 1)
                .filter(|&r| r < rect.height.saturating_sub(2));
            (pane, inside.map(usize::from))
        })
    }
}

/// The plan confirmation's frame on a `(columns, rows)` screen.
pub fn confirm_rect(size: (u16, u16)) -> Rect {
    let area = Rect::new(0, 0, size.0, size.1);
    super::theme::centered(
        area,
        size.0.saturating_sub(4).min(120),
        size.1.saturating_sub(2),
    )
}

/// Rows of the confirmation's scrolling body: the frame less its borders, the database line and
/// the footer.
pub fn confirm_body_height(size: (u16, u16)) -> usize {
    confirm_rect(size)
        .height
        .saturating_sub(2 + 1 + CONFIRM_FOOTER) as usize
}

/// Rows of the confirmation's footer (the question, and the typed answer on its own row).
pub const CONFIRM_FOOTER: u16 = 3;

/// A full-screen dialog's frame (the editor, a fix's diff).
pub fn large_dialog_rect(size: (u16, u16)) -> Rect {
    let area = Rect::new(0, 0, size.0, size.1);
    super::theme::centered(area, size.0.saturating_sub(2), size.1.saturating_sub(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_its_minimum_and_the_run_pane_grows_while_running() {
        let shape = Shape {
            status_rows: 1,
            running: false,
            idle: false,
            list_min: 42,
            list_wanted: 0,
        };
        let narrow = Areas::new((80, 24), shape);
        assert_eq!(narrow.migrations.width, 42);
        assert_eq!(narrow.bottom.width, 80, "the run pane takes the full width");
        let running = Areas::new(
            (80, 24),
            Shape {
                running: true,
                ..shape
            },
        );
        assert!(running.bottom.height > narrow.bottom.height);
        let wide = Areas::new((160, 45), shape);
        assert_eq!(wide.migrations.height, 43, "the list takes the full height");
        assert_eq!(wide.migrations.width, 64, "40% when its columns fit");
        let wanting = |list_wanted| {
            Areas::new(
                (160, 45),
                Shape {
                    list_wanted,
                    ..shape
                },
            )
            .migrations
            .width
        };
        assert_eq!(wanting(72), 72, "more for its columns");
        assert_eq!(wanting(120), 80, "at most half the screen");
        assert_eq!(
            Areas::new(
                (120, 35),
                Shape {
                    list_wanted: 120,
                    ..shape
                }
            )
            .migrations
            .width,
            54,
            "narrower, the preview keeps its share"
        );
        assert_eq!(
            wide.pane_at(70, 40).map(|p| p.0),
            Some(Pane::Bottom),
            "{wide:?}"
        );
        assert_eq!(wide.pane_at(0, 0), Some((Pane::Migrations, None)));
    }

    #[test]
    fn an_idle_run_pane_keeps_one_line_and_gives_the_rest_to_the_list_and_the_preview() {
        let busy = Shape {
            status_rows: 1,
            list_min: 42,
            ..Shape::default()
        };
        let idle = Shape { idle: true, ..busy };
        for size in [(80, 24), (100, 30), (120, 35), (160, 45)] {
            let (before, after) = (Areas::new(size, busy), Areas::new(size, idle));
            assert_eq!(after.bottom.height, IDLE_ROWS, "{size:?}");
            assert_eq!(after.bottom_height(), 1, "{size:?}");
            assert!(after.preview_height() > before.preview_height(), "{size:?}");
            assert_eq!(
                after.preview.height + after.bottom.height,
                before.preview.height + before.bottom.height,
                "{size:?}: the preview takes what the run pane gives up"
            );
        }
        let running = Areas::new(
            (80, 24),
            Shape {
                running: true,
                ..idle
            },
        );
        assert!(running.bottom.height > 10, "a run always gets its room");
    }
}
