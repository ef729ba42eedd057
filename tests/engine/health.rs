//! The health check finds what a migration may leave behind, each made on purpose.

use std::time::Duration;

use lockstep::audit::DEFAULT_SCHEMA;
use lockstep::health::{self, Check};
use lockstep::testing::fresh_database;

use crate::common::*;
use crate::process::Running;

async fn exec(db: &lockstep::db::Database, sql: &str) {
    let mut c = conn(db).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .unwrap();
}

fn has(report: &health::Report, check: Check, object: &str) -> bool {
    report
        .items
        .iter()
        .any(|i| i.check == check && i.object.contains(object))
}

#[tokio::test]
async fn the_check_names_each_problem_it_lists() {
    let db = fresh_database().await;
    let clean = health::check(&db, None, Duration::from_secs(60), DEFAULT_SCHEMA)
        .await
        .unwrap();
    assert!(!clean.needs_action(), "{}", clean.render());

    exec(
        &db,
        "CREATE TABLE dup (x int) WITH (autovacuum_enabled = false); \
         INSERT INTO dup SELECT 1 FROM generate_series(1, 2000); \
         ALTER TABLE dup ADD CONSTRAINT dup_positive CHECK (x > 0) NOT VALID; \
         CREATE SEQUENCE small_seq AS smallint; SELECT setval('small_seq', 30000); \
         CREATE SCHEMA lockstep_audit; \
         CREATE TABLE lockstep_audit.statements (x int) WITH (autovacuum_enabled = false); \
         INSERT INTO lockstep_audit.statements SELECT 1 FROM generate_series(1, 2000);",
    )
    .await;
    // A unique index built concurrently over duplicates fails and stays INVALID.
    let mut c = conn(&db).await;
    assert!(
        sqlx::raw_sql("CREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x)")
            .execute(&mut c)
            .await
            .is_err()
    );
    // One session holds a lock, another waits for it, a third sits idle in a transaction.
    let mut holder = conn(&db).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE dup IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut holder)
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let mut waiter = conn(&db).await;
        async move {
            sqlx::raw_sql("SELECT count(*) FROM dup")
                .execute(&mut waiter)
                .await
        }
    });

    // Table statistics reach the server's counters within about a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let report = loop {
        let report = health::check(&db, None, Duration::ZERO, DEFAULT_SCHEMA)
            .await
            .unwrap();
        let complete =
            has(&report, Check::NotAnalyzed, "dup") && has(&report, Check::BlockedSession, "pid");
        if complete || std::time::Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        has(&report, Check::NotAnalyzed, "dup"),
        "{}",
        report.render()
    );
    // lockstep's own audit trail, which every run writes, is not the user's to analyse.
    assert!(
        !has(&report, Check::NotAnalyzed, "lockstep_audit"),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Check::BlockedSession, "pid"),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Check::InvalidIndex, "dup_x"),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Check::UnvalidatedConstraint, "dup_positive"),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Check::SequenceNearMax, "small_seq"),
        "{}",
        report.render()
    );
    assert!(
        has(&report, Check::IdleInTransaction, "pid"),
        "the lock holder is idle in its transaction: {}",
        report.render()
    );
    let text = report.render();
    assert!(text.contains("VALIDATE CONSTRAINT dup_positive"), "{text}");
    assert!(text.contains("DROP INDEX CONCURRENTLY"), "{text}");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    waiter.await.unwrap().unwrap();
}

#[tokio::test]
async fn after_a_run_a_rewritten_table_without_statistics_is_named() {
    let db = fresh_database().await;
    exec(
        &db,
        "CREATE TABLE t (x int) WITH (autovacuum_enabled = false); \
         INSERT INTO t SELECT g FROM generate_series(1, 100) g; ANALYZE t;",
    )
    .await;
    let before = health::baseline(&db).await.unwrap();
    exec(&db, "ALTER TABLE t ALTER COLUMN x TYPE bigint").await;
    let after = health::check(&db, Some(before), Duration::from_secs(60), DEFAULT_SCHEMA)
        .await
        .unwrap();
    let item = after
        .items
        .iter()
        .find(|i| i.check == Check::NotAnalyzed)
        .unwrap_or_else(|| panic!("{}", after.render()));
    assert!(item.detail.contains("rewritten"), "{}", after.render());
    assert_eq!(item.action, "ANALYZE t");
    assert!(after.response_before_ms.is_some());
}

#[tokio::test]
async fn after_a_run_lockstep_s_own_reads_are_not_sessions_left_idle() {
    let db = fresh_database().await;
    let before = health::baseline(&db).await.unwrap();
    // Both sit idle in a transaction begun after the run started: the dashboard's status
    // watcher between two statements of a read, and an application's session.
    let mut idle = Vec::new();
    for application in ["lockstep:status", "app"] {
        let mut c = db.connect(application).await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT 1;")
            .execute(&mut c)
            .await
            .unwrap();
        idle.push(c);
    }
    let after = health::check(&db, Some(before), Duration::from_secs(60), DEFAULT_SCHEMA)
        .await
        .unwrap();
    let listed: Vec<&str> = after
        .items
        .iter()
        .filter(|i| i.check == Check::IdleInTransaction)
        .map(|i| i.detail.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{}", after.render());
    assert!(listed[0].contains("app, idle in transaction"), "{listed:?}");
    drop(idle);
}

#[tokio::test]
async fn lockstep_check_exits_1_when_something_needs_action_and_prints_json() {
    let db = fresh_database().await;
    let dir = three();
    let mut run = Running::start(db.url(), &dir, &["check"]);
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 0);
    assert!(
        run.stdout().contains("nothing needs action"),
        "{}",
        run.stdout()
    );
    exec(
        &db,
        "CREATE TABLE c (x int); ALTER TABLE c ADD CONSTRAINT c_pos CHECK (x > 0) NOT VALID;",
    )
    .await;
    let mut run = Running::start(db.url(), &dir, &["check", "--json"]);
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["items"][0]["check"], "unvalidated-constraint");
    assert_eq!(doc["items"][0]["object"], "c_pos on c");
}

#[tokio::test]
async fn a_run_that_leaves_something_behind_says_so_after_it() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_checked.sql",
        "CREATE TABLE c (x int);\nALTER TABLE c ADD CONSTRAINT c_pos CHECK (x > 0) NOT VALID;\n",
    )]);
    let mut run = Running::start(db.url(), &dir, &["up"]);
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 0);
    let stderr = run.stderr();
    assert!(stderr.contains("health check after the run"), "{stderr}");
    assert!(stderr.contains("c_pos on c"), "{stderr}");

    let dir = Dir::with(&[("2_plain.sql", "CREATE TABLE d (x int);\n")]);
    let mut run = Running::start(db.url(), &dir, &["up", "--json", "--ignore-missing"]);
    assert_eq!(run.exit_code(Duration::from_secs(30)).await, 0);
    let events: Vec<serde_json::Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let health = events.iter().find(|e| e["event"] == "health").unwrap();
    assert_eq!(
        health["report"]["items"][0]["check"],
        "unvalidated-constraint"
    );
    assert_eq!(events.last().unwrap()["event"], "summary");
}
