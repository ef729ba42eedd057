//! Every monitor query against the real server: its columns map, it carries the marker, and the
//! monitor never lists itself.

use std::time::Duration;

use lockstep::monitor::{
    APPLICATION_NAME, RefreshOptions, build_forest, find_in_forest, forest_len,
};
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn every_query_runs_maps_its_columns_and_skips_the_monitor() {
    let db = fresh_database().await;
    table(&db, "t", 20).await;
    let mut holder = session(&db, "holder").await;
    holder
        .run("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await;
    let (waiter, _w) = session(&db, "waiter").await.spawn("SELECT * FROM t");
    wait_until_blocked(&db, waiter, 1).await;

    let mut monitor = monitor(&db).await;
    let me = monitor.backend_pid();
    assert!(monitor.server_version_num() >= 120000);
    assert!(monitor.database().starts_with("lockstep_test_"));

    let sizes = monitor.sizes().await.expect("sizes columns");
    assert!(!sizes.is_empty());
    let named = monitor.sizes_for(&["t".into()]).await.expect("sizes_for");
    assert_eq!(named.len(), 1);
    let activity = monitor
        .activity(Duration::ZERO)
        .await
        .expect("activity columns");
    assert!(activity.len() >= 2);
    assert!(activity.iter().all(|s| s.pid != me), "never lists itself");
    let edges = monitor.lock_edges().await.expect("edge columns");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].pid, waiter);
    assert_eq!(edges[0].blocked_by, vec![holder.pid]);
    let sample = monitor
        .session_locks(waiter)
        .await
        .expect("lock sample columns");
    assert_eq!(sample.waits_on.len(), 1);
    let blockers = monitor
        .sessions_blocking_tables(&["t".into()], Duration::ZERO)
        .await
        .expect("blocker columns");
    assert!(blockers.iter().any(|b| b.session.pid == holder.pid));
    assert!(
        blockers
            .iter()
            .any(|b| b.session.pid == waiter && !b.granted)
    );
    assert!(blockers.iter().all(|b| b.session.pid != me));
    let lock = monitor.migration_lock().await.expect("advisory columns");
    assert!(lock.holder.is_none() && lock.waiters.is_empty());

    let snapshot = monitor
        .refresh_all(&RefreshOptions {
            sizes: true,
            idle_threshold: Duration::ZERO,
        })
        .await
        .expect("refresh");
    assert_eq!(forest_len(&snapshot.forest), 2);
    assert_eq!(snapshot.forest[0].pid, holder.pid);
    assert!(find_in_forest(&snapshot.forest, waiter).is_some());
    assert!(find_in_forest(&snapshot.forest, me).is_none());
    assert!(
        snapshot
            .sizes
            .as_ref()
            .unwrap()
            .iter()
            .any(|s| s.name == "t" && s.exclusively_locked)
    );
    assert_eq!(
        snapshot.forest,
        build_forest(&snapshot.edges, &snapshot.activity)
    );
    let json = serde_json::to_value(&snapshot).unwrap();
    assert!(json["activity"][0]["pid"].is_number());
    assert!(json["forest"][0]["children"].is_array());

    let without_sizes = monitor
        .refresh_all(&RefreshOptions {
            sizes: false,
            ..RefreshOptions::default()
        })
        .await
        .unwrap();
    assert!(without_sizes.sizes.is_none());
}

#[tokio::test]
async fn the_monitor_session_is_labelled_and_marks_its_queries() {
    let db = fresh_database().await;
    let mut monitor = monitor(&db).await;
    monitor.activity(Duration::ZERO).await.unwrap();
    let mut probe = session(&db, "probe").await;
    let (app, query): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT application_name, query FROM pg_stat_activity WHERE pid = $1")
            .bind(monitor.backend_pid())
            .fetch_one(&mut probe.conn)
            .await
            .unwrap();
    assert_eq!(app.as_deref(), Some(APPLICATION_NAME));
    // Each read runs in a transaction of its own (safe behind a transaction pooler): the last
    // statement the session shows is the COMMIT that ended it.
    assert_eq!(query.as_deref(), Some("COMMIT"));
    // Seen from another monitor it is labelled as lockstep's own.
    let mut other = crate::common::monitor(&db).await;
    let rows = other.activity(Duration::ZERO).await.unwrap();
    let seen = rows
        .iter()
        .find(|s| s.pid == monitor.backend_pid())
        .unwrap();
    assert!(seen.is_lockstep);
}

#[tokio::test]
async fn sessions_of_other_databases_are_left_out() {
    let ours = fresh_database().await;
    let theirs = fresh_database().await;
    exec(&theirs, "CREATE TABLE t (id int)").await;
    let mut holder = session(&theirs, "elsewhere-holder").await;
    holder
        .run("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await;
    let (waiter, _w) = session(&theirs, "elsewhere-waiter")
        .await
        .spawn("SELECT * FROM t");
    wait_until_blocked(&theirs, waiter, 1).await;
    let mine = session(&ours, "here").await;

    let mut monitor = monitor(&ours).await;
    let activity = monitor.activity(Duration::ZERO).await.unwrap();
    assert!(activity.iter().any(|s| s.pid == mine.pid));
    assert!(
        activity
            .iter()
            .all(|s| s.pid != holder.pid && s.pid != waiter)
    );
    assert!(monitor.lock_edges().await.unwrap().is_empty());
    // The other database's own monitor sees them.
    let mut there = crate::common::monitor(&theirs).await;
    assert_eq!(there.lock_edges().await.unwrap()[0].pid, waiter);
}
