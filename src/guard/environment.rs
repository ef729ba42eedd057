//! Which environment a command runs in, and how careful lockstep is there: the named
//! `[environments.NAME]` of `lockstep.toml`, or — for a URL given directly — defaults from where
//! the database is. A database that is not on this machine counts as production-like.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use sqlx::postgres::PgConnectOptions;

use crate::config::{Config, ConfirmPolicy, EnvironmentConfig, SnapshotPolicy};
use crate::db::redact;

/// Where snapshots and data copies go unless configured (relative to the project directory).
pub const DEFAULT_SNAPSHOT_DIR: &str = ".lockstep/snapshots";
/// The most data one run's copies may hold unless configured or `--backup-limit` says more.
pub const DEFAULT_BACKUP_LIMIT: u64 = 1 << 30;

/// The environment a command runs in, every setting decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// Its name: the `[environments.NAME]`, else `direct` (a URL given directly) or `sandbox`.
    pub name: String,
    /// Whether it is named in `lockstep.toml`.
    pub configured: bool,
    /// The database URL, password redacted (`None`: none configured for it).
    pub database: Option<String>,
    /// Whether lockstep treats it as production.
    pub production_like: bool,
    /// Why (or why not), in words.
    pub why: String,
    /// The schema snapshot before `up`, `down` and `redo`.
    pub snapshot: SnapshotPolicy,
    /// What a person confirms before a run.
    pub confirm: ConfirmPolicy,
    /// Whether writes are refused.
    pub read_only: bool,
    /// Where snapshots and data copies go.
    pub snapshot_dir: PathBuf,
    /// Whether the data a destructive statement drops is copied first.
    pub keep_data: bool,
    /// The most data one run's copies may hold, in bytes.
    pub backup_limit: u64,
    /// Rules its `[environments.NAME.lint]` overrides, as `rule=severity` (`off` when off).
    pub lint_overrides: Vec<String>,
}

impl Environment {
    /// The environment for `url` (from wherever it came) under `config`: the one named
    /// `selected` (`--env`), else the configured environment whose `database-url` is `url`,
    /// else `direct` with defaults from the database's host; `sandbox` when there is no URL.
    pub fn resolve(
        config: &Config,
        project_dir: &Path,
        selected: Option<&str>,
        url: Option<&str>,
    ) -> Result<Environment, String> {
        let named = match selected {
            Some(name) => Some(config.environment(name)?),
            None => url.and_then(|url| {
                config
                    .environments
                    .iter()
                    .find(|e| e.database_url.as_deref() == Some(url))
            }),
        };
        Ok(match named {
            Some(env) => Environment::configured(env, project_dir, url),
            None => Environment::direct(project_dir, url),
        })
    }

    /// A configured environment, on `url` when it has no `database-url` of its own.
    pub fn configured(env: &EnvironmentConfig, project_dir: &Path, url: Option<&str>) -> Self {
        let url = env.database_url.as_deref().or(url);
        let mut this = Environment::direct(project_dir, url);
        this.name = env.name.clone();
        this.configured = true;
        if let Some(production) = env.production {
            this.production_like = production;
            this.why = format!("production = {production} in lockstep.toml");
            this.snapshot = default_snapshot(production);
            this.confirm = default_confirm(production);
        }
        this.snapshot = env.snapshot.unwrap_or(this.snapshot);
        this.confirm = env.confirm.unwrap_or(this.confirm);
        this.read_only = env.read_only;
        if let Some(dir) = &env.snapshot_dir {
            this.snapshot_dir = project_dir.join(dir);
        }
        this.keep_data = env
            .keep_data
            .unwrap_or(this.snapshot != SnapshotPolicy::Off);
        this.backup_limit = env.backup_limit.unwrap_or(DEFAULT_BACKUP_LIMIT);
        this.lint_overrides = env
            .lint
            .iter()
            .flat_map(|lint| lint.policy.rules.iter())
            .map(|(rule, setting)| {
                format!("{rule}={}", setting.severity.map_or("off", |s| s.as_str()))
            })
            .collect();
        this
    }

    /// A URL given directly (or none: the sandbox), with the defaults its host implies.
    pub fn direct(project_dir: &Path, url: Option<&str>) -> Environment {
        let (production_like, why) = match url {
            None => (false, "lockstep's own throwaway server".to_string()),
            Some(url) => match remote_host(url) {
                Some(host) => (
                    true,
                    format!("host {host} is not this machine: treated as production"),
                ),
                None => (false, "on this machine".to_string()),
            },
        };
        Environment {
            name: if url.is_some() { "direct" } else { "sandbox" }.to_string(),
            configured: false,
            database: url.map(redact),
            production_like,
            why,
            snapshot: default_snapshot(production_like),
            confirm: default_confirm(production_like),
            read_only: false,
            snapshot_dir: project_dir.join(DEFAULT_SNAPSHOT_DIR),
            keep_data: production_like,
            backup_limit: DEFAULT_BACKUP_LIMIT,
            lint_overrides: Vec::new(),
        }
    }

    /// One line for a status bar or a heading: `production (production-like) · postgres://…`.
    pub fn label(&self) -> String {
        let mut text = self.name.clone();
        if self.production_like {
            text.push_str(" (production-like)");
        }
        if let Some(url) = &self.database {
            text.push_str(" · ");
            text.push_str(url);
        }
        text
    }

    /// Its settings, one `key: value` line each, for `lockstep env` and the dashboard.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "database: {}",
                self.database.as_deref().unwrap_or(
                    "(none of its own: --database-url, DATABASE_URL, .env or database-url)"
                )
            ),
            format!(
                "production-like: {} ({})",
                if self.production_like { "yes" } else { "no" },
                self.why
            ),
            format!("snapshot: {}", self.snapshot.label()),
            format!("confirm: {}", self.confirm.label()),
            format!("read-only: {}", self.read_only),
            format!(
                "keep-data: {} (limit {})",
                self.keep_data,
                crate::monitor::format::human_bytes(
                    i64::try_from(self.backup_limit).unwrap_or(i64::MAX)
                )
            ),
            format!("snapshot-dir: {}", self.snapshot_dir.display()),
        ];
        if !self.lint_overrides.is_empty() {
            lines.push(format!("lint: {}", self.lint_overrides.join(", ")));
        }
        lines
    }
}

fn default_snapshot(production_like: bool) -> SnapshotPolicy {
    if production_like {
        SnapshotPolicy::Required
    } else {
        SnapshotPolicy::Off
    }
}

fn default_confirm(production_like: bool) -> ConfirmPolicy {
    if production_like {
        ConfirmPolicy::TypeDatabaseName
    } else {
        ConfirmPolicy::None
    }
}

/// The host `url` points at when it is not this machine (not `localhost`, a loopback address or
/// a unix socket); `None` when it is local. A URL that does not parse counts as remote.
pub fn remote_host(url: &str) -> Option<String> {
    let Ok(options) = PgConnectOptions::from_str(url) else {
        return Some("(an unparsable URL)".to_string());
    };
    if options.get_socket().is_some() {
        return None;
    }
    let host = options.get_host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.is_empty()
        || host.starts_with('/')
        || bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_local() {
        for url in [
            "postgres://app@localhost/db",
            "postgres://app@127.0.0.1:5433/db",
            "postgres://app@[::1]/db",
            "postgres://app@%2Fvar%2Frun%2Fpostgresql/db",
            "postgres:///db?host=/tmp",
        ] {
            assert_eq!(remote_host(url), None, "{url}");
        }
        assert_eq!(
            remote_host("postgres://app:secret@db.example.com/prod").as_deref(),
            Some("db.example.com")
        );
    }

    #[test]
    fn a_remote_url_is_production_like_and_configuration_wins() {
        let dir = Path::new("/project");
        let remote = Environment::direct(dir, Some("postgres://app:s3cret@db.example.com/prod"));
        assert!(remote.production_like);
        assert_eq!(remote.snapshot, SnapshotPolicy::Required);
        assert_eq!(remote.confirm, ConfirmPolicy::TypeDatabaseName);
        assert!(remote.keep_data);
        assert!(!remote.label().contains("s3cret"), "{}", remote.label());
        let local = Environment::direct(dir, Some("postgres://app@localhost/dev"));
        assert!(!local.production_like);
        assert_eq!(local.confirm, ConfirmPolicy::None);
        assert!(!local.keep_data);

        let tunnel = EnvironmentConfig {
            name: "production".into(),
            database_url: Some("postgres://app@localhost:6432/prod".into()),
            production: Some(true),
            snapshot: None,
            confirm: Some(ConfirmPolicy::TypeVersion),
            read_only: false,
            snapshot_dir: Some("backups".into()),
            keep_data: None,
            backup_limit: Some(5),
            lint: None,
        };
        let env = Environment::configured(&tunnel, dir, None);
        assert!(env.production_like && env.keep_data);
        assert_eq!(env.snapshot, SnapshotPolicy::Required);
        assert_eq!(env.confirm, ConfirmPolicy::TypeVersion);
        assert_eq!(env.snapshot_dir, PathBuf::from("/project/backups"));
        assert_eq!(env.backup_limit, 5);
    }
}
