//! The words for a plan and for a run's events: written once here, and shown by the dry run, the
//! CLI's run log, the dashboard's confirmation and its run log. Text only: each front end picks
//! colours by [`LogKind`] and shows hidden characters its own way.

use std::time::Duration;

use super::events::RunEvent;
use super::plan::{Direction, Plan, Step};
use super::tally::Stopped;
use crate::format::{human_duration, sql_one_line};
use crate::monitor::LockWait;
use crate::monitor::render::wait_lines;

/// `1 statement`, `2 statements`: a count with its noun, singular or plural.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// How a step runs: `in one transaction`, or what running outside one means for it.
pub fn transaction_mode(step: &Step) -> String {
    match step.segments.as_slice() {
        _ if step.in_transaction => "in one transaction".to_string(),
        _ if step.own_transactions() => "AS WRITTEN: its own BEGIN/COMMIT, a statement at a \
                                          time; the history row says success = FALSE until the \
                                          last one"
            .to_string(),
        [] => "-- no-transaction, no statements".to_string(),
        [one] if one.is_transaction() => "-- no-transaction, but every statement may run in a \
                                          transaction: one transaction, as sqlx runs it"
            .to_string(),
        segments => format!(
            "NO TRANSACTION: {}; the history row says success = FALSE until the last one commits",
            count(segments.len(), "segment", "segments")
        ),
    }
}

/// A short transaction mode for a step: `one transaction` or `no transaction`.
pub fn short_mode(in_transaction: bool) -> &'static str {
    if in_transaction {
        "in one transaction"
    } else {
        "no transaction"
    }
}

/// The heading of one migration of a run: `apply 9 index users by email (in one transaction;
/// 2 statements)`.
pub fn heading(
    direction: Direction,
    version: i64,
    description: &str,
    mode: &str,
    statements: usize,
) -> String {
    format!(
        "{} {version} {description} ({mode}; {})",
        direction.verb(),
        count(statements, "statement", "statements")
    )
}

/// [`heading`] for a planned step, with its full transaction mode.
pub fn step_heading(step: &Step) -> String {
    heading(
        step.direction,
        step.version,
        &step.description,
        &transaction_mode(step),
        step.statements.len(),
    )
}

/// What a plan runs, in one line: `apply 3 migrations (2 in one transaction, 1 without a
/// transaction)`; a redo says both directions.
pub fn plan_summary(plan: &Plan) -> String {
    let mut parts = Vec::new();
    for direction in [Direction::Revert, Direction::Apply] {
        let steps: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| s.direction == direction)
            .collect();
        if steps.is_empty() {
            continue;
        }
        let outside = steps.iter().filter(|s| !s.in_transaction).count();
        let statements: usize = steps.iter().map(|s| s.statements.len()).sum();
        // Outside one transaction: `-- no-transaction`, or the file's own BEGIN/COMMIT.
        let how = match steps
            .iter()
            .filter(|s| !s.in_transaction)
            .all(|s| s.own_transactions())
        {
            true if outside == 1 => "in its own BEGIN/COMMIT",
            true => "in their own BEGIN/COMMIT",
            false if steps.iter().any(|s| s.own_transactions()) => {
                "-- no-transaction or in their own BEGIN/COMMIT"
            }
            false => "-- no-transaction",
        };
        let modes = match (steps.len() - outside, outside) {
            (_, 0) => "each in one transaction".to_string(),
            (0, n) => format!("{} {how}", if n == 1 { "it runs" } else { "all run" }),
            (inside, outside) => {
                format!("{inside} in one transaction, {outside} {how} (not rolled back on failure)")
            }
        };
        parts.push(format!(
            "{} {}, {} ({modes})",
            direction.verb(),
            count(steps.len(), "migration", "migrations"),
            count(statements, "statement", "statements"),
        ));
    }
    if parts.is_empty() {
        return "nothing to do".to_string();
    }
    parts.join(", then ")
}

/// What a line of a run's log is, for its colour (and, in the CLI, its stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A migration starts.
    Heading,
    /// A statement completed.
    Statement,
    /// Waiting for a lock, or about to retry.
    Waiting,
    /// A migration completed, or the run did.
    Done,
    /// A failure or an interruption.
    Error,
    /// Anything else: how the run connected.
    Info,
}

impl LogKind {
    /// Whether the line reports a wait or how the run connected (the CLI writes those to
    /// stderr).
    pub fn is_diagnostic(self) -> bool {
        matches!(self, LogKind::Waiting | LogKind::Info)
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its kind.
    pub kind: LogKind,
    /// Its text, indented under its migration where it belongs to one. May hold hidden
    /// characters (migration or server text): show it through the hidden-character helpers.
    pub text: String,
    /// A duration shown right-aligned after the text (a statement's or a migration's).
    pub timing: Option<String>,
}

impl LogLine {
    /// A line without timing.
    pub fn new(kind: LogKind, text: impl Into<String>) -> LogLine {
        LogLine {
            kind,
            text: text.into(),
            timing: None,
        }
    }

    fn timed(kind: LogKind, text: String, elapsed: Duration) -> LogLine {
        LogLine {
            kind,
            text,
            timing: Some(human_duration(elapsed)),
        }
    }
}

/// Every line of `text` as a log line of `kind`, each indented by `indent` (multi-line server
/// messages keep their line breaks as separate lines).
pub fn lines_of(kind: LogKind, indent: &str, text: &str) -> Vec<LogLine> {
    text.lines()
        .map(|line| LogLine::new(kind, format!("{indent}{line}")))
        .collect()
}

/// Turns a run's events into its log, as the CLI prints it and the dashboard shows it. Keeps
/// what it needs between events (the running statement's text, the last wait shown).
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    statement: String,
    holder: Option<(i32, Option<String>)>,
    wait: Option<(String, Duration)>,
    /// Show an unchanged lock wait again after this long (`None`: only when it changes).
    pub reprint_wait: Option<Duration>,
}

/// How often the CLI prints an unchanged lock wait again.
pub const WAIT_REPRINT: Duration = Duration::from_secs(5);

impl RunLog {
    /// A log that shows an unchanged lock wait again every `reprint_wait`.
    pub fn new(reprint_wait: Option<Duration>) -> RunLog {
        RunLog {
            reprint_wait,
            ..RunLog::default()
        }
    }

    /// The lines `event` adds to the log (often none).
    pub fn lines(&mut self, event: &RunEvent) -> Vec<LogLine> {
        match event {
            RunEvent::Connected { pooling, .. } if !pooling.keeps_sessions() => {
                vec![LogLine::new(
                    LogKind::Info,
                    format!(
                        "connected {}; --pooled: each migration takes the migration lock in its \
                         own transaction",
                        pooling.summary()
                    ),
                )]
            }
            RunEvent::Connected { .. } | RunEvent::LockAcquired { .. } => Vec::new(),
            // On stdout with the run's progress (as the CLI printed it before the run log).
            RunEvent::DataKept { .. } => crate::guard::describe_kept(event)
                .map(|text| lines_of(LogKind::Done, "  ", &text))
                .unwrap_or_default(),
            RunEvent::MigrationSkipped {
                version, reason, ..
            } => vec![LogLine::new(
                LogKind::Done,
                format!("skip {version}: {reason}"),
            )],
            RunEvent::LockWaiting { holder, limit, .. } => {
                let who = holder.as_ref().map(|h| (h.pid, h.state.clone()));
                if who == self.holder {
                    return Vec::new();
                }
                self.holder = who;
                let holder = holder
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "another session".into());
                vec![LogLine::new(
                    LogKind::Waiting,
                    format!(
                        "waiting up to {} for the migration lock, held by {holder}",
                        human_duration(*limit)
                    ),
                )]
            }
            RunEvent::MigrationStarted {
                version,
                description,
                direction,
                in_transaction,
                statements,
            } => vec![LogLine::new(
                LogKind::Heading,
                heading(
                    *direction,
                    *version,
                    description,
                    short_mode(*in_transaction),
                    *statements,
                ),
            )],
            RunEvent::StatementStarted { text, .. } => {
                self.statement = text.clone();
                self.wait = None;
                Vec::new()
            }
            RunEvent::StatementWaiting {
                index,
                waited,
                wait,
                ..
            } => {
                let lines = wait_lines(wait, None);
                let key = wait_key(wait);
                let due = match (&self.wait, self.reprint_wait) {
                    (None, _) => true,
                    (Some((previous, _)), _) if *previous != key => true,
                    (Some((_, at)), Some(every)) => waited.saturating_sub(*at) >= every,
                    (Some(_), None) => false,
                };
                if !due {
                    return Vec::new();
                }
                self.wait = Some((key, *waited));
                let first = &wait_lines(wait, Some(*waited))[0];
                let mut out = vec![LogLine::new(
                    LogKind::Waiting,
                    format!("  ⏳ statement {} {first}", index + 1),
                )];
                out.extend(
                    lines[1..]
                        .iter()
                        .map(|l| LogLine::new(LogKind::Waiting, format!("     {l}"))),
                );
                out
            }
            RunEvent::StatementFinished { index, elapsed, .. } => vec![LogLine::timed(
                LogKind::Statement,
                format!("  {:>3}  {}", index + 1, sql_one_line(&self.statement, 200)),
                *elapsed,
            )],
            RunEvent::MigrationFinished {
                version,
                direction,
                elapsed,
            } => vec![LogLine::timed(
                LogKind::Done,
                format!(
                    "  {} {version}",
                    match direction {
                        Direction::Apply => "applied",
                        Direction::Revert => "reverted",
                    }
                ),
                *elapsed,
            )],
            RunEvent::Retrying {
                attempt,
                retries,
                delay,
                failure,
                ..
            } => {
                let mut out = lines_of(
                    LogKind::Waiting,
                    "  ",
                    &format!("gave up on a lock at {failure}"),
                );
                out.push(LogLine::new(
                    LogKind::Waiting,
                    format!(
                        "  rolled back; retry {attempt} of {retries} in {}",
                        human_duration(*delay)
                    ),
                ));
                out
            }
            RunEvent::MigrationInterrupted { .. } => Stopped::from_event(event)
                .map(|stopped| {
                    vec![LogLine::new(
                        LogKind::Error,
                        format!("  interrupted: {}", stopped.describe()),
                    )]
                })
                .unwrap_or_default(),
            RunEvent::MigrationFailed { failure, .. } => {
                let mut out = Vec::new();
                if failure.statement.is_some() {
                    out.push(LogLine::new(
                        LogKind::Error,
                        format!("  failed: {}", sql_one_line(&self.statement, 200)),
                    ));
                }
                out.extend(lines_of(LogKind::Error, "  ", &format!("at {failure}")));
                if let Some(stopped) = Stopped::from_event(event) {
                    out.push(LogLine::new(
                        LogKind::Error,
                        format!("  {}", stopped.describe()),
                    ));
                }
                out
            }
        }
    }
}

/// What a lock wait is, for telling a new one from the same one sampled again: what is waited
/// for, on whom (pid, state, query) and how many queue behind — without the ages, which change
/// with every sample.
fn wait_key(wait: &LockWait) -> String {
    let mut steady = wait.clone();
    for session in steady
        .blockers
        .iter_mut()
        .filter_map(|b| b.session.as_mut())
    {
        session.backend_age_secs = None;
        session.xact_age_secs = None;
        session.query_age_secs = None;
        session.state_age_secs = None;
    }
    wait_lines(&steady, None).join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Failure;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "statement", "statements"), "1 statement");
        assert_eq!(count(2, "statement", "statements"), "2 statements");
        assert_eq!(count(0, "statement", "statements"), "0 statements");
    }

    fn waiting(waited_ms: u64, blocker_pid: i32, xact_age: f64) -> RunEvent {
        use crate::monitor::{HeldLock, RelatedSession, Session};
        RunEvent::StatementWaiting {
            version: 7,
            index: 1,
            waited: Duration::from_millis(waited_ms),
            wait: LockWait {
                waiting_for: vec![HeldLock {
                    locktype: "relation".into(),
                    mode: "AccessExclusiveLock".into(),
                    granted: false,
                    relation: Some("users".into()),
                    advisory_key: None,
                    transaction_id: None,
                }],
                blockers: vec![RelatedSession {
                    pid: blocker_pid,
                    session: Some(Session {
                        pid: blocker_pid,
                        datname: None,
                        user: Some("alice".into()),
                        application_name: Some("psql".into()),
                        client: None,
                        backend_type: None,
                        state: Some("idle in transaction".into()),
                        wait_event_type: None,
                        wait_event: None,
                        backend_age_secs: Some(xact_age),
                        xact_age_secs: Some(xact_age),
                        query_age_secs: Some(xact_age),
                        state_age_secs: Some(xact_age),
                        leader_pid: None,
                        query: Some("SELECT 1".into()),
                        is_lockstep: false,
                        via_pooler: false,
                        idle_in_transaction_too_long: false,
                    }),
                }],
                queued_behind: 0,
            },
        }
    }

    #[test]
    fn a_lock_wait_is_logged_once_while_only_its_ages_change() {
        let mut log = RunLog::default();
        let first = log.lines(&waiting(500, 77, 10.0));
        assert_eq!(first.len(), 3, "{first:?}");
        assert!(
            first[0].text.contains("for ACCESS EXCLUSIVE on users"),
            "{first:?}"
        );
        assert!(first[1].text.contains("transaction 10.0s"), "{first:?}");
        assert!(
            log.lines(&waiting(1000, 77, 10.5)).is_empty(),
            "the same wait, older"
        );
        let other = log.lines(&waiting(1500, 78, 3.0));
        assert!(
            other[1].text.contains("pid 78"),
            "another blocker: {other:?}"
        );
        // The CLI shows an unchanged wait again after a while.
        let mut cli = RunLog::new(Some(Duration::from_secs(5)));
        assert!(!cli.lines(&waiting(500, 77, 10.0)).is_empty());
        assert!(cli.lines(&waiting(1000, 77, 10.5)).is_empty());
        assert!(!cli.lines(&waiting(5600, 77, 15.1)).is_empty());
    }

    #[test]
    fn a_failure_keeps_each_line_of_the_server_message_apart() {
        let mut log = RunLog::default();
        log.lines(&RunEvent::StatementStarted {
            version: 7,
            index: 0,
            line: 1,
            text: "ALTER TABLE t ADD COLUMN x int".into(),
        });
        let lines = log.lines(&RunEvent::MigrationFailed {
            version: 7,
            direction: Direction::Apply,
            failure: Failure {
                statement: Some(0),
                line: Some(1),
                column: None,
                sqlstate: Some("57014".into()),
                message: "canceling statement due to user request".into(),
                detail: Some("more".into()),
                hint: None,
                in_transaction: true,
                partial: false,
                own_transactions: false,
                completed: vec![],
                blocked_by: None,
            },
        });
        let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            text,
            [
                "  failed: ALTER TABLE t ADD COLUMN x int",
                "  at statement 1 (line 1): canceling statement due to user request (SQLSTATE 57014)",
                "    detail: more",
                "  migration 7 rolled back",
            ]
        );
        assert!(lines.iter().all(|l| !l.text.contains('\n')));
    }
}
