//! `lockstep check`: the health check on demand (it also runs after every `up`, `down` and
//! `redo`).

use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::Result;

use super::Project;
use super::output::show;
use crate::health;

/// Options of `lockstep check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// List sessions idle in a transaction from this long on (default 1min).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    idle_after: Option<std::time::Duration>,
}

pub(super) async fn run(project: &Project, dir: &Path, args: CheckArgs) -> Result<ExitCode> {
    let db = project.database(dir, args.json).await?;
    let idle_after = args.idle_after.unwrap_or(health::IDLE_IN_TRANSACTION_ALERT);
    let report = health::check(&db, None, idle_after, &project.config.audit.schema).await?;
    if args.json {
        println!("{}", crate::text::json::to_string(&report)?);
    } else {
        anstream::print!("{}", show(&report.render()));
    }
    Ok(if report.needs_action() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
