//! The exact SQL a run would send, bookkeeping included, for `--dry-run`.

use std::fmt::Write;

use super::RunOptions;
use super::plan::{Direction, Plan};
use super::pooled::POOLED_BEGIN;
use super::script::{Op, row_sql, script};
use crate::history::HistoryTable;

/// Renders `plan` as the SQL lockstep would send, in order: the advisory lock, the history table,
/// each migration's statements inside its transaction (or, for `-- no-transaction`, its
/// segments), the history-row writes, the unlock. With `pooled` (the options of a `--pooled`
/// run), each migration's transaction takes the transaction-level lock with its `SET LOCAL`s
/// instead.
pub fn render_dry_run(
    plan: &Plan,
    table: &HistoryTable,
    lock_key: i64,
    table_exists: bool,
    pooled: Option<&RunOptions>,
) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("-- nothing to do\n");
        return out;
    }
    let _ = writeln!(out, "-- lockstep dry run: nothing below has been executed");
    let lock = |out: &mut String, application_name: &str| match pooled {
        Some(options) => {
            let _ = writeln!(
                out,
                "{POOLED_BEGIN}; {}\nSELECT pg_try_advisory_xact_lock({lock_key}); -- polled until \
                 free; the history is read again under it (skipped if another run did it)",
                options.transaction_settings(application_name)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "SELECT pg_try_advisory_lock({lock_key}); -- polled until free"
            );
        }
    };
    if pooled.is_none() {
        lock(&mut out, "lockstep:apply");
    }
    if !table_exists && plan.steps.iter().any(|s| s.direction == Direction::Apply) {
        if pooled.is_some() {
            lock(&mut out, "lockstep:apply");
        }
        let _ = writeln!(out, "{};", table.create_sql());
        if pooled.is_some() {
            out.push_str("COMMIT;\n");
        }
    }
    for step in &plan.steps {
        let verb = step.direction.verb();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "-- {verb} {} {} ({}; {} statement{}) from {}",
            step.version,
            step.description,
            match step.segments.as_slice() {
                _ if step.in_transaction => "in one transaction".to_string(),
                [] => "-- no-transaction, no statements".to_string(),
                [one] if one.is_transaction() => {
                    "-- no-transaction, but every statement may run in a transaction: one \
                     transaction, as sqlx runs it"
                        .to_string()
                }
                segments => format!(
                    "NO TRANSACTION: {} segment{}; the history row says success = FALSE until \
                     the last one commits",
                    segments.len(),
                    if segments.len() == 1 { "" } else { "s" }
                ),
            },
            step.statements.len(),
            if step.statements.len() == 1 { "" } else { "s" },
            step.file.path.display(),
        );
        if pooled.is_some() && !step.in_transaction {
            let refusal = crate::pooler::no_transaction_refusal(step.version);
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
                Op::Begin if pooled.is_some() => lock(&mut out, &application_name),
                Op::Begin => out.push_str("BEGIN;\n"),
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
    }
    if pooled.is_none() {
        let _ = writeln!(out);
        let _ = writeln!(out, "SELECT pg_advisory_unlock({lock_key});");
    }
    out
}
