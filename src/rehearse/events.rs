//! What a rehearsal reports while it runs, for a progress line per migration.

use std::time::Duration;

use serde::Serialize;

use super::report::MigrationRehearsal;

/// Which part of a migration's round trip runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// The UP, traced.
    Up,
    /// The DOWN.
    Down,
    /// The UP once more.
    UpAgain,
}

impl PhaseName {
    /// `up`, `down` or `up again`.
    pub fn label(self) -> &'static str {
        match self {
            PhaseName::Up => "up",
            PhaseName::Down => "down",
            PhaseName::UpAgain => "up again",
        }
    }
}

/// One thing that happened during a rehearsal.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum RehearsalEvent {
    /// A preparation step starts: the scratch server, the copy.
    Preparing {
        /// What, in words.
        what: String,
    },
    /// A phase of a migration starts.
    PhaseStarted {
        /// The migration.
        version: i64,
        /// Its description.
        description: String,
        /// Which phase.
        phase: PhaseName,
        /// How many statements it runs.
        statements: usize,
    },
    /// A statement completed.
    StatementFinished {
        /// The migration.
        version: i64,
        /// Which phase.
        phase: PhaseName,
        /// The statement's index.
        index: usize,
        /// How long it ran.
        elapsed: Duration,
    },
    /// A phase ended.
    PhaseFinished {
        /// The migration.
        version: i64,
        /// Which phase.
        phase: PhaseName,
        /// Whether it ran and left the schema as it should.
        ok: bool,
    },
    /// A migration's rehearsal is complete.
    MigrationRehearsed {
        /// Its result.
        rehearsal: Box<MigrationRehearsal>,
    },
}

/// Where events go. Sending never blocks; a closed receiver is ignored.
pub type RehearsalSink = tokio::sync::mpsc::UnboundedSender<RehearsalEvent>;
