//! `lockstep up`, `down` and `redo`: planned under the migration lock, run statement by
//! statement, streamed to the terminal (or as JSON lines).

use std::path::Path;
use std::process::ExitCode;

use anstream::{eprintln, println};
use clap::Args;
use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::audit::{self, AuditPlan};
use super::guard::Guarded;
use super::output::{bold, dim, green, red, show, show_in, show_padded_in, yellow};
use super::{EXIT_INTERRUPTED, Project};
use crate::db::Database;
use crate::health;
use crate::run::{Surroundings, carry_out};
use crate::runner::text::{LogKind, LogLine, RunLog, WAIT_REPRINT};
use crate::runner::{
    BeforeStatement, Operation, RunEvent, RunOptions, RunTally, advisory_key, plan, read_history,
    render_dry_run,
};
use crate::source::MigrationSet;
use crate::status::Status;

/// Options shared by the commands that run migrations.
#[derive(Debug, Args, Default)]
pub struct RunFlags {
    /// Print the exact SQL that would run (bookkeeping included) and run nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Print events as JSON lines for scripts.
    #[arg(long)]
    pub(super) json: bool,
    /// Go on although applied migrations' files are missing.
    #[arg(long)]
    pub(super) ignore_missing: bool,
    /// Skip the health check after the run (see `lockstep check`).
    #[arg(long)]
    pub(super) no_check: bool,
    /// Answer the yes/no confirmation of an environment with `confirm = "yes"`.
    #[arg(long)]
    pub(super) yes: bool,
    /// Answer a typed confirmation without a terminal: the database name or the version it
    /// asks for.
    #[arg(long, value_name = "ANSWER")]
    pub(super) confirm: Option<String>,
    /// Run without the schema snapshot the environment asks for (the run's output says so).
    #[arg(long)]
    pub(super) no_snapshot: bool,
    /// Do not copy the data that destructive statements drop.
    #[arg(long)]
    pub(super) no_keep_data: bool,
    /// The most the data copies of this run may hold, e.g. 5GB (default: the environment's
    /// backup-limit, 1GiB).
    #[arg(long, value_name = "SIZE", value_parser = crate::config::parse_size)]
    pub(super) backup_limit: Option<u64>,
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
        let text = dry_run(project, &db, &set, &options, operation, &flags).await?;
        anstream::print!("{}", show(&text));
        return Ok(ExitCode::SUCCESS);
    }
    let guarded = super::guard::before_run(project, &db, &set, &options, operation, &flags).await?;
    let audit = AuditPlan::of(project)
        .with_guard(&project.environment, guarded.as_ref().map(|g| &g.snapshot));
    run_streamed(
        &db,
        &set,
        options,
        operation,
        flags.json,
        !flags.no_check,
        Around {
            guarded,
            audit: &audit,
        },
    )
    .await
}

/// What surrounds a run: the guard's work before it (the snapshot taken, the data-copy hook,
/// the plan confirmed) and its audit.
pub(super) struct Around<'a> {
    /// The guard's outcome, `None` when the environment asks for nothing.
    pub guarded: Option<Guarded>,
    /// Whether and how the run is recorded.
    pub audit: &'a AuditPlan,
}

/// Plans without the lock and renders the SQL that would run.
async fn dry_run(
    project: &Project,
    db: &Database,
    set: &MigrationSet,
    options: &RunOptions,
    operation: Operation,
    flags: &RunFlags,
) -> Result<String> {
    let mut conn = db.connect("lockstep:dry-run").await?;
    let rows = read_history(&mut conn, &options.table).await?;
    let row = sqlx::raw_sql("SELECT current_database()::text")
        .fetch_one(&mut conn)
        .await?;
    let database: String = sqlx::Row::try_get(&row, 0)?;
    let status = Status::build(set, rows.as_deref());
    let plan = plan(operation, set, &status, options.ignore_missing)?;
    // What the guard would do, as SQL comments above the SQL.
    let mut text: String = super::guard::preview(project, db, &plan, options, flags)
        .await?
        .iter()
        .map(|line| format!("-- {line}\n"))
        .collect();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&render_dry_run(
        &plan,
        options,
        advisory_key(&database),
        rows.is_some(),
    ));
    Ok(text)
}

/// Runs `operation`, printing events as they come. The first Ctrl-C (or SIGTERM) interrupts the
/// run: the statement in flight is cancelled on the server, a transactional migration rolls
/// back, nothing new starts, and lockstep exits 130 after saying what was applied. A second one
/// quits at once. The run is recorded as `audit` says.
pub(super) async fn run_streamed(
    db: &Database,
    set: &MigrationSet,
    options: RunOptions,
    operation: Operation,
    json: bool,
    check: bool,
    around: Around<'_>,
) -> Result<ExitCode> {
    let Around { guarded, audit } = around;
    let Guarded {
        keeper,
        expected,
        snapshot,
    } = guarded.unwrap_or_default();
    let mut interrupts = Interrupts::listen().wrap_err("listening for Ctrl-C and SIGTERM")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_events(rx, json));
    let cancel = CancellationToken::new();
    let around = Surroundings {
        audit: audit.for_run(),
        hook: keeper.map(|keeper| Box::new(keeper) as Box<dyn BeforeStatement>),
        expected,
        check,
        cancel: cancel.clone(),
    };
    let carry = carry_out(db, set, options, operation, around, tx);
    tokio::pin!(carry);
    let carried = tokio::select! {
        carried = &mut carry => carried,
        _ = interrupts.next() => {
            cancel.cancel();
            eprintln!(
                "interrupted: stopping the run (the running statement is cancelled, its \
                 transaction rolls back); Ctrl-C again to quit at once"
            );
            tokio::select! {
                carried = &mut carry => carried,
                _ = interrupts.next() => return Ok(ExitCode::from(EXIT_INTERRUPTED)),
            }
        }
    };
    // The audit's refusal is the command's error (the runner wrote nothing: its gate stayed
    // closed).
    let mut carried = carried.map_err(|refused| eyre!("{refused}"))?;
    let _ = printer.await;
    let interrupted = carried.interrupted();
    if let Some(words) = &carried.audit_incomplete {
        audit::say_incomplete(words);
    }
    if let Some(checked) = carried.health.take() {
        say_health(checked, json);
    }
    let tally = &carried.tally;
    if json {
        let line = serde_json::json!({
            "event": "summary",
            "ok": carried.result.is_ok(),
            "interrupted": interrupted,
            "applied": tally.applied,
            "reverted": tally.reverted,
            "retries": tally.retries,
            "failed": tally.failed,
            "stopped": tally.interrupted,
            "completed": carried.result.as_ref().map(|summary| summary.completed.iter().map(|(direction, version, elapsed)| serde_json::json!({
                "direction": direction,
                "version": version,
                "elapsed_ms": elapsed.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>()).unwrap_or_default(),
            "elapsed_ms": carried.elapsed.as_secs_f64() * 1e3,
            "snapshot": snapshot,
            "audit_run": carried.audit_run,
        });
        println!("{line}");
    }
    let line = carried.summary();
    // (A run that failed before any migration began, say to connect, has no account.)
    let accounted = *tally != RunTally::default();
    let audit_run = carried.audit_run;
    let code = match carried.result {
        _ if interrupted => {
            if !json {
                let y = yellow();
                eprintln!("{y}{line}{y:#}");
            }
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(error) => {
            if !json {
                if accounted {
                    let r = red();
                    eprintln!("{r}{line}{r:#}");
                }
                audit::say_recorded(audit_run);
            }
            return Err(error).wrap_err(match operation {
                Operation::Up { .. } => "lockstep up failed",
                Operation::DownSteps { .. } | Operation::DownTo { .. } => "lockstep down failed",
                Operation::Redo => "lockstep redo failed",
            });
        }
        Ok(_) if json => return Ok(ExitCode::SUCCESS),
        Ok(summary) if summary.completed.is_empty() => {
            println!("nothing to do: the database is up to date");
            ExitCode::SUCCESS
        }
        Ok(_) => {
            let g = green();
            println!("{g}{line}{g:#}");
            ExitCode::SUCCESS
        }
    };
    if !json {
        audit::say_recorded(audit_run);
    }
    Ok(code)
}

/// The health check after a run that changed something: printed when something needs action
/// (always, as a `health` event, in JSON). A check that cannot run is said, never fatal.
fn say_health(checked: Result<health::Report, crate::db::DbError>, json: bool) {
    match checked {
        Ok(report) if json => {
            let line = serde_json::json!({ "event": "health", "report": report });
            println!("{line}");
        }
        checked => {
            if let Some(words) = health::after_run_words(checked.as_ref()) {
                let y = yellow();
                eprintln!("{y}{}{y:#}", show_in(words.trim_end(), y));
            }
        }
    }
}

/// Ctrl-C and SIGTERM, listened for from the start of a run (so an early one is not lost).
pub(super) struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Starts listening.
    pub(super) fn listen() -> std::io::Result<Interrupts> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Interrupts {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next Ctrl-C or SIGTERM.
    pub(super) async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Prints a run's events as they come (for people, in the engine's words, or as JSON lines) and
/// returns its tally. Waits and retries go to stderr, the rest to stdout.
pub(super) async fn print_events(
    mut rx: mpsc::UnboundedReceiver<RunEvent>,
    json: bool,
) -> RunTally {
    let mut tally = RunTally::default();
    let mut log = RunLog::new(Some(WAIT_REPRINT));
    while let Some(event) = rx.recv().await {
        tally.record(&event);
        if json {
            if let Ok(line) = crate::text::json::to_string(&event) {
                println!("{line}");
            }
            continue;
        }
        for line in log.lines(&event) {
            print_log_line(&line);
        }
    }
    tally
}

/// Prints one line of a run's log in its kind's style, a timing right-aligned after the text.
fn print_log_line(line: &LogLine) {
    let style = match line.kind {
        LogKind::Heading => bold(),
        LogKind::Statement => anstyle::Style::new(),
        LogKind::Waiting => yellow(),
        LogKind::Done | LogKind::Info => dim(),
        LogKind::Error => red(),
    };
    let text = match &line.timing {
        Some(timing) => format!(
            "{} {timing:>10}",
            show_padded_in(&line.text, STATEMENT_COLUMNS, style)
        ),
        None => show_in(&line.text, style).into_owned(),
    };
    if line.kind.is_diagnostic() {
        eprintln!("{style}{text}{style:#}");
    } else {
        println!("{style}{text}{style:#}");
    }
}

/// Columns a statement's text takes before its timing.
const STATEMENT_COLUMNS: usize = 76;
