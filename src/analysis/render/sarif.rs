//! SARIF 2.1.0 (OASIS), for code-scanning dashboards: one run with every rule (id, short and
//! full description, help with the safe alternative, default level) and one result per finding
//! (file, start and end line and column, level, message, the fix as a SARIF fix). Texts are exact;
//! hidden characters are `\u` escapes, as in the JSON format.

use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::analysis::rules::{RULES, safe_alternative};
use crate::analysis::{Finding, LintReport, Severity};

/// The published schema the document follows.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Characters kept as they are in a relative URI path (RFC 3986 unreserved, and `/`).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// SARIF's level for a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A file path as a SARIF `artifactLocation.uri`: relative paths stay relative (code scanning
/// resolves them against the checkout), separators become `/`, the rest is percent-encoded.
fn uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text);
    let encoded = utf8_percent_encode(text, PATH_KEEP).to_string();
    if path.is_absolute() {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn rule_descriptor(rule: &crate::analysis::rules::RuleInfo) -> Value {
    let help = safe_alternative(rule.name).unwrap_or_default();
    let mut tags = vec![rule.axis.label().to_string()];
    tags.extend(rule.squawk.iter().map(|s| format!("squawk:{s}")));
    json!({
        "id": rule.name,
        "name": rule.name,
        "shortDescription": { "text": rule.summary },
        "fullDescription": {
            "text": format!("{} ({}).", rule.summary, rule.axis.label())
        },
        "help": {
            "text": format!("Safe alternative: {help}"),
            "markdown": format!("**Safe alternative:** {help}"),
        },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "axis": rule.axis,
            "squawk": rule.squawk,
            "tags": tags,
        },
    })
}

fn result(path: &Path, finding: &Finding) -> Value {
    let rule_index = RULES.iter().position(|r| r.name == finding.rule);
    let mut message = finding.message.clone();
    if let Some(help) = &finding.safe_alternative {
        message.push_str("\nSafe alternative: ");
        message.push_str(help);
    }
    let location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(path) },
            "region": {
                "startLine": finding.start.line.max(1),
                "startColumn": finding.start.column.max(1),
                "endLine": finding.end.line.max(finding.start.line).max(1),
                "endColumn": finding.end.column.max(1),
                "byteOffset": finding.span.start,
                "byteLength": finding.span.len(),
            }
        }
    });
    let mut out = json!({
        "ruleId": finding.rule,
        "level": level(finding.severity),
        "message": { "text": message },
        "locations": [location],
        "properties": {
            "axis": finding.axis,
            "table": finding.table,
            "lock": finding.lock.map(|l| l.to_string()),
        },
    });
    if let Some(index) = rule_index {
        out["ruleIndex"] = json!(index);
    }
    if let Some(fix) = &finding.fix {
        let replacements: Vec<Value> = fix
            .edits
            .iter()
            .map(|edit| {
                json!({
                    "deletedRegion": {
                        "byteOffset": edit.span.start,
                        "byteLength": edit.span.len(),
                    },
                    "insertedContent": { "text": edit.replacement },
                })
            })
            .collect();
        out["fixes"] = json!([{
            "description": { "text": fix.description },
            "artifactChanges": [{
                "artifactLocation": { "uri": uri(path) },
                "replacements": replacements,
            }],
        }]);
    }
    out
}

/// The report as a SARIF 2.1.0 log (a JSON value).
pub fn sarif_value(report: &LintReport) -> Value {
    let results: Vec<Value> = report
        .files
        .iter()
        .flat_map(|file| {
            file.analysis
                .findings
                .iter()
                .map(|finding| result(&file.path, finding))
        })
        .collect();
    let artifacts: Vec<Value> = report
        .files
        .iter()
        .map(|file| {
            json!({
                "location": { "uri": uri(&file.path) },
                "length": file.text.len(),
                "sourceLanguage": "sql",
            })
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "lockstep",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": RULES.iter().map(rule_descriptor).collect::<Vec<_>>(),
                }
            },
            "columnKind": "unicodeCodePoints",
            "artifacts": artifacts,
            "results": results,
            "properties": {
                "pgVersion": crate::analysis::model::version_label(report.pg_version),
            },
        }],
    })
}

/// Writes the report as an indented SARIF 2.1.0 log to `out`, hidden characters escaped.
pub fn write_sarif(report: &LintReport, out: impl std::io::Write) -> std::io::Result<()> {
    crate::text::json::to_writer_pretty(out, &sarif_value(report)).map_err(std::io::Error::from)
}
