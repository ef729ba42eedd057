//! `lockstep demo`: the demo migration set, applied on a throwaway PostgreSQL.

use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::{Result, WrapErr};

use super::Project;
use super::audit::AuditPlan;
use super::migrate::{Around, Interrupts, run_streamed};
use crate::db::start_sandbox;
use crate::runner::{Operation, read_status};
use crate::source;

include!(concat!(env!("OUT_DIR"), "/demo_migrations.rs"));

/// The database `lockstep demo` creates in its sandbox.
const DEMO_DATABASE: &str = "lockstep_demo";

/// Options of `lockstep demo`.
#[derive(Debug, Args, Default)]
pub struct DemoArgs {
    /// Keep the sandbox running after applying, until Ctrl-C, and print how to connect to it.
    #[arg(long)]
    keep: bool,
}

/// The last migration of the demo's foundation: its tables and seed data. The migrations after it
/// are the risky changes a reviewer should look at.
pub const FOUNDATION: i64 = 20260108090000;

/// Applies the demo's foundation (through [`FOUNDATION`]) in `dir` on `db`, so the dashboard
/// opens on real tables with data and the risky migrations pending; returns how many it applied.
pub async fn apply_foundation(
    db: &crate::db::Database,
    dir: &std::path::Path,
    options: crate::runner::RunOptions,
) -> Result<usize> {
    let set = source::load(dir, &Default::default())?;
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = crate::runner::Runner::connect(db, options, events).await?;
    let summary = runner
        .run(
            Operation::Up {
                to: Some(FOUNDATION),
            },
            &set,
        )
        .await;
    runner.close().await;
    Ok(summary?.completed.len())
}

/// Whether `dir` holds exactly the demo migrations (lockstep's own `migrations/`): the dashboard
/// then opens them with their foundation applied, as on a machine with no project.
pub fn is_demo_set(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    let mut demo: Vec<&str> = DEMO_MIGRATIONS.iter().map(|(name, _)| *name).collect();
    demo.sort();
    names == demo
        && DEMO_MIGRATIONS.iter().all(|(name, text)| {
            std::fs::read_to_string(dir.join(name)).is_ok_and(|on_disk| on_disk == *text)
        })
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
    let db = start_sandbox(DEMO_DATABASE)
        .await
        .wrap_err("starting the sandbox PostgreSQL")?;
    let options = project.run_options();
    let code = run_streamed(
        &db,
        &set,
        options.clone(),
        Operation::Up { to: None },
        false,
        true,
        Around {
            guarded: None,
            audit: &AuditPlan::off(),
        },
    )
    .await?;
    let status = read_status(&db, &set, &options.table).await?;
    println!(
        "\n{} of {} migrations applied on {}",
        status.recorded().count(),
        status.versions.len(),
        db.display_url()
    );
    if let Some(sandbox) = db.sandbox.as_ref().filter(|_| args.keep) {
        // Listening before saying so: a Ctrl-C right after the message is not lost.
        let mut interrupts = Interrupts::listen().wrap_err("listening for Ctrl-C and SIGTERM")?;
        let url_file = sandbox
            .write_url_file(DEMO_DATABASE)
            .wrap_err("writing the sandbox's connection file")?;
        println!(
            "the sandbox stays up until Ctrl-C. Only its superuser `lockstep` gets in, with a \
             password made for this run; these files hold it, are readable only by you and are \
             deleted when the sandbox stops:\n  \
             PGPASSFILE={} psql -h 127.0.0.1 -p {} -U lockstep {}\n  \
             DATABASE_URL=\"$(cat {})\" lockstep status --source {}",
            sandbox.passfile().display(),
            sandbox.port(),
            DEMO_DATABASE,
            url_file.display(),
            dir.display()
        );
        interrupts.next().await;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_set_is_told_from_a_project_of_its_own() {
        let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        assert!(is_demo_set(&repository));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        write_demo_migrations(&dir).unwrap();
        assert!(is_demo_set(&dir));
        // One more migration, one changed, or one missing: the project's own.
        let (name, text) = DEMO_MIGRATIONS[3];
        std::fs::write(dir.join("99999999999999_mine.sql"), "SELECT 1;\n").unwrap();
        assert!(!is_demo_set(&dir));
        std::fs::remove_file(dir.join("99999999999999_mine.sql")).unwrap();
        std::fs::write(dir.join(name), format!("{text}\nSELECT 1;\n")).unwrap();
        assert!(!is_demo_set(&dir));
        std::fs::remove_file(dir.join(name)).unwrap();
        assert!(!is_demo_set(&dir));
        assert!(!is_demo_set(&tmp.path().join("absent")));
    }
}
