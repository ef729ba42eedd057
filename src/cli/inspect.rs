//! `lockstep inspect sizes|locks|activity`: the dashboard's inspection panes, once, for people
//! (tables and a lock tree) or scripts (`--json`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anstream::println;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use color_eyre::eyre::{Result, WrapErr};
use serde::Serialize;

use super::Project;
use super::output::{bold, dim, red, show, show_in, yellow};
use crate::config::parse_duration;
use crate::monitor::format::{human_age, human_bytes, human_count, shorten};
use crate::monitor::{
    DEFAULT_IDLE_THRESHOLD, LockEdge, LockTreeNode, MigrationLock, Monitor, Session, SizeColumn,
    TableSize, build_forest, render_forest, sort_sizes,
};
use crate::text::visible::width as visible_width;

/// Which pane to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pane {
    /// Every table's sizes, row estimates, dead tuples and last (auto)vacuum/analyze.
    Sizes,
    /// Who blocks whom, as a tree, and the migration advisory lock.
    Locks,
    /// Sessions, their queries, ages and wait events.
    Activity,
}

/// Options of `lockstep inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What to show.
    #[arg(value_enum)]
    pane: Pane,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// (sizes) Sort by this column: schema, name, total, heap, index, toast, rows, live, dead,
    /// last_vacuum, last_autovacuum, last_analyze, last_autoanalyze.
    #[arg(long, value_name = "COLUMN", value_parser = str::parse::<SizeColumn>)]
    sort: Option<SizeColumn>,
    /// (sizes) Sort ascending instead of the column's natural order.
    #[arg(long)]
    asc: bool,
    /// (activity, locks) Idle-in-transaction sessions idle for this long stand out, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_threshold: Option<Duration>,
    /// (activity) Show idle sessions and background processes too.
    #[arg(long)]
    all: bool,
}

pub(super) async fn run(project: &Project, dir: &Path, args: InspectArgs) -> Result<ExitCode> {
    let db = project.database(dir, args.json).await?;
    let mut monitor = Monitor::connect(&db)
        .await
        .wrap_err("opening the monitoring connection")?;
    let threshold = args.idle_threshold.unwrap_or(DEFAULT_IDLE_THRESHOLD);
    monitor.set_idle_threshold(threshold);
    let database = db.display_url();
    match args.pane {
        Pane::Sizes => {
            let mut tables = monitor.sizes().await?;
            let column = args.sort.unwrap_or(SizeColumn::Total);
            let descending = !args.asc && column.descending_by_default();
            sort_sizes(&mut tables, column, descending);
            if args.json {
                print_json(&SizesJson {
                    database,
                    sort: column,
                    descending,
                    tables,
                })?;
            } else {
                print_sizes(&tables);
            }
        }
        Pane::Locks => {
            let edges = monitor.lock_edges().await?;
            let activity = monitor.activity(threshold).await?;
            let migration_lock = monitor.migration_lock().await?;
            let forest = build_forest(&edges, &activity);
            if args.json {
                print_json(&LocksJson {
                    database,
                    migration_lock,
                    edges,
                    forest,
                })?;
            } else {
                print_locks(&migration_lock, &forest);
            }
        }
        Pane::Activity => {
            let mut sessions = monitor.activity(threshold).await?;
            if !args.all {
                sessions.retain(|s| !s.is_idle() && s.datname.is_some());
            }
            if args.json {
                print_json(&ActivityJson {
                    database,
                    idle_threshold_secs: threshold.as_secs_f64(),
                    sessions,
                })?;
            } else {
                print_activity(&sessions, threshold);
            }
        }
    }
    monitor.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct SizesJson {
    database: String,
    sort: SizeColumn,
    descending: bool,
    tables: Vec<TableSize>,
}

#[derive(Serialize)]
struct LocksJson {
    database: String,
    migration_lock: MigrationLock,
    edges: Vec<LockEdge>,
    forest: Vec<LockTreeNode>,
}

#[derive(Serialize)]
struct ActivityJson {
    database: String,
    idle_threshold_secs: f64,
    sessions: Vec<Session>,
}

fn print_json(document: &impl Serialize) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    crate::text::json::to_writer_pretty(&mut out, document)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Left-aligns cells into columns (widths from the longest cell, counted in characters as they
/// show: a hidden character as wide as its marker).
fn columns(rows: &[Vec<String>], right_aligned: &[bool]) -> Vec<String> {
    let count = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| visible_width(c)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    let pad = widths[i].saturating_sub(visible_width(cell));
                    let last = i + 1 == row.len();
                    if right_aligned.get(i).copied().unwrap_or(false) {
                        format!("{}{cell}", " ".repeat(pad))
                    } else if last {
                        cell.clone()
                    } else {
                        format!("{cell}{}", " ".repeat(pad))
                    }
                })
                .collect();
            cells.join("  ")
        })
        .collect()
}

fn ago(when: Option<DateTime<Utc>>) -> String {
    match when {
        Some(t) => {
            let secs = (Utc::now() - t).num_milliseconds() as f64 / 1e3;
            format!("{} ago", human_age(secs))
        }
        None => "never".into(),
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

fn opt_bytes(value: Option<i64>) -> String {
    value.map(human_bytes).unwrap_or_else(|| "-".into())
}

fn opt_count(value: Option<i64>) -> String {
    value.map(human_count).unwrap_or_else(|| "?".into())
}

fn print_sizes(tables: &[TableSize]) {
    if tables.is_empty() {
        println!("no tables");
        return;
    }
    let mut rows = vec![
        [
            "TABLE", "TOTAL", "HEAP", "INDEXES", "TOAST", "ROWS~", "LIVE", "DEAD", "VACUUMED",
            "ANALYZED", "",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for t in tables {
        let name = if t.schema == "public" {
            t.name.clone()
        } else {
            t.qualified_name()
        };
        let (total, badge) = if t.exclusively_locked {
            (
                format!("~{}", human_bytes(t.estimated_heap_bytes)),
                "🔒 locked (ACCESS EXCLUSIVE): catalog estimates".to_string(),
            )
        } else {
            (opt_bytes(t.total_bytes), String::new())
        };
        rows.push(vec![
            name,
            total,
            opt_bytes(t.heap_bytes),
            opt_bytes(t.index_bytes),
            opt_bytes(t.toast_bytes),
            opt_count(t.estimated_rows),
            opt_count(t.n_live_tup),
            opt_count(t.n_dead_tup),
            ago(later(t.last_vacuum, t.last_autovacuum)),
            ago(later(t.last_analyze, t.last_autoanalyze)),
            badge,
        ]);
    }
    let right = [
        false, true, true, true, true, true, true, true, false, false, false,
    ];
    let b = bold();
    let r = red();
    for (i, line) in columns(&rows, &right).iter().enumerate() {
        let line = line.trim_end();
        if i == 0 {
            println!("{b}{}{b:#}", show_in(line, b));
        } else if tables[i - 1].exclusively_locked {
            println!("{r}{}{r:#}", show_in(line, r));
        } else {
            println!("{}", show(line));
        }
    }
    let locked = tables.iter().filter(|t| t.exclusively_locked).count();
    // A partitioned table's size is its partitions', which are listed too.
    let total: i64 = tables
        .iter()
        .filter(|t| t.kind != "p")
        .filter_map(|t| t.total_bytes)
        .sum();
    println!();
    println!(
        "{} tables, {}{}",
        tables.len(),
        human_bytes(total),
        if locked > 0 {
            format!(", {locked} locked (sizes not read; catalog estimates shown)")
        } else {
            String::new()
        }
    );
}

fn print_locks(migration_lock: &MigrationLock, forest: &[LockTreeNode]) {
    let b = bold();
    println!("{b}{}{b:#}", show_in(&migration_lock.to_string(), b));
    println!();
    if forest.is_empty() {
        println!("no session is waiting for a lock");
        return;
    }
    let text = render_forest(forest);
    let y = yellow();
    for line in text.lines() {
        if line.contains(" waiting ") {
            println!("{y}{}{y:#}", show_in(line, y));
        } else {
            println!("{}", show(line));
        }
    }
}

fn print_activity(sessions: &[Session], threshold: Duration) {
    if sessions.is_empty() {
        println!("no active sessions (use --all to list idle ones)");
        return;
    }
    let mut rows = vec![
        [
            "PID",
            "USER",
            "APPLICATION",
            "STATE",
            "WAIT",
            "XACT",
            "QUERY",
            "QUERY TEXT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in sessions {
        let app = s.application_name.clone().unwrap_or_default();
        let app = if s.is_lockstep {
            format!("[{app}]")
        } else {
            app
        };
        let state = match (&s.state, s.idle_in_transaction_too_long) {
            (Some(state), true) => format!("⚠ {state}"),
            (Some(state), false) => state.clone(),
            (None, _) => s.backend_type.clone().unwrap_or_else(|| "-".into()),
        };
        let wait = match (&s.wait_event_type, &s.wait_event) {
            (Some(kind), Some(event)) => format!("{kind}:{event}"),
            _ => String::new(),
        };
        let age = |a: Option<f64>| a.map(human_age).unwrap_or_default();
        rows.push(vec![
            s.pid.to_string(),
            s.user.clone().unwrap_or_default(),
            shorten(&app, 28),
            state,
            wait,
            age(s.xact_age_secs),
            age(s.query_age_secs),
            shorten(s.query.as_deref().unwrap_or(""), 80),
        ]);
    }
    let right = [true, false, false, false, false, true, true, false];
    let (b, y, d) = (bold(), yellow(), dim());
    for (i, line) in columns(&rows, &right).iter().enumerate() {
        if i == 0 {
            println!("{b}{}{b:#}", show_in(line, b));
        } else if sessions[i - 1].idle_in_transaction_too_long {
            println!("{y}{}{y:#}", show_in(line, y));
        } else if sessions[i - 1].is_lockstep {
            println!("{d}{}{d:#}", show_in(line, d));
        } else {
            println!("{}", show(line));
        }
    }
    let stuck = sessions
        .iter()
        .filter(|s| s.idle_in_transaction_too_long)
        .count();
    if stuck > 0 {
        println!();
        println!(
            "{y}⚠ {stuck} session(s) idle in a transaction for over {}: a migration touching the \
             tables they hold locks on will wait for them{y:#}",
            human_age(threshold.as_secs_f64())
        );
    }
}
