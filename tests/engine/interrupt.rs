//! Runs that can be stopped, and waits that name who they wait on: Ctrl-C and SIGTERM between
//! short statements, during the migration-lock wait, during a long statement and during a table
//! lock wait; the blocker named in text and JSON; the default lock_timeout and retries; the
//! connect timeout.

use std::time::Duration;

use lockstep::runner::{Operation, RunError, RunEvent, Runner, advisory_key};
use lockstep::testing::fresh_database;
use nix::sys::signal::Signal;
use sqlx::Connection;

use crate::common::*;
use crate::process::{Running, wait_until};

const EXIT_INTERRUPTED: i32 = 130;

/// `n` small migrations, each a table with a row and a short sleep.
fn short(n: usize) -> Dir {
    let dir = Dir::with(&[]);
    for v in 1..=n {
        dir.write(
            &format!("{v:04}_t{v}.sql"),
            &format!(
                "CREATE TABLE t{v} (id int);\nINSERT INTO t{v} VALUES (1);\nSELECT pg_sleep(0.005);\n"
            ),
        );
    }
    dir
}

async fn history_len(db: &lockstep::db::Database) -> usize {
    if !exists(db, "_sqlx_migrations").await {
        return 0;
    }
    versions(db).await.len()
}

/// Sessions of lockstep's migration connection still on the server.
async fn lockstep_sessions(db: &lockstep::db::Database) -> i64 {
    scalar_i64(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lockstep:apply%' \
         OR application_name LIKE 'lockstep:revert%'",
    )
    .await
}

#[tokio::test]
async fn ctrl_c_between_short_statements_stops_before_the_next_migration() {
    let db = fresh_database().await;
    let dir = short(300);
    let mut run = Running::start(db.url(), &dir, &["up"]);
    assert!(
        wait_until(Duration::from_secs(60), || async {
            history_len(&db).await >= 3
        })
        .await,
        "lockstep applied nothing: {}",
        run.stderr()
    );
    run.signal(Signal::SIGINT);
    assert_eq!(
        run.exit_code(Duration::from_secs(20)).await,
        EXIT_INTERRUPTED
    );
    let applied = versions(&db).await;
    assert!(
        applied.len() < 300,
        "Ctrl-C did not stop the run: all 300 applied"
    );
    assert_eq!(
        applied,
        (1..=applied.len() as i64).collect::<Vec<_>>(),
        "exactly the first k are applied"
    );
    let next = format!("t{}", applied.len() + 1);
    assert!(
        !exists(&db, &next).await,
        "the interrupted migration left {next} behind"
    );
    let stderr = run.stderr();
    assert!(stderr.contains("interrupted after"), "{stderr}");
    assert!(
        stderr.contains(&format!("{} applied", applied.len())),
        "the summary says what was applied: {stderr}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            lockstep_sessions(&db).await == 0
        })
        .await
    );
}

#[tokio::test]
async fn ctrl_c_ends_the_wait_for_the_migration_lock() {
    let db = fresh_database().await;
    let dir = three();
    let mut holder = conn(&db).await;
    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(advisory_key(&name))
        .execute(&mut holder)
        .await
        .unwrap();
    let mut run = Running::start(db.url(), &dir, &["up", "--lock-wait", "5min"]);
    run.wait_for_output("for the migration lock, held by", Duration::from_secs(30))
        .await;
    run.signal(Signal::SIGINT);
    assert_eq!(
        run.exit_code(Duration::from_secs(10)).await,
        EXIT_INTERRUPTED
    );
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut holder)
        .await
        .unwrap();
    holder.close().await.unwrap();
    assert_eq!(
        history_len(&db).await,
        0,
        "nothing runs once the holder lets go"
    );
    assert!(!exists(&db, "widgets").await);
    // The holder line was printed once, not once per poll.
    assert_eq!(run.stderr().matches("for the migration lock").count(), 1);
}

#[tokio::test]
async fn ctrl_c_during_a_long_statement_cancels_it_on_the_server() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_quick.sql", "CREATE TABLE first (id int);\n"),
        (
            "2_slow.sql",
            "CREATE TABLE second (id int);\nSELECT pg_sleep(120);\n",
        ),
        ("3_never.sql", "CREATE TABLE third (id int);\n"),
    ]);
    let mut run = Running::start(db.url(), &dir, &["up"]);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            scalar_i64(
                &db,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lockstep:apply:2' \
                 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'",
            )
            .await
                == 1
        })
        .await,
        "the slow statement never started: {}",
        run.stderr()
    );
    run.signal(Signal::SIGINT);
    assert_eq!(
        run.exit_code(Duration::from_secs(10)).await,
        EXIT_INTERRUPTED
    );
    assert_eq!(versions(&db).await, vec![1]);
    assert!(
        !exists(&db, "second").await,
        "the transaction was rolled back"
    );
    assert!(!exists(&db, "third").await);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            lockstep_sessions(&db).await == 0
        })
        .await,
        "the statement was cancelled on the server"
    );
    let stderr = run.stderr();
    assert!(stderr.contains("migration 2 rolled back"), "{stderr}");
}

/// A session that holds ACCESS SHARE on `widgets` in an open transaction; its pid.
async fn reader_in_transaction(db: &lockstep::db::Database) -> (sqlx::PgConnection, i32) {
    let mut reader = db.connect("test-reader").await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM widgets;")
        .execute(&mut reader)
        .await
        .unwrap();
    (reader, pid)
}

/// Applies migration 1 of `dir`, then opens [`reader_in_transaction`].
async fn first_applied_then_a_reader(
    db: &lockstep::db::Database,
    dir: &Dir,
) -> (sqlx::PgConnection, i32) {
    let mut first = Running::start(db.url(), dir, &["up", "--to", "1"]);
    assert_eq!(
        first.exit_code(Duration::from_secs(30)).await,
        0,
        "{}",
        first.stderr()
    );
    reader_in_transaction(db).await
}

/// Runs `up --json` with a short lock timeout and many retries; once it has retried, the reader
/// commits and the run must succeed. Returns the finished run.
async fn retried_until_the_reader_commits(
    db: &lockstep::db::Database,
    dir: &Dir,
    reader: &mut sqlx::PgConnection,
) -> Running {
    let mut run = Running::start(
        db.url(),
        dir,
        &["up", "--json", "--lock-timeout", "300ms", "--retries", "20"],
    );
    run.wait_for_output("\"event\":\"retrying\"", Duration::from_secs(30))
        .await;
    sqlx::raw_sql("COMMIT").execute(reader).await.unwrap();
    assert_eq!(
        run.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        run.stderr()
    );
    run
}

fn widgets_then_alter() -> Dir {
    Dir::with(&[
        ("1_widgets.sql", "CREATE TABLE widgets (id int);\n"),
        (
            "2_alter.sql",
            "ALTER TABLE widgets ADD COLUMN color text;\n",
        ),
    ])
}

#[tokio::test]
async fn a_statement_waiting_on_a_lock_names_its_blocker_and_sigterm_stops_it() {
    let db = fresh_database().await;
    let dir = widgets_then_alter();
    let (reader, pid) = first_applied_then_a_reader(&db, &dir).await;
    let mut run = Running::start(db.url(), &dir, &["up", "--lock-timeout", "0"]);
    run.wait_for_output(&format!("held by pid {pid}"), Duration::from_secs(30))
        .await;
    let stderr = run.stderr();
    assert!(
        stderr.contains("for ACCESS EXCLUSIVE on widgets"),
        "{stderr}"
    );
    assert!(stderr.contains("test-reader"), "{stderr}");
    assert!(stderr.contains("idle in transaction"), "{stderr}");
    assert!(stderr.contains("SELECT count(*) FROM widgets"), "{stderr}");
    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.exit_code(Duration::from_secs(10)).await,
        EXIT_INTERRUPTED
    );
    assert_eq!(versions(&db).await, vec![1]);
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'widgets' \
             AND column_name = 'color'"
        )
        .await,
        0
    );
    reader.close().await.unwrap();
}

#[tokio::test]
async fn json_reports_the_wait_and_the_run_goes_on_when_the_blocker_ends() {
    let db = fresh_database().await;
    let dir = widgets_then_alter();
    let (mut reader, pid) = first_applied_then_a_reader(&db, &dir).await;
    let mut run = Running::start(db.url(), &dir, &["up", "--json", "--lock-timeout", "0"]);
    run.wait_for_output("\"event\":\"statement_waiting\"", Duration::from_secs(30))
        .await;
    sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 0);
    let waiting: serde_json::Value = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "statement_waiting")
        .unwrap();
    assert_eq!(waiting["version"], 2);
    assert_eq!(waiting["wait"]["blockers"][0]["pid"], pid);
    assert_eq!(
        waiting["wait"]["blockers"][0]["session"]["state"],
        "idle in transaction"
    );
    assert_eq!(
        waiting["wait"]["waiting_for"][0]["mode"],
        "AccessExclusiveLock"
    );
    assert_eq!(waiting["wait"]["waiting_for"][0]["relation"], "widgets");
    assert_eq!(versions(&db).await, vec![1, 2]);
}

#[tokio::test]
async fn a_lock_timeout_names_the_blocker_and_retries_until_it_is_gone() {
    let db = fresh_database().await;
    let dir = widgets_then_alter();
    let (mut reader, pid) = first_applied_then_a_reader(&db, &dir).await;

    // Without retries: it gives up and names whom it waited on.
    let mut run = Running::start(
        db.url(),
        &dir,
        &["up", "--lock-timeout", "1s", "--retries", "0"],
    );
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 1);
    let stderr = run.stderr();
    assert!(stderr.contains("55P03"), "{stderr}");
    assert!(stderr.contains(&format!("held by pid {pid}")), "{stderr}");
    assert_eq!(versions(&db).await, vec![1]);

    // With retries: it rolls back, waits and starts the migration again; once the reader
    // commits, the retry gets through.
    let run = retried_until_the_reader_commits(&db, &dir, &mut reader).await;
    assert_eq!(versions(&db).await, vec![1, 2]);
    let summary: serde_json::Value =
        serde_json::from_str(run.stdout().lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert!(summary["retries"].as_u64().unwrap() >= 1);
    assert_eq!(summary["applied"], serde_json::json!([2]));
}

#[tokio::test]
async fn the_migration_session_has_a_default_lock_timeout_that_can_be_turned_off() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_record.up.sql",
            "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout;\n",
        ),
        ("1_record.down.sql", "DROP TABLE seen;\n"),
    ]);
    Running::start(db.url(), &dir, &["up"])
        .exit_code(Duration::from_secs(30))
        .await;
    let mut c = conn(&db).await;
    let seen: String = sqlx::query_scalar("SELECT lock_timeout FROM seen")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(seen, "3s");
    Running::start(db.url(), &dir, &["down"])
        .exit_code(Duration::from_secs(30))
        .await;
    Running::start(db.url(), &dir, &["up", "--lock-timeout", "0"])
        .exit_code(Duration::from_secs(30))
        .await;
    let seen: String = sqlx::query_scalar("SELECT lock_timeout FROM seen")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(seen, "0");
}

#[tokio::test]
async fn the_runners_cancel_token_interrupts_a_running_statement() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_slow.sql",
        "CREATE TABLE slow (id int);\nSELECT pg_sleep(120);\n",
    )]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = Runner::connect(&db, options(), tx).await.unwrap();
    let cancel = runner.cancel_token();
    let set = dir.set();
    let run = async {
        let result = runner.run(Operation::Up { to: None }, &set).await;
        runner.close().await;
        result
    };
    tokio::pin!(run);
    let started = loop {
        tokio::select! {
            _ = &mut run => panic!("the run ended before it was cancelled"),
            event = rx.recv() => {
                if matches!(event, Some(RunEvent::StatementStarted { index: 1, .. })) {
                    break std::time::Instant::now();
                }
            }
        }
    };
    cancel.cancel();
    let result = run.await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "pg_sleep was cancelled"
    );
    assert!(
        matches!(
            result,
            Err(RunError::Interrupted {
                during: Some((_, 1, true)),
                ..
            })
        ),
        "{result:?}"
    );
    let events: Vec<RunEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::MigrationInterrupted {
            version: 1,
            in_transaction: true,
            ..
        }
    )));
    assert!(!exists(&db, "slow").await);
    assert_eq!(history_len(&db).await, 0);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_a_clear_message() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            held.push(stream);
        }
    });
    let dir = three();
    let url = format!("postgres://nobody@127.0.0.1:{port}/nothing");
    let started = std::time::Instant::now();
    let mut run = Running::start(&url, &dir, &["status", "--connect-timeout", "1s"]);
    assert_eq!(run.exit_code(Duration::from_secs(20)).await, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = run.stderr();
    assert!(stderr.contains("no answer within 1s"), "{stderr}");
}

#[tokio::test]
async fn connection_errors_show_the_servers_message_without_a_source_line() {
    let db = fresh_database().await;
    let dir = three();
    let url = lockstep::testing::url_with_database(db.url(), "no_such_database_here");
    let mut run = Running::start(&url, &dir, &["status"]);
    assert_eq!(run.exit_code(Duration::from_secs(20)).await, 1);
    let stderr = run.stderr();
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("SQLSTATE 3D000"), "{stderr}");
    assert!(!stderr.contains(" at line "), "{stderr}");
}

#[tokio::test]
async fn a_no_transaction_migration_retries_only_the_transaction_that_gave_up() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_widgets.sql", "CREATE TABLE widgets (id int);\n"),
        (
            "2_notx.sql",
            "-- no-transaction\nCREATE TABLE audit (n int);\nVACUUM audit;\n\
             INSERT INTO audit VALUES (1);\nALTER TABLE widgets ADD COLUMN color text;\n",
        ),
    ]);
    let (mut reader, _) = first_applied_then_a_reader(&db, &dir).await;
    retried_until_the_reader_commits(&db, &dir, &mut reader).await;
    assert_eq!(versions(&db).await, vec![1, 2]);
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM audit").await,
        1,
        "the committed segments ran once; the retried transaction's INSERT once"
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM _sqlx_migrations WHERE version = 2 AND success"
        )
        .await,
        1
    );
}
