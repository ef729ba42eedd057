//! One monitor refresh against a busy database: 2,000 tables (every tenth with rows, a second
//! index and TOASTed values) and 200 sessions (idle, idle in a transaction holding locks, active,
//! and waiting in lock chains). Prints the median and p95 of 20 refreshes for the full refresh
//! (sizes + activity + lock forest), the per-tick refresh (activity + lock forest), sizes alone,
//! a lock sample of one waiting session, and the apply dialog's blockers of 20 tables.
//!
//! Run: `cargo bench --bench monitor_refresh` (uses `DATABASE_URL`, else a sandbox; the sandbox
//! allows 300 connections).

use std::time::{Duration, Instant};

use lockstep::db::Database;
use lockstep::monitor::{Monitor, RefreshOptions, forest_len};
use lockstep::testing::fresh_database;
use sqlx::postgres::PgConnection;

const TABLES: usize = 2_000;
const SESSIONS: usize = 200;
const REFRESHES: usize = 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn exec(conn: &mut PgConnection, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn create_tables(db: &Database) {
    let mut conn = db.connect("bench-setup").await.expect("connect");
    for batch in 0..TABLES / 100 {
        let mut sql = String::from("BEGIN;");
        for i in batch * 100 + 1..=batch * 100 + 100 {
            sql.push_str(&format!(
                "CREATE TABLE bench_{i} (id bigint PRIMARY KEY, n int, body text);"
            ));
            if i % 10 == 0 {
                sql.push_str(&format!(
                    "INSERT INTO bench_{i} SELECT g, g % 97, repeat(md5(g::text), 100) \
                     FROM generate_series(1, 200) g; CREATE INDEX ON bench_{i} (n);"
                ));
            }
        }
        sql.push_str("COMMIT;");
        exec(&mut conn, sql).await;
    }
    exec(&mut conn, "ANALYZE".into()).await;
}

/// Opens the sessions; returns them (kept open) and the tasks of the blocked ones.
async fn open_sessions(db: &Database) -> (Vec<PgConnection>, Vec<tokio::task::JoinHandle<()>>) {
    let mut kept = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..SESSIONS {
        let mut conn = db
            .connect(&format!("bench-app-{}", i % 7))
            .await
            .expect("connect (raise max_connections?)");
        match i % 10 {
            // 10 %: hold an ACCESS EXCLUSIVE lock in an open transaction (chain roots) ...
            0 => {
                exec(
                    &mut conn,
                    format!("BEGIN; LOCK TABLE bench_{} IN ACCESS EXCLUSIVE MODE", i + 1),
                )
                .await;
                kept.push(conn);
            }
            // ... and 10 % wait behind them.
            1 => {
                let table = i;
                tasks.push(tokio::spawn(async move {
                    let sql = format!("SELECT count(*) FROM bench_{table}");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }));
            }
            // 20 %: idle in a transaction holding an ACCESS SHARE lock.
            2 | 3 => {
                exec(
                    &mut conn,
                    format!("BEGIN; SELECT count(*) FROM bench_{}", 1000 + i),
                )
                .await;
                kept.push(conn);
            }
            // 10 %: running a long query.
            4 => {
                tasks.push(tokio::spawn(async move {
                    let _ = sqlx::raw_sql("SELECT pg_sleep(600)")
                        .execute(&mut conn)
                        .await;
                }));
            }
            // 50 %: idle.
            _ => kept.push(conn),
        }
    }
    (kept, tasks)
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = samples[samples.len() / 2];
    let p95 = samples[((samples.len() as f64 * 0.95).ceil() as usize).min(samples.len()) - 1];
    println!(
        "{label:<42} median {:>8.1} ms   p95 {:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms",
        ms(median),
        ms(p95),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}

async fn bench() {
    let db = fresh_database().await;
    let started = Instant::now();
    create_tables(&db).await;
    println!(
        "created {TABLES} tables in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (_kept, tasks) = open_sessions(&db).await;
    // Let the waiters reach their locks.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut monitor = Monitor::connect(&db).await.expect("monitor");
    let full = RefreshOptions::default();
    let tick = RefreshOptions {
        sizes: false,
        ..RefreshOptions::default()
    };
    // Warm-up: prepares the statements once.
    let first = monitor.refresh_all(&full).await.expect("refresh");
    let sizes = first.sizes.as_ref().map_or(0, Vec::len);
    let locked = first
        .sizes
        .iter()
        .flatten()
        .filter(|t| t.exclusively_locked)
        .count();
    println!(
        "one refresh sees {sizes} tables ({locked} exclusively locked), {} sessions, \
         {} lock waiters, {} nodes in {} lock trees",
        first.activity.len(),
        first.edges.len(),
        forest_len(&first.forest),
        first.forest.len()
    );

    let followed = first
        .edges
        .first()
        .map(|e| e.pid)
        .expect("a waiter to follow");
    let touched: Vec<String> = (1..=20).map(|i| format!("bench_{i}")).collect();
    let mut full_samples = Vec::new();
    let mut lock_samples = Vec::new();
    let mut blocker_samples = Vec::new();
    let mut tick_samples = Vec::new();
    let mut sizes_samples = Vec::new();
    for _ in 0..REFRESHES {
        let t = Instant::now();
        monitor.refresh_all(&full).await.expect("refresh");
        full_samples.push(t.elapsed());
        let t = Instant::now();
        monitor.refresh_all(&tick).await.expect("refresh");
        tick_samples.push(t.elapsed());
        let t = Instant::now();
        monitor.sizes().await.expect("sizes");
        sizes_samples.push(t.elapsed());
        let t = Instant::now();
        monitor.session_locks(followed).await.expect("lock sample");
        lock_samples.push(t.elapsed());
        let t = Instant::now();
        monitor
            .sessions_blocking_tables(&touched, Duration::from_secs(1))
            .await
            .expect("blockers");
        blocker_samples.push(t.elapsed());
    }
    println!("{REFRESHES} refreshes each:");
    summary("full refresh (sizes + activity + locks)", full_samples);
    summary("tick refresh (activity + locks)", tick_samples);
    summary("sizes alone", sizes_samples);
    summary("lock sample of one waiter (session_locks)", lock_samples);
    summary("sessions blocking 20 tables", blocker_samples);
    for task in tasks {
        task.abort();
    }
}
