//! The `lockstep` binary: status, up, down, redo, new, dry runs, JSON, exit codes, redaction.

use assert_cmd::Command;
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn status_json_and_check_exit_codes() {
    let db = fresh_database().await;
    let dir = three();
    let out = lockstep(db.url(), &dir)
        .args(["status", "--json", "--check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "pending migrations fail --check"
    );
    let doc = json(&out.stdout);
    assert_eq!(doc["history_table_exists"], false);
    assert_eq!(doc["summary"]["pending"], 3);
    assert_eq!(doc["versions"][0]["state"], "pending");
    assert_eq!(doc["versions"][0]["reversible"], true);
    assert!(!exists(&db, "_sqlx_migrations").await);

    lockstep(db.url(), &dir).arg("up").assert().success();
    let out = lockstep(db.url(), &dir)
        .args(["status", "--json", "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out.stdout);
    assert_eq!(doc["summary"]["applied"], 3);
    assert_eq!(
        doc["versions"][2]["file_checksum"],
        doc["versions"][2]["applied_checksum"]
    );

    let human = lockstep(db.url(), &dir).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("3 applied, 0 pending"), "{text}");
}

#[tokio::test]
async fn dry_run_prints_the_exact_sql_and_runs_nothing() {
    let db = fresh_database().await;
    let dir = three();
    let out = lockstep(db.url(), &dir)
        .args(["up", "--to", "1", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sql = String::from_utf8(out.stdout).unwrap();
    let checksum = hex::encode(dir.set().get(1).unwrap().checksum());
    for expected in [
        // The session's timeouts, as the run sets them (lock_timeout 3s by default).
        "SET lock_timeout = '3000ms';\nSELECT pg_try_advisory_lock(",
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations",
        "in one transaction",
        "BEGIN;\n",
        "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL);\n",
        &format!(
            "VALUES ( 1, E'create widgets', TRUE, decode('{checksum}', 'hex'), <elapsed nanoseconds> );"
        ),
        "COMMIT;\n",
        "SELECT pg_advisory_unlock(",
    ] {
        assert!(sql.contains(expected), "missing {expected:?} in:\n{sql}");
    }
    assert!(!sql.contains("add color"), "--to 1 stops at 1");
    let out = lockstep(db.url(), &dir)
        .args([
            "up",
            "--dry-run",
            "--lock-timeout",
            "0",
            "--statement-timeout",
            "5min",
        ])
        .output()
        .unwrap();
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.contains("executed\nSET statement_timeout = '300000ms';\nSELECT pg_try_advisory_lock("),
        "{sql}"
    );
    assert!(!sql.contains("lock_timeout"), "{sql}");
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "a dry run writes nothing"
    );
    assert!(!exists(&db, "widgets").await);

    lockstep(db.url(), &dir).arg("up").assert().success();
    let out = lockstep(db.url(), &dir)
        .args(["down", "--dry-run"])
        .output()
        .unwrap();
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.contains(
            "DROP INDEX widgets_name;\nDELETE FROM _sqlx_migrations WHERE version = 3;\nCOMMIT;"
        ),
        "{sql}"
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn up_down_redo_with_json_events() {
    let db = fresh_database().await;
    let dir = three();
    let out = lockstep(db.url(), &dir)
        .args(["up", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    let finished = events
        .iter()
        .filter(|e| e["event"] == "statement_finished")
        .count();
    assert_eq!(finished, 5);
    assert_eq!(events.last().unwrap()["event"], "summary");

    lockstep(db.url(), &dir)
        .args(["down", "--steps", "2"])
        .assert()
        .success();
    assert_eq!(versions(&db).await, vec![1]);
    lockstep(db.url(), &dir).arg("redo").assert().success();
    assert_eq!(versions(&db).await, vec![1]);
    lockstep(db.url(), &dir)
        .args(["down", "--to", "0"])
        .assert()
        .success();
    assert!(versions(&db).await.is_empty());
}

#[tokio::test]
async fn a_failed_run_exits_non_zero_and_names_the_line() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_bad.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE a (id int);\n",
    )]);
    let out = lockstep(db.url(), &dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("statement 2 (line 2)") && err.contains("42P07"),
        "{err}"
    );
}

/// With a database, a finding on a scan or a rewrite says how many rows the table has there (the
/// server's estimate); a brief lock and a table created by the migration say none.
#[tokio::test]
async fn lint_with_a_database_says_how_many_rows_a_scan_or_rewrite_goes_through() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_orders.sql",
        "CREATE TABLE orders (id int, amount int);\n\
         INSERT INTO orders SELECT g, g FROM generate_series(1, 5000) g;\n\
         ANALYZE orders;\n",
    )]);
    lockstep(db.url(), &dir).arg("up").assert().success();
    dir.write(
        "2_index.sql",
        "CREATE INDEX orders_amount ON orders (amount);\n\
         ALTER TABLE orders ADD COLUMN note text;\n\
         CREATE TABLE refunds (id int);\n\
         CREATE INDEX refunds_id ON refunds (id);\n",
    );
    let out = lockstep(db.url(), &dir).arg("lint").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "SHARE on \"orders\" · blocks writes, not reads · grows with the table size (full scan) · about 5.0k rows in the database"
        ),
        "{text}"
    );
    let out = lockstep(db.url(), &dir)
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let statements = doc["files"][0]["statements"].as_array().unwrap();
    let rows = |i: usize| statements[i]["locks"][0].get("rows").cloned();
    assert_eq!(
        rows(0),
        Some(serde_json::json!(5000)),
        "the index build scans"
    );
    assert_eq!(rows(1), None, "adding a nullable column is brief");
    assert_eq!(rows(3), None, "refunds is new");
}

#[test]
fn new_writes_sqlx_files_with_inferred_versions() {
    let dir = Dir::with(&[
        ("0001_first.up.sql", "SELECT 1;"),
        ("0001_first.down.sql", "SELECT 1;"),
        ("0002_second.up.sql", "SELECT 1;"),
        ("0002_second.down.sql", "SELECT 1;"),
    ]);
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.args(["--source"])
        .arg(&dir.path)
        .args(["new", "add", "users", "table"])
        .assert()
        .success();
    assert!(dir.path.join("0003_add_users_table.up.sql").exists());
    let down = std::fs::read_to_string(dir.path.join("0003_add_users_table.down.sql")).unwrap();
    assert_eq!(down, "-- Add down migration script here\n");
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.args(["--source"])
        .arg(&dir.path)
        .args(["new", "--simple", "--timestamp", "seed"])
        .assert()
        .success();
    let names: Vec<String> = std::fs::read_dir(&dir.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.len() == "20261122000000_seed.sql".len() && n.ends_with("_seed.sql")),
        "{names:?}"
    );
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    let out = cmd
        .args(["--source"])
        .arg(&dir.path)
        .args(["new", "bad/name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be part of a file name"));
}

#[test]
fn the_password_is_never_printed() {
    let dir = three();
    let out = lockstep("postgres://app:s3cretpw@127.0.0.1:1/prod", &dir)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cretpw"), "{all}");
    assert!(all.contains("postgres://app:***@127.0.0.1:1/prod"), "{all}");
}

#[test]
fn with_no_database_configured_it_starts_its_own() {
    let dir = three();
    let project = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(project.path())
        .env_remove("DATABASE_URL")
        .args(["--source"])
        .arg(&dir.path)
        .args(["up"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("throwaway PostgreSQL"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 applied"));
}

#[tokio::test]
async fn the_database_comes_from_dotenv_and_settings_from_the_config_files() {
    let db = fresh_database().await;
    let project = tempfile::tempdir().unwrap();
    let dir = three();
    std::fs::write(
        project.path().join(".env"),
        format!("OTHER=1\nDATABASE_URL={}\n", db.url()),
    )
    .unwrap();
    std::fs::write(
        project.path().join("sqlx.toml"),
        format!(
            "[migrate]\nmigrations-dir = {:?}\ntable-name = \"custom_history\"\n",
            dir.path.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        project.path().join("lockstep.toml"),
        "lock-timeout = \"750ms\"\n",
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.current_dir(project.path())
        .env_remove("DATABASE_URL")
        .args(["up", "--to", "1"])
        .assert()
        .success();
    assert!(exists(&db, "custom_history").await);
    assert!(!exists(&db, "_sqlx_migrations").await);

    std::fs::write(
        project.path().join("lockstep.toml"),
        "lock-timeout = \"soon\"\n",
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    let out = cmd
        .current_dir(project.path())
        .env_remove("DATABASE_URL")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lockstep.toml") && err.contains("lock-timeout"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_watch_prints_again_when_the_files_or_the_history_change() {
    let db = fresh_database().await;
    let dir = three();
    let mut watching = crate::process::Running::start(db.url(), &dir, &["status", "--watch"]);
    let within = std::time::Duration::from_secs(30);
    watching
        .wait_for_output("0 applied, 3 pending", within)
        .await;
    // Another run applies them: the history's digest changes.
    lockstep(db.url(), &dir).arg("up").assert().success();
    watching
        .wait_for_output("3 applied, 0 pending", within)
        .await;
    // A new file: the directory changes.
    dir.write("4_more.up.sql", "SELECT 1;\n");
    dir.write("4_more.down.sql", "SELECT 1;\n");
    watching
        .wait_for_output("3 applied, 1 pending", within)
        .await;
    assert!(
        !watching.stderr().contains("warning"),
        "no failed look: {}",
        watching.stderr()
    );
    watching.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(watching.exit_code(within).await, 0);
}
