//! Output formats for a [`LintReport`]: rustc-style human text, gcc-style lines, a stable JSON
//! document, SARIF 2.1.0 and GitHub Actions workflow commands.

mod gcc;
mod github;
mod human;
mod json;
mod sarif;

pub use gcc::gcc;
pub use github::{escape_data, escape_property, github};
pub use human::{human, human_colored};
pub use json::{JSON_FORMAT_VERSION, json, json_value, write_json};
pub use sarif::{SARIF_SCHEMA, sarif_value, write_sarif};

use std::fmt::Write;

use super::LintReport;
use super::rules::{RULES, lookup};

/// The process exit code for a report: 1 when an error-level finding remains, else 0.
pub fn exit_code(report: &LintReport) -> i32 {
    i32::from(report.has_errors())
}

/// The last line of human and GitHub output: files checked, the server version, counts.
pub fn summary_line(report: &LintReport) -> String {
    let (errors, warnings, infos) = report.counts();
    let suppressed: usize = report
        .files
        .iter()
        .map(|f| f.analysis.suppressed.len())
        .sum();
    format!(
        "{} file(s) checked for PostgreSQL {}: {errors} error(s), {warnings} warning(s), {infos} note(s){}",
        report.files.len(),
        super::model::version_label(report.pg_version),
        if suppressed > 0 {
            format!(", {suppressed} suppressed by ignore comments")
        } else {
            String::new()
        }
    )
}

/// The rule list for `lockstep lint --explain`, or one rule's description (None when unknown).
pub fn explain(rule: Option<&str>) -> Option<String> {
    let mut out = String::new();
    let rules: Vec<_> = match rule {
        Some(name) => {
            let resolved = super::rules::resolve(name);
            if resolved.is_empty() {
                return None;
            }
            resolved.into_iter().filter_map(lookup).collect()
        }
        None => RULES.iter().collect(),
    };
    for r in rules {
        let rows: Vec<String> = r.catalogue.iter().map(|n| format!("#{n}")).collect();
        let _ = writeln!(
            out,
            "{:<32} {:<8} {:<20} {}",
            r.name,
            r.severity.as_str(),
            r.axis.label(),
            r.summary
        );
        if !r.squawk.is_empty() || !rows.is_empty() {
            let _ = writeln!(
                out,
                "{:<32} catalogue {}{}",
                "",
                if rows.is_empty() {
                    "-".to_string()
                } else {
                    rows.join(", ")
                },
                if r.squawk.is_empty() {
                    String::new()
                } else {
                    format!("; squawk: {}", r.squawk.join(", "))
                }
            );
        }
    }
    Some(out)
}
