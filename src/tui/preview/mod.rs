//! The preview: the selected migration's UP or DOWN file, highlighted, with line numbers, each
//! finding marked in the gutter and underlined, and under each statement its lock badges and its
//! findings (errors first) with the safe alternative or the fix `f` applies. After a rehearsal
//! (`R`): its phases at the top, and under each statement of the UP the locks the server took
//! beside the predicted ones, disagreements highlighted.

mod rows;

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub use rows::{
    Chip, NoteKind, PreviewRow, RowInput, Tone, Underline, build_rows, finding_rows, findings_in,
    wrap,
};

use super::data::{Data, Side};
use super::keys;
use super::rehearsal::tone_style;
use super::theme::{DIM, glyph, pane, severity_color};
use super::visible::{self, visible_lines};
use crate::analysis::Severity;
use crate::status::VersionStatus;

/// How a disagreement between a rehearsal and the analysis looks (its `≠` badge on this colour).
pub const DISAGREEMENT: Style = Style::new().fg(Color::LightBlue);

/// How the sentence saying who applied the migration looks.
const APPLIED: Style = Style::new().fg(Color::Green);

/// Lines of source shown above a finding the preview jumps to.
const FINDING_CONTEXT: usize = 2;
/// Columns left of the text for the gutter mark and the line number's padding.
const GUTTER: usize = 8;

/// What a key did to the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewAction {
    /// Not a key of the preview.
    Ignored,
    /// Handled: redraw.
    Handled,
    /// Handled, with something to tell the user.
    Say(String),
    /// Apply the fix of this finding (its index in the previewed file's analysis).
    Fix(usize),
}

/// What the rows were built for.
#[derive(Debug, Clone, PartialEq)]
struct RowsKey {
    version: i64,
    side: Side,
    checksum: Vec<u8>,
    analysed: bool,
    generation: u64,
    width: usize,
    sizes: Vec<(String, String)>,
    problems: Vec<String>,
    rehearsals: u64,
    applied: Option<String>,
}

/// The preview's state.
#[derive(Debug, Clone)]
pub struct Preview {
    side: Side,
    scroll: usize,
    height: usize,
    rows: Vec<PreviewRow>,
    key: Option<RowsKey>,
    /// The finding last jumped to with `]` / `[`.
    current: Option<usize>,
}

impl Default for Preview {
    fn default() -> Preview {
        Preview {
            side: Side::Up,
            scroll: 0,
            height: 1,
            rows: Vec::new(),
            key: None,
            current: None,
        }
    }
}

impl Preview {
    /// UP or DOWN.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Shows the UP or DOWN file, from its top.
    pub fn set_side(&mut self, side: Side) {
        self.side = side;
        self.top();
    }

    /// The first row on screen.
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Back to the top (another migration was selected).
    pub fn top(&mut self) {
        self.scroll = 0;
        self.current = None;
    }

    /// Sets the page size (rows on screen).
    pub fn set_height(&mut self, height: usize) {
        self.height = height.max(1);
    }

    /// The rows, as built for the file on screen.
    pub fn rows(&self) -> &[PreviewRow] {
        &self.rows
    }

    /// Rebuilds the rows when the file, its analysis, the sizes of its tables or the width
    /// changed.
    pub fn refresh(&mut self, data: &Data, selected: Option<&VersionStatus>, width: usize) {
        let Some((v, file)) = selected.and_then(|v| Some((v, data.file(v, self.side)?))) else {
            self.rows.clear();
            self.key = None;
            return;
        };
        let analysis = data.analysis(v.version, self.side).cloned();
        let mut sizes: Vec<(String, String)> = analysis
            .iter()
            .flat_map(|a| a.statements.iter().flat_map(|s| s.locks.iter()))
            .filter(|l| !l.new_relation)
            .filter_map(|l| Some((l.relation.clone(), data.table_note(&l.relation)?)))
            .collect();
        sizes.sort();
        sizes.dedup();
        let key = RowsKey {
            version: v.version,
            side: self.side,
            checksum: file.checksum.clone(),
            analysed: analysis.is_some(),
            generation: data.analyses.stored_generation(),
            width,
            sizes,
            problems: data.problems(v.version, self.side, file),
            rehearsals: data.rehearsals.generation(),
            applied: data.applied_sentence(v),
        };
        if self.key.as_ref() == Some(&key) {
            return;
        }
        let size_notes: HashMap<String, String> = key.sizes.iter().cloned().collect();
        let digits = file.sql.lines().count().max(1).to_string().len();
        self.rows = build_rows(&RowInput {
            text: &file.sql,
            analysis: analysis.as_deref(),
            width: width.saturating_sub(GUTTER),
            code_width: code_width(width, digits),
            sizes: &size_notes,
            applied: key.applied.as_deref(),
            problems: &key.problems,
            rehearsal: data.rehearsals.of(v),
            down: self.side == Side::Down,
        });
        self.key = Some(key);
        self.scroll = self.scroll.min(self.last_scroll());
    }

    fn last_scroll(&self) -> usize {
        self.rows.len().saturating_sub(self.height)
    }

    /// Handles a key: scrolling, `]` / `[` between findings, `u` / `d` for the file, `f` for
    /// the fix of the finding on screen.
    pub fn key(
        &mut self,
        key: &KeyEvent,
        data: &Data,
        selected: Option<&VersionStatus>,
    ) -> PreviewAction {
        if key.modifiers.contains(KeyModifiers::ALT) {
            return PreviewAction::Ignored;
        }
        if let Some(nav) = keys::nav(key, true) {
            let last = self.last_scroll().max(self.scroll);
            self.scroll = keys::moved(self.scroll, last, self.height, nav);
            return PreviewAction::Handled;
        }
        match key.code {
            KeyCode::Char(']') => self.jump(true, data, selected),
            KeyCode::Char('[') => self.jump(false, data, selected),
            KeyCode::Char('u') => {
                self.set_side(Side::Up);
                PreviewAction::Handled
            }
            KeyCode::Char('d') if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.set_side(Side::Down);
                PreviewAction::Handled
            }
            KeyCode::Char('f') => match self.fix_target(data, selected) {
                Ok(finding) => PreviewAction::Fix(finding),
                Err(why) => PreviewAction::Say(why),
            },
            _ => PreviewAction::Ignored,
        }
    }

    /// Scrolls to the next (or previous) finding of the file.
    fn jump(
        &mut self,
        forward: bool,
        data: &Data,
        selected: Option<&VersionStatus>,
    ) -> PreviewAction {
        let Some(v) = selected else {
            return PreviewAction::Ignored;
        };
        if data.analysis(v.version, self.side).is_none() {
            return PreviewAction::Say(ANALYSIS_NOT_READY.into());
        }
        let current = self.scroll + FINDING_CONTEXT;
        let rows = finding_rows(&self.rows);
        let target = if forward {
            rows.iter().find(|&&r| r > current).or(rows.first())
        } else {
            rows.iter().rev().find(|&&r| r < current).or(rows.last())
        };
        match target {
            Some(&row) => {
                self.scroll = row.saturating_sub(FINDING_CONTEXT);
                self.current = findings_in(&self.rows[row..]).first().copied();
                PreviewAction::Handled
            }
            None => PreviewAction::Say("no findings in this file".into()),
        }
    }

    /// The finding `f` applies the fix of: the one last jumped to when its notes are on screen,
    /// else the first one on screen with a fix.
    fn fix_target(&self, data: &Data, selected: Option<&VersionStatus>) -> Result<usize, String> {
        let v = selected.ok_or("no migration selected")?;
        let analysis = data
            .analysis(v.version, self.side)
            .ok_or(ANALYSIS_NOT_READY)?;
        let end = (self.scroll + self.height).min(self.rows.len());
        let on_screen = findings_in(&self.rows[self.scroll.min(end)..end]);
        let has_fix = |i: &usize| analysis.findings.get(*i).is_some_and(|f| f.fix.is_some());
        if let Some(current) = self.current.filter(|c| on_screen.contains(c))
            && has_fix(&current)
        {
            return Ok(current);
        }
        on_screen.into_iter().find(has_fix).ok_or_else(|| {
            "no finding with a fix on screen: ] jumps to the next finding".to_string()
        })
    }

    /// Draws the preview of `selected`.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        data: &Data,
        selected: Option<&VersionStatus>,
        focused: bool,
    ) {
        let side = self.side.label();
        let Some(v) = selected else {
            frame.render_widget(
                Paragraph::new("no migration selected").block(pane(" 2 Preview ", focused)),
                area,
            );
            return;
        };
        let Some(migration) = &v.migration else {
            let mut lines = vec![Line::styled(
                format!("version {} is applied but its file is missing", v.version),
                Style::default().fg(Color::Magenta),
            )];
            lines.extend(
                data.applied_sentence(v)
                    .map(|sentence| visible::line(&sentence, APPLIED)),
            );
            frame.render_widget(
                super::theme::wrapped(lines).block(pane(
                    &format!(" 2 {} {} ", v.version, v.description),
                    focused,
                )),
                area,
            );
            return;
        };
        let analysis = data.analysis(v.version, self.side);
        let mode = if analysis.is_some_and(|a| a.controls_own_transactions()) {
            "its own BEGIN/COMMIT"
        } else if migration.up.no_transaction {
            "no transaction"
        } else {
            "one transaction"
        };
        let down = if migration.down.is_some() {
            "has DOWN"
        } else {
            "no DOWN"
        };
        let head = format!(" 2 {side} {} ", v.version);
        let mode = format!("— {mode}, {down} ");
        let room = usize::from(area.width.saturating_sub(2));
        let title = fit_title(&head, &v.description, &mode, "", false, room);
        let Some(file) = data.file(v, self.side) else {
            frame.render_widget(
                Paragraph::new("this migration has no DOWN file: it cannot be reverted")
                    .wrap(Wrap { trim: true })
                    .block(pane(&title, focused)),
                area,
            );
            return;
        };
        let findings = match analysis {
            Some(a) => format!(
                "· {}{} ",
                match a.findings.len() {
                    0 => "no findings".to_string(),
                    n => crate::runner::text::count(n, "finding", "findings"),
                },
                match a.suppressed.len() {
                    0 => String::new(),
                    n => format!(" ({n} suppressed)"),
                }
            ),
            None => "· analysing… ".to_string(),
        };
        // With findings, their count matters more than the mode; without, the mode does.
        let count_first =
            analysis.is_some_and(|a| !a.findings.is_empty() || !a.suppressed.is_empty());
        let title = fit_title(&head, &v.description, &mode, &findings, count_first, room);
        let block = pane(&title, focused);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let failing_line = data
            .failure
            .as_ref()
            .filter(|(version, _)| *version == v.version)
            .and_then(|(_, f)| f.line);
        // Only the rows on screen are built: a 1 MB migration costs no more per frame than a
        // small one.
        let height = inner.height as usize;
        let shown = self.rows.iter().skip(self.scroll).take(height);
        let code_lines: Vec<usize> = shown
            .clone()
            .filter_map(|r| match r {
                PreviewRow::Code { line, .. } => Some(*line),
                _ => None,
            })
            .collect();
        let source = source_lines(data, file, &code_lines);
        let total = self
            .rows
            .iter()
            .rev()
            .find_map(|r| match r {
                PreviewRow::Code { line, .. } => Some(*line + 1),
                _ => None,
            })
            .unwrap_or(1);
        let width = total.to_string().len();
        let mut lines: Vec<Line> = Vec::with_capacity(height);
        for row in shown {
            lines.push(match row {
                PreviewRow::Applied(text) => Line::styled(text.clone(), APPLIED),
                PreviewRow::Problem(text) => Line::styled(
                    text.clone(),
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ),
                PreviewRow::Code {
                    line,
                    part,
                    span,
                    mark,
                    continued,
                    underlines,
                } => {
                    let failing = failing_line == Some(line + 1);
                    let text = source.get(line).cloned().unwrap_or_default();
                    let text = underline(text, underlines);
                    let text = slice(text, span.0, span.1);
                    let number = (*part == 0).then_some(*line);
                    code_row(number, width, *mark, *continued, failing, text)
                }
                PreviewRow::Rehearsal(pieces) => Line::from(
                    pieces
                        .iter()
                        .map(|p| Span::styled(p.text.clone(), tone_style(p.tone)))
                        .collect::<Vec<_>>(),
                ),
                PreviewRow::Disagreement(text) => Line::from(vec![
                    Span::styled(format!("{:>w$}│ ", "", w = width + 1), DISAGREEMENT),
                    Span::styled(text.clone(), DISAGREEMENT),
                ]),
                PreviewRow::Badges(chips) => {
                    let mut spans = vec![Span::styled(format!("{:>w$}│ ", "", w = width + 1), DIM)];
                    for chip in chips {
                        spans.push(chip_span(chip));
                        spans.push(Span::raw(" "));
                    }
                    Line::from(spans)
                }
                PreviewRow::Note {
                    finding,
                    kind,
                    text,
                } => {
                    let Some(f) = analysis.and_then(|a| a.findings.get(*finding)) else {
                        continue;
                    };
                    let color = severity_color(f.severity);
                    let style = match kind {
                        NoteKind::Message { first: true } => {
                            Style::default().fg(color).add_modifier(Modifier::BOLD)
                        }
                        NoteKind::Message { first: false } => Style::default().fg(color),
                        NoteKind::Help => Style::default().fg(Color::Green),
                    };
                    let current = self.current == Some(*finding)
                        && *kind == NoteKind::Message { first: true };
                    Line::from(vec![
                        Span::styled(
                            format!(
                                "{:>w$}{} ",
                                "",
                                if current { "▶" } else { "│" },
                                w = width + 1
                            ),
                            Style::default().fg(color),
                        ),
                        Span::styled(text.clone(), style),
                    ])
                }
            });
        }
        // Markers go in after the underlines, which count source characters.
        frame.render_widget(Paragraph::new(visible_lines(lines)), inner);
    }
}

/// Columns for source text in a preview `width` columns wide whose line numbers take `digits`.
fn code_width(width: usize, digits: usize) -> usize {
    width.saturating_sub(digits + 2).max(8)
}

/// The characters `from..to` of `line`, styles kept.
fn slice(line: Line<'static>, from: usize, to: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let mut column = 0;
    for span in line.spans {
        let len = span.content.chars().count();
        let (start, end) = (from.max(column), to.min(column + len));
        if start < end {
            let piece: String = span
                .content
                .chars()
                .skip(start - column)
                .take(end - start)
                .collect();
            spans.push(Span::styled(piece, span.style));
        }
        column += len;
    }
    Line::from(spans).style(line.style)
}

/// A source line (or a wrapped piece of one, without its number): gutter mark (or a finding's
/// continuation bar), line number, text.
fn code_row(
    line: Option<usize>,
    width: usize,
    mark: Option<Severity>,
    continued: Option<Severity>,
    failing: bool,
    text: Line<'static>,
) -> Line<'static> {
    let number_style = if failing {
        Style::default().fg(Color::White).bg(Color::Red)
    } else {
        DIM
    };
    let gutter = match (mark, continued) {
        (Some(severity), _) => Span::styled(
            glyph(severity),
            Style::default()
                .fg(severity_color(severity))
                .add_modifier(Modifier::BOLD),
        ),
        (None, Some(severity)) => Span::styled("┆", Style::default().fg(severity_color(severity))),
        (None, None) => Span::raw(" "),
    };
    let number = match line {
        Some(line) => format!("{:>width$} ", line + 1),
        None => format!("{:>width$} ", "↪"),
    };
    let mut spans = vec![gutter, Span::styled(number, number_style)];
    spans.extend(text.spans);
    let line = Line::from(spans);
    if failing {
        line.style(Style::default().bg(Color::Rgb(80, 20, 20)))
    } else {
        line
    }
}

/// A badge as drawn.
fn chip_span(chip: &Chip) -> Span<'static> {
    let on = |bg: Color| Style::default().fg(Color::Black).bg(bg);
    let (text, style) = match chip.tone {
        Tone::LockReads => (format!(" {} ", chip.text), on(Color::Red)),
        Tone::LockWrites => (format!(" {} ", chip.text), on(Color::Yellow)),
        Tone::Lock => (format!(" {} ", chip.text), on(Color::Gray)),
        Tone::BlocksReads | Tone::Rewrite => (chip.text.clone(), Style::default().fg(Color::Red)),
        Tone::BlocksWrites | Tone::Scan => (chip.text.clone(), Style::default().fg(Color::Yellow)),
        Tone::Quiet => (chip.text.clone(), DIM),
        Tone::Size => (chip.text.clone(), Style::default().fg(Color::Magenta)),
        Tone::Label => (chip.text.clone(), DIM),
        Tone::Disagree => (
            format!(" {} ", chip.text),
            on(DISAGREEMENT.fg.unwrap_or(Color::LightBlue)).add_modifier(Modifier::BOLD),
        ),
    };
    Span::styled(text, style)
}

/// The source lines `wanted` (0-based) of the previewed file: highlighted when ready, else plain.
fn source_lines(
    data: &Data,
    file: &crate::source::MigrationFile,
    wanted: &[usize],
) -> HashMap<usize, Line<'static>> {
    let mut out = HashMap::with_capacity(wanted.len());
    let (Some(&first), Some(&last)) = (wanted.iter().min(), wanted.iter().max()) else {
        return out;
    };
    match data.highlighted.get(&file.checksum) {
        Some(lines) => {
            for &i in wanted {
                if let Some(line) = lines.get(i) {
                    out.insert(i, line.clone());
                }
            }
        }
        None => {
            for (i, text) in file
                .sql
                .lines()
                .enumerate()
                .skip(first)
                .take(last + 1 - first)
            {
                out.insert(i, Line::raw(text.to_string()));
            }
        }
    }
    out
}

/// `line` with the character ranges in `underlines` underlined in their severity's colour.
fn underline(line: Line<'static>, underlines: &[Underline]) -> Line<'static> {
    if underlines.is_empty() {
        return line;
    }
    let covering = |column: usize| {
        underlines
            .iter()
            .filter(|u| u.from <= column && column < u.to)
            .map(|u| u.severity)
            .max()
    };
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut column = 0;
    for span in line.spans {
        let mut piece = String::new();
        let mut piece_mark = None;
        for ch in span.content.chars() {
            let mark = covering(column);
            if mark != piece_mark && !piece.is_empty() {
                spans.push(marked(std::mem::take(&mut piece), span.style, piece_mark));
            }
            piece_mark = mark;
            piece.push(ch);
            column += 1;
        }
        if !piece.is_empty() {
            spans.push(marked(piece, span.style, piece_mark));
        }
    }
    Line::from(spans).style(line.style)
}

fn marked(text: String, style: Style, mark: Option<Severity>) -> Span<'static> {
    match mark {
        Some(severity) => Span::styled(
            text,
            style
                .add_modifier(Modifier::UNDERLINED)
                .underline_color(severity_color(severity)),
        ),
        None => Span::styled(text, style),
    }
}

/// What `]`, `[` and `f` say before the file's analysis has arrived (cleared when it does).
pub const ANALYSIS_NOT_READY: &str = "the analysis is not ready yet";

/// The preview's title in `room` columns: `head` (pane number, side, version), the description
/// (cut with `…` only when it alone is too long: the list may have cut it already), then the
/// transaction `mode` and the `findings` count, each when it fits whole (the list shows the
/// counts too).
/// The preview's title in `room` columns: the head, the description (shortened if need be),
/// then the mode and the findings count as they fit; when only one fits, the count if
/// `count_first`, else the mode.
fn fit_title(
    head: &str,
    description: &str,
    mode: &str,
    findings: &str,
    count_first: bool,
    room: usize,
) -> String {
    let len = |s: &str| s.chars().count();
    let left = room.saturating_sub(len(head) + 1);
    let mut title = head.to_string();
    if len(description) <= left {
        title.push_str(description);
    } else if left > 1 {
        title.extend(description.chars().take(left - 1));
        title.push('…');
    }
    title.push(' ');
    let used = len(&title);
    let (first, second) = if count_first {
        (findings, mode)
    } else {
        (mode, findings)
    };
    if used + len(mode) + len(findings) <= room {
        title.push_str(mode);
        title.push_str(findings);
    } else if used + len(first) <= room {
        title.push_str(first);
    } else if used + len(second) <= room {
        title.push_str(second);
    }
    title
}

#[cfg(test)]
mod title_tests {
    use super::fit_title;

    #[test]
    fn the_description_comes_first_then_the_count_or_the_mode() {
        let t = |findings: &str, count_first, room| {
            fit_title(
                " 2 UP 20240614104159 ",
                "idx-cache",
                "— one transaction, no DOWN ",
                findings,
                count_first,
                room,
            )
        };
        assert_eq!(
            t("· no findings ", false, 80),
            " 2 UP 20240614104159 idx-cache — one transaction, no DOWN · no findings "
        );
        // Without findings, the mode says more than the count.
        assert_eq!(
            t("· no findings ", false, 70),
            " 2 UP 20240614104159 idx-cache — one transaction, no DOWN "
        );
        assert_eq!(
            t("· no findings ", false, 45),
            " 2 UP 20240614104159 idx-cache · no findings "
        );
        // With findings, the count stays and the mode gives way.
        assert_eq!(
            t("· 3 findings ", true, 70),
            " 2 UP 20240614104159 idx-cache · 3 findings "
        );
        assert_eq!(t("· 3 findings ", true, 27), " 2 UP 20240614104159 idx-… ");
    }
}
