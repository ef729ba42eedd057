//! `path:line:col: error|warning|note: message [rule]`, one finding per line (hidden characters
//! shown as markers).

use std::fmt::Write;

use crate::analysis::{LintReport, Severity};
use crate::text::visible;

/// Renders every remaining finding as a gcc-style line.
pub fn gcc(report: &LintReport) -> String {
    let mut out = String::new();
    for file in &report.files {
        for f in &file.analysis.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            let message = visible(&f.message).replace('\n', " ");
            let _ = writeln!(
                out,
                "{}:{}:{}: {level}: {message} [{}]",
                visible(&file.path.display().to_string()),
                f.start.line,
                f.start.column,
                f.rule
            );
        }
    }
    out
}
