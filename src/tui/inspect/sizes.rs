//! The Sizes tab: every table's sizes, sortable by any column, with a bar for the largest tables
//! and a red `🔒 locked` badge (catalog estimates only) for tables under an ACCESS EXCLUSIVE lock.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::selection::Selection;
use super::{SELECTED, empty};
use crate::monitor::format::{human_age, human_bytes, human_count};
use crate::monitor::{SizeColumn, TableSize, sort_sizes};

/// The pane's columns, in display order: [`SizeColumn::ALL`] but the schema (names are
/// qualified outside `public`) and the automatic vacuum and analyze, which the pane folds into
/// [`SizeColumn::LastVacuum`] and [`SizeColumn::LastAnalyze`] (showing and sorting by the latest
/// run, manual or automatic). `s` cycles through them.
pub fn columns() -> impl Iterator<Item = SizeColumn> + Clone {
    SizeColumn::ALL.into_iter().filter(|c| {
        !matches!(
            c,
            SizeColumn::Schema | SizeColumn::LastAutovacuum | SizeColumn::LastAutoanalyze
        )
    })
}

/// A column's header: `TOTAL`, `VACUUM`, ...
pub fn header(column: SizeColumn) -> String {
    match column {
        SizeColumn::Schema | SizeColumn::Name => "TABLE".into(),
        SizeColumn::LastVacuum | SizeColumn::LastAutovacuum => "VACUUM".into(),
        SizeColumn::LastAnalyze | SizeColumn::LastAutoanalyze => "ANALYZE".into(),
        other => other.name().to_uppercase(),
    }
}

/// The column after `column` in [`columns`], wrapping around.
fn next(column: SizeColumn) -> SizeColumn {
    let mut cycle = columns().cycle();
    match cycle.position(|c| c == column) {
        Some(_) => cycle.next().unwrap_or(SizeColumn::Total),
        None => SizeColumn::Total,
    }
}

/// When a table was last vacuumed or analyzed.
type LastRun = fn(&TableSize) -> Option<DateTime<Utc>>;

/// The Sizes tab's state: sort column and direction, the sorted row order, the cursor.
#[derive(Debug, Clone)]
pub struct SizesState {
    /// The sort column.
    pub column: SizeColumn,
    /// Whether the largest (or newest, or last by name) comes first.
    pub descending: bool,
    /// The snapshot's tables in display order.
    rows: Vec<TableSize>,
    selection: Selection<String>,
}

impl Default for SizesState {
    fn default() -> SizesState {
        SizesState {
            column: SizeColumn::Total,
            descending: true,
            rows: Vec::new(),
            selection: Selection::default(),
        }
    }
}

impl SizesState {
    /// Sorts `sizes` again (after a poll or a sort change), keeping the cursor on its table.
    pub fn resort(&mut self, sizes: &[TableSize]) {
        let mut rows = sizes.to_vec();
        let latest: Option<LastRun> = match self.column {
            SizeColumn::LastVacuum => Some(last_vacuum),
            SizeColumn::LastAnalyze => Some(last_analyze),
            _ => None,
        };
        match latest {
            // Stable: ties keep the name order.
            Some(latest) => {
                sort_sizes(&mut rows, SizeColumn::Schema, false);
                rows.sort_by(|a, b| {
                    let order = latest(a).cmp(&latest(b));
                    if self.descending {
                        order.reverse()
                    } else {
                        order
                    }
                });
            }
            None => sort_sizes(&mut rows, self.column, self.descending),
        }
        self.rows = rows;
        let keys = self.keys();
        self.selection.follow(&keys);
    }

    /// The tables in display order.
    pub fn rows(&self) -> &[TableSize] {
        &self.rows
    }

    /// Handles `s` (next sort column, in its natural direction), `S` (reverse) and movement.
    pub fn key(&mut self, key: &KeyEvent, page: usize) -> bool {
        match key.code {
            KeyCode::Char('s') => {
                self.column = next(self.column);
                self.descending = self.column.descending_by_default();
            }
            KeyCode::Char('S') => self.descending = !self.descending,
            _ => {
                let keys = self.keys();
                return self.selection.key(key, &keys, page);
            }
        }
        let rows = std::mem::take(&mut self.rows);
        self.resort(&rows);
        true
    }

    /// The selected row's index in display order.
    pub fn selected(&self) -> Option<usize> {
        self.selection.index(self.rows.len())
    }

    fn keys(&self) -> Vec<String> {
        self.rows.iter().map(label).collect()
    }
}

/// A table's name as shown: bare in `public`, else `schema.name`.
pub fn label(table: &TableSize) -> String {
    if table.schema == "public" {
        table.name.clone()
    } else {
        table.qualified_name()
    }
}

fn last_vacuum(t: &TableSize) -> Option<DateTime<Utc>> {
    t.last_vacuum.max(t.last_autovacuum)
}

fn last_analyze(t: &TableSize) -> Option<DateTime<Utc>> {
    t.last_analyze.max(t.last_autoanalyze)
}

/// The figures shown beside a table name in analysis findings: `1.2 GB, 8.1M rows`; a locked
/// table shows its catalog estimate: `~1.2 GB, 8.1M rows, locked`.
pub fn size_note(size: &TableSize) -> String {
    let summary = size.summary();
    if size.exclusively_locked {
        format!("{summary}, locked")
    } else {
        summary
    }
}

/// Finds `name` among `sizes`: `table`, `schema.table` or `db.schema.table`, unquoted parts
/// folded to lower case as PostgreSQL does, `"Quoted"` parts kept. A bare name prefers `public`,
/// then the first schema in order.
pub fn find<'a>(sizes: &'a [TableSize], name: &str) -> Option<&'a TableSize> {
    let mut parts = identifier_parts(name);
    let table = parts.pop()?;
    let schema = parts.pop();
    let mut matches = sizes
        .iter()
        .filter(|t| t.name == table && schema.as_ref().is_none_or(|s| *s == t.schema));
    let first = matches.next()?;
    if first.schema == "public" {
        return Some(first);
    }
    Some(matches.find(|t| t.schema == "public").unwrap_or(first))
}

/// Splits a possibly qualified, possibly quoted identifier on the dots outside quotes.
fn identifier_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = name.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                current.push('"');
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(finish(&mut current, &mut was_quoted));
            }
            c => current.push(c),
        }
    }
    parts.push(finish(&mut current, &mut was_quoted));
    parts
}

fn finish(current: &mut String, was_quoted: &mut bool) -> String {
    let part = std::mem::take(current);
    if std::mem::take(was_quoted) {
        part
    } else {
        part.trim().to_lowercase()
    }
}

/// A bar of `width` cells filled to `fraction` (0–1), in eighths.
pub fn bar(fraction: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (fraction * width as f64 * 8.0).round() as usize;
    let mut out = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        out.push(EIGHTHS[eighths % 8]);
    }
    out
}

const BAR_WIDTH: u16 = 10;

/// Draws the Sizes table into `area`.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &SizesState,
    read: bool,
    taken_at: DateTime<Utc>,
) {
    if !read {
        return empty(frame, area, "sizes not read yet");
    }
    let rows = state.rows();
    if rows.is_empty() {
        return empty(frame, area, "no tables");
    }
    let largest = rows
        .iter()
        .map(|t| t.total_or_estimate())
        .max()
        .unwrap_or(0)
        .max(1);
    let header: Vec<Cell> = columns()
        .flat_map(|column| {
            let mut text = header(column);
            if column == state.column {
                text.push_str(if state.descending { " ▼" } else { " ▲" });
            }
            let style = if column == state.column {
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().add_modifier(Modifier::BOLD)
            };
            let cell = Cell::from(Span::styled(text, style));
            if column == SizeColumn::Total {
                vec![cell, Cell::from("")]
            } else {
                vec![cell]
            }
        })
        .collect();
    // The name as long as the longest (never two names cut to the same text), then the columns
    // by priority while they fit.
    let name = rows
        .iter()
        .map(|t| crate::text::visible::width(&label(t)))
        .max()
        .unwrap_or(0)
        .clamp(12, 48) as u16;
    let widths: [u16; 11] = [name, 10, BAR_WIDTH, 10, 10, 10, 8, 8, 8, 9, 9];
    let keep = super::text::fit(&widths, &PRIORITY, area.width);
    let pick = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        cells
            .into_iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c)
            .collect()
    };
    let body = rows
        .iter()
        .map(|t| Row::new(pick(row(t, largest, taken_at))));
    let mut constraints: Vec<Constraint> = widths
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(w, _)| Constraint::Length(*w))
        .collect();
    constraints[0] = Constraint::Min(name);
    let table = Table::new(body, constraints)
        .header(Row::new(pick(header)))
        .column_spacing(1)
        .row_highlight_style(SELECTED);
    let mut table_state = TableState::default().with_selected(state.selected());
    frame.render_stateful_widget(table, area, &mut table_state);
}

/// Which columns stay when the pane narrows, most important first: the name, the total, the heap
/// (or the lock badge), the rows, the indexes, the dead tuples, TOAST, live tuples, the bar,
/// vacuum, analyze.
const PRIORITY: [usize; 11] = [0, 1, 3, 6, 4, 8, 5, 7, 2, 9, 10];

fn row(t: &TableSize, largest: i64, taken_at: DateTime<Utc>) -> Vec<Cell<'static>> {
    let bytes = |b: Option<i64>| b.map(human_bytes).unwrap_or_else(|| "-".into());
    let count = |c: Option<i64>| c.map(human_count).unwrap_or_else(|| "?".into());
    let since = |at: Option<DateTime<Utc>>| match at {
        Some(at) => human_age((taken_at - at).num_milliseconds() as f64 / 1e3),
        None => "never".into(),
    };
    let fraction = t.total_or_estimate() as f64 / largest as f64;
    let bar = Cell::from(Span::styled(
        bar(fraction, usize::from(BAR_WIDTH)),
        Style::default().fg(Color::Blue),
    ));
    let mut cells = vec![Cell::from(crate::tui::visible::line(
        &label(t),
        Style::default(),
    ))];
    if t.exclusively_locked {
        cells.extend([
            Cell::from(format!("~{}", human_bytes(t.estimated_heap_bytes))),
            bar,
            Cell::from(Span::styled(
                "🔒 locked",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            )),
            Cell::from(""),
            Cell::from(""),
        ]);
    } else {
        cells.extend([
            Cell::from(bytes(t.total_bytes)),
            bar,
            Cell::from(bytes(t.heap_bytes)),
            Cell::from(bytes(t.index_bytes)),
            Cell::from(bytes(t.toast_bytes)),
        ]);
    }
    cells.extend([
        Cell::from(count(t.estimated_rows)),
        Cell::from(count(t.n_live_tup)),
        Cell::from(count(t.n_dead_tup)),
        Cell::from(since(last_vacuum(t))),
        Cell::from(since(last_analyze(t))),
    ]);
    cells
}
