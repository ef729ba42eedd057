//! Drift: changed checksums, missing files, failed rows and out-of-order versions, all shown by a
//! read-only status; `up` refuses what sqlx refuses.

use lockstep::runner::{Operation, PlanError, RunError};
use lockstep::status::State;
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn status_is_read_only_and_never_creates_the_table() {
    let db = fresh_database().await;
    let dir = three();
    let status = status(&db, &dir).await;
    assert!(!status.history_table_exists);
    assert_eq!(status.pending().count(), 3);
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "status must not create the table"
    );
}

#[tokio::test]
async fn shows_every_state_and_refuses_to_run_on_drift() {
    let db = fresh_database().await;
    let dir = three();
    run(&db, &dir, Operation::Up { to: Some(1) }).await.unwrap();
    // Version 3 applied out of band, so 2 is now pending below the newest applied version.
    let mut c = conn(&db).await;
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (3, 'index name', TRUE, $1, -1), (9, 'gone', TRUE, '\\x00', 5), (10, 'half done', FALSE, '\\x00', -1)")
        .bind(dir.set().get(3).unwrap().checksum().to_vec())
        .execute(&mut c)
        .await
        .unwrap();
    dir.write(
        "1_create_widgets.up.sql",
        "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL); -- edited\n",
    );

    let status = status(&db, &dir).await;
    let states: Vec<(i64, State)> = status
        .versions
        .iter()
        .map(|v| (v.version, v.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (1, State::ChecksumMismatch),
            (2, State::OutOfOrder),
            (3, State::Applied),
            (9, State::Missing),
            (10, State::Failed),
        ]
    );
    let drifted = &status.versions[0];
    assert_ne!(
        drifted.file_checksum().unwrap(),
        drifted.applied.as_ref().unwrap().checksum
    );
    assert_eq!(
        status.versions[3].applied.as_ref().unwrap().execution_time,
        5
    );

    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Plan(PlanError::Dirty(10))), "{err}");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 10")
        .execute(&mut c)
        .await
        .unwrap();
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Plan(PlanError::ChecksumMismatch(1))),
        "{err}"
    );
    dir.write("1_create_widgets.up.sql", &three_up_1());
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Plan(PlanError::Missing(9))),
        "{err}"
    );

    let mut opts = options();
    opts.ignore_missing = true;
    let (result, _) = run_with(&db, &dir, Operation::Up { to: None }, opts).await;
    let summary = result.unwrap();
    assert_eq!(
        summary.completed.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![2],
        "the out-of-order version is applied, like sqlx"
    );
}

fn three_up_1() -> String {
    let dir = three();
    std::fs::read_to_string(dir.path.join("1_create_widgets.up.sql")).unwrap()
}

#[tokio::test]
async fn a_missing_file_cannot_be_reverted() {
    let db = fresh_database().await;
    let dir = three();
    up(&db, &dir).await;
    dir.remove("3_index_name.up.sql");
    dir.remove("3_index_name.down.sql");
    assert_eq!(status(&db, &dir).await.versions[2].state, State::Missing);
    let err = run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Plan(PlanError::RevertMissing(3))),
        "{err}"
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3]);
}
