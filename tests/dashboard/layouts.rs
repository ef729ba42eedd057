//! Every screen at 80×24, 100×30, 120×35 and 160×45, on the demo set (14-digit versions, long
//! descriptions, real findings): insta snapshots, and at each size what must never be cut — the
//! full version and at least 20 characters of description, the confirmation's findings,
//! blockers and typed answer, the run's timer and the blocker's transaction age, whole table
//! names and session states.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::KeyCode;
use lockstep::analysis::LintOptions;
use lockstep::analysis::migrations::fix_resolves;
use lockstep::history::AppliedRow;
use lockstep::monitor::{
    HeldLock, LockEdge, RelatedSession, Session, SessionLocks, TableBlocker, TableSize, WaitedLock,
};
use lockstep::runner::{Direction, Failure, RunEvent};
use lockstep::source::{MigrationSet, load};
use lockstep::status::Status;
use lockstep::tui::app::{App, Effect, Event, Overlay};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::inspect::poll_state;
use super::screens::{feed, key, now, render};

pub(super) const SIZES: [(u16, u16); 4] = [(80, 24), (100, 30), (120, 35), (160, 45)];

/// The demo set with its foundation applied (through the seed migration), the rest pending.
fn demo() -> (MigrationSet, Status) {
    // Relative (tests run in the project's directory), so paths on screen do not depend on
    // where the checkout is.
    let set = load(Path::new("migrations"), &Default::default()).expect("the demo migrations load");
    let rows: Vec<AppliedRow> = set
        .migrations
        .iter()
        .filter(|m| m.version <= 20260108090000)
        .enumerate()
        .map(|(i, m)| AppliedRow {
            version: m.version,
            description: m.description.clone(),
            installed_on: chrono::DateTime::from_timestamp(1_790_000_000 + i as i64 * 60, 0)
                .expect("a time"),
            success: true,
            checksum: m.checksum().to_vec(),
            execution_time: 12_345_678,
        })
        .collect();
    let status = Status::build(&set, Some(&rows));
    (set, status)
}

fn table(name: &str, total: i64, rows: i64) -> TableSize {
    TableSize {
        schema: "public".into(),
        name: name.into(),
        kind: "r".into(),
        total_bytes: Some(total),
        heap_bytes: Some(total * 2 / 3),
        index_bytes: Some(total / 4),
        toast_bytes: Some(total / 12),
        estimated_heap_bytes: total * 2 / 3,
        estimated_rows: Some(rows),
        n_live_tup: Some(rows),
        n_dead_tup: Some(rows / 50),
        last_vacuum: None,
        last_autovacuum: None,
        last_analyze: None,
        last_autoanalyze: None,
        exclusively_locked: false,
    }
}

fn session(pid: i32, application: &str, state: &str, query: &str) -> Session {
    Session {
        pid,
        datname: Some("lockstep_demo".into()),
        user: Some("alice".into()),
        application_name: Some(application.into()),
        client: None,
        backend_type: Some("client backend".into()),
        state: Some(state.into()),
        wait_event_type: None,
        wait_event: None,
        backend_age_secs: Some(900.0),
        xact_age_secs: Some(125.0),
        query_age_secs: Some(125.0),
        state_age_secs: Some(120.0),
        leader_pid: None,
        query: Some(query.into()),
        is_lockstep: application.starts_with("lockstep"),
        via_pooler: false,
        idle_in_transaction_too_long: state == "idle in transaction",
    }
}

/// The reporting session idle in a transaction on `conversations`, and the migration waiting.
pub(super) fn holder() -> Session {
    session(
        777,
        "psql",
        "idle in transaction",
        "SELECT count(*) FROM conversations WHERE status = 'queued'",
    )
}

fn monitor() -> lockstep::monitor::PollState {
    let mut waiting = session(
        4242,
        "lockstep:apply:20260112110000",
        "active",
        "ALTER TABLE conversations ADD COLUMN language text NOT NULL DEFAULT 'en'",
    );
    waiting.wait_event_type = Some("Lock".into());
    waiting.wait_event = Some("relation".into());
    waiting.xact_age_secs = Some(3.0);
    let edges = vec![LockEdge {
        pid: 4242,
        blocked_by: vec![777],
        wait_age_secs: Some(2.5),
        waiting_for: Some(WaitedLock {
            locktype: Some("relation".into()),
            mode: Some("AccessExclusiveLock".into()),
            relation: Some("conversations".into()),
        }),
    }];
    poll_state(
        Some(vec![
            table("conversation_turns", 22_960_000, 80_000),
            table("conversations", 2_306_000, 20_000),
            table("conversation_templates", 98_304, 400),
            table("evaluations", 1_560_000, 8_000),
            table("batch_jobs", 65_536, 40),
            table("personas", 49_152, 24),
            table("scenarios", 49_152, 30),
        ]),
        edges,
        vec![holder(), waiting],
    )
}

pub(super) fn demo_app() -> App {
    let (set, status) = demo();
    let mut app = App::new(
        set.clone(),
        "postgres://lockstep:***@127.0.0.1:5432/lockstep_demo".into(),
        true,
        false,
        false,
        now(),
    );
    feed(&mut app, Event::Status(Ok((set, status))));
    feed(
        &mut app,
        Event::ServerVersion {
            database: "app".into(),
            version: "15.18 (Debian 15.18-0+deb12u1)".into(),
            num: 150018,
        },
    );
    feed(&mut app, Event::Monitor(monitor()));
    app
}

pub(super) fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d\d-\d\d \d\d:\d\d", "[WHEN]");
    settings.add_filter(r"\d+(\.\d+)? (µs|ms|s)\b", "[TIME]");
    settings.add_filter(r"\d\d:\d\d\.\d\d\d", "[CLOCK]");
    settings.add_filter(r"─+ updated \S+ ago", "─ updated [AGE] ago");
    settings.add_filter(r"/tmp/\S+/migrations/", "migrations/");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

pub(super) fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

/// Every list row on screen shows its full version and at least 14 characters of description (20,
/// of which the findings may take 6 when nothing else fits).
fn assert_identity(app: &App, lines: &[String], size: (u16, u16)) {
    let list = app.areas().migrations;
    let pane: Vec<String> = lines
        .iter()
        .skip(usize::from(list.y))
        .take(usize::from(list.height))
        .map(|l| {
            l.chars()
                .skip(usize::from(list.x))
                .take(usize::from(list.width))
                .collect()
        })
        .collect();
    let mut rows = 0;
    for v in app.visible() {
        let version = v.version.to_string();
        let Some(line) = pane.iter().find(|l| l.contains(&format!("{version} "))) else {
            continue;
        };
        rows += 1;
        let start: String = v.description.chars().take(14).collect();
        assert!(
            line.contains(&format!("{version} {start}")),
            "{size:?}: version {version} without 14 characters of its description:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        rows >= 5,
        "{size:?}: only {rows} list rows:\n{}",
        lines.join("\n")
    );
}

fn contains(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

#[test]
fn the_list_keeps_identity_first_at_every_size() {
    for size in SIZES {
        let mut app = demo_app();
        let terminal = render(&mut app, size.0, size.1);
        snapshot(&format!("main_{}x{}", size.0, size.1), &terminal);
        let lines = screen(&terminal);
        assert_identity(&app, &lines, size);
        assert_eq!(
            app.selected_version().unwrap().version,
            20260112110000,
            "the cursor starts on the first pending migration"
        );
    }
}

/// Selects the index build on `conversations` (a finding with a fix), opens it and jumps to it.
fn on_the_index_build(app: &mut App) {
    for _ in 0..4 {
        key(app, KeyCode::Char('j'));
    }
    assert_eq!(app.selected_version().unwrap().version, 20260116113000);
    key(app, KeyCode::Enter);
    key(app, KeyCode::Char(']'));
}

#[test]
fn findings_and_their_fix_at_every_size() {
    for size in SIZES {
        let mut app = demo_app();
        render(&mut app, size.0, size.1);
        on_the_index_build(&mut app);
        let terminal = render(&mut app, size.0, size.1);
        snapshot(
            &format!("preview_findings_{}x{}", size.0, size.1),
            &terminal,
        );
        let lines = screen(&terminal);
        assert!(contains(&lines, "[require-concurrent-index]"), "{size:?}");
        assert!(
            contains(&lines, " SHARE on conversations "),
            "{size:?}: the whole badge:\n{}",
            lines.join("\n")
        );
        let effects = key(&mut app, KeyCode::Char('f'));
        assert!(
            matches!(app.overlay, Overlay::Fix(_)),
            "{size:?}: {:?}",
            app.message
        );
        let Some(Effect::CheckFix {
            fix,
            pending,
            pg_version,
        }) = effects
            .into_iter()
            .find(|e| matches!(e, Effect::CheckFix { .. }))
        else {
            panic!("{size:?}: f asks for no check of the fix");
        };
        // Until the check is back, y writes nothing and the dialog says why.
        let checking = render(&mut app, size.0, size.1);
        assert!(
            contains(&screen(&checking), "Checking: linting the file again"),
            "{size:?}"
        );
        assert!(key(&mut app, KeyCode::Char('y')).is_empty(), "{size:?}");
        assert!(matches!(app.overlay, Overlay::Fix(_)), "{size:?}");
        // The check, as the event loop carries it out.
        let options = LintOptions::for_session(pg_version, false, false);
        let resolves = fix_resolves(&app.data.set, &pending, &fix, &options, &options);
        assert!(resolves, "{size:?}: CONCURRENTLY resolves the finding");
        feed(&mut app, Event::FixChecked { fix, resolves });
        let terminal = render(&mut app, size.0, size.1);
        snapshot(&format!("fix_{}x{}", size.0, size.1), &terminal);
        let lines = screen(&terminal);
        assert!(contains(&lines, "CONCURRENTLY"), "{}", lines.join("\n"));
        assert!(contains(&lines, "y write it"), "{}", lines.join("\n"));
        let written = key(&mut app, KeyCode::Char('y'));
        assert!(
            matches!(written.as_slice(), [Effect::WriteFix(_)]),
            "{size:?}: {written:?}"
        );
    }
}

/// A fix the check finds resolving nothing is not written: the dialog says so, and `y` keeps it
/// open.
#[test]
fn a_fix_the_check_refuses_is_not_written() {
    let mut app = demo_app();
    render(&mut app, 100, 30);
    on_the_index_build(&mut app);
    let effects = key(&mut app, KeyCode::Char('f'));
    let Some(Effect::CheckFix { fix, .. }) = effects
        .into_iter()
        .find(|e| matches!(e, Effect::CheckFix { .. }))
    else {
        panic!("f asks for no check of the fix");
    };
    // A check of another fix does not count for this one.
    let mut other = fix.clone();
    other.after.push_str("-- another\n");
    feed(
        &mut app,
        Event::FixChecked {
            fix: other,
            resolves: true,
        },
    );
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    feed(
        &mut app,
        Event::FixChecked {
            fix,
            resolves: false,
        },
    );
    let terminal = render(&mut app, 100, 30);
    let lines = screen(&terminal);
    assert!(
        contains(&lines, "Not written: the fix would not resolve the finding"),
        "{}",
        lines.join("\n")
    );
    assert!(!contains(&lines, "y write it"), "{}", lines.join("\n"));
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(matches!(app.overlay, Overlay::Fix(_)));
    assert_eq!(
        app.message.as_deref(),
        Some("this fix is not written: fix it by hand")
    );
}

/// The confirmation of everything pending, with the reporting session as a blocker.
fn confirming(app: &mut App) {
    key(app, KeyCode::Char('A'));
    feed(
        app,
        Event::Blockers(Ok(vec![TableBlocker {
            table: "conversations".into(),
            mode: "AccessShareLock".into(),
            granted: true,
            session: holder(),
        }])),
    );
}

/// With no session in the way, the confirmation names the tables the run locks; a run over many
/// tables names the first eight and counts the rest instead of a wall of names.
#[test]
fn no_blocker_names_the_tables_and_counts_a_long_list() {
    let mut app = demo_app();
    key(&mut app, KeyCode::Char('A'));
    feed(&mut app, Event::Blockers(Ok(Vec::new())));
    let Overlay::Confirm(confirm) = &mut app.overlay else {
        panic!("the confirmation is open")
    };
    let body = confirm.body_text();
    let named = format!(
        "No long-running or idle-in-transaction session holds a lock on {}",
        confirm.tables.join(", ")
    );
    assert!(body.contains(&named), "{body}");
    confirm.tables = (1..=12).map(|i| format!("table_{i}")).collect();
    let body = confirm.body_text();
    assert!(
        body.contains(
            "holds a lock on table_1, table_2, table_3, table_4, table_5, table_6, table_7, \
             table_8 and 4 more"
        ),
        "{body}"
    );
}

#[test]
fn the_confirmation_puts_the_summary_first_at_every_size() {
    for size in SIZES {
        let mut app = demo_app();
        render(&mut app, size.0, size.1);
        confirming(&mut app);
        for c in "2026012".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        let terminal = render(&mut app, size.0, size.1);
        snapshot(&format!("confirm_{}x{}", size.0, size.1), &terminal);
        let lines = screen(&terminal);
        let text = lines.join("\n");
        assert!(contains(&lines, "Apply 8 migrations"), "{size:?}:\n{text}");
        assert!(contains(&lines, "Findings: 4 errors"), "{size:?}:\n{text}");
        assert!(
            text.contains("will queue behind 1 session"),
            "{size:?}:\n{text}"
        );
        assert!(
            text.contains("ACCESS SHARE on conversations"),
            "{size:?}:\n{text}"
        );
        assert!(
            contains(&lines, "› 2026012█"),
            "{size:?}: what is typed shows whole:\n{text}"
        );
    }
}

/// Confirms the plan and feeds a run that waits on the reporting session.
fn running(app: &mut App) {
    confirming(app);
    for c in "20260121164500".chars() {
        key(app, KeyCode::Char(c));
    }
    key(app, KeyCode::Enter);
    assert!(app.run.running().is_some());
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
            version: 20260112110000,
            description: "add conversation language and archive flag".into(),
            direction: Direction::Apply,
            in_transaction: true,
            statements: 2,
        },
        RunEvent::StatementStarted {
            version: 20260112110000,
            index: 0,
            line: 3,
            text: "SET LOCAL lock_timeout = '5s'".into(),
        },
        RunEvent::StatementFinished {
            version: 20260112110000,
            index: 0,
            elapsed: Duration::from_millis(1),
            rows_affected: 0,
        },
        RunEvent::StatementStarted {
            version: 20260112110000,
            index: 1,
            line: 5,
            text: "ALTER TABLE conversations\n    ADD COLUMN language text NOT NULL DEFAULT 'en',\n    ADD COLUMN archived boolean NOT NULL DEFAULT false".into(),
        },
    ] {
        feed(app, Event::Run(event));
    }
    feed(
        app,
        Event::LockSample(Arc::new(SessionLocks {
            pid: 4242,
            session: None,
            locks: vec![HeldLock {
                locktype: "relation".into(),
                mode: "AccessExclusiveLock".into(),
                granted: false,
                relation: Some("conversations".into()),
                advisory_key: None,
                transaction_id: None,
            }],
            waits_on: vec![RelatedSession {
                pid: 777,
                session: Some(holder()),
            }],
            waited_on_by: vec![
                RelatedSession {
                    pid: 801,
                    session: None,
                },
                RelatedSession {
                    pid: 802,
                    session: None,
                },
            ],
        })),
    );
}

#[test]
fn the_run_pane_keeps_the_timer_and_the_blocker_at_every_size() {
    let timer = regex_free_clock;
    for size in SIZES {
        let mut app = demo_app();
        render(&mut app, size.0, size.1);
        running(&mut app);
        let terminal = render(&mut app, size.0, size.1);
        snapshot(&format!("run_waiting_{}x{}", size.0, size.1), &terminal);
        let lines = screen(&terminal);
        let text = lines.join("\n");
        assert!(timer(&text), "{size:?}: the statement timer:\n{text}");
        assert!(text.contains("held by pid 777"), "{size:?}:\n{text}");
        assert!(
            text.contains("idle in transaction"),
            "{size:?}: the blocker's state:\n{text}"
        );
        assert!(
            text.contains("transaction 2m05s"),
            "{size:?}: the blocker's transaction age:\n{text}"
        );
        assert!(
            text.contains("SELECT count(*) FROM conversations"),
            "{size:?}: the blocker's query:\n{text}"
        );
        assert!(
            text.contains("2 sessions queued behind it"),
            "{size:?}:\n{text}"
        );
        assert_identity(&app, &lines, size);

        feed(
            &mut app,
            Event::Run(RunEvent::MigrationFailed {
                version: 20260112110000,
                direction: Direction::Apply,
                failure: Failure {
                    statement: Some(1),
                    line: Some(5),
                    column: None,
                    sqlstate: Some("57014".into()),
                    message: "canceling statement due to user request".into(),
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
                "failed after 4.20 s: 0 applied, 0 reverted; migration 20260112110000 rolled \
                 back; nothing else ran"
                    .into(),
            )),
        );
        let terminal = render(&mut app, size.0, size.1);
        snapshot(&format!("run_failed_{}x{}", size.0, size.1), &terminal);
        let text = screen(&terminal).join("\n");
        assert!(
            text.contains("SQLSTATE") && text.contains("57014)"),
            "{size:?}: the failure in the log:\n{text}"
        );
        assert!(!text.contains("57014)the"), "{size:?}:\n{text}");
    }
}

/// Whether `text` shows a running clock (`mm:ss.sss`).
fn regex_free_clock(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(9).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == ':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
            && w[5] == '.'
            && w[6..].iter().all(char::is_ascii_digit)
    })
}

#[test]
fn overlays_and_inspection_panes_at_every_size() {
    for size in SIZES {
        let (w, h) = size;
        let mut app = demo_app();
        render(&mut app, w, h);
        key(&mut app, KeyCode::Char('?'));
        snapshot(&format!("help_{w}x{h}"), &render(&mut app, w, h));
        key(&mut app, KeyCode::Char('x'));

        key(&mut app, KeyCode::Char('n'));
        for c in "add conversation topic".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Tab);
        for c in "ALTER TABLE conversations ADD COLUMN topic text;".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Esc);
        let terminal = render(&mut app, w, h);
        snapshot(&format!("editor_asks_{w}x{h}"), &terminal);
        assert!(
            screen(&terminal).join("\n").contains("s save"),
            "Esc on a changed draft asks"
        );
        key(&mut app, KeyCode::Char('d'));
        assert!(app.overlay.is_none());

        key(&mut app, KeyCode::Char('4'));
        let terminal = render(&mut app, w, h);
        snapshot(&format!("sizes_{w}x{h}"), &terminal);
        let lines = screen(&terminal);
        for name in [
            "conversation_turns",
            "conversation_templates",
            "conversations",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(&format!("{name} "))),
                "{size:?}: {name} whole:\n{}",
                lines.join("\n")
            );
        }
        assert!(
            contains(&lines, "21.9 MB"),
            "{size:?}: sizes keep their unit"
        );

        key(&mut app, KeyCode::Char('6'));
        let terminal = render(&mut app, w, h);
        snapshot(&format!("activity_{w}x{h}"), &terminal);
        let lines = screen(&terminal);
        assert!(
            contains(&lines, "idle in transaction "),
            "{size:?}: the state whole:\n{}",
            lines.join("\n")
        );

        key(&mut app, KeyCode::Char('5'));
        snapshot(&format!("locks_{w}x{h}"), &render(&mut app, w, h));
    }
}
