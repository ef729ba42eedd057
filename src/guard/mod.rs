//! Guard rails for runs that change a database: which environment a command runs in and how
//! careful lockstep is there ([`Environment`]), the schema snapshot before `up`, `down` and
//! `redo` ([`GuardPlan::take_snapshot`]), and the data kept before a destructive statement
//! ([`DataKeeper`], a runner hook). Everything is decided before the run and rendered once as
//! text ([`GuardPlan::lines`], [`Confirmation`]) for the CLI and the dashboard; what happened
//! comes back as plain data ([`SnapshotOutcome`], [`crate::runner::RunEvent::DataKept`]) for
//! the output and the audit trail.

mod environment;
mod keep;
mod plan;
mod snapshot;

pub use environment::{DEFAULT_BACKUP_LIMIT, DEFAULT_SNAPSHOT_DIR, Environment, remote_host};
pub use keep::{DataKeeper, describe_kept};
pub use plan::{Confirmation, GuardOptions, GuardPlan, PlannedCopy};
pub use snapshot::{SnapshotOutcome, write_schema};

use crate::db::DbError;

/// Why the guard stopped a run before it started (or a data copy failed).
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The database could not be read.
    #[error(transparent)]
    Db(#[from] DbError),
    /// `pg_dump` is missing, too old, or failed.
    #[error(
        "the schema snapshot could not be written, so the run did not start: {0}\n  (pass \
         --no-snapshot to run without one; that is recorded)"
    )]
    Snapshot(String),
    /// A file or directory could not be written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
