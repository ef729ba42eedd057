//! Who applied each version and when, in the list and the preview, read by the status watcher
//! (in the background, as the dashboard runs it) from lockstep's audit when it recorded the
//! apply, else from `_sqlx_migrations.installed_on`; on a real PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Local, Utc};
use lockstep::audit::render::local_time;
use lockstep::audit::{AuditSettings, Recorder, RunEnd, RunInfo, Tap};
use lockstep::db::{Database, UrlSource};
use lockstep::history::HistoryTable;
use lockstep::runner::{Operation, RunOptions, Runner};
use lockstep::status::watch::StatusWatcher;
use lockstep::testing::fresh_database;
use lockstep::tui::app::{App, Event};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sqlx::Row;
use tokio::sync::mpsc;

use super::layouts::screen;
use super::rehearsal::select;
use super::screens::{feed, now, render};

/// The database user the migrations are applied as: one name on every server, so the list's
/// columns are as wide on each.
const DEPLOY: &str = "deploy";

const FILES: [(&str, &str); 3] = [
    (
        "1_create_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
    ),
    (
        "2_create_orders.sql",
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n",
    ),
    (
        "3_add_order_note.sql",
        "ALTER TABLE orders ADD COLUMN note text;\n",
    ),
];

async fn conn(db: &Database) -> sqlx::PgConnection {
    db.connect("test").await.expect("a connection")
}

/// `db` reached as the role [`DEPLOY`] (created once per server), which may create the audit's
/// schema in it and tables in `public`.
async fn as_deploy(db: &Database) -> Database {
    let mut c = conn(db).await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut c)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {DEPLOY} LOGIN PASSWORD 'pw';
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
         GRANT CREATE ON DATABASE \"{name}\" TO {DEPLOY};
         GRANT CREATE ON SCHEMA public TO {DEPLOY};"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_username(DEPLOY).unwrap();
    url.set_password(Some("pw")).unwrap();
    Database::at(url.to_string(), UrlSource::Environment)
}

fn migrations() -> (tempfile::TempDir, lockstep::source::MigrationSet) {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in FILES {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let set = lockstep::source::load(dir.path(), &Default::default()).unwrap();
    (dir, set)
}

fn options() -> RunOptions {
    RunOptions::from_config(&lockstep::config::Config::default())
}

/// Applies up to `to` as `lockstep up --to` does: the runner, its events recorded by the audit
/// in `settings` (`None`: as sqlx, or with the audit off). Returns the run's id in the audit.
async fn up(
    db: &Database,
    set: &lockstep::source::MigrationSet,
    to: i64,
    settings: Option<&AuditSettings>,
) -> Option<i64> {
    let (events, _received) = mpsc::unbounded_channel();
    let (recorder, sink) = match settings {
        Some(settings) => {
            let (tap, sink) = Tap::new(events);
            let info = RunInfo::command(format!("lockstep up --to {to}"));
            let recorder = Recorder::begin(db, settings, &info, tap).await.unwrap();
            (Some(recorder), sink)
        }
        None => (None, events),
    };
    let mut runner = Runner::connect(db, options(), sink).await.unwrap();
    runner
        .run(Operation::Up { to: Some(to) }, set)
        .await
        .unwrap();
    runner.close().await;
    let recorder = recorder?;
    let id = recorder.run_id();
    recorder.finish(RunEnd::Succeeded).await.unwrap();
    Some(id)
}

/// The dashboard's status watcher on `db` and `dir`, reading the audit in `audit`.
fn watcher(db: &Arc<Database>, dir: &Path, audit: Option<AuditSettings>) -> StatusWatcher {
    StatusWatcher::new(
        db.clone(),
        dir.to_path_buf(),
        Default::default(),
        HistoryTable::new("_sqlx_migrations"),
    )
    .with_audit(audit)
}

/// A dashboard fed what the watcher's look found, as the loop feeds it.
async fn dashboard(watcher: &mut StatusWatcher) -> App {
    let mut app = App::new(
        lockstep::source::MigrationSet {
            dir: watcher.dir().to_path_buf(),
            migrations: Vec::new(),
            problems: Vec::new(),
        },
        format!("postgres://{DEPLOY}:***@127.0.0.1/app"),
        false,
        false,
        false,
        now(),
    );
    look(&mut app, watcher).await;
    app
}

/// One forced look of the watcher, its events fed to `app`.
async fn look(app: &mut App, watcher: &mut StatusWatcher) {
    let seen = watcher.look(true).await.expect("the status is read");
    assert!(seen.applied.is_some(), "who applied comes with the status");
    for event in lockstep::tui::observed(seen) {
        feed(app, event);
    }
}

/// The list's row of `version` on screen.
fn list_row(app: &App, lines: &[String], version: i64) -> String {
    let list = app.areas().migrations;
    lines
        .iter()
        .skip(usize::from(list.y + 1))
        .take(usize::from(list.height.saturating_sub(2)))
        .map(|l| {
            l.chars()
                .skip(usize::from(list.x))
                .take(usize::from(list.width))
                .collect::<String>()
        })
        .find(|l| l.contains(&format!(" {version} ")))
        .unwrap_or_else(|| panic!("no row of {version}:\n{}", lines.join("\n")))
}

/// The preview's text on screen, its rows joined by spaces (its sentences wrap).
fn preview_text(app: &App, lines: &[String]) -> String {
    let preview = app.areas().preview;
    let rows: Vec<String> = lines
        .iter()
        .skip(usize::from(preview.y + 1))
        .take(usize::from(preview.height.saturating_sub(2)))
        .map(|l| {
            l.chars()
                .skip(usize::from(preview.x + 1))
                .take(usize::from(preview.width.saturating_sub(2)))
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect();
    rows.join(" ")
}

fn short_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%m-%d %H:%M").to_string()
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[WHEN]");
    // A sentence may wrap between the date and the time of day.
    settings.add_filter(r"\d{4}-\d\d-\d\d", "[DATE]");
    settings.add_filter(r"\d\d:\d\d:\d\d", "[HH:MM:SS]");
    settings.add_filter(r"\d\d-\d\d \d\d:\d\d", "[WHEN]");
    settings.add_filter(r"PostgreSQL \d+\.\d+( \([^)]*\))?", "PostgreSQL [VERSION]");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

/// What the audit recorded of the apply of `version`: when it ended, and the run's OS user and
/// host.
async fn recorded(db: &Database, version: i64) -> (DateTime<Utc>, Option<String>, Option<String>) {
    let row = sqlx::query(
        "SELECT m.finished_at, r.os_user, r.host FROM lockstep_audit.migrations m \
         JOIN lockstep_audit.runs r ON r.id = m.run_id WHERE m.version = $1",
    )
    .bind(version)
    .fetch_one(&mut conn(db).await)
    .await
    .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Every migration's recorded duration made the same, for snapshots.
async fn same_durations(db: &Database) {
    sqlx::query("UPDATE _sqlx_migrations SET execution_time = 12345678")
        .execute(&mut conn(db).await)
        .await
        .unwrap();
}

async fn installed_on(db: &Database, version: i64) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT installed_on FROM _sqlx_migrations WHERE version = $1")
        .bind(version)
        .fetch_one(&mut conn(db).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_list_and_the_preview_say_who_applied_each_version_from_the_audit() {
    let admin = fresh_database().await;
    let db = Arc::new(as_deploy(&admin).await);
    let (dir, set) = migrations();
    let settings = AuditSettings::default();
    let run = up(&db, &set, 2, Some(&settings)).await.expect("recorded");
    let mut watcher = watcher(&db, dir.path(), Some(settings));
    let mut app = dashboard(&mut watcher).await;
    let (at, os_user, host) = recorded(&db, 1).await;
    let who = match (&os_user, &host) {
        (Some(user), Some(host)) => format!("{user}@{host}"),
        (Some(user), None) => user.clone(),
        _ => panic!("the audit records the OS user"),
    };
    select(&mut app, 1);

    // At 160 columns the list has room for the time applied and who applied it.
    let terminal = render(&mut app, 160, 45);
    let lines = screen(&terminal);
    let row = list_row(&app, &lines, 1);
    assert!(row.contains(&short_time(at)), "the audit's time: {row}");
    assert!(row.contains(DEPLOY), "the database user: {row}");
    assert!(
        !list_row(&app, &lines, 3).contains(DEPLOY),
        "3 is pending: no one applied it"
    );
    let preview = preview_text(&app, &lines);
    let sentence = format!(
        "applied by {DEPLOY} at {} ({who}, run {run})",
        local_time(at)
    );
    assert!(preview.contains(&sentence), "{sentence}\n{preview}");

    // Narrower, who applied it goes first (before the time applied); the preview still says it.
    let terminal = render(&mut app, 120, 35);
    let lines = screen(&terminal);
    let row = list_row(&app, &lines, 1);
    assert!(row.contains(&short_time(at)), "{row}");
    assert!(!row.contains(DEPLOY), "{row}");
    assert!(preview_text(&app, &lines).contains(&sentence));
    let terminal = render(&mut app, 80, 24);
    let lines = screen(&terminal);
    assert!(!list_row(&app, &lines, 1).contains(DEPLOY));
    assert!(
        preview_text(&app, &lines).contains(&format!("applied by {DEPLOY} at {}", local_time(at))),
        "{}",
        lines.join("\n")
    );

    // The same screens with the OS account and host of every machine made one.
    sqlx::query("UPDATE lockstep_audit.runs SET os_user = 'alice', host = 'laptop'")
        .execute(&mut conn(&admin).await)
        .await
        .unwrap();
    same_durations(&admin).await;
    look(&mut app, &mut watcher).await;
    for (width, height) in [(80, 24), (120, 35), (160, 45)] {
        let terminal = render(&mut app, width, height);
        snapshot(&format!("applied_by_audit_{width}x{height}"), &terminal);
    }
    let screen_text = render(&mut app, 160, 45).backend().to_string();
    assert!(
        screen_text.contains(&format!("(alice@laptop, run {run})")),
        "{screen_text}"
    );
}

#[tokio::test]
async fn without_the_audit_schema_the_list_shows_the_history_time_only() {
    let admin = fresh_database().await;
    let db = Arc::new(as_deploy(&admin).await);
    let (dir, set) = migrations();
    assert_eq!(up(&db, &set, 2, None).await, None);
    let mut watcher = watcher(&db, dir.path(), Some(AuditSettings::default()));
    let mut app = dashboard(&mut watcher).await;
    assert!(
        app.data
            .applied
            .by_version
            .values()
            .all(|a| a.source == "history" && a.by.is_none()),
        "{:?}",
        app.data.applied
    );
    assert_eq!(app.data.applied.error, None, "no audit is not an error");
    let installed = installed_on(&db, 1).await;
    same_durations(&admin).await;
    look(&mut app, &mut watcher).await;
    select(&mut app, 1);
    for (width, height) in [(80, 24), (120, 35), (160, 45)] {
        let terminal = render(&mut app, width, height);
        let lines = screen(&terminal);
        let row = list_row(&app, &lines, 1);
        if width >= 120 {
            assert!(row.contains(&short_time(installed)), "{row}");
        }
        assert!(!row.contains(DEPLOY), "no one is named: {row}");
        let preview = preview_text(&app, &lines);
        assert!(
            preview.contains(&format!(
                "applied at {}; who applied it is not recorded",
                local_time(installed)
            )),
            "{preview}"
        );
        snapshot(&format!("applied_by_history_{width}x{height}"), &terminal);
    }
}

#[tokio::test]
async fn the_configured_audit_schema_is_read_and_audit_false_reads_none() {
    let admin = fresh_database().await;
    let db = Arc::new(as_deploy(&admin).await);
    let (dir, set) = migrations();
    let ops = AuditSettings {
        enabled: true,
        schema: "ops_audit".into(),
    };
    let run = up(&db, &set, 1, Some(&ops)).await.expect("recorded");
    let who_applied = |audit: Option<AuditSettings>| {
        let mut watcher = watcher(&db, dir.path(), audit);
        async move {
            let seen = watcher.look(true).await.unwrap();
            seen.applied.expect("with the status").by_version[&1].clone()
        }
    };
    let from_ops = who_applied(Some(ops.clone())).await;
    assert_eq!(from_ops.source, "audit");
    let by = from_ops.by.expect("the run that applied it");
    assert_eq!((by.run_id, by.database_user.as_str()), (run, DEPLOY));
    assert_eq!(by.command, "lockstep up --to 1");
    let elsewhere = who_applied(Some(AuditSettings::default())).await;
    assert_eq!(
        (elsewhere.source, elsewhere.by),
        ("history", None),
        "the default schema holds no audit here"
    );
    let off = who_applied(None).await;
    assert_eq!((off.source, off.by), ("history", None), "audit = false");
    assert_eq!(off.at, installed_on(&db, 1).await);
}

#[tokio::test]
async fn who_applied_follows_the_audit_when_the_history_did_not_change() {
    let admin = fresh_database().await;
    let db = Arc::new(as_deploy(&admin).await);
    let (dir, set) = migrations();
    up(&db, &set, 1, None).await;
    let settings = AuditSettings::default();
    let mut watcher = watcher(&db, dir.path(), Some(settings.clone()));
    let first = watcher.look(false).await.unwrap();
    assert_eq!(
        first.applied.expect("the first look").by_version[&1].source,
        "history"
    );
    assert!(
        watcher.look(false).await.unwrap().applied.is_none(),
        "nothing changed: nothing read again"
    );
    // The audit's record of that apply lands after the history row (its writes lag the
    // migration's commit by up to a tenth of a second).
    let mut c = conn(&db).await;
    lockstep::audit::schema::ensure(&mut c, &settings)
        .await
        .unwrap();
    sqlx::raw_sql(
        "WITH run AS (
             INSERT INTO lockstep_audit.runs (lockstep_version, os_user, host, command, outcome,
                 finished_at)
             VALUES ('0.1.0', 'bob', 'ci-7', 'lockstep up', 'succeeded', clock_timestamp())
             RETURNING id)
         INSERT INTO lockstep_audit.migrations (run_id, seq, version, description, action,
             started_at, finished_at, outcome)
         SELECT run.id, 1, 1, 'create users', 'apply', h.installed_on,
             h.installed_on + interval '10 ms', 'succeeded'
         FROM run, _sqlx_migrations h WHERE h.version = 1",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let seen = watcher.look(false).await.unwrap();
    assert!(seen.status.is_none(), "the status did not change");
    let applied = seen.applied.expect("the audit changed: read again");
    let by = applied.by_version[&1].by.as_ref().expect("from the audit");
    assert_eq!(
        (by.os_user.as_deref(), by.host.as_deref()),
        (Some("bob"), Some("ci-7"))
    );
    assert!(watcher.look(false).await.unwrap().applied.is_none());
    // A run that applied nothing (yet) changes the audit, not who applied anything.
    sqlx::raw_sql(
        "INSERT INTO lockstep_audit.runs (lockstep_version, command) VALUES ('0.1.0', 'lockstep up')",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let seen = watcher.look(false).await.unwrap();
    assert!(seen.status.is_none() && seen.applied.is_none(), "{seen:?}");
}

#[tokio::test]
async fn an_audit_that_cannot_be_read_leaves_the_history_and_says_why() {
    let admin = fresh_database().await;
    let db = Arc::new(as_deploy(&admin).await);
    let (dir, set) = migrations();
    let settings = AuditSettings::default();
    // Recorded by the database owner; the deploy role may not read it.
    up(&admin, &set, 1, Some(&settings))
        .await
        .expect("recorded");
    sqlx::raw_sql("GRANT SELECT ON _sqlx_migrations TO deploy")
        .execute(&mut conn(&admin).await)
        .await
        .unwrap();
    let mut watcher = watcher(&db, dir.path(), Some(settings));
    let mut app = dashboard(&mut watcher).await;
    let applied = &app.data.applied;
    assert_eq!(applied.by_version[&1].source, "history", "{applied:?}");
    let error = applied.error.clone().expect("why the audit says nothing");
    assert!(error.contains("permission denied"), "{error}");
    assert!(app.data.status.is_some(), "the status works without it");
    let screen_text = render(&mut app, 120, 35).backend().to_string();
    assert!(
        screen_text.contains("who applied each version is not known"),
        "{screen_text}"
    );
    // The same error on the next look is not said again, nor read again.
    app.message = None;
    let seen = watcher.look(false).await.unwrap();
    assert!(seen.applied.is_none());
    feed(
        &mut app,
        Event::Applied(lockstep::audit::AppliedVersions {
            by_version: Default::default(),
            error: Some(error),
        }),
    );
    assert_eq!(app.message, None);
}
