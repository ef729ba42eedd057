//! `lockstep lint`: formats, exit codes, the server version, pending migrations, session timeouts.

use assert_cmd::Command;
use lockstep::testing::fresh_database;

const INDEX_AND_DEFAULT: &str =
    "CREATE INDEX ix ON users (email);\nALTER TABLE users ADD COLUMN c int DEFAULT 0;\n";

/// A project directory with `migrations/` holding `files`.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    tmp
}

/// `lockstep` in `dir` with no database configured.
fn lockstep(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.current_dir(dir).env_remove("DATABASE_URL");
    cmd
}

fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(output)))
}

fn rules_of(doc: &serde_json::Value) -> Vec<String> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"].as_array().unwrap().iter())
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn human_output_quotes_the_line_and_fails_on_errors() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    let out = lockstep(dir.path())
        .args(["lint", "migrations/1_index.sql"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an error-level finding fails");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error[require-concurrent-index]"), "{text}");
    assert!(text.contains("--> migrations/1_index.sql:1:1"), "{text}");
    assert!(
        text.contains("1 | CREATE INDEX ix ON users (email);"),
        "{text}"
    );
    assert!(text.contains("^^^^"), "{text}");
    assert!(text.contains("checked for PostgreSQL 15"), "{text}");

    let clean = project(&[("1_ok.sql", "CREATE TABLE t (id int);\n")]);
    lockstep(clean.path())
        .args(["lint", "migrations"])
        .assert()
        .code(0);
}

#[test]
fn gcc_and_json_formats_and_the_version_flag() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    let out = lockstep(dir.path())
        .args(["lint", "--format", "gcc", "migrations/1_index.sql"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("migrations/1_index.sql:1:1: error: ")
                && l.ends_with("[require-concurrent-index]")),
        "{text}"
    );

    // A default rewrites the table before PostgreSQL 11 only.
    let for_version = |version: &str| {
        let out = lockstep(dir.path())
            .args(["lint", "--format", "json", "--pg-version", version])
            .arg("migrations")
            .output()
            .unwrap();
        json(&out.stdout)
    };
    for (version, rewrites) in [("10", true), ("9.6", true), ("11", false), ("17", false)] {
        let rules = rules_of(&for_version(version));
        assert_eq!(
            rules.iter().any(|r| r == "volatile-default-rewrite"),
            rewrites,
            "{version}: {rules:?}"
        );
    }
    assert_eq!(for_version("9.6")["pg_version"], 96);

    lockstep(dir.path())
        .args(["lint", "--pg-version", "8", "migrations"])
        .assert()
        .code(2);
}

#[test]
fn session_timeouts_set_by_lockstep_count_as_set() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    let rules = |extra: &[&str]| {
        let out = lockstep(dir.path())
            .args(["lint", "--format", "json", "migrations"])
            .args(extra)
            .output()
            .unwrap();
        rules_of(&json(&out.stdout))
    };
    // lockstep's default lock_timeout (3s) counts as set; turned off, the rule fires.
    let bare = rules(&["--lock-timeout", "0"]);
    assert!(bare.iter().any(|r| r == "missing-lock-timeout"), "{bare:?}");
    assert!(
        bare.iter().any(|r| r == "missing-statement-timeout"),
        "{bare:?}"
    );
    let default = rules(&[]);
    assert!(
        !default.iter().any(|r| r == "missing-lock-timeout"),
        "{default:?}"
    );
    let with_lock = rules(&["--lock-timeout", "2s"]);
    assert!(
        !with_lock.iter().any(|r| r == "missing-lock-timeout"),
        "{with_lock:?}"
    );
    assert!(with_lock.iter().any(|r| r == "missing-statement-timeout"));

    std::fs::write(
        dir.path().join("lockstep.toml"),
        "lock-timeout = \"2s\"\nstatement-timeout = \"1min\"\n",
    )
    .unwrap();
    let configured = rules(&[]);
    assert!(
        !configured.iter().any(|r| r.starts_with("missing-")),
        "{configured:?}"
    );
}

#[test]
fn without_a_database_every_migration_is_pending() {
    let dir = project(&[
        ("1_create.up.sql", "CREATE TABLE widgets (id int);\n"),
        ("1_create.down.sql", "DROP TABLE widgets;\n"),
        ("2_index.up.sql", "CREATE INDEX ix ON widgets (id);\n"),
        ("2_index.down.sql", "DROP INDEX ix;\n"),
    ]);
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "up files only: {paths:?}");
    assert!(paths[0].ends_with("1_create.up.sql") && paths[1].ends_with("2_index.up.sql"));
    // Each migration meets the schema of the ones before it: by the time 2 runs in production,
    // widgets has been there (and filling up) since 1.
    assert!(
        rules_of(&doc)
            .iter()
            .any(|r| r == "require-concurrent-index"),
        "{:?}",
        rules_of(&doc)
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("linting all 2 migrations"), "{stderr}");
    // CI says production has nothing yet: both run in one deploy, so widgets is new and empty.
    let deploy = lockstep(dir.path())
        .args(["lint", "--format", "json", "--assume-applied-before", "1"])
        .output()
        .unwrap();
    assert!(
        rules_of(&json(&deploy.stdout))
            .iter()
            .all(|r| r != "require-concurrent-index")
    );
    assert_eq!(deploy.status.code(), Some(0));
    // Production has 1: 2 is the deploy, and widgets pre-exists.
    let after_one = lockstep(dir.path())
        .args(["lint", "--format", "json", "--assume-applied-before", "2"])
        .output()
        .unwrap();
    assert!(
        rules_of(&json(&after_one.stdout))
            .iter()
            .any(|r| r == "require-concurrent-index")
    );
}

#[test]
fn other_tools_transaction_settings_are_known() {
    // diesel: a migration directory with `metadata.toml` saying `run_in_transaction = false`.
    let tmp = tempfile::tempdir().unwrap();
    let migrations = tmp.path().join("migrations");
    let dir = migrations.join("2024-01-01-000000_index");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("up.sql"),
        "CREATE INDEX CONCURRENTLY ix ON users (email);\n",
    )
    .unwrap();
    std::fs::write(dir.join("down.sql"), "DROP INDEX ix;\n").unwrap();
    let lint = |extra: &[&str]| {
        let out = lockstep(tmp.path())
            .args(["lint", "--format", "json", "migrations"])
            .args(extra)
            .output()
            .unwrap();
        json(&out.stdout)
    };
    let plain = lint(&[]);
    assert_eq!(plain["files"].as_array().unwrap().len(), 1, "{plain}");
    assert!(
        rules_of(&plain)
            .iter()
            .any(|r| r == "not-in-transaction-block"),
        "diesel wraps by default: {plain}"
    );
    std::fs::write(dir.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    let rules = rules_of(&lint(&[]));
    assert!(
        !rules.iter().any(|r| r == "not-in-transaction-block"),
        "{rules:?}"
    );

    // golang-migrate runs each file as it is: its own BEGIN/COMMIT is no nesting.
    let go = project(&[(
        "1_add.up.sql",
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;\n",
    )]);
    let rules = |extra: &[&str]| {
        let out = lockstep(go.path())
            .args(["lint", "--format", "json", "migrations"])
            .args(extra)
            .output()
            .unwrap();
        rules_of(&json(&out.stdout))
    };
    assert!(rules(&[]).iter().any(|r| r == "transaction-nesting"));
    let golang = rules(&["--runner", "golang-migrate"]);
    assert!(
        !golang.iter().any(|r| r == "transaction-nesting"),
        "{golang:?}"
    );
}

#[tokio::test]
async fn with_a_database_it_lints_what_is_pending_for_its_version() {
    let db = fresh_database().await;
    let dir = project(&[
        ("1_create.sql", "CREATE TABLE widgets (id int);\n"),
        ("2_index.sql", "CREATE INDEX ix ON widgets (id);\n"),
    ]);
    let with_db = |args: &[&str]| {
        let mut cmd = lockstep(dir.path());
        cmd.env("DATABASE_URL", db.url()).args(args);
        cmd.output().unwrap()
    };
    let before = with_db(&["lint", "--format", "json"]);
    assert_eq!(rules_of(&json(&before.stdout)), Vec::<String>::new());

    let up = with_db(&["up", "--to", "1"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // Now widgets exists in the database: the index build blocks its writes.
    let after = with_db(&["lint", "--format", "json"]);
    assert_eq!(after.status.code(), Some(1));
    let doc = json(&after.stdout);
    assert_eq!(doc["files"].as_array().unwrap().len(), 1);
    assert!(rules_of(&doc).contains(&"require-concurrent-index".to_string()));

    let mut conn = db.connect("test").await.unwrap();
    let num = lockstep::db::server_version_num(&mut conn).await.unwrap();
    assert_eq!(
        doc["pg_version"],
        lockstep::analysis::model::version_from_server_num(num)
    );
    // The flag wins over the server.
    let flagged = with_db(&["lint", "--format", "json", "--pg-version", "12"]);
    assert_eq!(json(&flagged.stdout)["pg_version"], 12);
}

#[test]
fn unreadable_paths_and_unknown_rules_exit_2() {
    let dir = project(&[]);
    let out = lockstep(dir.path())
        .args(["lint", "missing.sql"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.sql"));

    let list = lockstep(dir.path())
        .args(["lint", "--explain"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("require-concurrent-index") && text.contains("squawk:"));
    let one = lockstep(dir.path())
        .args(["lint", "--explain", "require-concurrent-index-creation"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&one.stdout).starts_with("require-concurrent-index "));
    lockstep(dir.path())
        .args(["lint", "--explain", "no-such-rule"])
        .assert()
        .code(2);
}

#[test]
fn a_named_file_meets_the_migrations_before_it() {
    let dir = project(&[
        (
            "1_create.sql",
            "CREATE TABLE widgets (id int, name varchar(20));\n",
        ),
        (
            "2_change.sql",
            "CREATE INDEX ix ON widgets (id);\nDROP TABLE IF EXISTS ghost;\nALTER TABLE widgets ALTER COLUMN name TYPE varchar(40);\n",
        ),
        ("3_later.sql", "DROP TABLE widgets;\n"),
    ]);
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "migrations/2_change.sql"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["migrations/2_change.sql"],
        "history is not reported"
    );
    let rules = rules_of(&doc);
    assert!(
        rules.iter().any(|r| r == "require-concurrent-index"),
        "{rules:?}"
    );
    // ghost was never created; name was varchar(20): widening it is free.
    assert!(!rules.iter().any(|r| r == "drop-table"), "{rules:?}");
    assert!(
        !rules.iter().any(|r| r == "column-type-rewrite"),
        "{rules:?}"
    );
}
