//! GitHub Actions workflow commands, one per finding:
//! `::error file=…,line=…,col=…,endLine=…,endColumn=…,title=…::message`, then the summary line.
//! Hidden characters are shown as markers (the log is read on a terminal too), then the text is
//! escaped as the runner requires.

use std::fmt::Write;

use crate::analysis::{LintReport, Severity};
use crate::text::visible;

/// Escapes a command's message: `%`, carriage return and line feed.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a command's property value: as [`escape_data`], and `:` and `,` too.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Renders every remaining finding as a workflow command, then the summary line.
pub fn github(report: &LintReport) -> String {
    let mut out = String::new();
    for file in &report.files {
        let path = escape_property(&visible(&file.path.display().to_string()));
        for f in &file.analysis.findings {
            let command = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut message = visible(&f.message).into_owned();
            if let Some(help) = &f.safe_alternative {
                message.push_str("\nSafe alternative: ");
                message.push_str(&visible(help));
            }
            let title = format!("lockstep {} ({})", f.rule, f.axis.label());
            let _ = writeln!(
                out,
                "::{command} file={path},line={},col={},endLine={},endColumn={},title={}::{}",
                f.start.line,
                f.start.column,
                f.end.line.max(f.start.line),
                f.end.column,
                escape_property(&title),
                escape_data(&message)
            );
        }
    }
    out.push_str(&super::summary_line(report));
    out.push('\n');
    out
}
