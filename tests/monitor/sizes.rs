//! The sizes query never waits behind an ACCESS EXCLUSIVE lock, held or queued.

use lockstep::monitor::{MonitorError, SizeColumn, TableSize, sort_sizes};
use lockstep::testing::fresh_database;

use crate::common::*;

fn find<'a>(rows: &'a [TableSize], name: &str) -> &'a TableSize {
    rows.iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} not in {rows:#?}"))
}

#[tokio::test]
async fn a_held_access_exclusive_lock_gives_a_locked_row_not_a_hang() {
    let db = fresh_database().await;
    table(&db, "conversations", 1000).await;
    table(&db, "users", 10).await;
    let mut holder = session(&db, "migration-like").await;
    holder
        .run("BEGIN; LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE")
        .await;

    let mut monitor = monitor(&db).await;
    let rows = promptly("sizes()", monitor.sizes()).await.expect("sizes");
    let locked = find(&rows, "conversations");
    assert!(locked.exclusively_locked);
    assert_eq!(locked.total_bytes, None);
    assert_eq!(locked.heap_bytes, None);
    assert_eq!(locked.estimated_rows, Some(1000), "the catalog estimate");
    assert!(locked.estimated_heap_bytes > 0);
    let free = find(&rows, "users");
    assert!(!free.exclusively_locked);
    assert!(free.total_bytes.unwrap() > free.heap_bytes.unwrap());
    assert!(free.index_bytes.unwrap() > 0);
    assert_eq!(free.estimated_rows, Some(10));

    // sizes_for names a few tables, with the same guard.
    let named = promptly(
        "sizes_for()",
        monitor.sizes_for(&["public.conversations".into(), "users".into(), "nope".into()]),
    )
    .await
    .unwrap();
    assert_eq!(named.len(), 2);
    assert!(find(&named, "conversations").exclusively_locked);

    holder.run("ROLLBACK").await;
    let rows = monitor.sizes().await.unwrap();
    assert!(!find(&rows, "conversations").exclusively_locked);
    assert!(find(&rows, "conversations").total_bytes.unwrap() > 0);
}

#[tokio::test]
async fn a_queued_access_exclusive_request_is_seen_too() {
    let db = fresh_database().await;
    table(&db, "conversations", 100).await;
    let mut reader = session(&db, "long-reader").await;
    reader
        .run("BEGIN; SELECT count(*) FROM conversations")
        .await;
    let (ddl_pid, ddl) = session(&db, "migration-like")
        .await
        .spawn("ALTER TABLE conversations ADD COLUMN x int");
    wait_until_blocked(&db, ddl_pid, 1).await;

    // Without the guard a size function queues behind the ALTER (here cut short by a timeout).
    let mut naive = session(&db, "naive-monitor").await;
    let err =
        sqlx::raw_sql("SET lock_timeout = '100ms'; SELECT pg_total_relation_size('conversations')")
            .execute(&mut naive.conn)
            .await
            .expect_err("an unguarded size call waits behind the queued ALTER");
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("55P03")
    );

    let mut monitor = monitor(&db).await;
    let rows = promptly("sizes()", monitor.sizes()).await.expect("sizes");
    let row = find(&rows, "conversations");
    assert!(row.exclusively_locked, "a queued AE request counts");
    assert_eq!(row.estimated_rows, Some(100));

    reader.run("COMMIT").await;
    let (_, result) = ddl.await.unwrap();
    result.expect("the ALTER goes through once the reader commits");
}

#[tokio::test]
async fn locks_on_an_index_or_a_partition_mark_the_table() {
    let db = fresh_database().await;
    table(&db, "conversations", 10).await;
    exec(
        &db,
        "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events
             FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE other (id int);",
    )
    .await;
    let mut reindex = session(&db, "reindexer").await;
    reindex.run("BEGIN; REINDEX INDEX conversations_pkey").await;
    let mut part = session(&db, "partition-locker").await;
    part.run("BEGIN; LOCK TABLE events_2024 IN ACCESS EXCLUSIVE MODE")
        .await;

    let mut monitor = monitor(&db).await;
    let rows = promptly("sizes()", monitor.sizes()).await.unwrap();
    assert!(
        find(&rows, "conversations").exclusively_locked,
        "via its index"
    );
    assert!(find(&rows, "events_2024").exclusively_locked);
    assert!(
        find(&rows, "events").exclusively_locked,
        "via its partition"
    );
    assert!(!find(&rows, "other").exclusively_locked);
    assert_eq!(find(&rows, "events").kind, "p");
}

#[tokio::test]
async fn never_analyzed_tables_have_no_estimate_and_sorting_works() {
    let db = fresh_database().await;
    exec(&db, "CREATE TABLE fresh (id int)").await;
    table(&db, "big", 5000).await;
    table(&db, "small", 5).await;
    let mut monitor = monitor(&db).await;
    let mut rows = monitor.sizes().await.unwrap();
    assert_eq!(
        find(&rows, "fresh").estimated_rows,
        None,
        "reltuples -1 → unknown"
    );
    sort_sizes(&mut rows, SizeColumn::Total, true);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["big", "small", "fresh"]);
    sort_sizes(&mut rows, SizeColumn::Name, false);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["big", "fresh", "small"]);
}

#[tokio::test]
async fn a_locked_catalog_makes_the_read_stale_instead_of_hanging() {
    let db = fresh_database().await;
    table(&db, "t", 1).await;
    let mut monitor = monitor(&db).await;
    monitor.sizes().await.unwrap();
    let mut locker = session(&db, "catalog-locker").await;
    locker
        .run("BEGIN; LOCK TABLE pg_catalog.pg_class IN ACCESS EXCLUSIVE MODE")
        .await;
    let err = promptly("sizes() behind a catalog lock", monitor.sizes())
        .await
        .expect_err("the lock timeout fires");
    assert!(err.is_stale(), "{err:?}");
    assert!(matches!(err, MonitorError::Stale { ref sqlstate, .. } if sqlstate == "55P03"));
    locker.run("ROLLBACK").await;
    assert!(monitor.sizes().await.is_ok(), "the next tick works again");
}

#[tokio::test]
async fn a_partitioned_table_is_as_big_as_its_partitions() {
    let db = fresh_database().await;
    exec(
        &db,
        "CREATE TABLE events (id int, at date, payload text) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events
             FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE events_2025 PARTITION OF events
             FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY HASH (id);
         CREATE TABLE events_2025_h0 PARTITION OF events_2025 FOR VALUES WITH (MODULUS 1, REMAINDER 0);
         CREATE INDEX events_id ON events (id);
         INSERT INTO events SELECT g, DATE '2024-06-01' + (g % 400), repeat('x', 100)
             FROM generate_series(1, 5000) g;
         ANALYZE events_2024, events_2025_h0;",
    )
    .await;
    let mut monitor = monitor(&db).await;
    let rows = promptly("sizes()", monitor.sizes()).await.unwrap();
    let leaves = ["events_2024", "events_2025_h0"];
    let sum = |f: fn(&TableSize) -> Option<i64>| -> i64 {
        leaves.iter().map(|l| f(find(&rows, l)).unwrap()).sum()
    };
    let events = find(&rows, "events");
    assert!(sum(|r| r.total_bytes) > 500_000, "5000 rows of 100 bytes");
    assert_eq!(events.total_bytes, Some(sum(|r| r.total_bytes)));
    assert_eq!(events.heap_bytes, Some(sum(|r| r.heap_bytes)));
    assert_eq!(events.index_bytes, Some(sum(|r| r.index_bytes)));
    assert_eq!(events.toast_bytes, Some(sum(|r| r.toast_bytes)));
    // The sub-partitioned partition is as big as its own partition.
    assert_eq!(
        find(&rows, "events_2025").total_bytes,
        find(&rows, "events_2025_h0").total_bytes
    );
    // The lock-free estimate, shown while a partition is locked, adds up the partitions too.
    assert_eq!(
        events.estimated_heap_bytes,
        leaves
            .iter()
            .map(|l| find(&rows, l).estimated_heap_bytes)
            .sum::<i64>()
    );
    assert!(events.estimated_heap_bytes > 0);
}
