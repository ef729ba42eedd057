//! The lock forest, lock samples of one session, and the migration advisory lock, on real
//! blocked sessions.

use lockstep::monitor::{
    LockTreeNode, MIGRATION_LOCK_LABEL, build_forest, find_in_forest, render_forest,
};
use lockstep::runner::advisory_key;
use lockstep::testing::fresh_database;

use crate::common::*;

/// The tree as `pid(children...)` with the given pids replaced by letters.
fn shape(forest: &[LockTreeNode], names: &[(i32, &str)]) -> String {
    fn one(node: &LockTreeNode, names: &[(i32, &str)]) -> String {
        let name = names
            .iter()
            .find(|(pid, _)| *pid == node.pid)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| format!("?{}", node.pid));
        if node.children.is_empty() {
            name
        } else {
            let kids: Vec<String> = node.children.iter().map(|c| one(c, names)).collect();
            format!("{name}({})", kids.join(" "))
        }
    }
    let mut roots: Vec<String> = forest.iter().map(|n| one(n, names)).collect();
    roots.sort();
    roots.join(" ")
}

async fn forest(db: &lockstep::db::Database) -> Vec<LockTreeNode> {
    let mut monitor = monitor(db).await;
    let edges = promptly("lock_edges()", monitor.lock_edges())
        .await
        .unwrap();
    let activity = monitor.activity(DEFAULT).await.unwrap();
    build_forest(&edges, &activity)
}

const DEFAULT: std::time::Duration = lockstep::monitor::DEFAULT_IDLE_THRESHOLD;

#[tokio::test]
async fn a_chain_a_blocks_b_blocks_c() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)").await;
    let mut a = session(&db, "session-a").await;
    a.run("BEGIN; LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE").await;
    let mut b = session(&db, "session-b").await;
    b.run("BEGIN; LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE").await;
    let (b_pid, _b) = b.spawn("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE");
    wait_until_blocked(&db, b_pid, 1).await;
    let (c_pid, _c) = session(&db, "session-c").await.spawn("SELECT * FROM t2");
    wait_until_blocked(&db, c_pid, 1).await;

    let forest = forest(&db).await;
    let names = [(a.pid, "A"), (b_pid, "B"), (c_pid, "C")];
    assert_eq!(shape(&forest, &names), "A(B(C))", "{forest:#?}");
    assert_eq!(forest[0].descendants, 2);
    let c = find_in_forest(&forest, c_pid).unwrap();
    let lock = c.waiting_for.as_ref().unwrap();
    assert_eq!(lock.mode.as_deref(), Some("AccessShareLock"));
    assert_eq!(lock.relation.as_deref(), Some("t2"));
    assert!(c.wait_age_secs.is_some_and(|age| age >= 0.0));
    let b = find_in_forest(&forest, b_pid).unwrap();
    assert_eq!(
        b.waiting_for.as_ref().unwrap().mode.as_deref(),
        Some("AccessExclusiveLock")
    );

    let text = render_forest(&forest);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with(&format!("pid {} ", a.pid)), "{text}");
    assert!(lines[0].contains("idle in transaction"), "{text}");
    assert!(
        lines[1].starts_with(&format!("└─ pid {} ", b_pid)),
        "{text}"
    );
    assert!(lines[1].contains("waiting"), "{text}");
    assert!(
        lines[1].contains("wants AccessExclusiveLock on t1"),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!("   └─ pid {} ", c_pid)),
        "{text}"
    );
    assert!(lines[2].contains("SELECT * FROM t2"), "{text}");
}

#[tokio::test]
async fn a_fork_a_blocks_b_and_c() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t (id int)").await;
    let mut a = session(&db, "session-a").await;
    a.run("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE").await;
    let (b_pid, _b) = session(&db, "session-b").await.spawn("SELECT * FROM t");
    wait_until_blocked(&db, b_pid, 1).await;
    let (c_pid, _c) = session(&db, "session-c").await.spawn("SELECT * FROM t");
    wait_until_blocked(&db, c_pid, 1).await;

    let forest = forest(&db).await;
    let names = [(a.pid, "A"), (b_pid, "B"), (c_pid, "C")];
    // Children are sorted by wait age: B has waited longer.
    assert_eq!(shape(&forest, &names), "A(B C)", "{forest:#?}");
    assert_eq!(forest.len(), 1);
    assert_eq!(forest[0].descendants, 2);
    assert_eq!(forest[0].directly_blocks, 2);
    assert_eq!(forest[0].children[0].pid, b_pid);
}

#[tokio::test]
async fn a_session_blocked_by_two_roots_appears_once() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE t (id int)").await;
    let mut a = session(&db, "session-a").await;
    a.run("BEGIN; LOCK TABLE t IN SHARE MODE").await;
    let mut b = session(&db, "session-b").await;
    b.run("BEGIN; LOCK TABLE t IN SHARE MODE").await;
    let (c_pid, _c) = session(&db, "session-c")
        .await
        .spawn("BEGIN; LOCK TABLE t IN EXCLUSIVE MODE");
    wait_until_blocked(&db, c_pid, 2).await;

    let forest = forest(&db).await;
    let (low, high) = (a.pid.min(b.pid), a.pid.max(b.pid));
    let names = [(low, "L"), (high, "H"), (c_pid, "C")];
    assert_eq!(shape(&forest, &names), "H L(C)", "{forest:#?}");
    let c = find_in_forest(&forest, c_pid).unwrap();
    assert_eq!(c.blocked_by, vec![low, high]);
    assert_eq!(c.also_waits_on, vec![high]);
    let h = forest.iter().find(|n| n.pid == high).unwrap();
    assert_eq!(
        h.directly_blocks, 1,
        "the second root still shows it blocks C"
    );
    assert!(render_forest(&forest).contains(&format!("also waits on {high}")));
}

#[tokio::test]
async fn a_lock_sample_names_the_holder_and_the_queue() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE conversations (id int)").await;
    let mut holder = session(&db, "lockstep:apply:20240101").await;
    holder
        .run("BEGIN; LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
        .await;
    let (waiter_pid, _w) = session(&db, "web-app")
        .await
        .spawn("SELECT count(*) FROM conversations");
    wait_until_blocked(&db, waiter_pid, 1).await;

    let mut monitor = monitor(&db).await;
    let sample = promptly("session_locks()", monitor.session_locks(waiter_pid))
        .await
        .unwrap();
    assert_eq!(sample.pid, waiter_pid);
    let wanted: Vec<_> = sample.waiting_for().collect();
    assert_eq!(wanted.len(), 1, "{sample:#?}");
    assert_eq!(wanted[0].mode, "AccessShareLock");
    assert_eq!(wanted[0].relation.as_deref(), Some("conversations"));
    assert_eq!(sample.waits_on.len(), 1);
    let blocker = &sample.waits_on[0];
    assert_eq!(blocker.pid, holder.pid);
    let who = blocker.session.as_ref().unwrap();
    assert!(who.is_lockstep);
    assert_eq!(who.state.as_deref(), Some("idle in transaction"));
    assert!(
        who.query
            .as_deref()
            .unwrap()
            .contains("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
    );
    assert!(who.xact_age_secs.is_some());
    assert!(sample.waited_on_by.is_empty());

    // The holder's sample: its AE lock granted, one session queued behind it.
    let sample = monitor.session_locks(holder.pid).await.unwrap();
    assert!(
        sample.locks.iter().any(|l| l.granted
            && l.mode == "AccessExclusiveLock"
            && l.relation.as_deref() == Some("conversations")),
        "{sample:#?}"
    );
    assert_eq!(sample.queued_behind(), 1);
    assert_eq!(sample.waited_on_by[0].pid, waiter_pid);
    assert!(sample.waits_on.is_empty());
    assert_eq!(
        sample.session.as_ref().unwrap().application_name.as_deref(),
        Some("lockstep:apply:20240101")
    );
}

#[tokio::test]
async fn the_sqlx_migration_lock_holder_and_waiter_are_named() {
    let db = fresh_database().await;
    let mut holder = session(&db, "other-deployer").await;
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut holder.conn)
        .await
        .unwrap();
    let key = advisory_key(&database);
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut holder.conn)
        .await
        .unwrap();
    let mut monitor = monitor(&db).await;
    let free_key = monitor.advisory_lock(key + 1).await.unwrap();
    assert!(free_key.holder.is_none());

    let waiter = session(&db, "sqlx-migrator").await;
    let waiter_pid = waiter.pid;
    let mut waiter_conn = waiter.conn;
    let _task = tokio::spawn(async move {
        let _ = sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut waiter_conn)
            .await;
    });
    wait_until_blocked(&db, waiter_pid, 1).await;

    let lock = promptly("migration_lock()", monitor.migration_lock())
        .await
        .unwrap();
    assert_eq!(lock.label, MIGRATION_LOCK_LABEL);
    assert_eq!(lock.key, key);
    let h = lock.holder.as_ref().expect("a holder");
    assert_eq!(h.pid, holder.pid);
    assert_eq!(h.application_name.as_deref(), Some("other-deployer"));
    assert_eq!(lock.waiters.len(), 1);
    assert_eq!(lock.waiters[0].pid, waiter_pid);
    assert_eq!(lock.waiters[0].wait_event.as_deref(), Some("advisory"));
    let text = lock.to_string();
    assert!(
        text.starts_with(&format!(
            "migration lock (sqlx): held by pid {}",
            holder.pid
        )),
        "{text}"
    );
    assert!(text.ends_with("1 waiting"), "{text}");

    // The waiter shows in the forest too, under the holder.
    let edges = monitor.lock_edges().await.unwrap();
    let activity = monitor.activity(DEFAULT).await.unwrap();
    let forest = build_forest(&edges, &activity);
    let node = find_in_forest(&forest, waiter_pid).unwrap();
    assert_eq!(
        node.waiting_for.as_ref().unwrap().locktype.as_deref(),
        Some("advisory")
    );
    assert_eq!(forest[0].pid, holder.pid);
}
