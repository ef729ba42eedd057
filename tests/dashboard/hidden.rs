//! Hidden characters (escape sequences with OSC 52 and cursor movement, bidirectional overrides,
//! zero-width joiners, C1 controls) in migrations and in database text: every pane shows them as
//! markers in reverse magenta, no cell holds one raw, and the preview's underline stays on the
//! character it marks.

use std::path::PathBuf;

use crossterm::event::KeyCode;
use lockstep::monitor::{HeldLock, RelatedSession, SessionLocks, TableBlocker, build_forest};
use lockstep::runner::{Direction, Failure, RunEvent};
use lockstep::source::MigrationSet;
use lockstep::status::Status;
use lockstep::tui::app::{App, Event};
use lockstep::tui::inspect::{Inspect, Tab};
use lockstep::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use super::inspect::{edge, poll_state, session, waiting};
use super::screens::{feed, find, key, migration, now, render, running_app};

/// An UP file with one of each: ESC (conceal), OSC 52 (clipboard), cursor movement, a bidi
/// override and isolate, a zero-width joiner and a C1 control sequence introducer.
const UP: &str = "INSERT INTO t VALUES ('\u{1b}[8m');\nDROP TABLE important;\n-- note \u{202e}evil\u{2066}\nSELECT 'a\u{200d}b', '\u{9b}2J', '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A';\n";

/// Every raw hidden character the inputs hold.
const RAW: [char; 7] = [
    '\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{200d}', '\u{9b}', '\u{7f}',
];

fn hidden_app() -> App {
    let m = migration(1, "seed \u{1b}[2Jt", UP, Some("SELECT 1;\n"));
    let set = MigrationSet {
        dir: PathBuf::from("migrations"),
        migrations: vec![m],
        problems: vec![],
    };
    let status = Status::build(&set, Some(&[]));
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

/// Fails when any cell holds a raw hidden character.
fn assert_no_raw_hidden(terminal: &Terminal<TestBackend>) {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            assert!(
                lockstep::text::is_clean(symbol) && !symbol.contains(RAW),
                "raw hidden character {symbol:?} at ({x}, {y}):\n{}",
                terminal.backend()
            );
        }
    }
}

fn is_marker(terminal: &Terminal<TestBackend>, at: (u16, u16)) -> bool {
    let cell = &terminal.backend().buffer()[at];
    cell.fg == Color::Magenta && cell.modifier.contains(Modifier::REVERSED)
}

fn underlined(terminal: &Terminal<TestBackend>, at: (u16, u16)) -> bool {
    let cell = &terminal.backend().buffer()[at];
    cell.modifier.contains(Modifier::UNDERLINED)
}

#[test]
fn the_preview_and_the_list_show_markers_under_their_underline() {
    let mut app = hidden_app();
    let terminal = render(&mut app, 170, 70);
    assert_no_raw_hidden(&terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("seed ␛[2Jt"), "the description: {screen}");
    assert!(screen.contains("('␛[8m')"), "{screen}");
    assert!(
        screen.contains("-- note \\u{202E}evil\\u{2066}"),
        "{screen}"
    );
    assert!(
        screen.contains("'a\\u{200D}b', '\\u{9B}2J', '␛]52;c;ZXZpbA==␇␛[5A'"),
        "{screen}"
    );
    // The finding names the code point, and its underline covers the marker and nothing else.
    assert!(screen.contains("[hidden-character]"), "{screen}");
    assert!(screen.contains("U+001B ESCAPE"), "{screen}");
    let (x, y) = find(&terminal, "('␛[8m')");
    let escape = (x + 2, y);
    assert!(is_marker(&terminal, escape));
    assert!(underlined(&terminal, escape));
    assert_eq!(
        terminal.backend().buffer()[escape].underline_color,
        Color::Red
    );
    assert!(!underlined(&terminal, (x + 1, y)), "the quote before it");
    assert!(!underlined(&terminal, (x + 3, y)), "the `[` after it");
    // An 8-column marker: every column underlined, the column after it not.
    let (x, y) = find(&terminal, "'a\\u{200D}b'");
    for column in x + 2..x + 10 {
        assert!(is_marker(&terminal, (column, y)), "column {column}");
        assert!(underlined(&terminal, (column, y)), "column {column}");
    }
    assert!(!underlined(&terminal, (x + 10, y)), "the `b`");
    assert!(!is_marker(&terminal, (x + 10, y)));
}

#[test]
fn the_confirmation_shows_a_blockers_query_with_markers() {
    let mut app = hidden_app();
    key(&mut app, KeyCode::Char('a'));
    let mut holder = session(
        777,
        "psql",
        "idle in transaction",
        "'\u{1b}]52;c;ZXZpbA==\u{7}'\u{202e}",
    );
    // A short line: the dialog is 100 columns wide.
    (holder.user, holder.application_name, holder.xact_age_secs) = (None, None, None);
    holder.idle_in_transaction_too_long = true;
    feed(
        &mut app,
        Event::Blockers(Ok(vec![TableBlocker {
            table: "t".into(),
            mode: "AccessShareLock".into(),
            granted: true,
            session: holder,
        }])),
    );
    let terminal = render(&mut app, 170, 90);
    assert_no_raw_hidden(&terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("queue behind 1 session"), "{screen}");
    assert!(screen.contains("'␛]52;c;ZXZpbA==␇'\\u{2"), "{screen}");
    assert!(screen.contains("[hidden-character]"), "{screen}");
}

#[test]
fn the_run_pane_shows_statements_and_server_messages_with_markers() {
    let mut app = running_app();
    for event in [
        RunEvent::StatementStarted {
            version: 7,
            index: 1,
            line: 5,
            text: "SELECT '\u{1b}]52;c;ZXZpbA==\u{7}'".into(),
        },
        RunEvent::MigrationFailed {
            version: 7,
            direction: Direction::Apply,
            failure: Failure {
                statement: Some(1),
                line: Some(5),
                column: None,
                sqlstate: Some("22P02".into()),
                message: "invalid input \u{1b}[5A\u{9b}2J".into(),
                detail: Some("\u{202e}reversed".into()),
                hint: None,
                in_transaction: true,
                partial: false,
                own_transactions: false,
                completed: vec![0],
                blocked_by: None,
            },
        },
    ] {
        feed(&mut app, Event::Run(event));
    }
    let terminal = render(&mut app, 170, 40);
    assert_no_raw_hidden(&terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("invalid input ␛[5A\\u{9B}2J"), "{screen}");
    assert!(screen.contains("\\u{202E}reversed"), "{screen}");
}

#[test]
fn a_lock_sample_shows_the_holders_query_with_markers() {
    let holder = session(
        55,
        "psql",
        "idle in transaction",
        "SELECT '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A'",
    );
    let sample = SessionLocks {
        pid: 4242,
        session: None,
        locks: vec![HeldLock {
            locktype: "relation".into(),
            mode: "AccessExclusiveLock".into(),
            granted: false,
            relation: Some("\"no\u{200d}tes\"".into()),
            advisory_key: None,
            transaction_id: None,
        }],
        waits_on: vec![RelatedSession {
            pid: 55,
            session: Some(holder),
        }],
        waited_on_by: vec![],
    };
    let text: Vec<String> = view::lock_sample_lines(&sample)
        .iter()
        .map(|l| l.to_string())
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("ACCESS EXCLUSIVE on \"no\\u{200D}tes\""),
        "{text}"
    );
    assert!(text.contains("SELECT '␛]52;c;ZXZpbA==␇␛[5A'"), "{text}");
    assert!(!text.contains(RAW), "{text:?}");
}

#[test]
fn the_locks_and_activity_panes_show_queries_with_markers() {
    let query = "UPDATE t SET x = '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A' \u{202e}";
    let activity = vec![
        session(100, "psql", "idle in transaction", query),
        waiting(session(101, "api", "active", "SELECT 1 /* \u{9b}2J */")),
    ];
    let edges = vec![edge(101, &[100], "AccessShareLock", "t\u{200d}", 3.0)];
    assert_eq!(build_forest(&edges, &activity).len(), 1);
    for tab in [Tab::Locks, Tab::Activity] {
        let mut inspect = Inspect::new();
        inspect.update(poll_state(None, edges.clone(), activity.clone()));
        inspect.set_tab(tab);
        let terminal = super::inspect::render(&inspect, 200, 12);
        assert_no_raw_hidden(&terminal);
        let text = super::inspect::screen_text(&terminal);
        assert!(
            text.contains("'␛]52;c;ZXZpbA==␇␛[5A' \\u{202E}"),
            "{tab:?}:\n{text}"
        );
        assert!(text.contains("/* \\u{9B}2J */"), "{tab:?}:\n{text}");
    }
}

#[test]
fn the_editor_shows_what_is_typed_with_markers_and_names_it() {
    let mut app = hidden_app();
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Tab);
    for c in "SELECT 'a".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Char('\u{202e}'));
    for c in "b';".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    let terminal = render(&mut app, 170, 40);
    assert_no_raw_hidden(&terminal);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("SELECT 'a\\u{202E}b';"), "{screen}");
    assert!(screen.contains("[hidden-character]"), "{screen}");
    assert!(screen.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{screen}");
}
