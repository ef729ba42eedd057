//! The guard before `up`, `down` and `redo`: a read-only environment refuses, the data copies
//! must fit the limit, the environment's confirmation is asked (or given with `--yes` /
//! `--confirm`), and the schema snapshot is written — all before anything changes.

use std::io::IsTerminal;

use anstream::{eprintln, println};
use color_eyre::eyre::{Result, bail};

use super::Project;
use super::migrate::RunFlags;
use super::output::{dim, red, show, yellow};
use crate::config::{ConfirmPolicy, SnapshotPolicy};
use crate::db::Database;
use crate::guard::{Confirmation, DataKeeper, GuardOptions, GuardPlan, SnapshotOutcome};
use crate::runner::{Direction, Operation, Plan, RunOptions, plan, read_history};
use crate::source::MigrationSet;
use crate::status::Status;

/// What the run takes from the guard: the data-copy hook, the plan the person confirmed (the
/// run refuses to start if the plan made under the migration lock differs), and what became of
/// the schema snapshot.
#[derive(Default)]
pub(super) struct Guarded {
    pub keeper: Option<DataKeeper>,
    pub expected: Option<Vec<(Direction, i64)>>,
    pub snapshot: SnapshotOutcome,
}

/// Refuses a read-only environment.
pub(super) fn refuse_read_only(project: &Project, command: &str) -> Result<()> {
    let env = &project.environment;
    if env.read_only {
        bail!(
            "the environment `{}` is read-only (read-only = true in lockstep.toml): `lockstep \
             {command}` does not run there",
            env.name
        );
    }
    Ok(())
}

/// Everything before the run. `None` when the environment asks for nothing (or there is
/// nothing to run, or the plan fails: the run says why under the lock).
pub(super) async fn before_run(
    project: &Project,
    db: &Database,
    set: &MigrationSet,
    options: &RunOptions,
    operation: Operation,
    flags: &RunFlags,
) -> Result<Option<Guarded>> {
    let command = match operation {
        Operation::Up { .. } => "up",
        Operation::DownSteps { .. } | Operation::DownTo { .. } => "down",
        Operation::Redo => "redo",
    };
    refuse_read_only(project, command)?;
    let env = &project.environment;
    if env.snapshot == SnapshotPolicy::Off && !env.keep_data && env.confirm == ConfirmPolicy::None {
        return Ok(None);
    }
    let mut conn = db.connect("lockstep:plan").await?;
    let rows = read_history(&mut conn, &options.table).await;
    let _ = sqlx::Connection::close(conn).await;
    let status = Status::build(set, rows?.as_deref());
    let Ok(plan) = plan(operation, set, &status, options.ignore_missing) else {
        return Ok(None);
    };
    if plan.is_empty() {
        return Ok(None);
    }
    let guard = GuardPlan::prepare(
        db,
        &project.environment,
        &plan,
        &guard_options(options, flags),
    )
    .await?;
    if flags.json {
        let line = serde_json::json!({
            "event": "guard",
            "environment": guard.environment,
            "snapshot_policy": guard.snapshot,
            "copies": guard.copies,
            "limit": guard.limit,
            "lines": guard.lines(),
        });
        println!("{}", crate::text::json::to_string(&line)?);
    } else {
        let d = dim();
        for line in guard.lines() {
            eprintln!("{d}{}{d:#}", show(&line));
        }
    }
    if let Some(refusal) = guard.over_limit() {
        bail!(refusal);
    }
    if let Some(confirmation) = guard.confirmation() {
        confirm(&confirmation, flags, &guard)?;
    }
    let snapshot = guard.take_snapshot(db, options.lock_timeout).await?;
    if flags.json {
        let line = serde_json::json!({ "event": "snapshot", "outcome": snapshot });
        println!("{}", crate::text::json::to_string(&line)?);
    } else if let Some(text) = snapshot.describe() {
        let style = if snapshot.path.is_some() {
            dim()
        } else {
            yellow()
        };
        eprintln!("{style}{}{style:#}", show(&text));
    }
    Ok(Some(Guarded {
        keeper: guard.keeper(&snapshot),
        expected: Some(plan.signature()),
        snapshot,
    }))
}

/// Whether the environment asks for anything before a run.
fn guarded(project: &Project) -> bool {
    let env = &project.environment;
    env.snapshot != SnapshotPolicy::Off || env.keep_data || env.confirm != ConfirmPolicy::None
}

fn guard_options(options: &RunOptions, flags: &RunFlags) -> GuardOptions {
    GuardOptions {
        no_snapshot: flags.no_snapshot,
        no_keep_data: flags.no_keep_data,
        backup_limit: flags.backup_limit,
        lock_timeout: options.lock_timeout,
    }
}

/// For a dry run: what the guard would do for `plan` (nothing is written), or nothing when the
/// environment asks for nothing.
pub(super) async fn preview(
    project: &Project,
    db: &Database,
    plan: &Plan,
    options: &RunOptions,
    flags: &RunFlags,
) -> Result<Vec<String>> {
    if !guarded(project) || plan.is_empty() {
        return Ok(Vec::new());
    }
    let guard = GuardPlan::prepare(
        db,
        &project.environment,
        plan,
        &guard_options(options, flags),
    )
    .await?;
    let mut lines = guard.lines();
    if let Some(refusal) = guard.over_limit() {
        lines.extend(refusal.lines().map(|l| format!("refused: {l}")));
    }
    if let Some(confirmation) = guard.confirmation() {
        lines.push(format!(
            "confirmation: {} (without a terminal: {})",
            confirmation.policy.label(),
            confirmation.flag
        ));
    }
    Ok(lines)
}

/// Asks the confirmation on the terminal, or takes it from `--yes` / `--confirm`; refuses
/// without one.
fn confirm(confirmation: &Confirmation, flags: &RunFlags, guard: &GuardPlan) -> Result<()> {
    if let Some(answer) = &flags.confirm {
        if confirmation.accepts(answer) {
            return Ok(());
        }
        bail!(
            "--confirm {answer} does not confirm this run: {} (nothing was changed)",
            confirmation.prompt
        );
    }
    if flags.yes && confirmation.policy == ConfirmPolicy::Yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "the environment `{}` asks for a confirmation ({}) and there is no terminal to ask \
             on{}: pass {} to confirm. Nothing was changed",
            guard.environment.name,
            confirmation.policy.label(),
            if flags.yes {
                " (--yes does not answer a typed confirmation)"
            } else {
                ""
            },
            confirmation.flag
        );
    }
    let r = red();
    eprint_prompt(&format!("{r}{}{r:#} ", confirmation.prompt));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if confirmation.accepts(&answer) {
        Ok(())
    } else {
        bail!("not confirmed: nothing was changed")
    }
}

fn eprint_prompt(text: &str) {
    use std::io::Write;
    anstream::eprint!("{text}");
    let _ = std::io::stderr().flush();
}
