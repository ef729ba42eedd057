//! Behind PgBouncer (from the system package, started by the tests in front of the test server):
//! the pool mode is detected, a transaction pooler is refused unless `--pooled`, `--pooled` runs
//! concurrently stay exactly-once and leave no lock behind, read-only commands work through it,
//! and session pooling behaves like a direct connection.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lockstep::db::Database;
use lockstep::monitor::{Monitor, RefreshOptions, render_forest};
use lockstep::pooler::{ModeSource, PoolMode, Pooling};
use lockstep::runner::{Operation, RunError, RunEvent, RunOptions, Runner};
use lockstep::testing::fresh_database;
use lockstep::testing::pgbouncer::{PgBouncer, PgBouncerConfig};
use sqlx::Connection;

use crate::common::*;

fn pooled_options() -> RunOptions {
    RunOptions {
        pooled: true,
        lock_timeout: Some(Duration::from_secs(3)),
        ..options()
    }
}

/// A fresh test database, PgBouncer with `config` in front of the test server (stopped when
/// dropped), and the database reached through it.
async fn behind(config: PgBouncerConfig) -> (Database, PgBouncer, Database) {
    let direct = fresh_database().await;
    let bouncer = PgBouncer::start(config);
    let pooled = bouncer.database(&direct);
    (direct, bouncer, pooled)
}

/// Transaction pooling with one server connection: whatever a client leaves on it, or holds,
/// the next one meets.
fn one_server_connection() -> PgBouncerConfig {
    PgBouncerConfig {
        pool_size: 1,
        ..PgBouncerConfig::mode("transaction")
    }
}

/// A `--pooled` `up` of `dir` on `db` in a task of its own: its cancel token, its events as they
/// come, and its end.
async fn spawn_pooled_up(
    db: &Database,
    dir: &Dir,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::sync::mpsc::UnboundedReceiver<RunEvent>,
    tokio::task::JoinHandle<Result<lockstep::runner::RunSummary, RunError>>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = Runner::connect(db, pooled_options(), tx).await.unwrap();
    let cancel = runner.cancel_token();
    let set = dir.set();
    let run = tokio::spawn(async move {
        let result = runner.run(Operation::Up { to: None }, &set).await;
        runner.close().await;
        result
    });
    (cancel, rx, run)
}

async fn pooling_of(db: &Database) -> Pooling {
    let mut conn = db.connect("lockstep-test").await.expect("connect");
    let pooling = db.pooling(&mut conn).await.expect("pooling");
    conn.close().await.unwrap();
    pooling
}

/// Migrations that log each application (a double apply would count 2), with a short sleep so
/// runs overlap.
fn logged(n: i64) -> Dir {
    let dir = Dir::with(&[(
        "1_log.sql",
        "CREATE TABLE apply_log (version bigint NOT NULL);",
    )]);
    for v in 2..=n {
        dir.write(
            &format!("{v}_step.sql"),
            &format!("INSERT INTO apply_log VALUES ({v});\nSELECT pg_sleep(0.005);"),
        );
    }
    dir
}

/// Advisory locks held or awaited in `db`, seen from a direct connection.
async fn advisory_locks(db: &Database) -> i64 {
    scalar_i64(
        db,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await
}

#[tokio::test]
async fn transaction_pooling_is_detected_and_named() {
    let direct = fresh_database().await;
    let direct_pooling = pooling_of(&direct).await;
    assert_eq!(direct_pooling.mode, PoolMode::None, "{direct_pooling:?}");
    assert!(direct_pooling.pooler.is_none() && direct_pooling.keeps_sessions());
    // The test server listens on 127.0.0.1: the connection is seen arriving where it was sent.
    assert!(
        direct_pooling.evidence[0].contains("nothing in between"),
        "{direct_pooling:?}"
    );

    // Without console access: PgBouncer is recognised by its refusal, the mode by behaviour.
    let bouncer = PgBouncer::start(PgBouncerConfig::mode("transaction"));
    let pooling = pooling_of(&bouncer.database(&direct)).await;
    assert_eq!(pooling.mode, PoolMode::Transaction, "{pooling:?}");
    assert_eq!(pooling.mode_from, ModeSource::Behaviour, "{pooling:?}");
    assert_eq!(pooling.pooler.as_deref(), Some("PgBouncer"), "{pooling:?}");
    assert_eq!(pooling.pooler_address.as_deref(), Some("127.0.0.1"));
    assert!(!pooling.keeps_sessions());
    assert!(
        pooling.summary().contains("transaction pooling"),
        "{}",
        pooling.summary()
    );

    // With console access, and one server connection for the pool (so consecutive transactions
    // always land on the same backend): the console names version and mode.
    let bouncer = PgBouncer::start(PgBouncerConfig {
        console: true,
        pool_size: 1,
        ..PgBouncerConfig::mode("transaction")
    });
    let pooling = pooling_of(&bouncer.database(&direct)).await;
    assert_eq!(pooling.mode, PoolMode::Transaction, "{pooling:?}");
    assert_eq!(pooling.mode_from, ModeSource::Console, "{pooling:?}");
    assert!(
        pooling
            .pooler
            .as_deref()
            .is_some_and(|p| p.starts_with("PgBouncer 1.")),
        "{pooling:?}"
    );
    assert!(
        pooling
            .evidence
            .iter()
            .any(|e| e.contains("same server backend")),
        "{pooling:?}"
    );
}

#[tokio::test]
async fn statement_pooling_is_detected_and_refused_even_with_pooled() {
    let (_direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("statement")).await;
    let pooling = pooling_of(&pooled).await;
    assert_eq!(pooling.mode, PoolMode::Statement, "{pooling:?}");
    assert_eq!(pooling.pooler.as_deref(), Some("PgBouncer"), "{pooling:?}");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let Err(RunError::Pooling(message)) = Runner::connect(&pooled, pooled_options(), tx).await
    else {
        panic!("a statement pooler is refused");
    };
    assert!(message.contains("statement pooling"), "{message}");
}

#[tokio::test]
async fn up_down_redo_through_a_transaction_pooler_are_refused_unless_pooled() {
    let (direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("transaction")).await;
    let dir = three();

    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let Err(RunError::Pooling(message)) = Runner::connect(&pooled, options(), tx).await else {
        panic!("a transaction pooler is refused without --pooled");
    };
    for expected in [
        "PgBouncer, transaction pooling",
        "session-level advisory lock",
        "Connect to the server directly",
        "session-pooling pool",
        "--pooled",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }

    for command in [&["up"][..], &["down"], &["redo"]] {
        let out = lockstep(pooled.url(), &dir).args(command).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains("transaction pooling") && stderr.contains("--pooled"),
            "{command:?}: {stderr}"
        );
    }
    assert!(
        !exists(&direct, "_sqlx_migrations").await,
        "nothing ran through the pooler"
    );

    let out = lockstep(pooled.url(), &dir)
        .args(["up", "--pooled"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = lockstep(pooled.url(), &dir)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let doc = json(&status.stdout);
    assert_eq!(doc["summary"]["applied"], 3);
    assert_eq!(doc["connection"]["mode"], "transaction");
    assert_eq!(doc["connection"]["pooler"], "PgBouncer");
    let human = lockstep(pooled.url(), &dir).arg("status").output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("pooler    PgBouncer, transaction pooling")
            && human.contains("up, down and redo need --pooled"),
        "{human}"
    );
    lockstep(pooled.url(), &dir)
        .args(["redo", "--pooled"])
        .assert()
        .success();
    lockstep(pooled.url(), &dir)
        .args(["down", "--pooled", "--to", "0"])
        .assert()
        .success();
    assert_eq!(versions(&direct).await, Vec::<i64>::new());
    assert_eq!(advisory_locks(&direct).await, 0);
}

#[tokio::test]
async fn pooled_refuses_no_transaction_migrations_before_running_anything() {
    let (direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("transaction")).await;
    let dir = Dir::with(&[
        ("1_table.sql", "CREATE TABLE t (id int);"),
        (
            "2_index.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);",
        ),
    ]);
    let (result, _) = run_with(&pooled, &dir, Operation::Up { to: None }, pooled_options()).await;
    let Err(RunError::Pooling(message)) = result else {
        panic!("a no-transaction migration is refused under --pooled: {result:?}");
    };
    assert!(
        message.contains("migration 2") && message.contains("-- no-transaction"),
        "{message}"
    );
    assert!(message.contains("no lock held"), "{message}");
    assert!(!exists(&direct, "t").await, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pooled_runners_at_once_apply_each_migration_exactly_once_and_leave_no_lock() {
    // Fewer server connections than runners: transactions of different runners share backends.
    let bouncer = PgBouncer::start(PgBouncerConfig {
        pool_size: 2,
        ..PgBouncerConfig::mode("transaction")
    });
    let dir = logged(12);
    let direct = fresh_database().await;
    let pooled = bouncer.database(&direct);
    for runners in [2, 3] {
        let mut times = Vec::new();
        let mut skipped_total = 0;
        for repetition in 1..=20 {
            let started = Instant::now();
            let results =
                join_all((0..runners).map(|_| {
                    run_with(&pooled, &dir, Operation::Up { to: None }, pooled_options())
                }))
                .await;
            times.push(started.elapsed());
            let mut applied = 0;
            for (result, events) in &results {
                let summary = result
                    .as_ref()
                    .unwrap_or_else(|e| panic!("repetition {repetition}: {e}"));
                let skipped = events
                    .iter()
                    .filter(|e| matches!(e, RunEvent::MigrationSkipped { .. }))
                    .count();
                assert!(
                    summary.completed.len() + skipped <= 12,
                    "a runner applies or skips each migration of its plan once"
                );
                applied += summary.completed.len();
                skipped_total += skipped;
            }
            let context = format!("{runners} runners, repetition {repetition}");
            assert_eq!(applied, 12, "{context}: all applied, none twice");
            assert_eq!(
                scalar_i64(&direct, "SELECT count(*) FROM apply_log").await,
                11,
                "{context}"
            );
            assert_eq!(
                scalar_i64(&direct, "SELECT count(DISTINCT version) FROM apply_log").await,
                11,
                "{context}"
            );
            assert_eq!(versions(&direct).await, (1..=12).collect::<Vec<_>>());
            assert!(rows(&direct).await.iter().all(|r| r.success));
            assert_eq!(
                advisory_locks(&direct).await,
                0,
                "{context}: no advisory lock stays held"
            );
            let mut c = conn(&direct).await;
            sqlx::raw_sql("DROP TABLE apply_log; DROP TABLE _sqlx_migrations")
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
        }
        times.sort();
        eprintln!(
            "{runners} concurrent --pooled runners × 20 (12 migrations): min {:?}, median {:?}, \
             max {:?}; {skipped_total} skips",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_and_inspect_through_a_transaction_pooler_with_concurrent_clients() {
    let direct = fresh_database().await;
    let dir = three();
    up(&direct, &dir).await;
    let bouncer = PgBouncer::start(PgBouncerConfig {
        pool_size: 2,
        ..PgBouncerConfig::mode("transaction")
    });
    let pooled = bouncer.database(&direct);
    let set = dir.set();
    let table = lockstep::history::HistoryTable::new("_sqlx_migrations");
    let clients = (0..6).map(|client| {
        let (pooled, set, table) = (&pooled, &set, &table);
        async move {
            let mut monitor = Monitor::connect(pooled).await.expect("monitor");
            for round in 0..8 {
                let status = lockstep::runner::read_status(pooled, set, table)
                    .await
                    .unwrap_or_else(|e| panic!("client {client} round {round}: {e}"));
                assert_eq!(
                    status.recorded().count(),
                    3,
                    "client {client} round {round}"
                );
                let snapshot = monitor
                    .refresh_all(&RefreshOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("client {client} round {round}: {e}"));
                let sizes = snapshot.sizes.unwrap();
                assert!(
                    sizes.iter().any(|t| t.name == "widgets"),
                    "client {client} round {round}: {sizes:?}"
                );
                let lock = monitor.migration_lock().await.unwrap();
                assert!(lock.holder.is_none());
            }
            monitor.close().await;
        }
    });
    join_all(clients).await;

    let out = lockstep(pooled.url(), &dir)
        .args(["inspect", "sizes", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("widgets"));
    for what in ["locks", "activity"] {
        lockstep(pooled.url(), &dir)
            .args(["inspect", what])
            .assert()
            .success();
    }
    // lint with a database: the server's version and the pending files, read through it.
    dir.write("4_more.sql", "CREATE TABLE more_widgets (id int);");
    let out = lockstep(pooled.url(), &dir)
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out.stdout);
    let server_major = scalar_i64(
        &direct,
        "SELECT current_setting('server_version_num')::int8 / 10000",
    )
    .await;
    assert_eq!(doc["pg_version"], server_major);
    assert_eq!(doc["files"].as_array().map(Vec::len), Some(1), "{doc}");
}

#[tokio::test]
async fn nothing_of_lockstep_stays_on_the_poolers_server_connection() {
    // One server connection: whatever a client leaves on it, the next one finds.
    let (_direct, _bouncer, pooled) = behind(one_server_connection()).await;
    let dir = three();
    let options = RunOptions {
        statement_timeout: Some(Duration::from_secs(60)),
        ..pooled_options()
    };
    run_with(&pooled, &dir, Operation::Up { to: None }, options)
        .await
        .0
        .unwrap();
    status(&pooled, &dir).await;
    let mut monitor = Monitor::connect(&pooled).await.unwrap();
    monitor
        .refresh_all(&RefreshOptions::default())
        .await
        .unwrap();
    monitor.migration_lock().await.unwrap();
    monitor.close().await;

    let mut other = pooled.connect("another-client").await.unwrap();
    let left = sqlx::raw_sql(
        "SELECT (SELECT count(*) FROM pg_prepared_statements)::text, \
         current_setting('lock_timeout'), current_setting('statement_timeout'), \
         (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = \
          (SELECT oid FROM pg_database WHERE datname = current_database()))::text",
    )
    .fetch_one(&mut other)
    .await
    .unwrap();
    use sqlx::Row;
    let left: Vec<String> = (0..4).map(|i| left.get(i)).collect();
    assert_eq!(
        left,
        ["0", "0", "0", "0"],
        "prepared statements, lock_timeout, statement_timeout and advisory locks another \
         client of the pooler finds"
    );
    other.close().await.unwrap();
}

#[tokio::test]
async fn session_pooling_is_safe_and_behaves_like_a_direct_connection() {
    let (direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("session")).await;
    let pooling = pooling_of(&pooled).await;
    assert_eq!(pooling.mode, PoolMode::Session, "{pooling:?}");
    assert_eq!(pooling.pooler.as_deref(), Some("PgBouncer"), "{pooling:?}");
    assert!(pooling.keeps_sessions() && pooling.refusal().is_none());

    // The same run without --pooled, through the pooler and directly: the same steps, one
    // session lock for the whole run on the connection's one backend.
    let dir = three();
    let (result, events) = run_with(&pooled, &dir, Operation::Up { to: None }, options()).await;
    let summary = result.unwrap();
    let direct_twin = fresh_database().await;
    let twin = run(&direct_twin, &dir, Operation::Up { to: None })
        .await
        .unwrap();
    let steps = |s: &lockstep::runner::RunSummary| {
        s.completed
            .iter()
            .map(|(d, v, _)| (*d, *v))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&summary), steps(&twin));
    let connected = events.iter().find_map(|e| match e {
        RunEvent::Connected {
            backend_pid,
            pooling,
            ..
        } => Some((*backend_pid, pooling.mode)),
        _ => None,
    });
    assert_eq!(connected.map(|c| c.1), Some(PoolMode::Session));
    let locked: Vec<i32> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::LockAcquired { backend_pid, .. } => Some(*backend_pid),
            _ => None,
        })
        .collect();
    assert_eq!(locked, vec![connected.unwrap().0], "one session lock");
    assert_eq!(versions(&direct).await, vec![1, 2, 3]);
    assert_eq!(advisory_locks(&direct).await, 0);
    let status = lockstep(pooled.url(), &dir)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&status.stdout)["connection"]["mode"], "session");
    run(&pooled, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap();
    assert_eq!(versions(&direct).await, vec![1, 2]);
}

#[tokio::test]
async fn a_blocker_behind_the_pooler_is_named_as_a_pooler_connection() {
    let direct = fresh_database().await;
    let dir = three();
    up(&direct, &dir).await;
    let bouncer = PgBouncer::start(PgBouncerConfig::mode("transaction"));
    let pooled = bouncer.database(&direct);

    // A client of the pooler keeps a lock in an open transaction; another waits behind it.
    let mut holder = pooled.connect("billing-api").await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut waiter = pooled.connect("billing-worker").await.unwrap();
    let waiting = tokio::spawn(async move {
        sqlx::raw_sql("SELECT count(*) FROM widgets")
            .execute(&mut waiter)
            .await
            .unwrap();
        waiter
    });
    let mut monitor = Monitor::connect(&pooled).await.unwrap();
    assert_eq!(monitor.pooler_address(), Some("127.0.0.1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let forest = loop {
        let snapshot = monitor
            .refresh_all(&RefreshOptions::default())
            .await
            .unwrap();
        if !snapshot.forest.is_empty() {
            break snapshot.forest;
        }
        assert!(Instant::now() < deadline, "the wait shows in the lock tree");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let root = &forest[0];
    let session = root.session.as_ref().unwrap();
    assert!(session.via_pooler, "{session:?}");
    let text = render_forest(&forest);
    assert!(
        text.contains("billing-api via pooler 127.0.0.1"),
        "the blocker is named with its application and the pooler's address:\n{text}"
    );

    // A --pooled run blocked by it names it the same way when it gives up.
    dir.write("4_touch.sql", "ALTER TABLE widgets ADD COLUMN touched int;");
    let options = RunOptions {
        lock_timeout: Some(Duration::from_secs(1)),
        ..pooled_options()
    };
    let (result, _) = run_with(&pooled, &dir, Operation::Up { to: None }, options).await;
    let Err(RunError::Migration { failure, .. }) = &result else {
        panic!("the migration times out behind the pooler's client: {result:?}");
    };
    let wait = failure
        .blocked_by
        .as_ref()
        .expect("the blocker was looked at");
    assert!(
        wait.blockers
            .iter()
            .filter_map(|b| b.session.as_ref())
            .any(|s| s.via_pooler && s.application_name.as_deref() == Some("billing-api")),
        "{wait:?}"
    );
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("billing-api via pooler 127.0.0.1"),
        "{message}"
    );

    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    let waiter = waiting.await.unwrap();
    waiter.close().await.unwrap();
    holder.close().await.unwrap();
    monitor.close().await;
}

#[tokio::test]
async fn a_pooled_run_waits_for_sqlx_s_session_lock_and_an_interrupt_leaves_nothing_open() {
    let (direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("transaction")).await;
    let dir = three();

    // sqlx's Migrator holds its session-level lock on a direct connection.
    let mut migrator = conn(&direct).await;
    let database = direct.names().0;
    let key = lockstep::runner::advisory_key(&database);
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut migrator)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut migrator)
        .await
        .unwrap();

    let (cancel, mut rx, run) = spawn_pooled_up(&pooled, &dir).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("the run reports its wait")
            .expect("events");
        if let RunEvent::LockWaiting {
            holder: Some(holder),
            ..
        } = event
        {
            assert_eq!(holder.pid, holder_pid, "sqlx's lock blocks --pooled too");
            break;
        }
    }
    cancel.cancel();
    let result = run.await.unwrap();
    assert!(
        result.as_ref().is_err_and(RunError::is_interrupted),
        "{result:?}"
    );
    let open = scalar_i64(
        &direct,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lockstep:%' \
         AND state LIKE 'idle in transaction%'",
    )
    .await;
    assert_eq!(open, 0, "the interrupted wait rolled its transaction back");
    assert_eq!(advisory_locks(&direct).await, 1, "only sqlx's own lock");
    assert!(!exists(&direct, "_sqlx_migrations").await);

    // Once sqlx lets go, a --pooled run applies everything.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut migrator)
        .await
        .unwrap();
    run_with(&pooled, &dir, Operation::Up { to: None }, pooled_options())
        .await
        .0
        .unwrap();
    assert_eq!(versions(&direct).await, vec![1, 2, 3]);
    migrator.close().await.unwrap();
}

#[tokio::test]
async fn a_long_statement_under_pooled_is_watched_without_blocking_on_a_full_pool() {
    // One server connection, held by the migration's transaction: the watcher's looks cannot
    // get one until the migration ends, and must not hold the migration up meanwhile.
    let (direct, _bouncer, pooled) = behind(one_server_connection()).await;
    let dir = Dir::with(&[(
        "1_slow.sql",
        "SELECT pg_sleep(2);\nCREATE TABLE t (id int);",
    )]);
    let started = Instant::now();
    let (result, _) = run_with(&pooled, &dir, Operation::Up { to: None }, pooled_options()).await;
    result.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(versions(&direct).await, vec![1]);
}

#[tokio::test]
async fn an_interrupted_pooled_statement_is_cancelled_on_its_own_backend() {
    let (direct, _bouncer, pooled) = behind(PgBouncerConfig::mode("transaction")).await;
    let dir = Dir::with(&[(
        "1_slow.sql",
        "CREATE TABLE t (id int);\nSELECT pg_sleep(60);",
    )]);
    let started = Instant::now();
    let (cancel, mut rx, run) = spawn_pooled_up(&pooled, &dir).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(
        tokio::time::timeout_at(deadline.into(), rx.recv()).await,
        Ok(Some(RunEvent::StatementStarted { index: 1, .. }))
    ) {
        assert!(Instant::now() < deadline, "the sleep starts");
    }
    cancel.cancel();
    let result = run.await.unwrap();
    assert!(
        result.as_ref().is_err_and(RunError::is_interrupted),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the sleep was cancelled on the server, not waited out: {:?}",
        started.elapsed()
    );
    assert!(!exists(&direct, "t").await, "rolled back");
    assert_eq!(advisory_locks(&direct).await, 0);
}
