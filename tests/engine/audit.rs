//! The audit trail: what `up`, `down`, `redo` and `resolve` record in the database, how
//! `history` and `status` read it back, and that a killed run reads as interrupted.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::join_all;
use lockstep::audit::{AuditSettings, Recorder, RunEnd, RunInfo, Tap};
use lockstep::db::Database;
use lockstep::testing::pgbouncer::{PgBouncer, PgBouncerConfig};
use lockstep::testing::{fresh_database, runner_holds_the_migration_lock};
use nix::sys::signal::Signal;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::migrate::Migrator;

use crate::common::*;
use crate::process::{Running, wait_until};

/// `lockstep ARGS…` on `db` with the migrations of `dir`: its exit code, stdout and stderr.
fn cli(db: &Database, dir: &Dir, args: &[&str]) -> (i32, String, String) {
    let output = lockstep(db.url(), dir).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `lockstep ARGS…` that must succeed; its stdout.
fn cli_ok(db: &Database, dir: &Dir, args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(db, dir, args);
    assert_eq!(
        code, 0,
        "lockstep {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The last JSON line a run printed: its summary.
fn summary(stdout: &str) -> Value {
    json(stdout.lines().last().expect("a summary line").as_bytes())
}

/// `lockstep history --json ARGS…`.
fn history(db: &Database, dir: &Dir, args: &[&str]) -> Value {
    let mut all = vec!["history", "--json"];
    all.extend_from_slice(args);
    json(cli_ok(db, dir, &all).as_bytes())
}

/// The newest run in the audit.
fn newest_run(db: &Database, dir: &Dir) -> Value {
    history(db, dir, &[])["runs"][0].clone()
}

async fn audit_schema_exists(db: &Database) -> bool {
    scalar_i64(
        db,
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'lockstep_audit'",
    )
    .await
        == 1
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn a_successful_run_is_recorded_with_who_and_each_statement() {
    let db = fresh_database().await;
    let dir = three();
    let stdout = cli_ok(&db, &dir, &["up", "--json", "--no-check"]);
    let run_id = summary(&stdout)["audit_run"]
        .as_i64()
        .expect("the summary names the audit run");

    let run = newest_run(&db, &dir);
    assert_eq!(run["id"], run_id);
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["ended_unrecorded"], false);
    assert_eq!(run["lockstep_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        run["command"]
            .as_str()
            .unwrap()
            .ends_with("up --json --no-check"),
        "{run}"
    );
    let os_user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(run["os_user"], os_user.as_str());
    assert_eq!(
        run["host"],
        nix::unistd::gethostname().unwrap().to_str().unwrap()
    );
    let mut c = conn(&db).await;
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(run["database_user"], user.as_str());
    assert!(run["finished_at"].is_string() && run["duration_ms"].as_f64().unwrap() > 0.0);

    let migrations = run["migrations"].as_array().unwrap();
    let versions: Vec<(i64, &str, &str)> = migrations
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["action"].as_str().unwrap(),
                m["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (1, "apply", "succeeded"),
            (2, "apply", "succeeded"),
            (3, "apply", "succeeded")
        ]
    );
    let first = migrations[0]["statements"].as_array().unwrap();
    assert_eq!(first.len(), 2);
    let file = std::fs::read_to_string(dir.path.join("1_create_widgets.up.sql")).unwrap();
    let (split, _) = lockstep::sql::split_statements(&file);
    for (recorded, statement) in first.iter().zip(&split) {
        assert_eq!(recorded["sha256"], sha256(&statement.text).as_str());
        assert_eq!(recorded["line"], statement.start.line as i64);
        assert!(recorded["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(recorded["error"].is_null());
    }
    assert!(
        first[1]["first_line"]
            .as_str()
            .unwrap()
            .starts_with("INSERT INTO widgets (name)")
    );
    assert_eq!(first[1]["rows_affected"], 100, "{first:?}");
    assert_eq!(
        migrations[1]["statements"].as_array().unwrap().len(),
        2,
        "the function body's `;` does not split it"
    );

    // The list, for people.
    let listed = cli_ok(&db, &dir, &["history"]);
    assert!(listed.contains(&format!("#{run_id}")), "{listed}");
    assert!(listed.contains("succeeded"), "{listed}");
    assert!(listed.contains("applied 1, 2, 3"), "{listed}");
    let detail = cli_ok(&db, &dir, &["history", "--run", &run_id.to_string()]);
    assert!(detail.contains("INSERT INTO widgets"), "{detail}");
    assert!(detail.contains("100 rows"), "{detail}");

    // status says who applied each version.
    let status = json(cli_ok(&db, &dir, &["status", "--json"]).as_bytes());
    for version in status["versions"].as_array().unwrap() {
        let by = &version["applied_by"];
        assert_eq!(by["source"], "audit", "{version}");
        assert_eq!(by["run_id"], run_id);
        assert_eq!(by["os_user"], os_user.as_str());
    }
    let human = cli_ok(&db, &dir, &["status"]);
    assert!(
        human.contains(&format!("by {os_user}@")) && human.contains(&format!("run {run_id}")),
        "{human}"
    );
}

#[tokio::test]
async fn a_failed_run_records_the_statement_error_and_keeps_the_rolled_back_statements() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_ok.sql", "CREATE TABLE ok (id int);\n"),
        (
            "2_broken.sql",
            "INSERT INTO ok VALUES (1);\nSELECT * FROM no_such_table;\n",
        ),
    ]);
    let (code, stdout, _) = cli(&db, &dir, &["up", "--json", "--no-check"]);
    assert_eq!(code, 1);
    let run_id = summary(&stdout)["audit_run"].as_i64().unwrap();
    assert_eq!(versions(&db).await, vec![1], "migration 2 rolled back");

    let run = newest_run(&db, &dir);
    assert_eq!(run["id"], run_id);
    assert_eq!(run["outcome"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("no_such_table"),
        "{run}"
    );
    let broken = &run["migrations"][1];
    assert_eq!(broken["version"], 2);
    assert_eq!(broken["outcome"], "failed");
    // The audit has its own connection: the statements of the rolled-back migration stay.
    let statements = broken["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{broken}");
    assert!(statements[0]["error"].is_null());
    assert_eq!(statements[0]["rows_affected"], 1);
    let error = statements[1]["error"].as_str().unwrap();
    assert!(
        error.contains("no_such_table") && error.contains("SQLSTATE 42P01"),
        "{error}"
    );
    let detail = cli_ok(&db, &dir, &["history", "--run", &run_id.to_string()]);
    assert!(detail.contains("failed"), "{detail}");
    assert!(detail.contains("SQLSTATE 42P01"), "{detail}");
}

/// A table the test holds ACCESS EXCLUSIVE on (in an open transaction), and a migration that
/// waits for it; the holder's connection and backend pid.
async fn a_held_table(db: &Database) -> (Dir, sqlx::PgConnection, i32) {
    let mut setup = conn(db).await;
    sqlx::raw_sql("CREATE TABLE held (id int)")
        .execute(&mut setup)
        .await
        .unwrap();
    setup.close().await.unwrap();
    let mut holder = db.connect("test-holder").await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let dir = Dir::with(&[("1_wait.sql", "SELECT count(*) FROM held;\n")]);
    (dir, holder, pid)
}

/// Waits until the audit records statement 1 of the newest run waiting on `pid`.
async fn wait_for_recorded_blocker(db: &Database, pid: i32) {
    let recorded = wait_until(Duration::from_secs(30), || async {
        let mut c = conn(db).await;
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM lockstep_audit.statements WHERE blocker_pid = $1",
        )
        .bind(pid)
        .fetch_one(&mut c)
        .await
        .ok();
        let _ = c.close().await;
        seen == Some(1)
    })
    .await;
    assert!(recorded, "the audit did not record the wait on pid {pid}");
}

#[tokio::test]
async fn a_statement_that_waits_records_its_wait_and_blocker() {
    let db = fresh_database().await;
    let (dir, mut holder, pid) = a_held_table(&db).await;
    let mut run = Running::start(db.url(), &dir, &["up", "--lock-timeout", "0", "--no-check"]);
    wait_for_recorded_blocker(&db, pid).await;
    // Held a little longer, so the wait is longer than one sample.
    tokio::time::sleep(Duration::from_millis(600)).await;
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 0);

    let run = newest_run(&db, &dir);
    assert_eq!(run["outcome"], "succeeded");
    let statement = &run["migrations"][0]["statements"][0];
    assert!(
        statement["lock_wait_ms"].as_f64().unwrap() >= 500.0,
        "{statement}"
    );
    assert!(
        statement["duration_ms"].as_f64().unwrap() >= statement["lock_wait_ms"].as_f64().unwrap()
    );
    assert_eq!(statement["waiting_for"], "ACCESS SHARE on held");
    let blocker = &statement["blocker"];
    assert_eq!(blocker["pid"], pid);
    assert_eq!(blocker["application"], "test-holder");
    assert!(
        blocker["query"]
            .as_str()
            .unwrap()
            .contains("LOCK TABLE held"),
        "{blocker}"
    );
    let id = run["id"].to_string();
    let detail = cli_ok(&db, &dir, &["history", "--run", &id]);
    assert!(
        detail.contains(&format!("held by pid {pid} (")) && detail.contains("test-holder"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_run_stopped_with_ctrl_c_is_recorded_as_interrupted() {
    let db = fresh_database().await;
    let (dir, holder, pid) = a_held_table(&db).await;
    let mut run = Running::start(db.url(), &dir, &["up", "--lock-timeout", "0", "--no-check"]);
    wait_for_recorded_blocker(&db, pid).await;
    run.signal(Signal::SIGINT);
    assert_eq!(run.exit_code(Duration::from_secs(10)).await, 130);
    let stderr = run.stderr();
    assert!(
        stderr.contains("recorded in the audit trail as run"),
        "{stderr}"
    );
    let recorded = newest_run(&db, &dir);
    assert_eq!(recorded["outcome"], "interrupted");
    assert_eq!(
        recorded["ended_unrecorded"], false,
        "lockstep said so itself"
    );
    assert!(recorded["finished_at"].is_string());
    let migration = &recorded["migrations"][0];
    assert_eq!(migration["outcome"], "interrupted");
    let statement = &migration["statements"][0];
    assert!(
        statement["error"].as_str().unwrap().contains("interrupted"),
        "{statement}"
    );
    assert!(statement["duration_ms"].as_f64().unwrap() >= 500.0);
    holder.close().await.unwrap();
}

#[tokio::test]
async fn a_killed_run_reads_as_interrupted_never_as_succeeded() {
    let db = fresh_database().await;
    let (dir, mut holder, pid) = a_held_table(&db).await;
    let mut run = Running::start(db.url(), &dir, &["up", "--lock-timeout", "0", "--no-check"]);
    wait_for_recorded_blocker(&db, pid).await;
    let running = newest_run(&db, &dir);
    assert_eq!(running["outcome"], "running", "{running}");
    assert_eq!(running["migrations"][0]["outcome"], "running");

    run.signal(Signal::SIGKILL);
    assert_eq!(run.exit_code(Duration::from_secs(10)).await, -1);
    let mut last = Value::Null;
    let interrupted = wait_until(Duration::from_secs(20), || {
        last = newest_run(&db, &dir);
        let outcome = last["outcome"].clone();
        async move { outcome == "interrupted" }
    })
    .await;
    assert!(interrupted, "{last}");
    assert_eq!(last["ended_unrecorded"], true);
    assert!(last["finished_at"].is_null());
    assert_eq!(last["migrations"][0]["outcome"], "interrupted");
    let statement = &last["migrations"][0]["statements"][0];
    assert!(statement["duration_ms"].is_null(), "{statement}");
    assert_eq!(statement["blocker"]["pid"], pid);
    let listed = cli_ok(&db, &dir, &["history"]);
    assert!(listed.contains("interrupted"), "{listed}");
    let detail = cli_ok(&db, &dir, &["history", "--run", &last["id"].to_string()]);
    assert!(
        detail.contains("stopped without recording how the run ended"),
        "{detail}"
    );
    // The row itself was never marked as anything but running.
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM lockstep_audit.runs WHERE outcome = 'running'"
        )
        .await,
        1
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_running_row_whose_heartbeat_is_stale_reads_as_interrupted() {
    // Behind a pooler no backend lives as long as lockstep: the heartbeat tells.
    let db = fresh_database().await;
    let dir = three();
    cli_ok(&db, &dir, &["up", "--no-check"]);
    let mut c = conn(&db).await;
    sqlx::raw_sql(
        "UPDATE lockstep_audit.runs SET outcome = 'running', finished_at = NULL, writer_pid = NULL, \
         writer_backend_start = NULL, heartbeat_at = clock_timestamp()",
    )
    .execute(&mut c)
    .await
    .unwrap();
    assert_eq!(newest_run(&db, &dir)["outcome"], "running");
    sqlx::raw_sql(
        "UPDATE lockstep_audit.runs SET heartbeat_at = clock_timestamp() - interval '61 seconds'",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let run = newest_run(&db, &dir);
    assert_eq!(run["outcome"], "interrupted");
    assert_eq!(run["ended_unrecorded"], true);
}

#[tokio::test]
async fn down_redo_and_resolve_are_recorded() {
    let db = fresh_database().await;
    let dir = three();
    cli_ok(&db, &dir, &["up", "--no-check"]);
    cli_ok(&db, &dir, &["down", "--no-check"]);
    let down = newest_run(&db, &dir);
    assert_eq!(down["migrations"][0]["action"], "revert");
    assert_eq!(down["migrations"][0]["version"], 3);
    assert_eq!(down["outcome"], "succeeded");
    cli_ok(&db, &dir, &["up", "--no-check"]);
    cli_ok(&db, &dir, &["redo", "--no-check"]);
    let redo = newest_run(&db, &dir);
    let steps: Vec<(String, i64)> = redo["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["action"].as_str().unwrap().to_string(),
                m["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, vec![("revert".into(), 3), ("apply".into(), 3)]);
    // Version 3 was applied again by the redo: status names that run.
    let status = json(cli_ok(&db, &dir, &["status", "--json"]).as_bytes());
    assert_eq!(status["versions"][2]["applied_by"]["run_id"], redo["id"]);

    // A partial -- no-transaction migration, finished by hand, then resolved.
    let partial = Dir::with(&[
        ("1_table.sql", "CREATE TABLE t (a int);"),
        (
            "2_indexes.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n",
        ),
    ]);
    let db = fresh_database().await;
    let (code, _, _) = cli(&db, &partial, &["up", "--no-check"]);
    assert_eq!(code, 1);
    let mut c = conn(&db).await;
    sqlx::raw_sql("ALTER TABLE t ADD COLUMN b int; CREATE INDEX t_b ON t (b);")
        .execute(&mut c)
        .await
        .unwrap();
    let resolved = json(
        cli_ok(&db, &partial, &["resolve", "2", "--applied", "--json"])
            .lines()
            .last()
            .unwrap()
            .as_bytes(),
    );
    let run = newest_run(&db, &partial);
    assert_eq!(run["id"], resolved["audit_run"]);
    assert_eq!(run["outcome"], "succeeded");
    assert!(
        run["command"]
            .as_str()
            .unwrap()
            .ends_with("resolve 2 --applied --json")
    );
    assert_eq!(run["migrations"][0]["action"], "mark_applied");
    assert_eq!(run["migrations"][0]["version"], 2);
    let status = json(cli_ok(&db, &partial, &["status", "--json"]).as_bytes());
    assert_eq!(status["versions"][1]["applied_by"]["resolved"], true);
    assert_eq!(status["versions"][1]["applied_by"]["run_id"], run["id"]);
}

/// `sqlx migrate info` for `dir` on `db`: `(version, installed)` per migration.
fn sqlx_info(db: &Database, dir: &Dir) -> Vec<(i64, bool)> {
    let sqlx = std::env::var_os("SQLX_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/sqlx"))
        })
        .filter(|path| path.exists())
        .expect(
            "this test needs sqlx-cli 0.9 (`cargo install sqlx-cli --version '^0.9' \
             --no-default-features --features postgres,rustls`), at ~/.cargo/bin/sqlx or in \
             SQLX_BIN",
        );
    let output = std::process::Command::new(sqlx)
        .args(["migrate", "info", "--no-dotenv", "--source"])
        .arg(&dir.path)
        .current_dir(&dir.path)
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sqlx migrate info failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| {
            let (version, rest) = line.split_once('/')?;
            let state = rest.split_whitespace().next()?;
            Some((version.trim().parse().ok()?, state == "installed"))
        })
        .collect()
}

#[tokio::test]
async fn sqlx_and_its_migrator_agree_with_lockstep_after_audited_runs() {
    let db = fresh_database().await;
    let dir = three();
    cli_ok(&db, &dir, &["up", "--to", "2", "--no-check"]);
    assert!(audit_schema_exists(&db).await);
    assert_eq!(sqlx_info(&db, &dir), vec![(1, true), (2, true), (3, false)]);

    // sqlx's Migrator applies the rest, unbothered by the audit schema.
    let migrator = Migrator::new(dir.path.clone()).await.unwrap();
    let mut c = conn(&db).await;
    migrator.run(&mut c).await.expect("sqlx runs on");
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
    assert_eq!(sqlx_info(&db, &dir), vec![(1, true), (2, true), (3, true)]);

    // lockstep agrees, and knows who applied what: itself 1 and 2, sqlx 3 (history only).
    let status = json(cli_ok(&db, &dir, &["status", "--json"]).as_bytes());
    assert_eq!(status["summary"]["applied"], 3);
    let sources: Vec<&str> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["applied_by"]["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, vec!["audit", "audit", "history"]);

    // Nothing of the audit is in public or in sqlx's table: the same relations as a database
    // migrated without it.
    let plain = fresh_database().await;
    cli_ok(&plain, &dir, &["--no-audit", "up", "--no-check"]);
    let public = "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c \
                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'";
    let (mut a, mut b) = (conn(&db).await, conn(&plain).await);
    let with_audit: String = sqlx::query_scalar(public).fetch_one(&mut a).await.unwrap();
    let without: String = sqlx::query_scalar(public).fetch_one(&mut b).await.unwrap();
    assert_eq!(with_audit, without);
    assert!(!audit_schema_exists(&plain).await);
    migrator
        .run(&mut c)
        .await
        .expect("sqlx still sees nothing to do");
    assert_eq!(rows(&db).await.len(), 3);
}

#[tokio::test]
async fn audit_false_and_no_audit_write_nothing() {
    let db = fresh_database().await;
    let dir = three();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("lockstep.toml"), "audit = false\n").unwrap();
    let project_dir = project.path().to_str().unwrap();
    let stdout = cli_ok(
        &db,
        &dir,
        &["--project", project_dir, "up", "--json", "--no-check"],
    );
    assert!(summary(&stdout)["audit_run"].is_null());
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
    assert!(!audit_schema_exists(&db).await);
    let history = history(&db, &dir, &["--project", project_dir]);
    assert_eq!(history["exists"], false);
    assert_eq!(history["runs"], serde_json::json!([]));

    let db = fresh_database().await;
    let (code, _, stderr) = cli(&db, &dir, &["up", "--no-audit", "--no-check"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("--no-audit: this run is not recorded"),
        "{stderr}"
    );
    assert!(!audit_schema_exists(&db).await);
}

/// A role that may create tables in `public` but not schemas; `db` reached as it.
async fn role_without_create_schema(db: &Database) -> Database {
    let role = format!("no_schema_{}", std::process::id());
    let mut c = conn(db).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {role} LOGIN PASSWORD 'pw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         GRANT CREATE ON SCHEMA public TO {role};"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("pw")).unwrap();
    Database::at(url.to_string(), lockstep::db::UrlSource::Environment)
}

#[test]
fn a_server_that_cannot_be_reached_is_what_up_says_not_the_audits_advice() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = Database::at(
        format!("postgres://app@127.0.0.1:{port}/app"),
        lockstep::db::UrlSource::Environment,
    );
    let (code, _, stderr) = cli(&unreachable, &three(), &["up", "--no-check"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("lockstep up failed"), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(!stderr.contains("audit"), "{stderr}");
}

#[tokio::test]
async fn a_run_whose_audit_cannot_be_written_does_not_start_unless_no_audit() {
    let db = fresh_database().await;
    let dir = three();
    let restricted = role_without_create_schema(&db).await;
    let (code, _, stderr) = cli(&restricted, &dir, &["up", "--no-check"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the run was not started"), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("--no-audit"), "{stderr}");
    assert!(!exists(&db, "_sqlx_migrations").await, "nothing ran");

    cli_ok(&restricted, &dir, &["up", "--no-audit", "--no-check"]);
    assert_eq!(versions(&db).await, vec![1, 2, 3]);

    // Once the schema exists (a DBA ran lockstep), the user needs no right to create it.
    cli_ok(&db, &dir, &["down", "--no-check"]);
    let mut c = conn(&db).await;
    let role = restricted.names().1;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "GRANT USAGE ON SCHEMA lockstep_audit TO {role};
         GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA lockstep_audit TO {role};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA lockstep_audit TO {role};"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    cli_ok(&restricted, &dir, &["up", "--no-check"]);
    let run = newest_run(&db, &dir);
    assert_eq!(run["database_user"], role.as_str());
    assert_eq!(run["outcome"], "succeeded");
}

#[tokio::test]
async fn the_runner_plans_and_locks_while_the_audit_begins_but_writes_only_after_its_row() {
    let db = fresh_database().await;
    let dir = three();
    // Hold the audit schema's creation lock: the audit cannot begin until it is released.
    let mut holder = conn(&db).await;
    sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lockstep::audit::schema::lock_key("lockstep_audit"))
        .execute(&mut holder)
        .await
        .unwrap();
    let mut run = Running::start(db.url(), &dir, &["up", "--no-check"]);
    // The runner takes the migration lock (a session-level advisory lock) meanwhile.
    let locked = wait_until(Duration::from_secs(20), || {
        runner_holds_the_migration_lock(&db)
    })
    .await;
    assert!(
        locked,
        "the runner took its lock while the audit waited\n{}",
        run.stderr()
    );
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "nothing is written before the run's row is in"
    );
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    assert_eq!(
        run.exit_code(Duration::from_secs(20)).await,
        0,
        "{}",
        run.stderr()
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
    let recorded = newest_run(&db, &dir);
    assert_eq!(recorded["outcome"], "succeeded");
    let before_first: i64 = scalar_i64(
        &db,
        "SELECT count(*) FROM lockstep_audit.runs r \
         WHERE r.started_at <= (SELECT min(installed_on) FROM _sqlx_migrations)",
    )
    .await;
    assert_eq!(
        before_first, 1,
        "the run's row precedes its first migration"
    );
}

#[tokio::test]
async fn the_audits_digest_moves_with_recorded_applies_not_with_heartbeats() {
    let db = fresh_database().await;
    let dir = three();
    cli_ok(&db, &dir, &["up", "--no-check"]);
    let settings = AuditSettings::default();
    let mut c = conn(&db).await;
    let before = lockstep::audit::fingerprint(&mut c, &settings)
        .await
        .unwrap();
    assert!(before.is_some());
    sqlx::raw_sql("UPDATE lockstep_audit.runs SET heartbeat_at = clock_timestamp()")
        .execute(&mut c)
        .await
        .unwrap();
    let heartbeat = lockstep::audit::fingerprint(&mut c, &settings)
        .await
        .unwrap();
    assert_eq!(
        heartbeat, before,
        "a heartbeat changes nothing who applied what"
    );
    cli_ok(&db, &dir, &["redo", "--no-check"]);
    let after = lockstep::audit::fingerprint(&mut c, &settings)
        .await
        .unwrap();
    assert_ne!(after, before, "a recorded apply changes the digest");
}

#[tokio::test]
async fn an_audit_schema_on_the_users_search_path_is_refused_and_not_created() {
    // A schema named like the user is on the default search_path as "$user": the migrations'
    // tables would go into it.
    let db = fresh_database().await;
    let dir = three();
    let mut c = conn(&db).await;
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut c)
        .await
        .unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("lockstep.toml"),
        format!("audit-schema = \"{user}\"\n"),
    )
    .unwrap();
    let (code, _, stderr) = cli(
        &db,
        &dir,
        &["--project", project.path().to_str().unwrap(), "up"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("search_path"), "{stderr}");
    assert!(stderr.contains("audit-schema"), "{stderr}");
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&user)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(schemas, 0, "the schema was rolled back");
    assert!(!exists(&db, "_sqlx_migrations").await, "nothing ran");
}

#[tokio::test]
async fn runs_creating_the_schema_at_once_all_succeed() {
    let db = fresh_database().await;
    let settings = AuditSettings::default();
    let begun = join_all((0..4).map(|i| {
        let (db, settings) = (&db, &settings);
        async move {
            let (events, _seen) = tokio::sync::mpsc::unbounded_channel();
            let (tap, sink) = Tap::new(events);
            let info = RunInfo::command(format!("lockstep test {i}"));
            let recorder = Recorder::begin(db, settings, &info, tap).await?;
            drop(sink);
            recorder.finish(RunEnd::Succeeded).await
        }
    }))
    .await;
    for result in begun {
        result.expect("every run records itself");
    }
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM lockstep_audit.schema_version").await,
        1
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM lockstep_audit.runs WHERE outcome = 'succeeded'"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn a_pooled_run_behind_a_transaction_pooler_writes_the_audit() {
    let direct = fresh_database().await;
    let bouncer = PgBouncer::start(PgBouncerConfig::mode("transaction"));
    let pooled = bouncer.database(&direct);
    let dir = three();
    // Refused without --pooled: recorded as a failed run that applied nothing.
    let (code, _, stderr) = cli(&pooled, &dir, &["up", "--no-check"]);
    assert_eq!(code, 1, "{stderr}");
    let refused = newest_run(&pooled, &dir);
    assert_eq!(refused["outcome"], "failed");
    assert!(
        refused["error"].as_str().unwrap().contains("--pooled"),
        "{refused}"
    );
    assert_eq!(refused["migrations"], serde_json::json!([]));

    let stdout = cli_ok(&pooled, &dir, &["up", "--pooled", "--json", "--no-check"]);
    let run_id = summary(&stdout)["audit_run"].as_i64().unwrap();
    let run = newest_run(&pooled, &dir);
    assert_eq!(run["id"], run_id);
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["migrations"].as_array().unwrap().len(), 3);
    assert_eq!(run["migrations"][0]["statements"][1]["rows_affected"], 100);
    // No backend outlives lockstep behind a pooler: the run is watched by its heartbeat.
    assert_eq!(
        scalar_i64(
            &direct,
            "SELECT count(*) FROM lockstep_audit.runs WHERE writer_pid IS NULL"
        )
        .await,
        2
    );
    // Nothing of the audit's stays on the pooler's server connections.
    assert_eq!(
        scalar_i64(
            &direct,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        .await,
        0
    );
    drop(bouncer);
}
