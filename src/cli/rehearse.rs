//! `lockstep rehearse`: the pending migrations on a copy of the schema, traced, each reverted and
//! applied again. Never writes to the configured database.

use std::path::Path;
use std::process::ExitCode;

use anstream::{eprintln, println};
use anstyle::Style;
use clap::Args;
use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::{bold, dim, green, red, show_in, yellow};
use super::{EXIT_INTERRUPTED, Project};
use crate::analysis::model::parse_version;
use crate::rehearse::render::{self, Line, Tone};
use crate::rehearse::{RehearsalEvent, RehearseError, RehearseOptions, rehearse};

/// Options of `lockstep rehearse`.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// Rehearse the pending migrations up to and including this version.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    /// Copy up to N rows of every table, for rehearsing data migrations (0: the schema only).
    #[arg(long, value_name = "N", default_value_t = 0)]
    sample_rows: u64,
    /// A migration without a DOWN (simple, missing or empty .down.sql) is a failure.
    #[arg(long)]
    require_down: bool,
    /// Rehearse the whole history from an empty database: up all, down all in reverse, up all
    /// (the configured database is not read).
    #[arg(long)]
    all: bool,
    /// Print the report as one JSON document.
    #[arg(long)]
    json: bool,
    /// The PostgreSQL major version to rehearse on when no configured database says (with
    /// --all, or none configured); default: lockstep.toml `pg-version`, else the newest local.
    #[arg(long, value_name = "N", value_parser = parse_version)]
    pg_version: Option<u32>,
    /// Create the scratch database on this server (a URL of any of its databases; lockstep
    /// creates and drops a database there) instead of a throwaway PostgreSQL of lockstep's own.
    /// Give a URL with a password in the environment, not on the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "LOCKSTEP_SCRATCH_SERVER",
        hide_env_values = true
    )]
    scratch_server: Option<String>,
}

pub(super) async fn run(project: &Project, dir: &Path, args: RehearseArgs) -> Result<ExitCode> {
    let set = project.migrations()?;
    let db = project.configured_database(dir);
    let options = RehearseOptions {
        to: args.to,
        sample_rows: args.sample_rows,
        require_down: args.require_down,
        all: args.all,
        scratch_server: args.scratch_server.filter(|s| !s.is_empty()),
        pg_version: args.pg_version.or(project.config.pg_version),
        run: project.run_options(),
        source: project.config.source_options(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_events(rx, args.json, options.require_down));
    let cancel = CancellationToken::new();
    let mut interrupts =
        super::migrate::Interrupts::listen().wrap_err("listening for Ctrl-C and SIGTERM")?;
    let rehearsal = rehearse(db.as_ref(), &set, &options, tx, cancel.clone());
    tokio::pin!(rehearsal);
    let result = tokio::select! {
        result = &mut rehearsal => result,
        _ = interrupts.next() => {
            cancel.cancel();
            eprintln!("interrupted: stopping the rehearsal and removing the scratch database");
            tokio::select! {
                result = &mut rehearsal => result,
                _ = interrupts.next() => return Ok(ExitCode::from(EXIT_INTERRUPTED)),
            }
        }
    };
    let _ = printer.await;
    let report = match result {
        Ok(report) => report,
        Err(RehearseError::Cancelled) => return Ok(ExitCode::from(EXIT_INTERRUPTED)),
        Err(error) => return Err(error).wrap_err("lockstep rehearse failed"),
    };
    if args.json {
        let mut out = std::io::stdout().lock();
        crate::text::json::to_writer_pretty(&mut out, &report)?;
        use std::io::Write;
        writeln!(out)?;
    } else {
        if !report.migrations.is_empty() {
            println!();
        }
        for line in render::header(&report) {
            print_line(&line);
        }
        print_line(&render::summary(&report));
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Progress on stderr; each migration's block on stdout as soon as it is rehearsed.
async fn print_events(
    mut rx: mpsc::UnboundedReceiver<RehearsalEvent>,
    json: bool,
    require_down: bool,
) {
    while let Some(event) = rx.recv().await {
        if json {
            continue;
        }
        match &event {
            RehearsalEvent::Preparing { .. } => {
                if let Some(line) = render::progress(&event) {
                    eprintln!("{}", styled(&line));
                }
            }
            RehearsalEvent::MigrationRehearsed { rehearsal } => {
                for line in render::migration(rehearsal, require_down) {
                    print_line(&line);
                }
            }
            _ => {}
        }
    }
}

fn print_line(line: &Line) {
    println!("{}", styled(line));
}

/// A rendered line with its tones as terminal styles and hidden characters as markers.
fn styled(line: &Line) -> String {
    line.iter()
        .map(|span| {
            let style = tone_style(span.tone);
            format!("{style}{}{style:#}", show_in(&span.text, style))
        })
        .collect()
}

fn tone_style(tone: Tone) -> Style {
    match tone {
        Tone::Plain => Style::new(),
        Tone::Dim => dim(),
        Tone::Strong => bold(),
        Tone::Good => green(),
        Tone::Bad => red(),
        Tone::Warn => yellow(),
    }
}
