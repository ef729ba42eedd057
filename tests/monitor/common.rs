//! Sessions that hold and wait for locks, and bounded polls until the server shows them.

use std::future::Future;
use std::time::{Duration, Instant};

use lockstep::db::Database;
use lockstep::monitor::Monitor;
use sqlx::postgres::PgConnection;
use tokio::task::JoinHandle;

/// How long a scenario may take to appear, and how long a monitor call may take before the test
/// calls it a hang.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A background statement: gives the session back with the statement's result.
pub type Running = JoinHandle<(PgConnection, Result<(), String>)>;

/// A session with its pid.
pub struct Session {
    pub conn: PgConnection,
    pub pid: i32,
}

/// Opens a session with `application_name = name`.
pub async fn session(db: &Database, name: &str) -> Session {
    let mut conn = db.connect(name).await.expect("connect");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    Session { conn, pid }
}

impl Session {
    /// Runs `sql` (several statements allowed) and waits for it.
    pub async fn run(&mut self, sql: &'static str) {
        sqlx::raw_sql(sql)
            .execute(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql` in the background (it is expected to block); returns the task, which gives the
    /// session back with the statement's result.
    pub fn spawn(self, sql: &'static str) -> (i32, Running) {
        let pid = self.pid;
        let mut conn = self.conn;
        let task = tokio::spawn(async move {
            let result = sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            (conn, result)
        });
        (pid, task)
    }
}

/// Runs `sql` on a short-lived connection.
pub async fn exec(db: &Database, sql: &'static str) {
    let mut s = session(db, "lockstep-test-setup").await;
    s.run(sql).await;
}

/// Polls until `pid` waits on a heavyweight lock with `blockers` blocking pids.
pub async fn wait_until_blocked(db: &Database, pid: i32, blockers: usize) {
    let mut probe = session(db, "lockstep-test-probe").await;
    let started = Instant::now();
    loop {
        let n: Option<i32> = sqlx::query_scalar(
            "SELECT cardinality(pg_blocking_pids(pid)) FROM pg_stat_activity \
             WHERE pid = $1 AND wait_event_type = 'Lock'",
        )
        .bind(pid)
        .fetch_optional(&mut probe.conn)
        .await
        .unwrap()
        .flatten();
        if n.is_some_and(|n| n as usize >= blockers) {
            return;
        }
        if started.elapsed() >= PATIENCE {
            let seen: Vec<(i32, Option<String>, Option<Vec<i32>>)> = sqlx::query_as(
                "SELECT pid, wait_event_type, pg_blocking_pids(pid) FROM pg_stat_activity \
                 WHERE datname = current_database()",
            )
            .fetch_all(&mut probe.conn)
            .await
            .unwrap();
            panic!("pid {pid} never waited on {blockers} blocker(s): {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls until `pid` shows `state`.
pub async fn wait_until_state(db: &Database, pid: i32, state: &str) {
    let mut probe = session(db, "lockstep-test-probe").await;
    let started = Instant::now();
    loop {
        let now: Option<Option<String>> =
            sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
                .bind(pid)
                .fetch_optional(&mut probe.conn)
                .await
                .unwrap();
        if now.flatten().as_deref() == Some(state) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "pid {pid} never became {state}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Awaits a monitor call, failing the test if it hangs.
pub async fn promptly<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {PATIENCE:?}"))
}

/// A monitor on `db`.
pub async fn monitor(db: &Database) -> Monitor {
    Monitor::connect(db).await.expect("monitor connects")
}

/// A table `name` with `rows` rows, analyzed (so its row estimate is known), with an index and a
/// TOASTable column.
pub async fn table(db: &Database, name: &str, rows: i64) {
    let mut s = session(db, "lockstep-test-setup").await;
    let sql = format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, body text);
         INSERT INTO {name} SELECT g, repeat('x', 20) FROM generate_series(1, {rows}) g;
         ANALYZE {name};"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut s.conn)
        .await
        .unwrap();
}
