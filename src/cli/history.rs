//! `lockstep history`: past runs from the audit trail, read-only.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::{Result, bail};
use serde::Serialize;

use super::Project;
use super::output::{dim, green, red, show, show_in, yellow};
use crate::audit::{self, History, HistoryQuery, Outcome, render};

/// Options of `lockstep history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print one JSON document (every run with its migrations and statements).
    #[arg(long)]
    json: bool,
    /// How many runs to show, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Show one run in full: its migrations and each statement's time, lock wait, blocker,
    /// rows and error.
    #[arg(long, value_name = "ID")]
    run: Option<i64>,
}

#[derive(Serialize)]
struct HistoryJson<'a> {
    database: String,
    #[serde(flatten)]
    history: &'a History,
}

pub(super) async fn run(project: &Project, dir: &Path, args: HistoryArgs) -> Result<ExitCode> {
    let Some(db) = project.configured_database(dir) else {
        bail!(
            "no database configured (--database-url, DATABASE_URL, .env, lockstep.toml): \
             history reads the audit trail kept in the database"
        );
    };
    let settings = &project.config.audit;
    let query = HistoryQuery {
        limit: args.limit,
        run: args.run,
        statements: args.json || args.run.is_some(),
    };
    let history = audit::load(&db, settings, query).await?;
    if let Some(id) = args.run.filter(|_| history.runs.is_empty()) {
        bail!(
            "no run {id} in the audit trail (schema {}) of {}",
            settings.quoted_schema(),
            db.display_url()
        );
    }
    if args.json {
        let document = HistoryJson {
            database: db.display_url(),
            history: &history,
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        crate::text::json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if !history.exists {
        println!(
            "no runs recorded: {} has no audit schema {} yet (the first `up`, `down`, `redo` or \
             `resolve` with the audit on creates it){}",
            db.display_url(),
            settings.quoted_schema(),
            if settings.enabled {
                ""
            } else {
                "; the audit is off in lockstep.toml (audit = false)"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    if history.runs.is_empty() {
        println!("no runs recorded yet in {}", db.display_url());
    }
    for run in &history.runs {
        let style = match run.outcome {
            Outcome::Succeeded => green(),
            Outcome::Failed => red(),
            Outcome::Interrupted | Outcome::Unknown => yellow(),
            Outcome::Running | Outcome::Skipped => dim(),
        };
        if args.run.is_some() {
            let mut lines = render::run_detail(run).into_iter();
            if let Some(title) = lines.next() {
                println!("{style}{}{style:#}", show_in(&title, style));
            }
            for line in lines {
                println!("{}", show(&line));
            }
        } else {
            println!("{style}{}{style:#}", show_in(&render::run_line(run), style));
        }
    }
    Ok(ExitCode::SUCCESS)
}
