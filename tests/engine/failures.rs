//! Failures: a transactional migration leaves nothing behind; a no-transaction one is partial;
//! both name the statement, line and server error; lock_timeout fails fast instead of queueing.

use std::time::Duration;

use lockstep::runner::{Operation, PlanError, RunError, RunEvent};
use lockstep::status::State;
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn a_failing_statement_rolls_back_the_whole_migration() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_ok.sql", "CREATE TABLE kept (id int);"),
        (
            "2_breaks.sql",
            "CREATE TABLE doomed (id int);\nINSERT INTO doomed VALUES (1);\n\nSELECT id\n  FROM no_such_table;\nCREATE TABLE never (id int);\n",
        ),
    ]);
    let (result, events) = run_with(&db, &dir, Operation::Up { to: None }, options()).await;
    let err = result.unwrap_err();
    let RunError::Migration {
        version, failure, ..
    } = &err
    else {
        panic!("expected a migration failure, got {err}");
    };
    assert_eq!(*version, 2);
    assert_eq!(failure.statement, Some(2));
    assert_eq!(failure.sqlstate.as_deref(), Some("42P01"));
    assert!(failure.message.contains("no_such_table"));
    assert_eq!(
        (failure.line, failure.column),
        (Some(5), Some(8)),
        "the error position in the file"
    );
    assert!(failure.in_transaction && !failure.partial);
    assert_eq!(failure.completed, vec![0, 1]);
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::MigrationFailed { version: 2, .. }))
    );

    assert_eq!(
        versions(&db).await,
        vec![1],
        "migration 1 stays, 2 leaves no row"
    );
    assert!(exists(&db, "kept").await);
    assert!(
        !exists(&db, "doomed").await,
        "the failed migration leaves no trace"
    );
    assert!(!exists(&db, "never").await);

    // The lock was released: a fixed file applies at once.
    dir.write("2_breaks.sql", "CREATE TABLE doomed (id int);");
    up(&db, &dir).await;
    assert_eq!(versions(&db).await, vec![1, 2]);
}

#[tokio::test]
async fn a_failing_no_transaction_migration_is_recorded_as_partial() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_table.sql", "CREATE TABLE t (a int);"),
        (
            "2_concurrently.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n",
        ),
    ]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let failure = failure(&err);
    assert!(!failure.in_transaction && failure.partial);
    assert_eq!(failure.completed, vec![0]);
    assert_eq!(failure.statement, Some(1));
    assert_eq!(failure.line, Some(3));
    let text = err.to_string();
    assert!(text.contains("statement 1 stayed applied"), "{text}");
    assert!(text.contains("lockstep resolve 2 --applied"), "{text}");
    assert!(
        exists(&db, "t_a").await,
        "the first index stays: CONCURRENTLY ran for real"
    );
    let recorded = rows(&db).await;
    assert_eq!(recorded.len(), 2, "the unfinished migration has its row");
    assert!(
        !recorded[1].success,
        "recorded as unfinished, as sqlx's dirty state"
    );
    let status = status(&db, &dir).await;
    assert_eq!(status.versions[1].state, State::Partial);
    let unfinished = status.versions[1].unfinished.as_ref().unwrap();
    assert_eq!(unfinished.progress.committed(), Some(1));
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Plan(PlanError::Dirty(2))),
        "up refuses to run past it: {err}"
    );
}

#[tokio::test]
async fn lock_timeout_fails_a_blocked_migration_instead_of_queueing() {
    let db = fresh_database().await;
    let dir = Dir::with(&[("1_table.sql", "CREATE TABLE busy (id int);")]);
    up(&db, &dir).await;
    dir.write("2_alter.sql", "ALTER TABLE busy ADD COLUMN note text;");

    // Another session holds a lock that conflicts with ALTER TABLE's ACCESS EXCLUSIVE.
    let mut holder = conn(&db).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE;")
        .execute(&mut holder)
        .await
        .unwrap();

    let mut opts = options();
    opts.lock_timeout = Some(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (result, _) = tokio::time::timeout(
        Duration::from_secs(20),
        run_with(&db, &dir, Operation::Up { to: None }, opts),
    )
    .await
    .expect("with lock_timeout the migration must not queue behind the lock");
    let err = result.unwrap_err();
    let failure = failure(&err);
    assert_eq!(
        failure.sqlstate.as_deref(),
        Some("55P03"),
        "lock_not_available: {err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(versions(&db).await, vec![1]);
}
