//! The audit in words, for `lockstep history`, `lockstep status` and the dashboard alike. Text
//! from the database is returned as it is: the caller shows hidden characters as markers.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};

use super::read::{Applied, MigrationRecord, Outcome, RunRecord, StatementRecord};
use crate::format::{human_duration, one_line, sql_one_line};

/// A time in the local time zone: `2024-05-01 12:00:03`.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn millis(ms: f64) -> String {
    human_duration(Duration::from_secs_f64(ms.max(0.0) / 1e3))
}

/// Who ran it: `alice@laptop`, `alice`, `@laptop` or `someone`.
pub fn who(os_user: Option<&str>, host: Option<&str>) -> String {
    match (os_user, host) {
        (Some(user), Some(host)) => format!("{user}@{host}"),
        (Some(user), None) => user.to_string(),
        (None, Some(host)) => format!("someone@{host}"),
        (None, None) => "someone".to_string(),
    }
}

/// That the audit of run `id` could not be completed, and what that means for it.
pub fn incomplete(id: i64, error: &dyn std::fmt::Display) -> String {
    format!("the audit of run {id} is incomplete ({error}); it reads as interrupted")
}

/// What a run did, in a few words: `applied 1, 2, 3`, `reverted 5, failed to apply 6`,
/// `nothing to do`.
pub fn what_it_did(run: &RunRecord) -> String {
    let versions = |action: &str, outcome: Outcome| -> Vec<String> {
        run.migrations
            .iter()
            .filter(|m| m.action == action && m.outcome == outcome)
            .map(|m| m.version.to_string())
            .collect()
    };
    let mut parts = Vec::new();
    let mut say = |label: &str, versions: Vec<String>| {
        if !versions.is_empty() {
            parts.push(format!("{label} {}", versions.join(", ")));
        }
    };
    say("reverted", versions("revert", Outcome::Succeeded));
    say("applied", versions("apply", Outcome::Succeeded));
    say(
        "marked applied",
        versions("mark_applied", Outcome::Succeeded),
    );
    say(
        "marked rolled back",
        versions("mark_rolled_back", Outcome::Succeeded),
    );
    say("skipped", versions("apply", Outcome::Skipped));
    say("skipped revert of", versions("revert", Outcome::Skipped));
    for (action, verb) in [("apply", "apply"), ("revert", "revert")] {
        say(
            &format!("failed to {verb}"),
            versions(action, Outcome::Failed),
        );
        say(
            &format!("interrupted ({verb})"),
            versions(action, Outcome::Interrupted),
        );
        say(
            &format!("running ({verb})"),
            versions(action, Outcome::Running),
        );
    }
    if parts.is_empty() {
        match run.outcome {
            Outcome::Succeeded => "nothing to do".to_string(),
            _ => "no migration started".to_string(),
        }
    } else {
        parts.join(", ")
    }
}

/// One line per run, for a list: `#12 ✓ succeeded  2024-05-01 12:00:03  4.20 s  alice@laptop
/// lockstep up --to 5 · applied 1, 2, 3`.
pub fn run_line(run: &RunRecord) -> String {
    let duration = run.duration_ms.map(millis).unwrap_or_else(|| "—".into());
    format!(
        "#{:<4} {} {:<11} {}  {:>10}  {}  {} · {}",
        run.id,
        run.outcome.glyph(),
        run.outcome.label(),
        local_time(run.started_at),
        duration,
        who(run.os_user.as_deref(), run.host.as_deref()),
        one_line(&run.command, 60),
        what_it_did(run)
    )
}

/// Why a run counts as interrupted although it never said so.
pub const ENDED_UNRECORDED: &str = "lockstep stopped without recording how the run ended (killed, \
     or its connection to the database lost); a statement it had sent may still have been \
     running on the server: see `lockstep status`";

/// A run in full: who, where, when, how it ended, then each migration and its statements.
pub fn run_detail(run: &RunRecord) -> Vec<String> {
    let mut lines = vec![format!(
        "run {} · {} {} · {}",
        run.id,
        run.outcome.glyph(),
        run.outcome.label(),
        run.command
    )];
    lines.push(format!(
        "  by        {}, database user {}{}",
        who(run.os_user.as_deref(), run.host.as_deref()),
        run.database_user,
        run.environment
            .as_deref()
            .map(|e| format!(", environment {e}"))
            .unwrap_or_default()
    ));
    lines.push(format!(
        "  when      {} → {}",
        local_time(run.started_at),
        match (run.finished_at, run.duration_ms) {
            (Some(end), Some(ms)) => format!("{} ({})", local_time(end), millis(ms)),
            _ if run.outcome == Outcome::Running => "still running".to_string(),
            _ => "no end recorded".to_string(),
        }
    ));
    lines.push(format!("  lockstep  {}", run.lockstep_version));
    match (&run.snapshot, run.snapshot_skipped) {
        (Some(path), _) => lines.push(format!("  snapshot  {path}")),
        (None, true) => lines.push("  snapshot  skipped (--no-snapshot)".into()),
        (None, false) => {}
    }
    if run.ended_unrecorded {
        lines.push(format!("  note      {ENDED_UNRECORDED}"));
    }
    if let Some(error) = &run.error {
        let mut error_lines = error.lines();
        if let Some(first) = error_lines.next() {
            lines.push(format!("  error     {first}"));
        }
        lines.extend(error_lines.map(|l| format!("            {l}")));
    }
    for migration in &run.migrations {
        lines.push(migration_line(migration));
        for statement in &migration.statements {
            lines.extend(statement_lines(statement, migration.attempts > 1));
        }
        if let Some(message) = migration
            .message
            .as_deref()
            .filter(|_| migration.outcome == Outcome::Skipped)
        {
            lines.push(format!("      {message}"));
        }
    }
    lines
}

/// A migration of a run: `  ✓ apply 3 index name  120.4 ms (2 attempts)`.
pub fn migration_line(migration: &MigrationRecord) -> String {
    let action = match migration.action.as_str() {
        "mark_applied" => "resolve (applied)",
        "mark_rolled_back" => "resolve (rolled back)",
        other => other,
    };
    let mut line = format!(
        "  {} {action} {} {}",
        migration.outcome.glyph(),
        migration.version,
        migration.description
    );
    if migration.outcome != Outcome::Succeeded {
        line.push_str(&format!(" — {}", migration.outcome.label()));
    }
    if let Some(ms) = migration.duration_ms {
        line.push_str(&format!("  {}", millis(ms)));
    }
    if migration.attempts > 1 {
        line.push_str(&format!(" ({} attempts)", migration.attempts));
    }
    if migration.in_transaction == Some(false) {
        line.push_str(" [no transaction]");
    }
    line
}

/// A statement of a migration: its number, line, time, rows and first line; then what it waited
/// for and on whom, and its error.
pub fn statement_lines(statement: &StatementRecord, show_attempt: bool) -> Vec<String> {
    let attempt = if show_attempt {
        format!(" (attempt {})", statement.attempt)
    } else {
        String::new()
    };
    let duration = statement
        .duration_ms
        .map(millis)
        .unwrap_or_else(|| "—".into());
    let rows = statement
        .rows_affected
        .map(|r| format!("{r} row{}", if r == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let line = statement
        .line
        .map(|l| format!("line {l}"))
        .unwrap_or_default();
    let mut lines = vec![format!(
        "    {:>3} {:<9} {:>10} {:>10}  {}{attempt}",
        statement.index + 1,
        line,
        duration,
        rows,
        sql_one_line(&statement.first_line, 70)
    )];
    if let Some(wait) = statement.lock_wait_ms {
        let mut text = format!(
            "        ⏳ waited {} for {}",
            millis(wait),
            statement.waiting_for.as_deref().unwrap_or("a lock")
        );
        if let Some(blocker) = &statement.blocker {
            let who: Vec<&str> = blocker
                .user
                .as_deref()
                .into_iter()
                .chain(blocker.application.as_deref())
                .collect();
            text.push_str(&format!(", held by pid {}", blocker.pid));
            if !who.is_empty() {
                text.push_str(&format!(" ({})", who.join(" · ")));
            }
            if let Some(query) = &blocker.query {
                text.push_str(&format!(": {}", one_line(query, 80)));
            }
        }
        lines.push(text);
    }
    if let Some(error) = &statement.error {
        lines.push(format!("        ✗ {}", one_line(error, 120)));
    }
    lines
}

/// Who applied a version, for `status`: `by alice@laptop, run 12` (`resolved by …` when
/// `resolve` recorded it), or `None` when only the history row says it was applied.
pub fn applied_by(applied: &Applied) -> Option<String> {
    let by = applied.by.as_ref()?;
    Some(format!(
        "{} {}, run {}",
        if by.resolved { "resolved by" } else { "by" },
        who(by.os_user.as_deref(), by.host.as_deref()),
        by.run_id
    ))
}

/// When a version was applied and by whom, as a sentence (the dashboard's preview): `applied by
/// deploy at 2026-05-01 12:00:03 in production (alice@laptop, run 12)` — the database user,
/// then the operating-system account, host and run when the audit recorded the apply; `marked
/// applied by …` when `resolve --applied` did; else when the history row says it was applied
/// (sqlx, or lockstep with the audit off, do not record who).
pub fn applied_sentence(applied: &Applied) -> String {
    let at = local_time(applied.at);
    match &applied.by {
        Some(by) => format!(
            "{} by {} at {at}{} ({}, run {})",
            if by.resolved {
                "marked applied"
            } else {
                "applied"
            },
            by.database_user,
            by.environment
                .as_deref()
                .map(|env| format!(" in {env}"))
                .unwrap_or_default(),
            who(by.os_user.as_deref(), by.host.as_deref()),
            by.run_id
        ),
        None => format!("applied at {at}; who applied it is not recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AppliedBy;

    #[test]
    fn the_applied_sentence_names_who_when_and_the_run() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let by = AppliedBy {
            run_id: 12,
            os_user: Some("alice".into()),
            host: Some("laptop".into()),
            database_user: "deploy".into(),
            command: "lockstep up".into(),
            environment: None,
            resolved: false,
        };
        let audit = |by: AppliedBy| Applied {
            source: "audit",
            at,
            by: Some(by),
        };
        let when = local_time(at);
        assert_eq!(
            applied_sentence(&audit(by.clone())),
            format!("applied by deploy at {when} (alice@laptop, run 12)")
        );
        assert_eq!(
            applied_sentence(&audit(AppliedBy {
                environment: Some("production".into()),
                resolved: true,
                host: None,
                ..by
            })),
            format!("marked applied by deploy at {when} in production (alice, run 12)")
        );
        let history = Applied {
            source: "history",
            at,
            by: None,
        };
        assert_eq!(
            applied_sentence(&history),
            format!("applied at {when}; who applied it is not recorded")
        );
    }
}
