//! The migrations list: every version with its state, findings, duration, time applied and who
//! applied it, a "pending" separator, the `/` filter, and the cursor.
//!
//! Identity comes first: the state glyph, the full version (never cut) and at least
//! [`MIN_DESCRIPTION`] characters of description; then the findings, the rehearsal (✓ round trip,
//! ✗ failed, ∅ not reversible; see [`super::rehearsal::list_cell`]), the duration, the time
//! applied and the database user who applied it (when the audit recorded it), dropped in that
//! reverse order as the pane narrows. The time applied is the audit's when it recorded the apply,
//! else the history row's. The cursor starts on the first
//! pending migration (or the last applied when none is pending) and stays on its version when the
//! list changes.

use chrono::{DateTime, Local, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::data::Data;
use super::keys::{self, Nav};
use super::theme::{DIM, pane, state_look};
use super::visible;
use crate::status::{State, Status, VersionStatus};

/// Description characters the list always shows.
pub const MIN_DESCRIPTION: u16 = 20;

/// What a key did to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAction {
    /// Not a key of the list.
    Ignored,
    /// The cursor moved (or stayed): redraw.
    Moved,
    /// Enter: open the selected migration in the preview.
    Open,
}

/// The list's state.
#[derive(Debug, Clone, Default)]
pub struct MigrationList {
    /// The selected row among the visible versions.
    selected: usize,
    /// The selected version, to find it again when the list changes.
    selected_version: Option<i64>,
    /// The first list row on screen.
    offset: usize,
    /// Rows on screen (the page size).
    height: usize,
    /// The `/` filter.
    filter: String,
    /// Indices into the status' versions of the rows shown, after the filter.
    visible: Vec<usize>,
    /// The index among them of the first version not recorded in the database.
    first_pending: Option<usize>,
    /// Whether the cursor has been placed on a loaded status yet.
    placed: bool,
}

impl MigrationList {
    /// Recomputes the rows after the status or the filter changed; the cursor stays on its
    /// version, and is placed on the first pending one the first time a status arrives.
    pub fn refresh(&mut self, status: Option<&Status>) {
        let Some(status) = status else {
            self.visible.clear();
            self.first_pending = None;
            return;
        };
        let filter = self.filter.to_lowercase();
        self.visible = status
            .versions
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                filter.is_empty()
                    || v.description.to_lowercase().contains(&filter)
                    || v.version.to_string().contains(&filter)
            })
            .map(|(i, _)| i)
            .collect();
        self.first_pending = self
            .visible
            .iter()
            .position(|&i| !status.versions[i].state.is_recorded());
        let found = self.selected_version.and_then(|version| {
            self.visible
                .iter()
                .position(|&i| status.versions[i].version == version)
        });
        match found {
            Some(i) => self.selected = i,
            None if !self.placed && !self.visible.is_empty() => {
                self.selected = self
                    .first_pending
                    .unwrap_or(self.visible.len().saturating_sub(1));
                self.placed = true;
            }
            None => {}
        }
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        self.remember(status);
        self.scroll_to_selection();
    }

    fn remember(&mut self, status: &Status) {
        self.selected_version = self
            .visible
            .get(self.selected)
            .map(|&i| status.versions[i].version);
    }

    /// Sets the page size (rows on screen).
    pub fn set_height(&mut self, height: usize) {
        self.height = height;
        self.scroll_to_selection();
    }

    /// The `/` filter.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Filters the list by version or description.
    pub fn set_filter(&mut self, filter: String, status: Option<&Status>) {
        if filter != self.filter {
            self.filter = filter;
            self.selected = 0;
            self.selected_version = None;
            self.refresh(status);
            if let Some(status) = status {
                self.remember(status);
            }
        }
    }

    /// The versions shown, after the filter.
    pub fn visible<'a>(&self, status: Option<&'a Status>) -> Vec<&'a VersionStatus> {
        let Some(status) = status else {
            return Vec::new();
        };
        self.visible.iter().map(|&i| &status.versions[i]).collect()
    }

    /// The selected version.
    pub fn selected<'a>(&self, status: Option<&'a Status>) -> Option<&'a VersionStatus> {
        status?.versions.get(*self.visible.get(self.selected)?)
    }

    /// List rows: every shown version, and a separator before the first pending one (unless it
    /// is the first row).
    fn rows(&self) -> usize {
        self.row_of(self.visible.len())
    }

    fn row_of(&self, i: usize) -> usize {
        match self.first_pending {
            Some(p) if p > 0 && i >= p => i + 1,
            _ => i,
        }
    }

    /// The shown version at list row `row`, or `None` for the separator.
    fn at_row(&self, row: usize) -> Option<usize> {
        let i = match self.first_pending {
            Some(p) if p > 0 && row == p => return None,
            Some(p) if p > 0 && row > p => row - 1,
            _ => row,
        };
        (i < self.visible.len()).then_some(i)
    }

    fn scroll_to_selection(&mut self) {
        let row = self.row_of(self.selected);
        let height = self.height.max(1);
        if row < self.offset {
            self.offset = row;
        } else if row >= self.offset + height {
            self.offset = row + 1 - height;
        }
        self.offset = self.offset.min(self.rows().saturating_sub(height));
    }

    /// Handles a key: movement, and Enter to open the selected migration.
    pub fn key(&mut self, key: &KeyEvent, status: Option<&Status>) -> ListAction {
        if key.code == KeyCode::Enter {
            return ListAction::Open;
        }
        let Some(nav) = keys::nav(key, true) else {
            return ListAction::Ignored;
        };
        self.go(nav, status);
        ListAction::Moved
    }

    /// Moves the cursor.
    pub fn go(&mut self, nav: Nav, status: Option<&Status>) {
        let last = self.visible.len().saturating_sub(1);
        self.selected = keys::moved(self.selected, last, self.height, nav);
        if let Some(status) = status {
            self.remember(status);
        }
        self.scroll_to_selection();
    }

    /// Selects the version at row `row` of the pane (a click); the separator selects nothing.
    pub fn click(&mut self, row: usize, status: Option<&Status>) -> bool {
        match self.at_row(self.offset + row) {
            Some(i) => {
                self.selected = i;
                if let Some(status) = status {
                    self.remember(status);
                }
                true
            }
            None => false,
        }
    }

    /// Draws the list. `running`: the version a run is applying or reverting now.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        data: &Data,
        running: Option<i64>,
        focused: bool,
    ) {
        let counts = data
            .status
            .as_ref()
            .map(|s| (s.recorded().count(), s.pending().count()));
        let title = match (counts, self.filter.is_empty()) {
            (Some((a, p)), true) => format!(" 1 Migrations — {a} applied, {p} pending "),
            (Some((a, p)), false) => format!(
                " 1 Migrations — {a} applied, {p} pending — filter: {} ",
                self.filter
            ),
            (None, _) => " 1 Migrations — loading… ".to_string(),
        };
        let block = pane(&title, focused);
        let Some(status) = &data.status else {
            frame.render_widget(block, area);
            return;
        };
        let height = area.height.saturating_sub(2) as usize;
        let first = self.offset;
        let last = (first + height).min(self.rows());
        let on_screen: Vec<Option<&VersionStatus>> = (first..last)
            .map(|row| self.at_row(row).map(|i| &status.versions[self.visible[i]]))
            .collect();
        let findings: Vec<Line<'static>> = on_screen
            .iter()
            .map(|v| v.map(|v| findings_cell(data, v)).unwrap_or_default())
            .collect();
        let version_width = on_screen
            .iter()
            .flatten()
            .map(|v| v.version.to_string().len())
            .max()
            .unwrap_or(1) as u16;
        let rehearsals: Vec<Line<'static>> = on_screen
            .iter()
            .map(|v| {
                v.map(|v| super::rehearsal::list_cell(data.rehearsals.of(v)))
                    .unwrap_or_default()
            })
            .collect();
        let findings_width = findings.iter().map(Line::width).max().unwrap_or(0) as u16;
        let rehearsal_width = rehearsals.iter().map(Line::width).max().unwrap_or(0) as u16;
        let any_applied = on_screen.iter().flatten().any(|v| v.applied.is_some());
        let applied_by = on_screen
            .iter()
            .flatten()
            .filter_map(|v| data.applied_by(v))
            .map(|by| by_cell(&by.database_user).width() as u16)
            .max()
            .unwrap_or(0);
        // Inside the border, after the cursor column; one column between columns.
        let width = area.width.saturating_sub(3);
        let columns = columns(
            width,
            version_width,
            [findings_width, rehearsal_width, applied_by],
            any_applied,
        );
        let mut rows = Vec::with_capacity(on_screen.len());
        let mut selected_row = None;
        for (row, ((v, findings), rehearsal)) in on_screen
            .into_iter()
            .zip(findings)
            .zip(rehearsals)
            .enumerate()
        {
            let Some(v) = v else {
                rows.push(Row::new(vec![
                    Cell::from(""),
                    Cell::from(""),
                    Cell::from(Line::styled("── pending ──", DIM)),
                ]));
                continue;
            };
            if self.at_row(first + row) == Some(self.selected) {
                selected_row = Some(rows.len());
            }
            rows.push(Row::new(columns.pick(version_row(
                v,
                [findings, rehearsal],
                Applied {
                    at: data.applied_at(v),
                    by: data.applied_by(v).map(|by| by.database_user.as_str()),
                },
                running == Some(v.version),
            ))));
        }
        let table = Table::new(rows, columns.widths())
            .block(block)
            .row_highlight_style(
                Style::default()
                    .bg(Color::Rgb(40, 44, 52))
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("›");
        let mut state = TableState::default().with_selected(selected_row);
        frame.render_stateful_widget(table, area, &mut state);
    }
}

/// Which columns fit, in priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    version: u16,
    findings: u16,
    rehearsal: u16,
    duration: u16,
    applied_at: u16,
    applied_by: u16,
}

const DURATION_WIDTH: u16 = 9;
const APPLIED_AT_WIDTH: u16 = 11;
/// The widest a database user is shown in the list (longer ones end in `…`; the preview says
/// them in full).
const APPLIED_BY_MAX: u16 = 16;
/// The room the layout reckons the findings take (`✗1 ▲2`).
const FINDINGS_ALLOWANCE: u16 = 5;
/// Description beyond [`MIN_DESCRIPTION`] the list asks the layout for.
const DESCRIPTION_ALLOWANCE: u16 = 8;

/// The columns for `width` columns of rows: identity (glyph, version, [`MIN_DESCRIPTION`] of
/// description) first, then findings, the rehearsal, duration, time applied and who applied it
/// while they fit (`[findings, rehearsal, applied by]`: the widest cell of each on screen, 0
/// when none has one).
fn columns(
    width: u16,
    version: u16,
    [findings, rehearsal, applied_by]: [u16; 3],
    any_applied: bool,
) -> Columns {
    let mut room = width.saturating_sub(1 + 1 + version + 1 + MIN_DESCRIPTION);
    let mut take = |wanted: u16| {
        if wanted > 0 && room > wanted {
            room -= wanted + 1;
            wanted
        } else {
            0
        }
    };
    let findings = take(findings);
    let rehearsal = take(rehearsal);
    let duration = if any_applied { take(DURATION_WIDTH) } else { 0 };
    let applied_at = if any_applied {
        take(APPLIED_AT_WIDTH)
    } else {
        0
    };
    // Who applied it reads with the time, not without it; and the last column is not worth a
    // description cut to its minimum (the preview names who applied it at every width).
    let applied_by = if applied_at > 0 && applied_by > 0 {
        take(applied_by + DESCRIPTION_ALLOWANCE).saturating_sub(DESCRIPTION_ALLOWANCE)
    } else {
        0
    };
    Columns {
        version,
        findings,
        rehearsal,
        duration,
        applied_at,
        applied_by,
    }
}

impl Columns {
    /// The constraints of the columns shown (a dropped column takes no room, not even spacing).
    fn widths(self) -> Vec<Constraint> {
        let mut widths = vec![
            Constraint::Length(1),
            Constraint::Length(self.version),
            Constraint::Fill(1),
        ];
        widths.extend(
            [
                self.findings,
                self.rehearsal,
                self.duration,
                self.applied_at,
                self.applied_by,
            ]
            .into_iter()
            .filter(|w| *w > 0)
            .map(Constraint::Length),
        );
        widths
    }

    /// `cells` (glyph, version, description, findings, rehearsal, duration, time applied, who
    /// applied it) without the dropped columns.
    fn pick(self, cells: [Cell<'static>; 8]) -> Vec<Cell<'static>> {
        let shown = [
            true,
            true,
            true,
            self.findings > 0,
            self.rehearsal > 0,
            self.duration > 0,
            self.applied_at > 0,
            self.applied_by > 0,
        ];
        cells
            .into_iter()
            .zip(shown)
            .filter(|(_, shown)| *shown)
            .map(|(cell, _)| cell)
            .collect()
    }
}

/// The findings of a version's UP file (✗ errors, ▲ warnings, `…` while analysing) and the
/// problems of its files (`⚠DOWN` for an empty DOWN file).
fn findings_cell(data: &Data, v: &VersionStatus) -> Line<'static> {
    let mut spans = Vec::new();
    let mut push = |span: Span<'static>| {
        if !spans.is_empty() {
            spans.push(Span::raw(" "));
        }
        spans.push(span);
    };
    match data.finding_counts(v.version) {
        Some((errors, warnings)) => {
            if errors > 0 {
                push(Span::styled(
                    format!("✗{errors}"),
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
            if warnings > 0 {
                push(Span::styled(
                    format!("▲{warnings}"),
                    Style::default().fg(Color::Yellow),
                ));
            }
        }
        None if v.migration.is_some() => push(Span::styled("…", DIM)),
        None => {}
    }
    if let Some(migration) = &v.migration {
        for (side, file) in [
            (super::data::Side::Up, Some(&migration.up)),
            (super::data::Side::Down, migration.down.as_ref()),
        ] {
            if let Some(file) = file
                && !data.problems(file).is_empty()
            {
                push(Span::styled(
                    format!("⚠{}", side.label()),
                    Style::default().fg(Color::Yellow),
                ));
            }
        }
    }
    Line::from(spans)
}

/// When a version was applied and the database user who did, when known.
struct Applied<'a> {
    at: Option<DateTime<Utc>>,
    by: Option<&'a str>,
}

/// A database user as the list shows it: at most [`APPLIED_BY_MAX`] columns.
fn by_cell(user: &str) -> Line<'static> {
    visible::line(
        &crate::format::one_line(user, usize::from(APPLIED_BY_MAX)),
        DIM,
    )
}

/// One version's cells: glyph, version, description and flags, findings, rehearsal, duration,
/// time applied, who applied it.
fn version_row(
    v: &VersionStatus,
    [findings, rehearsal]: [Line<'static>; 2],
    applied: Applied,
    running: bool,
) -> [Cell<'static>; 8] {
    let (glyph, color) = state_look(v.state);
    let glyph = if running { "▶" } else { glyph };
    let mut description = visible::spans(&v.description, Style::default());
    if v.migration.as_ref().is_some_and(|m| m.up.no_transaction) {
        description.push(Span::styled(" no-tx", Style::default().fg(Color::Yellow)));
    }
    if !matches!(v.state, State::Applied | State::Pending) {
        description.push(Span::styled(
            format!(" · {}", v.label()),
            Style::default().fg(color),
        ));
    }
    let took = v
        .applied
        .as_ref()
        .map(|row| crate::format::execution_time(row.execution_time))
        .unwrap_or_default();
    let when = applied
        .at
        .map(|at| at.with_timezone(&Local).format("%m-%d %H:%M").to_string())
        .unwrap_or_default();
    [
        Cell::from(glyph).style(Style::default().fg(color).add_modifier(Modifier::BOLD)),
        Cell::from(v.version.to_string()).style(Style::default().fg(color)),
        Cell::from(Line::from(description)),
        Cell::from(findings),
        Cell::from(rehearsal),
        Cell::from(Line::from(took).right_aligned()).style(DIM),
        Cell::from(when).style(DIM),
        Cell::from(applied.by.map(by_cell).unwrap_or_default()),
    ]
}

/// Columns the list needs for its identity columns: borders, cursor, glyph, the widest version
/// and [`MIN_DESCRIPTION`] characters of description.
pub fn min_width(status: Option<&Status>) -> u16 {
    // The widest version is the largest or the most negative one: no need to format them all.
    let digits =
        |v: i64| v.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1) as u16 + u16::from(v < 0);
    let version = status
        .map(|s| {
            let (low, high) = (s.versions.first(), s.versions.last());
            low.into_iter()
                .chain(high)
                .map(|v| digits(v.version))
                .max()
                .unwrap_or(1)
        })
        .unwrap_or(1);
    2 + 1 + 1 + 1 + version + 1 + MIN_DESCRIPTION
}

/// Columns the list would take to show every column: its identity with some more description,
/// findings as wide as `✗1 ▲2`, and when anything is applied the duration, the time applied and
/// who applied it (as wide as the widest database user the audit names). The wide layout gives
/// it up to half the screen.
pub fn wanted_width(data: &Data) -> u16 {
    let status = data.status.as_ref();
    let mut wanted = min_width(status) + DESCRIPTION_ALLOWANCE + FINDINGS_ALLOWANCE + 1;
    if status.is_some_and(|s| s.recorded().next().is_some()) {
        wanted += DURATION_WIDTH + 1 + APPLIED_AT_WIDTH + 1;
        let by = data.applied_by_width().min(APPLIED_BY_MAX);
        if by > 0 {
            wanted += by + 1;
        }
    }
    // A column is taken with one to spare.
    wanted + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_in_reverse_priority() {
        let shown = |c: Columns| {
            (
                c.findings,
                c.rehearsal,
                c.duration,
                c.applied_at,
                c.applied_by,
            )
        };
        // glyph + version 14 + 20 description, with spacing: 37.
        assert_eq!(shown(columns(37, 14, [5, 2, 6], true)), (0, 0, 0, 0, 0));
        assert_eq!(shown(columns(50, 14, [5, 2, 6], true)), (5, 2, 0, 0, 0));
        assert_eq!(shown(columns(45, 14, [5, 2, 6], true)), (5, 0, 0, 0, 0));
        assert_eq!(shown(columns(60, 14, [5, 2, 6], true)), (5, 2, 9, 0, 0));
        assert_eq!(shown(columns(70, 14, [5, 2, 6], true)), (5, 2, 9, 11, 0));
        assert_eq!(shown(columns(90, 14, [5, 2, 6], true)), (5, 2, 9, 11, 6));
        // Who applied it only when the description keeps some room beyond its minimum.
        assert_eq!(shown(columns(81, 14, [5, 2, 6], true)), (5, 2, 9, 11, 0));
        assert_eq!(shown(columns(89, 14, [5, 2, 6], true)), (5, 2, 9, 11, 6));
        // No rehearsal on screen: the column takes no room.
        assert_eq!(shown(columns(57, 14, [5, 0, 0], true)), (5, 0, 9, 0, 0));
        // No one named by the audit: no column.
        assert_eq!(shown(columns(90, 14, [5, 2, 0], true)), (5, 2, 9, 11, 0));
    }
}
