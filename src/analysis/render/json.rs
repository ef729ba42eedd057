//! A stable JSON document: `{ "format": 1, "files": [...], "summary": {...} }`.

use std::sync::Arc;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::analysis::{AnalyzedStatement, Finding, HeldLock, LintReport};
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
    statements: Statements<'a>,
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
                statements: Statements(&f.analysis.statements),
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

/// A file's statements as [`AnalyzedStatement`]'s derive writes them, each lock still held written
/// once per file: a transaction's statements repeat the locks of the ones before them (most of
/// the document's bytes), and the same lock is the same JSON.
struct Statements<'a>(&'a [AnalyzedStatement]);

impl Serialize for Statements<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut held = HeldJson::default();
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for statement in self.0 {
            held.update(&statement.held_before)
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&StatementJson {
                statement,
                held_before: &held.json,
            })?;
        }
        seq.end()
    }
}

/// The JSON of the locks held before the statements seen so far.
#[derive(Default)]
struct HeldJson<'a> {
    locks: Option<&'a Arc<[HeldLock]>>,
    json: Vec<Box<RawValue>>,
}

impl<'a> HeldJson<'a> {
    /// Makes `json` that of `locks`, reusing what the previous list held (the list only grows
    /// within a transaction, and statements under the same locks share the list).
    fn update(&mut self, locks: &'a Arc<[HeldLock]>) -> serde_json::Result<()> {
        if self
            .locks
            .is_some_and(|previous| Arc::ptr_eq(previous, locks))
        {
            return Ok(());
        }
        let before: &[HeldLock] = self.locks.map_or(&[], |l| l);
        let mut previous = std::mem::take(&mut self.json).into_iter();
        for (i, lock) in locks.iter().enumerate() {
            let same = before.get(i) == Some(lock);
            let json = match previous.next() {
                Some(json) if same => json,
                _ => {
                    // Nothing after a difference is reused (the positions no longer match).
                    previous = Vec::new().into_iter();
                    RawValue::from_string(crate::text::json::to_string(lock)?)?
                }
            };
            self.json.push(json);
        }
        self.locks = Some(locks);
        Ok(())
    }
}

/// An [`AnalyzedStatement`] with its held locks' JSON written as it is: the same fields, in the
/// same order, as its derive (`every_statement_field_is_written_as_the_derive_does` holds them
/// together).
struct StatementJson<'a> {
    statement: &'a AnalyzedStatement,
    held_before: &'a [Box<RawValue>],
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
        out.serialize_field("held_before", self.held_before)?;
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
    fn every_statement_field_is_written_as_the_derive_does() {
        // Locks held across a transaction (growing, shared, cleared by COMMIT and taken again),
        // a statement that cannot run in a transaction, hidden characters in the text.
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
        let derived = crate::text::json::to_string(statements).unwrap();
        let cached = crate::text::json::to_string(&Statements(statements)).unwrap();
        assert_eq!(cached, derived);
    }
}
