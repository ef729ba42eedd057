//! A stable JSON document: `{ "format": 2, "files": [...], "summary": {...} }`.

use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::analysis::{AnalyzedStatement, Finding, HeldLock, LintReport};
use crate::sql::SyntaxProblem;

/// The version of the JSON layout; bumped on incompatible changes.
pub const JSON_FORMAT_VERSION: u32 = 2;

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
    statements: Vec<StatementJson<'a>>,
    /// Per transaction whose statements run under locks taken by earlier ones: those locks, in
    /// the order taken.
    lock_windows: Vec<&'a [HeldLock]>,
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
            .map(|f| {
                let (statements, lock_windows) = statements(&f.analysis.statements);
                FileDoc {
                    path: f.path.display().to_string(),
                    no_transaction: f.no_transaction,
                    is_down: f.is_down,
                    statements,
                    lock_windows,
                    findings: &f.analysis.findings,
                    suppressed: &f.analysis.suppressed,
                    syntax_errors: &f.analysis.syntax_errors,
                    tables_created: f
                        .analysis
                        .tables_created
                        .iter()
                        .map(String::as_str)
                        .collect(),
                }
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

/// A file's statements, each with the lock window it starts in: the statements of a transaction
/// share one window (a list that only grows), written once in the file's `lock_windows`, so the
/// document grows with the statements, not with their square.
fn statements(statements: &[AnalyzedStatement]) -> (Vec<StatementJson<'_>>, Vec<&[HeldLock]>) {
    let mut windows: Vec<&Arc<[HeldLock]>> = Vec::new();
    let written = statements
        .iter()
        .map(|statement| {
            let held_before = statement.held_before.window().map(|window| {
                if !windows.last().is_some_and(|last| Arc::ptr_eq(last, window)) {
                    windows.push(window);
                }
                WindowPrefix {
                    window: windows.len() - 1,
                    locks: statement.held_before.len(),
                }
            });
            StatementJson {
                statement,
                held_before,
            }
        })
        .collect();
    (written, windows.into_iter().map(|w| &w[..]).collect())
}

/// The locks held before a statement: the first `locks` of the file's lock window `window`.
#[derive(Serialize)]
struct WindowPrefix {
    window: usize,
    locks: usize,
}

/// An [`AnalyzedStatement`] as its derive writes it, but for `held_before`: a [`WindowPrefix`]
/// (`null` when nothing is held) instead of the list.
struct StatementJson<'a> {
    statement: &'a AnalyzedStatement,
    held_before: Option<WindowPrefix>,
}

impl Serialize for StatementJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.statement;
        let mut out = serializer.serialize_struct("AnalyzedStatement", 12)?;
        out.serialize_field("index", &s.index)?;
        out.serialize_field("span", &s.span)?;
        out.serialize_field("start", &s.start)?;
        out.serialize_field("end", &s.end)?;
        out.serialize_field("text", &s.text)?;
        out.serialize_field("kind", &s.kind)?;
        out.serialize_field("locks", &s.locks)?;
        out.serialize_field("held_before", &self.held_before)?;
        out.serialize_field("in_transaction", &s.in_transaction)?;
        out.serialize_field("lock_timeout", &s.lock_timeout)?;
        out.serialize_field("statement_timeout", &s.statement_timeout)?;
        out.serialize_field("requires_no_transaction", &s.requires_no_transaction)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{LintOptions, lint_files};

    #[test]
    fn each_statement_is_written_as_its_derive_with_its_held_locks_in_a_window() {
        // Locks held across a transaction (growing, cleared by COMMIT and taken again), a
        // statement that cannot run in a transaction, hidden characters in the text.
        let text = "CREATE INDEX a ON t (x);\nALTER TABLE t ADD COLUMN y int;\nSELECT 1;\n\
            SELECT 2;\nCOMMIT;\nBEGIN;\nALTER TABLE u ALTER COLUMN z TYPE bigint;\n\
            CREATE INDEX b ON u (z);\nCREATE INDEX CONCURRENTLY c ON v (w);\n\
            UPDATE t SET note = 'a\u{202e}b';\n";
        let files = vec![(std::path::PathBuf::from("1_a.sql"), text.to_string())];
        let report = lint_files(&files, &LintOptions::default());
        let statements = &report.files[0].analysis.statements;
        assert!(statements.iter().any(|s| s.held_before.len() > 1));
        assert!(
            statements
                .iter()
                .any(|s| s.requires_no_transaction.is_some())
        );
        let document = json_value(&report);
        assert_eq!(document["format"], 2);
        let file = &document["files"][0];
        let windows = file["lock_windows"].as_array().unwrap();
        assert_eq!(windows.len(), 2, "one window per transaction: {windows:?}");
        for (statement, written) in statements
            .iter()
            .zip(file["statements"].as_array().unwrap())
        {
            let mut derived = serde_json::to_value(statement).unwrap();
            let held: Vec<Value> = match &written["held_before"] {
                Value::Null => Vec::new(),
                prefix => {
                    let window = windows[prefix["window"].as_u64().unwrap() as usize]
                        .as_array()
                        .unwrap();
                    window[..prefix["locks"].as_u64().unwrap() as usize].to_vec()
                }
            };
            assert_eq!(
                Value::Array(held),
                derived["held_before"],
                "statement {}",
                statement.index
            );
            derived["held_before"] = written["held_before"].clone();
            assert_eq!(&derived, written);
        }
    }
}
