//! Bad migration files: each gives an error or warning naming the file, never a panic, and runs
//! refuse to start while errors remain.

use lockstep::runner::{Operation, PlanError, RunError};
use lockstep::source::{Severity, load};
use lockstep::testing::fresh_database;

use crate::common::*;

fn problems(dir: &Dir) -> Vec<(Severity, String, Option<usize>, String)> {
    load(&dir.path, &Default::default())
        .unwrap()
        .problems
        .into_iter()
        .map(|p| {
            let name = p.path.file_name().unwrap().to_string_lossy().into_owned();
            (p.severity, name, p.line, p.message)
        })
        .collect()
}

fn one(dir: &Dir) -> (Severity, String, Option<usize>, String) {
    let mut all = problems(dir);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[test]
fn a_version_that_is_not_an_integer() {
    let dir = Dir::with(&[("v1_init.sql", "SELECT 1;")]);
    let (severity, name, _, message) = one(&dir);
    assert_eq!((severity, name.as_str()), (Severity::Error, "v1_init.sql"));
    assert!(message.contains("`v1` is not an integer"), "{message}");
}

#[test]
fn two_files_with_one_version() {
    let dir = Dir::with(&[("7_a.sql", "SELECT 1;"), ("0007_b.sql", "SELECT 2;")]);
    let all = problems(&dir);
    assert_eq!(all.len(), 2, "both files are named: {all:#?}");
    assert!(
        all.iter()
            .all(|p| p.0 == Severity::Error && p.3.contains("version 7 is used by 2 migrations"))
    );
    // Printed once for the directory, not once per file.
    let set = load(&dir.path, &Default::default()).unwrap();
    let lines = lockstep::source::problem_lines(&set.problems);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].1.contains("0007_b.sql, 7_a.sql") && !lines[0].1.contains(".sql: version"),
        "{lines:#?}"
    );
    assert!(
        load(&dir.path, &Default::default())
            .unwrap()
            .migrations
            .is_empty()
    );
}

#[test]
fn an_up_without_its_down_and_the_reverse() {
    let dir = Dir::with(&[("1_a.up.sql", "SELECT 1;"), ("2_b.down.sql", "SELECT 1;")]);
    let all = problems(&dir);
    assert_eq!(all.len(), 2);
    // sqlx applies an `.up.sql` without its `.down.sql` (quickwit ships three): a warning, and
    // the migration is there to apply, without a DOWN.
    assert!(all.iter().any(|p| p.0 == Severity::Warning
        && p.1 == "1_a.up.sql"
        && p.3.contains("no matching `.down.sql`")
        && p.3.contains("cannot be reverted")));
    assert!(
        all.iter().any(|p| p.0 == Severity::Error
            && p.1 == "2_b.down.sql"
            && p.3.contains("no `.up.sql`"))
    );
    let set = load(&dir.path, &Default::default()).unwrap();
    let versions: Vec<i64> = set.migrations.iter().map(|m| m.version).collect();
    assert_eq!(versions, [1]);
    assert!(set.migrations[0].lacks_down() && !set.migrations[0].is_reversible());
}

/// A diesel project's directory (a folder with an `up.sql` per migration, as crates.io keeps):
/// one warning that says what it is and what lockstep can do with it, not a line per folder; a
/// folder that is not a diesel migration is still listed as skipped.
#[test]
fn diesel_migration_folders_are_named_once() {
    let dir = Dir::with(&[("3_c.sql", "SELECT 1;")]);
    for name in ["2024-01-01-000000_a", "2024-01-02-000000_b"] {
        std::fs::create_dir(dir.path.join(name)).unwrap();
        std::fs::write(dir.path.join(name).join("up.sql"), "SELECT 1;").unwrap();
        std::fs::write(dir.path.join(name).join("down.sql"), "SELECT 1;").unwrap();
    }
    std::fs::create_dir(dir.path.join("fixtures")).unwrap();
    let all = problems(&dir);
    assert_eq!(all.len(), 2, "{all:?}");
    let dir_name = dir.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        all.iter().any(|p| p.0 == Severity::Warning
            && p.1 == dir_name
            && p.3.starts_with("2 diesel migrations")
            && p.3.contains("`lockstep lint ")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|p| p.0 == Severity::Ignored && p.1 == "fixtures"),
        "{all:?}"
    );
    let set = load(&dir.path, &Default::default()).unwrap();
    let versions: Vec<i64> = set.migrations.iter().map(|m| m.version).collect();
    assert_eq!(versions, [3]);
}

#[test]
fn a_file_that_is_not_utf8() {
    let dir = Dir::with(&[]);
    std::fs::write(
        dir.path.join("1_latin1.sql"),
        b"SELECT 1;\nSELECT 'caf\xe9';\n",
    )
    .unwrap();
    let (severity, name, line, message) = one(&dir);
    assert_eq!(
        (severity, name.as_str(), line),
        (Severity::Error, "1_latin1.sql", Some(2))
    );
    assert!(
        message.contains("not valid UTF-8") && message.contains("0xe9"),
        "{message}"
    );
}

#[test]
fn an_empty_file_and_an_untouched_template() {
    let dir = Dir::with(&[
        ("1_empty.sql", ""),
        ("2_template.sql", "-- Add migration script here\n"),
    ]);
    let all = problems(&dir);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all.iter().all(|p| p.0 == Severity::Warning));
    assert!(
        all.iter()
            .any(|p| p.1 == "1_empty.sql" && p.3.contains("empty"))
    );
    assert!(
        all.iter()
            .any(|p| p.1 == "2_template.sql" && p.3.contains("template"))
    );
}

#[test]
fn files_sqlx_silently_ignores_are_listed() {
    let dir = Dir::with(&[
        ("README.md", "docs"),
        ("1_ok.sql", "SELECT 1;"),
        ("0002.sql", "x"),
        ("3_notes.txt", "x"),
    ]);
    std::fs::create_dir(dir.path.join("4_subdir.sql")).unwrap();
    let all = problems(&dir);
    let ignored: Vec<&str> = all
        .iter()
        .filter(|p| p.0 == Severity::Ignored)
        .map(|p| p.1.as_str())
        .collect();
    assert_eq!(
        ignored,
        vec!["0002.sql", "3_notes.txt", "4_subdir.sql", "README.md"]
    );
    assert_eq!(all.len(), 4);
}

#[test]
fn a_no_transaction_marker_sqlx_will_not_see() {
    let dir = Dir::with(&[(
        "1_cic.sql",
        "\n-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
    )]);
    let (severity, _, line, message) = one(&dir);
    assert_eq!((severity, line), (Severity::Warning, Some(2)));
    assert!(message.contains("very first bytes"), "{message}");
    assert!(!dir.set().migrations[0].up.no_transaction);
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let err = load(
        std::path::Path::new("/nonexistent/migrations"),
        &Default::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/migrations") && text.contains("lockstep new"),
        "{text}"
    );
}

#[tokio::test]
async fn runs_refuse_while_files_have_errors() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_ok.sql", "CREATE TABLE ok (id int);"),
        ("2_a.down.sql", "SELECT 1;"),
    ]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let RunError::Plan(PlanError::BadFiles(lines)) = &err else {
        panic!("{err}");
    };
    assert!(lines[0].contains("2_a.down.sql"), "{lines:?}");
    assert!(!exists(&db, "ok").await, "nothing ran");
}

#[tokio::test]
async fn a_nul_byte_is_refused_before_anything_runs_with_its_line_and_column() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_ok.sql", "CREATE TABLE ok (id int);"),
        (
            "2_nul.sql",
            "CREATE TABLE t (id int);\n-- a comment with a \0 in it\nSELECT 1;\n",
        ),
    ]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let RunError::Plan(PlanError::BadFiles(lines)) = &err else {
        panic!("{err}");
    };
    assert!(lines[0].contains("2_nul.sql"), "{lines:?}");
    assert!(
        lines[0].contains("NUL byte at line 2, column 21"),
        "{lines:?}"
    );
    assert!(!exists(&db, "ok").await, "nothing ran");
}
