//! `lockstep status`: what is applied and pending, read-only.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use chrono::Local;
use clap::Args;
use color_eyre::eyre::Result;
use serde_json::json;

use super::output::{bold, dim, execution_time, red, state_style, yellow};
use super::{EXIT_NEEDS_ATTENTION, Project};
use crate::db::Database;
use crate::runner::read_status;
use crate::source::{MigrationSet, Severity};
use crate::status::{State, Status};

/// Options of `lockstep status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// Exit with code 3 when anything is pending, drifted, missing or failed (or a file has an
    /// error).
    #[arg(long)]
    check: bool,
}

pub(super) async fn run(project: &Project, dir: &Path, args: StatusArgs) -> Result<ExitCode> {
    let set = project.migrations()?;
    let db = project.database(dir, args.json).await?;
    let table = project.run_options().table;
    let status = read_status(&db, &set, &table).await?;
    if args.json {
        let document = json_document(&db, table.name(), &set, &status);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
    } else {
        print_human(&db, table.name(), &set, &status);
    }
    let attention = status.needs_attention() || set.has_errors();
    Ok(if args.check && attention {
        ExitCode::from(EXIT_NEEDS_ATTENTION)
    } else {
        ExitCode::SUCCESS
    })
}

/// The `status --json` document.
pub(super) fn json_document(
    db: &Database,
    table: &str,
    set: &MigrationSet,
    status: &Status,
) -> serde_json::Value {
    let versions: Vec<serde_json::Value> = status
        .versions
        .iter()
        .map(|v| {
            let m = v.migration.as_ref();
            let a = v.applied.as_ref();
            json!({
                "version": v.version,
                "description": v.description,
                "state": v.state,
                "reversible": m.map(|m| m.is_reversible()),
                "no_transaction": m.map(|m| m.up.no_transaction),
                "up_file": m.map(|m| m.up.path.display().to_string()),
                "down_file": m.and_then(|m| m.down.as_ref()).map(|d| d.path.display().to_string()),
                "file_checksum": m.map(|m| hex::encode(m.checksum())),
                "applied_checksum": a.map(|a| hex::encode(&a.checksum)),
                "installed_on": a.map(|a| a.installed_on.to_rfc3339()),
                "execution_time_ns": a.map(|a| a.execution_time),
                "success": a.map(|a| a.success),
            })
        })
        .collect();
    let count = |state: State| status.in_state(state).count();
    json!({
        "database": db.display_url(),
        "sandbox": db.is_sandbox(),
        "history_table": table,
        "history_table_exists": status.history_table_exists,
        "migrations_dir": set.dir.display().to_string(),
        "summary": {
            "applied": count(State::Applied),
            "pending": count(State::Pending),
            "out_of_order": count(State::OutOfOrder),
            "checksum_mismatch": count(State::ChecksumMismatch),
            "missing": count(State::Missing),
            "failed": count(State::Failed),
            "needs_attention": status.needs_attention() || set.has_errors(),
        },
        "versions": versions,
        "problems": set.problems,
    })
}

fn print_human(db: &Database, table: &str, set: &MigrationSet, status: &Status) {
    let b = bold();
    let d = dim();
    println!(
        "{b}database{b:#}  {}{}",
        db.display_url(),
        if db.is_sandbox() {
            " (throwaway sandbox)"
        } else {
            ""
        }
    );
    println!(
        "{b}history{b:#}   {table}{}",
        if status.history_table_exists {
            ""
        } else {
            " (does not exist yet: nothing applied)"
        }
    );
    println!("{b}files{b:#}     {}", set.dir.display());
    println!();
    if status.versions.is_empty() {
        println!("no migrations yet: create one with `lockstep new <description>`");
    }
    let mut shown_pending_header = false;
    for (i, v) in status.versions.iter().enumerate() {
        if !v.state.is_recorded() && !shown_pending_header {
            if i > 0 {
                println!("{d}  ── pending ──{d:#}");
            }
            shown_pending_header = true;
        }
        let (glyph, style) = state_style(v.state);
        let kind = match &v.migration {
            Some(m) if m.up.no_transaction => " [no-tx]",
            _ => "",
        };
        let when = v
            .applied
            .as_ref()
            .map(|a| {
                format!(
                    "  {d}{}  {}{d:#}",
                    a.installed_on
                        .with_timezone(&Local)
                        .format("%Y-%m-%d %H:%M:%S"),
                    execution_time(a.execution_time)
                )
            })
            .unwrap_or_default();
        println!(
            "{style}{glyph} {:<16}{style:#} {}{kind}  {style}{}{style:#}{when}",
            v.version,
            v.description,
            v.state.label()
        );
        if v.state == State::ChecksumMismatch {
            let r = red();
            println!(
                "    {r}file    {}{r:#}",
                v.file_checksum().map(hex::encode).unwrap_or_default()
            );
            println!(
                "    {r}applied {}{r:#}",
                v.applied
                    .as_ref()
                    .map(|a| hex::encode(&a.checksum))
                    .unwrap_or_default()
            );
        }
    }
    if !set.problems.is_empty() {
        println!();
        for problem in &set.problems {
            let style = match problem.severity {
                Severity::Error => red(),
                Severity::Warning => yellow(),
                Severity::Ignored => dim(),
            };
            println!("{style}{problem}{style:#}");
        }
    }
    let count = |state: State| status.in_state(state).count();
    println!();
    println!(
        "{} applied, {} pending{}{}{}{}",
        count(State::Applied),
        count(State::Pending) + count(State::OutOfOrder),
        plural(count(State::OutOfOrder), "out of order"),
        plural(count(State::ChecksumMismatch), "with a different checksum"),
        plural(count(State::Missing), "with the file missing"),
        plural(count(State::Failed), "failed"),
    );
}

fn plural(n: usize, what: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} {what}")
    }
}
