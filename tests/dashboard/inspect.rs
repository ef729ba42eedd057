//! The Sizes, Locks and Activity panes on a TestBackend, from hand-made poller states with fixed
//! pids and ages: snapshots of each pane, colours of key cells, sort order, and the
//! cancel/terminate confirmations driven by keys.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lockstep::monitor::{
    LockEdge, PollState, Session, Signal, SizeColumn, Snapshot, TableSize, WaitedLock, build_forest,
};
use lockstep::tui::inspect::{Inspect, InspectAction, Tab, draw, size_note};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

const GB: i64 = 1 << 30;
const MB: i64 = 1 << 20;

fn taken_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).expect("a fixed time")
}

fn hours_before(hours: i64) -> Option<DateTime<Utc>> {
    Some(taken_at() - chrono::Duration::hours(hours))
}

fn table(name: &str, total: i64, rows: i64, dead: i64) -> TableSize {
    TableSize {
        schema: "public".into(),
        name: name.into(),
        kind: "r".into(),
        total_bytes: Some(total),
        heap_bytes: Some(total * 6 / 10),
        index_bytes: Some(total * 3 / 10),
        toast_bytes: Some(total / 10),
        estimated_heap_bytes: total * 6 / 10,
        estimated_rows: Some(rows),
        n_live_tup: Some(rows),
        n_dead_tup: Some(dead),
        last_vacuum: None,
        last_autovacuum: hours_before(rows % 7 + 1),
        last_analyze: hours_before(2),
        last_autoanalyze: None,
        exclusively_locked: false,
    }
}

fn locked(mut t: TableSize) -> TableSize {
    t.total_bytes = None;
    t.heap_bytes = None;
    t.index_bytes = None;
    t.toast_bytes = None;
    t.exclusively_locked = true;
    t
}

fn tables() -> Vec<TableSize> {
    vec![
        table("accounts", 120 * MB, 450_000, 1_200),
        table("conversations", 1_288_490_189, 8_100_000, 90_000),
        table("audit_log", 3 * GB, 30_000_000, 5),
        table("settings", 16_384, 12, 0),
    ]
}

pub(super) fn session(pid: i32, app: &str, state: &str, query: &str) -> Session {
    Session {
        pid,
        datname: Some("shop".into()),
        user: Some("alice".into()),
        application_name: Some(app.into()),
        client: None,
        backend_type: Some("client backend".into()),
        state: Some(state.into()),
        wait_event_type: None,
        wait_event: None,
        backend_age_secs: Some(3_600.0),
        xact_age_secs: Some(f64::from(pid % 100) + 0.5),
        query_age_secs: Some(2.0),
        state_age_secs: Some(1.0),
        leader_pid: None,
        query: Some(query.into()),
        is_lockstep: app.starts_with("lockstep"),
        via_pooler: false,
        idle_in_transaction_too_long: false,
    }
}

pub(super) fn waiting(mut s: Session) -> Session {
    s.wait_event_type = Some("Lock".into());
    s.wait_event = Some("relation".into());
    s
}

fn idle_in_tx(pid: i32, idle_secs: f64) -> Session {
    let mut s = session(
        pid,
        "worker",
        "idle in transaction",
        "UPDATE accounts SET n = n + 1",
    );
    s.xact_age_secs = Some(idle_secs + 3.0);
    s.state_age_secs = Some(idle_secs);
    s.idle_in_transaction_too_long = true;
    s
}

pub(super) fn edge(pid: i32, blocked_by: &[i32], mode: &str, relation: &str, age: f64) -> LockEdge {
    LockEdge {
        pid,
        blocked_by: blocked_by.to_vec(),
        wait_age_secs: Some(age),
        waiting_for: Some(WaitedLock {
            locktype: Some("relation".into()),
            mode: Some(mode.into()),
            relation: Some(relation.into()),
        }),
    }
}

/// A chain 100 → 101 (lockstep's apply) → 102, a fork 200 → 201, 202, and 300 waiting on both
/// roots; plus an active session and an idle one (which the Activity tab leaves out).
fn lock_scenario() -> (Vec<LockEdge>, Vec<Session>) {
    let activity = vec![
        idle_in_tx(100, 95.0),
        waiting(session(
            101,
            "lockstep:apply:20240101",
            "active",
            "ALTER TABLE conversations ADD COLUMN archived boolean",
        )),
        waiting(session(
            102,
            "api",
            "active",
            "SELECT * FROM conversations WHERE id = $1",
        )),
        session(200, "batch", "active", "UPDATE accounts SET plan = 'pro'"),
        waiting(session(201, "api", "active", "SELECT * FROM accounts")),
        waiting(session(
            202,
            "api",
            "active",
            "DELETE FROM accounts WHERE id = $1",
        )),
        waiting(session(
            300,
            "reports",
            "active",
            "LOCK TABLE conversations, accounts IN SHARE MODE",
        )),
        session(400, "psql", "idle", "SELECT 1"),
    ];
    let edges = vec![
        edge(101, &[100], "AccessExclusiveLock", "conversations", 12.0),
        edge(102, &[101], "AccessShareLock", "conversations", 4.0),
        edge(201, &[200], "RowExclusiveLock", "accounts", 7.0),
        edge(202, &[200], "RowExclusiveLock", "accounts", 3.0),
        edge(300, &[100, 200], "ShareLock", "accounts", 5.0),
    ];
    (edges, activity)
}

pub(super) fn poll_state(
    sizes: Option<Vec<TableSize>>,
    edges: Vec<LockEdge>,
    activity: Vec<Session>,
) -> PollState {
    let forest = build_forest(&edges, &activity);
    PollState {
        snapshot: Some(Arc::new(Snapshot {
            taken_at: taken_at(),
            elapsed_ms: 12.0,
            sizes,
            activity,
            edges,
            forest,
        })),
        sample: None,
        last_success: Some(crate::screens::now()),
        error: None,
        stale: false,
        polls: 1,
    }
}

fn inspect_with(sizes: Vec<TableSize>, tab: Tab) -> Inspect {
    let (edges, activity) = lock_scenario();
    let mut inspect = Inspect::new();
    inspect.update(poll_state(Some(sizes), edges, activity));
    inspect.set_tab(tab);
    inspect
}

fn press(inspect: &mut Inspect, code: KeyCode) -> InspectAction {
    inspect.key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(super) fn render(inspect: &Inspect, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|f| draw(f, f.area(), inspect, true, crate::screens::now()))
        .expect("drawn");
    terminal
}

fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    let mut settings = insta::Settings::clone_current();
    // The data's age varies in length; the border before it with it.
    settings.add_filter(r"─+ updated \S+ ago", "─ updated [AGE] ago");
    settings.add_filter(r"─+ paused · data \S+ old", "─ paused · data [AGE] old");
    settings.bind(|| insta::assert_snapshot!(name, terminal.backend()));
}

/// The first cell showing `text` (row by row; wide characters handled): its foreground colour
/// and whether it is bold.
fn look(terminal: &Terminal<TestBackend>, text: &str) -> (Color, bool) {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        let mut starts = Vec::new();
        for x in 0..buffer.area.width {
            starts.push((line.len(), x));
            line.push_str(buffer[(x, y)].symbol());
        }
        if let Some(byte) = line.find(text) {
            let x = starts
                .iter()
                .rev()
                .find(|(start, _)| *start <= byte)
                .map_or(0, |&(_, x)| x);
            let cell = &buffer[(x, y)];
            return (cell.fg, cell.modifier.contains(Modifier::BOLD));
        }
    }
    panic!("{text:?} is not on screen");
}

pub(super) fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tab of the lock scenario drawn at `width` × `height`, compared with snapshot `name`.
fn shown(tab: Tab, name: &str, width: u16, height: u16) -> (Terminal<TestBackend>, String) {
    let terminal = render(&inspect_with(tables(), tab), width, height);
    snapshot(name, &terminal);
    let text = screen_text(&terminal);
    (terminal, text)
}

fn sorted_names(inspect: &Inspect) -> Vec<String> {
    inspect
        .sorted_sizes()
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

#[test]
fn sizes_sort_by_total_and_cycle_through_columns() {
    let mut inspect = inspect_with(tables(), Tab::Sizes);
    assert_eq!(inspect.sort(), (SizeColumn::Total, true));
    assert_eq!(
        sorted_names(&inspect),
        ["audit_log", "conversations", "accounts", "settings"]
    );
    let terminal = render(&inspect, 130, 9);
    snapshot("inspect_sizes_by_total", &terminal);
    assert!(screen_text(&terminal).contains("TOTAL ▼"), "the sort arrow");

    assert_eq!(
        press(&mut inspect, KeyCode::Char('S')),
        InspectAction::Handled
    );
    assert_eq!(
        sorted_names(&inspect),
        ["settings", "accounts", "conversations", "audit_log"],
        "S reverses"
    );
    press(&mut inspect, KeyCode::Char('s'));
    assert_eq!(
        inspect.sort(),
        (SizeColumn::Heap, true),
        "s moves on, largest first"
    );
    for _ in 0..5 {
        press(&mut inspect, KeyCode::Char('s'));
    }
    assert_eq!(inspect.sort().0, SizeColumn::Dead);
    assert_eq!(
        sorted_names(&inspect),
        ["conversations", "accounts", "audit_log", "settings"]
    );
    for _ in 0..3 {
        press(&mut inspect, KeyCode::Char('s'));
    }
    assert_eq!(
        inspect.sort(),
        (SizeColumn::Name, false),
        "names sort ascending"
    );
    assert_eq!(
        sorted_names(&inspect),
        ["accounts", "audit_log", "conversations", "settings"]
    );
    assert!(screen_text(&render(&inspect, 130, 9)).contains("TABLE ▲"));
}

#[test]
fn the_cursor_stays_on_its_table_when_the_order_changes() {
    let mut inspect = inspect_with(tables(), Tab::Sizes);
    press(&mut inspect, KeyCode::Char('j'));
    press(&mut inspect, KeyCode::Char('S'));
    let terminal = render(&inspect, 130, 9);
    let text = screen_text(&terminal);
    let selected = text
        .lines()
        .position(|l| l.contains("conversations"))
        .expect("on screen");
    let (_, y) = (0, selected as u16);
    let buffer = terminal.backend().buffer();
    assert!(
        buffer[(2, y)].modifier.contains(Modifier::REVERSED),
        "conversations is still selected after reversing"
    );
}

#[test]
fn a_locked_table_shows_its_estimate_and_a_red_badge() {
    let mut sizes = tables();
    sizes[1] = locked(sizes[1].clone());
    let inspect = inspect_with(sizes, Tab::Sizes);
    let terminal = render(&inspect, 130, 9);
    snapshot("inspect_sizes_locked", &terminal);
    let (fg, bold) = look(&terminal, "locked");
    assert_eq!(fg, Color::Red, "the lock badge is red");
    assert!(bold);
    assert!(
        screen_text(&terminal).contains("~737.3 MB"),
        "the catalog estimate"
    );
    let conversations = inspect.table_size("conversations").expect("found");
    assert_eq!(size_note(conversations), "~737.3 MB, 8.1M rows, locked");
}

#[test]
fn table_sizes_are_found_by_bare_qualified_or_quoted_name() {
    let mut sizes = tables();
    let mut archived = table("conversations", 10, 1, 0);
    archived.schema = "archive".into();
    sizes.insert(0, archived);
    let inspect = inspect_with(sizes, Tab::Sizes);
    let note = |name: &str| inspect.table_size(name).map(size_note);
    assert_eq!(note("conversations").as_deref(), Some("1.2 GB, 8.1M rows"));
    assert_eq!(
        note("Public.Conversations").as_deref(),
        Some("1.2 GB, 8.1M rows")
    );
    assert_eq!(
        note("\"archive\".conversations").as_deref(),
        Some("10 B, 1 rows")
    );
    assert_eq!(
        note("\"Conversations\""),
        None,
        "quoted names keep their case"
    );
    assert_eq!(note("missing"), None);
}

#[test]
fn locks_show_a_chain_and_a_fork_with_red_roots() {
    let (terminal, text) = shown(Tab::Locks, "inspect_locks", 150, 12);
    assert_eq!(look(&terminal, "pid 100").0, Color::Red, "a root is red");
    assert_eq!(look(&terminal, "pid 200").0, Color::Red, "a root is red");
    assert_eq!(
        look(&terminal, "pid 101").0,
        Color::Yellow,
        "a waiter that blocks others is yellow"
    );
    assert_eq!(
        text.matches("pid 300").count(),
        2,
        "a session waiting on two roots appears under both"
    );
    assert!(
        text.contains("(lockstep)"),
        "lockstep's own session is labelled"
    );
    assert!(text.contains("wants AccessExclusiveLock on conversations"));
}

#[test]
fn no_waits_say_so() {
    let mut inspect = Inspect::new();
    inspect.update(poll_state(None, Vec::new(), Vec::new()));
    let text = screen_text(&render(&inspect, 60, 5));
    assert!(text.contains("no session is waiting on a lock"), "{text}");
}

#[test]
fn activity_makes_a_long_idle_transaction_stand_out() {
    let (terminal, text) = shown(Tab::Activity, "inspect_activity", 130, 12);
    assert!(!text.contains("psql"), "idle sessions are left out");
    // The idle-in-transaction row is the first and selected; look at its last column.
    let (fg, bold) = look(&terminal, "UPDATE accounts SET n");
    assert_eq!(
        fg,
        Color::Red,
        "idle in transaction past the threshold is red"
    );
    assert!(bold);
    assert_eq!(look(&terminal, "SELECT * FROM accounts").0, Color::Yellow);
}

#[test]
fn terminate_asks_twice_in_red_and_cancel_once() {
    let mut inspect = inspect_with(tables(), Tab::Activity);
    assert_eq!(
        press(&mut inspect, KeyCode::Char('X')),
        InspectAction::Handled
    );
    assert!(inspect.has_overlay());
    let first = render(&inspect, 100, 16);
    snapshot("inspect_terminate_first", &first);
    assert_eq!(look(&first, "Terminate pid 100?").0, Color::Red);
    assert_eq!(
        press(&mut inspect, KeyCode::Char('y')),
        InspectAction::Handled
    );
    assert!(inspect.has_overlay(), "one y is not enough");
    let second = render(&inspect, 100, 16);
    snapshot("inspect_terminate_second", &second);
    assert_eq!(look(&second, "Really terminate pid 100?").0, Color::Red);
    assert!(
        !screen_text(&second).contains("(1 of 2)"),
        "the second question differs"
    );
    assert_eq!(
        press(&mut inspect, KeyCode::Char('y')),
        InspectAction::Signal {
            signal: Signal::Terminate,
            pid: 100
        }
    );
    assert!(!inspect.has_overlay());

    press(&mut inspect, KeyCode::Char('x'));
    let cancel = render(&inspect, 100, 16);
    assert_eq!(
        look(&cancel, "Cancel the query of pid 100?").0,
        Color::Yellow
    );
    assert_eq!(
        press(&mut inspect, KeyCode::Char('y')),
        InspectAction::Signal {
            signal: Signal::Cancel,
            pid: 100
        },
        "cancel asks once"
    );
}

#[test]
fn n_esc_and_enter_abort_a_confirmation() {
    let mut inspect = inspect_with(tables(), Tab::Activity);
    for abort in [
        KeyCode::Char('n'),
        KeyCode::Esc,
        KeyCode::Enter,
        KeyCode::Char('X'),
    ] {
        press(&mut inspect, KeyCode::Char('X'));
        press(&mut inspect, KeyCode::Char('y'));
        assert!(inspect.has_overlay());
        assert_eq!(
            press(&mut inspect, abort),
            InspectAction::Handled,
            "{abort:?}"
        );
        assert!(!inspect.has_overlay(), "{abort:?} aborts");
        assert!(inspect.notice().is_some_and(|n| n.contains("abandoned")));
    }
}

#[test]
fn lockstep_sessions_idle_sessions_and_placeholders_are_refused() {
    let mut inspect = inspect_with(tables(), Tab::Locks);
    // Lines: 100, 101 (lockstep), 102, 300, 200, ...
    press(&mut inspect, KeyCode::Char('j'));
    assert_eq!(inspect.selected_target().map(|t| t.pid), Some(101));
    press(&mut inspect, KeyCode::Char('X'));
    assert!(
        !inspect.has_overlay(),
        "never signal lockstep's own session"
    );
    let notice = inspect.notice().expect("a reason");
    assert!(notice.contains("lockstep's own session"), "{notice}");

    let mut idle = Inspect::new();
    let mut quiet = session(500, "psql", "idle", "SELECT 1");
    quiet.wait_event_type = Some("Lock".into());
    let edges = vec![edge(501, &[500], "AccessShareLock", "t", 1.0)];
    idle.update(poll_state(
        None,
        edges,
        vec![quiet, waiting(session(501, "api", "active", "SELECT"))],
    ));
    idle.set_tab(Tab::Locks);
    press(&mut idle, KeyCode::Char('x'));
    assert!(!idle.has_overlay());
    assert!(idle.notice().is_some_and(|n| n.contains("idle")));
    press(&mut idle, KeyCode::Char('X'));
    assert!(
        idle.has_overlay(),
        "an idle session can still be terminated"
    );
}

#[test]
fn pause_refresh_tabs_and_hints() {
    let mut inspect = inspect_with(tables(), Tab::Locks);
    assert_eq!(
        press(&mut inspect, KeyCode::Char('p')),
        InspectAction::Pause(true)
    );
    assert!(inspect.paused());
    assert!(inspect.hints().contains("p resume"), "{}", inspect.hints());
    assert!(screen_text(&render(&inspect, 100, 6)).contains("paused"));
    assert_eq!(
        press(&mut inspect, KeyCode::Char(' ')),
        InspectAction::Pause(false)
    );
    // R rehearses, from every pane; Ctrl-r refreshes (the dashboard's key).
    assert_eq!(
        press(&mut inspect, KeyCode::Char('R')),
        InspectAction::Ignored
    );
    assert!(
        inspect.hints().contains("Ctrl-r refresh"),
        "{}",
        inspect.hints()
    );
    assert_eq!(
        press(&mut inspect, KeyCode::Char('4')),
        InspectAction::Handled
    );
    assert_eq!(inspect.tab(), Tab::Sizes);
    assert!(
        inspect.hints().contains("s sort: total"),
        "{}",
        inspect.hints()
    );
    assert_eq!(
        press(&mut inspect, KeyCode::Char(']')),
        InspectAction::Handled
    );
    assert_eq!(inspect.tab(), Tab::Locks);
    // h / l and the arrows move between panes: the dashboard's, not the tabs'.
    assert_eq!(press(&mut inspect, KeyCode::Right), InspectAction::Ignored);
    assert_eq!(inspect.tab(), Tab::Locks);
    assert_eq!(
        press(&mut inspect, KeyCode::Char('q')),
        InspectAction::Ignored
    );
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(inspect.key(ctrl_c), InspectAction::Ignored);
}

#[test]
fn a_failed_poll_shows_stale_with_the_error() {
    let (edges, activity) = lock_scenario();
    let mut state = poll_state(Some(tables()), edges, activity);
    state.error = Some("canceling statement due to lock timeout".into());
    state.stale = true;
    let mut inspect = Inspect::new();
    inspect.update(state);
    let terminal = render(&inspect, 120, 6);
    assert_eq!(look(&terminal, "stale: canceling statement").0, Color::Red);
}

#[test]
fn tiny_areas_never_panic() {
    let mut inspect = inspect_with(tables(), Tab::Sizes);
    for tab in Tab::ALL {
        inspect.set_tab(tab);
        for (w, h) in [(10, 3), (1, 1), (3, 10), (0, 0), (20, 4)] {
            render(&inspect, w, h);
        }
    }
    inspect.set_tab(Tab::Locks);
    press(&mut inspect, KeyCode::Char('X'));
    assert!(inspect.has_overlay());
    let terminal = render(&inspect, 10, 3);
    assert_eq!(terminal.backend().buffer().area.width, 10);
}
