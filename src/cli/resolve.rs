//! `lockstep resolve`: record a partially applied migration as applied, or remove its row, once
//! it has been finished or undone by hand.

use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use clap::{ArgGroup, Args};
use color_eyre::eyre::{Result, WrapErr};
use tokio::sync::mpsc;

use super::Project;
use super::audit::{self, AuditPlan};
use super::migrate::print_events;
use super::output::green;
use crate::audit::RunEnd;
use crate::runner::{Resolution, Runner};

/// Options of `lockstep resolve`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("outcome").required(true).args(["applied", "rolled_back"])))]
pub struct ResolveArgs {
    /// The version recorded as partially applied (or failed): `success = false`.
    #[arg(value_name = "VERSION")]
    version: i64,
    /// You finished it by hand and all of it is applied: its row is set to success = true.
    #[arg(long)]
    applied: bool,
    /// You undid it by hand and none of it is applied: its row is deleted, so it is pending
    /// again.
    #[arg(long)]
    rolled_back: bool,
    /// Print JSON lines for scripts.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(project: &Project, dir: &Path, args: ResolveArgs) -> Result<ExitCode> {
    let resolution = if args.applied {
        Resolution::Applied
    } else {
        Resolution::RolledBack
    };
    super::guard::refuse_read_only(project, "resolve")?;
    let db = project.database(dir, args.json).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(print_events(rx, args.json));
    let audit = AuditPlan::of(project);
    let (tap, sink) = audit.tap(tx);
    let recorder = audit.begin(&db, tap).await?;
    let result = async {
        let mut runner = Runner::connect(&db, project.run_options(), sink).await?;
        let result = runner.resolve(args.version, resolution).await;
        runner.close().await;
        result
    }
    .await;
    let _ = printer.await;
    let end = match &result {
        Ok(resolved) => {
            if let Some(recorder) = &recorder {
                recorder.resolved(
                    resolved.version,
                    &resolved.previous.description,
                    resolved.resolution,
                );
            }
            RunEnd::Succeeded
        }
        Err(error) => RunEnd::Failed(error.to_string()),
    };
    let audit_run = audit::finish(recorder, end).await;
    let resolved = result.wrap_err("lockstep resolve failed")?;
    if args.json {
        let line = serde_json::json!({
            "event": "resolved",
            "version": resolved.version,
            "resolution": resolved.resolution,
            "was": resolved.was(),
            "previous": resolved.previous,
            "audit_run": audit_run,
        });
        println!("{line}");
    } else {
        let g = green();
        let summary = resolved.summary();
        let rest = summary.strip_prefix("resolved").unwrap_or(&summary);
        println!("{g}resolved{g:#}{rest}");
        audit::say_recorded(audit_run);
    }
    Ok(ExitCode::SUCCESS)
}
