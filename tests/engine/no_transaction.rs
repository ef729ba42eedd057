//! `-- no-transaction` migrations: statements grouped into transactions around those that must run
//! alone, a `success = false` row until the last segment commits, what `status` knows of a run
//! that stopped (also when the process is killed), and `resolve` both ways.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockstep::analysis::Segment;
use lockstep::history::Progress;
use lockstep::runner::{Operation, PlanError, RunError, RunEvent, advisory_key};
use lockstep::status::State;
use lockstep::testing::fresh_database;
use lockstep::unfinished::Outcome;
use sqlx::postgres::PgConnection;

use crate::common::*;

/// Polls `sql` (a boolean query) until it is true, for at most 30 s.
async fn wait_for(c: &mut PgConnection, what: &str, sql: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut *c)
            .await
            .unwrap();
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `lockstep up` as a separate process and kills it with SIGKILL once `condition` (a
/// boolean query) holds.
async fn kill_up_when(db: &lockstep::db::Database, dir: &Dir, what: &str, condition: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(db.url())
        .arg("--source")
        .arg(&dir.path)
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&mut conn(db).await, what, condition).await;
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits until the killed run's server session has ended too (a killed client's backend first
/// finishes the statement it runs).
async fn wait_session_gone(c: &mut PgConnection) {
    wait_for(
        c,
        "the killed run's session has ended",
        "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name LIKE 'lockstep:apply%')",
    )
    .await;
}

/// Runs `lockstep` with `args` and checks it exits 1 with `message` in its error output.
fn fails_with(db: &lockstep::db::Database, dir: &Dir, args: &[&str], message: &str) {
    let out = lockstep(db.url(), dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

/// What `lockstep status --json` says of the unfinished run of `version`.
fn cli_unfinished(db: &lockstep::db::Database, dir: &Dir, version: i64) -> serde_json::Value {
    let out = lockstep(db.url(), dir)
        .args(["status", "--json"])
        .output()
        .unwrap();
    json(&out.stdout)["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .map(|v| v["unfinished"].clone())
        .unwrap()
}

fn outcomes(status: &lockstep::status::Status, i: usize) -> Vec<Outcome> {
    status.versions[i]
        .unfinished
        .as_ref()
        .expect("unfinished")
        .segments
        .iter()
        .map(|s| s.outcome)
        .collect()
}

async fn txids(db: &lockstep::db::Database, ids: &str) -> i64 {
    let mut c = conn(db).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(DISTINCT tx) FROM g WHERE id IN ({ids})"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap()
}

#[tokio::test]
async fn consecutive_statements_share_a_transaction_and_concurrently_runs_alone() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_grouped.sql",
        "-- no-transaction\n\
         CREATE TABLE g (id int, tx bigint DEFAULT txid_current());\n\
         INSERT INTO g (id) VALUES (1);\n\
         INSERT INTO g (id) VALUES (2);\n\
         CREATE INDEX CONCURRENTLY g_id ON g (id);\n\
         INSERT INTO g (id) VALUES (3);\n\
         INSERT INTO g (id) VALUES (4);\n",
    )]);
    let set = dir.set();
    let step_segments: Vec<Segment> = lockstep::runner::plan(
        Operation::Up { to: None },
        &set,
        &status(&db, &dir).await,
        false,
    )
    .unwrap()
    .steps[0]
        .segments
        .clone();
    assert_eq!(step_segments.len(), 3);
    assert_eq!(step_segments[1].alone, Some("CREATE INDEX CONCURRENTLY"));

    let (result, events) = run_with(&db, &dir, Operation::Up { to: None }, options()).await;
    result.expect("the CONCURRENTLY build runs outside any transaction");
    let finished = events
        .iter()
        .filter(|e| matches!(e, RunEvent::StatementFinished { .. }))
        .count();
    assert_eq!(finished, 6, "every statement is still sent and timed alone");
    assert_eq!(txids(&db, "1, 2").await, 1, "one transaction for 1 and 2");
    assert_eq!(txids(&db, "3, 4").await, 1, "one transaction for 3 and 4");
    assert_eq!(txids(&db, "1, 3").await, 2, "two transactions");
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 'g_id'::regclass AND indisvalid"
        )
        .await,
        1
    );
    let row = &rows(&db).await[0];
    assert!(row.success);
    assert!(row.execution_time > 0, "the measured time, as sqlx");
}

#[tokio::test]
async fn a_failure_rolls_back_its_group_and_keeps_what_committed_before() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_table.sql",
            "CREATE TABLE g (id int, tx bigint DEFAULT txid_current());",
        ),
        (
            "2_breaks.sql",
            "-- no-transaction\n\
             INSERT INTO g (id) VALUES (5);\n\
             CREATE INDEX CONCURRENTLY g_tx ON g (tx);\n\
             INSERT INTO g (id) VALUES (6);\n\
             INSERT INTO g (id) VALUES ('not a number');\n\
             INSERT INTO g (id) VALUES (7);\n",
        ),
    ]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let failure = failure(&err);
    assert_eq!(failure.statement, Some(3));
    assert!(failure.partial);
    assert_eq!(failure.completed, vec![0, 1], "statement 3 was rolled back");
    let ids: Vec<i32> = {
        let mut c = conn(&db).await;
        sqlx::query_scalar("SELECT id FROM g ORDER BY id")
            .fetch_all(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(
        ids,
        vec![5],
        "6 shared the failing statement's transaction: rolled back with it"
    );
    assert!(exists(&db, "g_tx").await);

    let status = status(&db, &dir).await;
    assert_eq!(status.versions[1].state, State::Partial);
    assert_eq!(
        outcomes(&status, 1),
        vec![Outcome::Committed, Outcome::Committed, Outcome::RolledBack]
    );
    let text = status.versions[1]
        .unfinished
        .as_ref()
        .unwrap()
        .lines(2)
        .join("\n");
    assert!(text.contains("stopped after 2 of 5 statements"), "{text}");
    assert!(
        text.contains("statements 3–5 (line 4, one transaction): rolled back"),
        "{text}"
    );
}

#[tokio::test]
async fn a_no_transaction_file_of_transactional_statements_is_atomic() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_atomic.sql",
        "-- no-transaction\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nSELECT * FROM no_such_table;\n",
    )]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let failure = failure(&err);
    assert!(!failure.partial && failure.completed.is_empty());
    assert!(
        err.to_string().contains("its history row is unchanged"),
        "{err}"
    );
    assert!(!exists(&db, "a").await, "one transaction: nothing stays");
    assert!(rows(&db).await.is_empty(), "and nothing is recorded");
}

#[tokio::test]
async fn killed_between_segments_it_shows_as_partial_up_refuses_and_resolve_rolls_it_back() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_table.sql", "CREATE TABLE k (id int);"),
        (
            "2_fill.sql",
            "-- no-transaction\n\
             INSERT INTO k VALUES (1);\n\
             CREATE INDEX CONCURRENTLY k_id ON k (id);\n\
             SELECT pg_advisory_lock(4242);\n\
             INSERT INTO k VALUES (2);\n",
        ),
    ]);
    let mut c = conn(&db).await;
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut c)
        .await
        .unwrap();
    kill_up_when(
        &db,
        &dir,
        "the third segment waits for the test's advisory lock",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'lockstep:apply:2' \
         AND wait_event_type = 'Lock' AND wait_event = 'advisory')",
    )
    .await;
    // The orphaned session takes the lock, finishes its statement, then sees the client gone and
    // rolls the segment's transaction back.
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut c)
        .await
        .unwrap();
    wait_session_gone(&mut c).await;

    let out = lockstep(db.url(), &dir)
        .args(["status", "--json", "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "status --check fails");
    let doc = json(&out.stdout);
    assert_eq!(doc["summary"]["partial"], 1);
    let v = &doc["versions"][1];
    assert_eq!(v["state"], "partial");
    assert_eq!(v["success"], false);
    assert_eq!(v["unfinished"]["progress"]["run"], "applying");
    assert_eq!(v["unfinished"]["progress"]["committed"], 2);
    let states: Vec<&str> = v["unfinished"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["committed", "committed", "rolled_back"]);

    let human = lockstep(db.url(), &dir).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("partially applied"), "{text}");
    assert!(
        text.contains("statements 3–4 (line 4, one transaction): rolled back"),
        "{text}"
    );

    let out = lockstep(db.url(), &dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "up refuses to run past it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lockstep resolve 2 --rolled-back"),
        "{stderr}"
    );

    // Undo by hand what committed, then say so.
    sqlx::raw_sql("DROP INDEX k_id; DELETE FROM k;")
        .execute(&mut c)
        .await
        .unwrap();
    let out = lockstep(db.url(), &dir)
        .args(["resolve", "2", "--rolled-back", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let event = json(line.lines().last().unwrap().as_bytes());
    assert_eq!(event["event"], "resolved");
    assert_eq!(event["resolution"], "rolled_back");
    assert_eq!(event["was"], "partially applied");
    assert_eq!(status(&db, &dir).await.versions[1].state, State::Pending);

    lockstep(db.url(), &dir).arg("up").assert().success();
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM k").await,
        2,
        "each row inserted once"
    );
    assert!(rows(&db).await.iter().all(|r| r.success));
}

#[tokio::test]
async fn killed_in_a_concurrent_build_status_tells_whether_it_completed_and_resolve_applies_it() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_table.sql",
            "CREATE TABLE c (id int);\nINSERT INTO c VALUES (1);",
        ),
        (
            "2_index.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY c_id ON c (id);\nINSERT INTO c VALUES (2);\n",
        ),
        ("3_more.sql", "INSERT INTO c VALUES (3);"),
    ]);
    run(&db, &dir, Operation::Up { to: Some(1) }).await.unwrap();
    // A writer's open transaction: the concurrent build waits for it to end.
    let mut writer = conn(&db).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE c IN ROW EXCLUSIVE MODE;")
        .execute(&mut writer)
        .await
        .unwrap();
    let mut c = conn(&db).await;
    kill_up_when(
        &db,
        &dir,
        "the concurrent build waits for the writer",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'lockstep:apply:2' \
         AND wait_event = 'virtualxid')",
    )
    .await;

    // While the orphaned session still builds, status says so and sees the INVALID index.
    let during = status(&db, &dir).await;
    assert_eq!(during.versions[1].state, State::Partial);
    let unfinished = during.versions[1].unfinished.as_ref().unwrap();
    assert!(unfinished.lock_holder.is_some(), "the run is still going");
    assert_eq!(
        unfinished.invalid_indexes,
        vec![("c_id".to_string(), "c".to_string())]
    );
    assert!(
        unfinished
            .lines(2)
            .join("\n")
            .contains("a run is still going"),
        "{:?}",
        unfinished.lines(2)
    );

    // `lockstep status` says the same.
    let shown = cli_unfinished(&db, &dir, 2);
    assert_eq!(shown["invalid_indexes"][0][0], "c_id", "{shown}");
    assert!(!shown["lock_holder"].is_null(), "{shown}");

    sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
    wait_session_gone(&mut c).await;
    let after = status(&db, &dir).await;
    assert_eq!(
        outcomes(&after, 1),
        vec![Outcome::Completed, Outcome::NotRun],
        "the build finished on the server; the insert never ran"
    );
    let shown = cli_unfinished(&db, &dir, 2);
    assert_eq!(shown["segments"][0]["outcome"], "completed", "{shown}");
    assert_eq!(shown["segments"][1]["outcome"], "not_run", "{shown}");
    let unfinished = after.versions[1].unfinished.as_ref().unwrap();
    assert!(unfinished.lock_holder.is_none());
    assert!(unfinished.invalid_indexes.is_empty());

    // Finish by hand what did not run, then say so.
    sqlx::query("INSERT INTO c VALUES (2)")
        .execute(&mut c)
        .await
        .unwrap();
    let out = lockstep(db.url(), &dir)
        .args(["resolve", "2", "--applied"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("recorded as applied"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let states: Vec<State> = status(&db, &dir)
        .await
        .versions
        .iter()
        .map(|v| v.state)
        .collect();
    assert_eq!(states, vec![State::Applied, State::Applied, State::Pending]);
    lockstep(db.url(), &dir).arg("up").assert().success();
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM c ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(ids, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_no_transaction_revert_that_stops_is_recorded_as_partially_reverted() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_r.up.sql",
            "CREATE TABLE r (id int);\nCREATE INDEX r_id ON r (id);",
        ),
        (
            "1_r.down.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY r_id;\nDROP TABLE no_such_table;\n",
        ),
    ]);
    up(&db, &dir).await;
    let err = run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("partially reverted"), "{err}");
    assert!(!exists(&db, "r_id").await, "the first statement committed");
    let row = &rows(&db).await[0];
    assert!(!row.success);
    assert_eq!(
        Progress::decode(row.execution_time),
        Progress::Reverting { committed: 1 }
    );
    let status = status(&db, &dir).await;
    assert_eq!(status.versions[0].state, State::Partial);
    assert_eq!(status.versions[0].label(), "partially reverted");
    assert_eq!(
        outcomes(&status, 0),
        vec![Outcome::Committed, Outcome::RolledBack]
    );
    let err = run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Plan(PlanError::Dirty(1))), "{err}");

    // Finished by hand: the revert is complete, so the row goes.
    let mut c = conn(&db).await;
    sqlx::raw_sql("DROP TABLE r").execute(&mut c).await.unwrap();
    lockstep(db.url(), &dir)
        .args(["resolve", "1", "--rolled-back"])
        .assert()
        .success();
    assert!(rows(&db).await.is_empty());
    up(&db, &dir).await;
    assert!(exists(&db, "r_id").await);
}

#[tokio::test]
async fn a_no_transaction_revert_deletes_the_row_at_the_end() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_r.up.sql", "CREATE TABLE r (id int);"),
        (
            "1_r.down.sql",
            "-- no-transaction\nVACUUM r;\nDROP TABLE r;\n",
        ),
    ]);
    up(&db, &dir).await;
    run(&db, &dir, Operation::DownSteps { steps: 1 })
        .await
        .unwrap();
    assert!(rows(&db).await.is_empty());
    assert!(!exists(&db, "r").await);
}

#[tokio::test]
async fn resolve_refuses_what_is_not_partial_and_waits_for_the_migration_lock() {
    let db = fresh_database().await;
    let dir = three();
    run(&db, &dir, Operation::Up { to: Some(2) }).await.unwrap();
    fails_with(
        &db,
        &dir,
        &["resolve", "2", "--applied"],
        "is applied (success = true), not partially applied",
    );
    fails_with(
        &db,
        &dir,
        &["resolve", "3", "--rolled-back"],
        "not recorded in the history table",
    );
    for args in [
        &["resolve", "2"][..],
        &["resolve", "2", "--applied", "--rolled-back"],
    ] {
        let out = lockstep(db.url(), &dir).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "usage error for {args:?}");
    }

    // An unfinished row, and another session holding sqlx's migration lock.
    let mut c = conn(&db).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (3, 'index name', FALSE, $1, $2)",
    )
    .bind(dir.set().get(3).unwrap().checksum().to_vec())
    .bind(Progress::Applying { committed: 0 }.encode())
    .execute(&mut c)
    .await
    .unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut c)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(advisory_key(&database))
        .execute(&mut c)
        .await
        .unwrap();
    fails_with(
        &db,
        &dir,
        &["--lock-wait", "300ms", "resolve", "3", "--rolled-back"],
        "migration lock",
    );
    assert_eq!(versions(&db).await, vec![1, 2, 3], "nothing changed");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(advisory_key(&database))
        .execute(&mut c)
        .await
        .unwrap();
    lockstep(db.url(), &dir)
        .args(["resolve", "3", "--rolled-back"])
        .assert()
        .success();
    assert_eq!(versions(&db).await, vec![1, 2]);
}

#[tokio::test]
async fn dry_run_shows_the_segments_and_the_unfinished_row() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_mixed.sql",
            "-- no-transaction\nCREATE TABLE m (id int);\nCREATE INDEX CONCURRENTLY m_id ON m (id);\n",
        ),
        (
            "2_atomic.sql",
            "-- no-transaction\nINSERT INTO m VALUES (1);\nANALYZE m;\n",
        ),
    ]);
    let out = lockstep(db.url(), &dir)
        .args(["up", "--dry-run"])
        .output()
        .unwrap();
    let sql = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "NO TRANSACTION: 2 segments",
        "-- segment 1: one transaction\nBEGIN;\n-- statement 1 (line 2)\nCREATE TABLE m (id int);\n",
        "VALUES ( 1, E'mixed', FALSE, decode('",
        ", -3 );\nCOMMIT;\n-- segment 2: runs alone (CREATE INDEX CONCURRENTLY)\n",
        "CREATE INDEX CONCURRENTLY m_id ON m (id);\nUPDATE _sqlx_migrations SET success = TRUE, execution_time = <elapsed nanoseconds> WHERE version = 1;\n",
        "every statement may run in a transaction: one transaction, as sqlx runs it",
        "ANALYZE m;\nINSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time ) VALUES ( 2, E'atomic', TRUE, decode('",
    ] {
        assert!(sql.contains(expected), "missing {expected:?} in:\n{sql}");
    }
}

/// A file that opens and ends its own transactions (with or without `-- no-transaction`) runs as
/// written, a statement at a time: in sqlx's one transaction its COMMIT would end the runner's
/// early, and a later failure would leave the first part applied with nothing recorded. Here what
/// its transactions committed is recorded, and told.
#[tokio::test]
async fn a_file_that_commits_part_way_is_recorded_as_partially_applied_when_it_fails_later() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_users.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY);\n",
        ),
        (
            "2_commits_early.sql",
            "BEGIN;\n\
             ALTER TABLE users ADD COLUMN nickname text;\n\
             COMMIT;\n\
             CREATE TABLE posts (id bigint PRIMARY KEY);\n\
             SELECT 1/0;\n",
        ),
    ]);
    let err = run(&db, &dir, Operation::Up { to: None })
        .await
        .unwrap_err();
    let failure = failure(&err);
    assert_eq!(failure.statement, Some(4));
    assert!(!failure.in_transaction && failure.own_transactions && failure.partial);
    assert_eq!(failure.completed, vec![0, 1, 2, 3]);
    let message = err.to_string();
    assert!(
        message.contains("in the transactions it opens and ends itself")
            && message.contains("statements 1–4 stayed applied")
            && !message.contains("nothing of it remains"),
        "{message}"
    );
    assert!(
        exists(&db, "posts").await,
        "created outside any transaction"
    );
    let status = status(&db, &dir).await;
    assert_eq!(status.versions[1].state, State::Partial);
    let text = status.versions[1]
        .unfinished
        .as_ref()
        .unwrap()
        .lines(2)
        .join("\n");
    assert!(
        text.contains("as written: its own BEGIN/COMMIT") && text.contains("stopped after 4 of 5"),
        "{text}"
    );
}

#[tokio::test]
async fn a_file_wrapped_in_its_own_transaction_leaves_nothing_when_it_fails_and_is_recorded_when_it_succeeds()
 {
    let db = fresh_database().await;
    let failing =
        "BEGIN;\nCREATE TABLE w (id int);\nINSERT INTO w VALUES (1);\nSELECT 1/0;\nCOMMIT;\n";
    for marker in ["", "-- no-transaction\n"] {
        let dir = Dir::with(&[("1_wrapped.sql", &format!("{marker}{failing}"))]);
        let err = run(&db, &dir, Operation::Up { to: None })
            .await
            .unwrap_err();
        let failure = failure(&err);
        assert!(
            failure.own_transactions && !failure.partial && failure.completed.is_empty(),
            "{marker}: {failure:?}"
        );
        assert!(
            err.to_string().contains("its history row is unchanged"),
            "{err}"
        );
        assert!(
            !exists(&db, "w").await,
            "{marker}: its transaction rolled back"
        );
        assert!(
            rows(&db).await.is_empty(),
            "{marker}: and nothing is recorded"
        );
    }
    let dir = Dir::with(&[(
        "1_wrapped.sql",
        "BEGIN;\nCREATE TABLE w (id int);\nINSERT INTO w VALUES (1);\nCOMMIT;\n",
    )]);
    up(&db, &dir).await;
    let rows = rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].success && rows[0].execution_time > 0, "{rows:?}");
    assert_eq!(rows[0].checksum, dir.set().migrations[0].checksum());
    assert_eq!(status(&db, &dir).await.versions[0].state, State::Applied);
}

/// `COMMIT AND CHAIN` commits and begins the next transaction at once; `ROLLBACK AND CHAIN`
/// undoes and begins one. What runs after either is in a transaction the runner must commit:
/// taken for "outside any transaction", the work after it and the finished row were rolled back
/// when the connection closed, under a run that said "applied".
#[tokio::test]
async fn a_transaction_begun_by_and_chain_is_committed_with_its_row() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        (
            "1_chain.sql",
            "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE b (id int);\nCOMMIT;\n",
        ),
        (
            "2_left_open.sql",
            "BEGIN;\nCREATE TABLE c (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE d (id int);\n",
        ),
        (
            "3_undone.sql",
            "BEGIN;\nCREATE TABLE e (id int);\nROLLBACK AND CHAIN;\nCREATE TABLE f (id int);\n",
        ),
        (
            "4_ends_with_it.sql",
            "-- no-transaction\nBEGIN;\nCREATE TABLE g (id int);\nCOMMIT AND CHAIN;\n",
        ),
        // Refused inside a transaction block: runs only if nothing was left open before it.
        (
            "5_after.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY g_id ON g (id);\n",
        ),
    ]);
    up(&db, &dir).await;
    for (table, kept) in [
        ("a", true),
        ("b", true),
        ("c", true),
        ("d", true),
        ("e", false),
        ("f", true),
        ("g", true),
        ("g_id", true),
    ] {
        assert_eq!(exists(&db, table).await, kept, "{table}");
    }
    let rows = rows(&db).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|r| r.success), "{rows:?}");
    let status = status(&db, &dir).await;
    assert!(
        status.versions.iter().all(|v| v.state == State::Applied),
        "{:?}",
        status.versions
    );
}

/// Killed inside the file's own transaction: the row was to be written in it, so the server's
/// rollback leaves neither the work nor a row, and the migration is simply pending again.
#[tokio::test]
async fn killed_inside_the_files_own_transaction_it_is_pending_with_nothing_left() {
    // With the marker, the row used to be written before the file's BEGIN: a kill left it
    // saying "partially applied" although nothing of the file stayed.
    for marker in ["", "-- no-transaction\n"] {
        killed_inside_the_files_own_transaction(marker).await;
    }
}

async fn killed_inside_the_files_own_transaction(marker: &str) {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_slow.sql",
        &format!("{marker}BEGIN;\nCREATE TABLE k (id int);\nSELECT pg_sleep(60);\nCOMMIT;\n"),
    )]);
    kill_up_when(
        &db,
        &dir,
        "the file's transaction sleeps",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name LIKE 'lockstep:apply%' AND query LIKE 'SELECT pg_sleep%')",
    )
    .await;
    let mut c = conn(&db).await;
    // The killed client's backend would sleep on: end it, as the server does a lost client's.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'lockstep:apply%'",
    )
    .execute(&mut c)
    .await
    .unwrap();
    wait_session_gone(&mut c).await;
    assert!(!exists(&db, "k").await, "{marker}");
    assert!(rows(&db).await.is_empty(), "{marker}");
    assert_eq!(
        status(&db, &dir).await.versions[0].state,
        State::Pending,
        "{marker}"
    );
}
