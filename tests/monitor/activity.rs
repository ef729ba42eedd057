//! Activity rows, idle-in-transaction flags, and the sessions an apply would queue behind.

use std::time::Duration;

use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn activity_flags_old_idle_transactions_and_labels_lockstep() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t (id int)").await;
    let mut idle = session(&db, "forgot-to-commit").await;
    idle.run("BEGIN").await;
    idle.run("SELECT   *\n  FROM t").await;
    wait_until_state(&db, idle.pid, "idle in transaction").await;
    let ours = session(&db, "lockstep:apply").await;
    let (busy_pid, _busy) = session(&db, "busy").await.spawn("SELECT pg_sleep(30)");
    wait_until_state(&db, busy_pid, "active").await;

    let mut monitor = monitor(&db).await;
    let rows = promptly("activity()", monitor.activity(Duration::ZERO))
        .await
        .unwrap();
    let get = |pid: i32| rows.iter().find(|s| s.pid == pid).unwrap();
    let i = get(idle.pid);
    assert!(i.idle_in_transaction_too_long);
    assert!(i.is_idle_in_transaction());
    assert_eq!(
        i.query.as_deref(),
        Some("SELECT * FROM t"),
        "whitespace collapsed"
    );
    assert!(i.xact_age_secs.unwrap() >= 0.0);
    assert!(!i.is_lockstep);
    assert!(get(ours.pid).is_lockstep);
    assert!(
        !get(ours.pid).idle_in_transaction_too_long,
        "idle, not in a transaction"
    );
    let b = get(busy_pid);
    assert_eq!(b.state.as_deref(), Some("active"));
    assert_eq!(b.wait_event.as_deref(), Some("PgSleep"));
    assert!(b.query_age_secs.is_some());
    assert!(rows.iter().all(|s| s.pid != monitor.backend_pid()));
    // Background processes have no database and no user; they still parse.
    assert!(rows.iter().any(|s| s.datname.is_none()));

    let rows = monitor.activity(Duration::from_secs(3600)).await.unwrap();
    let i = rows.iter().find(|s| s.pid == idle.pid).unwrap();
    assert!(
        !i.idle_in_transaction_too_long,
        "younger than the threshold"
    );
}

#[tokio::test]
async fn an_idle_transaction_holding_a_lock_on_a_touched_table_is_listed() {
    let db = fresh_database().await;
    table(&db, "conversations", 50).await;
    exec(&db, "CREATE TABLE untouched (id int)").await;
    let mut idle = session(&db, "forgot-to-commit").await;
    idle.run("BEGIN; SELECT count(*) FROM conversations").await;
    let mut other = session(&db, "elsewhere").await;
    other.run("BEGIN; SELECT count(*) FROM untouched").await;
    let mut short = session(&db, "short-active").await;
    short.run("SELECT 1").await;

    let mut monitor = monitor(&db).await;
    let tables = vec!["conversations".to_string(), "not_yet_created".to_string()];
    let found = promptly(
        "sessions_blocking_tables()",
        monitor.sessions_blocking_tables(&tables, Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.table, "conversations");
    assert_eq!(f.session.pid, idle.pid);
    assert_eq!(f.mode, "AccessShareLock");
    assert!(f.granted);
    assert!(f.session.is_idle_in_transaction());
    assert_eq!(
        f.session.application_name.as_deref(),
        Some("forgot-to-commit")
    );

    // The table's figures for the dialog: "conversations (… , 50 rows)".
    let sizes = monitor
        .sizes_for(std::slice::from_ref(&f.table))
        .await
        .unwrap();
    assert_eq!(sizes[0].estimated_rows, Some(50));

    idle.run("COMMIT").await;
    let found = monitor
        .sessions_blocking_tables(&tables, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test]
async fn a_long_running_statement_on_the_table_is_listed_by_age() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t (id int)").await;
    let (pid, _task) = session(&db, "report")
        .await
        .spawn("SELECT pg_sleep(30) FROM (SELECT count(*) FROM t) AS s");
    wait_until_state(&db, pid, "active").await;
    let mut monitor = monitor(&db).await;
    let tables = vec!["t".to_string()];
    let found = monitor
        .sessions_blocking_tables(&tables, Duration::ZERO)
        .await
        .unwrap();
    assert!(found.iter().any(|f| f.session.pid == pid), "{found:#?}");
    let found = monitor
        .sessions_blocking_tables(&tables, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(found.is_empty(), "younger than the minimum age: {found:#?}");
}
