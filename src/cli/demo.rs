//! `lockstep demo`: the demo migration set, applied on a throwaway PostgreSQL.

use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::{Result, WrapErr};

use super::Project;
use super::migrate::run_streamed;
use crate::db::start_sandbox;
use crate::runner::{Operation, read_status};
use crate::source;

include!(concat!(env!("OUT_DIR"), "/demo_migrations.rs"));

/// Options of `lockstep demo`.
#[derive(Debug, Args, Default)]
pub struct DemoArgs {
    /// Keep the sandbox running after applying, until Ctrl-C, and print how to connect to it.
    #[arg(long)]
    keep: bool,
}

/// Writes the embedded demo migrations into `dir`.
pub fn write_demo_migrations(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in DEMO_MIGRATIONS {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

pub(super) async fn run(project: &Project, args: DemoArgs) -> Result<ExitCode> {
    let files = tempfile::tempdir().wrap_err("creating a directory for the demo migrations")?;
    let dir = files.path().join("migrations");
    write_demo_migrations(&dir).wrap_err("writing the demo migrations")?;
    let set = source::load(&dir, &Default::default())?;
    println!(
        "lockstep demo: starting a throwaway PostgreSQL and applying {} demo migrations \
         (a conversation-generation platform) statement by statement.\n",
        set.migrations.len()
    );
    let db = start_sandbox("lockstep_demo")
        .await
        .wrap_err("starting the sandbox PostgreSQL")?;
    let options = project.run_options();
    let code = run_streamed(
        &db,
        &set,
        options.clone(),
        Operation::Up { to: None },
        false,
    )
    .await?;
    let status = read_status(&db, &set, &options.table).await?;
    println!(
        "\n{} of {} migrations applied on {}",
        status.recorded().count(),
        status.versions.len(),
        db.display_url()
    );
    if args.keep {
        let port = db.sandbox.as_ref().map(|s| s.port()).unwrap_or_default();
        println!(
            "the sandbox stays up until Ctrl-C:\n  psql -h 127.0.0.1 -p {port} -U lockstep lockstep_demo\n  \
             lockstep status --database-url {} --source {}",
            db.display_url(),
            dir.display()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(code)
}
