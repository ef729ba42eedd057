//! `[environments.NAME]` of `lockstep.toml`: the databases a project runs on (production,
//! staging, …) and how careful lockstep is with each. Unknown keys, values and rule names are
//! errors naming the file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ConfigError;
use super::lint::{self, LintConfig, LintToml};
use crate::analysis::policy::Origin;

/// When lockstep writes a schema snapshot (`pg_dump --schema-only`) before a run, and keeps the
/// data a destructive statement drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotPolicy {
    /// Always; a run does not start without it (unless `--no-snapshot`).
    Required,
    /// Always tried; a failure is a warning and the run goes on.
    Optional,
    /// Never.
    Off,
}

impl SnapshotPolicy {
    /// `required`, `optional` or `off`.
    pub fn label(self) -> &'static str {
        match self {
            SnapshotPolicy::Required => "required",
            SnapshotPolicy::Optional => "optional",
            SnapshotPolicy::Off => "off",
        }
    }
}

/// What a person confirms before `up`, `down` or `redo` changes the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfirmPolicy {
    /// Nothing: the run starts.
    None,
    /// A yes/no question (`--yes` answers it).
    Yes,
    /// Type the database's name (`--confirm NAME` answers it).
    TypeDatabaseName,
    /// Type the last version the run reaches (`--confirm VERSION` answers it).
    TypeVersion,
}

impl ConfirmPolicy {
    /// `none`, `yes`, `type-database-name` or `type-version`.
    pub fn label(self) -> &'static str {
        match self {
            ConfirmPolicy::None => "none",
            ConfirmPolicy::Yes => "yes",
            ConfirmPolicy::TypeDatabaseName => "type-database-name",
            ConfirmPolicy::TypeVersion => "type-version",
        }
    }
}

/// One `[environments.NAME]` as written; what is not written comes from the database's
/// location (see [`crate::guard::Environment`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentConfig {
    /// Its name.
    pub name: String,
    /// `database-url` (else the usual `DATABASE_URL`, `.env`, top-level `database-url`).
    pub database_url: Option<String>,
    /// `production`: treat it as production whatever its host.
    pub production: Option<bool>,
    /// `snapshot`.
    pub snapshot: Option<SnapshotPolicy>,
    /// `confirm`.
    pub confirm: Option<ConfirmPolicy>,
    /// `read-only`: `up`, `down`, `redo` and `resolve` refuse; the dashboard opens read-only.
    pub read_only: bool,
    /// `snapshot-dir` (relative to the project directory).
    pub snapshot_dir: Option<PathBuf>,
    /// `keep-data`: copy the data a destructive statement drops (default: when snapshots are on).
    pub keep_data: Option<bool>,
    /// `backup-limit`: the most data copies of one run may hold, in bytes.
    pub backup_limit: Option<u64>,
    /// `[environments.NAME.lint]`: rule overrides on top of `[lint]`.
    pub lint: Option<LintConfig>,
}

/// `[environments.NAME]` of `lockstep.toml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(super) struct EnvironmentToml {
    database_url: Option<String>,
    production: Option<bool>,
    snapshot: Option<SnapshotPolicy>,
    confirm: Option<ConfirmPolicy>,
    #[serde(default)]
    read_only: bool,
    snapshot_dir: Option<PathBuf>,
    keep_data: Option<bool>,
    backup_limit: Option<Spanned<toml::Value>>,
    lint: Option<LintToml>,
}

/// The environments of `lockstep.toml` (`path`, whose text is `text`), by name.
pub(super) fn from_lockstep(
    path: &Path,
    text: &str,
    environments: BTreeMap<String, EnvironmentToml>,
) -> Result<Vec<EnvironmentConfig>, ConfigError> {
    environments
        .into_iter()
        .map(|(name, env)| {
            let backup_limit = env
                .backup_limit
                .map(|limit| {
                    let written = match limit.get_ref() {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    parse_size(&written).map_err(|message| ConfigError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "{}: [environments.{name}] backup-limit: {message}",
                            lint::at(text, limit.span())
                        ),
                    })
                })
                .transpose()?;
            let lint = env
                .lint
                .map(|section| lint::from_lockstep(path, text, section, Origin::Environment))
                .transpose()?;
            Ok(EnvironmentConfig {
                name,
                database_url: env.database_url,
                production: env.production,
                snapshot: env.snapshot,
                confirm: env.confirm,
                read_only: env.read_only,
                snapshot_dir: env.snapshot_dir,
                keep_data: env.keep_data,
                backup_limit,
                lint,
            })
        })
        .collect()
}

/// Parses a size: `1GiB`, `500MB`, `512k`, `2G`; a bare number is bytes. Units are binary
/// (`KB` = `KiB` = 1024 bytes), as PostgreSQL's `pg_size_pretty` writes them.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = super::number_and_unit(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 500MB, 1GiB, 2G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    Ok((value * (1u64 << shift) as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("500MB"), Ok(500 << 20));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
