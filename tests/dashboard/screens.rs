//! Main screens on a TestBackend, from synthetic state covering every migration state.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lockstep::history::AppliedRow;
use lockstep::runner::{Direction, Failure, LockHolder, Operation, RunEvent};
use lockstep::source::{Migration, MigrationFile, MigrationSet, checksum};
use lockstep::status::Status;
use lockstep::tui::app::{App, Effect, Event, Overlay};
use lockstep::tui::{highlight, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn file(name: &str, sql: &str, no_tx: bool) -> MigrationFile {
    MigrationFile {
        path: PathBuf::from(format!("migrations/{name}")),
        sql: sql.into(),
        checksum: checksum(sql, &[]),
        no_transaction: no_tx,
    }
}

fn migration(version: i64, description: &str, up: &str, down: Option<&str>) -> Migration {
    let stem = format!("{version}_{}", description.replace(' ', "_"));
    Migration {
        version,
        description: description.into(),
        up: file(
            &format!("{stem}.up.sql"),
            up,
            up.starts_with("-- no-transaction"),
        ),
        down: down.map(|d| file(&format!("{stem}.down.sql"), d, false)),
    }
}

fn row(m: &Migration, success: bool, drift: bool) -> AppliedRow {
    AppliedRow {
        version: m.version,
        description: m.description.clone(),
        installed_on: chrono::DateTime::from_timestamp(1_790_000_000 + m.version, 0).unwrap(),
        success,
        checksum: if drift {
            vec![0; 48]
        } else {
            m.checksum().to_vec()
        },
        execution_time: 12_345_678,
    }
}

/// A set with every state: applied, drifted, missing, failed, out of order, pending.
fn every_state() -> (MigrationSet, Status) {
    let ms = vec![
        migration(
            1,
            "create users",
            "CREATE TABLE users (\n    id bigserial PRIMARY KEY,\n    email text NOT NULL\n);\n",
            Some("DROP TABLE users;\n"),
        ),
        migration(
            2,
            "add email index",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            Some("DROP INDEX users_email;\n"),
        ),
        migration(
            3,
            "edited after apply",
            "ALTER TABLE users ADD COLUMN name text;\n",
            Some("ALTER TABLE users DROP COLUMN name;\n"),
        ),
        migration(
            4,
            "branch merged late",
            "CREATE TABLE audit (id int);\n",
            Some("DROP TABLE audit;\n"),
        ),
        migration(
            7,
            "add orders",
            "CREATE TABLE orders (\n    id bigserial PRIMARY KEY,\n    user_id bigint NOT NULL REFERENCES users (id)\n);\nINSERT INTO orders (user_id) SELECT id FROM users;\n",
            Some("DROP TABLE orders;\n"),
        ),
        migration(
            8,
            "seed",
            "INSERT INTO users (email) VALUES ('a@b.c');\n",
            None,
        ),
    ];
    let mut rows = vec![
        row(&ms[0], true, false),
        row(&ms[1], true, false),
        row(&ms[2], true, true),
    ];
    rows.push(AppliedRow {
        version: 5,
        description: "file deleted".into(),
        ..row(&ms[0], true, false)
    });
    rows.push(AppliedRow {
        version: 6,
        description: "half done".into(),
        ..row(&ms[0], false, false)
    });
    let set = MigrationSet {
        dir: PathBuf::from("migrations"),
        migrations: ms,
        problems: vec![],
    };
    let status = Status::build(&set, Some(&rows));
    (set, status)
}

fn app() -> App {
    let (set, status) = every_state();
    let mut app = App::new(
        set.clone(),
        "postgres://app:***@localhost:5432/app_dev".into(),
        false,
        false,
        false,
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    feed(&mut app, Event::ServerVersion("15.18".into()));
    app
}

/// Applies an event and carries out the highlighting effects synchronously, as the loop would.
fn feed(app: &mut App, event: Event) -> Vec<Effect> {
    let mut effects = app.handle(event);
    let mut others = Vec::new();
    while let Some(effect) = effects.pop() {
        match effect {
            Effect::Highlight { key, text } => {
                effects.extend(app.handle(Event::Highlighted {
                    key,
                    lines: highlight::highlight_sql(&text),
                }));
            }
            other => others.push(other),
        }
    }
    others
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    feed(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    terminal
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d\d-\d\d \d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d+(\.\d+)? (µs|ms|s)\b", "[TIME]");
    settings.add_filter(r"\d\d:\d\d\.\d\d\d", "[CLOCK]");
    settings.add_filter(r"pid \d+", "pid [PID]");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

fn cell_fg(terminal: &Terminal<TestBackend>, text: &str) -> Color {
    let buffer = terminal.backend().buffer();
    let area = buffer.area;
    for y in 0..area.height {
        let line: String = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte) = line.find(text) {
            let x = line[..byte].chars().count() as u16;
            return buffer[(x, y)].fg;
        }
    }
    panic!("{text:?} is not on screen");
}

#[test]
fn the_list_shows_every_state_with_its_colour() {
    let app = app();
    let terminal = render(&app, 140, 30);
    snapshot("list_every_state", &terminal);
    assert_eq!(cell_fg(&terminal, "✗"), Color::Red, "failed is red");
    assert_eq!(cell_fg(&terminal, "≠"), Color::Red, "drift is red");
    assert_eq!(
        cell_fg(&terminal, "↯"),
        Color::Yellow,
        "out of order is yellow"
    );
    assert_eq!(cell_fg(&terminal, "✓"), Color::Green);
}

#[test]
fn the_preview_is_highlighted_with_line_numbers_and_toggles_to_down() {
    let mut app = app();
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('k'));
    let terminal = render(&app, 140, 30);
    snapshot("preview_up", &terminal);
    assert_ne!(
        cell_fg(&terminal, "CREATE TABLE orders"),
        Color::Reset,
        "SQL is highlighted"
    );
    key(&mut app, KeyCode::Char('d'));
    let terminal = render(&app, 140, 30);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("DROP TABLE orders;"), "{screen}");
    assert!(screen.contains("2 DOWN 7 add orders"));
}

/// Applied 1-4, pending 7 (no failed row, so runs are allowed).
fn clean_app() -> App {
    let (mut set, _) = every_state();
    set.migrations.truncate(5);
    let rows: Vec<AppliedRow> = set.migrations[..4]
        .iter()
        .map(|m| row(m, true, false))
        .collect();
    let status = Status::build(&set, Some(&rows));
    let mut app = App::new(
        set.clone(),
        "postgres://lockstep@127.0.0.1:5/x".into(),
        true,
        false,
        false,
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    app
}

#[test]
fn the_confirmation_shows_what_runs_and_defaults_to_cancel() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    let effects = key(&mut app, KeyCode::Char('a'));
    assert!(effects.is_empty(), "nothing runs before confirming");
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    let terminal = render(&app, 140, 34);
    snapshot("confirm_apply", &terminal);
    // Enter on the default button cancels; `a` again does not confirm.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn confirming_starts_the_run_with_the_plan_shown() {
    // The status has a failed row, so lockstep refuses (as sqlx): fix that state first.
    let (mut set, _) = every_state();
    set.migrations.truncate(2);
    let status = Status::build(&set, Some(&[row(&set.migrations[0], true, false)]));
    let mut app = App::new(
        set.clone(),
        "postgres://lockstep@127.0.0.1:5/x".into(),
        true,
        false,
        false,
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    assert!(
        key(&mut app, KeyCode::Char('a')).is_empty(),
        "the opening key does not confirm"
    );
    let effects = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        effects,
        vec![Effect::Run {
            operation: Operation::Up { to: Some(2) },
            expected: vec![(Direction::Apply, 2)]
        }]
    );
}

#[test]
fn a_remote_database_asks_to_type_the_version() {
    let (mut set, _) = every_state();
    set.migrations.truncate(1);
    let status = Status::build(&set, None);
    let mut app = App::new(
        set.clone(),
        "postgres://app:***@db.prod.example.com/app".into(),
        false,
        true,
        false,
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    key(&mut app, KeyCode::Char('a'));
    assert!(
        key(&mut app, KeyCode::Char('y')).is_empty(),
        "y alone is not enough"
    );
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Backspace);
    for c in "1".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Run { .. }]),
        "{effects:?}"
    );
}

fn running_app() -> App {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('y'));
    for event in [
        RunEvent::Connected {
            backend_pid: 4242,
            server_version: "15.18".into(),
        },
        RunEvent::LockAcquired {
            waited: Duration::from_millis(1),
        },
        RunEvent::MigrationStarted {
            version: 7,
            description: "add orders".into(),
            direction: Direction::Apply,
            in_transaction: true,
            statements: 2,
        },
        RunEvent::StatementStarted {
            version: 7,
            index: 0,
            line: 1,
            text: "CREATE TABLE orders (...)".into(),
        },
        RunEvent::StatementFinished {
            version: 7,
            index: 0,
            elapsed: Duration::from_millis(3),
            rows_affected: 0,
        },
        RunEvent::StatementStarted {
            version: 7,
            index: 1,
            line: 5,
            text: "INSERT INTO orders (user_id) SELECT id FROM users".into(),
        },
    ] {
        feed(&mut app, Event::Run(event));
    }
    app
}

#[test]
fn a_run_in_progress_shows_the_statement_timer_and_progress() {
    let mut app = running_app();
    let terminal = render(&app, 140, 30);
    snapshot("run_in_progress", &terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("stmt 2 line 5"), "{screen}");
    assert!(screen.contains("1/2 statements"));
    // Keys still work while it runs, and c asks before cancelling.
    key(&mut app, KeyCode::Char('c'));
    assert_eq!(app.overlay, Overlay::ConfirmCancel);
    assert_eq!(
        key(&mut app, KeyCode::Char('y')),
        vec![Effect::Cancel { pid: 4242 }]
    );
}

#[test]
fn a_failure_highlights_the_failing_line() {
    let mut app = running_app();
    feed(
        &mut app,
        Event::Run(RunEvent::MigrationFailed {
            version: 7,
            direction: Direction::Apply,
            failure: Failure {
                statement: Some(1),
                line: Some(5),
                column: Some(40),
                sqlstate: Some("42P01".into()),
                message: "relation \"users\" does not exist".into(),
                detail: None,
                hint: None,
                in_transaction: true,
                partial: false,
                completed: vec![0],
            },
        }),
    );
    feed(
        &mut app,
        Event::RunDone(Err(
            "migration 7 (add orders) failed to apply at statement 2 (line 5)".into(),
        )),
    );
    key(&mut app, KeyCode::Char('1'));
    let terminal = render(&app, 140, 30);
    snapshot("run_failed", &terminal);
    let buffer = terminal.backend().buffer();
    let screen = terminal.backend().to_string();
    let row = screen
        .lines()
        .position(|l| l.contains("5 INSERT INTO orders"))
        .expect("line 5 on screen");
    let line = screen.lines().nth(row).unwrap();
    let col = line.find("5 INSERT").unwrap();
    // The TestBackend's text has a leading quote per line.
    let x = line[..col].chars().count() as u16 - 1;
    assert_eq!(
        buffer[(x, row as u16)].bg,
        Color::Red,
        "the failing line's number is on red"
    );
}

#[test]
fn the_help_lists_every_key() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    let terminal = render(&app, 120, 30);
    snapshot("help", &terminal);
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.overlay, Overlay::None, "any key closes the help");
}

#[test]
fn a_lock_holder_and_a_lost_connection_show_in_the_status_bar() {
    let mut app = app();
    feed(
        &mut app,
        Event::LockHolder(Some(LockHolder {
            pid: 77,
            application_name: Some("deployer".into()),
            user: None,
            state: None,
            query: None,
            session_age_secs: None,
        })),
    );
    feed(
        &mut app,
        Event::Status(Err(
            "cannot connect to postgres://app:***@localhost/app_dev".into(),
        )),
    );
    let screen = render(&app, 160, 30).backend().to_string();
    assert!(screen.contains("migration lock (sqlx): pid 77"), "{screen}");
    assert!(screen.contains("cannot connect") && screen.contains("retrying"));
    assert!(app.status.is_some(), "the last good status stays on screen");
}

#[test]
fn filter_command_line_and_read_only() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    for c in "order".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible().len(), 1);
    assert_eq!(app.selected_version().unwrap().version, 7);

    let (set, _) = every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true);
    feed(
        &mut ro,
        Event::Status(Ok((set.clone(), Status::build(&set, None)))),
    );
    assert!(key(&mut ro, KeyCode::Char('A')).is_empty());
    assert!(ro.message.as_deref().unwrap().contains("read-only"));

    key(&mut app, KeyCode::Char(':'));
    for c in "down 2".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    // Migration 6 is recorded as failed: lockstep refuses, as sqlx does, and says why.
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("recorded as failed"),
        "{:?}",
        app.message
    );
}

#[test]
fn tiny_terminals_never_panic() {
    let mut app = running_app();
    for (w, h) in [(1, 1), (10, 3), (20, 6), (30, 8), (45, 12)] {
        render(&app, w, h);
    }
    key(&mut app, KeyCode::Char('?'));
    render(&app, 12, 5);
}

#[test]
fn the_new_migration_editor_saves_description_up_and_down() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.overlay, Overlay::NewMigration);
    for c in "add tags".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Tab);
    for c in "CREATE TABLE tags (id int);".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Tab);
    for c in "DROP TABLE tags;".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let terminal = render(&app, 120, 24);
    snapshot("new_migration_editor", &terminal);
    let effects = feed(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
    );
    assert_eq!(
        effects,
        vec![Effect::SaveMigration {
            description: "add tags".into(),
            up: "-- Add up migration script here\nCREATE TABLE tags (id int);\n".into(),
            down: "-- Add down migration script here\nDROP TABLE tags;\n".into(),
        }]
    );
    feed(
        &mut app,
        Event::Saved(Ok(vec![PathBuf::from("migrations/9_add_tags.up.sql")])),
    );
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("9_add_tags.up.sql")
    );
}
