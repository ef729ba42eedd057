//! Apply, revert, redo and targets in both directions, with sqlx's bookkeeping.

use lockstep::runner::{Direction, Operation, RunEvent};
use lockstep::status::State;
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn applies_everything_statement_by_statement_with_sqlx_bookkeeping() {
    let db = fresh_database().await;
    let dir = three();
    let (result, events) = run_with(&db, &dir, Operation::Up { to: None }, options()).await;
    let summary = result.unwrap();
    assert_eq!(summary.completed.len(), 3);

    let rows = rows(&db).await;
    assert_eq!(
        rows.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let set = dir.set();
    for row in &rows {
        let m = set.get(row.version).unwrap();
        assert_eq!(
            row.checksum,
            m.checksum(),
            "the checksum is the UP file's SHA-384"
        );
        assert_eq!(row.description, m.description);
        assert!(row.success);
        assert!(
            row.execution_time > 0,
            "execution_time is recorded with the row"
        );
    }
    assert_eq!(rows[1].description, "add color");
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM widgets").await, 100);

    // Every statement of migration 2 reported its start (with its line) and its end.
    let started: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::StatementStarted {
                version: 2,
                index,
                line,
                ..
            } => Some((*index, *line)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        vec![(0, 1), (1, 2)],
        "two statements; the function body is not split"
    );
    let finished = events
        .iter()
        .filter(|e| matches!(e, RunEvent::StatementFinished { .. }))
        .count();
    assert_eq!(finished, 5);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::LockAcquired { .. }))
    );

    // Nothing left to do.
    let again = up(&db, &dir).await;
    assert!(again.completed.is_empty());
}

#[tokio::test]
async fn reverts_redoes_and_targets_versions_both_ways() {
    let db = fresh_database().await;
    let dir = three();

    run(&db, &dir, Operation::Up { to: Some(2) }).await.unwrap();
    assert_eq!(versions(&db).await, vec![1, 2]);
    assert!(!exists(&db, "widgets_name").await);

    up(&db, &dir).await;
    assert_eq!(versions(&db).await, vec![1, 2, 3]);

    let down = run(&db, &dir, Operation::DownSteps { steps: 2 })
        .await
        .unwrap();
    assert_eq!(
        down.completed
            .iter()
            .map(|(d, v, _)| (*d, *v))
            .collect::<Vec<_>>(),
        vec![(Direction::Revert, 3), (Direction::Revert, 2)]
    );
    assert_eq!(versions(&db).await, vec![1]);
    assert!(!exists(&db, "widgets_name").await);

    up(&db, &dir).await;
    run(&db, &dir, Operation::DownTo { to: 1 }).await.unwrap();
    assert_eq!(versions(&db).await, vec![1]);

    let redo = run(&db, &dir, Operation::Redo).await.unwrap();
    assert_eq!(
        redo.completed
            .iter()
            .map(|(d, v, _)| (*d, *v))
            .collect::<Vec<_>>(),
        vec![(Direction::Revert, 1), (Direction::Apply, 1)]
    );
    assert_eq!(versions(&db).await, vec![1]);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM widgets").await, 100);

    run(&db, &dir, Operation::DownTo { to: 0 }).await.unwrap();
    assert!(versions(&db).await.is_empty());
    assert!(!exists(&db, "widgets").await);
    let status = status(&db, &dir).await;
    assert!(status.history_table_exists);
    assert!(status.versions.iter().all(|v| v.state == State::Pending));
}

#[tokio::test]
async fn refuses_to_revert_a_simple_migration_or_an_unknown_target() {
    let db = fresh_database().await;
    let dir = Dir::with(&[("1_simple.sql", "CREATE TABLE s (id int);")]);
    up(&db, &dir).await;
    let err = run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("migration 1 cannot be reverted: it has no .down.sql"),
        "{err}"
    );
    let err = run(&db, &dir, Operation::Up { to: Some(42) })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no migration with version 42"),
        "{err}"
    );
    assert_eq!(versions(&db).await, vec![1]);
}

/// quickwit's set has `.up.sql` files without their `.down.sql`, which sqlx applies: so does
/// lockstep, and a revert that would have to pass one is refused before anything runs (sqlx's
/// `migrate revert` would skip it and revert the migration below it).
#[tokio::test]
async fn an_up_without_its_down_applies_and_stops_a_revert_before_it_starts() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_a.up.sql", "CREATE TABLE a (id int);"),
        ("1_a.down.sql", "DROP TABLE a;"),
        ("2_b.up.sql", "CREATE TABLE b (id int);"),
        ("3_c.up.sql", "CREATE TABLE c (id int);"),
        ("3_c.down.sql", "DROP TABLE c;"),
    ]);
    up(&db, &dir).await;
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
    let err = run(&db, &dir, Operation::DownTo { to: 0 })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("migration 2 cannot be reverted: it has no .down.sql"),
        "{err}"
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3], "nothing was reverted");
    assert!(exists(&db, "c").await);
    // What is above it reverts.
    run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap();
    assert_eq!(versions(&db).await, vec![1, 2]);
    let err = run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("migration 2"), "{err}");
    assert!(exists(&db, "a").await, "1 stays: it is below 2");
}

#[tokio::test]
async fn session_settings_name_the_version_and_set_timeouts() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_probe.sql",
        "CREATE TABLE probe AS SELECT current_setting('application_name') AS app, \
         current_setting('lock_timeout') AS lt, current_setting('statement_timeout') AS st;",
    )]);
    let mut opts = options();
    opts.lock_timeout = Some(std::time::Duration::from_millis(1500));
    opts.statement_timeout = Some(std::time::Duration::from_secs(60));
    run_with(&db, &dir, Operation::Up { to: None }, opts)
        .await
        .0
        .unwrap();
    let mut c = conn(&db).await;
    let (app, lt, st): (String, String, String) = sqlx::query_as("SELECT app, lt, st FROM probe")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(app, "lockstep:apply:1");
    assert_eq!(lt, "1500ms");
    assert_eq!(st, "1min");
}

#[tokio::test]
async fn a_description_with_quotes_and_backslashes_is_recorded_as_sqlx_reads_it() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_it's_a_\\_test.up.sql", "CREATE TABLE q (id int);\n"),
        ("1_it's_a_\\_test.down.sql", "DROP TABLE q;\n"),
    ]);
    up(&db, &dir).await;
    let first = rows(&db).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].description, "it's a \\ test");
    assert_eq!(first[0].checksum, dir.set().get(1).unwrap().checksum());
    assert!(first[0].success && first[0].execution_time > 0);
    // With the server reading backslashes in plain literals, the row is still the same.
    let mut c = conn(&db).await;
    sqlx::raw_sql(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET standard_conforming_strings = off', \
         current_database()); END $$",
    )
    .execute(&mut c)
    .await
    .unwrap_or_else(|_| panic!("setting standard_conforming_strings"));
    let dir2 = Dir::with(&[
        ("1_it's_a_\\_test.up.sql", "CREATE TABLE q (id int);\n"),
        ("1_it's_a_\\_test.down.sql", "DROP TABLE q;\n"),
        ("2_back\\slash.up.sql", "SELECT 1;\n"),
        ("2_back\\slash.down.sql", "SELECT 1;\n"),
    ]);
    up(&db, &dir2).await;
    let both = rows(&db).await;
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].description, "back\\slash");
    assert_eq!(both[1].checksum, dir2.set().get(2).unwrap().checksum());
}
