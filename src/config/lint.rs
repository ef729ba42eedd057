//! Rule configuration: `[lint]` of `lockstep.toml`, or squawk's `.squawk.toml` when there is
//! none. Rule names may be lockstep's or squawk's (an alias stands for every rule it maps to);
//! an unknown name is an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use crate::analysis::Severity;
use crate::analysis::model::parse_version;
use crate::analysis::policy::{Origin, RulePolicy};
use crate::analysis::rules::resolve;

/// What the rule configuration says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintConfig {
    /// Rules turned off or given another severity.
    pub policy: RulePolicy,
    /// The server version to analyse for when not connected (`pg-version`, or squawk's
    /// `pg_version`).
    pub pg_version: Option<u32>,
    /// squawk's `assume_in_transaction`: whether the runner wraps each migration in a
    /// transaction (`None`: lockstep knows sqlx does).
    pub assume_in_transaction: Option<bool>,
    /// The `.squawk.toml` read, when it was (there was no `[lint]` in `lockstep.toml`).
    pub squawk_file: Option<PathBuf>,
}

impl LintConfig {
    /// This configuration with an environment's `[environments.NAME.lint]` on top: its rules and
    /// its `pg-version` win.
    pub fn with_environment(&self, name: &str, overrides: &LintConfig) -> LintConfig {
        let mut policy = overrides.policy.clone();
        policy.environment = Some(name.to_string());
        LintConfig {
            policy: self.policy.overridden_by(&policy),
            pg_version: overrides.pg_version.or(self.pg_version),
            ..self.clone()
        }
    }

    /// The note that says `.squawk.toml` was read and what was taken from it.
    pub fn squawk_note(&self) -> Option<String> {
        let path = self.squawk_file.as_ref()?;
        let excluded: Vec<&str> = self
            .policy
            .rules
            .iter()
            .filter(|(_, s)| s.origin == Origin::SquawkToml)
            .map(|(name, _)| *name)
            .collect();
        let mut parts = vec![format!(
            "excluded: {}",
            if excluded.is_empty() {
                "none".to_string()
            } else {
                excluded.join(", ")
            }
        )];
        if let Some(version) = self.pg_version {
            parts.push(format!(
                "pg_version {}",
                crate::analysis::model::version_label(version)
            ));
        }
        if let Some(assume) = self.assume_in_transaction {
            parts.push(format!("assume_in_transaction {assume}"));
        }
        Some(format!(
            "note: using squawk's configuration {} ({}); a [lint] section in lockstep.toml replaces it",
            path.display(),
            parts.join("; ")
        ))
    }
}

/// `[lint]` of `lockstep.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(super) struct LintToml {
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    severity: BTreeMap<Spanned<String>, Spanned<String>>,
    pg_version: Option<Spanned<toml::Value>>,
}

/// The keys of `.squawk.toml` lockstep reads (others, such as `upload_to_github`, are squawk's
/// own business).
#[derive(Debug, Default, Deserialize)]
struct SquawkToml {
    #[serde(default)]
    excluded_rules: Vec<Spanned<String>>,
    pg_version: Option<Spanned<toml::Value>>,
    assume_in_transaction: Option<bool>,
}

/// Where a span of `text` is, for messages.
pub(super) fn at(text: &str, span: std::ops::Range<usize>) -> String {
    let index = crate::sql::LineIndex::new(text);
    let at = index.line_col(text, span.start);
    format!("line {}, column {}", at.line, at.column)
}

/// The lockstep rules `name` stands for, or an error naming where it is written.
fn rules_named(
    path: &Path,
    text: &str,
    name: &Spanned<String>,
) -> Result<Vec<&'static str>, ConfigError> {
    let rules = resolve(name.get_ref());
    if rules.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "{}: there is no rule `{}`; `lockstep lint --explain` lists lockstep's rules and \
                 the squawk names they accept",
                at(text, name.span()),
                name.get_ref()
            ),
        });
    }
    Ok(rules)
}

/// A `pg-version` written as a number (`15`) or a string (`"9.6"`, squawk's `"11.0"`).
fn version(path: &Path, text: &str, value: &Spanned<toml::Value>) -> Result<u32, ConfigError> {
    let written = match value.get_ref() {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    parse_version(&written).map_err(|message| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: format!("{}: {message}", at(text, value.span())),
    })
}

/// The configuration from `[lint]` of `lockstep.toml` (`path`, whose text is `text`).
pub(super) fn from_lockstep(
    path: &Path,
    text: &str,
    lint: LintToml,
    origin: Origin,
) -> Result<LintConfig, ConfigError> {
    let mut config = LintConfig::default();
    for name in &lint.disable {
        for rule in rules_named(path, text, name)? {
            config.policy.set(rule, None, origin);
        }
    }
    for (name, level) in &lint.severity {
        let severity = match level.get_ref().as_str() {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" | "note" => Some(Severity::Info),
            "off" => None,
            other => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "{}: severity `{other}` for `{}`; write \"error\", \"warning\", \"info\" \
                         or \"off\"",
                        at(text, level.span()),
                        name.get_ref()
                    ),
                });
            }
        };
        for rule in rules_named(path, text, name)? {
            config.policy.set(rule, severity, origin);
        }
    }
    config.pg_version = lint
        .pg_version
        .as_ref()
        .map(|v| version(path, text, v))
        .transpose()?;
    Ok(config)
}

/// The configuration from squawk's `.squawk.toml` in `dir`, if there is one.
pub(super) fn from_squawk(dir: &Path) -> Result<Option<LintConfig>, ConfigError> {
    let path = dir.join(".squawk.toml");
    let Some(text) = super::read_optional(&path)? else {
        return Ok(None);
    };
    let file: SquawkToml = super::parse(&path, &text)?;
    let mut config = LintConfig {
        squawk_file: Some(path.clone()),
        assume_in_transaction: file.assume_in_transaction,
        ..LintConfig::default()
    };
    for name in &file.excluded_rules {
        for rule in rules_named(&path, &text, name)? {
            config.policy.set(rule, None, Origin::SquawkToml);
        }
    }
    config.pg_version = file
        .pg_version
        .as_ref()
        .map(|v| version(&path, &text, v))
        .transpose()?;
    Ok(Some(config))
}
