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

/// `lockstep lint migrations` in `dir`.
fn lint_migrations(dir: &std::path::Path) -> std::process::Output {
    lockstep(dir).args(["lint", "migrations"]).output().unwrap()
}

fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(output)))
}

fn paths_of(doc: &serde_json::Value) -> Vec<&str> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect()
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
    // The setting holds for the DOWN too.
    std::fs::write(dir.join("down.sql"), "DROP INDEX CONCURRENTLY ix;\n").unwrap();
    let out = lockstep(tmp.path())
        .args(["lint", "--format", "json"])
        .arg(dir.join("down.sql"))
        .output()
        .unwrap();
    let down = rules_of(&json(&out.stdout));
    assert!(
        !down.iter().any(|r| r == "not-in-transaction-block"),
        "{down:?}"
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
    // …but as one query, which PostgreSQL runs as one implicit transaction: a concurrent build
    // among other statements fails there (the finding says how golang-migrate sends it), alone
    // it runs; the statements of a file are atomic (no robustness warning) and the locks of
    // one are held while the next runs.
    let go = project(&[
        (
            "1_index.up.sql",
            "CREATE TABLE u (id int);\nCREATE INDEX CONCURRENTLY u_id ON u (id);\n",
        ),
        (
            "2_alone.up.sql",
            "CREATE INDEX CONCURRENTLY u_id2 ON u (id);\n",
        ),
        (
            "3_type.up.sql",
            "ALTER TABLE u ALTER COLUMN id TYPE bigint;\nUPDATE u SET id = id + 1;\n",
        ),
    ]);
    let gcc_with = |runner: &str| {
        let out = lockstep(go.path())
            .args(["lint", "--format", "gcc", "--runner", runner, "migrations"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = gcc_with("golang-migrate");
    let found: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|l| {
            let file = l.split(':').next()?.rsplit('/').next()?;
            let rule = l.rsplit('[').next()?.strip_suffix(']')?;
            Some((file, rule))
        })
        .collect();
    assert!(
        stdout.contains("golang-migrate sends the file as one query") && !stdout.contains("sqlx"),
        "{stdout}"
    );
    assert!(
        found.contains(&("1_index.up.sql", "not-in-transaction-block")),
        "{stdout}"
    );
    assert!(
        !found.iter().any(|(f, _)| *f == "2_alone.up.sql"),
        "{stdout}"
    );
    assert!(
        found.contains(&("3_type.up.sql", "lock-held-across-statements")),
        "{stdout}"
    );
    assert!(
        !found.iter().any(|(_, r)| *r == "prefer-robust-statements"),
        "{stdout}"
    );
    // With `x-multi-statement=true` it sends each statement on its own: no transaction at all.
    let stdout = gcc_with("golang-migrate-multi-statement");
    for rule in [
        "not-in-transaction-block",
        "no-transaction-not-alone",
        "lock-held-across-statements",
    ] {
        assert!(!stdout.contains(&format!("[{rule}]")), "{stdout}");
    }
    assert!(stdout.contains("[prefer-robust-statements]"), "{stdout}");
}

/// What `lockstep lint --fix MIGRATIONS` in `dir` says of the fixes (on stderr).
fn fix_stderr(dir: &std::path::Path, migrations: &str) -> String {
    let out = lockstep(dir)
        .args(["lint", "--fix", "--format", "gcc", migrations])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The (file, line, rule) of each finding of `lockstep lint --format gcc migrations` in `dir`,
/// and the output.
fn gcc_findings(dir: &std::path::Path) -> (Vec<(String, usize, String)>, String) {
    gcc_findings_in(dir, "migrations")
}

/// The (file, line, rule) of each finding of `lockstep lint --format gcc MIGRATIONS` in `dir`
/// (the file named by its path below `migrations`: `1_x.sql`, `1_x/migration.sql`), and the
/// output.
fn gcc_findings_in(
    dir: &std::path::Path,
    migrations: &str,
) -> (Vec<(String, usize, String)>, String) {
    let out = lockstep(dir)
        .args(["lint", "--format", "gcc", migrations])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let prefix = format!("{migrations}/");
    let found = stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let file = parts.next()?.strip_prefix(&prefix)?.to_string();
            let line = parts.next()?.parse().ok()?;
            let rule = l.rsplit('[').next()?.strip_suffix(']')?.to_string();
            Some((file, line, rule))
        })
        .collect();
    (found, stdout)
}

#[test]
fn goose_and_dbmate_files_are_their_up_sections_run_as_those_tools_run_them() {
    // goose: the DOWN is not part of the UP; `NO TRANSACTION` (anywhere in the file) runs each
    // statement on its own; without it the UP runs in one transaction.
    let goose = project(&[
        (
            "00001_users.sql",
            "-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n\n-- +goose Down\nDROP TABLE users;\n",
        ),
        (
            "00002_email.sql",
            "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n\n-- +goose Down\nDROP INDEX CONCURRENTLY users_email;\n",
        ),
        (
            "00003_in_transaction.sql",
            "-- +goose Up\n-- +goose StatementBegin\nCREATE INDEX CONCURRENTLY users_email2 ON users (email);\n-- +goose StatementEnd\n-- +goose Down\nDROP INDEX users_email2;\n",
        ),
        (
            "00004_name.sql",
            "-- +goose Up\nALTER TABLE users ADD COLUMN name text;\n-- +goose Down\nALTER TABLE users DROP COLUMN name;\n",
        ),
    ]);
    let (found, stdout) = gcc_findings(goose.path());
    // In the UPs, only the concurrent build inside goose's transaction, on its own line of the
    // file. The DOWNs are reviewed too, each against the schema its UP left and run as goose
    // runs it: the rollbacks that drop what the UPs made, and a plain DROP INDEX in goose's
    // transaction (the concurrent one of the NO TRANSACTION file is fine).
    let at = |file: &str, line: usize, rule: &str| (file.to_string(), line, rule.to_string());
    assert_eq!(
        found,
        vec![
            at("00001_users.sql", 5, "drop-table"),
            at("00003_in_transaction.sql", 3, "not-in-transaction-block"),
            at(
                "00003_in_transaction.sql",
                6,
                "require-concurrent-index-drop"
            ),
            at("00004_name.sql", 4, "drop-column"),
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("goose runs this migration in one") && !stdout.contains("sqlx"),
        "{stdout}"
    );
    // Its own BEGIN/COMMIT inside goose's transaction: the finding names goose, not sqlx.
    std::fs::write(
        goose.path().join("migrations/00005_own.sql"),
        "-- +goose Up\nBEGIN;\nALTER TABLE users ADD COLUMN age int;\nCOMMIT;\n-- +goose Down\nALTER TABLE users DROP COLUMN age;\n",
    )
    .unwrap();
    let (found, stdout) = gcc_findings(goose.path());
    assert!(
        found.contains(&(
            "00005_own.sql".to_string(),
            2,
            "transaction-nesting".to_string()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("goose already runs this migration in a transaction")
            && !stdout.contains("sqlx"),
        "{stdout}"
    );

    // `--fix` writes no sqlx migration beside goose's: a VALIDATE that would move to a new
    // migration is left to goose, and the file keeps its statement.
    let check = "-- +goose Up\nALTER TABLE users ADD CONSTRAINT id_positive CHECK (id > 0) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT id_positive;\n-- +goose Down\nALTER TABLE users DROP CONSTRAINT id_positive;\n";
    std::fs::write(goose.path().join("migrations/00006_check.sql"), check).unwrap();
    let stderr = fix_stderr(goose.path(), "migrations");
    assert!(
        stderr.contains("[validate-in-same-transaction]")
            && stderr.contains("create a goose migration for it"),
        "{stderr}"
    );
    let names: Vec<String> = std::fs::read_dir(goose.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(
        std::fs::read_to_string(goose.path().join("migrations/00006_check.sql")).unwrap(),
        check
    );

    // dbmate: `transaction:false` sends the section as one query: a concurrent build among other
    // statements fails in the implicit transaction, alone it runs.
    let dbmate = project(&[
        (
            "20240101000000_users.sql",
            "-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n\n-- migrate:down\nDROP TABLE users;\n",
        ),
        (
            "20240102000000_alone.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n\n-- migrate:down\nDROP INDEX users_email;\n",
        ),
        (
            "20240103000000_with_another.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email2 ON users (email);\nANALYZE users;\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY users_email2;\n",
        ),
    ]);
    let (found, stdout) = gcc_findings(dbmate.path());
    // The DOWNs too: the first drops the table its UP made; the third's own `transaction:false`
    // lets its concurrent drop run; the second's runs in dbmate's transaction and locks "users".
    assert_eq!(
        found,
        vec![
            (
                "20240101000000_users.sql".to_string(),
                5,
                "drop-table".to_string()
            ),
            (
                "20240102000000_alone.sql".to_string(),
                5,
                "require-concurrent-index-drop".to_string()
            ),
            (
                "20240103000000_with_another.sql".to_string(),
                2,
                "not-in-transaction-block".to_string()
            ),
        ],
        "{stdout}"
    );
    // Three files, though each UP and DOWN is an analysis of its own.
    let out = lint_migrations(dbmate.path());
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("3 file(s) checked"), "{human}");
    assert!(
        stdout.contains("dbmate runs this section in one"),
        "{stdout}"
    );
}

/// A Prisma project's migrations: a folder each, `<timestamp>_<name>/migration.sql`, beside
/// `migration_lock.toml`.
fn prisma_project(migrations: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prisma/migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("migration_lock.toml"),
        "provider = \"postgresql\"\n",
    )
    .unwrap();
    for (folder, text) in migrations {
        std::fs::create_dir(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join("migration.sql"), text).unwrap();
    }
    tmp
}

#[test]
fn prisma_migrations_are_linted_as_prisma_sends_them() {
    // Prisma sends each migration.sql as one query, in no transaction of its own: alone, a
    // concurrent build runs; among other statements it fails in the implicit transaction; the
    // file's own BEGIN/COMMIT nests in nothing. Folders apply in name order.
    let tmp = prisma_project(&[
        (
            "20240101000000_init",
            "-- CreateTable\nCREATE TABLE \"User\" (\"id\" INTEGER NOT NULL, \"email\" TEXT, CONSTRAINT \"User_pkey\" PRIMARY KEY (\"id\"));\n",
        ),
        (
            "20240102000000_email_index",
            "-- CreateIndex\nCREATE INDEX CONCURRENTLY \"User_email_idx\" ON \"User\"(\"email\");\n",
        ),
        (
            "20240103000000_with_another",
            "CREATE INDEX CONCURRENTLY \"User_id_email_idx\" ON \"User\"(\"id\", \"email\");\nANALYZE \"User\";\n",
        ),
        (
            "20240104000000_own_transaction",
            "BEGIN;\nALTER TABLE \"User\" ADD COLUMN \"age\" INTEGER;\nCOMMIT;\n",
        ),
        // A shorter timestamp: after every 20240105… folder, as Prisma sorts them.
        (
            "20240105_late",
            "CREATE INDEX \"Late_id_idx\" ON \"Late\"(\"id\");\n",
        ),
        (
            "20240105120000_late_table",
            "CREATE TABLE \"Late\" (\"id\" INTEGER NOT NULL);\n",
        ),
    ]);
    let out = lockstep(tmp.path())
        .args(["lint", "--format", "json", "prisma/migrations"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let folders: Vec<&str> = paths_of(&doc)
        .iter()
        .map(|p| p.rsplit('/').nth(1).unwrap())
        .collect();
    assert_eq!(
        folders,
        vec![
            "20240101000000_init",
            "20240102000000_email_index",
            "20240103000000_with_another",
            "20240104000000_own_transaction",
            "20240105120000_late_table",
            "20240105_late",
        ],
        "{doc}"
    );
    let (found, stdout) = gcc_findings_in(tmp.path(), "prisma/migrations");
    assert_eq!(
        found,
        vec![
            (
                "20240103000000_with_another/migration.sql".to_string(),
                1,
                "not-in-transaction-block".to_string()
            ),
            // "Late" was created by the migration before it: an existing table, locked by a
            // plain build.
            (
                "20240105_late/migration.sql".to_string(),
                1,
                "require-concurrent-index".to_string()
            ),
            (
                "20240105_late/migration.sql".to_string(),
                1,
                "missing-statement-timeout".to_string()
            ),
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("Prisma sends migration.sql as one query") && !stdout.contains("sqlx"),
        "{stdout}"
    );

    // With no path, a migrations directory of Prisma's folders is linted whole.
    let out = lockstep(tmp.path())
        .args(["--source", "prisma/migrations", "lint", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(paths_of(&json(&out.stdout)).len(), 6);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Prisma migrations"), "{stderr}");
    // `status` says why it runs none of them.
    let out = lockstep(tmp.path())
        .args(["--source", "prisma/migrations", "status"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("6 Prisma migrations"), "{text}");

    // `--fix` writes no sqlx migration into Prisma's directory: a VALIDATE that would move to a
    // new migration is left to `prisma migrate dev --create-only`.
    let migrations = tmp.path().join("prisma/migrations");
    let check = "ALTER TABLE \"User\" ADD CONSTRAINT \"id_positive\" CHECK (\"id\" > 0) NOT VALID;\nALTER TABLE \"User\" VALIDATE CONSTRAINT \"id_positive\";\n";
    std::fs::create_dir(migrations.join("20240106000000_check")).unwrap();
    std::fs::write(migrations.join("20240106000000_check/migration.sql"), check).unwrap();
    let stderr = fix_stderr(tmp.path(), "prisma/migrations");
    assert!(
        stderr.contains("[validate-in-same-transaction]")
            && stderr.contains("prisma migrate dev --create-only"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&migrations).unwrap().count(), 8);
    assert_eq!(
        std::fs::read_to_string(migrations.join("20240106000000_check/migration.sql")).unwrap(),
        check
    );

    // `--changed-since`: a folder added on the branch, against the migrations before it.
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    git(tmp.path(), &["add", "."]);
    git(tmp.path(), &["commit", "-q", "-m", "base"]);
    std::fs::create_dir(migrations.join("20240107000000_email_unique")).unwrap();
    std::fs::write(
        migrations.join("20240107000000_email_unique/migration.sql"),
        "CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(\"email\");\n",
    )
    .unwrap();
    let out = lockstep(tmp.path())
        .args([
            "--source",
            "prisma/migrations",
            "lint",
            "--format",
            "json",
            "--changed-since",
            "main",
        ])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    assert_eq!(
        paths_of(&doc),
        vec!["prisma/migrations/20240107000000_email_unique/migration.sql"],
        "{doc}"
    );
    assert_eq!(
        rules_of(&doc),
        vec!["require-concurrent-index", "missing-statement-timeout"],
        "{doc}"
    );
    // The advice is Prisma's way: the build alone in its migration, not a sqlx marker.
    let advice = doc["files"][0]["findings"][0]["safe_alternative"]
        .as_str()
        .unwrap();
    assert!(
        advice.contains("alone in a migration of its own") && !advice.contains("no-transaction"),
        "{advice}"
    );
}

/// A directory with nothing lockstep reads is said to be so, not linted "clean" in silence; and
/// migrations it cannot read are named.
#[test]
fn a_directory_without_migrations_is_named() {
    let dir = project(&[("notes.txt", "not a migration\n")]);
    let out = lint_migrations(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("migrations holds no migrations lockstep can read"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 file(s) checked"));

    // goose's migrations written in Go are named as not reviewed.
    std::fs::write(
        dir.path().join("migrations/00002_backfill.go"),
        "package migrations\n",
    )
    .unwrap();
    let out = lint_migrations(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 migration written in Go (00002_backfill.go) not reviewed")
            && !stderr.contains("holds no migrations"),
        "{stderr}"
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

/// A DOWN file named alone runs after its own UP: it meets the schema the UP left.
#[test]
fn a_named_down_file_meets_the_schema_its_up_left() {
    let dir = project(&[
        (
            "1_create.up.sql",
            "CREATE TABLE widgets (id int NOT NULL);
",
        ),
        (
            "1_create.down.sql",
            "DROP TABLE widgets;
",
        ),
        (
            "2_relax.up.sql",
            "ALTER TABLE widgets ALTER COLUMN id DROP NOT NULL;
",
        ),
        (
            "2_relax.down.sql",
            "ALTER TABLE widgets ALTER COLUMN id SET NOT NULL;
",
        ),
    ]);
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "migrations/2_relax.down.sql"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    assert_eq!(paths_of(&doc), ["migrations/2_relax.down.sql"]);
    // The UP dropped NOT NULL: setting it again scans the table.
    let rules = rules_of(&doc);
    assert!(rules.iter().any(|r| r == "set-not-null-scan"), "{rules:?}");
}

/// Files named without a directory (`lockstep lint *.sql` inside `migrations/`) are linted as
/// when named with it: each meets the ones before it once (they were also read again as their own
/// history, which lost the table of an index).
#[test]
fn files_named_inside_their_directory_are_linted_as_with_the_directory() {
    let dir = project(&[
        (
            "1_create.sql",
            "CREATE TABLE widgets (id int);\nCREATE INDEX widgets_id ON widgets (id);\n",
        ),
        ("2_drop.sql", "DROP INDEX widgets_id;\n"),
        ("3_later.sql", "ALTER TABLE widgets ADD COLUMN name text;\n"),
    ]);
    let inside = lockstep(&dir.path().join("migrations"))
        .args([
            "lint",
            "--format",
            "gcc",
            "1_create.sql",
            "2_drop.sql",
            "3_later.sql",
        ])
        .output()
        .unwrap();
    let outside = lockstep(dir.path())
        .args([
            "lint",
            "--format",
            "gcc",
            "migrations/1_create.sql",
            "migrations/2_drop.sql",
            "migrations/3_later.sql",
        ])
        .output()
        .unwrap();
    let inside = String::from_utf8_lossy(&inside.stdout).to_string();
    let outside = String::from_utf8_lossy(&outside.stdout).replace("migrations/", "");
    assert!(
        inside.contains("ACCESS EXCLUSIVE lock on \"widgets\""),
        "{inside}"
    );
    assert_eq!(inside, outside);
}

/// A file named twice (by itself and by its directory, or as `./NAME` and `NAME`) is linted and
/// reported once.
#[test]
fn a_file_named_twice_is_linted_once() {
    let dir = project(&[
        ("1_create.sql", "CREATE TABLE widgets (id int);\n"),
        ("2_index.sql", "CREATE INDEX widgets_id ON widgets (id);\n"),
    ]);
    for args in [
        ["migrations", "migrations/2_index.sql"],
        ["migrations/2_index.sql", "./migrations/2_index.sql"],
    ] {
        let out = lockstep(dir.path())
            .args(["lint", "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let doc = json(&out.stdout);
        let reported = paths_of(&doc)
            .iter()
            .filter(|p| p.ends_with("2_index.sql"))
            .count();
        assert_eq!(reported, 1, "{args:?}: {:?}", paths_of(&doc));
        let rules = rules_of(&doc);
        assert_eq!(
            rules
                .iter()
                .filter(|r| *r == "require-concurrent-index")
                .count(),
            1,
            "{args:?}: {rules:?}"
        );
    }
}

#[test]
fn sarif_and_github_formats_keep_the_summary_and_exit_code() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    let sarif = lockstep(dir.path())
        .args(["lint", "--format", "sarif", "migrations"])
        .output()
        .unwrap();
    assert_eq!(sarif.status.code(), Some(1));
    let log = json(&sarif.stdout);
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "migrations/1_index.sql"
    );
    let stderr = String::from_utf8_lossy(&sarif.stderr);
    assert!(
        stderr.contains("1 file(s) checked for PostgreSQL 15"),
        "{stderr}"
    );

    let github = lockstep(dir.path())
        .args(["lint", "--format", "github", "migrations"])
        .output()
        .unwrap();
    assert_eq!(github.status.code(), Some(1));
    let text = String::from_utf8_lossy(&github.stdout);
    assert!(
        text.starts_with("::error file=migrations/1_index.sql,line=1,col=1,"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("1 file(s) checked"),
        "{text}"
    );

    let clean = project(&[("1_ok.sql", "CREATE TABLE t (id int);\n")]);
    for format in ["sarif", "github"] {
        let out = lockstep(clean.path())
            .args(["lint", "--format", format, "migrations"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
    }
}

#[test]
fn lint_section_disables_and_changes_severities_with_squawk_names() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    // squawk's name for the rule, an error turned into a warning: nothing fails any more.
    std::fs::write(
        dir.path().join("lockstep.toml"),
        "[lint]\ndisable = [\"missing-statement-timeout\"]\n\
         severity = { \"require-concurrent-index-creation\" = \"warning\" }\npg-version = \"10\"\n",
    )
    .unwrap();
    // A .squawk.toml beside a [lint] section is not read.
    std::fs::write(
        dir.path().join(".squawk.toml"),
        "excluded_rules = [\"require-concurrent-index-creation\"]\n",
    )
    .unwrap();
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "migrations"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let rules = rules_of(&doc);
    assert!(
        rules.contains(&"require-concurrent-index".to_string()),
        "{rules:?}"
    );
    assert!(
        !rules.contains(&"missing-statement-timeout".to_string()),
        "{rules:?}"
    );
    assert_eq!(doc["pg_version"], 10, "[lint] pg-version");
    // Before 11 any default rewrites: still an error, so the exit code is 1.
    assert_eq!(out.status.code(), Some(1), "{doc}");
    let finding = doc["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "require-concurrent-index")
        .unwrap()
        .clone();
    assert_eq!(finding["severity"], "warning");
    // The flag still wins over the configuration.
    let flagged = lockstep(dir.path())
        .args([
            "lint",
            "--format",
            "json",
            "--pg-version",
            "15",
            "migrations",
        ])
        .output()
        .unwrap();
    assert_eq!(json(&flagged.stdout)["pg_version"], 15);
    assert_eq!(flagged.status.code(), Some(0), "only warnings remain on 15");

    let explain = lockstep(dir.path())
        .args(["lint", "--explain"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    let line = |rule: &str| {
        let lines: Vec<&str> = text.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with(&format!("{rule} ")))
            .unwrap();
        format!("{}\n{}", lines[i], lines[i + 1])
    };
    let index = line("require-concurrent-index");
    assert!(
        index.contains(" warning ") && index.contains("from lockstep.toml (default error)"),
        "{index}"
    );
    let timeout = line("missing-statement-timeout");
    assert!(timeout.contains(" off "), "{timeout}");
    let drop = line("drop-column");
    assert!(
        drop.contains(" warning ") && drop.contains(" default;"),
        "{drop}"
    );
}

#[test]
fn unknown_rules_in_configuration_name_the_file_and_line() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    // Each configuration is refused (exit 2) with the file, line and column of the bad name.
    let refused = |file: &str, text: &str, expected: &str| {
        for other in ["lockstep.toml", ".squawk.toml"] {
            let _ = std::fs::remove_file(dir.path().join(other));
        }
        std::fs::write(dir.path().join(file), text).unwrap();
        let out = lint_migrations(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    };
    refused(
        "lockstep.toml",
        "lock-timeout = \"2s\"\n[lint]\ndisable = [\n  \"drop-column\",\n  \"no-such-rule\",\n]\n",
        "lockstep.toml: line 5, column 3: there is no rule `no-such-rule`",
    );
    refused(
        "lockstep.toml",
        "[lint.severity]\ndrop-column = \"fatal\"\n",
        "line 2, column 15: severity `fatal`",
    );
    refused(
        ".squawk.toml",
        "excluded_rules = [\"ban-drop-column\", \"prefer-big-int\"]\n",
        ".squawk.toml: line 1, column 38: there is no rule `prefer-big-int`",
    );
}

#[test]
fn squawk_configuration_is_read_when_there_is_no_lint_section() {
    let dir = project(&[("1_index.sql", INDEX_AND_DEFAULT)]);
    std::fs::write(
        dir.path().join(".squawk.toml"),
        "excluded_rules = [\"require-concurrent-index-creation\", \"require-timeout-settings\"]\n\
         pg_version = \"10.0\"\nassume_in_transaction = true\n\
         [upload_to_github]\nfail_on_violations = true\n",
    )
    .unwrap();
    let out = lint_migrations(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("note: using squawk's configuration")
            && first.contains(".squawk.toml")
            && first.contains("missing-lock-timeout")
            && first.contains("pg_version 10"),
        "{text}"
    );
    assert!(!text.contains("[require-concurrent-index]"), "{text}");
    assert!(!text.contains("missing-lock-timeout]"), "{text}");
    // pg_version 10: a default still rewrites the table.
    assert!(text.contains("error[volatile-default-rewrite]"), "{text}");
    assert!(text.contains("checked for PostgreSQL 10"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    // In JSON the note goes to stderr, so stdout stays one document.
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "migrations"])
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout)["pg_version"], 10);
    assert!(String::from_utf8_lossy(&out.stderr).contains("note: using squawk's configuration"));
    let explain = lockstep(dir.path())
        .args(["lint", "--explain", "require-concurrent-index"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(
        text.contains(" off ") && text.contains("from .squawk.toml (default error)"),
        "{text}"
    );
}

/// `git` in `dir`, with an identity of its own; panics with git's message when it fails.
fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn changed_since_lints_only_what_the_branch_changed() {
    let dir = project(&[
        ("1_users.sql", "CREATE TABLE users (id int, email text);\n"),
        (
            "2_orders.sql",
            "CREATE TABLE orders (id int);\nCREATE INDEX o ON orders (id);\n",
        ),
        ("3_old.sql", "ALTER TABLE orders ADD COLUMN note text;\n"),
    ]);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    git(dir.path(), &["checkout", "-q", "-b", "feature"]);
    let migrations = dir.path().join("migrations");
    // Added on the branch: an index on a table from an earlier migration (not new: applied).
    std::fs::write(
        migrations.join("4_index.sql"),
        "CREATE INDEX users_email ON users (email);\n",
    )
    .unwrap();
    // Added too: a type change of a column an earlier migration created (its old type is known
    // from history, so it is a rewrite, not a guess), and a table with an index in a later added
    // migration (new in the same deploy: empty, so no concurrent build is needed).
    std::fs::write(
        migrations.join("5_widen.sql"),
        "ALTER TABLE users ALTER COLUMN id TYPE bigint;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("6_tags.sql"),
        "CREATE TABLE tags (id int);\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("7_tag_index.sql"),
        "CREATE INDEX tags_id ON tags (id);\n",
    )
    .unwrap();
    // An applied migration edited.
    std::fs::write(
        migrations.join("3_old.sql"),
        "ALTER TABLE orders ADD COLUMN note varchar(10);\n",
    )
    .unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "branch"]);
    // Not committed yet, but on the branch all the same.
    std::fs::write(
        migrations.join("10_drop.sql"),
        "ALTER TABLE users DROP COLUMN email;\n",
    )
    .unwrap();

    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "--changed-since", "main"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let paths = paths_of(&doc);
    assert_eq!(
        paths,
        vec![
            "./migrations/3_old.sql",
            "./migrations/4_index.sql",
            "./migrations/5_widen.sql",
            "./migrations/6_tags.sql",
            "./migrations/7_tag_index.sql",
            "./migrations/10_drop.sql"
        ],
        "only the changed files, in version order: {doc}"
    );
    let rules_in = |i: usize| -> Vec<String> {
        doc["files"][i]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(rules_in(0)[0], "modified-applied-migration", "{doc}");
    let edited = &doc["files"][0]["findings"][0];
    assert_eq!(edited["severity"], "error");
    assert!(
        edited["message"]
            .as_str()
            .unwrap()
            .contains("already at main"),
        "{edited}"
    );
    assert!(
        rules_in(1).contains(&"require-concurrent-index".to_string()),
        "{doc}"
    );
    let widen = doc["files"][2]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "column-type-rewrite")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_ne!(
        widen["severity"], "info",
        "int → bigint is known to rewrite: {widen}"
    );
    assert!(
        widen["message"].as_str().unwrap().contains("rewrites"),
        "{widen}"
    );
    assert!(
        !rules_in(4).contains(&"require-concurrent-index".to_string()),
        "tags is created by the same deploy: {doc}"
    );
    assert!(rules_in(5).contains(&"drop-column".to_string()), "{doc}");
    assert_eq!(out.status.code(), Some(1));

    // Since the branch's own commit only the uncommitted file is new; nothing was edited.
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json", "--changed-since", "HEAD"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    assert_eq!(doc["files"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(out.status.code(), Some(0), "a warning alone: {doc}");

    // A ref git does not know: exit 2 and what to do.
    let out = lockstep(dir.path())
        .args(["lint", "--changed-since", "no-such-branch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fetch-depth: 0"), "{stderr}");
}

#[test]
fn an_unwritten_migration_and_a_misplaced_marker_are_lint_findings() {
    let dir = project(&[
        ("1_create.sql", "CREATE TABLE widgets (id int);\n"),
        (
            "2_index.sql",
            "-- index widgets\n-- no-transaction\nCREATE INDEX CONCURRENTLY ix ON widgets (id);\n",
        ),
        // Kept empty on purpose, as projects with files per database do: left to `status`.
        ("3_other_database.sql", ""),
    ]);
    // `lockstep new` writes the template; lint (as CI runs it) says it was never written.
    let new = lockstep(dir.path())
        .args(["new", "--sequential", "backfill"])
        .output()
        .unwrap();
    assert!(new.status.success(), "{new:?}");
    let out = lockstep(dir.path())
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    let doc = json(&out.stdout);
    let found: Vec<(String, String)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            let path = f["path"].as_str().unwrap().to_string();
            f["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |x| (path.clone(), x["rule"].as_str().unwrap().to_string()))
        })
        .collect();
    assert!(
        found
            .iter()
            .any(|(p, r)| p.ends_with("4_backfill.sql") && r == "unwritten-migration"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, r)| p.ends_with("2_index.sql") && r == "misplaced-no-transaction"),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|(p, _)| p.ends_with("3_other_database.sql")),
        "{found:?}"
    );
    // `--fix` moves the marker where sqlx sees it; the concurrent build then runs outside a
    // transaction, and nothing about the marker is left.
    let fixed = lockstep(dir.path())
        .args(["lint", "--fix", "--format", "gcc", "migrations/2_index.sql"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&fixed.stderr);
    assert!(stderr.contains("[misplaced-no-transaction]"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("migrations/2_index.sql")).unwrap();
    assert!(
        text.starts_with("-- no-transaction\n-- index widgets\n"),
        "{text}"
    );
    let stdout = String::from_utf8_lossy(&fixed.stdout);
    assert!(
        !stdout.contains("misplaced-no-transaction")
            && !stdout.contains("not-in-transaction-block"),
        "{stdout}"
    );
}
