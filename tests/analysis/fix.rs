//! `lockstep lint --fix`: each kind of fix written to the file (an insertion, the
//! `-- no-transaction` marker in place, a statement moved to a new `-- no-transaction` migration,
//! a statement moved to run after, a deletion), the result clean of what was fixed, and a
//! migration the database has applied left alone.

use std::path::Path;

use assert_cmd::Command;
use lockstep::testing::fresh_database;

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

/// `lockstep lint --fix` on the named files of `dir`, with no database configured.
fn fix(dir: &Path, files: &[&str]) -> std::process::Output {
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .args(["lint", "--fix", "--format", "gcc"]);
    for file in files {
        cmd.arg(format!("migrations/{file}"));
    }
    cmd.output().unwrap()
}

fn text(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("migrations").join(file)).unwrap()
}

/// The migration files of `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_insertion_is_written_in_place() {
    let dir = project(&[(
        "1_check.sql",
        "ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0);\n",
    )]);
    let out = fix(dir.path(), &["1_check.sql"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fixed migrations/1_check.sql: [check-needs-not-valid]"),
        "{stderr}"
    );
    assert_eq!(
        text(dir.path(), "1_check.sql"),
        "ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;\n"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("check-needs-not-valid"), "{stdout}");
}

#[test]
fn a_lone_index_build_gets_the_marker_and_concurrently() {
    let dir = project(&[(
        "1_index.sql",
        "CREATE INDEX users_email ON users (email);\n",
    )]);
    let out = fix(dir.path(), &["1_index.sql"]);
    // prefer-robust-statements does not fire on a lone concurrent build in a `-- no-transaction`
    // file, so no IF NOT EXISTS is added.
    assert_eq!(
        text(dir.path(), "1_index.sql"),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "no error left");
}

#[test]
fn an_index_build_among_other_statements_moves_to_a_new_no_transaction_migration() {
    let dir = project(&[(
        "1_email.sql",
        "ALTER TABLE users ADD COLUMN email text;\nCREATE INDEX users_email ON users (email);\n",
    )]);
    let out = fix(dir.path(), &["1_email.sql"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        text(dir.path(), "1_email.sql"),
        "ALTER TABLE users ADD COLUMN email text;\n",
        "{stderr}"
    );
    // Sequential versions (the only one is 1): the new migration is 0002, simple like 1.
    assert_eq!(
        names(dir.path()),
        ["0002_email_no_transaction.sql", "1_email.sql"],
        "{stderr}"
    );
    let moved = text(dir.path(), "0002_email_no_transaction.sql");
    assert!(moved.starts_with("-- no-transaction\n"), "{moved}");
    assert!(
        moved.contains("CREATE INDEX CONCURRENTLY"),
        "the fix's other edits go with it: {moved}"
    );
    assert!(
        stderr.contains("created migrations/0002_email_no_transaction.sql"),
        "{stderr}"
    );
}

#[test]
fn a_do_blocks_statements_are_never_fixed() {
    // The DROP INDEX and CREATE INDEX in the block (one written out, one an EXECUTE'd constant)
    // are found, but their offsets are the body's: a fix from them once wrote ` CONCURRENTLY`
    // into the `-- no-transaction` line of a new migration, again and again.
    let block = "ALTER TABLE users DROP CONSTRAINT users_check;\n\
                 DO $$ BEGIN DROP INDEX users_email; EXECUTE 'CREATE INDEX users_name ON users (name)'; END $$;\n";
    let dir = project(&[("1_block.sql", block)]);
    let out = fix(dir.path(), &["1_block.sql"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[require-concurrent-index-drop]"),
        "{stdout}"
    );
    assert!(stdout.contains("[require-concurrent-index]"), "{stdout}");
    assert_eq!(text(dir.path(), "1_block.sql"), block);
    assert_eq!(names(dir.path()), ["1_block.sql"]);
}

#[test]
fn a_validation_in_the_same_transaction_moves_to_a_migration_after() {
    let dir = project(&[
        (
            "1_check.up.sql",
            "ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;\n\
         ALTER TABLE users VALIDATE CONSTRAINT positive;\n",
        ),
        (
            "1_check.down.sql",
            "ALTER TABLE users DROP CONSTRAINT positive;\n",
        ),
    ]);
    let out = fix(dir.path(), &["1_check.up.sql"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[validate-in-same-transaction]"),
        "{stderr}"
    );
    assert_eq!(
        text(dir.path(), "1_check.up.sql"),
        "ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;\n"
    );
    let up = names(dir.path())
        .into_iter()
        .find(|n| n.ends_with("_check_part_2.up.sql"))
        .unwrap_or_else(|| panic!("{:?}\n{stderr}", names(dir.path())));
    assert_eq!(
        text(dir.path(), &up),
        "ALTER TABLE users VALIDATE CONSTRAINT positive;\n"
    );
    // A reversible set: the new DOWN is the template, which lockstep flags until written.
    let down = up.replace(".up.sql", ".down.sql");
    assert_eq!(
        text(dir.path(), &down),
        "-- Add down migration script here\n"
    );
}

#[test]
fn hidden_characters_in_a_comment_are_deleted() {
    let dir = project(&[("1_note.sql", "-- note \u{202e}evil\nSELECT 1;\n")]);
    fix(dir.path(), &["1_note.sql"]);
    assert_eq!(text(dir.path(), "1_note.sql"), "-- note evil\nSELECT 1;\n");
}

#[test]
fn without_lockstep_s_timeout_the_fix_sets_one_before_the_statement() {
    let dir = project(&[("1_col.sql", "ALTER TABLE users ADD COLUMN note text;\n")]);
    Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args([
            "lint",
            "--fix",
            "--lock-timeout",
            "0",
            "migrations/1_col.sql",
        ])
        .output()
        .unwrap();
    assert_eq!(
        text(dir.path(), "1_col.sql"),
        "SET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN note text;\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_applied_migration_is_never_fixed() {
    let db = fresh_database().await;
    let dir = project(&[(
        "1_index.sql",
        "CREATE INDEX users_email ON users (email);\n",
    )]);
    let mut conn = db.connect("test").await.unwrap();
    sqlx::raw_sql("CREATE TABLE users (email text)")
        .execute(&mut conn)
        .await
        .unwrap();
    let up = Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(dir.path())
        .env("DATABASE_URL", db.url())
        .arg("up")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let out = Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(dir.path())
        .env("DATABASE_URL", db.url())
        .args(["lint", "--fix", "migrations/1_index.sql"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not fixing migrations/1_index.sql"),
        "{stderr}"
    );
    assert_eq!(
        text(dir.path(), "1_index.sql"),
        "CREATE INDEX users_email ON users (email);\n"
    );
}

/// Each migration of the project `dir` sent as sqlx sends it (the whole text as one query), in version order; the code
/// of the first failure (SQLSTATE) with its file, if one fails.
async fn apply_as_sqlx(conn: &mut sqlx::PgConnection, dir: &Path) -> Option<(String, String)> {
    let mut files = names(dir);
    files.sort_by_key(|name| {
        name.split('_')
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    for file in files {
        let sql = text(dir, &file);
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
        {
            let code = match &e {
                sqlx::Error::Database(db) => db.code().unwrap_or_default().into_owned(),
                other => other.to_string(),
            };
            return Some((file, code));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_no_transaction_file_sqlx_cannot_run_splits_in_order_into_files_it_can() {
    let files = [
        (
            "1_splits.sql",
            "CREATE TABLE splits (id int PRIMARY KEY, ts timestamptz);\nINSERT INTO splits SELECT g, now() FROM generate_series(1, 100) g;\n",
        ),
        // quickwit's robust rebuild, which sqlx refuses as one query.
        (
            "2_idx.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS splits_ts_idx;\nCREATE INDEX CONCURRENTLY splits_ts_idx ON splits (ts);\n",
        ),
        (
            "3_more.sql",
            "-- no-transaction\nUPDATE splits SET ts = ts WHERE id = 1;\n-- the build\nCREATE INDEX CONCURRENTLY splits_id_ts ON splits (id, ts);\nVACUUM splits;\n",
        ),
    ];
    let before = project(&files);
    let db = fresh_database().await;
    let mut conn = db.connect("test").await.unwrap();
    assert_eq!(
        apply_as_sqlx(&mut conn, before.path()).await,
        Some(("2_idx.sql".to_string(), "25001".to_string())),
        "as written, sqlx fails on 2 with \"cannot run inside a transaction block\""
    );

    let dir = project(&files);
    let out = fix(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        names(dir.path()),
        [
            "0004_idx_part_2.sql",
            "0005_more_part_2.sql",
            "0006_more_part_3.sql",
            "1_splits.sql",
            "2_idx.sql",
            "3_more.sql"
        ],
        "{stderr}"
    );
    // The first statement stays and what follows it moves, in order; a statement after others
    // moves with what follows it, its comment along.
    for (file, expected) in [
        (
            "2_idx.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS splits_ts_idx;\n",
        ),
        (
            "0004_idx_part_2.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY splits_ts_idx ON splits (ts);\n",
        ),
        (
            "3_more.sql",
            "-- no-transaction\nUPDATE splits SET ts = ts WHERE id = 1;\n",
        ),
        (
            "0005_more_part_2.sql",
            "-- no-transaction\n-- the build\nCREATE INDEX CONCURRENTLY splits_id_ts ON splits (id, ts);\n",
        ),
        (
            "0006_more_part_3.sql",
            "-- no-transaction\nVACUUM splits;\n",
        ),
    ] {
        assert_eq!(text(dir.path(), file), expected, "{file}");
    }
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("no-transaction-not-alone"),
        "nothing left to split"
    );

    let db = fresh_database().await;
    let mut conn = db.connect("test").await.unwrap();
    assert_eq!(
        apply_as_sqlx(&mut conn, dir.path()).await,
        None,
        "sqlx runs every part"
    );
    let valid: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = 'splits'::regclass AND NOT i.indisprimary ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        valid,
        [
            ("splits_id_ts".to_string(), true),
            ("splits_ts_idx".to_string(), true)
        ]
    );
}

/// In a diesel project the transaction is `metadata.toml`'s, not a comment's: `lint --fix` never
/// adds a `-- no-transaction` line diesel would ignore, nor writes a sqlx migration into a
/// diesel folder (where diesel would never run it, so the statement would be lost); the
/// findings name diesel and its setting, and a `-- no-transaction` line changes nothing there.
#[test]
fn a_diesel_migration_is_never_fixed_into_something_diesel_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let migrations = tmp.path().join("migrations");
    let lone = migrations.join("2024-01-01-000000_index");
    let mixed = migrations.join("2024-01-02-000000_mixed");
    for dir in [&lone, &mixed] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let lone_sql = "-- no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n";
    let mixed_sql = "CREATE TABLE u (id int);\nCREATE INDEX CONCURRENTLY u_id ON u (id);\n";
    std::fs::write(lone.join("up.sql"), lone_sql).unwrap();
    std::fs::write(mixed.join("up.sql"), mixed_sql).unwrap();
    std::fs::write(mixed.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    let out = Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(tmp.path())
        .env_remove("DATABASE_URL")
        .args(["lint", "--fix", "--format", "gcc", "migrations/"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::fs::read_to_string(lone.join("up.sql")).unwrap(),
        lone_sql,
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&mixed).unwrap().count(),
        2,
        "nothing written into the folder: {stderr}"
    );
    assert!(
        stdout
            .contains("cannot run inside a transaction block (diesel wraps this migration in one)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("shares this `run_in_transaction = false` migration with")
            && stdout.contains("diesel sends up.sql as one query"),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(1), "the errors remain: {stdout}");
}
