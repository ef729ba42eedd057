//! What a rehearsal found: per migration, the traced UP (observed locks beside the predicted
//! ones), whether the DOWN restored the schema and the UP applied again to the same schema, data
//! a DOWN would lose, and every disagreement with the static analysis. Serializable, for `--json`
//! and for the dashboard.

use serde::Serialize;

use super::catalog::Difference;
use super::compare::{Disagreement, HeldLock, ObservedLock, PredictedLock};
use crate::runner::Failure;

/// Exit code when only disagreements with the static analysis were found.
pub const EXIT_DISAGREEMENTS: u8 = 3;

/// The whole rehearsal.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsalReport {
    /// Where the schema came from.
    pub source: Source,
    /// The scratch server the migrations ran on.
    pub server: ScratchInfo,
    /// Whether a missing DOWN counts as a failure (`--require-down`).
    pub require_down: bool,
    /// Whether the whole history was rehearsed from an empty database (`--all`).
    pub all: bool,
    /// One entry per migration rehearsed (or not run because an earlier one failed), in order.
    pub migrations: Vec<MigrationRehearsal>,
    /// Wall time of the whole rehearsal, the copy and the scratch server's start included.
    pub elapsed_ms: f64,
    /// Where the time went.
    pub timings: Timings,
}

/// Where a rehearsal's time went, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Starting (or creating) the scratch database, reading the configured one and dumping its
    /// schema (these overlap).
    pub prepare_ms: f64,
    /// Restoring the schema, copying history and sample rows.
    pub copy_ms: f64,
    /// Running the migrations (UP traced, DOWN, UP again), snapshots included.
    pub migrations_ms: f64,
    /// Of which taking catalogue snapshots.
    pub snapshots_ms: f64,
    /// Removing the scratch database or server.
    pub cleanup_ms: f64,
}

/// Where the schema rehearsed on came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// A copy of the configured database's schema (and history rows).
    Copy(CopySummary),
    /// An empty database: none is configured.
    Empty,
    /// An empty database, the whole history rehearsed (`--all`).
    All,
}

/// What the copy took from the configured database.
#[derive(Debug, Clone, Serialize)]
pub struct CopySummary {
    /// The configured database, password redacted.
    pub database: String,
    /// Its `server_version`.
    pub server_version: String,
    /// Whether the session that read it was read-only, as the server itself reported
    /// (`transaction_read_only`); the copy does not go on otherwise.
    pub read_only: bool,
    /// Tables in the copy.
    pub tables: usize,
    /// History rows copied.
    pub history_rows: u64,
    /// Sample rows copied (`--sample-rows`), all tables together.
    pub sample_rows: u64,
    /// What could not be restored or copied (an extension missing on this machine, a role…).
    pub warnings: Vec<String>,
    /// How long the copy took.
    pub elapsed_ms: f64,
}

/// The scratch server.
#[derive(Debug, Clone, Serialize)]
pub struct ScratchInfo {
    /// Its `server_version`.
    pub server_version: String,
    /// Whether it runs the same major version as the configured database (`true` when none).
    pub same_major: bool,
    /// Lockstep's own throwaway PostgreSQL, or a server given with `--scratch-server` (redacted).
    pub server: String,
    /// Said when the major versions differ.
    pub warning: Option<String>,
}

/// The outcome of one phase of a migration's round trip.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// It ran and (for DOWN and UP again) the schema is as it should be.
    Ok,
    /// It ran, and the schema differs from what it should be.
    Differs {
        /// Object by object.
        differences: Vec<Difference>,
    },
    /// It failed (rolled back unless `-- no-transaction`).
    Failed {
        /// Where and why.
        failure: Box<Failure>,
        /// The failing statement's text, when a statement failed.
        statement: Option<String>,
    },
    /// There is no DOWN to run.
    NotReversible {
        /// Why: a simple migration, a missing or an empty DOWN file.
        reason: String,
    },
    /// It did not run.
    NotRun {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Whether it failed or the schema differs.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Differs { .. })
    }
}

/// One phase: its outcome and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Its wall time (0 when it did not run).
    pub elapsed_ms: f64,
}

impl Phase {
    /// A phase that did not run.
    pub fn not_run(reason: impl Into<String>) -> Phase {
        Phase {
            outcome: Outcome::NotRun {
                reason: reason.into(),
            },
            elapsed_ms: 0.0,
        }
    }
}

/// One statement of the traced UP.
#[derive(Debug, Clone, Serialize)]
pub struct StatementRehearsal {
    /// Its index in the file, from 0.
    pub index: usize,
    /// Its first line in the file.
    pub line: usize,
    /// Its text.
    pub text: String,
    /// Wall time.
    pub elapsed_ms: f64,
    /// Rows affected, as the server reports them.
    pub rows_affected: u64,
    /// The strongest lock the server showed it taking on each pre-existing relation, and its
    /// object locks.
    pub observed: Vec<ObservedLock>,
    /// What the static analysis predicts on those relations.
    pub predicted: Vec<PredictedLock>,
    /// Pre-existing tables it rewrote (new relfilenode).
    pub rewritten: Vec<String>,
    /// Whether the locks were sampled while it ran (outside a transaction) rather than read
    /// after it.
    pub sampled: bool,
    /// Where the server and the analysis disagree.
    pub disagreements: Vec<Disagreement>,
    /// The predicted locks an earlier statement of the transaction had taken already (the
    /// server takes them no new: the statement shows none of its own, or a weaker one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldLock>,
}

/// Data a DOWN would lose.
#[derive(Debug, Clone, Serialize)]
pub struct DataLoss {
    /// The table.
    pub table: String,
    /// The column, when the DOWN drops a column rather than the table.
    pub column: Option<String>,
    /// Whether the UP created (and so filled) it.
    pub filled_by_up: bool,
    /// In words.
    pub message: String,
}

/// The rehearsal of one migration.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationRehearsal {
    /// The version.
    pub version: i64,
    /// Its description.
    pub description: String,
    /// Whether its UP runs in a transaction.
    pub in_transaction: bool,
    /// The UP file's checksum (hex) when it was rehearsed, to tell whether the files changed
    /// since.
    pub up_checksum: String,
    /// The DOWN file's checksum (hex) when it was rehearsed, if there is one.
    pub down_checksum: Option<String>,
    /// The traced UP.
    pub up: Phase,
    /// Its statements as traced (those that ran).
    pub statements: Vec<StatementRehearsal>,
    /// The DOWN, compared with the schema before the UP.
    pub down: Phase,
    /// The UP once more, compared with the schema after the first UP.
    pub up_again: Phase,
    /// Data the DOWN drops.
    pub data_loss: Vec<DataLoss>,
}

/// A migration's rehearsal in one word, for a list column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// UP, DOWN and UP again all ran and the schemas matched (`✓`).
    RoundTrip,
    /// The UP ran; there is no DOWN to test (`∅`).
    NotReversible,
    /// Something failed or a schema differs (`✗`).
    Failed,
    /// It did not run (an earlier migration failed).
    NotRun,
}

impl Verdict {
    /// `✓`, `∅`, `✗` or `·`.
    pub fn glyph(self) -> &'static str {
        match self {
            Verdict::RoundTrip => "✓",
            Verdict::NotReversible => "∅",
            Verdict::Failed => "✗",
            Verdict::NotRun => "·",
        }
    }
}

impl MigrationRehearsal {
    /// Every disagreement with the static analysis, statement by statement.
    pub fn disagreements(&self) -> impl Iterator<Item = (&StatementRehearsal, &Disagreement)> {
        self.statements
            .iter()
            .flat_map(|s| s.disagreements.iter().map(move |d| (s, d)))
    }

    /// The verdict; with `require_down`, a missing DOWN is a failure.
    pub fn verdict(&self, require_down: bool) -> Verdict {
        let phases = [&self.up, &self.down, &self.up_again];
        if phases.iter().any(|p| p.outcome.is_failure()) {
            return Verdict::Failed;
        }
        if matches!(self.up.outcome, Outcome::NotRun { .. }) {
            return Verdict::NotRun;
        }
        match self.down.outcome {
            Outcome::NotReversible { .. } if require_down => Verdict::Failed,
            Outcome::NotReversible { .. } => Verdict::NotReversible,
            Outcome::NotRun { .. } => Verdict::NotRun,
            _ => Verdict::RoundTrip,
        }
    }
}

impl RehearsalReport {
    /// Whether a migration failed or a round trip did not restore the schema.
    pub fn failed(&self) -> bool {
        self.migrations
            .iter()
            .any(|m| m.verdict(self.require_down) == Verdict::Failed)
    }

    /// How many disagreements with the static analysis there are.
    pub fn disagreement_count(&self) -> usize {
        self.migrations
            .iter()
            .map(|m| m.disagreements().count())
            .sum()
    }

    /// `0` all good, `1` a migration or a round trip failed, `3` only disagreements with the
    /// static analysis.
    pub fn exit_code(&self) -> u8 {
        if self.failed() {
            1
        } else if self.disagreement_count() > 0 {
            EXIT_DISAGREEMENTS
        } else {
            0
        }
    }
}
