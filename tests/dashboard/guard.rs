//! Issue 14 in the dashboard: the environment in the status bar, the guard's plan in the
//! confirmation (the data kept and where, the environment's typed confirmation), the health
//! check on demand (`H`), and a dashboard-driven run on a production-like environment that
//! writes the schema snapshot and keeps the data a DROP COLUMN drops (on a real server, through
//! the background task the dashboard uses).

use std::path::Path;
use std::sync::Arc;

use crossterm::event::KeyCode;
use lockstep::config::{ConfirmPolicy, SnapshotPolicy};
use lockstep::guard::{Environment, GuardPlan, PlannedCopy};
use lockstep::health::{Check, Item, Report};
use lockstep::runner::{Direction, Operation, RunEvent, RunOptions};
use lockstep::status::Status;
use lockstep::tui::app::{App, Effect, Event, Overlay};
use lockstep::tui::confirm::GuardState;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::screens::{cell_fg, clean_app, feed, key, now, render};

/// A production environment as `[environments.production]` with `production = true` makes it.
fn production(project: &Path) -> Environment {
    let mut env = Environment::direct(project, Some("postgres://app:***@localhost:5432/app"));
    env.name = "production".into();
    env.configured = true;
    env.production_like = true;
    env.why = "production = true in lockstep.toml".into();
    env.snapshot = SnapshotPolicy::Required;
    env.confirm = ConfirmPolicy::TypeDatabaseName;
    env.keep_data = true;
    env
}

/// The clean set (1–4 applied, 7 pending) in the production environment.
fn production_app() -> App {
    clean_app().with_environment(production(Path::new("/srv/app")))
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{8}T\d{6}\.\d{3}Z", "[UTC]");
    settings.add_filter(r"\d+(\.\d+)? (µs|ms|s)\b", "[TIME]");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

#[test]
fn the_status_bar_names_a_production_environment_in_red() {
    let mut app = production_app();
    for (width, height) in [(80, 24), (120, 35)] {
        let terminal = render(&mut app, width, height);
        snapshot(&format!("guard_status_bar_{width}x{height}"), &terminal);
        assert_eq!(
            cell_fg(&terminal, "production (production-like)"),
            Color::Red
        );
    }
    // A local environment is named in green, and the database follows when it has none.
    let mut local = clean_app().with_environment(Environment::direct(Path::new("/srv/app"), None));
    let terminal = render(&mut local, 120, 35);
    assert_eq!(cell_fg(&terminal, "sandbox"), Color::Green);
    assert!(
        terminal
            .backend()
            .to_string()
            .contains("sandbox  postgres://lockstep@127.0.0.1:5/x"),
        "{}",
        terminal.backend()
    );
}

#[test]
fn a_read_only_environment_opens_the_dashboard_read_only() {
    let mut env = production(Path::new("/srv/app"));
    env.read_only = true;
    let mut app = clean_app().with_environment(env);
    assert!(app.data.read_only);
    key(&mut app, KeyCode::Char('G'));
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    assert!(app.overlay.is_none(), "nothing to confirm: it cannot run");
    assert!(
        app.message.as_deref().unwrap().starts_with("read-only"),
        "{:?}",
        app.message
    );
}

/// The guard's plan for applying 7 in production: the snapshot, and the email column kept
/// before statement 2.
fn guard_plan(app: &App) -> GuardPlan {
    let environment = app.data.environment.clone().unwrap();
    let run_dir = environment
        .snapshot_dir
        .join("app-20260101T120000.000Z-up-7");
    let destruction = lockstep::analysis::destructive::find("ALTER TABLE users DROP COLUMN email;")
        .pop()
        .unwrap();
    GuardPlan {
        environment,
        database: "app".into(),
        server_version_num: 150018,
        operation: "up",
        steps: vec![(Direction::Apply, 7)],
        run_dir,
        snapshot: SnapshotPolicy::Required,
        snapshot_skipped_by_flag: false,
        keep_data: true,
        copies: vec![PlannedCopy {
            direction: Direction::Apply,
            version: 7,
            statement: 1,
            line: 5,
            destruction,
            estimate: 4_300_000,
            exists: true,
            at_most: false,
        }],
        limit: 1 << 30,
    }
}

#[test]
fn the_confirmation_lists_the_data_kept_and_asks_for_the_database_name() {
    let mut app = production_app();
    key(&mut app, KeyCode::Char('G'));
    let effects = key(&mut app, KeyCode::Char('a'));
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects.contains(&Effect::PrepareGuard {
        operation: Operation::Up { to: Some(7) }
    }));
    assert!(effects.contains(&Effect::FindBlockers {
        tables: vec!["users".to_string()]
    }));
    // Until the guard's plan is in, nothing runs.
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("still being planned"),
        "{:?}",
        app.message
    );
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("the confirmation is open")
    };
    assert_eq!(confirm.guard, GuardState::Preparing);

    let plan = guard_plan(&app);
    feed(&mut app, Event::Guarded(Ok(Box::new(plan.clone()))));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("the confirmation is open")
    };
    assert_eq!(
        confirm.challenge.as_deref(),
        Some("app"),
        "the database name"
    );
    let body = confirm.body_text();
    for line in plan.lines() {
        assert!(body.contains(&line), "{line:?} in:\n{body}");
    }
    assert!(
        body.contains("data kept before 1 destructive statement"),
        "{body}"
    );
    for (width, height) in [(80, 24), (120, 35)] {
        let terminal = render(&mut app, width, height);
        snapshot(&format!("guard_confirm_{width}x{height}"), &terminal);
        assert!(
            terminal
                .backend()
                .to_string()
                .contains("(type-database-name): type app and"),
            "{}",
            terminal.backend()
        );
    }

    // The version is not the answer; the database name is, and the run takes the plan.
    key(&mut app, KeyCode::Char('7'));
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Backspace);
    for c in "app".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Run {
            operation: Operation::Up { to: Some(7) },
            expected: vec![(Direction::Apply, 7)],
            guard: Some(Box::new(plan)),
        }]
    );
}

#[test]
fn copies_over_the_limit_refuse_the_run() {
    let mut app = production_app();
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    let mut plan = guard_plan(&app);
    plan.limit = 1 << 20;
    feed(&mut app, Event::Guarded(Ok(Box::new(plan))));
    // The environment's own confirmation is not asked for a run that cannot start.
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .starts_with("the run cannot start: the data to keep"),
        "{:?}",
        app.message
    );
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("the confirmation stays open")
    };
    assert!(confirm.body_text().contains("Refused: "));
}

fn report() -> Report {
    Report {
        items: vec![
            Item {
                check: Check::InvalidIndex,
                object: "public.users_email_idx".into(),
                detail: "INVALID (a failed or interrupted CREATE INDEX CONCURRENTLY)".into(),
                action: "DROP INDEX CONCURRENTLY public.users_email_idx; then create it again"
                    .into(),
            },
            Item {
                check: Check::IdleInTransaction,
                object: "pid 4711".into(),
                detail: "idle in transaction for 2m05s (alice · psql)".into(),
                action: "end it: SELECT pg_terminate_backend(4711)".into(),
            },
        ],
        response_ms: 0.4,
        response_before_ms: None,
    }
}

#[test]
fn h_checks_health_in_the_background_and_shows_the_report() {
    let mut app = clean_app();
    assert_eq!(key(&mut app, KeyCode::Char('H')), vec![Effect::CheckHealth]);
    assert!(matches!(app.overlay, Overlay::Health(_)));
    let checking = render(&mut app, 80, 24).backend().to_string();
    assert!(checking.contains("Checking"), "{checking}");
    feed(&mut app, Event::Health(Ok(report())));
    assert_eq!(
        app.message.as_deref(),
        Some("health check: 2 items need action")
    );
    for (width, height) in [(80, 24), (120, 35)] {
        let terminal = render(&mut app, width, height);
        snapshot(&format!("health_report_{width}x{height}"), &terminal);
        let screen = terminal.backend().to_string();
        for line in report().render().lines() {
            assert!(
                screen.contains(line.trim()) || width < 100,
                "{line:?}:\n{screen}"
            );
        }
        assert_eq!(cell_fg(&terminal, "public.users_email_idx"), Color::Yellow);
    }
    // H checks again; any other key closes.
    assert_eq!(key(&mut app, KeyCode::Char('H')), vec![Effect::CheckHealth]);
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.overlay.is_none());
    // Read-only may check: it only reads.
    let (set, _) = crate::screens::every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(
        &mut ro,
        Event::Status(Ok((set.clone(), Status::build(&set, None)))),
    );
    assert_eq!(key(&mut ro, KeyCode::Char('H')), vec![Effect::CheckHealth]);
}

/// Writes `files` (name, SQL) into a new migrations directory.
pub(crate) fn migrations(
    files: &[(&str, &str)],
) -> (tempfile::TempDir, lockstep::source::MigrationSet) {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let set = lockstep::source::load(dir.path(), &Default::default()).unwrap();
    (dir, set)
}

/// Runs `operation` as the dashboard does after a confirmation, with `guard`, and returns
/// every event the background task reported.
async fn dashboard_run(
    db: &Arc<lockstep::db::Database>,
    set: &lockstep::source::MigrationSet,
    operation: Operation,
    guard: Option<GuardPlan>,
) -> Vec<Event> {
    let (task, rx) = crate::run::start(db, set, operation, guard, Default::default()).await;
    crate::run::all_events(task, rx).await
}

pub(crate) async fn status(
    db: &lockstep::db::Database,
    set: &lockstep::source::MigrationSet,
    options: &RunOptions,
) -> Status {
    let mut conn = db.connect("test").await.unwrap();
    let rows = lockstep::runner::read_history(&mut conn, &options.table)
        .await
        .unwrap();
    Status::build(set, rows.as_deref())
}

pub(crate) fn done(events: &[Event]) -> &Result<String, String> {
    events
        .iter()
        .find_map(|e| match e {
            Event::RunDone(result) => Some(result),
            _ => None,
        })
        .expect("the run reports its end")
}

const CREATE: (&str, &str) = (
    "1_create_users.sql",
    "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);\n\
     INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 500) i;\n",
);
const DROP: (&str, &str) = ("2_drop_email.sql", "ALTER TABLE users DROP COLUMN email;\n");

/// The guard's plan for `set` on `db` in a production environment keeping its snapshots in
/// `snaps`, as the dashboard prepares it before the confirmation.
async fn prepare(
    db: &lockstep::db::Database,
    set: &lockstep::source::MigrationSet,
    snaps: &Path,
) -> GuardPlan {
    let mut env = production(snaps);
    env.database = Some(db.display_url());
    env.snapshot_dir = snaps.to_path_buf();
    let options = RunOptions::from_config(&lockstep::config::Config::default());
    let status = status(db, set, &options).await;
    let plan = lockstep::runner::plan(Operation::Up { to: None }, set, &status, false).unwrap();
    GuardPlan::prepare(db, &env, &plan, &Default::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dashboard_run_in_production_writes_the_snapshot_and_keeps_the_dropped_data() {
    let db = Arc::new(lockstep::testing::fresh_database().await);
    let (_first, set) = migrations(&[CREATE]);
    let events = dashboard_run(&db, &set, Operation::Up { to: None }, None).await;
    assert!(done(&events).is_ok(), "{events:?}");

    let (_both, set) = migrations(&[CREATE, DROP]);
    let snaps = tempfile::tempdir().unwrap();
    let guard = prepare(&db, &set, snaps.path()).await;
    assert_eq!(guard.copies.len(), 1, "{:?}", guard.lines());
    let events = dashboard_run(&db, &set, Operation::Up { to: None }, Some(guard.clone())).await;
    assert!(done(&events).is_ok(), "{events:?}");

    let schema = guard.snapshot_path();
    let text = std::fs::read_to_string(&schema).unwrap();
    assert!(
        text.contains("CREATE TABLE public.users") && text.contains("email text NOT NULL"),
        "the snapshot holds the schema before the run:\n{text}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::RunNote(line) if line == &format!("schema snapshot: {}", schema.display())
        )),
        "the run pane says where the snapshot is: {events:?}"
    );
    let kept = events
        .iter()
        .find_map(|e| match e {
            Event::Run(RunEvent::DataKept {
                version, tables, ..
            }) => Some((*version, tables.clone())),
            _ => None,
        })
        .expect("the data copy is reported in the run's events");
    assert_eq!(kept.0, 2);
    assert_eq!(kept.1[0].rows, 500);
    assert!(kept.1[0].file.starts_with(&guard.run_dir), "{kept:?}");

    // The run is in the audit trail with its environment, its snapshot and its statement, and
    // the History pane shows it.
    let settings = lockstep::audit::AuditSettings::default();
    let query = lockstep::audit::HistoryQuery {
        limit: 1,
        run: None,
        statements: true,
    };
    let history = lockstep::audit::load(&db, &settings, query).await.unwrap();
    let run = &history.runs[0];
    assert_eq!(run.command, "lockstep (dashboard) up");
    assert_eq!(run.environment.as_deref(), Some("production"));
    assert_eq!(
        run.snapshot.as_deref(),
        Some(schema.display().to_string().as_str())
    );
    assert_eq!(
        run.migrations[0].statements[0].first_line,
        "ALTER TABLE users DROP COLUMN email"
    );

    // The run log says it in the engine's words.
    let mut app = clean_app();
    app.run
        .start(Operation::Up { to: None }, crate::screens::now());
    for event in events {
        feed(&mut app, event);
    }
    let log: Vec<String> = app
        .run
        .log()
        .iter()
        .filter_map(|entry| match entry {
            lockstep::tui::run::LogEntry::Run(line) => Some(line.text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        log.iter().any(|l| l.contains("kept before statement 1")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_failed_snapshot_stops_the_dashboard_run_before_anything_changes() {
    let db = Arc::new(lockstep::testing::fresh_database().await);
    let (_first, set) = migrations(&[CREATE]);
    dashboard_run(&db, &set, Operation::Up { to: None }, None).await;
    let (_both, set) = migrations(&[CREATE, DROP]);
    let snaps = tempfile::tempdir().unwrap();
    let mut guard = prepare(&db, &set, snaps.path()).await;
    // The snapshot directory cannot be created (a file is in the way): no snapshot.
    let blocker = snaps.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    guard.run_dir = blocker.join("run");
    let events = dashboard_run(&db, &set, Operation::Up { to: None }, Some(guard)).await;
    let Err(why) = done(&events) else {
        panic!("the run must not start: {events:?}")
    };
    assert!(
        why.starts_with("the schema snapshot could not be written, so the run did not start")
            && why.contains("a-file/run"),
        "{why}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Run(_))),
        "no run event: {events:?}"
    );
    let options = RunOptions::from_config(&lockstep::config::Config::default());
    let after = status(&db, &set, &options).await;
    assert_eq!(
        after.recorded().map(|v| v.version).collect::<Vec<_>>(),
        vec![1],
        "2 is still pending"
    );
}
