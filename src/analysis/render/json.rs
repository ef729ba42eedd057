//! A stable JSON document: `{ "format": 1, "files": [...], "summary": {...} }`.

use serde::Serialize;
use serde_json::Value;

use crate::analysis::{AnalyzedStatement, Finding, LintReport};
use crate::sql::SyntaxProblem;

/// The version of the JSON layout; bumped on incompatible changes.
pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    format: u32,
    pg_version: u32,
    files: Vec<FileDoc<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct FileDoc<'a> {
    path: String,
    no_transaction: bool,
    is_down: bool,
    statements: &'a [AnalyzedStatement],
    findings: &'a [Finding],
    suppressed: &'a [Finding],
    syntax_errors: &'a [SyntaxProblem],
    tables_created: Vec<&'a str>,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    infos: usize,
    suppressed: usize,
}

fn document(report: &LintReport) -> Document<'_> {
    let (errors, warnings, infos) = report.counts();
    let suppressed = report
        .files
        .iter()
        .map(|f| f.analysis.suppressed.len())
        .sum();
    Document {
        format: JSON_FORMAT_VERSION,
        pg_version: report.pg_version,
        files: report
            .files
            .iter()
            .map(|f| FileDoc {
                path: f.path.display().to_string(),
                no_transaction: f.no_transaction,
                is_down: f.is_down,
                statements: &f.analysis.statements,
                findings: &f.analysis.findings,
                suppressed: &f.analysis.suppressed,
                syntax_errors: &f.analysis.syntax_errors,
                tables_created: f
                    .analysis
                    .tables_created
                    .iter()
                    .map(String::as_str)
                    .collect(),
            })
            .collect(),
        summary: Summary {
            errors,
            warnings,
            infos,
            suppressed,
        },
    }
}

/// The report as a JSON value.
pub fn json_value(report: &LintReport) -> Value {
    serde_json::to_value(document(report)).unwrap_or(Value::Null)
}

/// The report as compact JSON text (one line). Texts are exact; hidden characters (controls,
/// bidirectional and invisible characters) are `\u` escapes, so none reaches a terminal raw.
pub fn json(report: &LintReport) -> String {
    crate::text::json::to_string(&document(report)).unwrap_or_else(|_| "{}".to_string())
}

/// Writes the report as [`json`] does, straight to `out` (no copy of a large document in
/// memory).
pub fn write_json(report: &LintReport, out: impl std::io::Write) -> std::io::Result<()> {
    crate::text::json::to_writer(out, &document(report)).map_err(std::io::Error::from)
}
