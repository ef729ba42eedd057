//! What a run did, folded from its events: the summary the CLI prints at the end (also as JSON)
//! and the dashboard shows in its run log.

use std::time::Duration;

use serde::Serialize;

use super::events::RunEvent;
use super::plan::Direction;
use crate::format::human_duration;

/// A migration that stopped part-way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stopped {
    /// Its version.
    pub version: i64,
    /// Apply or revert.
    pub direction: Direction,
    /// Whether it ran in a transaction (and so nothing of it remains).
    pub rolled_back: bool,
    /// Statements (0-based) that completed; outside a transaction they stay applied.
    pub completed_statements: Vec<usize>,
}

/// The running account of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunTally {
    /// Migrations applied and recorded, in order.
    pub applied: Vec<i64>,
    /// Migrations reverted and unrecorded, in order.
    pub reverted: Vec<i64>,
    /// Retries after a lock timeout.
    pub retries: u32,
    /// The migration that failed, if one did.
    pub failed: Option<Stopped>,
    /// The migration that was running when the run was interrupted, if one was.
    pub interrupted: Option<Stopped>,
}

impl RunTally {
    /// Takes one event into account.
    pub fn record(&mut self, event: &RunEvent) {
        match event {
            RunEvent::MigrationFinished {
                version, direction, ..
            } => match direction {
                Direction::Apply => self.applied.push(*version),
                Direction::Revert => self.reverted.push(*version),
            },
            RunEvent::Retrying { .. } => self.retries += 1,
            RunEvent::MigrationFailed { .. } => self.failed = Stopped::from_event(event),
            RunEvent::MigrationInterrupted { .. } => self.interrupted = Stopped::from_event(event),
            _ => {}
        }
    }

    /// Whether a migration was applied or reverted.
    pub fn changed_something(&self) -> bool {
        !(self.applied.is_empty() && self.reverted.is_empty())
    }

    /// The whole account of events.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> RunTally {
        let mut tally = RunTally::default();
        for event in events {
            tally.record(event);
        }
        tally
    }

    /// One line for a person: `done: 3 applied, 0 reverted in 1.2s`, or what an interrupted or
    /// failed run left: `interrupted after 1.2s: 3 applied (1, 2, 3); migration 4 rolled back;
    /// nothing else ran`.
    pub fn summary(&self, elapsed: Duration, interrupted: bool) -> String {
        let mut parts = vec![format!(
            "{} applied{}, {} reverted{}",
            self.applied.len(),
            versions(&self.applied),
            self.reverted.len(),
            versions(&self.reverted)
        )];
        if self.retries > 0 {
            parts.push(format!(
                "{} retr{} after a lock timeout",
                self.retries,
                if self.retries == 1 { "y" } else { "ies" }
            ));
        }
        for stopped in self.failed.iter().chain(self.interrupted.iter()) {
            parts.push(stopped.describe());
        }
        let head = if interrupted {
            format!("interrupted after {}", human_duration(elapsed))
        } else if self.failed.is_some() {
            format!("failed after {}", human_duration(elapsed))
        } else {
            return format!("done: {} in {}", parts.join("; "), human_duration(elapsed));
        };
        format!("{head}: {}; nothing else ran", parts.join("; "))
    }
}

impl Stopped {
    /// The migration an event says stopped part-way: a failure or an interruption.
    pub fn from_event(event: &RunEvent) -> Option<Stopped> {
        match event {
            RunEvent::MigrationFailed {
                version,
                direction,
                failure,
            } => Some(Stopped {
                version: *version,
                direction: *direction,
                rolled_back: failure.in_transaction,
                completed_statements: failure.completed.clone(),
            }),
            RunEvent::MigrationInterrupted {
                version,
                direction,
                in_transaction,
                completed,
            } => Some(Stopped {
                version: *version,
                direction: *direction,
                rolled_back: *in_transaction,
                completed_statements: completed.clone(),
            }),
            _ => None,
        }
    }

    /// `migration 4 rolled back` or `migration 4 (not in one transaction) partially applied: statements
    /// 1, 2 stayed applied`.
    pub fn describe(&self) -> String {
        if self.rolled_back {
            return format!("migration {} rolled back", self.version);
        }
        if self.completed_statements.is_empty() {
            return format!(
                "migration {} (not in one transaction): nothing of it stayed applied",
                self.version
            );
        }
        format!(
            "migration {} (not in one transaction) partially {}: statements {} stayed applied",
            self.version,
            match self.direction {
                Direction::Apply => "applied",
                Direction::Revert => "reverted",
            },
            self.completed_statements
                .iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn versions(list: &[i64]) -> String {
    match list.len() {
        0 => String::new(),
        1..=8 => format!(
            " ({})",
            list.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!(" ({} … {})", list[0], list[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_says_what_stayed_and_what_rolled_back() {
        let mut tally = RunTally::default();
        for version in [1, 2] {
            tally.record(&RunEvent::MigrationFinished {
                version,
                direction: Direction::Apply,
                elapsed: Duration::from_millis(3),
            });
        }
        tally.record(&RunEvent::MigrationInterrupted {
            version: 3,
            direction: Direction::Apply,
            in_transaction: true,
            completed: vec![0],
        });
        assert_eq!(
            tally.summary(Duration::from_millis(1500), true),
            "interrupted after 1.50 s: 2 applied (1, 2), 0 reverted; migration 3 rolled back; \
             nothing else ran"
        );
        let done = RunTally::of(&[RunEvent::MigrationFinished {
            version: 7,
            direction: Direction::Revert,
            elapsed: Duration::from_millis(3),
        }]);
        assert_eq!(
            done.summary(Duration::from_millis(20), false),
            "done: 0 applied, 1 reverted (7) in 20.0 ms"
        );
    }
}
