//! Environments, the schema snapshot before a run and the data kept before destructive
//! statements, through the `lockstep` binary on a real server.

use std::path::{Path, PathBuf};

use lockstep::db::Database;
use lockstep::rehearse::catalog::{self, Moment};
use lockstep::testing::fresh_database;
use sqlx::Connection;

use crate::common::*;

/// The project directory of `dir` (beside its migrations), with `lockstep.toml` holding `toml`.
fn project(dir: &Dir, toml: &str) -> PathBuf {
    let project = dir.path.parent().unwrap().to_path_buf();
    std::fs::write(project.join("lockstep.toml"), toml).unwrap();
    project
}

/// A production environment on the test database (its URL comes from DATABASE_URL), with its
/// snapshots in `<project>/snaps`.
const PRODUCTION: &str = "[environments.production]\nproduction = true\nsnapshot-dir = \"snaps\"\n";

/// `lockstep --env production --project <project> …`.
fn production(db: &Database, dir: &Dir, project: &Path) -> assert_cmd::Command {
    let mut cmd = lockstep(db.url(), dir);
    cmd.arg("--project")
        .arg(project)
        .args(["--env", "production"]);
    cmd
}

/// Runs `psql -f file` on `db`, the connection in the environment (never on the command line).
fn psql(db: &Database, file: &Path) -> std::process::Output {
    let url = url::Url::parse(db.url()).unwrap();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    std::process::Command::new("psql")
        .env("PGHOST", url.host_str().unwrap())
        .env("PGPORT", url.port().unwrap_or(5432).to_string())
        .env("PGUSER", decode(url.username()))
        .env("PGPASSWORD", decode(url.password().unwrap_or("")))
        .env("PGDATABASE", decode(url.path().trim_start_matches('/')))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("running psql (apt-get install postgresql-client)")
}

fn files_named(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Asserts that a command succeeded, showing its stderr when it did not.
fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn schema(db: &Database) -> catalog::Catalog {
    let mut c = conn(db).await;
    let version = lockstep::db::server_version_num(&mut c).await.unwrap();
    let snapshot = catalog::snapshot(&mut c, version, false).await.unwrap();
    c.close().await.unwrap();
    snapshot
}

fn database_name(db: &Database) -> String {
    db.names().0
}

#[tokio::test]
async fn a_production_run_writes_a_schema_snapshot_that_restores_to_the_same_schema() {
    let db = fresh_database().await;
    let dir = three();
    let project = project(&dir, PRODUCTION);
    lockstep(db.url(), &dir)
        .args(["up", "--to", "2"])
        .assert()
        .success();
    let before = schema(&db).await;

    let out = production(&db, &dir, &project)
        .args(["up", "--confirm", &database_name(&db)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
    let snapshots = files_named(&project.join("snaps"), "schema.sql");
    assert_eq!(snapshots.len(), 1, "{stderr}");
    let snapshot = &snapshots[0];
    let run_dir = snapshot
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(
        run_dir.starts_with(&format!("{}-", database_name(&db))) && run_dir.ends_with("-up-3"),
        "named with the database, the time and the versions: {run_dir}"
    );
    assert!(
        stderr.contains(&snapshot.display().to_string()),
        "the path is printed: {stderr}"
    );
    assert!(stderr.contains("production-like"), "{stderr}");
    assert_eq!(mode(snapshot), 0o600);
    assert_eq!(mode(snapshot.parent().unwrap()), 0o700);

    let empty = fresh_database().await;
    let restored = psql(&empty, snapshot);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let after_restore = schema(&empty).await;
    let differences = catalog::diff(&before, &after_restore, &before, Moment::AfterUpAgain);
    assert!(
        differences.is_empty(),
        "the restored schema differs: {:#?}",
        differences.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    assert!(before.has_table("widgets"));
}

#[tokio::test]
async fn no_snapshot_runs_without_one_and_the_outcome_says_so() {
    let db = fresh_database().await;
    let dir = three();
    let project = project(&dir, PRODUCTION);
    // Without pg_dump the run does not start...
    let no_pg_dump = tempfile::tempdir().unwrap();
    let out = production(&db, &dir, &project)
        .env("LOCKSTEP_PG_BIN", no_pg_dump.path())
        .args(["up", "--confirm", &database_name(&db)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the schema snapshot could not be written, so the run did not start")
            && stderr.contains("no pg_dump found")
            && stderr.contains("--no-snapshot"),
        "{stderr}"
    );
    assert!(!exists(&db, "_sqlx_migrations").await, "nothing ran");
    // ...unless --no-snapshot, which the outcome records.
    let out = production(&db, &dir, &project)
        .env("LOCKSTEP_PG_BIN", no_pg_dump.path())
        .args([
            "up",
            "--json",
            "--no-snapshot",
            "--confirm",
            &database_name(&db),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    let snapshot = lines
        .iter()
        .find(|l| l["event"] == "snapshot")
        .expect("a snapshot event");
    assert_eq!(snapshot["outcome"]["skipped_by_flag"], true);
    assert!(snapshot["outcome"]["path"].is_null());
    let summary = lines.iter().find(|l| l["event"] == "summary").unwrap();
    assert_eq!(summary["snapshot"]["skipped_by_flag"], true);
    assert!(files_named(&project.join("snaps"), "schema.sql").is_empty());
    assert_eq!(versions(&db).await, vec![1, 2, 3]);

    let human = production(&db, &dir, &project)
        .args(["down", "--no-snapshot", "--confirm", &database_name(&db)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(human.status.success(), "{stderr}");
    assert!(
        stderr.contains("schema snapshot skipped (--no-snapshot)"),
        "{stderr}"
    );
}

/// Users with emails, then a migration that drops the email column.
fn users_dropping_email() -> Dir {
    Dir::with(&[
        (
            "1_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(200) NOT NULL, name text);\n\
             INSERT INTO users SELECT g, 'user' || g || '@example.com', 'n' || g \
             FROM generate_series(1, 500) g;\n",
        ),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "2_drop_email.up.sql",
            "ALTER TABLE users ADD COLUMN note text;\n\
             UPDATE users SET email = 'moved@example.com' WHERE id = 1;\n\
             ALTER TABLE users DROP COLUMN email;\n",
        ),
        (
            "2_drop_email.down.sql",
            "ALTER TABLE users ADD COLUMN email varchar(200);\nALTER TABLE users DROP COLUMN note;\n",
        ),
    ])
}

async fn emails(db: &Database) -> String {
    let mut c = conn(db).await;
    let text: Option<String> =
        sqlx::query_scalar("SELECT string_agg(id || '=' || email, ',' ORDER BY id) FROM users")
            .fetch_one(&mut c)
            .await
            .unwrap();
    c.close().await.unwrap();
    text.unwrap_or_default()
}

#[tokio::test]
async fn a_dropped_columns_data_is_kept_and_restore_sql_brings_it_back() {
    let db = fresh_database().await;
    let dir = users_dropping_email();
    let project = project(&dir, PRODUCTION);
    lockstep(db.url(), &dir)
        .args(["up", "--to", "1"])
        .assert()
        .success();
    let original = emails(&db).await;
    assert!(original.starts_with("1=user1@example.com,2="));

    // The dry run says what the guard would do, and does none of it.
    let dry = production(&db, &dir, &project)
        .args(["up", "--dry-run"])
        .output()
        .unwrap();
    assert_success(&dry);
    let sql = String::from_utf8_lossy(&dry.stdout);
    for expected in [
        "-- data kept before 1 destructive statement",
        "--   apply 2, statement 3 (line 3): DROP COLUMN `users.email` — at most",
        &format!(
            "-- confirmation: type-database-name (without a terminal: --confirm {})",
            database_name(&db)
        ),
        "ALTER TABLE users DROP COLUMN email;",
    ] {
        assert!(sql.contains(expected), "missing {expected:?} in:\n{sql}");
    }
    assert!(!project.join("snaps").exists(), "a dry run writes nothing");

    // Run from the project directory (its snapshot directory relative, as people run it);
    // restore.sql must still load from wherever psql runs.
    let out = lockstep(db.url(), &dir)
        .current_dir(&project)
        .args(["--env", "production", "up", "--json", "--confirm"])
        .arg(database_name(&db))
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let guard = stdout
        .lines()
        .map(|l| json(l.as_bytes()))
        .find(|l| l["event"] == "guard")
        .expect("the guard's plan");
    assert_eq!(guard["copies"][0]["destruction"]["kind"], "drop_column");
    assert_eq!(guard["copies"][0]["statement"], 2);
    let kept = stdout
        .lines()
        .map(|l| json(l.as_bytes()))
        .find(|l| l["event"] == "data_kept")
        .expect("a data_kept event");
    assert_eq!(kept["tables"][0]["table"], "public.users");
    assert_eq!(kept["tables"][0]["column"], "email");
    assert_eq!(kept["tables"][0]["rows"], 500);
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_name = 'users' AND column_name = 'email'"
        )
        .await,
        0,
        "the column is gone"
    );

    let restore = project.join(kept["restore"].as_str().unwrap());
    assert_eq!(mode(&restore), 0o600);
    let copy = project.join(kept["tables"][0]["file"].as_str().unwrap());
    assert_eq!(mode(&copy), 0o600);
    let ran = psql(&db, &restore);
    assert!(
        ran.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&ran.stderr),
        std::fs::read_to_string(&restore).unwrap()
    );
    // The copy is taken inside the migration's transaction, right before the DROP: it holds
    // what the DROP dropped, the earlier UPDATE included.
    let expected = original.replacen("1=user1@example.com", "1=moved@example.com", 1);
    assert_eq!(
        emails(&db).await,
        expected,
        "restore.sql brings the values back"
    );
    let mut c = conn(&db).await;
    let not_null: bool = sqlx::query_scalar(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'email'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(not_null, "and its NOT NULL");
}

#[tokio::test]
async fn the_size_limit_stops_the_run_before_anything_changes() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_logs.sql",
            "CREATE TABLE logs (id bigint PRIMARY KEY, line text);\n\
             INSERT INTO logs SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g;\n",
        ),
        ("2_marker.sql", "CREATE TABLE marker (id int);\n"),
        ("3_drop_logs.sql", "DROP TABLE logs;\n"),
    ]);
    let project = project(&dir, PRODUCTION);
    lockstep(db.url(), &dir)
        .args(["up", "--to", "1"])
        .assert()
        .success();
    let out = production(&db, &dir, &project)
        .args([
            "up",
            "--backup-limit",
            "64KB",
            "--confirm",
            &database_name(&db),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("over the limit of 64.0 KB"), "{stderr}");
    assert!(stderr.contains("DROP TABLE `logs`"), "{stderr}");
    assert!(stderr.contains("--backup-limit"), "{stderr}");
    assert_eq!(versions(&db).await, vec![1], "nothing ran");
    assert!(exists(&db, "logs").await);
    assert!(
        !exists(&db, "marker").await,
        "not even the migrations before it"
    );
    assert!(
        files_named(&project.join("snaps"), "schema.sql").is_empty(),
        "no snapshot either"
    );

    // With a limit that allows it, the table's rows are kept and can be loaded back.
    let out = production(&db, &dir, &project)
        .args([
            "up",
            "--backup-limit",
            "10MB",
            "--confirm",
            &database_name(&db),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(!exists(&db, "logs").await);
    let restores = files_named(&project.join("snaps"), "restore.sql");
    assert_eq!(restores.len(), 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("kept before statement 1: 2000 rows of public.logs"),
        "{stdout}"
    );
    let ran = psql(&db, &restores[0]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM logs").await, 2000);
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM pg_index WHERE indrelid = 'logs'::regclass AND indisprimary"
        )
        .await,
        1,
        "the dropped table comes back with its primary key"
    );
}

#[tokio::test]
async fn a_typed_confirmation_is_required_without_a_terminal() {
    let db = fresh_database().await;
    let dir = three();
    let project = project(&dir, PRODUCTION);
    let out = production(&db, &dir, &project).arg("up").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("pass --confirm {}", database_name(&db))),
        "{stderr}"
    );
    let wrong = production(&db, &dir, &project)
        .args(["up", "--yes", "--confirm", "not-this-one"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "nothing was changed"
    );

    self::project(&dir, "[environments.production]\nread-only = true\n");
    let read_only = production(&db, &dir, &project).arg("up").output().unwrap();
    assert_eq!(read_only.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&read_only.stderr).contains("read-only"));
    assert!(!exists(&db, "_sqlx_migrations").await);
}

#[tokio::test]
async fn env_lists_environments_with_passwords_redacted() {
    let db = fresh_database().await;
    let dir = three();
    let project = project(
        &dir,
        "[environments.production]\ndatabase-url = \"postgres://app:s3cret@db.example.com:5432/prod\"\n\
         [environments.staging]\ndatabase-url = \"postgres://app:0ther@localhost/staging?password=0ther\"\n\
         confirm = \"yes\"\n[environments.staging.lint]\ndisable = [\"require-concurrent-index\"]\n",
    );
    let out = lockstep(db.url(), &dir)
        .arg("--project")
        .arg(&project)
        .arg("env")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(
        !text.contains("s3cret") && !text.contains("0ther"),
        "{text}"
    );
    assert!(
        text.contains("postgres://app:***@db.example.com:5432/prod"),
        "{text}"
    );
    assert!(text.contains("production-like: yes"), "{text}");
    assert!(
        text.contains("direct  (in use"),
        "the URL in use is listed: {text}"
    );
    assert!(
        text.contains("lint: require-concurrent-index=off"),
        "{text}"
    );

    let out = lockstep(db.url(), &dir)
        .arg("--project")
        .arg(&project)
        .args(["--env", "staging", "env", "--json"])
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&out.stdout);
    assert!(!raw.contains("s3cret") && !raw.contains("0ther"), "{raw}");
    let doc = json(&out.stdout);
    assert_eq!(doc["in_use"], "staging");
    let envs = doc["environments"].as_array().unwrap();
    let production = envs.iter().find(|e| e["name"] == "production").unwrap();
    assert_eq!(production["production_like"], true);
    assert_eq!(production["snapshot"], "required");
    assert_eq!(production["confirm"], "type-database-name");
    let staging = envs.iter().find(|e| e["name"] == "staging").unwrap();
    assert_eq!(staging["production_like"], false);
    assert_eq!(staging["confirm"], "yes");
}

#[tokio::test]
async fn configuration_errors_name_the_file_and_line() {
    let db = fresh_database().await;
    let dir = three();
    for (toml, expected) in [
        (
            "lock-timeout = \"2s\"\n[environments.production]\nsnapshot = \"required\"\nsnapshots = \"yes\"\n",
            "line 4",
        ),
        (
            "[environments.production]\nconfirm = \"type-it\"\n",
            "line 2",
        ),
        (
            "[environments.production]\n[environments.production.lint]\ndisable = [\"no-such-rule\"]\n",
            "line 3",
        ),
        (
            "[environments.production]\nbackup-limit = \"lots\"\n",
            "line 2",
        ),
    ] {
        let project = project(&dir, toml);
        let out = lockstep(db.url(), &dir)
            .arg("--project")
            .arg(&project)
            .arg("env")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{toml}: {stderr}");
        assert!(
            stderr.contains("lockstep.toml") && stderr.contains(expected),
            "{toml}: {stderr}"
        );
    }
    let project = project(&dir, "[environments.production]\n");
    let out = lockstep(db.url(), &dir)
        .arg("--project")
        .arg(&project)
        .args(["--env", "prod", "status"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("no environment `prod`") && stderr.contains("production"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_environments_lint_override_applies() {
    let dir = Dir::with(&[
        ("1_table.sql", "CREATE TABLE t (id int);\n"),
        ("2_index.sql", "CREATE INDEX t_id ON t (id);\n"),
    ]);
    let project = project(
        &dir,
        "[lint]\nseverity = { \"require-concurrent-index\" = \"warning\" }\n\
         [environments.production]\n[environments.production.lint]\n\
         severity = { \"require-concurrent-index\" = \"error\" }\n",
    );
    let lint = |env: Option<&str>| {
        let mut cmd = assert_cmd::Command::cargo_bin("lockstep").unwrap();
        cmd.env_remove("DATABASE_URL")
            .env_remove("LOCKSTEP_ENV")
            .arg("--project")
            .arg(&project);
        if let Some(env) = env {
            cmd.args(["--env", env]);
        }
        cmd.args(["lint", "--pg-version", "15", "--format", "json"])
            .arg(&dir.path)
            .output()
            .unwrap()
    };
    let severity = |out: &std::process::Output| {
        let doc = json(&out.stdout);
        doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|file| file["findings"].as_array().unwrap().iter())
            .find(|f| f["rule"] == "require-concurrent-index")
            .map(|f| f["severity"].as_str().unwrap().to_string())
    };
    let base = lint(None);
    assert_eq!(severity(&base).as_deref(), Some("warning"));
    let production = lint(Some("production"));
    assert_eq!(severity(&production).as_deref(), Some("error"));
    assert_eq!(
        production.status.code(),
        Some(1),
        "an error finding fails lint"
    );

    let mut explain = assert_cmd::Command::cargo_bin("lockstep").unwrap();
    let out = explain
        .env_remove("DATABASE_URL")
        .arg("--project")
        .arg(&project)
        .args([
            "--env",
            "production",
            "lint",
            "--explain",
            "require-concurrent-index",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("from lockstep.toml [environments.production.lint]"),
        "{text}"
    );
}

/// Applies migration 1 of `dir`, then plans the guard of the rest on a production-like
/// environment (a database elsewhere).
async fn guard_after_the_first(db: &Database, dir: &Dir) -> lockstep::guard::GuardPlan {
    use lockstep::guard::{Environment, GuardOptions, GuardPlan};
    use lockstep::runner::{Operation, plan};
    lockstep(db.url(), dir)
        .args(["up", "--to", "1"])
        .assert()
        .success();
    let set = dir.set();
    let status = status(db, dir).await;
    let plan = plan(Operation::Up { to: None }, &set, &status, false).unwrap();
    let environment =
        Environment::direct(Path::new("/unused"), Some("postgres://db.example.com/x"));
    GuardPlan::prepare(db, &environment, &plan, &GuardOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn only_a_type_change_that_can_lose_values_is_kept() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_items.sql",
            "CREATE TABLE items (id int PRIMARY KEY, code varchar(50), qty int);\n\
             INSERT INTO items SELECT g, 'c' || g, g FROM generate_series(1, 10) g;\n",
        ),
        (
            "2_types.sql",
            "ALTER TABLE items ALTER COLUMN code TYPE varchar(100);\n\
             ALTER TABLE items ALTER COLUMN qty TYPE bigint;\n\
             ALTER TABLE items ALTER COLUMN code TYPE varchar(5);\n\
             DELETE FROM items WHERE id > 5;\n\
             UPDATE items SET qty = 0;\n",
        ),
    ]);
    let guard = guard_after_the_first(&db, &dir).await;
    let kept: Vec<(usize, String)> = guard
        .copies
        .iter()
        .map(|c| (c.statement, c.destruction.describe()))
        .collect();
    assert_eq!(
        kept,
        vec![
            (2, "ALTER COLUMN `items.code` TYPE varchar(5)".to_string()),
            (4, "UPDATE `items` without WHERE".to_string()),
        ],
        "widenings keep every value; a narrowing and an UPDATE without WHERE do not; a DELETE \
         with a WHERE is not destructive"
    );
    assert!(guard.copies.iter().all(|c| c.exists && c.estimate > 0));
    assert!(
        guard
            .lines()
            .iter()
            .any(|l| l.contains("data kept before 2 destructive statements")),
        "{:?}",
        guard.lines()
    );
    let confirmation = guard.confirmation().unwrap();
    assert!(confirmation.accepts(&database_name(&db)));
    assert!(!confirmation.accepts("y"));
}

#[tokio::test]
async fn a_column_the_server_has_no_statistics_on_is_estimated_by_its_type_or_bounded() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_items.sql",
            "CREATE TABLE items (id int PRIMARY KEY, code text);\n\
             INSERT INTO items SELECT g, repeat('c', 200) FROM generate_series(1, 5000) g;\n\
             ANALYZE items;\n\
             ALTER TABLE items ADD COLUMN note text DEFAULT 'x', ADD COLUMN n int DEFAULT 1;\n",
        ),
        (
            "2_drop.sql",
            "ALTER TABLE items DROP COLUMN code;\n\
             ALTER TABLE items DROP COLUMN n;\n\
             ALTER TABLE items DROP COLUMN note;\n",
        ),
    ]);
    let guard = guard_after_the_first(&db, &dir).await;
    let by_column: Vec<(u64, bool)> = guard
        .copies
        .iter()
        .map(|c| (c.estimate, c.at_most))
        .collect();
    assert_eq!(by_column.len(), 3, "{by_column:?}");
    // `code` has statistics: about 5000 × (its average width + 8).
    let (code, code_bound) = by_column[0];
    assert!(
        !code_bound && (900_000..1_300_000).contains(&code),
        "{by_column:?}"
    );
    // `n` has none, but an int is 4 bytes wide: 5000 × (4 + 8).
    assert_eq!(by_column[1], (60_000, false));
    // `note` has none and no fixed width: the table's size, said as a bound.
    let (note, note_bound) = by_column[2];
    assert!(note_bound && note >= code, "{by_column:?}");
    let lines = guard.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DROP COLUMN `items.note` — at most")
                && l.contains("no statistics on the column yet")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn truncate_cascade_and_update_without_where_are_restored_in_reverse_order() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_family.sql",
            "CREATE TABLE parents (id int PRIMARY KEY, name text);\n\
             CREATE TABLE kids (id int PRIMARY KEY, parent int REFERENCES parents, v int);\n\
             INSERT INTO parents SELECT g, 'p' || g FROM generate_series(1, 20) g;\n\
             INSERT INTO kids SELECT g, 1 + g % 20, g * 10 FROM generate_series(1, 60) g;\n",
        ),
        (
            "2_wipe.sql",
            "UPDATE kids SET v = 0;\nTRUNCATE parents CASCADE;\n",
        ),
    ]);
    let project = project(&dir, PRODUCTION);
    lockstep(db.url(), &dir)
        .args(["up", "--to", "1"])
        .assert()
        .success();
    let state = |db: &Database| {
        let db = db.detached();
        async move {
            let mut c = conn(&db).await;
            let text: Option<String> = sqlx::query_scalar(
                "SELECT (SELECT string_agg(id || name, ',' ORDER BY id) FROM parents) || '|' || \
                        (SELECT string_agg(id || ':' || parent || ':' || v, ',' ORDER BY id) FROM kids)",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
            text.unwrap_or_default()
        }
    };
    let original = state(&db).await;
    assert!(original.contains("|1:2:10,"), "{original}");
    let out = production(&db, &dir, &project)
        .args(["up", "--confirm", &database_name(&db)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(
        stdout.contains("kept before statement 2: 20 rows of public.parents")
            && stdout.contains("60 rows of public.kids"),
        "TRUNCATE … CASCADE keeps the referencing table too: {stdout}"
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM kids").await, 0);
    let restores = files_named(&project.join("snaps"), "restore.sql");
    assert_eq!(restores.len(), 2, "{restores:?}");
    // The later statement's restore first: the rows come back as the UPDATE left them, then the
    // UPDATE's old values are set back by key.
    for restore in restores.iter().rev() {
        let ran = psql(&db, restore);
        assert!(
            ran.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&ran.stderr),
            std::fs::read_to_string(restore).unwrap()
        );
    }
    assert_eq!(state(&db).await, original);
}

/// Runs `lockstep` with `args` in a pseudo-terminal, answers its question with `answer` once
/// the question shows, and returns its exit status and everything it printed.
fn in_a_terminal(db: &Database, args: &[&str], answer: &str) -> (portable_pty::ExitStatus, String) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin("lockstep"));
    cmd.env("DATABASE_URL", db.url());
    cmd.env("NO_COLOR", "1");
    cmd.args(args);
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let output = Arc::new(Mutex::new(String::new()));
    let mut reader = pair.master.try_clone_reader().unwrap();
    let sink = output.clone();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !output.lock().unwrap().contains("to go on:") {
        assert!(
            Instant::now() < deadline,
            "no question within a minute: {}",
            output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut writer = pair.master.take_writer().unwrap();
    writer.write_all(format!("{answer}\r").as_bytes()).unwrap();
    writer.flush().unwrap();
    let status = child.wait().unwrap();
    drop(writer);
    drop(pair.master);
    let _ = reading.join();
    let text = output.lock().unwrap().clone();
    (status, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_run_asks_for_the_database_name() {
    let db = fresh_database().await;
    let dir = three();
    let project = project(&dir, PRODUCTION);
    let source = dir.path.to_string_lossy().into_owned();
    let project_arg = project.to_string_lossy().into_owned();
    let args = [
        "--source",
        source.as_str(),
        "--project",
        project_arg.as_str(),
        "--env",
        "production",
        "up",
    ];
    let name = database_name(&db);
    let (status, text) = in_a_terminal(&db, &args, "not-the-name");
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("not confirmed: nothing was changed"),
        "{text}"
    );
    assert!(!exists(&db, "_sqlx_migrations").await);

    let (status, text) = in_a_terminal(&db, &args, &name);
    assert!(status.success(), "{text}");
    assert!(
        text.contains(&format!("type the database name `{name}` to go on:")),
        "{text}"
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
}
