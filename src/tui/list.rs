//! The migrations list: every version with its state, findings, duration, time applied and who
//! applied it, a "pending" separator, the `/` filter, and the cursor.
//!
//! Identity comes first: the state glyph, the full version (never cut) and at least
//! [`MIN_DESCRIPTION`] characters of description (of which the findings may take a few when
//! nothing else fits: a list without its ✗ hides where the review stops); then the findings, the
//! rehearsal (✓ round trip,
//! ✗ failed, ∅ not reversible; see [`super::rehearsal::list_cell`]), the duration, the time
//! applied and the database user who applied it (when the audit recorded it), dropped in that
//! reverse order as the pane narrows. The columns are shared by the rows on screen, and a row's
//! description runs on over the columns after it that are empty in that row (an applied row's
//! findings, a pending row's duration and time applied) up to the first cell the row shows, where
//! it is cut. The time applied is the audit's when it recorded the apply, else the history
//! row's. The cursor starts on the first pending migration (or the last applied when none is
//! pending) and stays on its version when the list changes.

use chrono::{DateTime, Local, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

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
        if self.visible.is_empty() && (status.versions.is_empty() || !self.filter.is_empty()) {
            let empty = Paragraph::new(self.empty_lines(status, data))
                .wrap(Wrap { trim: false })
                .block(block);
            frame.render_widget(empty, area);
            return;
        }
        let height = area.height.saturating_sub(2) as usize;
        let first = self.offset;
        let last = (first + height).min(self.rows());
        let cells: Vec<Option<[Line<'static>; 8]>> = (first..last)
            .map(|row| {
                let v = &status.versions[self.visible[self.at_row(row)?]];
                Some(version_row(
                    v,
                    [
                        findings_cell(data, v),
                        super::rehearsal::list_cell(data.rehearsals.of(v)),
                    ],
                    Applied {
                        at: data.applied_at(v),
                        by: data.applied_by(v).map(|by| by.database_user.as_str()),
                    },
                    running == Some(v.version),
                ))
            })
            .collect();
        // Inside the border, after the cursor column.
        let columns = Columns::fit(area.width.saturating_sub(3), cells.iter().flatten());
        let selected_row = (first..last).position(|row| self.at_row(row) == Some(self.selected));
        let rows = cells
            .into_iter()
            .map(|cells| cells.map_or_else(separator, |cells| columns.row(cells)))
            .collect();
        let mut state = TableState::default().with_selected(selected_row);
        frame.render_stateful_widget(table(rows, columns).block(block), area, &mut state);
    }

    /// What an empty list says: how to create the first migration and what the directory holds
    /// that is not one (as `lockstep status` says it), or that the filter hides every version.
    fn empty_lines(&self, status: &Status, data: &Data) -> Vec<Line<'static>> {
        if !status.versions.is_empty() {
            return vec![visible::line(
                &format!(
                    "no migration matches `{}` (/ then Esc clears it)",
                    self.filter
                ),
                DIM,
            )];
        }
        let mut lines = vec![Line::raw(crate::source::NO_MIGRATIONS_YET)];
        for problem in &data.set.problems {
            let style = match problem.severity {
                crate::source::Severity::Error => Style::default().fg(Color::Red),
                crate::source::Severity::Warning => Style::default().fg(Color::Yellow),
                crate::source::Severity::Ignored => DIM,
            };
            lines.push(Line::raw(""));
            lines.push(visible::line(&problem.to_string(), style));
        }
        lines
    }
}

/// The `── pending ──` row, in the description column.
fn separator() -> Row<'static> {
    Row::new([
        Cell::from(""),
        Cell::from(""),
        Cell::from(Line::styled("── pending ──", DIM)),
    ])
}

/// The list's rows in `columns`, the selected one highlighted behind the `›` cursor.
fn table(rows: Vec<Row<'static>>, columns: Columns) -> Table<'static> {
    Table::new(rows, columns.widths())
        .row_highlight_style(
            Style::default()
                .bg(Color::Rgb(40, 44, 52))
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("›")
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
/// Description characters below [`MIN_DESCRIPTION`] the findings may take when nothing else fits.
const FINDINGS_BORROW: u16 = 6;
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
    let identity = 1 + 1 + version + 1;
    // The findings are worth a few description characters: a list that shows no ✗ hides which
    // migration the review stops at.
    let findings_room = width.saturating_sub(identity + MIN_DESCRIPTION - FINDINGS_BORROW);
    let findings = if findings > 0 && findings_room > findings {
        findings
    } else {
        0
    };
    let mut room = width
        .saturating_sub(identity + MIN_DESCRIPTION)
        .saturating_sub(if findings > 0 { findings + 1 } else { 0 });
    let mut take = |wanted: u16| {
        if wanted > 0 && room > wanted {
            room -= wanted + 1;
            wanted
        } else {
            0
        }
    };
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
    /// The columns for `width` columns of rows (one column between columns), measured on the
    /// cells of the rows on screen (see [`version_row`]).
    fn fit<'a>(width: u16, rows: impl Iterator<Item = &'a [Line<'static>; 8]> + Clone) -> Columns {
        let widest = |cell: usize| {
            let widest = rows.clone().map(|cells| cells[cell].width()).max();
            u16::try_from(widest.unwrap_or(0)).unwrap_or(u16::MAX)
        };
        columns(
            width,
            widest(1).max(1),
            [widest(3), widest(4), widest(7)],
            widest(5) > 0,
        )
    }

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

    /// One version's row: `cells` (glyph, version, description, findings, rehearsal, duration,
    /// time applied, who applied it) in the columns shown. The description runs on over the
    /// columns after it that are empty in this row, up to the first cell the row shows: it gets
    /// the room its row does not use, while every cell shown stays in its column.
    fn row(self, cells: [Line<'static>; 8]) -> Row<'static> {
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
        let mut cells = cells
            .into_iter()
            .zip(shown)
            .filter(|(_, shown)| *shown)
            .map(|(cell, _)| cell);
        let mut row: Vec<Cell<'static>> = cells.by_ref().take(3).map(Cell::from).collect();
        let trailing: Vec<Line<'static>> = cells.collect();
        let empty = trailing.iter().take_while(|cell| cell.width() == 0).count();
        if let Some(description) = row.pop() {
            row.push(description.column_span(1 + empty as u16));
        }
        row.extend(trailing.into_iter().skip(empty).map(Cell::from));
        Row::new(row)
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
                && !data.problems(v.version, side, file).is_empty()
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
) -> [Line<'static>; 8] {
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
        Line::styled(
            glyph,
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        ),
        Line::styled(v.version.to_string(), Style::default().fg(color)),
        Line::from(description),
        findings,
        rehearsal,
        Line::styled(took, DIM).right_aligned(),
        Line::styled(when, DIM),
        applied.by.map(by_cell).unwrap_or_default(),
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
    use crate::history::AppliedRow;
    use ratatui::buffer::Buffer;
    use ratatui::widgets::StatefulWidget;

    const LONG: &str = "add conversation language and archive flag with a default";

    /// A version as the list gets it: applied (3.2 ms, at a fixed time, by `by`) or pending.
    fn version(version: i64, description: &str, applied: bool) -> VersionStatus {
        VersionStatus {
            version,
            description: description.to_string(),
            state: if applied {
                State::Applied
            } else {
                State::Pending
            },
            migration: None,
            applied: applied.then(|| AppliedRow {
                version,
                description: description.to_string(),
                installed_on: DateTime::from_timestamp(1_764_477_060, 0).unwrap(),
                success: true,
                checksum: Vec::new(),
                execution_time: 3_200_000,
            }),
            unfinished: None,
        }
    }

    /// A row's cells with `findings`, applied by `by` when applied.
    fn cells(v: &VersionStatus, findings: &str, by: Option<&str>) -> [Line<'static>; 8] {
        let at = v.applied.as_ref().map(|row| row.installed_on);
        let by = by.filter(|_| at.is_some());
        version_row(
            v,
            [Line::from(findings.to_string()), Line::default()],
            Applied { at, by },
            false,
        )
    }

    /// The rows drawn `width` columns wide (the cursor column included, no border), the first
    /// selected: each row as the symbols of its cells, one a column.
    fn draw(width: u16, rows: Vec<[Line<'static>; 8]>) -> (Columns, Vec<Vec<String>>) {
        let columns = Columns::fit(width - 1, rows.iter());
        let area = Rect::new(0, 0, width, rows.len() as u16);
        let mut buf = Buffer::empty(area);
        let rows = rows.into_iter().map(|cells| columns.row(cells)).collect();
        let mut state = TableState::default().with_selected(Some(0));
        StatefulWidget::render(table(rows, columns), area, &mut buf, &mut state);
        let drawn = (0..area.height)
            .map(|y| {
                (0..width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect();
        (columns, drawn)
    }

    /// A drawn row as text (a wide character once, not with the cell it hides).
    fn text(row: &[String]) -> String {
        let mut text = String::new();
        let mut hidden = 0;
        for symbol in row {
            if hidden > 0 {
                hidden -= 1;
                continue;
            }
            hidden = Line::from(symbol.as_str()).width().saturating_sub(1);
            text.push_str(symbol);
        }
        text
    }

    /// The column where `needle` (one column a character) starts in a drawn row.
    fn column_of(row: &[String], needle: &str) -> Option<usize> {
        let needle: Vec<String> = needle.chars().map(String::from).collect();
        row.windows(needle.len()).position(|cells| cells == needle)
    }

    /// The description's cells: after the cursor, glyph and version, up to the last column that
    /// is not blank before `end`.
    fn description(row: &[String], version: u16, end: usize) -> String {
        let start = usize::from(1 + 1 + 1 + version + 1);
        text(&row[start..end]).trim_end().to_string()
    }

    #[test]
    fn an_applied_row_without_findings_runs_over_the_findings_column() {
        // The pane of the report: 80 columns, 77 inside the border.
        let (with, without) = (
            version(20260106101000, LONG, true),
            version(20260112110000, LONG, true),
        );
        let (columns, drawn) = draw(
            78,
            vec![cells(&with, "✗1 ▲1", None), cells(&without, "", None)],
        );
        assert_eq!(
            (
                columns.findings,
                columns.rehearsal,
                columns.duration,
                columns.applied_at
            ),
            (5, 0, 9, 11)
        );
        let findings = column_of(&drawn[0], "✗1").unwrap();
        let duration = column_of(&drawn[0], "3.2 ms").unwrap();
        // The row with findings keeps the shared description column (up to one before them)...
        assert_eq!(
            description(&drawn[0], 14, findings),
            "add conversation language and ar"
        );
        // ... the row without gets the findings column and its spacing too, up to its duration.
        assert_eq!(column_of(&drawn[1], "3.2 ms"), Some(duration));
        assert_eq!(
            description(&drawn[1], 14, duration),
            "add conversation language and archive"
        );
        assert_eq!(
            drawn[1][findings + 5],
            " ",
            "one column before the duration's"
        );
    }

    #[test]
    fn a_pending_row_runs_over_the_duration_and_time_columns() {
        let rows = [
            version(20260105091500, "create set updated at function", true),
            version(
                20260115100000,
                "index turns by conversation concurrently",
                false,
            ),
            version(
                20260116113000,
                "index conversations by status and language",
                false,
            ),
        ];
        let (_, drawn) = draw(
            78,
            vec![
                cells(&rows[0], "", None),
                cells(&rows[1], "", None),
                cells(&rows[2], "✗1 ▲1", None),
            ],
        );
        let findings = column_of(&drawn[2], "✗1").unwrap();
        assert_eq!(
            description(&drawn[1], 14, 78),
            "index turns by conversation concurrently",
            "nothing after it: the whole row"
        );
        // A pending row with findings stops before them, at the shared description column.
        assert_eq!(
            description(&drawn[2], 14, findings),
            "index conversations by status an"
        );
        assert_eq!(&drawn[2][findings - 1], " ");
        // Too long for its room: cut at the row's edge as it always was.
        let long = version(20260115100000, &LONG.repeat(2), false);
        let (_, drawn) = draw(78, vec![cells(&rows[0], "", None), cells(&long, "", None)]);
        let shown = description(&drawn[1], 14, 78);
        assert_eq!(shown.chars().count(), 78 - 18);
        assert!(LONG.repeat(2).starts_with(&shown), "{shown}");
    }

    #[test]
    fn shown_cells_stay_in_their_columns() {
        // Wide characters in descriptions (CJK and emoji, two columns each), some cut where a
        // wide character does not fit.
        let cjk = "移行テーブルを追加して既存の行を更新する長い説明";
        let rows = [
            (version(1, "create users", true), "▲1", Some("deploy")),
            (version(2, &cjk.repeat(2), true), "", Some("deploy")),
            (
                version(
                    3,
                    "🚀 launch the rocket table with a long description",
                    true,
                ),
                "✗1 ▲2",
                None,
            ),
            (version(4, "a", true), "", Some("alice")),
            (version(5, &format!("a{cjk}{cjk}"), false), "▲1", None),
            (version(6, &"🚀".repeat(50), false), "", None),
        ];
        let width = 90;
        let (columns, drawn) = draw(
            width,
            rows.iter()
                .map(|(v, findings, by)| cells(v, findings, *by))
                .collect(),
        );
        // 89 columns after the cursor: glyph, version 1, description 50, then 5 + 9 + 11 + 6.
        assert_eq!(
            (
                columns.findings,
                columns.duration,
                columns.applied_at,
                columns.applied_by
            ),
            (5, 9, 11, 6)
        );
        let at = |row: usize, needle: &str| column_of(&drawn[row], needle);
        let when = rows[0]
            .0
            .applied
            .as_ref()
            .unwrap()
            .installed_on
            .with_timezone(&Local)
            .format("%m-%d %H:%M")
            .to_string();
        // Findings under findings, durations under durations, times under times, users under
        // users.
        let findings = at(0, "▲1").unwrap();
        assert_eq!(findings, 5 + 50 + 1);
        assert_eq!(at(2, "✗1 ▲2"), Some(findings));
        assert_eq!(at(4, "▲1"), Some(findings));
        let duration = at(0, "3.2 ms").unwrap();
        let time = at(0, &when).unwrap();
        let by = at(0, "deploy").unwrap();
        for row in 1..4 {
            assert_eq!(at(row, "3.2 ms"), Some(duration), "row {row}");
            assert_eq!(at(row, &when), Some(time), "row {row}");
        }
        assert_eq!(at(1, "deploy"), Some(by));
        assert_eq!(at(3, "alice"), Some(by));
        // Every row is exactly as wide as the pane, and the column before each shown cell blank:
        // no description overlaps a cell.
        for (row, cells) in drawn.iter().enumerate() {
            assert_eq!(
                Line::from(text(cells)).width(),
                usize::from(width),
                "row {row}"
            );
            for x in [findings, duration, time, by] {
                if cells[x] != " " {
                    assert_eq!(cells[x - 1], " ", "row {row} column {x}: {}", text(cells));
                }
            }
        }
        let first = |text: &str, n: usize| text.chars().take(n).collect::<String>();
        // The CJK row without findings runs over their column and its spacing: 56 columns.
        assert_eq!(
            description(&drawn[1], 1, findings + 6),
            first(&cjk.repeat(2), 28)
        );
        // The pending one with findings keeps the shared 50 columns: `a` and 24 characters, the
        // 25th not drawn for want of its second column.
        assert_eq!(
            description(&drawn[4], 1, findings),
            first(&format!("a{cjk}{cjk}"), 25)
        );
        assert_eq!(drawn[4][findings - 2], " ");
        // The pending emoji row runs to the end of the pane: 85 columns after its version, 42
        // rockets and the last column blank.
        let rockets = description(&drawn[5], 1, usize::from(width));
        assert_eq!(rockets, "🚀".repeat(42));
    }

    #[test]
    fn narrow_lists_keep_the_identity() {
        let rows = [
            version(20260105091500, LONG, true),
            version(20260116113000, LONG, false),
        ];
        let at = |width: u16| {
            draw(
                width,
                vec![cells(&rows[0], "", None), cells(&rows[1], "✗1 ▲1", None)],
            )
        };
        // Cursor, glyph, version 14 and 20 description, with spacing: 38 with the cursor. Too
        // narrow for the findings and 14 characters of description: they are dropped.
        let (columns, drawn) = at(37);
        assert_eq!(
            (columns.findings, columns.duration, columns.applied_at),
            (0, 0, 0)
        );
        assert_eq!(text(&drawn[0]), "›✓ 20260105091500 add conversation la");
        assert_eq!(text(&drawn[1]), " ○ 20260116113000 add conversation la");
        // At 38, the findings take 6 of the 20 description characters: the ✗ shows.
        let (columns, drawn) = at(38);
        assert_eq!((columns.findings, columns.duration), (5, 0));
        assert_eq!(text(&drawn[0]), "›✓ 20260105091500 add conversation lan");
        assert_eq!(text(&drawn[1]), " ○ 20260116113000 add conversati ✗1 ▲1");
        // Room for the findings: the row with them keeps MIN_DESCRIPTION, the one without
        // takes their room.
        let (columns, drawn) = at(44);
        assert_eq!((columns.findings, columns.duration), (5, 0));
        assert_eq!(
            text(&drawn[0]),
            "›✓ 20260105091500 add conversation language "
        );
        assert_eq!(
            text(&drawn[1]),
            " ○ 20260116113000 add conversation lan ✗1 ▲1"
        );
        assert_eq!(
            description(&drawn[1], 14, column_of(&drawn[1], "✗1").unwrap())
                .chars()
                .count(),
            usize::from(MIN_DESCRIPTION)
        );
    }

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
        // glyph + version 14 + 20 description, with spacing: 37. The findings may take the
        // description down to 14 characters: 31 + 6 columns.
        assert_eq!(shown(columns(36, 14, [5, 2, 6], true)), (0, 0, 0, 0, 0));
        assert_eq!(shown(columns(37, 14, [5, 2, 6], true)), (5, 0, 0, 0, 0));
        assert_eq!(shown(columns(42, 14, [5, 2, 6], true)), (5, 0, 0, 0, 0));
        assert_eq!(shown(columns(37, 14, [0, 2, 6], true)), (0, 0, 0, 0, 0));
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
