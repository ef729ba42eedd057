//! Project configuration: sqlx's own `sqlx.toml` (`[migrate]`) and lockstep's `lockstep.toml`.
//!
//! `sqlx.toml` is read for the keys sqlx 0.9 defines, so a project configured for sqlx needs no
//! change. lockstep's own settings (timeouts, how long to wait for the migration lock, the
//! database URL, the target server version) live in `lockstep.toml` so sqlx never sees them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::source::{SourceOptions, Versioning};

mod environments;
mod lint;

pub use environments::{ConfirmPolicy, EnvironmentConfig, SnapshotPolicy, parse_size};
pub use lint::LintConfig;

/// `lock_timeout` for the migration session unless configured: long enough for a lock that is
/// free within moments, short enough that the sessions queueing behind a waiting ALTER are not
/// stalled for long. `--lock-timeout 0` turns it off.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a migration that gave up on a lock runs again, unless configured.
pub const DEFAULT_RETRIES: u32 = 3;

/// The history table sqlx uses unless `[migrate] table-name` says otherwise.
pub const DEFAULT_TABLE: &str = "_sqlx_migrations";

/// Everything lockstep reads from configuration files.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The migrations directory (`[migrate] migrations-dir`, default `migrations`).
    pub migrations_dir: PathBuf,
    /// The history table (`[migrate] table-name`, may be schema-qualified).
    pub table_name: String,
    /// Schemas to create before the history table (`[migrate] create-schemas`).
    pub create_schemas: Vec<String>,
    /// Characters left out of checksums (`[migrate] ignored-chars`).
    pub ignored_chars: Vec<char>,
    /// `[migrate.defaults] migration-type`: `Some(true)` reversible, `Some(false)` simple.
    pub default_reversible: Option<bool>,
    /// `[migrate.defaults] migration-versioning`.
    pub default_versioning: Option<Versioning>,
    /// `lock_timeout` for the migration session (`lockstep.toml` `lock-timeout`; default
    /// [`DEFAULT_LOCK_TIMEOUT`], `None` when set to 0).
    pub lock_timeout: Option<Duration>,
    /// How often a migration that gave up on a lock runs again (`retries`).
    pub retries: u32,
    /// How long connecting may take (`connect-timeout`).
    pub connect_timeout: Duration,
    /// `statement_timeout` for the migration session (`lockstep.toml` `statement-timeout`).
    pub statement_timeout: Option<Duration>,
    /// How long to poll for the migration advisory lock before giving up (`lock-wait`).
    pub lock_wait: Duration,
    /// A database URL from `lockstep.toml` (`database-url`), used after the flag and environment.
    pub database_url: Option<String>,
    /// The PostgreSQL major version to analyse for when not connected (`pg-version`).
    pub pg_version: Option<u32>,
    /// Rule configuration: `[lint]` of `lockstep.toml`, else `.squawk.toml`.
    pub lint: LintConfig,
    /// `[environments.NAME]` of `lockstep.toml`, by name.
    pub environments: Vec<EnvironmentConfig>,
    /// The audit trail (`audit`, `audit-schema`).
    pub audit: crate::audit::AuditSettings,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            migrations_dir: PathBuf::from("migrations"),
            table_name: DEFAULT_TABLE.into(),
            create_schemas: Vec::new(),
            ignored_chars: Vec::new(),
            default_reversible: None,
            default_versioning: None,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            retries: DEFAULT_RETRIES,
            connect_timeout: crate::db::DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: None,
            lock_wait: Duration::from_secs(30),
            database_url: None,
            pg_version: None,
            lint: LintConfig::default(),
            environments: Vec::new(),
            audit: crate::audit::AuditSettings::default(),
        }
    }
}

impl Config {
    /// The options for reading migration files.
    pub fn source_options(&self) -> SourceOptions {
        SourceOptions {
            ignored_chars: self.ignored_chars.clone(),
        }
    }

    /// The environment named `name`, or an error listing the ones there are.
    pub fn environment(&self, name: &str) -> Result<&EnvironmentConfig, String> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
                format!(
                    "there is no environment `{name}` in lockstep.toml ({}); `lockstep env` lists them",
                    if known.is_empty() {
                        "it names none: add [environments.NAME]".to_string()
                    } else {
                        format!("it names {}", known.join(", "))
                    }
                )
            })
    }

    /// Loads `sqlx.toml` and `lockstep.toml` from `dir` (either may be missing).
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let sqlx = dir.join("sqlx.toml");
        if let Some(text) = read_optional(&sqlx)? {
            let file: SqlxToml = parse(&sqlx, &text)?;
            config.apply_sqlx(file, &sqlx)?;
        }
        let own = dir.join("lockstep.toml");
        let mut has_lint = false;
        if let Some(text) = read_optional(&own)? {
            let mut file: LockstepToml = parse(&own, &text)?;
            if let Some(section) = file.lint.take() {
                has_lint = true;
                config.lint = lint::from_lockstep(
                    &own,
                    &text,
                    section,
                    crate::analysis::policy::Origin::LockstepToml,
                )?;
            }
            let environments = std::mem::take(&mut file.environments);
            config.environments = environments::from_lockstep(&own, &text, environments)?;
            config.apply_lockstep(file, &own)?;
        }
        if !has_lint && let Some(squawk) = lint::from_squawk(dir)? {
            config.lint = squawk;
        }
        // `[lint] pg-version` (or squawk's `pg_version`) wins over the top-level key.
        if let Some(version) = config.lint.pg_version {
            config.pg_version = Some(version);
        }
        Ok(config)
    }

    fn apply_sqlx(&mut self, file: SqlxToml, path: &Path) -> Result<(), ConfigError> {
        let migrate = file.migrate;
        if let Some(dir) = migrate.migrations_dir {
            self.migrations_dir = dir;
        }
        if let Some(table) = migrate.table_name {
            self.table_name = table;
        }
        self.create_schemas = migrate.create_schemas;
        self.ignored_chars = migrate
            .ignored_chars
            .into_iter()
            .map(|s| {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Ok(c),
                    _ => Err(ConfigError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "[migrate] ignored-chars must list single characters, found {s:?}"
                        ),
                    }),
                }
            })
            .collect::<Result<_, _>>()?;
        self.default_reversible = match migrate.defaults.migration_type.as_deref() {
            None | Some("inferred") => None,
            Some("reversible") => Some(true),
            Some("simple") => Some(false),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "[migrate.defaults] migration-type is {other:?}; expected \"inferred\", \"reversible\" or \"simple\""
                    ),
                });
            }
        };
        self.default_versioning = match migrate.defaults.migration_versioning.as_deref() {
            None | Some("inferred") => None,
            Some("timestamp") => Some(Versioning::Timestamp),
            Some("sequential") => Some(Versioning::Sequential),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "[migrate.defaults] migration-versioning is {other:?}; expected \"inferred\", \"timestamp\" or \"sequential\""
                    ),
                });
            }
        };
        Ok(())
    }

    fn apply_lockstep(&mut self, file: LockstepToml, path: &Path) -> Result<(), ConfigError> {
        let duration =
            |key: &str, value: Option<String>| -> Result<Option<Duration>, ConfigError> {
                value
                    .map(|v| {
                        parse_duration(&v).map_err(|message| ConfigError::Invalid {
                            path: path.to_path_buf(),
                            message: format!("{key}: {message}"),
                        })
                    })
                    .transpose()
            };
        if file.lock_timeout.is_some() {
            self.lock_timeout =
                duration("lock-timeout", file.lock_timeout)?.filter(|t| !t.is_zero());
        }
        self.statement_timeout =
            duration("statement-timeout", file.statement_timeout)?.filter(|t| !t.is_zero());
        if let Some(timeout) = duration("connect-timeout", file.connect_timeout)? {
            self.connect_timeout = timeout;
        }
        if let Some(retries) = file.retries {
            self.retries = retries;
        }
        if let Some(wait) = duration("lock-wait", file.lock_wait)? {
            self.lock_wait = wait;
        }
        self.database_url = file.database_url;
        self.pg_version = file.pg_version;
        if let Some(enabled) = file.audit {
            self.audit.enabled = enabled;
        }
        if let Some(schema) = file.audit_schema {
            crate::audit::AuditSettings::check_schema_name(&schema).map_err(|message| {
                ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message,
                }
            })?;
            self.audit.schema = schema;
        }
        Ok(())
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is not valid TOML or has a wrong key or value.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column when TOML knows it.
        message: String,
    },
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|span| {
                let index = crate::sql::LineIndex::new(text);
                let at = index.line_col(text, span.start);
                format!("line {}, column {}: ", at.line, at.column)
            })
            .unwrap_or_default();
        ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("{location}{}", e.message()),
        }
    })
}

/// `text` cut where its number ends: `("1.5", "GiB")`.
pub(crate) fn number_and_unit(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(split)
}

/// Parses a PostgreSQL-style duration: `500ms`, `2s`, `1min`, `1h`; a bare number is milliseconds
/// (PostgreSQL's unit for `lock_timeout` and `statement_timeout`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 500ms, 2s, 1min)"))?;
    let millis = match unit.trim() {
        "" | "ms" => value,
        "s" => value * 1e3,
        "min" | "m" => value * 60e3,
        "h" => value * 3600e3,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, min or h)"
            ));
        }
    };
    Ok(Duration::from_micros((millis * 1e3).round() as u64))
}

/// A duration as PostgreSQL reads it in `SET ... = '<n>ms'`.
pub fn pg_duration(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SqlxToml {
    #[serde(default)]
    migrate: SqlxMigrate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SqlxMigrate {
    table_name: Option<String>,
    migrations_dir: Option<PathBuf>,
    #[serde(default)]
    create_schemas: Vec<String>,
    #[serde(default)]
    ignored_chars: Vec<String>,
    #[serde(default)]
    defaults: SqlxDefaults,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct SqlxDefaults {
    migration_type: Option<String>,
    migration_versioning: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct LockstepToml {
    database_url: Option<String>,
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
    lock_wait: Option<String>,
    connect_timeout: Option<String>,
    retries: Option<u32>,
    pg_version: Option<u32>,
    audit: Option<bool>,
    audit_schema: Option<String>,
    lint: Option<lint::LintToml>,
    #[serde(default)]
    environments: std::collections::BTreeMap<String, environments::EnvironmentToml>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sqlx_and_lockstep_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sqlx.toml"),
            "[migrate]\ntable-name = \"app._migrations\"\nmigrations-dir = \"db/migrations\"\n\
             ignored-chars = [\"\\r\"]\ncreate-schemas = [\"app\"]\n\
             [migrate.defaults]\nmigration-type = \"reversible\"\nmigration-versioning = \"sequential\"\n\
             [common]\ndatabase-url-var = \"X\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("lockstep.toml"),
            "lock-timeout = \"2s\"\nstatement-timeout = 1500\nlock-wait = \"1min\"\n",
        )
        .unwrap();
        let config = Config::load(dir.path());
        // statement-timeout as a bare integer is a TOML integer, not a string: a clear error.
        let err = config.unwrap_err().to_string();
        assert!(
            err.contains("lockstep.toml") && err.contains("line 2"),
            "{err}"
        );

        std::fs::write(
            dir.path().join("lockstep.toml"),
            "lock-timeout = \"2s\"\nstatement-timeout = \"1500\"\nlock-wait = \"1min\"\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.table_name, "app._migrations");
        assert_eq!(config.migrations_dir, PathBuf::from("db/migrations"));
        assert_eq!(config.ignored_chars, vec!['\r']);
        assert_eq!(config.create_schemas, vec!["app".to_string()]);
        assert_eq!(config.default_reversible, Some(true));
        assert_eq!(config.default_versioning, Some(Versioning::Sequential));
        assert_eq!(config.lock_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.statement_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(config.lock_wait, Duration::from_secs(60));
    }

    #[test]
    fn the_audit_can_be_turned_off_or_moved() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lockstep.toml"),
            "audit = false\naudit-schema = \"ops_audit\"\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert!(!config.audit.enabled);
        assert_eq!(config.audit.schema, "ops_audit");
        std::fs::write(
            dir.path().join("lockstep.toml"),
            "audit-schema = \"public\"\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("lockstep.toml") && err.contains("public"),
            "{err}"
        );
    }

    #[test]
    fn missing_files_give_sqlx_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert_eq!(pg_duration(Duration::from_secs(2)), "2000ms");
    }
}
