//! The background poller: publishes snapshots, follows a pid, signals between polls, stops.

use std::time::Duration;

use lockstep::monitor::{PollState, Poller, PollerConfig, find_in_forest};
use lockstep::testing::fresh_database;
use tokio::sync::watch;

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

/// Waits until the poller has polled at least `polls` times.
async fn polled(states: &mut watch::Receiver<PollState>, polls: u64) -> u64 {
    promptly("the poll counter", async {
        loop {
            let now = states.borrow_and_update().polls;
            if now >= polls {
                return now;
            }
            states.changed().await.expect("the poller runs");
        }
    })
    .await
}

/// Lets a poll in flight finish, then asserts that no poll starts for a while; returns the
/// steady count.
async fn steady(poller: &Poller, why: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(150)).await;
    let at = poller.latest().polls;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(poller.latest().polls, at, "{why}");
    at
}

#[tokio::test]
async fn the_poller_pauses_resumes_and_changes_its_cadence() {
    let db = fresh_database().await;
    let fast = Duration::from_millis(40);
    let poller = Poller::spawn(
        monitor(&db).await,
        PollerConfig {
            interval: fast,
            ..PollerConfig::default()
        },
    );
    let mut states = poller.subscribe();
    polled(&mut states, 2).await;

    poller.pause(true);
    let paused_at = steady(&poller, "no poll while paused").await;

    poller.refresh_now();
    polled(&mut states, paused_at + 1).await;
    let once = steady(&poller, "the poller stays paused after refresh_now").await;
    assert_eq!(once, paused_at + 1, "refresh_now polls once");

    poller.pause(false);
    let resumed = polled(&mut states, paused_at + 4).await;
    assert!(resumed > paused_at + 1, "polling again after resuming");

    poller.set_interval(Duration::from_secs(30));
    let slow_at = steady(&poller, "a 30 s cadence does not poll in 0.4 s").await;

    poller.pause(true);
    poller.pause(false);
    polled(&mut states, slow_at + 1).await;
    let after = steady(&poller, "then the 30 s cadence again").await;
    assert_eq!(after, slow_at + 1, "resuming polls at once");

    poller.set_interval(fast);
    polled(&mut states, slow_at + 4).await;
    assert!(
        poller.latest().error.is_none(),
        "{:?}",
        poller.latest().error
    );
    promptly("stop", poller.stop())
        .await
        .expect("the monitor back");
}
