//! A rehearsal for people: the same lines for the CLI and the dashboard, as spans of text with a
//! tone each (the front end picks the colours, and shows hidden characters as markers). Columns
//! are padded by visible width, markers included.

use super::compare::{HeldLock, ObservedLock};
use super::events::{PhaseName, RehearsalEvent};
use super::report::{
    MigrationRehearsal, Outcome, Phase, RehearsalReport, Source, StatementRehearsal, Verdict,
};
use crate::format::{human_duration, sql_one_line};
use crate::text::visible::width;

/// How a span should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Ordinary text.
    Plain,
    /// Secondary text.
    Dim,
    /// Headings: a migration's version and description.
    Strong,
    /// Success.
    Good,
    /// Failure.
    Bad,
    /// Worth a look: disagreements, data loss, not reversible.
    Warn,
}

/// A piece of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Its tone.
    pub tone: Tone,
    /// Its text (may hold hidden characters: show them as markers).
    pub text: String,
}

/// One line.
pub type Line = Vec<Span>;

fn span(tone: Tone, text: impl Into<String>) -> Span {
    Span {
        tone,
        text: text.into(),
    }
}

/// `text` padded with spaces to `columns` visible columns.
fn padded(text: &str, columns: usize) -> String {
    format!("{text}{}", " ".repeat(columns.saturating_sub(width(text))))
}

fn millis(ms: f64) -> String {
    human_duration(std::time::Duration::from_secs_f64(ms.max(0.0) / 1e3))
}

/// What was rehearsed where: the copy, the scratch server, warnings.
pub fn header(report: &RehearsalReport) -> Vec<Line> {
    let mut out = Vec::new();
    let on = format!(
        "on {} (PostgreSQL {})",
        report.server.server, report.server.server_version
    );
    match &report.source {
        Source::Copy(copy) => {
            let mut text = format!(
                "Rehearsed {on}, on a copy of the schema of {} (PostgreSQL {}, read through a \
                 read-only session): {} table{}, {} history row{}",
                copy.database,
                copy.server_version,
                copy.tables,
                plural(copy.tables as u64),
                copy.history_rows,
                plural(copy.history_rows),
            );
            if copy.sample_rows > 0 {
                text.push_str(&format!(
                    ", {} sample row{}",
                    copy.sample_rows,
                    plural(copy.sample_rows)
                ));
            } else {
                text.push_str(", no data");
            }
            text.push_str(&format!(" (copied in {})", millis(copy.elapsed_ms)));
            out.push(vec![span(Tone::Dim, text)]);
            for warning in &copy.warnings {
                out.push(vec![span(Tone::Warn, format!("⚠ copy: {warning}"))]);
            }
        }
        Source::Empty => out.push(vec![span(
            Tone::Dim,
            format!("Rehearsed {on}, on an empty database (no database is configured)"),
        )]),
        Source::All => out.push(vec![span(
            Tone::Dim,
            format!(
                "Rehearsed {on}: the whole history from an empty database (up all, down all in \
                 reverse, up all)"
            ),
        )]),
    }
    if let Some(warning) = &report.server.warning {
        out.push(vec![span(Tone::Warn, format!("⚠ {warning}"))]);
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How a verdict looks: a round trip good, not reversible worth a look, a failure bad.
pub fn verdict_tone(verdict: Verdict) -> Tone {
    match verdict {
        Verdict::RoundTrip => Tone::Good,
        Verdict::NotReversible => Tone::Warn,
        Verdict::Failed => Tone::Bad,
        Verdict::NotRun => Tone::Dim,
    }
}

/// One phase in a few words: `up ✓ 3.1 ms`, `down ✗ 2 differences`; with `good` after a ✓.
/// `None` for `good`: the brief form, without what a ✓ means and without the time.
fn phase_spans(name: &str, phase: &Phase, good: Option<&str>) -> Vec<Span> {
    let brief = good.is_none();
    let good = good.unwrap_or_default();
    let elapsed = || {
        if brief {
            String::new()
        } else {
            format!(" ({})", millis(phase.elapsed_ms))
        }
    };
    match &phase.outcome {
        Outcome::Ok => vec![
            span(Tone::Plain, format!("{name} ")),
            span(Tone::Good, format!("✓{good}")),
            span(Tone::Dim, elapsed()),
        ],
        Outcome::Differs { differences } => vec![
            span(Tone::Plain, format!("{name} ")),
            span(
                Tone::Bad,
                format!(
                    "✗ {} difference{}",
                    differences.len(),
                    plural(differences.len() as u64)
                ),
            ),
            span(Tone::Dim, elapsed()),
        ],
        Outcome::Failed { .. } => vec![
            span(Tone::Plain, format!("{name} ")),
            span(Tone::Bad, "✗ failed"),
            span(Tone::Dim, elapsed()),
        ],
        Outcome::NotReversible { reason } => vec![
            span(Tone::Plain, format!("{name} ")),
            span(Tone::Warn, format!("∅ not reversible: {reason}")),
        ],
        Outcome::NotRun { reason } => vec![span(Tone::Dim, format!("{name} · {reason}"))],
    }
}

/// Width of the statement column.
const STATEMENT_COLUMNS: usize = 58;
/// Width of the relation column of a lock row, at least.
const TARGET_COLUMNS: usize = 24;
/// Width of the observed-lock column.
const OBSERVED_COLUMNS: usize = 40;

/// A migration's block: the verdict line, the phases, a row per statement with the observed
/// locks beside the predicted ones, then disagreements, differences, data loss and failures.
pub fn migration(rehearsal: &MigrationRehearsal, require_down: bool) -> Vec<Line> {
    let mut out = vec![
        verdict_line(rehearsal, require_down),
        phases_line(rehearsal),
    ];
    out.extend(statement_table(rehearsal));
    out.extend(findings(rehearsal));
    out
}

/// A migration's block without its statement table: the verdict line, the phases, then
/// disagreements, differences, data loss and failures (for a narrow pane).
pub fn migration_brief(rehearsal: &MigrationRehearsal, require_down: bool) -> Vec<Line> {
    let mut out = vec![
        verdict_line(rehearsal, require_down),
        phases_line(rehearsal),
    ];
    out.extend(findings(rehearsal));
    out
}

/// The disagreements, the differences and failures of every phase, and data loss.
fn findings(rehearsal: &MigrationRehearsal) -> Vec<Line> {
    let mut out = disagreement_lines(rehearsal);
    out.extend(outcome_lines(
        rehearsal,
        &[PhaseName::Up, PhaseName::Down, PhaseName::UpAgain],
    ));
    out.extend(data_loss_lines(rehearsal));
    out
}

/// `✓ 12 add users`: the verdict's glyph, the version and the description.
pub fn verdict_line(rehearsal: &MigrationRehearsal, require_down: bool) -> Line {
    let verdict = rehearsal.verdict(require_down);
    vec![
        span(verdict_tone(verdict), format!("{} ", verdict.glyph())),
        span(
            Tone::Strong,
            format!("{} {}", rehearsal.version, rehearsal.description),
        ),
        span(
            Tone::Dim,
            if rehearsal.in_transaction {
                ""
            } else {
                "  (no transaction)"
            },
        ),
    ]
}

/// Why none of the migration's phases ran, when none did for one reason (an earlier migration
/// stopped the rehearsal): said once rather than for each phase.
fn not_run(rehearsal: &MigrationRehearsal) -> Option<&str> {
    fn reason(phase: &Phase) -> Option<&str> {
        match &phase.outcome {
            Outcome::NotRun { reason } => Some(reason.as_str()),
            _ => None,
        }
    }
    let up = reason(&rehearsal.up)?;
    (reason(&rehearsal.down) == Some(up) && reason(&rehearsal.up_again) == Some(up)).then_some(up)
}

/// `    up ✓ (3.1 ms) · down ✓ restores the schema (…) · up again ✓ same schema (…)`.
pub fn phases_line(rehearsal: &MigrationRehearsal) -> Line {
    if let Some(reason) = not_run(rehearsal) {
        return vec![span(Tone::Dim, format!("    not run: {reason}"))];
    }
    let mut phases = vec![span(Tone::Plain, "    ")];
    phases.extend(phase_spans("up", &rehearsal.up, Some("")));
    phases.push(span(Tone::Dim, " · "));
    phases.extend(phase_spans(
        "down",
        &rehearsal.down,
        Some(" restores the schema"),
    ));
    phases.push(span(Tone::Dim, " · "));
    phases.extend(phase_spans(
        "up again",
        &rehearsal.up_again,
        Some(" same schema"),
    ));
    phases
}

/// `up ✓ · down ✗ 1 difference · up again ✗ failed`: the phases without times, for a narrow
/// place.
pub fn phases_brief(rehearsal: &MigrationRehearsal) -> Line {
    if let Some(reason) = not_run(rehearsal) {
        return vec![span(Tone::Dim, format!("not run: {reason}"))];
    }
    let mut phases = phase_spans("up", &rehearsal.up, None);
    phases.push(span(Tone::Dim, " · "));
    phases.extend(phase_spans("down", &rehearsal.down, None));
    phases.push(span(Tone::Dim, " · "));
    phases.extend(phase_spans("up again", &rehearsal.up_again, None));
    phases
}

/// The statement table: a row per statement (time, rows) and a row per relation it locked or
/// was predicted to lock, observed beside predicted.
fn statement_table(rehearsal: &MigrationRehearsal) -> Vec<Line> {
    let mut out = Vec::new();
    if !rehearsal.statements.is_empty() {
        out.push(vec![span(
            Tone::Dim,
            format!(
                "    {:>3}  {:>5}  {}{:>10}  {:>8}",
                "#",
                "line",
                padded("statement", STATEMENT_COLUMNS),
                "time",
                "rows"
            ),
        )]);
    }
    // The relation column fits the longest name (two spaces after it), so no name runs into
    // the observed lock beside it.
    let names = rehearsal.statements.iter().flat_map(|statement| {
        let observed = statement.observed.iter().map(|o| width(&o.target));
        observed.chain(
            statement
                .predicted
                .iter()
                .map(|p| width(&p.traced_target())),
        )
    });
    let target_columns = names.map(|w| w + 2).fold(TARGET_COLUMNS, usize::max);
    for statement in &rehearsal.statements {
        out.extend(statement_lines(statement, target_columns));
    }
    out
}

/// `    ≠ statement 2 (line 4): the server took …`, one per disagreement with the analysis.
pub fn disagreement_lines(rehearsal: &MigrationRehearsal) -> Vec<Line> {
    rehearsal
        .disagreements()
        .map(|(statement, disagreement)| {
            vec![span(
                Tone::Warn,
                format!(
                    "    ≠ statement {} (line {}): {}",
                    statement.index + 1,
                    statement.line,
                    disagreement.message
                ),
            )]
        })
        .collect()
}

/// The differences a phase left and how a phase failed, for the `phases` asked for.
pub fn outcome_lines(rehearsal: &MigrationRehearsal, phases: &[PhaseName]) -> Vec<Line> {
    let mut out = Vec::new();
    for (phase, name) in [
        (&rehearsal.up, PhaseName::Up),
        (&rehearsal.down, PhaseName::Down),
        (&rehearsal.up_again, PhaseName::UpAgain),
    ] {
        if !phases.contains(&name) {
            continue;
        }
        match &phase.outcome {
            Outcome::Differs { differences } => {
                for difference in differences {
                    out.push(vec![span(
                        Tone::Bad,
                        format!("    ✗ {}", difference.message),
                    )]);
                }
            }
            Outcome::Failed { failure, statement } => {
                let mut lines = failure
                    .to_string()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>();
                if let Some(first) = lines.first_mut() {
                    *first = format!("    ✗ {} failed at {first}", name.label());
                }
                for line in lines.iter_mut().skip(1) {
                    *line = format!("      {}", line.trim_start());
                }
                out.extend(lines.into_iter().map(|l| vec![span(Tone::Bad, l)]));
                if let Some(statement) = statement {
                    out.push(vec![span(
                        Tone::Dim,
                        format!("      {}", sql_one_line(statement, 100)),
                    )]);
                }
            }
            _ => {}
        }
    }
    out
}

/// `    ⚠ data loss: DOWN drops column …`, one per table or column the DOWN drops with data.
pub fn data_loss_lines(rehearsal: &MigrationRehearsal) -> Vec<Line> {
    rehearsal
        .data_loss
        .iter()
        .map(|loss| {
            vec![span(
                Tone::Warn,
                format!("    ⚠ data loss: {}", loss.message),
            )]
        })
        .collect()
}

fn statement_lines(statement: &StatementRehearsal, target_columns: usize) -> Vec<Line> {
    let mut out = vec![vec![
        span(
            Tone::Dim,
            format!("    {:>3}  {:>5}  ", statement.index + 1, statement.line),
        ),
        span(
            Tone::Plain,
            padded(
                &sql_one_line(&statement.text, STATEMENT_COLUMNS - 2),
                STATEMENT_COLUMNS,
            ),
        ),
        span(
            Tone::Dim,
            format!(
                "{:>10}  {:>8}",
                millis(statement.elapsed_ms),
                statement.rows_affected
            ),
        ),
    ]];
    let mut targets: Vec<(String, bool)> = statement
        .observed
        .iter()
        .map(|o| (o.target.clone(), o.object))
        .collect();
    for predicted in &statement.predicted {
        let target = predicted.traced_target();
        if !targets
            .iter()
            .any(|(t, o)| *t == target && *o == predicted.object)
        {
            targets.push((target, predicted.object));
        }
    }
    for (target, object) in targets {
        let observed = statement
            .observed
            .iter()
            .find(|o| o.object == object && o.target == target);
        let predicted = statement
            .predicted
            .iter()
            .find(|p| p.object == object && p.traced_target() == target);
        let rewritten = !object && statement.rewritten.contains(&target);
        let disagrees = disagrees_on(statement, &target, object);
        let held = held_on(statement, &target, object);
        let seen = match observed {
            Some(lock) => observed_text(lock, rewritten, statement.sampled),
            None if rewritten => "observed rewrite".into(),
            // Sampling can miss a brief lock: say what was seen, not what was taken.
            None if statement.sampled => "none seen (sampled)".into(),
            // Taken by an earlier statement: the server shows it no new.
            None => held.map_or_else(
                || "observed no new lock".into(),
                HeldLock::since_statement_text,
            ),
        };
        let expected = match predicted {
            Some(p) => format!(
                "predicted {}{}{}",
                p.mode,
                if p.rewrite { ", rewrite" } else { "" },
                // A weaker lock seen where the predicted one was held already.
                match (observed, held) {
                    (Some(_), Some(h)) => format!(" ({})", h.since_statement_text()),
                    _ => String::new(),
                }
            ),
            None => "not predicted".into(),
        };
        out.push(vec![
            span(Tone::Plain, format!("{:>16}", "")),
            span(Tone::Plain, padded(&target, target_columns)),
            span(
                if disagrees { Tone::Warn } else { Tone::Plain },
                padded(&seen, OBSERVED_COLUMNS - 2) + "  ",
            ),
            span(Tone::Dim, expected),
            span(Tone::Warn, if disagrees { "  ≠" } else { "" }),
        ]);
    }
    out
}

/// Whether the server and the analysis disagree about the statement's lock on `target` (a
/// relation, or the object `type mood` when `object`).
pub fn disagrees_on(statement: &StatementRehearsal, target: &str, object: bool) -> bool {
    statement
        .disagreements
        .iter()
        .any(|d| d.target == target || (object && target.ends_with(&d.target)))
}

/// The predicted lock on `target` (a relation, or `type mood` when `object`) that an earlier
/// statement of the transaction had taken already.
pub fn held_on<'a>(
    statement: &'a StatementRehearsal,
    target: &str,
    object: bool,
) -> Option<&'a HeldLock> {
    statement
        .held
        .iter()
        .find(|h| h.object == object && h.target == target)
}

fn observed_text(lock: &ObservedLock, rewritten: bool, sampled: bool) -> String {
    format!(
        "observed {}{}{}{}",
        lock.mode,
        if rewritten { ", rewrite" } else { "" },
        if lock.granted { "" } else { " (waited)" },
        if sampled { " (sampled)" } else { "" },
    )
}

/// The last line: counts and what the exit code means.
pub fn summary(report: &RehearsalReport) -> Line {
    if report.migrations.is_empty() {
        return vec![span(
            Tone::Good,
            "nothing to rehearse: no migration is pending".to_string(),
        )];
    }
    let t = &report.timings;
    let text = format!(
        "rehearsed {} migration{} in {} (scratch server {}, copy {}, migrations {}, cleanup {}): \
         {}",
        report.migrations.len(),
        plural(report.migrations.len() as u64),
        millis(report.elapsed_ms),
        millis(t.prepare_ms),
        millis(t.copy_ms),
        millis(t.migrations_ms),
        millis(t.cleanup_ms),
        verdicts(report),
    );
    let tone = match report.exit_code() {
        0 => Tone::Good,
        1 => Tone::Bad,
        _ => Tone::Warn,
    };
    vec![span(tone, text)]
}

/// What a rehearsal found, counted: `3 round trips ✓, 1 failed ✗; 1 disagreement with the
/// static analysis`.
pub fn verdicts(report: &RehearsalReport) -> String {
    let count = |verdict: Verdict| {
        report
            .migrations
            .iter()
            .filter(|m| m.verdict(report.require_down) == verdict)
            .count()
    };
    let (trips, irreversible, failed, not_run) = (
        count(Verdict::RoundTrip),
        count(Verdict::NotReversible),
        count(Verdict::Failed),
        count(Verdict::NotRun),
    );
    let disagreements = report.disagreement_count();
    let losses: usize = report.migrations.iter().map(|m| m.data_loss.len()).sum();
    let mut text = format!("{trips} round trip{} ✓", plural(trips as u64));
    if irreversible > 0 {
        text.push_str(&format!(", {irreversible} not reversible ∅"));
    }
    if failed > 0 {
        text.push_str(&format!(", {failed} failed ✗"));
    }
    if not_run > 0 {
        text.push_str(&format!(", {not_run} not run"));
    }
    text.push_str(&format!(
        "; {disagreements} disagreement{} with the static analysis",
        plural(disagreements as u64)
    ));
    if losses > 0 {
        text.push_str(&format!(
            "; {losses} DOWN data loss{}",
            if losses == 1 { "" } else { "es" }
        ));
    }
    text
}

/// A progress line for an event, for a run pane or a terminal: `▶ 12 add users: down…`.
pub fn progress(event: &RehearsalEvent) -> Option<Line> {
    match event {
        RehearsalEvent::Preparing { what } => Some(vec![span(Tone::Dim, format!("{what}…"))]),
        RehearsalEvent::PhaseStarted {
            version,
            description,
            phase,
            statements,
        } => Some(vec![span(
            Tone::Plain,
            format!(
                "▶ {version} {description}: {}{} ({statements} statement{})",
                phase.label(),
                if *phase == PhaseName::Up {
                    " (traced)"
                } else {
                    ""
                },
                plural(*statements as u64)
            ),
        )]),
        RehearsalEvent::PhaseFinished { version, phase, ok } => Some(vec![span(
            if *ok { Tone::Good } else { Tone::Bad },
            format!(
                "{} {version} {}",
                if *ok { "✓" } else { "✗" },
                phase.label()
            ),
        )]),
        RehearsalEvent::StatementFinished { .. } | RehearsalEvent::MigrationRehearsed { .. } => {
            None
        }
    }
}

/// Lines as plain text (no colours, hidden characters left as they are).
pub fn plain(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|line| line.iter().map(|s| s.text.as_str()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A statement of a transaction whose earlier statement (#2, line 19) took ACCESS EXCLUSIVE on
/// `run`, `attempt` and `worker_task`: the server shows it taking nothing new on `run`, a weaker
/// lock on `attempt`, the predicted one on `worker_task`, and nothing on `worker`, which nothing
/// holds (so `held` names `run` and `attempt` only, as [`super::compare::held_before`] would).
/// (For the CLI's and the dashboard's tests.)
#[cfg(test)]
pub(crate) fn held_lock_example() -> StatementRehearsal {
    use super::compare::PredictedLock;
    use crate::analysis::LockMode;
    let lock = |target: &str, mode| ObservedLock {
        target: target.into(),
        object: false,
        mode,
        granted: true,
    };
    let prediction = |target: &str, mode| PredictedLock {
        target: target.into(),
        object: false,
        mode,
        rewrite: false,
        per_row: false,
        conditional: false,
    };
    let held = |target: &str| HeldLock {
        target: target.into(),
        object: false,
        mode: LockMode::AccessExclusive,
        since_statement: 1,
        since_line: 19,
    };
    StatementRehearsal {
        index: 2,
        line: 22,
        text: "ALTER TABLE run DROP CONSTRAINT run_worker_fkey".into(),
        elapsed_ms: 0.7,
        rows_affected: 0,
        observed: vec![
            lock("attempt", LockMode::RowShare),
            lock("worker_task", LockMode::ShareRowExclusive),
        ],
        predicted: vec![
            prediction("run", LockMode::AccessExclusive),
            prediction("attempt", LockMode::ShareRowExclusive),
            prediction("worker", LockMode::AccessExclusive),
            prediction("worker_task", LockMode::ShareRowExclusive),
        ],
        rewritten: Vec::new(),
        sampled: false,
        disagreements: Vec::new(),
        held: vec![held("run"), held("attempt")],
    }
}

#[cfg(test)]
mod tests {
    use super::super::compare::PredictedLock;
    use super::*;
    use crate::analysis::LockMode;

    #[test]
    fn a_lock_held_since_an_earlier_statement_is_named_not_reported_missing() {
        let statement = held_lock_example();
        let shown = plain(&statement_lines(&statement, 14));
        let row = |name: &str| {
            shown
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no row for {name} in\n{shown}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            row("run"),
            "run held ACCESS EXCLUSIVE since #2 predicted ACCESS EXCLUSIVE"
        );
        assert_eq!(
            row("attempt"),
            "attempt observed ROW SHARE predicted SHARE ROW EXCLUSIVE (held ACCESS EXCLUSIVE since #2)"
        );
        // The predicted mode seen: nothing to explain.
        assert_eq!(
            row("worker_task"),
            "worker_task observed SHARE ROW EXCLUSIVE predicted SHARE ROW EXCLUSIVE"
        );
        // Not held: still reported as not taken.
        assert_eq!(
            row("worker"),
            "worker observed no new lock predicted ACCESS EXCLUSIVE"
        );
    }

    #[test]
    fn a_long_relation_name_keeps_apart_from_its_lock_and_comments_are_left_out() {
        let long = "total_history_count_user";
        let statement = StatementRehearsal {
            index: 0,
            line: 3,
            text: "alter table total_history_count_user -- the counter\n  alter column user_id drop default"
                .into(),
            elapsed_ms: 0.4,
            rows_affected: 0,
            observed: vec![ObservedLock {
                target: long.into(),
                object: false,
                mode: LockMode::AccessExclusive,
                granted: true,
            }],
            predicted: vec![PredictedLock {
                target: "history".into(),
                object: false,
                mode: LockMode::AccessExclusive,
                rewrite: false,
                per_row: false,
                conditional: false,
            }],
            rewritten: Vec::new(),
            sampled: false,
            disagreements: Vec::new(),
            held: Vec::new(),
        };
        let ok = Phase {
            outcome: Outcome::Ok,
            elapsed_ms: 1.0,
        };
        let rehearsal = MigrationRehearsal {
            version: 1,
            description: "drop some defaults".into(),
            in_transaction: true,
            up_checksum: String::new(),
            down_checksum: None,
            up: ok.clone(),
            statements: vec![statement],
            down: ok.clone(),
            up_again: ok,
            data_loss: Vec::new(),
        };
        let shown = plain(&migration(&rehearsal, false));
        let lines: Vec<&str> = shown.lines().collect();
        let row = lines
            .iter()
            .find(|l| l.contains(&format!("{long}  observed ACCESS EXCLUSIVE")))
            .unwrap_or_else(|| panic!("the long name stands apart in\n{}", lines.join("\n")));
        let other = lines
            .iter()
            .find(|l| l.trim_start().starts_with("history "))
            .expect("the predicted-only row");
        assert_eq!(
            row.find("observed"),
            other.find("observed"),
            "one column for every row:\n{}",
            lines.join("\n")
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("alter table total_history_count_user alter column")),
            "{}",
            lines.join("\n")
        );
    }
}
