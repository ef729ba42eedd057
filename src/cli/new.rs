//! `lockstep new`: create migration files as `sqlx migrate add` would.

use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::{Result, WrapErr};

use super::Project;
use crate::source::{self, MigrationSet, NewMigration, Versioning};

/// Options of `lockstep new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the migration does; becomes part of the file name.
    #[arg(required = true, num_args = 1..)]
    description: Vec<String>,
    /// Create an `.up.sql` / `.down.sql` pair.
    #[arg(short, long, conflicts_with = "simple")]
    reversible: bool,
    /// Create a single `.sql` file that cannot be reverted.
    #[arg(long)]
    simple: bool,
    /// Version from the current UTC time (`%Y%m%d%H%M%S`).
    #[arg(short, long, conflicts_with = "sequential")]
    timestamp: bool,
    /// Version one above the latest.
    #[arg(short, long)]
    sequential: bool,
}

pub(super) fn run(project: &Project, args: NewArgs) -> Result<ExitCode> {
    let set = if project.migrations_dir.exists() {
        project.migrations()?
    } else {
        MigrationSet {
            dir: project.migrations_dir.clone(),
            migrations: Vec::new(),
            problems: Vec::new(),
        }
    };
    let reversible = match (args.reversible, args.simple) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => project.config.default_reversible,
    };
    let versioning = match (args.timestamp, args.sequential) {
        (true, _) => Some(Versioning::Timestamp),
        (_, true) => Some(Versioning::Sequential),
        _ => project.config.default_versioning,
    };
    let written = source::create_migration(
        &set,
        &NewMigration {
            description: args.description.join(" "),
            reversible,
            versioning,
            bodies: None,
        },
        chrono::Utc::now(),
    )
    .wrap_err("lockstep new failed")?;
    for path in written {
        println!(
            "created {}",
            super::output::show(&path.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
