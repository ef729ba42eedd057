//! Cancel and terminate, and their guards.

use std::time::{Duration, Instant};

use lockstep::monitor::{MonitorError, Refusal};
use lockstep::testing::fresh_database;

use crate::common::*;

#[tokio::test]
async fn cancel_stops_a_running_query() {
    let db = fresh_database().await;
    let (pid, task) = session(&db, "victim").await.spawn("SELECT pg_sleep(60)");
    wait_until_state(&db, pid, "active").await;
    let mut monitor = monitor(&db).await;
    monitor.cancel(pid).await.expect("cancelled");
    let (_, result) = promptly("the cancelled query", task).await.unwrap();
    let err = result.expect_err("the query was cancelled");
    assert!(err.contains("57014") || err.contains("cancel"), "{err}");
}

#[tokio::test]
async fn terminate_ends_a_session() {
    let db = fresh_database().await;
    let mut victim = session(&db, "victim").await;
    victim.run("BEGIN; SELECT 1").await;
    wait_until_state(&db, victim.pid, "idle in transaction").await;
    let mut monitor = monitor(&db).await;
    monitor.terminate(victim.pid).await.expect("terminated");
    let started = Instant::now();
    loop {
        let rows = monitor.activity(Duration::ZERO).await.unwrap();
        if rows.iter().all(|s| s.pid != victim.pid) {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the session never ended");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_guards_refuse_own_background_idle_and_unknown_sessions() {
    let db = fresh_database().await;
    let idle = session(&db, "idle-one").await;
    wait_until_state(&db, idle.pid, "idle").await;
    let mut monitor = monitor(&db).await;

    let own = monitor.backend_pid();
    let err = monitor.cancel(own).await.unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Refused {
                reason: Refusal::OwnSession,
                ..
            }
        ),
        "{err}"
    );
    let err = monitor.terminate(own).await.unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Refused {
                reason: Refusal::OwnSession,
                ..
            }
        ),
        "{err}"
    );

    let rows = monitor.activity(Duration::ZERO).await.unwrap();
    let background = rows
        .iter()
        .find(|s| s.datname.is_none())
        .expect("a background process (checkpointer, walwriter...)");
    let err = monitor.terminate(background.pid).await.unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Refused {
                reason: Refusal::BackgroundWorker,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("background process"), "{err}");

    let err = monitor.cancel(idle.pid).await.unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Refused {
                reason: Refusal::AlreadyIdle,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("already idle"), "{err}");

    let err = monitor.cancel(i32::MAX).await.unwrap_err();
    assert!(matches!(err, MonitorError::NoSuchSession(_)), "{err}");

    // The idle session was not touched.
    let rows = monitor.activity(Duration::ZERO).await.unwrap();
    assert!(rows.iter().any(|s| s.pid == idle.pid));
}
