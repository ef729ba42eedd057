//! A run's migrations and statements as the audit records them, built from the runner's events
//! (pure: no database). The recorder writes the rows that changed since its last write.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::read::{Blocker, MigrationRecord, Outcome, StatementRecord};
use crate::monitor::LockWait;
use crate::runner::{Direction, Failure, Resolution, RunEvent};

/// How many characters of a statement's first line, or of a blocker's query, are kept.
const SHORT: usize = 200;

/// One migration of the run, as written to `migrations`: its record and its place in the run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct MigrationRow {
    pub seq: i32,
    #[serde(flatten)]
    pub record: MigrationRecord,
}

/// One statement run, as written to `statements` (a retried statement has a row per attempt).
#[derive(Debug, Clone, Serialize)]
pub(super) struct StatementRow {
    pub seq: i32,
    pub migration_seq: i32,
    pub version: i64,
    pub direction: &'static str,
    #[serde(flatten)]
    pub record: StatementRecord,
}

/// The run so far, and which rows changed since they were last taken. Statements that ended
/// and are written are forgotten ([`Journal::forget_written`]): a run of many statements does
/// not grow the journal.
#[derive(Debug, Default)]
pub(super) struct Journal {
    pub migrations: Vec<MigrationRow>,
    /// The statements still in memory, by `seq`.
    pub statements: BTreeMap<i32, StatementRow>,
    /// How many statements have started.
    started: i32,
    dirty_migrations: BTreeSet<usize>,
    dirty_statements: BTreeSet<i32>,
    /// The migration running now (an index into `migrations`).
    current: Option<usize>,
}

/// The rows that changed, as JSON arrays for `jsonb_to_recordset`.
pub(super) struct Changes {
    pub migrations: Option<String>,
    pub statements: Option<String>,
}

/// Rows as a JSON array, `None` when there are none.
fn json_rows<T: Serialize>(rows: &[T]) -> Option<String> {
    if rows.is_empty() {
        None
    } else {
        serde_json::to_string(rows).ok()
    }
}

/// A migration's action as a statement's direction: `apply` or `revert`.
fn action_name(action: &str) -> &'static str {
    if action == "revert" {
        "revert"
    } else {
        "apply"
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Apply => "apply",
        Direction::Revert => "revert",
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}

/// A statement's first non-blank line, trimmed and shortened.
pub(super) fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    shorten(line.unwrap_or(""))
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= SHORT {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(SHORT - 1).collect();
        short.push('…');
        short
    }
}

/// The server's words for a failure, without its place in the file (the statement row says
/// where): message, SQLSTATE, detail and hint.
fn failure_text(failure: &Failure) -> String {
    let mut text = failure.message.clone();
    if let Some(code) = &failure.sqlstate {
        text.push_str(&format!(" (SQLSTATE {code})"));
    }
    if let Some(detail) = &failure.detail {
        text.push_str(&format!("\ndetail: {detail}"));
    }
    if let Some(hint) = &failure.hint {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}

impl StatementRecord {
    fn saw(&mut self, wait: &LockWait) {
        let what: Vec<String> = wait
            .waiting_for
            .iter()
            .map(crate::monitor::render::lock_target)
            .collect();
        if !what.is_empty() {
            self.waiting_for = Some(what.join(", "));
        }
        if let Some(blocker) = wait.blockers.first() {
            let session = blocker.session.as_ref();
            self.blocker = Some(Blocker {
                pid: blocker.pid,
                user: session.and_then(|s| s.user.clone()),
                application: session
                    .and_then(|s| s.application_name.clone())
                    .filter(|a| !a.is_empty()),
                query: session
                    .and_then(|s| s.query.as_deref())
                    .filter(|q| !q.is_empty())
                    .map(shorten),
            });
        }
    }

    /// Whether it has not ended yet (neither finished nor stopped by an error).
    fn is_open(&self) -> bool {
        self.duration_ms.is_none() && self.error.is_none()
    }

    fn stop(&mut self, at: DateTime<Utc>, error: String) {
        if self.duration_ms.is_none() {
            self.duration_ms = Some(millis_between(self.started_at, at).max(0.0));
        }
        self.error = Some(error);
    }
}

impl Journal {
    /// Records what `event` says happened at `at`.
    pub fn apply(&mut self, at: DateTime<Utc>, event: &RunEvent) {
        match event {
            RunEvent::MigrationStarted {
                version,
                description,
                direction,
                in_transaction,
                ..
            } => {
                // Under --pooled a retry starts the migration again: the same row.
                if self.current_is(*version, *direction).is_none() {
                    self.start_migration(
                        at,
                        *version,
                        description.clone(),
                        direction_name(*direction),
                    );
                }
                if let Some(i) = self.current {
                    self.migrations[i].record.in_transaction = Some(*in_transaction);
                    self.dirty_migrations.insert(i);
                }
            }
            RunEvent::StatementStarted {
                version,
                index,
                line,
                text,
            } => {
                let (migration_seq, attempt, direction) = match self.current {
                    Some(i) => {
                        let m = &self.migrations[i];
                        (m.seq, m.record.attempts, action_name(&m.record.action))
                    }
                    None => (0, 1, "apply"),
                };
                self.started += 1;
                let seq = self.started;
                self.dirty_statements.insert(seq);
                self.statements.insert(
                    seq,
                    StatementRow {
                        seq,
                        migration_seq,
                        version: *version,
                        direction,
                        record: StatementRecord {
                            attempt,
                            index: *index as i32,
                            line: i32::try_from(*line).ok(),
                            sha256: hex::encode(Sha256::digest(text.as_bytes())),
                            first_line: first_line(text),
                            started_at: at,
                            duration_ms: None,
                            lock_wait_ms: None,
                            waiting_for: None,
                            blocker: None,
                            rows_affected: None,
                            error: None,
                        },
                    },
                );
            }
            RunEvent::StatementFinished {
                version,
                index,
                elapsed,
                rows_affected,
            } => {
                if let Some(s) = self.statement(*version, *index) {
                    s.duration_ms = Some(millis(*elapsed));
                    s.rows_affected = Some(i64::try_from(*rows_affected).unwrap_or(i64::MAX));
                }
            }
            RunEvent::StatementWaiting {
                version,
                index,
                waited,
                wait,
            } => {
                if let Some(s) = self.statement(*version, *index) {
                    let waited = millis(*waited);
                    s.lock_wait_ms = Some(s.lock_wait_ms.map_or(waited, |w| w.max(waited)));
                    s.saw(wait);
                }
            }
            RunEvent::Retrying {
                version,
                direction,
                attempt,
                failure,
                ..
            } => {
                self.statement_failed(at, *version, failure);
                if let Some(i) = self.current_is(*version, *direction) {
                    self.migrations[i].record.attempts = *attempt as i32 + 1;
                    self.dirty_migrations.insert(i);
                }
            }
            RunEvent::MigrationFinished {
                version,
                direction,
                elapsed,
            } => {
                self.end_migration(
                    at,
                    *version,
                    *direction,
                    Outcome::Succeeded,
                    None,
                    Some(*elapsed),
                );
            }
            RunEvent::MigrationFailed {
                version,
                direction,
                failure,
            } => {
                self.statement_failed(at, *version, failure);
                self.end_migration(
                    at,
                    *version,
                    *direction,
                    Outcome::Failed,
                    Some(failure.to_string()),
                    None,
                );
            }
            RunEvent::MigrationInterrupted {
                version, direction, ..
            } => {
                for seq in self.open_statements(*version) {
                    if let Some(s) = self.statements.get_mut(&seq) {
                        s.record
                            .stop(at, "interrupted: cancelled on the server".into());
                    }
                    self.dirty_statements.insert(seq);
                }
                self.end_migration(at, *version, *direction, Outcome::Interrupted, None, None);
            }
            RunEvent::MigrationSkipped {
                version,
                direction,
                reason,
            } => {
                if self.current_is(*version, *direction).is_none() {
                    self.start_migration(at, *version, String::new(), direction_name(*direction));
                }
                self.end_migration(
                    at,
                    *version,
                    *direction,
                    Outcome::Skipped,
                    Some(reason.clone()),
                    None,
                );
            }
            RunEvent::Connected { .. }
            | RunEvent::LockWaiting { .. }
            | RunEvent::LockAcquired { .. }
            // The copies are in the run's directory beside its snapshot (recorded with the run).
            | RunEvent::DataKept { .. } => {}
        }
    }

    /// Records a `resolve` of `version`.
    pub fn resolved(
        &mut self,
        at: DateTime<Utc>,
        version: i64,
        description: String,
        resolution: Resolution,
    ) {
        let action = match resolution {
            Resolution::Applied => "mark_applied",
            Resolution::RolledBack => "mark_rolled_back",
        };
        let i = self.start_migration(at, version, description, action);
        let m = &mut self.migrations[i].record;
        m.finished_at = Some(at);
        m.duration_ms = Some(0.0);
        m.outcome = Outcome::Succeeded;
        self.current = None;
    }

    /// The rows changed since the last call, marked clean.
    pub fn take_changes(&mut self) -> Changes {
        let migrations: Vec<&MigrationRow> = std::mem::take(&mut self.dirty_migrations)
            .into_iter()
            .map(|i| &self.migrations[i])
            .collect();
        let statements: Vec<&StatementRow> = std::mem::take(&mut self.dirty_statements)
            .into_iter()
            .filter_map(|seq| self.statements.get(&seq))
            .collect();
        Changes {
            migrations: json_rows(&migrations),
            statements: json_rows(&statements),
        }
    }

    /// Marks every row changed again (after a write that failed).
    pub fn mark_all_changed(&mut self) {
        self.dirty_migrations = (0..self.migrations.len()).collect();
        self.dirty_statements = self.statements.keys().copied().collect();
    }

    /// Forgets the statements that ended, once written: nothing changes them any more.
    pub fn forget_written(&mut self) {
        let dirty = &self.dirty_statements;
        self.statements
            .retain(|seq, s| dirty.contains(seq) || s.record.is_open());
    }

    fn start_migration(
        &mut self,
        at: DateTime<Utc>,
        version: i64,
        description: String,
        action: &'static str,
    ) -> usize {
        let i = self.migrations.len();
        self.migrations.push(MigrationRow {
            seq: i as i32 + 1,
            record: MigrationRecord {
                version,
                description,
                action: action.to_string(),
                in_transaction: None,
                started_at: at,
                finished_at: None,
                duration_ms: None,
                attempts: 1,
                outcome: Outcome::Running,
                message: None,
                statements: Vec::new(),
            },
        });
        self.dirty_migrations.insert(i);
        self.current = Some(i);
        i
    }

    fn end_migration(
        &mut self,
        at: DateTime<Utc>,
        version: i64,
        direction: Direction,
        outcome: Outcome,
        message: Option<String>,
        elapsed: Option<Duration>,
    ) {
        if let Some(i) = self.current_is(version, direction) {
            let m = &mut self.migrations[i].record;
            m.finished_at = Some(at);
            m.duration_ms = Some(elapsed.map_or_else(|| millis_between(m.started_at, at), millis));
            m.outcome = outcome;
            m.message = message;
            self.dirty_migrations.insert(i);
            self.current = None;
        }
    }

    /// The running migration, when it is `version` in `direction`.
    fn current_is(&self, version: i64, direction: Direction) -> Option<usize> {
        self.current.filter(|&i| {
            let m = &self.migrations[i].record;
            m.version == version && m.action == direction_name(direction)
        })
    }

    /// The latest run of statement `index` of `version`, marked changed.
    fn statement(&mut self, version: i64, index: usize) -> Option<&mut StatementRecord> {
        let (&seq, statement) = self
            .statements
            .iter_mut()
            .rev()
            .find(|(_, s)| s.version == version && s.record.index == index as i32)?;
        self.dirty_statements.insert(seq);
        Some(&mut statement.record)
    }

    /// The statements of `version` that started and never finished.
    fn open_statements(&self, version: i64) -> Vec<i32> {
        let migration_seq = self.current.map(|i| self.migrations[i].seq);
        self.statements
            .iter()
            .filter(|(_, s)| {
                s.version == version && Some(s.migration_seq) == migration_seq && s.record.is_open()
            })
            .map(|(&seq, _)| seq)
            .collect()
    }

    fn statement_failed(&mut self, at: DateTime<Utc>, version: i64, failure: &Failure) {
        let Some(index) = failure.statement else {
            return;
        };
        if let Some(s) = self.statement(version, index) {
            s.stop(at, failure_text(failure));
            if s.blocker.is_none()
                && let Some(wait) = &failure.blocked_by
            {
                s.saw(wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn started(version: i64) -> RunEvent {
        RunEvent::MigrationStarted {
            version,
            description: "x".into(),
            direction: Direction::Apply,
            in_transaction: true,
            statements: 1,
        }
    }

    fn statement(version: i64, index: usize) -> RunEvent {
        RunEvent::StatementStarted {
            version,
            index,
            line: 1,
            text: "\n  ALTER TABLE t ADD c int;\n".into(),
        }
    }

    fn failure(index: usize, sqlstate: &str) -> Failure {
        Failure {
            statement: Some(index),
            line: Some(1),
            column: None,
            sqlstate: Some(sqlstate.into()),
            message: "canceling statement due to lock timeout".into(),
            detail: None,
            hint: None,
            in_transaction: true,
            partial: false,
            own_transactions: false,
            completed: vec![],
            blocked_by: None,
        }
    }

    #[test]
    fn a_retried_statement_gets_a_row_per_attempt_and_the_migration_counts_them() {
        let mut journal = Journal::default();
        journal.apply(at(0), &started(1));
        journal.apply(at(1), &statement(1, 0));
        journal.apply(
            at(3000),
            &RunEvent::Retrying {
                version: 1,
                direction: Direction::Apply,
                attempt: 1,
                retries: 3,
                delay: Duration::from_millis(500),
                failure: failure(0, "55P03"),
            },
        );
        journal.apply(at(3500), &statement(1, 0));
        journal.apply(
            at(3600),
            &RunEvent::StatementFinished {
                version: 1,
                index: 0,
                elapsed: Duration::from_millis(100),
                rows_affected: 0,
            },
        );
        journal.apply(
            at(3700),
            &RunEvent::MigrationFinished {
                version: 1,
                direction: Direction::Apply,
                elapsed: Duration::from_millis(3700),
            },
        );
        let statements: Vec<StatementRecord> = journal
            .statements
            .values()
            .map(|s| s.record.clone())
            .collect();
        let [first, second] = statements.as_slice() else {
            panic!("{statements:?}")
        };
        assert_eq!((first.attempt, second.attempt), (1, 2));
        assert!(first.error.as_deref().unwrap().contains("SQLSTATE 55P03"));
        assert_eq!(first.duration_ms, Some(2999.0));
        assert_eq!(second.duration_ms, Some(100.0));
        assert_eq!(second.error, None);
        assert_eq!(first.first_line, "ALTER TABLE t ADD c int;");
        let m = &journal.migrations[0].record;
        assert_eq!(
            (m.outcome, m.attempts, m.duration_ms),
            (Outcome::Succeeded, 2, Some(3700.0))
        );
        let changes = journal.take_changes();
        let written: serde_json::Value =
            serde_json::from_str(&changes.statements.unwrap()).unwrap();
        assert_eq!(written[1]["attempt"], 2);
        assert_eq!(written[1]["index"], 0);
        assert_eq!(written[1]["migration_seq"], 1);
        let migrations: serde_json::Value =
            serde_json::from_str(&changes.migrations.unwrap()).unwrap();
        assert_eq!(migrations[0]["seq"], 1);
        assert_eq!(migrations[0]["outcome"], "succeeded");
        assert_eq!(migrations[0]["attempts"], 2);
        assert!(journal.take_changes().statements.is_none());
        // Written and ended: forgotten, and the next statement still counts on.
        journal.forget_written();
        assert!(journal.statements.is_empty());
        journal.apply(at(4000), &started(2));
        journal.apply(at(4001), &statement(2, 0));
        assert_eq!(journal.statements.values().next().unwrap().seq, 3);
    }

    #[test]
    fn an_interrupt_stops_the_statement_in_flight() {
        let mut journal = Journal::default();
        journal.apply(at(0), &started(7));
        journal.apply(at(10), &statement(7, 0));
        journal.apply(
            at(1010),
            &RunEvent::MigrationInterrupted {
                version: 7,
                direction: Direction::Apply,
                in_transaction: true,
                completed: vec![],
            },
        );
        let statement = &journal.statements[&1].record;
        assert_eq!(statement.duration_ms, Some(1000.0));
        assert!(statement.error.is_some());
        assert_eq!(journal.migrations[0].record.outcome, Outcome::Interrupted);
    }

    #[test]
    fn first_lines_skip_blank_lines_and_are_shortened() {
        assert_eq!(first_line("\n\n  SELECT 1\n  FROM t"), "SELECT 1");
        let long = first_line(&"x".repeat(500));
        assert_eq!(long.chars().count(), SHORT);
        assert!(long.ends_with('…'));
    }
}
