//! `lockstep env`: the environments of `lockstep.toml` and the one in use, URLs redacted.

use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::Result;

use super::Project;
use super::output::{bold, red, show};
use crate::guard::Environment;

/// Options of `lockstep env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(project: &Project, dir: &Path, args: EnvArgs) -> Result<ExitCode> {
    let in_use = &project.environment;
    let mut listed: Vec<Environment> = project
        .config
        .environments
        .iter()
        .map(|env| Environment::configured(env, dir, None))
        .collect();
    // The one in use, as resolved (with the URL it gets from DATABASE_URL or .env).
    match listed
        .iter_mut()
        .find(|e| e.name == in_use.name && in_use.configured)
    {
        Some(entry) => *entry = in_use.clone(),
        None => listed.push(in_use.clone()),
    }
    if args.json {
        let doc = serde_json::json!({ "in_use": in_use.name, "environments": listed });
        println!("{}", crate::text::json::to_string(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    for env in &listed {
        let style = if env.production_like { red() } else { bold() };
        let note = match (env.name == in_use.name, env.configured) {
            (true, true) => "  (in use)",
            (true, false) => "  (in use: not named in lockstep.toml)",
            _ => "",
        };
        println!("{style}{}{style:#}{note}", env.name);
        for line in env.lines() {
            println!("  {}", show(&line));
        }
    }
    Ok(ExitCode::SUCCESS)
}
