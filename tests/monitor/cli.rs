//! `lockstep inspect`: JSON shapes, human output and exit codes.

use assert_cmd::Command;
use lockstep::testing::fresh_database;

use crate::common::*;

fn inspect(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    // In the environment, not on the command line, where other accounts could read the password.
    cmd.env("DATABASE_URL", url).arg("inspect");
    cmd
}

fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(output)))
}

#[tokio::test]
async fn inspect_sizes_json_and_human() {
    let db = fresh_database().await;
    table(&db, "conversations", 2000).await;
    table(&db, "users", 3).await;
    let mut holder = session(&db, "migration-like").await;
    holder
        .run("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await;

    let out = inspect(db.url())
        .args(["sizes", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out.stdout);
    assert_eq!(doc["sort"], "total");
    assert_eq!(doc["descending"], true);
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["name"], "conversations", "largest first");
    for key in [
        "schema",
        "total_bytes",
        "heap_bytes",
        "index_bytes",
        "toast_bytes",
        "estimated_rows",
        "n_live_tup",
        "n_dead_tup",
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
        "exclusively_locked",
    ] {
        assert!(tables[0].get(key).is_some(), "missing {key}: {}", tables[0]);
    }
    assert_eq!(tables[0]["estimated_rows"], 2000);
    assert_eq!(tables[1]["exclusively_locked"], true);
    assert!(tables[1]["total_bytes"].is_null());

    let out = inspect(db.url())
        .args(["sizes", "--json", "--sort", "name", "--asc"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    assert_eq!(doc["tables"][0]["name"], "conversations");
    assert_eq!(doc["tables"][1]["name"], "users");

    let out = inspect(db.url()).arg("sizes").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TOTAL"), "{text}");
    assert!(text.contains("2.0k"), "row estimate shown as 2.0k: {text}");
    let users = text.lines().find(|l| l.starts_with("users")).unwrap();
    assert!(users.contains("🔒 locked"), "{text}");
    assert!(text.contains("1 locked"), "{text}");
}

#[tokio::test]
async fn inspect_sizes_counts_a_partitioned_table_once_in_the_total() {
    let db = fresh_database().await;
    exec(
        &db,
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events
             FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         INSERT INTO events SELECT g, DATE '2024-03-01' FROM generate_series(1, 3000) g;",
    )
    .await;
    let out = inspect(db.url())
        .args(["sizes", "--json"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let size = |name: &str| {
        doc["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["total_bytes"].as_i64())
            .unwrap_or_else(|| panic!("{name} in {doc}"))
    };
    assert_eq!(size("events"), size("events_2024"));
    let out = inspect(db.url()).args(["sizes"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "2 tables, {}",
        lockstep::monitor::format::human_bytes(size("events_2024"))
    );
    assert!(
        text.lines().any(|l| l.trim() == expected),
        "{expected:?} in\n{text}"
    );
}

#[tokio::test]
async fn inspect_locks_json_and_tree() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t (id int)").await;
    let mut holder = session(&db, "holder-app").await;
    holder
        .run("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await;
    let (waiter, _w) = session(&db, "waiter-app").await.spawn("SELECT * FROM t");
    wait_until_blocked(&db, waiter, 1).await;

    let out = inspect(db.url())
        .args(["locks", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out.stdout);
    assert_eq!(doc["migration_lock"]["label"], "migration lock (sqlx)");
    assert!(doc["migration_lock"]["holder"].is_null());
    assert_eq!(doc["edges"][0]["pid"], waiter);
    assert_eq!(doc["forest"][0]["pid"], holder.pid);
    assert_eq!(doc["forest"][0]["children"][0]["pid"], waiter);
    assert_eq!(
        doc["forest"][0]["children"][0]["waiting_for"]["mode"],
        "AccessShareLock"
    );

    let out = inspect(db.url()).arg("locks").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("migration lock (sqlx): free"), "{text}");
    assert!(text.contains(&format!("pid {}", holder.pid)), "{text}");
    assert!(text.contains(&format!("└─ pid {waiter}")), "{text}");
}

#[tokio::test]
async fn inspect_activity_marks_idle_transactions() {
    let db = fresh_database().await;
    let mut idle = session(&db, "forgot-to-commit").await;
    idle.run("BEGIN; SELECT 42").await;
    let out = inspect(db.url())
        .args(["activity", "--json", "--idle-threshold", "0s"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out.stdout);
    assert_eq!(doc["idle_threshold_secs"], 0.0);
    let sessions = doc["sessions"].as_array().unwrap();
    let s = sessions.iter().find(|s| s["pid"] == idle.pid).unwrap();
    assert_eq!(s["idle_in_transaction_too_long"], true);
    assert_eq!(s["state"], "idle in transaction");
    assert!(
        sessions.iter().all(|s| s["state"] != "idle"),
        "idle ones hidden"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s["application_name"] != "lockstep:monitor")
    );

    let out = inspect(db.url())
        .args(["activity", "--idle-threshold", "0s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("forgot-to-commit"))
        .unwrap();
    assert!(line.contains("⚠ idle in transaction"), "{text}");
    assert!(
        text.contains("1 session(s) idle in a transaction"),
        "{text}"
    );
}

#[tokio::test]
async fn inspect_rejects_bad_usage_with_exit_2() {
    let db = fresh_database().await;
    let out = inspect(db.url())
        .args(["sizes", "--sort", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown column"));
    let out = inspect(db.url()).arg("everything").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn inspect_never_prints_the_password() {
    let db = fresh_database().await;
    let url = db.url().to_string();
    let mut parsed = url::Url::parse(&url).unwrap();
    let _ = parsed.set_password(Some("s3cret-pw"));
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(1)).unwrap();
    let out = inspect(parsed.as_str())
        .args(["sizes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cret-pw"), "{all}");
}
