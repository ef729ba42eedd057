//! Output formats for a [`LintReport`]: rustc-style human text, gcc-style lines, a stable JSON
//! document, SARIF 2.1.0 and GitHub Actions workflow commands.

mod gcc;
mod github;
mod human;
mod json;
mod sarif;

pub use gcc::{gcc, write_gcc};
pub use github::{escape_data, escape_property, github};
pub use human::{human, human_colored};
pub use json::{JSON_FORMAT_VERSION, json, json_value, write_json};
pub use sarif::{SARIF_SCHEMA, sarif_value, write_sarif};

use std::fmt::Write;

use super::policy::{Origin, RulePolicy};
use super::rules::{RULES, lookup};
use super::{LintReport, Severity};

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
        report.file_count(),
        super::model::version_label(report.pg_version),
        suppressed_note(suppressed)
            .map(|note| format!(", {note}"))
            .unwrap_or_default()
    )
}

/// How many findings ignore comments hide (`3 suppressed by ignore comments`), when any: said
/// wherever findings are counted, so a reviewer knows the author silenced some.
pub fn suppressed_note(suppressed: usize) -> Option<String> {
    (suppressed > 0).then(|| format!("{suppressed} suppressed by ignore comments"))
}

/// The rule list for `lockstep lint --explain`, or one rule's description (None when unknown),
/// with lockstep's default severities.
pub fn explain(rule: Option<&str>) -> Option<String> {
    explain_with(rule, &RulePolicy::default())
}

/// As [`explain`], with each rule's effective severity under `policy` (`off` when configuration
/// turns it off) and where it comes from.
pub fn explain_with(rule: Option<&str>, policy: &RulePolicy) -> Option<String> {
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
        let setting = policy.effective(r.name);
        let severity = setting
            .and_then(|s| s.severity)
            .map_or("off", Severity::as_str);
        let origin = setting.map_or(Origin::Default, |s| s.origin);
        let rows: Vec<String> = r.catalogue.iter().map(|n| format!("#{n}")).collect();
        let _ = writeln!(
            out,
            "{:<32} {:<8} {:<20} {}",
            r.name,
            severity,
            r.axis.label(),
            r.summary
        );
        let _ = writeln!(
            out,
            "{:<32} {}; catalogue {}{}",
            "",
            match origin {
                Origin::Default => "default".to_string(),
                Origin::Environment => format!(
                    "from lockstep.toml [environments.{}.lint] (default {})",
                    policy.environment.as_deref().unwrap_or("?"),
                    r.severity.as_str()
                ),
                other => format!("from {} (default {})", other.label(), r.severity.as_str()),
            },
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
        if rule.is_some()
            && let Some(help) = super::rules::safe_alternative(r.name)
        {
            let _ = writeln!(out, "{:<32} safe alternative: {help}", "");
        }
    }
    Some(out)
}
