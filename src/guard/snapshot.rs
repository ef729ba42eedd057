//! The schema snapshot before a run: `pg_dump --schema-only` (plain SQL, restorable with
//! `psql -f`) of the major version of the server or newer, handed the URL in a 0600 connection
//! service file (never on its command line), written 0600 into the run's snapshot directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use super::GuardError;
use crate::analysis::model::version_from_server_num;
use crate::config::pg_duration;
use crate::db::{Database, scrub};
use crate::rehearse::libpq::ServiceFile;

/// What became of the schema snapshot of a run, for the output and the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapshotOutcome {
    /// The snapshot written, when one was.
    pub path: Option<PathBuf>,
    /// `--no-snapshot` skipped a snapshot the environment asks for.
    pub skipped_by_flag: bool,
    /// Why an optional snapshot could not be written (the run went on).
    pub failed: Option<String>,
}

impl SnapshotOutcome {
    /// One line for the output: where it is, or why there is none; `None` when the environment
    /// takes no snapshots.
    pub fn describe(&self) -> Option<String> {
        if let Some(path) = &self.path {
            Some(format!("schema snapshot: {}", path.display()))
        } else if self.skipped_by_flag {
            Some("schema snapshot skipped (--no-snapshot)".to_string())
        } else {
            self.failed
                .as_ref()
                .map(|why| format!("no schema snapshot (optional, so the run goes on): {why}"))
        }
    }
}

/// Creates `dir` (and its parents) private to lockstep's account: snapshots and data copies
/// hold the database's schema and rows.
pub(super) fn private_dir(dir: &Path) -> Result<(), GuardError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| GuardError::Io(format!("creating {}", dir.display()), e))
}

/// Creates (or truncates) `path`, readable and writable by lockstep's account only.
pub(super) fn private_file(path: &Path) -> Result<std::fs::File, GuardError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| GuardError::Io(format!("creating {}", path.display()), e))
}

/// Writes `text` to a new private file and syncs it.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), GuardError> {
    let mut file = private_file(path)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| GuardError::Io(format!("writing {}", path.display()), e))
}

/// Dumps the schema of `db` (a server of `server_version_num`) to `path` with `pg_dump
/// --schema-only`; `lock_timeout` bounds its wait for each table's ACCESS SHARE lock.
pub async fn write_schema(
    db: &Database,
    server_version_num: u32,
    path: &Path,
    lock_timeout: Option<Duration>,
) -> Result<(), GuardError> {
    let major = version_from_server_num(server_version_num);
    let (pg_dump, _) =
        tokio::task::spawn_blocking(move || crate::sandbox::locate_client("pg_dump", major))
            .await
            .map_err(|e| GuardError::Snapshot(e.to_string()))?
            .map_err(GuardError::Snapshot)?;
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    drop(private_file(path)?);
    let secrets = tempfile::Builder::new()
        .prefix("lockstep-snapshot-")
        .tempdir()
        .map_err(|e| GuardError::Io("creating a directory for pg_dump's connection".into(), e))?;
    let service = ServiceFile::write(secrets.path(), "source", db.url(), &[], "lockstep:snapshot")
        .map_err(|e| GuardError::Snapshot(e.to_string()))?;
    let mut command = tokio::process::Command::new(&pg_dump);
    command
        .args(["--schema-only", "--format=plain", "--no-sync"])
        .arg("--file")
        .arg(path);
    if let Some(timeout) = lock_timeout {
        command.arg(format!("--lock-wait-timeout={}", pg_duration(timeout)));
    }
    service.apply(&mut command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = command
        .output()
        .await
        .map_err(|e| GuardError::Io(format!("running {}", pg_dump.display()), e))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(path);
        return Err(GuardError::Snapshot(format!(
            "{} failed ({}): {}",
            pg_dump.display(),
            output.status,
            scrub(String::from_utf8_lossy(&output.stderr).trim(), db.url())
        )));
    }
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| GuardError::Io(format!("syncing {}", path.display()), e))
}
