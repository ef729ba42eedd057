//! The migration lock: concurrent runners never apply a migration twice, and a held lock is waited
//! for with a bounded poll that names its holder.

use std::time::Duration;

use lockstep::runner::{LockError, Operation, RunError, RunEvent, advisory_key};
use lockstep::testing::fresh_database;

use crate::common::*;

/// Migrations that log each application, so a double apply would show as a count of 2.
fn logged(n: i64) -> Dir {
    let dir = Dir::with(&[(
        "1_log.sql",
        "CREATE TABLE apply_log (version bigint NOT NULL);",
    )]);
    for v in 2..=n {
        dir.write(
            &format!("{v}_step.sql"),
            &format!("INSERT INTO apply_log VALUES ({v});\nSELECT pg_sleep(0.02);"),
        );
    }
    dir
}

#[tokio::test]
async fn two_runners_at_once_apply_each_migration_once() {
    let db = fresh_database().await;
    let dir = logged(12);
    let (a, b) = tokio::join!(
        run(&db, &dir, Operation::Up { to: None }),
        run(&db, &dir, Operation::Up { to: None }),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.completed.len() + b.completed.len(),
        12,
        "all applied, none twice"
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM apply_log").await, 11);
    assert_eq!(
        scalar_i64(&db, "SELECT count(DISTINCT version) FROM apply_log").await,
        11
    );
    assert_eq!(versions(&db).await.len(), 12);
}

#[tokio::test]
async fn lockstep_and_sqlx_migrator_at_once_never_double_apply() {
    let db = fresh_database().await;
    let dir = logged(10);
    let migrator = sqlx::migrate::Migrator::new(dir.path.clone())
        .await
        .unwrap();
    let mut sqlx_conn = conn(&db).await;
    let (ours, theirs) = tokio::join!(
        run(&db, &dir, Operation::Up { to: None }),
        migrator.run(&mut sqlx_conn),
    );
    ours.unwrap();
    theirs.unwrap();
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM apply_log").await, 9);
    assert_eq!(versions(&db).await.len(), 10);
}

#[tokio::test]
async fn a_held_lock_is_polled_with_a_bound_and_its_holder_named() {
    let db = fresh_database().await;
    let dir = logged(2);
    let mut holder = conn(&db).await;
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::raw_sql("SET application_name = 'other-deployer'")
        .execute(&mut holder)
        .await
        .unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(advisory_key(&database))
        .execute(&mut holder)
        .await
        .unwrap();

    let mut opts = options();
    opts.lock_wait = Duration::from_millis(600);
    let (result, events) = run_with(&db, &dir, Operation::Up { to: None }, opts.clone()).await;
    let err = result.unwrap_err();
    let RunError::Lock(LockError::Busy {
        holder: Some(who), ..
    }) = &err
    else {
        panic!("expected a busy lock, got {err}");
    };
    assert_eq!(who.pid, holder_pid);
    assert_eq!(who.application_name.as_deref(), Some("other-deployer"));
    assert!(err.to_string().contains("other-deployer"), "{err}");
    assert!(events.iter().any(
        |e| matches!(e, RunEvent::LockWaiting { holder: Some(h), .. } if h.pid == holder_pid)
    ));
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "nothing ran without the lock"
    );

    // Released while we wait: the run proceeds.
    opts.lock_wait = Duration::from_secs(20);
    let release = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut holder)
            .await
            .unwrap();
    };
    let ((result, events), ()) = tokio::join!(
        run_with(&db, &dir, Operation::Up { to: None }, opts),
        release
    );
    result.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::LockWaiting { .. }))
    );
    assert_eq!(versions(&db).await, vec![1, 2]);
}
