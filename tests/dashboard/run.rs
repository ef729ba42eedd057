//! The dashboard's run goes the CLI's way (`lockstep::run::carry_out`): the runner connects,
//! plans and takes the migration lock while the run's audit begins, writes nothing before the
//! run's audit row is in, and a cancel while the audit cannot begin ends the run with nothing
//! written and the run recorded as interrupted (on a real server, through the background task
//! the dashboard spawns).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockstep::db::Database;
use lockstep::guard::GuardPlan;
use lockstep::runner::{Operation, RunOptions};
use lockstep::testing::{runner_holds_the_migration_lock, scalar_i64};
use lockstep::tui::app::Event;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::guard::{done, migrations, status};

const UP: Operation = Operation::Up { to: None };
const FIRST: (&str, &str) = ("1_create_users.sql", "CREATE TABLE users (id bigint);\n");
const SECOND: (&str, &str) = (
    "2_index_users.sql",
    "CREATE INDEX users_id ON users (id);\n",
);

/// Polls `check` until it holds or `deadline` passes; whether it held.
async fn wait_until<F: Future<Output = bool>>(deadline: Duration, check: impl Fn() -> F) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check().await
}

async fn conn(db: &Database) -> PgConnection {
    PgConnection::connect(db.url()).await.unwrap()
}

/// A connection holding the audit schema's creation lock: no run's audit can begin until it is
/// committed.
async fn hold_the_audit(db: &Database) -> PgConnection {
    let mut holder = conn(db).await;
    sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lockstep::audit::schema::lock_key("lockstep_audit"))
        .execute(&mut holder)
        .await
        .unwrap();
    holder
}

async fn history_table_exists(db: &Database) -> bool {
    scalar_i64(
        db,
        "SELECT count(*) FROM pg_class WHERE relname = '_sqlx_migrations'",
    )
    .await
        == 1
}

/// Starts `operation` as the dashboard does after a confirmation, with `guard` (audited, as in
/// a `production` environment); its events arrive on the receiver.
pub(crate) async fn start(
    db: &Arc<Database>,
    set: &lockstep::source::MigrationSet,
    operation: Operation,
    guard: Option<GuardPlan>,
    cancel: CancellationToken,
) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<Event>) {
    let options = RunOptions::from_config(&lockstep::config::Config::default());
    let status = status(db, set, &options).await;
    let plan = lockstep::runner::plan(operation, set, &status, false).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let job = lockstep::tui::RunJob {
        operation,
        expected: plan.signature(),
        guard: guard.map(Box::new),
        cancel,
        audit: Some((Default::default(), Some("production".into()))),
    };
    let task = tokio::spawn(lockstep::tui::run_job(
        db.clone(),
        Arc::new(set.clone()),
        options,
        job,
        tx,
    ));
    (task, rx)
}

/// Every event the run reports, once it has ended.
pub(crate) async fn all_events(
    task: tokio::task::JoinHandle<()>,
    mut rx: mpsc::UnboundedReceiver<Event>,
) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = rx.recv().await {
        events.push(event);
    }
    task.await.unwrap();
    events
}

#[tokio::test]
async fn the_dashboards_runner_locks_while_its_audit_begins_and_writes_only_after_its_row() {
    let db = Arc::new(lockstep::testing::fresh_database().await);
    let (_dir, set) = migrations(&[FIRST, SECOND]);
    let holder = hold_the_audit(&db).await;
    let (task, rx) = start(&db, &set, UP, None, CancellationToken::new()).await;
    assert!(
        wait_until(Duration::from_secs(20), || runner_holds_the_migration_lock(
            &db
        ))
        .await,
        "the runner takes the migration lock while the audit waits"
    );
    assert!(
        !history_table_exists(&db).await,
        "nothing is written before the run's audit row is in"
    );
    holder.close().await.unwrap();
    let events = all_events(task, rx).await;
    let summary = done(&events).as_ref().expect("the run succeeds");
    assert!(summary.contains("2 applied"), "{summary}");
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM lockstep_audit.runs r \
             WHERE r.outcome = 'succeeded' AND r.environment = 'production' \
             AND r.command LIKE 'lockstep (dashboard) up%' \
             AND r.started_at <= (SELECT min(installed_on) FROM _sqlx_migrations)",
        )
        .await,
        1,
        "the dashboard's run row, recorded before its first migration"
    );
}

#[tokio::test]
async fn a_dashboard_run_cancelled_while_its_audit_cannot_begin_writes_nothing() {
    let db = Arc::new(lockstep::testing::fresh_database().await);
    let (_dir, set) = migrations(&[FIRST, SECOND]);
    let holder = hold_the_audit(&db).await;
    let cancel = CancellationToken::new();
    let (task, rx) = start(&db, &set, UP, None, cancel.clone()).await;
    assert!(
        wait_until(Duration::from_secs(20), || runner_holds_the_migration_lock(
            &db
        ))
        .await
    );
    cancel.cancel();
    // The runner stops waiting for its gate at once: its lock is released.
    assert!(
        wait_until(Duration::from_secs(20), || async {
            !runner_holds_the_migration_lock(&db).await
        })
        .await,
        "the cancelled runner lets go of the migration lock"
    );
    holder.close().await.unwrap();
    let events = all_events(task, rx).await;
    let ended = done(&events).as_ref().expect_err("the run was interrupted");
    assert!(ended.starts_with("interrupted"), "{ended}");
    assert!(ended.contains("0 applied"), "{ended}");
    assert!(!history_table_exists(&db).await, "nothing was written");
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM lockstep_audit.runs WHERE outcome = 'interrupted'"
        )
        .await,
        1,
        "the run is recorded as interrupted"
    );
}
