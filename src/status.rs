//! What is applied and what is pending: migration files matched against the history table.

pub mod watch;

use serde::Serialize;

use crate::history::{AppliedRow, Progress};
use crate::source::{Migration, MigrationSet};
use crate::unfinished::Unfinished;

/// The state of one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Applied, and the file's checksum matches the recorded one.
    Applied,
    /// Not applied yet.
    Pending,
    /// Not applied, but older than the newest applied version: sqlx would apply it silently, out
    /// of order (usually a branch merged late).
    OutOfOrder,
    /// Applied, but the file changed since (checksums differ). sqlx refuses to run on.
    ChecksumMismatch,
    /// Applied, but its file is gone.
    Missing,
    /// Recorded with `success = false`, but not by a lockstep run: failed, maybe partially
    /// applied; needs repair.
    Failed,
    /// Recorded with `success = false` by a `-- no-transaction` run of lockstep's that did not
    /// finish: partially applied (or reverted). [`VersionStatus::unfinished`] says how far it got.
    Partial,
}

impl State {
    /// Whether the row says `success = false` (sqlx's "dirty" state: no run goes past it).
    pub fn is_unfinished(self) -> bool {
        matches!(self, State::Failed | State::Partial)
    }

    /// Whether this state should fail `status --check`.
    pub fn needs_attention(self) -> bool {
        !matches!(self, State::Applied)
    }

    /// Whether the version is recorded in the history table.
    pub fn is_recorded(self) -> bool {
        matches!(
            self,
            State::Applied
                | State::ChecksumMismatch
                | State::Missing
                | State::Failed
                | State::Partial
        )
    }

    /// A short human label.
    pub fn label(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::OutOfOrder => "pending (out of order)",
            State::ChecksumMismatch => "applied (different checksum)",
            State::Missing => "applied (file missing)",
            State::Failed => "failed",
            State::Partial => "partially applied",
        }
    }
}

/// One version with its file and its history row, whichever exist.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// The version.
    pub version: i64,
    /// The description (from the file, else from the history row).
    pub description: String,
    /// Its state.
    pub state: State,
    /// The local migration, if its file exists.
    pub migration: Option<Migration>,
    /// The history row, if recorded.
    pub applied: Option<AppliedRow>,
    /// For a row with `success = false`: what is known of the run that left it.
    pub unfinished: Option<Unfinished>,
}

impl VersionStatus {
    /// A short human label: the state's, or "partially reverted" for a revert that stopped.
    pub fn label(&self) -> &'static str {
        match self.unfinished.as_ref().map(|u| u.progress) {
            Some(Progress::Reverting { .. }) => "partially reverted",
            _ => self.state.label(),
        }
    }

    /// The checksum of the local file, if any.
    pub fn file_checksum(&self) -> Option<&[u8]> {
        self.migration.as_ref().map(|m| m.checksum())
    }
}

/// The whole picture: every version, in order, and whether the history table exists at all.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Whether the history table exists (when it does not, everything is pending).
    pub history_table_exists: bool,
    /// Every version found in the files or the table, ascending.
    pub versions: Vec<VersionStatus>,
}

impl Status {
    /// Matches files against history rows (`None` when the table does not exist).
    pub fn build(set: &MigrationSet, history: Option<&[AppliedRow]>) -> Status {
        let rows = history.unwrap_or(&[]);
        let newest_applied = rows.iter().map(|r| r.version).max();
        let mut versions = Vec::with_capacity(set.migrations.len().max(rows.len()));
        let (mut files, mut applied) = (set.migrations.iter().peekable(), rows.iter().peekable());
        loop {
            let next = match (files.peek(), applied.peek()) {
                (None, None) => break,
                (Some(f), Some(r)) if f.version == r.version => (files.next(), applied.next()),
                (Some(f), Some(r)) if f.version < r.version => (files.next(), None),
                (Some(_), None) => (files.next(), None),
                _ => (None, applied.next()),
            };
            let status = match next {
                (Some(file), Some(row)) => VersionStatus {
                    version: file.version,
                    description: file.description.clone(),
                    state: if !row.success {
                        unfinished_state(row)
                    } else if row.checksum != file.checksum() {
                        State::ChecksumMismatch
                    } else {
                        State::Applied
                    },
                    migration: Some(file.clone()),
                    applied: Some(row.clone()),
                    unfinished: (!row.success).then(|| Unfinished::build(row, Some(file))),
                },
                (Some(file), None) => VersionStatus {
                    version: file.version,
                    description: file.description.clone(),
                    state: if newest_applied.is_some_and(|newest| file.version < newest) {
                        State::OutOfOrder
                    } else {
                        State::Pending
                    },
                    migration: Some(file.clone()),
                    applied: None,
                    unfinished: None,
                },
                (None, Some(row)) => VersionStatus {
                    version: row.version,
                    description: row.description.clone(),
                    state: if row.success {
                        State::Missing
                    } else {
                        unfinished_state(row)
                    },
                    migration: None,
                    applied: Some(row.clone()),
                    unfinished: (!row.success).then(|| Unfinished::build(row, None)),
                },
                (None, None) => break,
            };
            versions.push(status);
        }
        Status {
            history_table_exists: history.is_some(),
            versions,
        }
    }

    /// Versions in a given state.
    pub fn in_state(&self, state: State) -> impl Iterator<Item = &VersionStatus> {
        self.versions.iter().filter(move |v| v.state == state)
    }

    /// Versions not yet applied (pending and out of order), ascending.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = &VersionStatus> {
        self.versions
            .iter()
            .filter(|v| matches!(v.state, State::Pending | State::OutOfOrder))
    }

    /// Versions recorded as applied (including drifted, missing and failed), ascending.
    pub fn recorded(&self) -> impl DoubleEndedIterator<Item = &VersionStatus> {
        self.versions.iter().filter(|v| v.state.is_recorded())
    }

    /// Whether anything is pending, drifted, missing or failed.
    pub fn needs_attention(&self) -> bool {
        self.versions.iter().any(|v| v.state.needs_attention())
    }
}

/// A `success = false` row is partial when a lockstep run marked it, else failed.
fn unfinished_state(row: &AppliedRow) -> State {
    match Progress::decode(row.execution_time) {
        Progress::Unknown => State::Failed,
        _ => State::Partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationFile;
    use std::path::PathBuf;

    fn file(version: i64, sql: &str) -> Migration {
        Migration {
            version,
            description: format!("m{version}"),
            up: MigrationFile {
                path: PathBuf::from(format!("{version}_m.sql")),
                sql: sql.into(),
                checksum: crate::source::checksum(sql, &[]),
                no_transaction: false,
            },
            down: None,
        }
    }

    fn row(version: i64, sql: &str, success: bool) -> AppliedRow {
        AppliedRow {
            version,
            description: format!("m{version}"),
            installed_on: chrono::DateTime::UNIX_EPOCH,
            success,
            checksum: crate::source::checksum(sql, &[]),
            execution_time: -1,
        }
    }

    fn lockstep_mark() -> i64 {
        Progress::Applying { committed: 0 }.encode()
    }

    #[test]
    fn every_state_is_recognised() {
        let set = MigrationSet {
            dir: PathBuf::from("m"),
            migrations: vec![
                file(1, "a"),
                file(2, "b changed"),
                file(3, "c"),
                file(5, "e"),
                file(7, "g"),
            ],
            problems: vec![],
        };
        let rows = vec![
            row(1, "a", true),
            row(2, "b", true),
            row(4, "d", true),
            AppliedRow {
                execution_time: lockstep_mark(),
                ..row(5, "e", false)
            },
            row(6, "f", true),
            AppliedRow {
                execution_time: 1_000,
                ..row(7, "g", false)
            },
        ];
        let status = Status::build(&set, Some(&rows));
        let states: Vec<(i64, State)> = status
            .versions
            .iter()
            .map(|v| (v.version, v.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (1, State::Applied),
                (2, State::ChecksumMismatch),
                (3, State::OutOfOrder),
                (4, State::Missing),
                (5, State::Partial),
                (6, State::Missing),
                (7, State::Failed),
            ]
        );
        assert!(status.needs_attention());
        assert_eq!(
            status.pending().map(|v| v.version).collect::<Vec<_>>(),
            vec![3]
        );
        assert!(status.versions[4].unfinished.is_some());
        assert!(status.versions[0].unfinished.is_none());
    }

    #[test]
    fn without_a_table_everything_is_pending() {
        let set = MigrationSet {
            dir: PathBuf::from("m"),
            migrations: vec![file(1, "a"), file(2, "b")],
            problems: vec![],
        };
        let status = Status::build(&set, None);
        assert!(!status.history_table_exists);
        assert!(status.versions.iter().all(|v| v.state == State::Pending));
    }
}
