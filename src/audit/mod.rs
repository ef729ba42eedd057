//! The audit trail: every run that changes a database, recorded in that database.
//!
//! A schema of lockstep's own (`lockstep` unless `audit-schema` says otherwise; `audit = false`
//! in `lockstep.toml` turns it off) holds one row per run ([`Recorder`]: who, where from, which
//! command, when, how it ended), one per migration it ran and one per statement (its hash and
//! first line, timings, the time it waited for locks and on whom, rows affected, its error).
//! sqlx never sees it: nothing goes into its history table or into `public`.
//!
//! - [`schema`] creates the schema on first use, in a transaction of its own, versioned so it
//!   can evolve; two runs creating it at once both succeed.
//! - [`Recorder`] writes a run from the runner's event stream, on a connection of its own: a
//!   migration that rolls back keeps its audit rows, and the audit never holds a lock the
//!   migration needs. Each write is a transaction of its own with no session state, so it works
//!   behind a transaction pooler. The run row is inserted first as `running`, with the writer's
//!   server backend and a heartbeat: a run whose process died (kill -9, a lost connection) is
//!   read back as `interrupted`, never as succeeded.
//! - [`read`] reads runs back ([`History`]) and who applied each version ([`who_applied`];
//!   [`fingerprint`] says when that may have changed);
//!   [`render`] says both in words, for the CLI and the dashboard alike.

mod journal;
mod read;
mod recorder;
pub mod render;
pub mod schema;

use std::path::PathBuf;

pub use read::{
    Applied, AppliedBy, AppliedVersions, Blocker, History, HistoryQuery, MigrationRecord, Outcome,
    RunRecord, StatementRecord, fingerprint, load, read, who_applied, who_applied_or_history,
};
pub use recorder::{Recorder, RunEnd, Tap};

use crate::db::DbError;

/// The schema lockstep keeps its audit in unless `audit-schema` says otherwise.
/// Not `lockstep`: a database user named `lockstep` (lockstep's own sandbox has one) would have
/// a schema `lockstep` on its search path as `"$user"`, and the migrations' tables would be
/// created in it.
pub const DEFAULT_SCHEMA: &str = "lockstep_audit";

/// Whether and where runs are recorded (`audit`, `audit-schema` in `lockstep.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Whether runs are recorded (`audit = false` turns it off).
    pub enabled: bool,
    /// The schema holding the audit tables.
    pub schema: String,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            enabled: true,
            schema: DEFAULT_SCHEMA.to_string(),
        }
    }
}

impl AuditSettings {
    /// The schema name quoted for SQL.
    pub fn quoted_schema(&self) -> String {
        format!("\"{}\"", self.schema.replace('"', "\"\""))
    }

    /// Why `name` cannot be the audit schema, if it cannot.
    pub fn check_schema_name(name: &str) -> Result<(), String> {
        if name.is_empty() {
            Err("audit-schema is empty; name a schema, e.g. \"lockstep_audit\"".into())
        } else if name.len() > 63 {
            Err(format!(
                "audit-schema {name:?} is longer than PostgreSQL's 63-byte limit for names"
            ))
        } else if name.starts_with("pg_") || name == "public" || name == "information_schema" {
            Err(format!(
                "audit-schema {name:?} is reserved or shared; name a schema of lockstep's own, \
                 e.g. \"lockstep_audit\""
            ))
        } else if name.chars().any(char::is_control) {
            Err(format!("audit-schema {name:?} holds a control character"))
        } else {
            Ok(())
        }
    }
}

/// What a run is, recorded in its row before it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// The command, as typed (`lockstep up --to 5`), with any password redacted.
    pub command: String,
    /// The environment it ran in (`production`), when one was named.
    pub environment: Option<String>,
    /// The schema snapshot taken before the run, when one was.
    pub snapshot: Option<PathBuf>,
    /// Whether the snapshot was skipped on purpose (`--no-snapshot`).
    pub snapshot_skipped: bool,
}

impl RunInfo {
    /// A run of `command` with no environment and no snapshot.
    pub fn command(command: impl Into<String>) -> RunInfo {
        RunInfo {
            command: command.into(),
            ..RunInfo::default()
        }
    }
}

/// The command line of this process as `lockstep ARGS…`, with the password of any URL in it
/// redacted (a URL given with `--database-url`, or anywhere else).
pub fn command_line() -> String {
    redacted_command(std::env::args().skip(1))
}

fn redacted_command(args: impl IntoIterator<Item = String>) -> String {
    let mut words = vec!["lockstep".to_string()];
    for arg in args {
        let redacted = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && value.contains("://") => {
                format!("{flag}={}", crate::db::redact(value))
            }
            _ if arg.contains("://") => crate::db::redact(&arg),
            _ => arg,
        };
        words.push(redacted);
    }
    words.join(" ")
}

/// Why the audit could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No connection for the audit.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The audit schema is on the user's `search_path`.
    #[error(
        "the audit schema {schema} is on this database user's search_path ({search_path}), so \
         the migrations' unqualified tables could be created in it; name another schema with \
         `audit-schema` in lockstep.toml"
    )]
    OnSearchPath {
        /// The schema, quoted.
        schema: String,
        /// The session's `search_path`.
        search_path: String,
    },
    /// A query failed.
    #[error("{context}: {}", crate::db::describe(source))]
    Query {
        /// What was being done.
        context: String,
        /// The driver's error.
        source: sqlx::Error,
    },
}

impl AuditError {
    pub(crate) fn query(context: impl ToString) -> impl FnOnce(sqlx::Error) -> AuditError {
        let context = context.to_string();
        move |source| AuditError::Query { context, source }
    }

    /// Why a run does not start when its audit cannot be written, and what to do: shown by the
    /// CLI and the dashboard alike.
    pub fn refusal(&self, settings: &AuditSettings) -> String {
        format!(
            "the run was not started: its audit trail cannot be written to schema {} ({self}).\n\
             lockstep records every run that changes a database in the database itself (see \
             \"The audit trail\" in the README). Let this database user create the schema once \
             (GRANT CREATE ON DATABASE …), or have someone who may run lockstep there first; set \
             `audit = false` in lockstep.toml to turn the audit off for this project; or pass \
             --no-audit to run once without a record",
            settings.quoted_schema()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_never_holds_a_password() {
        let args = [
            "--database-url=postgres://app:s3cret@db/prod",
            "up",
            "--to",
            "5",
            "postgres://x:hunter2@h/db",
        ]
        .map(String::from);
        let command = redacted_command(args);
        assert_eq!(
            command,
            "lockstep --database-url=postgres://app:***@db/prod up --to 5 postgres://x:***@h/db"
        );
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(AuditSettings::check_schema_name(DEFAULT_SCHEMA).is_ok());
        assert!(AuditSettings::check_schema_name("ops audit").is_ok());
        for bad in ["", "public", "pg_audit", &"x".repeat(64)] {
            assert!(AuditSettings::check_schema_name(bad).is_err(), "{bad}");
        }
        let settings = AuditSettings {
            enabled: true,
            schema: "we\"ird".into(),
        };
        assert_eq!(settings.quoted_schema(), "\"we\"\"ird\"");
    }
}
