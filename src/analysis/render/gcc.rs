//! `path:line:col: error|warning|note: message [rule]`, one finding per line (hidden characters
//! shown as markers).

use std::io::Write;

use crate::analysis::{LintReport, Severity};
use crate::text::visible;

/// Renders every remaining finding as a gcc-style line.
pub fn gcc(report: &LintReport) -> String {
    let mut out = Vec::new();
    // (Writing to memory cannot fail.)
    let _ = write_gcc(report, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes [`gcc`]'s lines to `out`.
pub fn write_gcc(report: &LintReport, mut out: impl Write) -> std::io::Result<()> {
    for file in &report.files {
        if file.analysis.findings.is_empty() {
            continue;
        }
        // (Once per file, not per finding.)
        let path = file.path.display().to_string();
        let path = visible(&path);
        for f in &file.analysis.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            let message = visible(&f.message).replace('\n', " ");
            writeln!(
                out,
                "{path}:{}:{}: {level}: {message} [{}]",
                f.start.line, f.start.column, f.rule
            )?;
        }
    }
    out.flush()
}
