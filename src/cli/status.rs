//! `lockstep status`: what is applied and pending, read-only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anstream::println;
use clap::Args;
use color_eyre::eyre::Result;
use serde::Serialize;

use super::output::{bold, dim, execution_time, red, show, show_in, state_style, yellow};
use super::{EXIT_NEEDS_ATTENTION, Project};
use crate::audit::render::{self, local_time};
use crate::audit::{Applied, AppliedVersions, AuditSettings, who_applied_or_history};
use crate::db::Database;
use crate::history::HistoryTable;
use crate::pooler::Pooling;
use crate::runner::read_history;
use crate::source::{MigrationSet, Severity};
use crate::status::watch::{StatusWatcher, status_of};
use crate::status::{State, Status};

/// Options of `lockstep status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// Exit with code 3 when anything is pending, drifted, missing, failed or partially applied
    /// (or a file has an error).
    #[arg(long, conflicts_with = "watch")]
    check: bool,
    /// Print the status again whenever the files or the history change, until Ctrl-C (the
    /// dashboard's status watcher: the history is read again only when its digest changes).
    #[arg(long)]
    watch: bool,
}

pub(super) async fn run(project: &Project, dir: &Path, args: StatusArgs) -> Result<ExitCode> {
    let set = project.migrations()?;
    let db = project.database(dir, args.json).await?;
    let table = project.run_options().table;
    if args.watch {
        return watch(project, db, table, args.json).await;
    }
    let audit = project
        .config
        .audit
        .enabled
        .then_some(&project.config.audit);
    let (status, pooling, applied) = read_status_and_pooling(&db, &set, &table, audit).await?;
    print(
        &db,
        &pooling,
        table.name(),
        &set,
        &status,
        &applied,
        args.json,
    )?;
    let attention = status.needs_attention() || set.has_errors();
    Ok(if args.check && attention {
        ExitCode::from(EXIT_NEEDS_ATTENTION)
    } else {
        ExitCode::SUCCESS
    })
}

/// The status, what sits between lockstep and the server, and who applied each version (from
/// the audit when it is on and present), on one connection.
async fn read_status_and_pooling(
    db: &Database,
    set: &MigrationSet,
    table: &HistoryTable,
    audit: Option<&AuditSettings>,
) -> Result<(Status, Pooling, AppliedVersions)> {
    let mut conn = db.connect("lockstep:status").await?;
    let pooling = db.pooling(&mut conn).await?;
    let rows = read_history(&mut conn, table).await?;
    // With what the server shows of unfinished `-- no-transaction` runs: the INVALID indexes
    // they left, whether the concurrent build they stopped in completed, a run still going.
    let status = status_of(&mut conn, set, rows.as_deref()).await?;
    // An audit that cannot be read leaves the history to say when; status still works.
    let applied = who_applied_or_history(&mut conn, audit, &status).await;
    let _ = sqlx::Connection::close(conn).await;
    Ok((status, pooling, applied))
}

/// Prints the status for people, or as one JSON document.
fn print(
    db: &Database,
    pooling: &Pooling,
    table: &str,
    set: &MigrationSet,
    status: &Status,
    applied: &AppliedVersions,
    json: bool,
) -> Result<()> {
    if json {
        let mut document = StatusJson::new(db, table, set, status);
        document.connection = Some(pooling);
        document.set_applied(&applied.by_version);
        document.audit_error = applied.error.as_deref();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        crate::text::json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        out.flush()?;
    } else {
        print_human(db, pooling, table, set, status, applied);
    }
    Ok(())
}

/// How often `status --watch` looks when nothing tells it of a change.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// `status --watch`: the status, printed again each time the engine's watcher sees the files or
/// the history change, until Ctrl-C.
async fn watch(
    project: &Project,
    db: Database,
    table: crate::history::HistoryTable,
    json: bool,
) -> Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    // One listener for the whole watch: a Ctrl-C while the status prints is not lost.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let db = std::sync::Arc::new(db);
    let mut watcher = StatusWatcher::new(
        db.clone(),
        project.migrations_dir.clone(),
        project.config.source_options(),
        table.clone(),
    )
    .with_audit(
        project
            .config
            .audit
            .enabled
            .then(|| project.config.audit.clone()),
    );
    let mut printed = false;
    let mut pooling = None;
    loop {
        let seen = tokio::select! {
            seen = watcher.look(false) => seen,
            _ = interrupt.recv() => return Ok(ExitCode::SUCCESS),
        };
        match seen {
            Ok(seen) => {
                if let Some(server) = seen.server {
                    pooling = Some(server.pooling);
                }
                if let (Some((set, status)), Some(pooling)) = (seen.status, &pooling) {
                    if printed && !json {
                        println!("\n── {} ──", chrono::Local::now().format("%H:%M:%S"));
                    }
                    let applied = seen.applied.unwrap_or_default();
                    print(&db, pooling, table.name(), &set, &status, &applied, json)?;
                    printed = true;
                }
            }
            Err(error) => anstream::eprintln!("warning: {} (retrying)", show(&error)),
        }
        tokio::select! {
            _ = watcher.wait(WATCH_EVERY) => {}
            _ = interrupt.recv() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// The `status --json` document.
#[derive(Serialize)]
pub(super) struct StatusJson<'a> {
    database: String,
    sandbox: bool,
    /// What sits between lockstep and the server (a pooler and its mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<&'a Pooling>,
    history_table: &'a str,
    history_table_exists: bool,
    migrations_dir: &'a Path,
    summary: SummaryJson,
    versions: Vec<VersionJson<'a>>,
    problems: &'a [crate::source::Problem],
    /// Why the audit could not be read (who applied each version then comes from the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_error: Option<&'a str>,
}

#[derive(Serialize)]
struct SummaryJson {
    applied: usize,
    pending: usize,
    out_of_order: usize,
    checksum_mismatch: usize,
    missing: usize,
    failed: usize,
    partial: usize,
    needs_attention: bool,
}

#[derive(Serialize)]
struct VersionJson<'a> {
    version: i64,
    description: &'a str,
    state: State,
    reversible: Option<bool>,
    no_transaction: Option<bool>,
    up_file: Option<&'a Path>,
    down_file: Option<&'a Path>,
    file_checksum: Option<Hex<'a>>,
    applied_checksum: Option<Hex<'a>>,
    installed_on: Option<chrono::DateTime<chrono::Utc>>,
    execution_time_ns: Option<i64>,
    success: Option<bool>,
    /// For `success = false`: what is known of the run that left it.
    unfinished: Option<&'a crate::unfinished::Unfinished>,
    /// Who applied it and when: from the audit when it recorded that, else the history row.
    applied_by: Option<&'a Applied>,
}

/// Bytes serialized as lowercase hex without an intermediate string.
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // SHA-384 checksums are 48 bytes: encode on the stack.
        let mut buffer = [0u8; 128];
        if let Some(out) = buffer.get_mut(..self.0.len() * 2)
            && hex::encode_to_slice(self.0, out).is_ok()
        {
            return serializer.serialize_str(std::str::from_utf8(out).unwrap_or_default());
        }
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'a> StatusJson<'a> {
    pub(super) fn new(
        db: &Database,
        table: &'a str,
        set: &'a MigrationSet,
        status: &'a Status,
    ) -> StatusJson<'a> {
        let count = |state: State| status.in_state(state).count();
        StatusJson {
            database: db.display_url(),
            sandbox: db.is_sandbox(),
            connection: None,
            history_table: table,
            history_table_exists: status.history_table_exists,
            migrations_dir: &set.dir,
            summary: SummaryJson {
                applied: count(State::Applied),
                pending: count(State::Pending),
                out_of_order: count(State::OutOfOrder),
                checksum_mismatch: count(State::ChecksumMismatch),
                missing: count(State::Missing),
                failed: count(State::Failed),
                partial: count(State::Partial),
                needs_attention: status.needs_attention() || set.has_errors(),
            },
            versions: status
                .versions
                .iter()
                .map(|v| {
                    let m = v.migration.as_ref();
                    let a = v.applied.as_ref();
                    VersionJson {
                        version: v.version,
                        description: &v.description,
                        state: v.state,
                        reversible: m.map(|m| m.is_reversible()),
                        no_transaction: m.map(|m| m.up.no_transaction),
                        up_file: m.map(|m| m.up.path.as_path()),
                        down_file: m.and_then(|m| m.down.as_ref()).map(|d| d.path.as_path()),
                        file_checksum: m.map(|m| Hex(m.checksum())),
                        applied_checksum: a.map(|a| Hex(&a.checksum)),
                        installed_on: a.map(|a| a.installed_on),
                        execution_time_ns: a.map(|a| a.execution_time),
                        success: a.map(|a| a.success),
                        unfinished: v.unfinished.as_ref(),
                        applied_by: None,
                    }
                })
                .collect(),
            problems: &set.problems,
            audit_error: None,
        }
    }

    fn set_applied(&mut self, applied: &'a BTreeMap<i64, Applied>) {
        for version in &mut self.versions {
            version.applied_by = applied.get(&version.version);
        }
    }
}

fn print_human(
    db: &Database,
    pooling: &Pooling,
    table: &str,
    set: &MigrationSet,
    status: &Status,
    applied: &AppliedVersions,
) {
    let b = bold();
    let d = dim();
    println!(
        "{b}database{b:#}  {}{}",
        db.display_url(),
        if db.is_sandbox() {
            " (throwaway sandbox)"
        } else {
            ""
        }
    );
    let style = if pooling.keeps_sessions() {
        anstyle::Style::new()
    } else {
        yellow()
    };
    println!(
        "{b}pooler{b:#}    {style}{}{}{style:#}",
        pooling.describe(),
        pooling
            .consequence()
            .map(|c| format!(": {c}"))
            .unwrap_or_default()
    );
    println!(
        "{b}history{b:#}   {table}{}",
        if status.history_table_exists {
            ""
        } else {
            " (does not exist yet: nothing applied)"
        }
    );
    println!("{b}files{b:#}     {}", show(&set.dir.display().to_string()));
    println!();
    if status.versions.is_empty() {
        println!("{}", crate::source::NO_MIGRATIONS_YET);
    }
    let mut shown_pending_header = false;
    for (i, v) in status.versions.iter().enumerate() {
        if !v.state.is_recorded() && !shown_pending_header {
            if i > 0 {
                println!("{d}  ── pending ──{d:#}");
            }
            shown_pending_header = true;
        }
        let (glyph, style) = state_style(v.state);
        let kind = match &v.migration {
            Some(m) if m.up.no_transaction => " [no-tx]",
            _ => "",
        };
        let when = v
            .applied
            .as_ref()
            .map(|a| {
                let by = applied.by_version.get(&v.version);
                format!(
                    "  {d}{}  {}{}{d:#}",
                    local_time(by.map_or(a.installed_on, |by| by.at)),
                    execution_time(a.execution_time),
                    by.and_then(render::applied_by)
                        .map(|who| format!("  {}", show_in(&who, d)))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        println!(
            "{style}{glyph} {:<16}{style:#} {}{kind}  {style}{}{style:#}{when}",
            v.version,
            show(&v.description),
            v.label()
        );
        if let Some(unfinished) = &v.unfinished {
            let r = red();
            for line in unfinished.lines(v.version) {
                println!("    {r}{line}{r:#}");
            }
        }
        if v.state == State::ChecksumMismatch {
            let r = red();
            println!(
                "    {r}file    {}{r:#}",
                v.file_checksum().map(hex::encode).unwrap_or_default()
            );
            println!(
                "    {r}applied {}{r:#}",
                v.applied
                    .as_ref()
                    .map(|a| hex::encode(&a.checksum))
                    .unwrap_or_default()
            );
        }
    }
    if !set.problems.is_empty() {
        println!();
        for (severity, line) in crate::source::problem_lines(&set.problems) {
            let style = match severity {
                Severity::Error => red(),
                Severity::Warning => yellow(),
                Severity::Ignored => dim(),
            };
            println!("{style}{}{style:#}", show_in(&line, style));
        }
    }
    if let Some(error) = &applied.error {
        let d = dim();
        println!(
            "{d}who applied each version is not known: {}{d:#}",
            show_in(error, d)
        );
    }
    let count = |state: State| status.in_state(state).count();
    println!();
    println!(
        "{} applied, {} pending{}{}{}{}{}",
        count(State::Applied),
        count(State::Pending) + count(State::OutOfOrder),
        plural(count(State::OutOfOrder), "out of order"),
        plural(count(State::ChecksumMismatch), "with a different checksum"),
        plural(count(State::Missing), "with the file missing"),
        plural(count(State::Failed), "failed"),
        plural(count(State::Partial), "partially applied"),
    );
}

fn plural(n: usize, what: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} {what}")
    }
}
