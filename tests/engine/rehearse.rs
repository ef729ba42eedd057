//! `lockstep rehearse` on a real server: DOWN files that forget something are caught with the
//! object named, a correct set passes, a failing UP names its statement, the observed locks are
//! the tracer's, the configured database is never written, and a rehearsal can be cancelled.
//!
//! The configured database is a `fresh_database()`; the scratch database goes on the same test
//! server (`scratch_server`), except in the CLI test, which starts its own sandbox.

use std::time::{Duration, Instant};

use assert_cmd::Command;
use lockstep::db::Database;
use lockstep::rehearse::catalog::{self, Catalog};
use lockstep::rehearse::compare::{HeldLock, observed_locks};
use lockstep::rehearse::render;
use lockstep::rehearse::{
    Outcome, RehearsalEvent, RehearsalReport, RehearseError, RehearseOptions, Source, Verdict,
    rehearse,
};
use lockstep::runner::Operation;
use lockstep::testing::{fresh_database, server_url};
use lockstep::trace::{TraceOptions, trace};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use crate::common::*;

fn rehearse_options() -> RehearseOptions {
    RehearseOptions {
        to: None,
        sample_rows: 0,
        require_down: false,
        all: false,
        scratch_server: Some(server_url()),
        pg_version: None,
        run: options(),
        source: Default::default(),
    }
}

async fn run_rehearsal(
    db: Option<&Database>,
    dir: &Dir,
    options: &RehearseOptions,
) -> (Result<RehearsalReport, RehearseError>, Vec<RehearsalEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = rehearse(db, &dir.set(), options, tx, CancellationToken::new()).await;
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (result, events)
}

/// Every disagreement between the server and the analysis, in words.
fn disagreements(report: &RehearsalReport) -> Vec<String> {
    report
        .migrations
        .iter()
        .flat_map(|m| m.disagreements().map(|(_, d)| d.message.clone()))
        .collect()
}

/// The messages of every difference a DOWN or UP-again left, migration by migration.
fn differences(report: &RehearsalReport) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for m in &report.migrations {
        for phase in [&m.down, &m.up_again] {
            if let Outcome::Differs { differences } = &phase.outcome {
                out.extend(differences.iter().map(|d| (m.version, d.message.clone())));
            }
        }
    }
    out
}

const BASE_UP: &str = "\
CREATE TABLE conversations (id bigint PRIMARY KEY, status text);
CREATE TABLE turns (id bigint PRIMARY KEY, token_count integer);
CREATE TABLE orders (id bigint PRIMARY KEY, amount int);
ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
";
const BASE_DOWN: &str =
    "DROP FUNCTION touch();\nDROP TYPE mood;\nDROP TABLE orders, turns, conversations;\n";

const INDEX_UP: &str =
    "CREATE INDEX IF NOT EXISTS conversations_status_idx ON conversations (status);\n";
const WIDEN_UP: &str = "ALTER TABLE turns ALTER COLUMN token_count TYPE bigint;\n";
const VALIDATE_UP: &str = "ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_positive;\n";
const LABEL_UP: &str = "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';\n";
const TRIGGER_UP: &str =
    "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();\n";

/// The base (migration 1, applied to the configured database) and five pending migrations with
/// the given DOWN files.
fn five_with_downs(downs: [&str; 5]) -> Dir {
    Dir::with(&[
        ("1_base.up.sql", BASE_UP),
        ("1_base.down.sql", BASE_DOWN),
        ("2_index_status.up.sql", INDEX_UP),
        ("2_index_status.down.sql", downs[0]),
        ("3_widen_token_count.up.sql", WIDEN_UP),
        ("3_widen_token_count.down.sql", downs[1]),
        ("4_validate_amount.up.sql", VALIDATE_UP),
        ("4_validate_amount.down.sql", downs[2]),
        ("5_mood_meh.up.sql", LABEL_UP),
        ("5_mood_meh.down.sql", downs[3]),
        ("6_touch_orders.up.sql", TRIGGER_UP),
        ("6_touch_orders.down.sql", downs[4]),
    ])
}

/// A base migration creating `users`, and the migration `name` (`2_…`) with its UP and DOWN.
fn on_users(name: &str, up: &str, down: &str) -> Dir {
    let (up_file, down_file) = (format!("{name}.up.sql"), format!("{name}.down.sql"));
    Dir::with(&[
        (
            "1_base.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY);\n",
        ),
        ("1_base.down.sql", "DROP TABLE users;\n"),
        (&up_file, up),
        (&down_file, down),
    ])
}

/// The rehearsal of `dir`'s pending migrations on a database where its first one is applied.
async fn rehearsed_on_base(dir: &Dir) -> RehearsalReport {
    let db = configured_with_base(dir).await;
    let (report, _) = run_rehearsal(Some(&db), dir, &rehearse_options()).await;
    report.expect("rehearse")
}

async fn configured_with_base(dir: &Dir) -> Database {
    let db = fresh_database().await;
    run(&db, dir, Operation::Up { to: Some(1) })
        .await
        .expect("apply the base");
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downs_that_forget_an_index_a_type_a_validity_a_label_or_a_trigger_are_caught_by_name() {
    // Each DOWN leaves its UP's work in place (a comment is not a revert).
    let dir = five_with_downs([
        "COMMENT ON TABLE conversations IS NULL;\n",
        "COMMENT ON TABLE turns IS NULL;\n",
        "COMMENT ON TABLE orders IS NULL;\n",
        "COMMENT ON TYPE mood IS NULL;\n",
        "COMMENT ON TABLE orders IS NULL;\n",
    ]);
    let report = rehearsed_on_base(&dir).await;
    assert_eq!(
        report
            .migrations
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6],
        "the pending migrations, from the copied history"
    );
    assert_eq!(
        differences(&report),
        vec![
            (2, "index `conversations_status_idx` still exists after DOWN".to_string()),
            (3, "column `turns.token_count` is `bigint` after DOWN, was `integer`".to_string()),
            (
                4,
                "constraint `orders_amount_positive` on `orders` is valid after DOWN, was NOT VALID"
                    .to_string()
            ),
            (
                5,
                "enum `mood` still has label `meh` after DOWN that it did not have before UP"
                    .to_string()
            ),
            (6, "trigger `orders_touch` on `orders` still exists after DOWN".to_string()),
        ]
    );
    for m in &report.migrations {
        assert_eq!(m.verdict(false), Verdict::Failed, "{}", m.version);
    }
    // The UPs written to run twice apply again; the trigger's cannot: it is still there.
    for m in &report.migrations[..4] {
        assert!(
            matches!(m.up_again.outcome, Outcome::Ok),
            "{}: {:?}",
            m.version,
            m.up_again.outcome
        );
    }
    let Outcome::Failed { failure, .. } = &report.migrations[4].up_again.outcome else {
        panic!("{:?}", report.migrations[4].up_again);
    };
    assert!(failure.message.contains("already exists"), "{failure:?}");
    assert_eq!(report.exit_code(), 1);
    let text = render::plain(&render::migration(&report.migrations[0], false));
    assert!(
        text.contains("✗ index `conversations_status_idx` still exists after DOWN"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_reversible_set_passes() {
    let dir = five_with_downs([
        "DROP INDEX conversations_status_idx;\n",
        "ALTER TABLE turns ALTER COLUMN token_count TYPE integer;\n",
        "ALTER TABLE orders DROP CONSTRAINT orders_amount_positive;\n\
         ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;\n",
        "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('ok', 'sad');\nDROP TYPE mood_old;\n",
        "DROP TRIGGER orders_touch ON orders;\n",
    ]);
    let db = configured_with_base(&dir).await;
    let (report, events) = run_rehearsal(Some(&db), &dir, &rehearse_options()).await;
    let report = report.expect("rehearse");
    assert_eq!(differences(&report), Vec::<(i64, String)>::new());
    for m in &report.migrations {
        assert_eq!(m.verdict(false), Verdict::RoundTrip, "{}: {m:?}", m.version);
    }
    assert_eq!(report.migrations.len(), 5);
    assert!(!report.failed());
    assert_eq!(disagreements(&report), Vec::<String>::new());
    assert_eq!(report.exit_code(), 0);
    let Source::Copy(copy) = &report.source else {
        panic!("a copy of the configured database: {:?}", report.source);
    };
    assert_eq!((copy.tables, copy.history_rows), (4, 1), "{copy:?}");
    assert!(copy.warnings.is_empty(), "{:?}", copy.warnings);
    assert!(report.server.same_major);
    // One progress report per migration, in order.
    let rehearsed: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            RehearsalEvent::MigrationRehearsed { rehearsal } => Some(rehearsal.version),
            _ => None,
        })
        .collect();
    assert_eq!(rehearsed, vec![2, 3, 4, 5, 6]);

    // The whole history, from an empty database: the same set passes there too.
    let all = RehearseOptions {
        all: true,
        ..rehearse_options()
    };
    let (report, _) = run_rehearsal(Some(&db), &dir, &all).await;
    let report = report.expect("rehearse --all");
    assert!(matches!(report.source, Source::All));
    assert_eq!(report.migrations.len(), 6);
    for m in &report.migrations {
        assert_eq!(m.verdict(false), Verdict::RoundTrip, "{}: {m:?}", m.version);
    }
}

/// The foreign-key check of a written row takes ROW SHARE on the referenced table; on a copy
/// without data an UPDATE writes no row, so the server only reads that table. Not a disagreement
/// (kratos's 17 `UPDATE … SET nid = (SELECT id FROM networks …)` were); an INSERT that writes a
/// row takes the check's lock as predicted. A key whose column and table were renamed still
/// locks its referenced table when the column's type changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_of_written_rows_and_renamed_keys_agree_with_the_server() {
    let dir = Dir::with(&[
        (
            "1_base.sql",
            "CREATE TABLE networks (id int PRIMARY KEY);\n\
             CREATE TABLE flows (id int, nid int, FOREIGN KEY (nid) REFERENCES networks (id));\n",
        ),
        (
            "2_renames.sql",
            "ALTER TABLE flows RENAME COLUMN nid TO network_id;\n\
             ALTER TABLE networks RENAME TO nets;\n",
        ),
        (
            "3_backfill.sql",
            "UPDATE flows SET network_id = (SELECT id FROM nets LIMIT 1);\n",
        ),
        (
            "4_seed.sql",
            "INSERT INTO nets VALUES (1);\nINSERT INTO flows VALUES (1, 1);\n",
        ),
        (
            "5_widen.sql",
            "ALTER TABLE flows ALTER COLUMN network_id TYPE bigint;\n",
        ),
    ]);
    let report = rehearsed_on_base(&dir).await;
    assert_eq!(disagreements(&report), Vec::<String>::new());
    let observed = |version: i64, statement: usize, table: &str| {
        report
            .migrations
            .iter()
            .find(|m| m.version == version)
            .and_then(|m| m.statements.get(statement))
            .and_then(|s| s.observed.iter().find(|o| o.target == table))
            .map(|o| o.mode)
    };
    use lockstep::analysis::LockMode;
    assert_eq!(observed(3, 0, "nets"), Some(LockMode::AccessShare));
    assert_eq!(observed(4, 1, "nets"), Some(LockMode::RowShare));
    assert_eq!(observed(5, 0, "nets"), Some(LockMode::AccessExclusive));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_up_is_reported_with_its_statement() {
    let dir = Dir::with(&[
        ("1_base.up.sql", "CREATE TABLE t (id int);\n"),
        ("1_base.down.sql", "DROP TABLE t;\n"),
        (
            "2_break.up.sql",
            "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE missing_table ADD COLUMN b int;\n",
        ),
        ("2_break.down.sql", "ALTER TABLE t DROP COLUMN a;\n"),
        ("3_later.up.sql", "CREATE INDEX t_id ON t (id);\n"),
        ("3_later.down.sql", "DROP INDEX t_id;\n"),
    ]);
    let db = configured_with_base(&dir).await;
    let (report, _) = run_rehearsal(Some(&db), &dir, &rehearse_options()).await;
    let report = report.expect("rehearse");
    let broken = &report.migrations[0];
    let Outcome::Failed { failure, statement } = &broken.up.outcome else {
        panic!("the UP of 2 fails: {:?}", broken.up.outcome);
    };
    assert_eq!(failure.statement, Some(1));
    assert_eq!(failure.line, Some(2));
    assert_eq!(failure.sqlstate.as_deref(), Some("42P01"));
    assert!(failure.message.contains("missing_table"), "{failure:?}");
    assert_eq!(
        statement.as_deref(),
        Some("ALTER TABLE missing_table ADD COLUMN b int")
    );
    assert_eq!(
        broken.statements.len(),
        1,
        "the statement that ran is traced"
    );
    assert!(matches!(broken.down.outcome, Outcome::NotRun { .. }));
    assert_eq!(report.migrations[1].verdict(false), Verdict::NotRun);
    // A migration the failure kept from running says why once, not once per phase.
    let later = render::plain(&render::migration(&report.migrations[1], false));
    assert_eq!(
        later.lines().nth(1).map(str::trim),
        Some("not run: migration 2 failed before it"),
        "{later}"
    );
    assert_eq!(report.exit_code(), 1);
    let text = render::plain(&render::migration(broken, false));
    assert!(
        text.contains("✗ up failed at statement 2 (line 2): relation \"missing_table\" does not exist (SQLSTATE 42P01)")
            && text.contains("ALTER TABLE missing_table ADD COLUMN b int"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialized_views_are_as_populated_on_the_copy_as_in_the_database() {
    // A schema-only dump creates materialized views WITH NO DATA: a REFRESH CONCURRENTLY, or a
    // read, would fail on the copy where it does not for real; one never populated still fails.
    let dir = Dir::with(&[
        (
            "1_base.up.sql",
            "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t SELECT generate_series(1, 10);\n\
             CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;\nCREATE UNIQUE INDEX mv_id ON mv (id);\n\
             CREATE MATERIALIZED VIEW mv_of_mv AS SELECT count(*) AS n FROM mv;\n\
             CREATE MATERIALIZED VIEW never AS SELECT id FROM t WITH NO DATA;\n",
        ),
        ("1_base.down.sql", "DROP TABLE t CASCADE;\n"),
        (
            "2_refresh.up.sql",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;\nCREATE TABLE counted AS SELECT n FROM mv_of_mv;\n",
        ),
        ("2_refresh.down.sql", "DROP TABLE counted;\n"),
        (
            "3_read_never.up.sql",
            "CREATE TABLE copied AS SELECT id FROM never;\n",
        ),
        ("3_read_never.down.sql", "DROP TABLE copied;\n"),
    ]);
    let report = rehearsed_on_base(&dir).await;
    let refreshed = &report.migrations[0];
    assert_eq!(
        refreshed.verdict(false),
        Verdict::RoundTrip,
        "{}",
        render::plain(&render::migration(refreshed, false))
    );
    let Outcome::Failed { failure, .. } = &report.migrations[1].up.outcome else {
        panic!(
            "reading an unpopulated view fails: {:?}",
            report.migrations[1].up.outcome
        );
    };
    assert_eq!(failure.sqlstate.as_deref(), Some("55000"), "{failure:?}");
    assert!(failure.message.contains("never"), "{failure:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observed_locks_are_the_tracers_ground_truth() {
    let base = "\
CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, amount int);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, g, g FROM generate_series(1, 20) g;
CREATE TYPE mood AS ENUM ('ok');
";
    let statements = [
        "CREATE INDEX users_email_idx ON users (email)",
        "ALTER TABLE users ADD COLUMN nickname text",
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
        "ALTER TABLE orders ALTER COLUMN amount TYPE bigint",
        "ALTER TYPE mood ADD VALUE 'meh'",
        "UPDATE users SET email = lower(email) WHERE id < 5",
    ];
    let up: String = statements.iter().map(|s| format!("{s};\n")).collect();
    let dir = Dir::with(&[
        ("1_base.up.sql", base),
        (
            "1_base.down.sql",
            "DROP TYPE mood;\nDROP TABLE orders, users;\n",
        ),
        ("2_locks.up.sql", &up),
        (
            "2_locks.down.sql",
            "ALTER TABLE orders ALTER COLUMN amount TYPE int;\nALTER TABLE orders DROP CONSTRAINT orders_user_fk;\nALTER TABLE users DROP COLUMN nickname;\nDROP INDEX users_email_idx;\n",
        ),
    ]);
    let db = configured_with_base(&dir).await;
    // With the rows, so that the UPDATE finds the same rows as on the twin.
    let options = RehearseOptions {
        sample_rows: 100,
        ..rehearse_options()
    };
    let (report, _) = run_rehearsal(Some(&db), &dir, &options).await;
    let report = report.expect("rehearse");
    let rehearsed = &report.migrations[0];
    assert!(matches!(rehearsed.up.outcome, Outcome::Ok), "{rehearsed:?}");

    // The tracer on an identical database, in one rolled-back transaction.
    let twin = configured_with_base(&dir).await;
    let twin_catalog = catalog_of(&twin).await;
    let mut conn = conn(&twin).await;
    let sql: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
    let truth = trace(&mut conn, &sql, &TraceOptions::default())
        .await
        .expect("trace");
    assert_eq!(truth.statements.len(), statements.len());
    assert_eq!(rehearsed.statements.len(), statements.len());
    for (seen, truth) in rehearsed.statements.iter().zip(&truth.statements) {
        assert_eq!(seen.text, truth.sql);
        assert_eq!(
            seen.observed,
            observed_locks(&truth.new_locks),
            "{}",
            seen.text
        );
        let tables: Vec<String> = truth
            .rewritten
            .iter()
            .filter(|r| twin_catalog.has_table(r))
            .cloned()
            .collect();
        assert_eq!(seen.rewritten, tables, "{}", seen.text);
        assert_eq!(
            seen.rows_affected,
            truth.rows_affected.unwrap(),
            "{}",
            seen.text
        );
    }
    // Not vacuous: the locks and the rewrite the statements are known for.
    let mode = |i: usize, target: &str| {
        rehearsed.statements[i]
            .observed
            .iter()
            .find(|o| o.target == target)
            .map(|o| o.mode.to_string())
    };
    assert_eq!(mode(0, "users").as_deref(), Some("SHARE"));
    assert_eq!(mode(2, "users").as_deref(), Some("SHARE ROW EXCLUSIVE"));
    assert_eq!(mode(4, "type mood").as_deref(), Some("EXCLUSIVE"));
    assert_eq!(
        rehearsed.statements[3].rewritten,
        vec!["orders".to_string()]
    );
    assert_eq!(rehearsed.statements[5].rows_affected, 4);
    conn.close().await.unwrap();
}

/// A lock an earlier statement of the migration's transaction took is not taken again, so the
/// server shows the later statement taking none: the report names the statement that holds it,
/// rather than "observed no new lock" beside the prediction (seen rehearsing trigger.dev's
/// migrations, where it read as a disagreement the summary did not count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_taken_by_an_earlier_statement_is_named_as_held() {
    let dir = on_users(
        "2_two_columns",
        "ALTER TABLE users ADD COLUMN a int;\n\nALTER TABLE users ADD COLUMN b int;\n",
        "ALTER TABLE users DROP COLUMN b;\nALTER TABLE users DROP COLUMN a;\n",
    );
    let report = rehearsed_on_base(&dir).await;
    let rehearsed = &report.migrations[0];
    let [first, second] = rehearsed.statements.as_slice() else {
        panic!("two statements: {rehearsed:?}");
    };
    let modes = |s: &lockstep::rehearse::StatementRehearsal| -> Vec<String> {
        s.observed
            .iter()
            .map(|o| format!("{} {}", o.mode, o.target))
            .collect()
    };
    assert_eq!(modes(first), ["ACCESS EXCLUSIVE users"]);
    assert!(first.held.is_empty(), "{:?}", first.held);
    // The server's own record: nothing new on users in the second statement.
    assert_eq!(modes(second), Vec::<String>::new());
    assert_eq!(
        second.held,
        vec![HeldLock {
            target: "users".into(),
            object: false,
            mode: lockstep::analysis::LockMode::AccessExclusive,
            since_statement: 0,
            since_line: 1,
        }]
    );
    assert_eq!(disagreements(&report), Vec::<String>::new());
    let shown = render::plain(&render::migration(rehearsed, false));
    assert!(
        shown.contains("held ACCESS EXCLUSIVE since #1") && !shown.contains("no new lock"),
        "{shown}"
    );
}

/// A file that runs its own `BEGIN … COMMIT` (Prisma's enum swaps do) runs as written: what
/// follows its COMMIT runs outside any transaction, so its locks go at the end of each statement.
/// They are sampled while the statement runs, as a `-- no-transaction` file's are, not read after
/// it and reported as "no new lock" against the analysis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statements_after_a_files_own_commit_are_sampled_not_read_after_they_commit() {
    let up = "\
BEGIN;
ALTER TABLE users ADD COLUMN nickname text;
COMMIT;
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint);
ALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
";
    let dir = on_users(
        "2_commits_early",
        up,
        "DROP TABLE posts;\nALTER TABLE users DROP COLUMN nickname;\n",
    );
    let report = rehearsed_on_base(&dir).await;
    let rehearsed = &report.migrations[0];
    assert!(matches!(rehearsed.up.outcome, Outcome::Ok), "{rehearsed:?}");
    let sampled: Vec<(&str, bool)> = rehearsed
        .statements
        .iter()
        .map(|s| (s.text.as_str(), s.sampled))
        .collect();
    assert_eq!(
        sampled,
        vec![
            ("BEGIN", true),
            ("ALTER TABLE users ADD COLUMN nickname text", false),
            ("COMMIT", false),
            (
                "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint)",
                true
            ),
            (
                "ALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id)",
                true
            ),
        ]
    );
    // The analysis' SHARE ROW EXCLUSIVE on users is not contradicted by a read after the commit.
    assert_eq!(disagreements(&report), Vec::<String>::new());
    assert!(
        rehearsed.statements[4]
            .predicted
            .iter()
            .any(|p| p.target == "users" && p.mode.to_string() == "SHARE ROW EXCLUSIVE"),
        "{:?}",
        rehearsed.statements[4].predicted
    );
    // Before the file's COMMIT, the locks are read in the transaction as usual.
    assert!(
        rehearsed.statements[1]
            .observed
            .iter()
            .any(|o| o.target == "users" && o.mode.to_string() == "ACCESS EXCLUSIVE"),
        "{:?}",
        rehearsed.statements[1].observed
    );
}

/// A transaction a file leaves open (begun by `… AND CHAIN`, or a BEGIN without a COMMIT) is
/// committed at its end, as `up` commits it: the next file does not run inside it (where
/// CONCURRENTLY fails, and the previous file's locks read as its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_a_file_leaves_open_is_committed_before_the_next_file() {
    let dir = Dir::with(&[
        (
            "1_base.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY);\n",
        ),
        (
            "2_chain.up.sql",
            "BEGIN;\nCREATE TABLE e (id int);\nROLLBACK AND CHAIN;\nCREATE TABLE f (id int);\n",
        ),
        (
            "3_open.up.sql",
            "-- no-transaction\nBEGIN;\nCREATE TABLE g (id int);\n",
        ),
        (
            "4_concurrently.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY g_id ON g (id);\n",
        ),
    ]);
    let report = rehearsed_on_base(&dir).await;
    for rehearsed in &report.migrations {
        assert!(
            matches!(rehearsed.up.outcome, Outcome::Ok),
            "{}: {:?}",
            rehearsed.version,
            rehearsed.up.outcome
        );
    }
    assert_eq!(report.migrations.len(), 3);
    assert_eq!(disagreements(&report), Vec::<String>::new());
}

/// A file that opens its own transaction may set its isolation level first (langfuse's backfill:
/// `BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; …`), which must come before any query:
/// the tracer reads no locks after BEGIN or SET, so the rehearsal runs the file as `up` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_files_own_transaction_sets_its_isolation_level_before_any_query() {
    let up = "\
BEGIN;
SET LOCAL lock_timeout = '5s';
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
ALTER TABLE users ADD COLUMN nickname text;
COMMIT;
";
    let dir = on_users(
        "2_isolated",
        up,
        "ALTER TABLE users DROP COLUMN nickname;\n",
    );
    let report = rehearsed_on_base(&dir).await;
    let rehearsed = &report.migrations[0];
    assert!(matches!(rehearsed.up.outcome, Outcome::Ok), "{rehearsed:?}");
    assert!(
        matches!(rehearsed.down.outcome, Outcome::Ok),
        "{rehearsed:?}"
    );
    // The statements that take locks are still read after they run.
    assert!(
        rehearsed.statements[3]
            .observed
            .iter()
            .any(|o| o.target == "users" && o.mode.to_string() == "ACCESS EXCLUSIVE"),
        "{:?}",
        rehearsed.statements[3].observed
    );
    assert_eq!(disagreements(&report), Vec::<String>::new());
}

/// Write counters of the database and whether any session but the caller's is connected to it.
async fn counters(admin: &mut sqlx::PgConnection, database: &str) -> (i64, i64, i64) {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *admin)
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(&mut *admin)
    .await
    .unwrap()
}

/// Waits until no session is connected to `database` (a session's statistics are flushed when it
/// ends), at most 20 s.
async fn until_no_session(admin: &mut sqlx::PgConnection, database: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sessions: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(database)
                .fetch_one(&mut *admin)
                .await
                .unwrap();
        if sessions == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sessions stay connected to {database}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn catalog_of(db: &Database) -> Catalog {
    let mut c = conn(db).await;
    let version = lockstep::db::server_version_num(&mut c).await.unwrap();
    let snapshot = catalog::snapshot(&mut c, version, true).await.unwrap();
    c.close().await.unwrap();
    snapshot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_database_is_only_read_through_read_only_sessions() {
    let dir = Dir::with(&[
        (
            "1_notes.up.sql",
            "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);\n\
             INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 5) g;\n",
        ),
        ("1_notes.down.sql", "DROP TABLE notes;\n"),
        (
            "2_tag_notes.up.sql",
            "ALTER TABLE notes ADD COLUMN tag text;\nUPDATE notes SET tag = 'x';\n\
             CREATE TABLE archive AS SELECT * FROM notes;\n",
        ),
        (
            "2_tag_notes.down.sql",
            "DROP TABLE archive;\nALTER TABLE notes DROP COLUMN tag;\n",
        ),
    ]);
    let db = configured_with_base(&dir).await;
    let database: String = {
        let mut c = conn(&db).await;
        let name = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        name
    };
    let mut admin = sqlx::PgConnection::connect(&server_url()).await.unwrap();
    let catalog_before = catalog_of(&db).await;
    let history_before = rows(&db).await;
    until_no_session(&mut admin, &database).await;
    let before = counters(&mut admin, &database).await;

    let options = RehearseOptions {
        sample_rows: 3,
        ..rehearse_options()
    };
    let (report, _) = run_rehearsal(Some(&db), &dir, &options).await;
    let report = report.expect("rehearse");
    let Source::Copy(copy) = &report.source else {
        panic!("a copy: {:?}", report.source);
    };
    assert!(copy.read_only, "the server reported the session read-only");
    assert_eq!((copy.sample_rows, copy.history_rows), (3, 1), "{copy:?}");
    // The data the UP made and the DOWN drops is flagged.
    let losses: Vec<&str> = report.migrations[0]
        .data_loss
        .iter()
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(
        losses,
        vec![
            "DOWN drops table `archive`, which the UP filled with rows",
            "DOWN drops column `notes.tag`, which the UP filled with values",
        ]
    );
    assert_eq!(report.migrations[0].verdict(false), Verdict::RoundTrip);

    until_no_session(&mut admin, &database).await;
    let after = counters(&mut admin, &database).await;
    assert_eq!(after, before, "no row was inserted, updated or deleted");
    assert_eq!(
        catalog_of(&db).await,
        catalog_before,
        "the schema is as it was"
    );
    assert_eq!(rows(&db).await, history_before, "the history is as it was");

    // The counters would have shown a write: one, then the same wait.
    let mut writer = conn(&db).await;
    sqlx::query("INSERT INTO notes (body) VALUES ('written')")
        .execute(&mut writer)
        .await
        .unwrap();
    writer.close().await.unwrap();
    until_no_session(&mut admin, &database).await;
    let written = counters(&mut admin, &database).await;
    assert_eq!(written.0, after.0 + 1, "a write shows in the counters");
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_empty_and_simple_downs_are_not_reversible_unless_required() {
    let dir = Dir::with(&[
        ("1_simple.sql", "CREATE TABLE a (id int);\n"),
        ("2_no_down_file.up.sql", "CREATE TABLE b (id int);\n"),
        ("3_empty_down.up.sql", "CREATE TABLE c (id int);\n"),
        ("3_empty_down.down.sql", "-- nothing to undo\n"),
        ("4_fine.up.sql", "CREATE TABLE d (id int);\n"),
        ("4_fine.down.sql", "DROP TABLE d;\n"),
    ]);
    let (report, _) = run_rehearsal(None, &dir, &rehearse_options()).await;
    let report = report.expect("rehearse on an empty database");
    assert!(matches!(report.source, Source::Empty));
    let reasons: Vec<String> = report
        .migrations
        .iter()
        .map(|m| match &m.down.outcome {
            Outcome::NotReversible { reason } => reason.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons[..3],
        [
            "a simple migration (no .down.sql)",
            "its .down.sql file is missing",
            "its .down.sql file has no statement",
        ]
    );
    assert_eq!(report.migrations[3].verdict(false), Verdict::RoundTrip);
    assert_eq!(report.exit_code(), 0, "not reversible is not a failure");
    assert_eq!(report.migrations[0].verdict(false), Verdict::NotReversible);

    let strict = RehearseOptions {
        require_down: true,
        to: Some(2),
        ..rehearse_options()
    };
    let (report, _) = run_rehearsal(None, &dir, &strict).await;
    let report = report.expect("rehearse --require-down --to 2");
    assert_eq!(report.migrations.len(), 2, "--to stops at 2");
    assert_eq!(report.migrations[0].verdict(true), Verdict::Failed);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_history_blames_only_the_down_that_forgot() {
    let dir = Dir::with(&[
        ("1_t.up.sql", "CREATE TABLE t (id int, name text);\n"),
        ("1_t.down.sql", "DROP TABLE t;\n"),
        (
            "2_index.up.sql",
            "CREATE INDEX IF NOT EXISTS t_name ON t (name);\n",
        ),
        ("2_index.down.sql", "COMMENT ON TABLE t IS NULL;\n"),
        ("3_column.up.sql", "ALTER TABLE t ADD COLUMN note text;\n"),
        ("3_column.down.sql", "ALTER TABLE t DROP COLUMN note;\n"),
    ]);
    let options = RehearseOptions {
        all: true,
        ..rehearse_options()
    };
    let (report, _) = run_rehearsal(None, &dir, &options).await;
    let report = report.expect("rehearse --all");
    assert_eq!(
        differences(&report),
        vec![(2, "index `t_name` still exists after DOWN".to_string())],
        "the index left by 2 is not blamed on 1"
    );
    let verdicts: Vec<Verdict> = report.migrations.iter().map(|m| m.verdict(false)).collect();
    assert_eq!(
        verdicts,
        vec![Verdict::RoundTrip, Verdict::Failed, Verdict::RoundTrip]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_rehearsal_stops_and_removes_its_scratch_database() {
    let dir = Dir::with(&[
        ("1_t.up.sql", "CREATE TABLE t (id int);\n"),
        ("1_t.down.sql", "DROP TABLE t;\n"),
        ("2_slow.up.sql", "SELECT pg_sleep(60);\n"),
        ("2_slow.down.sql", "SELECT 1;\n"),
    ]);
    let cancel = CancellationToken::new();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let set = dir.set();
    let options = rehearse_options();
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { rehearse(None, &set, &options, tx, cancel).await })
    };
    let mut admin = sqlx::PgConnection::connect(&server_url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let scratch = loop {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_stat_activity \
             WHERE application_name = 'lockstep:rehearse' AND query = 'SELECT pg_sleep(60)'",
        )
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        if let Some(name) = found {
            break name;
        }
        assert!(
            Instant::now() < deadline,
            "the slow statement never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(scratch.starts_with("lockstep_rehearsal_"), "{scratch}");
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the rehearsal stops")
        .unwrap();
    assert!(
        matches!(result, Err(RehearseError::Cancelled)),
        "{result:?}"
    );
    assert!(cancelled_at.elapsed() < Duration::from_secs(20));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&scratch)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "the scratch database {scratch} is dropped");
    admin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_rehearses_on_its_own_sandbox_with_exit_codes_and_json() {
    let dir = five_with_downs([
        "DROP INDEX conversations_status_idx;\n",
        "ALTER TABLE turns ALTER COLUMN token_count TYPE integer;\n",
        "COMMENT ON TABLE orders IS NULL;\n",
        "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('ok', 'sad');\nDROP TYPE mood_old;\n",
        "DROP TRIGGER orders_touch ON orders;\n",
    ]);
    let db = configured_with_base(&dir).await;
    let password = url::Url::parse(db.url())
        .unwrap()
        .password()
        .map(str::to_string);
    let cli = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("lockstep").unwrap();
        cmd.env("DATABASE_URL", db.url())
            .env_remove("LOCKSTEP_SCRATCH_SERVER")
            .env("NO_COLOR", "1")
            .arg("--source")
            .arg(&dir.path)
            .arg("rehearse")
            .args(args);
        cmd.output().unwrap()
    };
    let out = cli(&["--to", "4"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    for expected in [
        "✓ 2 index status",
        "✓ 3 widen token count",
        "✗ 4 validate amount",
        "constraint `orders_amount_positive` on `orders` is valid after DOWN, was NOT VALID",
        "conversations",
        "observed SHARE",
        "predicted SHARE",
        "on a copy of the schema of",
        "rehearsed 3 migrations",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("5 mood meh"), "--to 4 stops there");
    if let Some(password) = &password {
        assert!(
            !stdout.contains(password.as_str()) && !stderr.contains(password.as_str()),
            "the password is never printed"
        );
    }

    let out = cli(&["--json", "--to", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"]["kind"], "copy");
    assert_eq!(doc["source"]["read_only"], true);
    assert_eq!(doc["server"]["same_major"], true);
    assert_eq!(doc["migrations"][0]["version"], 2);
    assert_eq!(doc["migrations"][0]["down"]["outcome"], "ok");
    assert_eq!(
        doc["migrations"][0]["statements"][0]["observed"][0]["mode"],
        "Share"
    );
    assert_eq!(
        doc["migrations"][1]["statements"][0]["rewritten"][0],
        "turns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_configured_database_has_nothing_to_dump_and_every_migration_is_pending() {
    let db = fresh_database().await;
    let dir = three();
    let (report, _) = run_rehearsal(Some(&db), &dir, &rehearse_options()).await;
    let report = report.expect("rehearse");
    let Source::Copy(copy) = &report.source else {
        panic!("a copy: {:?}", report.source);
    };
    assert_eq!((copy.tables, copy.history_rows), (1, 0), "{copy:?}");
    let verdicts: Vec<Verdict> = report.migrations.iter().map(|m| m.verdict(false)).collect();
    assert_eq!(verdicts, vec![Verdict::RoundTrip; 3]);
    // The seed rows and the filled column go with the DOWNs.
    assert_eq!(report.migrations[0].data_loss.len(), 1);
    assert!(
        report.migrations[0].data_loss[0]
            .message
            .contains("widgets"),
        "{:?}",
        report.migrations[0].data_loss
    );
    assert!(
        !exists(&db, "_sqlx_migrations").await,
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_transaction_down_runs_in_the_runners_segments() {
    let dir = Dir::with(&[
        ("1_base.up.sql", "CREATE TABLE t (id int);\n"),
        ("1_base.down.sql", "DROP TABLE t;\n"),
        (
            "2_index.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\nALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;\n",
        ),
        (
            "2_index.down.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY t_id;\nALTER TABLE t DROP COLUMN b;\nALTER TABLE t DROP COLUMN a;\n",
        ),
        (
            "3_broken_down.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nALTER TABLE t ADD COLUMN c int;\n",
        ),
        (
            "3_broken_down.down.sql",
            "-- no-transaction\nDROP INDEX CONCURRENTLY t_a;\nALTER TABLE t DROP COLUMN c;\nALTER TABLE t DROP COLUMN nope;\n",
        ),
    ]);
    let db = configured_with_base(&dir).await;
    let (report, _) = run_rehearsal(Some(&db), &dir, &rehearse_options()).await;
    let report = report.expect("rehearse");
    let good = &report.migrations[0];
    assert_eq!(
        good.verdict(false),
        Verdict::RoundTrip,
        "{:?}",
        good.down.outcome
    );
    // The DOWN of 3: its two ALTERs are one transaction, as the runner sends them, so the
    // failing second one takes the first with it; only the concurrent drop stayed.
    let broken = &report.migrations[1];
    let Outcome::Failed { failure, .. } = &broken.down.outcome else {
        panic!("the DOWN of 3 fails: {:?}", broken.down.outcome);
    };
    assert_eq!(failure.statement, Some(2));
    assert_eq!(
        failure.completed,
        vec![0],
        "statement 2 was rolled back with 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_cancelled_while_pg_dump_waits_stops_at_once() {
    let dir = Dir::with(&[
        ("1_t.up.sql", "CREATE TABLE t (id int);\n"),
        ("1_t.down.sql", "DROP TABLE t;\n"),
        ("2_i.up.sql", "CREATE INDEX t_id ON t (id);\n"),
        ("2_i.down.sql", "DROP INDEX t_id;\n"),
    ]);
    let db = configured_with_base(&dir).await;
    // pg_dump needs ACCESS SHARE on t: it queues behind this lock for up to a minute.
    let mut holder = conn(&db).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut options = rehearse_options();
    options.run.lock_timeout = Some(Duration::from_secs(60));
    let cancel = CancellationToken::new();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let set = dir.set();
    let task = {
        let (cancel, db) = (cancel.clone(), db.detached());
        tokio::spawn(async move { rehearse(Some(&db), &set, &options, tx, cancel).await })
    };
    let mut watcher = conn(&db).await;
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = \
                   'lockstep:rehearse:read-only' AND wait_event_type = 'Lock'";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar(waiting)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pg_dump never queued behind the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the rehearsal stops")
        .unwrap();
    assert!(
        matches!(result, Err(RehearseError::Cancelled)),
        "{result:?}"
    );
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(15),
        "stopped after {:?}, not when pg_dump's lock wait ended",
        cancelled_at.elapsed()
    );
    // pg_dump was killed: its session goes away while the lock is still held.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = sqlx::query_scalar(waiting)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pg_dump still waits after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
}
