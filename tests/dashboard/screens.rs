//! Main screens on a TestBackend, from synthetic state covering every migration state.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lockstep::analysis::migrations::{analyze_pending, analyze_rest};
use lockstep::analysis::{LintOptions, Relation, RelationKind};
use lockstep::history::{AppliedRow, Progress};
use lockstep::runner::{Direction, Failure, LockHolder, Operation, Resolution, RunEvent};
use lockstep::source::{Migration, MigrationFile, MigrationSet, checksum};
use lockstep::status::Status;
use lockstep::tui::app::{App, Effect, Event, Overlay, Pane};
use lockstep::tui::question::Question;
use lockstep::tui::{editor, highlight, view};
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

pub(super) fn migration(
    version: i64,
    description: &str,
    up: &str,
    down: Option<&str>,
) -> Migration {
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

pub(super) fn row(m: &Migration, success: bool, drift: bool) -> AppliedRow {
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
pub(super) fn every_state() -> (MigrationSet, Status) {
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
    app_on(set, status)
}

/// The dashboard on `set` and `status`, as the status poller and the server report them.
fn app_on(set: MigrationSet, status: Status) -> App {
    let mut app = App::new(
        set.clone(),
        "postgres://app:***@localhost:5432/app_dev".into(),
        false,
        false,
        false,
        now(),
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    feed(
        &mut app,
        Event::ServerVersion {
            database: "app".into(),
            version: "15.18".into(),
            num: 150018,
        },
    );
    app
}

thread_local! {
    /// The time every event of a test happens at: screens with timers draw the same each run.
    static NOW: std::time::Instant = std::time::Instant::now();
}

/// The test's clock.
pub(super) fn now() -> std::time::Instant {
    NOW.with(|now| *now)
}

/// Applies an event and carries out the highlighting effects synchronously, as the loop would.
pub(super) fn feed(app: &mut App, event: Event) -> Vec<Effect> {
    let mut effects = app.handle(event, now());
    let mut others = Vec::new();
    while let Some(effect) = effects.pop() {
        match effect {
            Effect::Highlight { key, text } => {
                effects.extend(app.handle(
                    Event::Highlighted {
                        key,
                        lines: highlight::highlight_sql(&text),
                    },
                    now(),
                ));
            }
            Effect::Analyze {
                generation,
                pg_version,
                pending,
            } => {
                let options = LintOptions::for_session(pg_version, false, false);
                let set = app.data.set.clone();
                for files in [
                    analyze_pending(&set, &pending, &options),
                    analyze_rest(&set, &pending, &options),
                ] {
                    effects.extend(app.handle(Event::Analyzed { generation, files }, now()));
                }
            }
            Effect::AnalyzeDraft { draft, pg_version } => {
                let options = LintOptions::for_session(pg_version, false, false);
                effects.extend(app.handle(
                    Event::DraftAnalyzed {
                        generation: draft.generation,
                        findings: editor::analyse_draft(&draft, &options, &app.data.lint_policy),
                    },
                    now(),
                ));
            }
            other => others.push(other),
        }
    }
    others
}

pub(super) fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    feed(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Types `text` key by key.
pub(super) fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Draws `app` on a `width` × `height` screen (telling it the size first, as the loop does).
pub(super) fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    feed(app, Event::Resize(width, height));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, app)).unwrap();
    terminal
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d\d-\d\d \d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d+(\.\d+)? (µs|ms|s)\b", "[TIME]");
    settings.add_filter(r"\d\d:\d\d\.\d\d\d", "[CLOCK]");
    settings.add_filter(r"pid \d+", "pid [PID]");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

pub(super) fn cell_fg(terminal: &Terminal<TestBackend>, text: &str) -> Color {
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
    let mut app = app();
    let terminal = render(&mut app, 140, 30);
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
    let terminal = render(&mut app, 140, 30);
    snapshot("preview_up", &terminal);
    assert_ne!(
        cell_fg(&terminal, "CREATE TABLE orders"),
        Color::Reset,
        "SQL is highlighted"
    );
    key(&mut app, KeyCode::Char('d'));
    let terminal = render(&mut app, 140, 30);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("DROP TABLE orders;"), "{screen}");
    assert!(screen.contains("2 DOWN 7 add orders"));
}

/// Applied 1-4, pending 7 (no failed row, so runs are allowed).
pub(super) fn clean_app() -> App {
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
        now(),
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    app
}

#[test]
fn the_confirmation_shows_what_runs_and_defaults_to_cancel() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    let effects = key(&mut app, KeyCode::Char('a'));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Run { .. })),
        "nothing runs before confirming"
    );
    // The dialog asks who holds locks on the existing tables the plan touches.
    assert_eq!(
        effects,
        vec![Effect::FindBlockers {
            tables: vec!["users".to_string()]
        }]
    );
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    let terminal = render(&mut app, 140, 34);
    snapshot("confirm_apply", &terminal);
    // Enter on the default button cancels; `a` again does not confirm.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.overlay.is_none());
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
        now(),
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
            expected: vec![(Direction::Apply, 2)],
            guard: None,
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
        now(),
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

pub(super) fn running_app() -> App {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('y'));
    for event in [
        RunEvent::Connected {
            backend_pid: 4242,
            server_version: "15.18".into(),
            pooling: lockstep::pooler::Pooling::direct(vec![]),
        },
        RunEvent::LockAcquired {
            waited: Duration::from_millis(1),
            backend_pid: 4242,
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
    let terminal = render(&mut app, 140, 30);
    snapshot("run_in_progress", &terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("statement 2 of 2 · line 5"), "{screen}");
    assert!(screen.contains("1 of 2 statements done"), "{screen}");
    // Keys still work while it runs, and c asks before cancelling.
    key(&mut app, KeyCode::Char('c'));
    assert!(matches!(
        app.overlay,
        Overlay::Question(Question::CancelRun)
    ));
    assert_eq!(key(&mut app, KeyCode::Char('y')), vec![Effect::CancelRun]);
}

/// Quitting during a run says what is really under way: a migration (whose statement is
/// cancelled), or nothing on the server (the run is between migrations or finishing).
#[test]
fn quitting_during_a_run_says_whether_a_migration_is_under_way() {
    let mut app = running_app();
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert!(matches!(
        app.overlay,
        Overlay::Question(Question::Quit { migrating: true })
    ));
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("A migration is running. Quit?"), "{screen}");
    key(&mut app, KeyCode::Esc);

    // Committed: the run still releases its lock, writes its audit and checks health.
    for event in [
        RunEvent::StatementFinished {
            version: 7,
            index: 1,
            elapsed: Duration::from_millis(3),
            rows_affected: 2,
        },
        RunEvent::MigrationFinished {
            version: 7,
            direction: Direction::Apply,
            elapsed: Duration::from_millis(9),
        },
    ] {
        feed(&mut app, Event::Run(event));
    }
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert!(matches!(
        app.overlay,
        Overlay::Question(Question::Quit { migrating: false })
    ));
    // Whole at the smallest size: the answer keys under the text.
    for (width, height) in [(80, 24), (120, 30)] {
        let screen = render(&mut app, width, height).backend().to_string();
        assert!(
            screen.contains("No migration is under way. Quit?")
                && screen.contains("read as")
                && screen.contains("y yes · any other key no")
                && !screen.contains("A migration is running"),
            "{screen}"
        );
    }
    // (No further migration starts: the run is cancelled as the dashboard goes.)
    let effects = key(&mut app, KeyCode::Char('y'));
    assert!(
        effects.contains(&Effect::CancelRun) && effects.contains(&Effect::Quit),
        "{effects:?}"
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
                own_transactions: false,
                completed: vec![0],
                blocked_by: None,
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
    let terminal = render(&mut app, 140, 30);
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
    let terminal = render(&mut app, 120, 30);
    snapshot("help", &terminal);
    key(&mut app, KeyCode::Char('x'));
    assert!(app.overlay.is_none(), "any key closes the help");
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
            client: None,
            via_pooler: false,
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
    let screen = render(&mut app, 160, 30).backend().to_string();
    assert!(screen.contains("migration lock (sqlx): pid 77"), "{screen}");
    assert!(screen.contains("cannot connect") && screen.contains("retrying"));
    assert!(
        app.data.status.is_some(),
        "the last good status stays on screen"
    );
}

#[test]
fn a_transaction_pooler_and_a_lock_held_through_it_show_in_the_status_bar() {
    let mut app = app();
    feed(
        &mut app,
        Event::Pooling(lockstep::pooler::Pooling {
            pooler: Some("PgBouncer 1.18.0".into()),
            mode: lockstep::pooler::PoolMode::Transaction,
            mode_from: lockstep::pooler::ModeSource::Console,
            pooler_address: Some("10.0.0.5".into()),
            evidence: vec![],
        }),
    );
    feed(
        &mut app,
        Event::LockHolder(Some(LockHolder {
            pid: 77,
            application_name: Some("deployer".into()),
            user: None,
            client: Some("10.0.0.5".into()),
            via_pooler: true,
            state: None,
            query: None,
            session_age_secs: None,
        })),
    );
    let terminal = render(&mut app, 160, 30);
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("PgBouncer 1.18.0 · transaction pooling"),
        "{screen}"
    );
    assert_eq!(
        cell_fg(&terminal, "PgBouncer 1.18.0"),
        Color::Yellow,
        "a pooler without sessions stands out"
    );
    assert!(
        screen.contains("migration lock (sqlx): pid 77 via pooler 10.0.0.5"),
        "{screen}"
    );
}

#[test]
fn filter_command_line_and_read_only() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "orderz");
    key(&mut app, KeyCode::Backspace);
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(
        screen.contains("/order "),
        "the filter line is edited in place: {screen}"
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible().len(), 1);
    assert_eq!(app.selected_version().unwrap().version, 7);

    let (set, _) = every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(
        &mut ro,
        Event::Status(Ok((set.clone(), Status::build(&set, None)))),
    );
    assert!(key(&mut ro, KeyCode::Char('A')).is_empty());
    assert!(ro.message.as_deref().unwrap().contains("read-only"));

    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "down 2");
    key(&mut app, KeyCode::Enter);
    // Migration 6 is recorded as failed: lockstep refuses, as sqlx does, and says why.
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("recorded as partially applied or failed"),
        "{:?}",
        app.message
    );
}

/// An empty list says how to create the first migration and what the directory holds that is
/// not one; a filter that hides every version says so.
#[test]
fn an_empty_list_says_why() {
    let set = MigrationSet {
        dir: PathBuf::from("migrations"),
        migrations: Vec::new(),
        problems: vec![lockstep::source::Problem {
            severity: lockstep::source::Severity::Ignored,
            path: PathBuf::from("migrations/notaversion.sql"),
            line: None,
            message: "not a migration".into(),
        }],
    };
    let status = Status::build(&set, None);
    let mut empty = app_on(set, status);
    let screen = render(&mut empty, 120, 30).backend().to_string();
    assert!(
        screen.contains("no migrations yet: create one with"),
        "{screen}"
    );
    assert!(
        screen.contains("ignored: migrations/notaversion.sql: not a migration"),
        "{screen}"
    );

    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "zzz");
    key(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("no migration matches `zzz`"), "{screen}");
}

#[test]
fn the_reducer_takes_its_time_from_the_caller_never_the_clock() {
    // An hour before the test's clock: a reducer reading the clock would not keep it.
    let then = now() - Duration::from_secs(3600);
    let (set, status) = every_state();
    let mut app = App::new(set.clone(), "x".into(), false, false, false, then);
    assert_eq!(app.now, then, "App::new keeps the caller's time");
    app.handle(Event::Status(Ok((set, status))), then);
    assert_eq!(app.now, then, "an event keeps the time it came with");
}

#[test]
fn tiny_terminals_never_panic() {
    let mut app = running_app();
    for (w, h) in [(1, 1), (10, 3), (20, 6), (30, 8), (45, 12)] {
        render(&mut app, w, h);
    }
    key(&mut app, KeyCode::Char('?'));
    render(&mut app, 12, 5);
}

#[test]
fn the_new_migration_editor_saves_description_up_and_down() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('n'));
    assert!(matches!(app.overlay, Overlay::Editor(_)));
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
    let terminal = render(&mut app, 120, 24);
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
    assert!(app.overlay.is_none());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("9_add_tags.up.sql")
    );
}

/// Applied 1 (users); pending 9, an index build on the existing users table (error-level).
pub(super) fn index_app(remote: bool) -> App {
    let (mut set, _) = every_state();
    set.migrations.truncate(1);
    set.migrations.push(migration(
        9,
        "index users by email",
        "-- builds the index\nCREATE INDEX users_email_idx\n    ON users (email);\nSELECT 1;\n",
        Some("DROP INDEX users_email_idx;\n"),
    ));
    let status = Status::build(&set, Some(&[row(&set.migrations[0], true, false)]));
    let mut app = App::new(
        set.clone(),
        "postgres://lockstep@127.0.0.1:5/x".into(),
        true,
        remote,
        false,
        now(),
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    app
}

#[test]
fn findings_show_in_the_gutter_underlined_with_badges_and_counts() {
    let mut app = index_app(false);
    key(&mut app, KeyCode::Char('G'));
    let terminal = render(&mut app, 150, 32);
    snapshot("preview_with_findings", &terminal);
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("[require-concurrent-index]"),
        "the message is inline: {screen}"
    );
    assert!(
        screen.contains(" SHARE on users "),
        "the lock badge: {screen}"
    );
    assert!(screen.contains("blocks writes"), "{screen}");
    assert!(screen.contains("✗1"), "the list counts errors: {screen}");
    // The gutter mark, the message and the list count of a blocking finding are red.
    assert_eq!(cell_fg(&terminal, "✗2 "), Color::Red);
    assert_eq!(
        cell_fg(&terminal, "✗ error [require-concurrent-index]"),
        Color::Red
    );
    assert_eq!(cell_fg(&terminal, "✗1"), Color::Red);
    // The offending statement is underlined, the comment above it is not.
    let buffer = terminal.backend().buffer();
    let (x, y) = find(&terminal, "CREATE INDEX users_email_idx");
    assert!(
        buffer[(x, y)]
            .modifier
            .contains(ratatui::style::Modifier::UNDERLINED)
    );
    assert_eq!(buffer[(x, y)].underline_color, Color::Red);
    let (x, y) = find(&terminal, "-- builds the index");
    assert!(
        !buffer[(x, y)]
            .modifier
            .contains(ratatui::style::Modifier::UNDERLINED)
    );
}

/// The position of `text` on screen.
pub(super) fn find(terminal: &Terminal<TestBackend>, text: &str) -> (u16, u16) {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(byte) = line.find(text) {
            return (line[..byte].chars().count() as u16, y);
        }
    }
    panic!("{text:?} is not on screen");
}

#[test]
fn jumping_between_findings_scrolls_the_preview() {
    let (mut set, _) = every_state();
    set.migrations.truncate(1);
    let mut up = String::new();
    for i in 0..60 {
        up.push_str(&format!("SELECT {i};\n"));
    }
    up.push_str("CREATE INDEX far_away ON users (email);\n");
    set.migrations
        .push(migration(9, "far finding", &up, Some("SELECT 1;\n")));
    let status = Status::build(&set, Some(&[row(&set.migrations[0], true, false)]));
    let mut app = App::new(set.clone(), "x".into(), true, false, false, now());
    feed(&mut app, Event::Status(Ok((set, status))));
    render(&mut app, 120, 30);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.preview.scroll(), 0);
    key(&mut app, KeyCode::Char(']'));
    assert_eq!(
        app.preview.scroll(),
        58,
        "two lines of context above line 61"
    );
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("CREATE INDEX far_away"), "{screen}");
}

#[test]
fn error_findings_require_typing_the_version() {
    let mut app = index_app(false);
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(confirm.challenge.as_deref(), Some("9"));
    assert!(
        confirm
            .challenge_reason
            .as_deref()
            .is_some_and(|r| r.contains("error-level")),
        "{confirm:?}"
    );
    assert!(
        key(&mut app, KeyCode::Char('y')).is_empty(),
        "y does not confirm"
    );
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Char('9'));
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Run { .. }]),
        "{effects:?}"
    );
}

fn session(pid: i32, state: &str, query: &str) -> lockstep::monitor::Session {
    lockstep::monitor::Session {
        pid,
        datname: Some("app".into()),
        user: Some("alice".into()),
        application_name: Some("psql".into()),
        client: None,
        backend_type: Some("client backend".into()),
        state: Some(state.into()),
        wait_event_type: None,
        wait_event: None,
        backend_age_secs: Some(600.0),
        xact_age_secs: Some(125.0),
        query_age_secs: Some(125.0),
        state_age_secs: Some(120.0),
        leader_pid: None,
        query: Some(query.into()),
        is_lockstep: false,
        via_pooler: false,
        idle_in_transaction_too_long: state == "idle in transaction",
    }
}

#[test]
fn the_confirmation_lists_sessions_the_migration_would_queue_behind() {
    let mut app = index_app(false);
    key(&mut app, KeyCode::Char('G'));
    let effects = key(&mut app, KeyCode::Char('a'));
    assert_eq!(
        effects,
        vec![Effect::FindBlockers {
            tables: vec!["users".to_string()]
        }]
    );
    feed(
        &mut app,
        Event::Blockers(Ok(vec![lockstep::monitor::TableBlocker {
            table: "users".into(),
            mode: "AccessShareLock".into(),
            granted: true,
            session: session(777, "idle in transaction", "SELECT * FROM users"),
        }])),
    );
    let terminal = render(&mut app, 150, 34);
    snapshot("confirm_with_blockers", &terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("queue behind 1 session"), "{screen}");
    assert!(
        screen.contains("pid 777 holds ACCESS SHARE on users (alice · psql, idle in transaction"),
        "{screen}"
    );
    assert_eq!(cell_fg(&terminal, "pid 777"), Color::Red);
}

#[test]
fn a_long_plan_scrolls_in_the_confirmation() {
    let (mut set, _) = every_state();
    set.migrations.truncate(1);
    let up: String = (0..80).map(|i| format!("SELECT {i};\n")).collect();
    set.migrations.push(migration(9, "long", &up, None));
    let status = Status::build(&set, Some(&[row(&set.migrations[0], true, false)]));
    let mut app = App::new(set.clone(), "x".into(), true, false, false, now());
    feed(&mut app, Event::Status(Ok((set, status))));
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("more: ↓ PgDn End to scroll"), "{screen}");
    assert!(!screen.contains("SELECT 79"));
    key(&mut app, KeyCode::PageDown);
    for _ in 0..10 {
        key(&mut app, KeyCode::PageDown);
    }
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("SELECT 79"), "{screen}");
    assert!(
        matches!(app.overlay, Overlay::Confirm(_)),
        "scrolling keeps it open"
    );
}

#[test]
fn the_confirmation_shows_the_session_timeouts_a_run_sets_first() {
    let (mut set, _) = every_state();
    set.migrations.truncate(1);
    set.migrations.push(migration(
        9,
        "add",
        "ALTER TABLE users ADD COLUMN c int;",
        None,
    ));
    let status = Status::build(&set, Some(&[row(&set.migrations[0], true, false)]));
    let options = |pooled| lockstep::runner::RunOptions {
        table: lockstep::history::HistoryTable::new("_sqlx_migrations"),
        create_schemas: Vec::new(),
        lock_timeout: Some(Duration::from_secs(3)),
        statement_timeout: Some(Duration::from_secs(300)),
        lock_wait: Duration::from_secs(30),
        retries: 3,
        ignore_missing: false,
        pooled,
    };
    let confirm = |pooled| {
        let mut app = App::new(set.clone(), "x".into(), true, false, false, now())
            .with_run_options(&options(pooled));
        feed(&mut app, Event::Status(Ok((set.clone(), status.clone()))));
        key(&mut app, KeyCode::Char('G'));
        key(&mut app, KeyCode::Char('a'));
        render(&mut app, 120, 40).backend().to_string()
    };
    let screen = confirm(false);
    let first = screen.find("SET lock_timeout = '3000ms';").expect(&screen);
    assert!(
        screen.contains("SET statement_timeout = '300000ms';"),
        "{screen}"
    );
    assert!(
        first < screen.find("BEGIN;").expect(&screen),
        "the session is set before the migration's transaction: {screen}"
    );
    // A pooled run sets them in each transaction instead (SET LOCAL), not on the session.
    let pooled = confirm(true);
    assert!(!pooled.contains("SET lock_timeout"), "{pooled}");
}

#[test]
fn clicking_selects_a_migration_and_focuses_its_pane() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = app();
    render(&mut app, 140, 30);
    let click = |column, row| {
        Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Screen row 1 is version 1; the separator is on screen row 4.
    feed(&mut app, click(5, 2));
    assert_eq!(app.selected_version().unwrap().version, 2);
    feed(&mut app, click(5, 4));
    assert_eq!(
        app.selected_version().unwrap().version,
        2,
        "the separator selects nothing"
    );
    feed(&mut app, click(5, 5));
    assert_eq!(app.selected_version().unwrap().version, 4);
    feed(&mut app, click(100, 5));
    assert_eq!(app.focus, Pane::Preview);
}

#[test]
fn lock_samples_show_what_the_migration_holds_and_waits_for() {
    use lockstep::monitor::{HeldLock, RelatedSession, SessionLocks};
    let mut app = running_app();
    let lock = |mode: &str, granted: bool, relation: &str| HeldLock {
        locktype: "relation".into(),
        mode: mode.into(),
        granted,
        relation: Some(relation.into()),
        advisory_key: None,
        transaction_id: None,
    };
    feed(
        &mut app,
        Event::LockSample(std::sync::Arc::new(SessionLocks {
            pid: 4242,
            session: None,
            locks: vec![
                lock("ShareRowExclusiveLock", true, "orders"),
                lock("AccessShareLock", false, "users"),
            ],
            waits_on: vec![RelatedSession {
                pid: 777,
                session: Some(session(777, "idle in transaction", "LOCK TABLE users")),
            }],
            waited_on_by: vec![RelatedSession {
                pid: 778,
                session: None,
            }],
        })),
    );
    let terminal = render(&mut app, 140, 34);
    snapshot("run_waiting_on_a_lock", &terminal);
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("holds SHARE ROW EXCLUSIVE on orders"),
        "{screen}"
    );
    assert!(
        screen.contains("⏳ waits for ACCESS SHARE on users"),
        "{screen}"
    );
    assert!(
        screen.contains("held by pid 777 (alice · psql, idle in transaction"),
        "{screen}"
    );
    assert!(screen.contains("LOCK TABLE users"));
    assert!(screen.contains("1 session queued behind it"));
    assert_eq!(cell_fg(&terminal, "waits for ACCESS"), Color::Red);
}

/// Opens the new-migration editor and types `sql` into its UP body.
pub(super) fn draft_up(app: &mut App, sql: &str) {
    key(app, KeyCode::Char('n'));
    key(app, KeyCode::Tab);
    for c in sql.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn the_new_migration_editor_analyses_as_you_type() {
    let mut app = clean_app();
    draft_up(&mut app, "CREATE INDEX ix ON users (email);");
    let Overlay::Editor(editor) = &app.overlay else {
        panic!("the editor is open")
    };
    assert!(
        editor
            .findings
            .iter()
            .any(|f| !f.down && f.line == 2 && f.text.starts_with("[require-concurrent-index]")),
        "{:?}",
        editor.findings
    );
    let terminal = render(&mut app, 140, 34);
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("✗ UP line 2: [require-concurrent-index]"),
        "{screen}"
    );
    assert_eq!(cell_fg(&terminal, "✗ UP line 2"), Color::Red);
}

fn users_size() -> lockstep::monitor::TableSize {
    lockstep::monitor::TableSize {
        schema: "public".into(),
        name: "users".into(),
        kind: "r".into(),
        total_bytes: Some(1_288_490_189),
        heap_bytes: Some(900_000_000),
        index_bytes: Some(300_000_000),
        toast_bytes: Some(88_490_189),
        estimated_heap_bytes: 900_000_000,
        estimated_rows: Some(8_100_000),
        n_live_tup: Some(8_100_000),
        n_dead_tup: Some(1_000),
        last_vacuum: None,
        last_autovacuum: None,
        last_analyze: None,
        last_autoanalyze: None,
        exclusively_locked: false,
    }
}

fn monitor_state(activity: Vec<lockstep::monitor::Session>) -> lockstep::monitor::PollState {
    lockstep::monitor::PollState {
        snapshot: Some(std::sync::Arc::new(lockstep::monitor::Snapshot {
            taken_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            elapsed_ms: 3.0,
            sizes: Some(vec![users_size()]),
            activity,
            edges: vec![],
            forest: vec![],
        })),
        ..Default::default()
    }
}

#[test]
fn findings_name_the_size_of_the_table_they_block() {
    let mut app = index_app(false);
    feed(&mut app, Event::Monitor(monitor_state(vec![])));
    key(&mut app, KeyCode::Char('G'));
    let screen = render(&mut app, 150, 32).backend().to_string();
    let note = lockstep::tui::inspect::size_note(&users_size());
    assert!(note.contains("8.1M rows"), "{note}");
    assert!(
        screen.contains(&format!(" SHARE on users  blocks writes scan ({note})")),
        "{screen}"
    );
}

#[test]
fn the_inspection_panes_replace_the_run_pane_and_signal_through_the_poller() {
    let mut app = clean_app();
    let idle = session(777, "idle in transaction", "SELECT * FROM users");
    feed(&mut app, Event::Monitor(monitor_state(vec![idle.clone()])));
    key(&mut app, KeyCode::Char('4'));
    let screen = render(&mut app, 140, 34).backend().to_string();
    assert!(screen.contains("users"), "the sizes pane: {screen}");
    assert!(!screen.contains("no run yet"), "{screen}");
    key(&mut app, KeyCode::Char('6'));
    let screen = render(&mut app, 140, 34).backend().to_string();
    assert!(
        screen.contains("777") && screen.contains("idle in transac"),
        "activity: {screen}"
    );
    // Cancel the selected session: the pane asks, then the loop signals through the poller.
    key(&mut app, KeyCode::Char('x'));
    let effects = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        effects,
        vec![Effect::Signal {
            signal: lockstep::monitor::Signal::Cancel,
            pid: 777
        }]
    );
    // `p` pauses the poller; `3` brings the run pane back.
    assert_eq!(
        key(&mut app, KeyCode::Char('p')),
        vec![Effect::PauseMonitor(true)]
    );
    key(&mut app, KeyCode::Char('3'));
    let screen = render(&mut app, 140, 34).backend().to_string();
    assert!(screen.contains("no run yet"), "{screen}");

    let (set, _) = every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(
        &mut ro,
        Event::Status(Ok((set.clone(), Status::build(&set, None)))),
    );
    feed(&mut ro, Event::Monitor(monitor_state(vec![idle])));
    key(&mut ro, KeyCode::Char('6'));
    key(&mut ro, KeyCode::Char('x'));
    assert!(
        key(&mut ro, KeyCode::Char('y')).is_empty(),
        "read-only never signals"
    );
}

/// The every-state set with only 1 applied and 2 (a CONCURRENTLY build) left unfinished by a
/// lockstep run that stopped before its statement committed.
fn partial_app() -> App {
    let (set, _) = every_state();
    let rows = vec![
        row(&set.migrations[0], true, false),
        AppliedRow {
            execution_time: Progress::Applying { committed: 0 }.encode(),
            ..row(&set.migrations[1], false, false)
        },
    ];
    let status = Status::build(&set, Some(&rows));
    app_on(set, status)
}

#[test]
fn a_partial_migration_is_resolved_behind_a_typed_confirmation() {
    let mut app = partial_app();
    // The cursor starts on the first pending migration.
    assert_eq!(app.selected_version().unwrap().version, 3);
    assert!(key(&mut app, KeyCode::Char('m')).is_empty());
    assert!(
        app.message.as_deref().unwrap().contains("3 is pending"),
        "{:?}",
        app.message
    );
    key(&mut app, KeyCode::Up);
    assert_eq!(app.selected_version().unwrap().version, 2);
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("partially applied"), "{screen}");

    key(&mut app, KeyCode::Char('m'));
    assert!(matches!(app.overlay, Overlay::Resolve(_)));
    snapshot("resolve_partial", &render(&mut app, 120, 30));
    key(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());

    key(&mut app, KeyCode::Char('m'));
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    key(&mut app, KeyCode::Char('3'));
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "the wrong version does not confirm"
    );
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Resolve {
            version: 2,
            resolution: Resolution::Applied
        }]
    );
    assert!(app.overlay.is_none());
    let effects = feed(
        &mut app,
        Event::Resolved(Ok(
            "resolved 2 add email index (was partially applied): …".into()
        )),
    );
    assert!(effects.contains(&Effect::RefreshStatus));
    assert!(app.message.as_deref().unwrap().starts_with("resolved 2"));

    let (set, status) = (
        app.data.set.as_ref().clone(),
        app.data.status.clone().unwrap(),
    );
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(&mut ro, Event::Status(Ok((set, status))));
    key(&mut ro, KeyCode::Up);
    assert!(key(&mut ro, KeyCode::Char('m')).is_empty());
    assert!(ro.overlay.is_none(), "read-only: no resolving");
}

#[test]
fn a_revert_of_more_than_one_migration_asks_for_the_version() {
    let mut app = clean_app();
    // b on the oldest applied reverts all four: the version must be typed.
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char('b'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation: {:?}", app.message)
    };
    assert_eq!(confirm.title, "Revert 4 migrations down to 1?");
    assert_eq!(confirm.challenge.as_deref(), Some("1"));
    assert!(
        confirm
            .challenge_reason
            .as_deref()
            .is_some_and(|r| r.contains("reverts 4 migrations")),
        "{confirm:?}"
    );
    assert!(
        key(&mut app, KeyCode::Char('y')).is_empty(),
        "y is typed, not a yes"
    );
    key(&mut app, KeyCode::Esc);
    // One migration: y is enough.
    key(&mut app, KeyCode::Char('B'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(confirm.challenge, None);
}

#[test]
fn enter_opens_the_preview_and_h_l_move_between_panes() {
    let mut app = clean_app();
    assert_eq!(app.focus, Pane::Migrations);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Pane::Preview);
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.focus, Pane::Bottom);
    key(&mut app, KeyCode::Char('l'));
    assert_eq!(app.focus, Pane::Migrations);
    key(&mut app, KeyCode::Left);
    assert_eq!(app.focus, Pane::Bottom);
    key(&mut app, KeyCode::Char('h'));
    assert_eq!(app.focus, Pane::Preview);
}

#[test]
fn the_list_follows_a_run_as_migrations_finish() {
    let mut app = running_app();
    let before = render(&mut app, 140, 30).backend().to_string();
    assert!(before.contains("4 applied, 1 pending"), "{before}");
    let effects = feed(
        &mut app,
        Event::Run(RunEvent::MigrationFinished {
            version: 7,
            direction: Direction::Apply,
            elapsed: Duration::from_millis(5),
        }),
    );
    assert!(
        effects.contains(&Effect::RefreshStatus),
        "the status is read again: {effects:?}"
    );
    let after = render(&mut app, 140, 30).backend().to_string();
    assert!(after.contains("5 applied, 0 pending"), "{after}");
}

#[test]
fn read_only_leaves_out_what_writes() {
    let (set, _) = every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(
        &mut ro,
        Event::Status(Ok((set.clone(), Status::build(&set, None)))),
    );
    let screen = render(&mut ro, 140, 30).backend().to_string();
    let hints = screen.lines().last().unwrap_or_default().to_string();
    assert!(!hints.contains("apply"), "{hints}");
    assert!(!hints.contains("roll back"), "{hints}");
    assert!(hints.contains("filter"), "{hints}");
    assert!(
        screen.contains("no run in this session (read-only; R rehearses)"),
        "{screen}"
    );
    assert!(!screen.contains("a applies"), "{screen}");
}

#[test]
fn a_changed_draft_asks_before_it_is_dropped() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('n'));
    // Unchanged: Esc closes.
    key(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
    key(&mut app, KeyCode::Char('n'));
    for c in "add tags".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Esc);
    assert!(matches!(&app.overlay, Overlay::Editor(e) if e.asking));
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("s save · d discard"), "{screen}");
    // Any other key keeps editing, with the draft.
    key(&mut app, KeyCode::Char('x'));
    let Overlay::Editor(editor) = &app.overlay else {
        panic!("still editing")
    };
    assert_eq!(editor.description.lines().join(""), "add tags");
    key(&mut app, KeyCode::Esc);
    let effects = key(&mut app, KeyCode::Char('s'));
    assert!(
        matches!(effects.as_slice(), [Effect::SaveMigration { description, .. }] if description == "add tags"),
        "{effects:?}"
    );
}

/// An app on a migrations directory holding `files` (name, text), none applied.
fn app_on_files(files: &[(&str, &str)]) -> App {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let set = lockstep::source::load(dir.path(), &Default::default()).unwrap();
    let status = Status::build(&set, None);
    app_on(set, status)
}

#[test]
fn an_empty_down_file_is_flagged_in_the_list_and_the_preview() {
    let mut app = app_on_files(&[
        ("1_add_tags.up.sql", "CREATE TABLE tags (id int);\n"),
        ("1_add_tags.down.sql", ""),
    ]);
    let list = render(&mut app, 140, 30).backend().to_string();
    assert!(list.contains("⚠DOWN"), "{list}");
    key(&mut app, KeyCode::Char('d'));
    let preview = render(&mut app, 140, 30).backend().to_string();
    assert!(preview.contains("⚠ the file is empty"), "{preview}");
}

#[test]
fn an_up_without_its_down_is_flagged_and_its_down_side_says_it_cannot_be_reverted() {
    let mut app = app_on_files(&[(
        "1_drop_split_triggers.up.sql",
        "DROP TRIGGER IF EXISTS t ON splits;\n",
    )]);
    let list = render(&mut app, 80, 24).backend().to_string();
    assert!(list.contains("⚠UP"), "{list}");
    key(&mut app, KeyCode::Char('d'));
    let preview = render(&mut app, 80, 24).backend().to_string();
    // Wrapped in the pane, not cut at its edge.
    let words: Vec<&str> = preview
        .lines()
        .flat_map(|l| l.split('│'))
        .flat_map(str::split_whitespace)
        .filter(|w| *w != "\"")
        .collect();
    let said = words.join(" ");
    assert!(
        said.contains("this migration has no DOWN file: it cannot be reverted"),
        "{preview}"
    );
}

/// Findings an ignore comment hides (here diesel-guard's block) are counted where findings are:
/// in the preview's title and in the confirmation, so the reviewer knows the author silenced
/// some.
#[test]
fn findings_hidden_by_ignore_comments_are_counted_in_the_preview_and_the_confirmation() {
    let mut app = app_on_files(&[(
        "1_drop_gh_avatar.sql",
        "-- safety-assured:start\nALTER TABLE users DROP COLUMN gh_avatar;\n-- safety-assured:end\n",
    )]);
    let screen = render(&mut app, 160, 45).backend().to_string();
    assert!(screen.contains("· no findings (2 suppressed)"), "{screen}");
    key(&mut app, KeyCode::Char('A'));
    feed(&mut app, Event::Blockers(Ok(Vec::new())));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("the confirmation is open")
    };
    let body = confirm.body_text();
    assert!(
        body.contains("Findings: none; 2 suppressed by ignore comments"),
        "{body}"
    );
}

/// An app whose pending migrations are analysed against `catalog`, as the dashboard analyses
/// them against the database's.
fn app_on_catalog(set: MigrationSet, status: Status, catalog: &lockstep::analysis::Catalog) -> App {
    let mut app = App::new(set.clone(), "x".into(), true, false, false, now());
    let mut effects = app.handle(Event::Status(Ok((set, status))), now());
    while let Some(effect) = effects.pop() {
        match effect {
            Effect::Analyze {
                generation,
                pg_version,
                pending,
            } => {
                let mut options = LintOptions::for_session(pg_version, false, false);
                options.catalog = catalog.clone();
                let files = analyze_pending(&app.data.set.clone(), &pending, &options);
                effects.extend(app.handle(Event::Analyzed { generation, files }, now()));
            }
            Effect::Highlight { key, text } => effects.extend(app.handle(
                Event::Highlighted {
                    key,
                    lines: highlight::highlight_sql(&text),
                },
                now(),
            )),
            _ => {}
        }
    }
    app
}

/// The set of `ms` in `migrations/`, with the first `applied` of them applied.
fn set_applied(ms: Vec<Migration>, applied: usize) -> (MigrationSet, Status) {
    let rows: Vec<AppliedRow> = ms[..applied].iter().map(|m| row(m, true, false)).collect();
    let set = MigrationSet {
        dir: PathBuf::from("migrations"),
        migrations: ms,
        problems: vec![],
    };
    let status = Status::build(&set, Some(&rows));
    (set, status)
}

/// A set of `n` migrations, the first `applied` of them applied, each UP file `lines` long.
fn long_app(n: i64, applied: usize, lines: usize) -> App {
    let body: String = (1..=lines).map(|i| format!("SELECT {i};\n")).collect();
    let ms: Vec<Migration> = (1..=n)
        .map(|v| migration(v, &format!("step {v}"), &body, None))
        .collect();
    let (set, status) = set_applied(ms, applied);
    app_on(set, status)
}

#[test]
fn page_keys_and_ends_move_by_the_panes_height_in_the_list_and_the_preview() {
    let mut app = long_app(80, 40, 120);
    render(&mut app, 120, 30);
    assert_eq!(app.selected_version().unwrap().version, 41, "first pending");
    let page = app.areas().list_height();
    key(&mut app, KeyCode::PageDown);
    let moved = app.selected_version().unwrap().version - 41;
    assert!(
        moved > 1 && moved as usize <= page,
        "a page of {page} rows moves {moved}"
    );
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected_version().unwrap().version, 80);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected_version().unwrap().version, 1);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_version().unwrap().version, 80);

    // The preview: End shows the file's last line, Home its first, PgDn a page further.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Pane::Preview);
    key(&mut app, KeyCode::End);
    let end = render(&mut app, 120, 30).backend().to_string();
    assert!(end.contains("120 SELECT 120;"), "{end}");
    assert!(!end.contains(" 1 SELECT 1;"), "{end}");
    key(&mut app, KeyCode::Home);
    let top = render(&mut app, 120, 30).backend().to_string();
    assert!(top.contains(" 1 SELECT 1;"), "{top}");
    key(&mut app, KeyCode::PageDown);
    let paged = render(&mut app, 120, 30).backend().to_string();
    assert!(!paged.contains(" 1 SELECT 1;"), "{paged}");
    let page = app.areas().preview_height();
    assert!(
        paged.contains(&format!(" SELECT {};", 2 * page))
            && !paged.contains(&format!(" SELECT {page};")),
        "a page of {page} rows on:\n{paged}"
    );
}

#[test]
fn the_run_log_follows_new_lines_unless_scrolled_back() {
    let mut app = clean_app();
    let lines: Vec<String> = (1..=60).map(|i| format!("log line {i}")).collect();
    feed(&mut app, Event::HealthChecked(lines.join("\n")));
    let screen = render(&mut app, 120, 30).backend().to_string();
    assert!(screen.contains("log line 60 "), "follows: {screen}");
    key(&mut app, KeyCode::Char('3'));
    for _ in 0..5 {
        key(&mut app, KeyCode::Char('k'));
    }
    feed(&mut app, Event::HealthChecked("log line 61".into()));
    let back = render(&mut app, 120, 30).backend().to_string();
    assert!(back.contains("log scrolled back"), "{back}");
    assert!(!back.contains("log line 61"), "stays where it was: {back}");
    assert!(back.contains("log line 55 "), "{back}");
    key(&mut app, KeyCode::End);
    let end = render(&mut app, 120, 30).backend().to_string();
    assert!(end.contains("log line 61"), "{end}");
    assert!(!end.contains("log scrolled back"), "{end}");
}

#[test]
fn a_long_status_bar_message_wraps_without_cutting_a_word() {
    let mut app = clean_app();
    let message = "failed after 4.20 s: 0 applied, 0 reverted; 1 retry after a lock timeout; \
                   migration 20260112110000 rolled back; nothing else ran";
    feed(&mut app, Event::RunDone(Err(message.into())));
    let terminal = render(&mut app, 80, 24);
    let lines: Vec<String> = terminal
        .backend()
        .to_string()
        .lines()
        .map(|l| l.trim_matches('"').to_string())
        .collect();
    // The bar is above the key hints: its words, in order, each whole on some row.
    let bar: Vec<&str> = lines[lines.len() - 4..lines.len() - 1]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    let words: Vec<&str> = message.split_whitespace().collect();
    assert!(
        bar.windows(words.len()).any(|w| w == words.as_slice()),
        "{bar:?}"
    );
}

#[test]
fn the_editors_draft_is_highlighted_with_line_numbers() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('n'));
    for c in "add zebras".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Tab);
    for c in "CREATE TABLE zebras (id int);".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let terminal = render(&mut app, 120, 24);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("2 CREATE TABLE zebras"), "{screen}");
    let keyword = cell_fg(&terminal, "CREATE TABLE zebras");
    let name = cell_fg(&terminal, "zebras (id");
    assert_ne!(keyword, name, "the keyword is coloured apart from the name");
    assert_ne!(keyword, Color::Reset, "the keyword is coloured");
}

/// `]` pressed before the analysis has arrived says so in the status bar, and the message goes
/// when the analysis arrives (it stayed under the findings it no longer described).
#[test]
fn the_analysis_not_ready_message_goes_when_the_analysis_arrives() {
    let (set, status) = every_state();
    let mut app = App::new(set.clone(), "x".into(), true, false, false, now());
    // The status arrives; its analysis is requested but not carried out yet.
    let pending = app.handle(Event::Status(Ok((set, status))), now());
    app.focus = lockstep::tui::app::Pane::Preview;
    app.handle(
        Event::Key(KeyEvent::new(KeyCode::Char(']'), KeyModifiers::NONE)),
        now(),
    );
    assert_eq!(
        app.message.as_deref(),
        Some("the analysis is not ready yet")
    );
    let mut analysed = false;
    for effect in pending {
        if let Effect::Analyze {
            generation,
            pg_version,
            pending,
        } = effect
        {
            let options = LintOptions::for_session(pg_version, false, false);
            let files = analyze_pending(&app.data.set.clone(), &pending, &options);
            app.handle(Event::Analyzed { generation, files }, now());
            analysed = true;
        }
    }
    assert!(analysed, "the status asks for the analysis");
    assert_eq!(app.message, None);
}

/// A file that opens and ends its own transactions runs as written, not in one transaction: the
/// preview's title says so, and so does the confirmation's plan.
#[test]
fn a_file_with_its_own_begin_and_commit_is_not_shown_as_one_transaction() {
    let ms = vec![
        migration(
            1,
            "create users",
            "CREATE TABLE users (id bigint PRIMARY KEY);\n",
            None,
        ),
        migration(
            2,
            "commits early",
            "BEGIN;\nALTER TABLE users ADD COLUMN nickname text;\nCOMMIT;\nCREATE TABLE posts (id int);\n",
            None,
        ),
    ];
    let (set, status) = set_applied(ms, 1);
    let mut app = app_on(set, status);
    key(&mut app, KeyCode::Char('j'));
    let text = format!("{:?}", render(&mut app, 160, 45).backend());
    assert!(
        text.contains("2 UP 2 commits early — its own BEGIN/COMMIT, no DOWN"),
        "{text}"
    );
    key(&mut app, KeyCode::Char('a'));
    let text = format!("{:?}", render(&mut app, 160, 45).backend());
    assert!(
        text.contains("1 migration, 4 statements (it runs in its own BEGIN/COMMIT)"),
        "{text}"
    );
    assert!(text.contains("AS WRITTEN"), "{text}");
}

/// The screen at 160×45 with migration 2 selected and its preview open at its first finding (its
/// lock badges shown), the pending migrations analysed against `catalog` as the database's.
fn preview_of_second(
    set: MigrationSet,
    status: Status,
    catalog: &lockstep::analysis::Catalog,
) -> String {
    let mut app = app_on_catalog(set, status, catalog);
    render(&mut app, 160, 45);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected_version().unwrap().version, 2);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char(']'));
    render(&mut app, 160, 45).backend().to_string()
}

/// A statement on a partitioned table locks each partition: the preview says how many beside the
/// table's badge, rather than a badge per partition.
#[test]
fn the_preview_counts_the_partitions_a_statement_locks() {
    let ms = vec![
        migration(
            1,
            "events",
            "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\n",
            None,
        ),
        migration(
            2,
            "events kind",
            "ALTER TABLE events ADD COLUMN kind text;\n",
            None,
        ),
    ];
    let (set, status) = set_applied(ms, 1);
    // The database's catalogue, as the dashboard reads it: two partitions made at run time.
    let mut catalog = lockstep::analysis::Catalog::empty_database();
    catalog.relations.insert(
        "events".into(),
        Relation::of(RelationKind::PartitionedTable),
    );
    for partition in ["events_2025", "events_2026"] {
        catalog.relations.insert(
            partition.into(),
            Relation {
                partition_of: Some("events".into()),
                ..Relation::of(RelationKind::Table)
            },
        );
    }
    let screen = preview_of_second(set, status, &catalog);
    assert!(screen.contains("ACCESS EXCLUSIVE on events"), "{screen}");
    assert!(screen.contains("+2 partitions"), "{screen}");
    assert!(!screen.contains("on events_2025"), "{screen}");
}

/// A statement that fires a trigger takes the locks of the trigger's function: the preview badges
/// them with the trigger that takes them, and the finding says what the function runs.
#[test]
fn the_preview_names_the_trigger_whose_function_takes_a_lock() {
    let ms = vec![
        migration(
            1,
            "scores",
            "CREATE TABLE scores (id int PRIMARY KEY, score int);
\
             CREATE MATERIALIZED VIEW top AS SELECT id, score FROM scores;
\
             CREATE FUNCTION refresh_top() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN REFRESH MATERIALIZED VIEW CONCURRENTLY top; RETURN NEW; END $$;
\
             CREATE TRIGGER scores_top AFTER UPDATE ON scores FOR EACH ROW EXECUTE FUNCTION refresh_top();
",
            None,
        ),
        migration(2, "rescore", "UPDATE scores SET score = 0;
", None),
    ];
    let (set, status) = set_applied(ms, 1);
    // The database's catalogue, as the dashboard reads it (`pg_trigger`, `pg_proc.prosrc`).
    let mut catalog = lockstep::analysis::Catalog::empty_database();
    let mut scores = Relation::of(RelationKind::Table);
    scores.triggers.insert(
        "scores_top".into(),
        lockstep::analysis::Trigger {
            function: "refresh_top".into(),
            events: vec![lockstep::analysis::TriggerEvent::Update],
            update_of: Vec::new(),
            per_row: true,
        },
    );
    catalog.relations.insert("scores".into(), scores);
    catalog
        .relations
        .insert("top".into(), Relation::of(RelationKind::MaterializedView));
    catalog.functions.insert(
        "refresh_top".into(),
        lockstep::analysis::Routine {
            locks: vec![lockstep::analysis::RoutineLock {
                relation: "top".into(),
                shape: lockstep::analysis::Shape::RefreshMatviewConcurrently,
                mode: None,
                statement: "REFRESH MATERIALIZED VIEW CONCURRENTLY top".into(),
                conditional: false,
                fires: Vec::new(),
                columns: None,
                inner: None,
            }],
            ..Default::default()
        },
    );
    let screen = preview_of_second(set, status, &catalog);
    assert!(screen.contains("EXCLUSIVE on top"), "{screen}");
    assert!(
        screen.contains("via trigger \"scores_top\" on \"scores\""),
        "{screen}"
    );
    assert!(screen.contains("[fires-trigger]"), "{screen}");
}

/// The confirmation looks for sessions that hold locks on the tables the plan locks: an index the
/// plan renames or drops is not a table, and its table is named instead.
#[test]
fn the_blockers_check_names_tables_not_indexes() {
    let ms = vec![
        migration(
            1,
            "users",
            "CREATE TABLE users (id int PRIMARY KEY, email text);\nCREATE INDEX users_email ON users (email);\n",
            None,
        ),
        migration(
            2,
            "rename index",
            "ALTER INDEX users_email RENAME TO users_email_idx;\nDROP INDEX users_email_idx;\n",
            None,
        ),
    ];
    let (set, status) = set_applied(ms, 1);
    // The database knows the index and its table.
    let mut catalog = lockstep::analysis::Catalog::empty_database();
    catalog
        .relations
        .insert("users".into(), Relation::of(RelationKind::Table));
    catalog.indexes.insert("users_email".into(), "users".into());
    let mut app = app_on_catalog(set, status, &catalog);
    key(&mut app, KeyCode::Char('A'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("the confirmation is open")
    };
    assert_eq!(confirm.tables, ["users"]);
}
