//! The background poller: publishes snapshots, follows a pid, signals between polls, stops.

use std::time::Duration;

use lockstep::monitor::{Poller, PollerConfig, find_in_forest};
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn the_poller_publishes_follows_and_cancels() {
    let db = fresh_database().await;
    table(&db, "t", 10).await;
    let mut holder = session(&db, "holder").await;
    holder
        .run("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await;
    let (waiter, task) = session(&db, "waiter").await.spawn("SELECT * FROM t");
    wait_until_blocked(&db, waiter, 1).await;

    let monitor = monitor(&db).await;
    let own = monitor.backend_pid();
    let poller = Poller::spawn(
        monitor,
        PollerConfig {
            interval: Duration::from_millis(100),
            sizes_every: 3,
            idle_threshold: Duration::ZERO,
            follow: Some(waiter),
        },
    );
    let mut states = poller.subscribe();
    let state = promptly("the first polls", async {
        loop {
            states.changed().await.unwrap();
            let state = states.borrow().clone();
            if state.polls >= 3 {
                return state;
            }
        }
    })
    .await;
    assert!(state.error.is_none(), "{:?}", state.error);
    let snapshot = state.snapshot.expect("a snapshot");
    assert!(find_in_forest(&snapshot.forest, waiter).is_some());
    let sizes = snapshot
        .sizes
        .as_ref()
        .expect("sizes carried over between size reads");
    assert!(sizes.iter().any(|t| t.name == "t" && t.exclusively_locked));
    let sample = state.sample.expect("a lock sample of the followed pid");
    assert_eq!(sample.waits_on[0].pid, holder.pid);

    let refused = poller.cancel(own).await;
    assert!(refused.is_err(), "the guards apply through the poller");
    poller
        .cancel(waiter)
        .await
        .expect("cancelled between polls");
    let (_, result) = promptly("the cancelled waiter", task).await.unwrap();
    assert!(result.is_err(), "the waiter's query was cancelled");

    let monitor = promptly("stop", poller.stop())
        .await
        .expect("the monitor back");
    assert_eq!(monitor.backend_pid(), own);
}
