//! Interoperability with sqlx's own `Migrator`, both ways.

use lockstep::runner::{Operation, Resolution, Runner};
use lockstep::status::State;
use lockstep::testing::fresh_database;
use sqlx::Connection;
use sqlx::migrate::Migrator;

use crate::common::*;

#[tokio::test]
async fn after_lockstep_applies_sqlx_sees_nothing_to_do() {
    let db = fresh_database().await;
    let dir = three();
    up(&db, &dir).await;
    let before = rows(&db).await;
    let migrator = Migrator::new(dir.path.clone()).await.unwrap();
    let mut c = conn(&db).await;
    // run() fails with VersionMismatch on any checksum difference, and would insert rows if
    // anything looked pending.
    migrator
        .run(&mut c)
        .await
        .expect("sqlx accepts lockstep's history");
    assert_eq!(rows(&db).await, before, "sqlx applied nothing");

    // sqlx can revert what lockstep applied.
    migrator.undo(&mut c, 1).await.unwrap();
    assert_eq!(versions(&db).await, vec![1]);
    assert!(!exists(&db, "widgets_name").await);
}

#[tokio::test]
async fn after_sqlx_applies_lockstep_sees_everything_applied() {
    let db = fresh_database().await;
    let dir = three();
    let migrator = Migrator::new(dir.path.clone()).await.unwrap();
    let mut c = conn(&db).await;
    migrator.run_to(2, &mut c).await.unwrap();

    let status = status(&db, &dir).await;
    let states: Vec<State> = status.versions.iter().map(|v| v.state).collect();
    assert_eq!(states, vec![State::Applied, State::Applied, State::Pending]);

    let summary = up(&db, &dir).await;
    assert_eq!(
        summary.completed.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![3]
    );
    run(&db, &dir, Operation::DownTo { to: 1 }).await.unwrap();
    assert_eq!(versions(&db).await, vec![1]);
    migrator
        .run(&mut c)
        .await
        .expect("and sqlx picks up after lockstep");
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_schema_qualified_table_from_sqlx_toml_is_shared_with_sqlx() {
    let db = fresh_database().await;
    let dir = three();
    let mut opts = options();
    opts.table = lockstep::history::HistoryTable::new("ops._migrations");
    opts.create_schemas = vec!["ops".into()];
    run_with(&db, &dir, Operation::Up { to: Some(2) }, opts)
        .await
        .0
        .unwrap();
    assert!(exists(&db, "ops._migrations").await);
    assert!(!exists(&db, "_sqlx_migrations").await);

    let mut migrator = Migrator::new(dir.path.clone()).await.unwrap();
    migrator.dangerous_set_table_name("ops._migrations");
    let mut c = conn(&db).await;
    migrator.run(&mut c).await.unwrap();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM ops._migrations ORDER BY version")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(
        applied,
        vec![1, 2, 3],
        "sqlx applied only the one lockstep had not"
    );
}

#[tokio::test]
async fn sqlx_refuses_to_run_past_a_partial_migration_until_it_is_resolved() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_table.sql", "CREATE TABLE t (a int);"),
        (
            "2_indexes.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n",
        ),
        ("3_more.sql", "CREATE TABLE u (a int);"),
    ]);
    run(&db, &dir, Operation::Up { to: None })
        .await
        .expect_err("the second index names a missing column");
    let migrator = Migrator::new(dir.path.clone()).await.unwrap();
    let mut c = conn(&db).await;
    let err = migrator.run(&mut c).await.unwrap_err();
    assert!(
        matches!(err, sqlx::migrate::MigrateError::Dirty(2)),
        "sqlx sees lockstep's unfinished row as dirty: {err}"
    );
    assert!(!exists(&db, "u").await, "and applies nothing after it");
    // sqlx returns Dirty without releasing its advisory lock: only closing the connection does.
    c.close().await.unwrap();
    let mut c = conn(&db).await;

    // Finished by hand, then resolved: sqlx runs on.
    sqlx::raw_sql("ALTER TABLE t ADD COLUMN b int; CREATE INDEX t_b ON t (b);")
        .execute(&mut c)
        .await
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = Runner::connect(&db, options(), tx).await.unwrap();
    let resolved = runner.resolve(2, Resolution::Applied).await.unwrap();
    runner.close().await;
    assert!(!resolved.previous.success);
    migrator
        .run(&mut c)
        .await
        .expect("sqlx accepts the resolved row");
    assert!(exists(&db, "u").await);
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
}
