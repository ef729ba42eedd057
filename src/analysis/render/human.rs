//! rustc-style output: the finding, the source line with `^^^^` under the span, and notes.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::analysis::{Finding, LintReport, LintedFile, Severity};
use crate::sql::LineIndex;
use crate::text::ansi::{styled, styled_in};
use crate::text::visible::{visible, visible_len};

/// Renders the report as plain text.
pub fn human(report: &LintReport) -> String {
    render(report, Paint::Plain)
}

/// Renders the report with ANSI colours (severities, the `-->` gutter and the carets), as rustc
/// does. Write it through `anstream`, which strips them when the output is not a terminal.
pub fn human_colored(report: &LintReport) -> String {
    render(report, Paint::Ansi)
}

/// Whether to colour the output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Ansi,
}

impl Paint {
    /// `text` in `style` (or as is when plain), hidden characters shown as markers.
    fn paint(self, style: Style, text: &str) -> String {
        match self {
            Paint::Plain => visible(text).into_owned(),
            // A marker ends the surrounding style: start it again after each one.
            Paint::Ansi => format!("{style}{}{style:#}", styled_in(text, style)),
        }
    }

    /// Text from the file or the database, hidden characters shown as markers.
    fn show(self, text: &str) -> String {
        match self {
            Paint::Plain => visible(text).into_owned(),
            Paint::Ansi => styled(text).into_owned(),
        }
    }
}

fn severity_style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Error => AnsiColor::Red,
        Severity::Warning => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

fn gutter_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Blue.into())).bold()
}

fn render(report: &LintReport, paint: Paint) -> String {
    let mut out = String::new();
    for file in &report.files {
        if file.analysis.findings.is_empty() {
            continue;
        }
        let lines = LineIndex::new(&file.text);
        for finding in &file.analysis.findings {
            render_finding(&mut out, file, &lines, finding, paint);
        }
    }
    out.push_str(&super::summary_line(report));
    out.push('\n');
    out
}

/// The text of a 1-based line, without its line break.
fn line_text<'t>(text: &'t str, lines: &LineIndex, line: usize) -> &'t str {
    let Some(start) = lines.line_start(line) else {
        return "";
    };
    let rest = text.get(start..).unwrap_or("");
    let line = rest.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

fn render_finding(
    out: &mut String,
    file: &LintedFile,
    lines: &LineIndex,
    f: &Finding,
    paint: Paint,
) {
    let level = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let line_no = f.start.line.to_string();
    let gutter = " ".repeat(line_no.len());
    let severity = severity_style(f.severity);
    let bar = paint.paint(gutter_style(), "|");
    let _ = writeln!(
        out,
        "{}{}",
        paint.paint(severity, &format!("{level}[{}]", f.rule)),
        paint.paint(Style::new().bold(), &format!(": {}", f.message))
    );
    let _ = writeln!(
        out,
        "{gutter}{} {}:{}:{}",
        paint.paint(gutter_style(), "-->"),
        paint.show(&file.path.display().to_string()),
        f.start.line,
        f.start.column
    );
    let _ = writeln!(out, "{gutter} {bar}");
    let source_line = line_text(&file.text, lines, f.start.line);
    let shown: String = source_line.replace('\t', " ");
    let _ = writeln!(
        out,
        "{} {bar} {}",
        paint.paint(gutter_style(), &line_no),
        paint.show(&shown)
    );
    // Columns on screen: a hidden character takes as many as its marker.
    let chars: Vec<char> = shown.chars().collect();
    let start_col = f.start.column.saturating_sub(1).min(chars.len());
    let end_col = if f.end.line == f.start.line {
        f.end.column.saturating_sub(1).min(chars.len())
    } else {
        chars.len()
    }
    .max(start_col);
    let columns = |range: std::ops::Range<usize>| -> usize {
        chars[range].iter().map(|&c| visible_len(c)).sum()
    };
    let (start_col, width) = (columns(0..start_col), columns(start_col..end_col).max(1));
    let more = if f.end.line > f.start.line {
        format!(" (continues to line {})", f.end.line)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{gutter} {bar} {}{}{more}",
        " ".repeat(start_col),
        paint.paint(severity, &"^".repeat(width))
    );
    let mut notes = vec![format!("= {}", f.axis.label())];
    if let (Some(table), Some(lock)) = (&f.table, f.lock) {
        notes[0].push_str(&format!(
            " · {lock} on \"{table}\" · {}",
            lock.blocking_summary()
        ));
        // The statement's lock badge for that table: how long the work under the lock takes.
        let fact = f
            .statement_index
            .and_then(|i| file.analysis.statements.get(i))
            .and_then(|s| s.locks.iter().find(|l| &l.relation == table));
        if let Some(fact) = fact {
            notes[0].push_str(&format!(" · {}", fact.duration.describe()));
            if let Some(rows) = fact.rows_note() {
                notes[0].push_str(&format!(" · {rows}"));
            }
        }
    }
    if let Some(help) = &f.safe_alternative {
        notes.push(format!("= help: {help}"));
    }
    if let Some(fix) = &f.fix {
        notes.push(format!("= fix available: {}", fix.description));
    }
    for note in notes {
        let _ = writeln!(out, "{gutter} {}", paint.paint(gutter_style(), &note));
    }
    out.push('\n');
}
