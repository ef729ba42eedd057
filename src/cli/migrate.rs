//! `lockstep up`, `down` and `redo`: planned under the migration lock, run statement by
//! statement, streamed to the terminal (or as JSON lines).

use std::path::Path;
use std::process::ExitCode;

use anstream::{eprintln, println};
use clap::Args;
use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::mpsc;

use super::output::{bold, dim, green, human_duration, one_line, red, yellow};
use super::{EXIT_INTERRUPTED, Project};
use crate::db::Database;
use crate::history;
use crate::runner::{
    Direction, Operation, RunEvent, RunOptions, Runner, advisory_key, plan, render_dry_run,
};
use crate::source::MigrationSet;
use crate::status::Status;

/// Options shared by the commands that run migrations.
#[derive(Debug, Args, Default)]
pub struct RunFlags {
    /// Print the exact SQL that would run (bookkeeping included) and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print events as JSON lines for scripts.
    #[arg(long)]
    json: bool,
    /// Go on although applied migrations' files are missing.
    #[arg(long)]
    ignore_missing: bool,
}

/// Options of `lockstep up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply pending migrations up to and including this version.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    #[command(flatten)]
    flags: RunFlags,
}

/// Options of `lockstep down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// How many of the latest applied migrations to revert (default 1).
    #[arg(long, value_name = "N", conflicts_with = "to")]
    steps: Option<usize>,
    /// Revert every applied migration newer than this version (0 reverts all).
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    #[command(flatten)]
    flags: RunFlags,
}

/// Options of `lockstep redo`.
#[derive(Debug, Args)]
pub struct RedoArgs {
    #[command(flatten)]
    flags: RunFlags,
}

pub(super) async fn up(project: &Project, dir: &Path, args: UpArgs) -> Result<ExitCode> {
    execute(project, dir, Operation::Up { to: args.to }, args.flags).await
}

pub(super) async fn down(project: &Project, dir: &Path, args: DownArgs) -> Result<ExitCode> {
    let operation = match args.to {
        Some(to) => Operation::DownTo { to },
        None => Operation::DownSteps {
            steps: args.steps.unwrap_or(1),
        },
    };
    execute(project, dir, operation, args.flags).await
}

pub(super) async fn redo(project: &Project, dir: &Path, args: RedoArgs) -> Result<ExitCode> {
    execute(project, dir, Operation::Redo, args.flags).await
}

async fn execute(
    project: &Project,
    dir: &Path,
    operation: Operation,
    flags: RunFlags,
) -> Result<ExitCode> {
    let set = project.migrations()?;
    let db = project.database(dir, flags.json).await?;
    let mut options = project.run_options();
    options.ignore_missing = flags.ignore_missing;
    if flags.dry_run {
        print!("{}", dry_run(&db, &set, &options, operation).await?);
        return Ok(ExitCode::SUCCESS);
    }
    run_streamed(&db, &set, options, operation, flags.json).await
}

/// Plans without the lock and renders the SQL that would run.
async fn dry_run(
    db: &Database,
    set: &MigrationSet,
    options: &RunOptions,
    operation: Operation,
) -> Result<String> {
    let mut conn = db.connect("lockstep:dry-run").await?;
    let rows = history::read(&mut conn, &options.table).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut conn)
        .await?;
    let status = Status::build(set, rows.as_deref());
    let plan = plan(operation, set, &status, options.ignore_missing)?;
    Ok(render_dry_run(
        &plan,
        &options.table,
        advisory_key(&database),
        rows.is_some(),
    ))
}

/// Runs `operation`, printing events as they come. Ctrl-C cancels the running statement on the
/// server (so the transaction rolls back cleanly); a second Ctrl-C exits at once.
pub(super) async fn run_streamed(
    db: &Database,
    set: &MigrationSet,
    options: RunOptions,
    operation: Operation,
    json: bool,
) -> Result<ExitCode> {
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_events(rx, json));
    let mut runner = Runner::connect(db, options, tx).await?;
    let pid = runner.backend_pid();
    let run = async move {
        let result = runner.run(operation, set).await;
        runner.close().await;
        result
    };
    tokio::pin!(run);
    let mut interrupted = false;
    let result = tokio::select! {
        result = &mut run => result,
        _ = tokio::signal::ctrl_c() => {
            interrupted = true;
            eprintln!("interrupted: cancelling the running statement (backend pid {pid}); Ctrl-C again to quit at once");
            cancel_backend(db, pid).await;
            tokio::select! {
                result = &mut run => result,
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(EXIT_INTERRUPTED)),
            }
        }
    };
    let _ = printer.await;
    let summary = result.wrap_err(match operation {
        Operation::Up { .. } => "lockstep up failed",
        Operation::DownSteps { .. } | Operation::DownTo { .. } => "lockstep down failed",
        Operation::Redo => "lockstep redo failed",
    })?;
    if interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if json {
        let line = serde_json::json!({
            "event": "summary",
            "completed": summary.completed.iter().map(|(direction, version, elapsed)| serde_json::json!({
                "direction": direction,
                "version": version,
                "elapsed_ms": elapsed.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
            "elapsed_ms": summary.elapsed.as_secs_f64() * 1e3,
        });
        println!("{line}");
    } else if summary.completed.is_empty() {
        println!("nothing to do: the database is up to date");
    } else {
        let applied = summary
            .completed
            .iter()
            .filter(|(d, _, _)| *d == Direction::Apply)
            .count();
        let reverted = summary.completed.len() - applied;
        let g = green();
        println!(
            "{g}done{g:#}: {applied} applied, {reverted} reverted in {}",
            human_duration(summary.elapsed)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Cancels the migration session's running statement from a second connection.
async fn cancel_backend(db: &Database, pid: i32) {
    match db.connect("lockstep:cancel").await {
        Ok(mut conn) => {
            if let Err(e) = sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(pid)
                .execute(&mut conn)
                .await
            {
                eprintln!("could not cancel backend {pid}: {e}");
            }
        }
        Err(e) => eprintln!("could not connect to cancel backend {pid}: {e}"),
    }
}

/// Prints a run's events as they come: for people, or as JSON lines.
pub(super) async fn print_events(mut rx: mpsc::UnboundedReceiver<RunEvent>, json: bool) {
    let mut last_holder = None;
    let mut statement_text = String::new();
    while let Some(event) = rx.recv().await {
        if json {
            if let Ok(line) = serde_json::to_string(&event) {
                println!("{line}");
            }
            continue;
        }
        let (b, d, r, y) = (bold(), dim(), red(), yellow());
        match event {
            RunEvent::Connected { .. } | RunEvent::LockAcquired { .. } => {}
            RunEvent::LockWaiting { holder, limit, .. } => {
                let who = holder.as_ref().map(|h| h.to_string());
                if who != last_holder {
                    eprintln!(
                        "{y}waiting up to {} for the migration lock, held by {}{y:#}",
                        human_duration(limit),
                        who.as_deref().unwrap_or("another session")
                    );
                    last_holder = who;
                }
            }
            RunEvent::MigrationStarted {
                version,
                description,
                direction,
                in_transaction,
                statements,
            } => {
                let verb = direction.verb();
                println!(
                    "{b}{verb} {version}{b:#} {description} {d}({}, {statements} statement{}){d:#}",
                    if in_transaction {
                        "in a transaction"
                    } else {
                        "no transaction"
                    },
                    if statements == 1 { "" } else { "s" }
                );
            }
            RunEvent::StatementStarted { text, .. } => statement_text = text,
            RunEvent::StatementFinished { index, elapsed, .. } => {
                println!(
                    "  {d}{:>3}{d:#}  {:<70} {:>10}",
                    index + 1,
                    one_line(&statement_text, 70),
                    human_duration(elapsed)
                );
            }
            RunEvent::MigrationFinished { elapsed, .. } => {
                println!("  {d}done in {}{d:#}", human_duration(elapsed));
            }
            RunEvent::MigrationFailed { failure, .. } => {
                if failure.statement.is_some() {
                    println!("  {r}failed: {}{r:#}", one_line(&statement_text, 100));
                }
            }
        }
    }
}
