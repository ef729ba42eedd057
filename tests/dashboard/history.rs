//! The History pane (`7`): past runs from the audit trail, newest first, with their statements'
//! timings, lock waits and blockers in the engine's words.

use crossterm::event::KeyCode;
use lockstep::audit::{Blocker, History, MigrationRecord, Outcome, RunRecord, StatementRecord};
use lockstep::tui::app::{Bottom, Effect, Event, Pane};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use crate::screens::{cell_fg, clean_app, feed, key, render};

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

fn statement(index: i32, text: &str, ms: f64) -> StatementRecord {
    StatementRecord {
        attempt: 1,
        index,
        line: Some(index * 3 + 1),
        sha256: "0".repeat(64),
        first_line: text.into(),
        started_at: at(10),
        duration_ms: Some(ms),
        lock_wait_ms: None,
        waiting_for: None,
        blocker: None,
        rows_affected: Some(0),
        error: None,
    }
}

fn run(id: i64, outcome: Outcome, migrations: Vec<MigrationRecord>) -> RunRecord {
    RunRecord {
        id,
        outcome,
        ended_unrecorded: false,
        lockstep_version: "0.1.0".into(),
        os_user: Some("alice".into()),
        host: Some("laptop".into()),
        database_user: "app".into(),
        command: "lockstep up --env production".into(),
        environment: Some("production".into()),
        snapshot: Some("/srv/app/.lockstep/snapshots/app-up-7/schema.sql".into()),
        snapshot_skipped: false,
        started_at: at(id * 100),
        finished_at: Some(at(id * 100 + 4)),
        duration_ms: Some(4200.0),
        error: (outcome == Outcome::Failed).then(|| "lockstep up failed".to_string()),
        migrations,
    }
}

fn migration(version: i64, outcome: Outcome, statements: Vec<StatementRecord>) -> MigrationRecord {
    MigrationRecord {
        version,
        description: format!("step {version}"),
        action: "apply".into(),
        in_transaction: Some(true),
        started_at: at(10),
        finished_at: Some(at(12)),
        duration_ms: Some(2100.0),
        attempts: 1,
        outcome,
        message: None,
        statements,
    }
}

/// Two runs, newest first: one that waited behind an idle transaction and then failed, one
/// that succeeded.
pub(super) fn history() -> History {
    let mut waited = statement(1, "ALTER TABLE users ADD COLUMN name text", 3012.5);
    waited.lock_wait_ms = Some(3000.0);
    waited.waiting_for = Some("ACCESS EXCLUSIVE on users".into());
    waited.blocker = Some(Blocker {
        pid: 4711,
        user: Some("bob".into()),
        application: Some("psql".into()),
        query: Some("SELECT count(*) FROM users".into()),
    });
    waited.error = Some("canceling statement due to lock timeout".into());
    History {
        schema: "lockstep_audit".into(),
        exists: true,
        runs: vec![
            run(
                2,
                Outcome::Failed,
                vec![migration(
                    8,
                    Outcome::Failed,
                    vec![statement(0, "SET LOCAL lock_timeout = '3s'", 0.2), waited],
                )],
            ),
            run(
                1,
                Outcome::Succeeded,
                vec![migration(
                    7,
                    Outcome::Succeeded,
                    vec![statement(0, "CREATE TABLE orders (id bigint)", 4.1)],
                )],
            ),
        ],
    }
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d+(\.\d+)? (µs|ms|s)\b", "[TIME]");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

#[test]
fn seven_reads_the_audit_in_the_background_and_shows_past_runs_newest_first() {
    let mut app = clean_app();
    assert_eq!(
        key(&mut app, KeyCode::Char('7')),
        vec![Effect::LoadHistory { limit: 50 }]
    );
    assert_eq!((app.bottom, app.focus), (Bottom::History, Pane::Bottom));
    let reading = render(&mut app, 120, 35).backend().to_string();
    assert!(reading.contains("reading the audit trail"), "{reading}");
    feed(&mut app, Event::History(Ok(history())));
    for (width, height) in [(80, 24), (120, 35)] {
        let terminal = render(&mut app, width, height);
        snapshot(&format!("history_{width}x{height}"), &terminal);
        let screen = terminal.backend().to_string();
        assert!(
            screen.contains("7 History — 2 runs, newest first"),
            "{screen}"
        );
        if height >= 35 {
            assert!(screen.contains("waited"), "the lock wait: {screen}");
            assert!(screen.contains("held by pid 4711"), "the blocker: {screen}");
        }
        assert_eq!(cell_fg(&terminal, "run 2"), Color::Red, "a failed run");
    }
    let text: Vec<String> = app
        .history
        .lines()
        .iter()
        .map(|line| line.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let heading = |id: &str| text.iter().position(|l| l.starts_with(id)).unwrap();
    assert!(
        heading("run 2 ") < heading("run 1 "),
        "newest first: {text:#?}"
    );
    let screen = render(&mut app, 120, 35).backend().to_string();
    // j/k scroll the pane; Ctrl-r reads it again; 3 goes back to the run pane.
    key(&mut app, KeyCode::Char('j'));
    let scrolled = render(&mut app, 120, 35).backend().to_string();
    assert_ne!(scrolled, screen);
    let effects = feed(
        &mut app,
        Event::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('r'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    assert!(
        effects.contains(&Effect::LoadHistory { limit: 50 }),
        "{effects:?}"
    );
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.bottom, Bottom::Run);
}

#[test]
fn the_history_pane_says_when_there_is_no_audit_yet_or_it_cannot_be_read() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('7'));
    feed(
        &mut app,
        Event::History(Ok(History {
            schema: "lockstep_audit".into(),
            exists: false,
            runs: vec![],
        })),
    );
    let screen = render(&mut app, 120, 35).backend().to_string();
    assert!(
        screen.contains("no audit trail yet (schema lockstep_audit)"),
        "{screen}"
    );
    feed(&mut app, Event::History(Err("permission denied".into())));
    let screen = render(&mut app, 120, 35).backend().to_string();
    assert!(
        screen.contains("the audit trail could not be read: permission denied"),
        "{screen}"
    );
}
