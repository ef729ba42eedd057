//! The exact SQL a run would send, bookkeeping included, for `--dry-run`.

use std::fmt::Write;

use super::RunOptions;
use super::plan::{Direction, Plan, Step};
use super::pooled::POOLED_BEGIN;
use super::script::{Op, row_sql, script};
use super::text::step_heading;
use crate::history::HistoryTable;

/// Renders `plan` as the SQL a run with `options` would send, in order: the session's timeouts,
/// the advisory lock, the history table, each migration's statements inside its transaction (or,
/// for `-- no-transaction`, its segments), the history-row writes, the unlock. A `--pooled` run
/// sets its timeouts with `SET LOCAL` and takes the transaction-level lock in each migration's
/// transaction instead.
pub fn render_dry_run(
    plan: &Plan,
    options: &RunOptions,
    lock_key: i64,
    table_exists: bool,
) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("-- nothing to do\n");
        return out;
    }
    let table = &options.table;
    let _ = writeln!(out, "-- lockstep dry run: nothing below has been executed");
    let pooled = options.pooled.then_some((options, lock_key));
    match pooled {
        None => {
            out.push_str(&options.session_settings());
            let _ = writeln!(
                out,
                "SELECT pg_try_advisory_lock({lock_key}); -- polled until free"
            );
        }
        Some(pooled) => {
            if !table_exists && plan.steps.iter().any(|s| s.direction == Direction::Apply) {
                pooled_lock(&mut out, pooled, "lockstep:apply");
            }
        }
    }
    if !table_exists && plan.steps.iter().any(|s| s.direction == Direction::Apply) {
        let _ = writeln!(out, "{};", table.create_sql());
        if pooled.is_some() {
            out.push_str("COMMIT;\n");
        }
    }
    for step in &plan.steps {
        let _ = writeln!(out);
        out.push_str(&render_step(step, table, pooled));
    }
    if pooled.is_none() {
        let _ = writeln!(out);
        let _ = writeln!(out, "SELECT pg_advisory_unlock({lock_key});");
    }
    out
}

/// How a `--pooled` transaction starts: `BEGIN` with its `SET LOCAL`s, then the
/// transaction-level migration lock.
fn pooled_lock(out: &mut String, (options, lock_key): (&RunOptions, i64), application_name: &str) {
    let _ = writeln!(
        out,
        "{POOLED_BEGIN}; {}\nSELECT pg_try_advisory_xact_lock({lock_key}); -- polled until free; \
         the history is read again under it (skipped if another run did it)",
        options.transaction_settings(application_name)
    );
}

/// The SQL one step sends, in order: its `application_name`, its statements inside its
/// transaction (or, for `-- no-transaction`, its segments) and its history-row writes, under a
/// comment naming it. The dry run shows it for every step; the dashboard's confirmation too.
/// With `pooled` (a `--pooled` run's options and the lock key), each transaction starts with
/// `SET LOCAL`s and the transaction-level lock instead of the session's `application_name`.
pub fn render_step(
    step: &Step,
    table: &HistoryTable,
    pooled: Option<(&RunOptions, i64)>,
) -> String {
    let mut out = String::new();
    let verb = step.direction.verb();
    let _ = writeln!(
        out,
        "-- {} from {}",
        step_heading(step),
        step.file.path.display()
    );
    if pooled.is_some() && !step.in_transaction {
        let refusal = crate::pooler::no_transaction_refusal(step.version, step.own_transactions());
        let _ = writeln!(out, "-- --pooled refuses to run: {refusal}");
    }
    let application_name = format!("lockstep:{verb}:{}", step.version);
    if pooled.is_none() {
        let _ = writeln!(out, "SET application_name = '{application_name}';");
    }
    for op in script(step) {
        match op {
            Op::Segment(i) => {
                let segment = &step.segments[i];
                let _ = writeln!(
                    out,
                    "-- segment {}: {}",
                    i + 1,
                    match segment.alone {
                        Some(why) => format!("runs alone ({why})"),
                        None => "one transaction".to_string(),
                    }
                );
            }
            Op::Begin => match pooled {
                Some(pooled) => pooled_lock(&mut out, pooled, &application_name),
                None => out.push_str("BEGIN;\n"),
            },
            Op::Commit => out.push_str("COMMIT;\n"),
            Op::Statement(index) => {
                let statement = &step.statements[index];
                let _ = writeln!(
                    out,
                    "-- statement {} (line {})",
                    statement.index + 1,
                    statement.start.line
                );
                let _ = writeln!(out, "{};", statement.text);
            }
            Op::Row(write) => {
                let _ = writeln!(
                    out,
                    "{};",
                    row_sql(table, step, write, "<elapsed nanoseconds>")
                );
            }
        }
    }
    out
}
