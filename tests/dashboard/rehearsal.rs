//! Rehearsals in the dashboard (`R`): the reducer starts one as an effect (read-only mode too)
//! and `c` cancels it; its results in the list's rehearsal column, under each statement of the
//! preview (the observed locks beside the predicted ones, a disagreement highlighted) and in the
//! confirmation of a real apply (with a warning for what was not rehearsed or changed since), at
//! 80×24, 120×35 and 160×45 on the demo set. And the project's `[lint]` policy deciding the
//! findings the dashboard shows, as `lockstep lint` does.
//!
//! The rehearsal results are built from the demo set's own analysis with the engine's comparison
//! ([`lockstep::rehearse::compare`]) and catalogue diff, so their words are the engine's.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lockstep::analysis::{AnalyzedStatement, LockMode, Severity};
use lockstep::rehearse::catalog::{self, Catalog, Moment, ObjectKey, ObjectKind};
use lockstep::rehearse::compare::{Observation, ObservedLock, disagreements, predicted_locks};
use lockstep::rehearse::{
    CopySummary, MigrationRehearsal, Outcome, Phase, PhaseName, RehearsalEvent, RehearsalReport,
    ScratchInfo, Source, StatementRehearsal, Timings,
};
use lockstep::runner::Failure;
use lockstep::status::VersionStatus;
use lockstep::tui::app::{App, Effect, Event, Overlay, Pane, Side};
use lockstep::tui::preview::PreviewRow;
use lockstep::tui::rehearsal::RehearsalEnd;
use ratatui::style::Color;

use super::layouts::{SIZES, demo_app, screen, snapshot};
use super::screens::{clean_app, feed, index_app, key, now, render};

const LANGUAGE: i64 = 20260112110000;
const INDEX: i64 = 20260116113000;
const TEMPLATE: i64 = 20260119150000;
const WIDEN: i64 = 20260120101500;

fn version(app: &App, version: i64) -> VersionStatus {
    app.data
        .status
        .as_ref()
        .and_then(|s| s.versions.iter().find(|v| v.version == version))
        .cloned()
        .expect("the version is listed")
}

/// Moves the cursor to `version`.
pub(super) fn select(app: &mut App, version: i64) {
    key(app, KeyCode::Char('1'));
    key(app, KeyCode::Char('g'));
    while app.selected_version().map(|v| v.version) != Some(version) {
        let before = app.selected_version().map(|v| v.version);
        key(app, KeyCode::Char('j'));
        assert_ne!(
            app.selected_version().map(|v| v.version),
            before,
            "{version} is not in the list"
        );
    }
}

fn ok(elapsed_ms: f64) -> Phase {
    Phase {
        outcome: Outcome::Ok,
        elapsed_ms,
    }
}

/// A statement as the tracer would report it: `observed` locks, `rewritten` tables, compared
/// with the analysis's prediction by the engine.
fn traced(
    statement: &AnalyzedStatement,
    observed: &[(&str, LockMode)],
    rewritten: &[&str],
) -> StatementRehearsal {
    let existed = |relation: &str| {
        statement
            .locks
            .iter()
            .any(|l| l.relation == relation && !l.new_relation)
    };
    let predicted = predicted_locks(statement, existed);
    let observed: Vec<ObservedLock> = observed
        .iter()
        .map(|(target, mode)| ObservedLock {
            target: target.to_string(),
            object: false,
            mode: *mode,
            granted: true,
        })
        .collect();
    let rewritten: Vec<String> = rewritten.iter().map(|t| t.to_string()).collect();
    let disagreements = disagreements(
        &predicted,
        &observed,
        &Observation {
            rewritten: &rewritten,
            sampled: false,
            statement: (statement.index, statement.start.line),
        },
        &mut BTreeMap::new(),
    );
    StatementRehearsal {
        index: statement.index,
        line: statement.start.line,
        text: statement.text.clone(),
        elapsed_ms: 4.2,
        rows_affected: 0,
        observed,
        predicted,
        rewritten,
        sampled: false,
        disagreements,
        held: Vec::new(),
    }
}

/// The rehearsal of `v` with its current files: its UP traced as `statements`, its DOWN `down`,
/// the UP again `up_again`.
fn rehearsal(
    app: &App,
    v: i64,
    statements: impl Fn(&[AnalyzedStatement]) -> Vec<StatementRehearsal>,
    down: Phase,
    up_again: Phase,
) -> MigrationRehearsal {
    let listed = version(app, v);
    let migration = listed.migration.as_ref().expect("its files");
    let analysis = app.data.analysis(v, Side::Up).expect("analysed");
    MigrationRehearsal {
        version: v,
        description: migration.description.clone(),
        in_transaction: !migration.up.no_transaction,
        up_checksum: hex::encode(&migration.up.checksum),
        down_checksum: migration.down.as_ref().map(|d| hex::encode(&d.checksum)),
        up: ok(12.5),
        statements: statements(&analysis.statements),
        down,
        up_again,
        data_loss: Vec::new(),
    }
}

/// The demo's rehearsal up to the widening of `conversation_turns.token_count`:
/// - the language columns: a round trip, the observed ACCESS EXCLUSIVE as predicted;
/// - the status index: its DOWN forgets the index (the engine's diff says so), so the UP fails
///   again;
/// - the template requirement: rehearsed before its UP file changed;
/// - the widening: a round trip, but the server did not rewrite the table the analysis expected
///   to be rewritten (a disagreement).
fn demo_rehearsals(app: &App) -> Vec<MigrationRehearsal> {
    let language = rehearsal(
        app,
        LANGUAGE,
        |s| {
            vec![
                traced(&s[0], &[], &[]),
                traced(&s[1], &[("conversations", LockMode::AccessExclusive)], &[]),
            ]
        },
        ok(8.1),
        ok(9.3),
    );
    let index_key = ObjectKey {
        kind: ObjectKind::Index,
        owner: Some("conversations".into()),
        name: "conversations_status_created_at_idx".into(),
    };
    let mut after_up = Catalog::default();
    after_up.objects.insert(index_key, BTreeMap::new());
    let differences = catalog::diff(&Catalog::default(), &after_up, &after_up, Moment::AfterDown);
    assert_eq!(
        differences[0].message,
        "index `conversations_status_created_at_idx` still exists after DOWN"
    );
    let index = rehearsal(
        app,
        INDEX,
        |s| vec![traced(&s[0], &[("conversations", LockMode::Share)], &[])],
        Phase {
            outcome: Outcome::Differs { differences },
            elapsed_ms: 3.0,
        },
        Phase {
            outcome: Outcome::Failed {
                failure: Box::new(Failure {
                    statement: Some(0),
                    line: Some(4),
                    column: None,
                    sqlstate: Some("42P07".into()),
                    message: "relation \"conversations_status_created_at_idx\" already exists"
                        .into(),
                    detail: None,
                    hint: None,
                    in_transaction: true,
                    partial: false,
                    own_transactions: false,
                    completed: vec![],
                    blocked_by: None,
                }),
                statement: Some(
                    "CREATE INDEX conversations_status_created_at_idx ON conversations (status, \
                     created_at)"
                        .into(),
                ),
            },
            elapsed_ms: 1.0,
        },
    );
    let mut template = rehearsal(
        app,
        TEMPLATE,
        |s| {
            vec![traced(
                &s[0],
                &[("conversations", LockMode::AccessExclusive)],
                &[],
            )]
        },
        ok(2.0),
        ok(2.0),
    );
    template.up_checksum = "00".repeat(48);
    let widen = rehearsal(
        app,
        WIDEN,
        |s| {
            vec![traced(
                &s[0],
                &[("conversation_turns", LockMode::AccessExclusive)],
                &[],
            )]
        },
        ok(30.0),
        ok(41.0),
    );
    vec![language, index, template, widen]
}

fn report(migrations: Vec<MigrationRehearsal>) -> RehearsalReport {
    RehearsalReport {
        source: Source::Copy(CopySummary {
            database: "postgres://lockstep:***@127.0.0.1:5432/lockstep_demo".into(),
            server_version: "15.18".into(),
            read_only: true,
            tables: 8,
            history_rows: 8,
            sample_rows: 0,
            warnings: vec![],
            elapsed_ms: 310.0,
        }),
        server: ScratchInfo {
            server_version: "15.18".into(),
            same_major: true,
            server: "a throwaway PostgreSQL".into(),
            warning: None,
        },
        require_down: false,
        all: false,
        migrations,
        elapsed_ms: 2300.0,
        timings: Timings {
            prepare_ms: 900.0,
            copy_ms: 310.0,
            migrations_ms: 990.0,
            snapshots_ms: 120.0,
            cleanup_ms: 100.0,
        },
    }
}

/// The demo after `R` on the widening, its rehearsal streamed in and finished.
fn rehearsed_demo(size: (u16, u16)) -> App {
    let mut app = demo_app();
    render(&mut app, size.0, size.1);
    select(&mut app, WIDEN);
    assert_eq!(
        key(&mut app, KeyCode::Char('R')),
        vec![Effect::Rehearse { to: Some(WIDEN) }]
    );
    let migrations = demo_rehearsals(&app);
    feed(
        &mut app,
        Event::Rehearsal(RehearsalEvent::Preparing {
            what: "starting a throwaway PostgreSQL 15".into(),
        }),
    );
    for rehearsal in &migrations {
        feed(
            &mut app,
            Event::Rehearsal(RehearsalEvent::MigrationRehearsed {
                rehearsal: Box::new(rehearsal.clone()),
            }),
        );
    }
    feed(
        &mut app,
        Event::RehearsalDone(RehearsalEnd::Done(Box::new(report(migrations)))),
    );
    assert!(app.run.rehearsing().is_none());
    app
}

#[test]
fn the_preview_shows_observed_locks_beside_the_predicted_ones() {
    for size in SIZES {
        let (w, h) = size;
        let mut app = rehearsed_demo(size);
        select(&mut app, WIDEN);
        key(&mut app, KeyCode::Enter);
        // To the statement (its finding), as a reviewer would, and on to its disagreement on
        // a short screen.
        key(&mut app, KeyCode::Char(']'));
        let mut terminal = render(&mut app, w, h);
        for _ in 0..10 {
            if disagreement_badge(&terminal) {
                break;
            }
            key(&mut app, KeyCode::Char('j'));
            terminal = render(&mut app, w, h);
        }
        snapshot(&format!("rehearsal_preview_{w}x{h}"), &terminal);
        let text = screen(&terminal).join("\n");
        assert!(text.contains("observed"), "{size:?}:\n{text}");
        // The whole badge: on one row where the pane is wide enough, else cut at its space
        // onto two (at 80 columns it used to lose "_turns" to the border).
        let badge: &[&str] = if w >= 100 {
            &[" ACCESS EXCLUSIVE on conversation_turns "]
        } else {
            &[" ACCESS EXCLUSIVE on ", " conversation_turns "]
        };
        for part in badge {
            assert!(text.contains(part), "{size:?}: {part}\n{text}");
        }
        // The disagreement: a badge on its own colour, and the engine's words under it.
        assert!(disagreement_badge(&terminal), "{size:?}:\n{text}");
        let mut text = text;
        for _ in 0..4 {
            if text.contains("≠ the analysis predicted a") {
                break;
            }
            key(&mut app, KeyCode::Char('j'));
            text = screen(&render(&mut app, w, h)).join("\n");
        }
        assert!(
            text.contains("≠ the analysis predicted a"),
            "{size:?}:\n{text}"
        );

        // The list's rehearsal column, where the list is wide enough for it (at 100 columns
        // the findings take the room: they come first).
        if w >= 120 {
            let lines = screen(&terminal);
            let row = |v: i64| {
                lines
                    .iter()
                    .find(|l| l.contains(&format!("○ {v}")))
                    .cloned()
                    .unwrap_or_default()
            };
            assert!(row(LANGUAGE).contains(" ✓"), "{size:?}: {}", row(LANGUAGE));
            assert!(row(INDEX).contains(" ✗"), "{size:?}: {}", row(INDEX));
            assert!(row(TEMPLATE).contains("✓*"), "{size:?}: {}", row(TEMPLATE));
            assert!(row(WIDEN).contains("✓≠"), "{size:?}: {}", row(WIDEN));
        }

        key(&mut app, KeyCode::Char('g'));
        let text = screen(&render(&mut app, w, h)).join("\n");
        assert!(text.contains("⟲ rehearsal: up ✓"), "{size:?}:\n{text}");
        // The DOWN of the index: what its rehearsal found, at the top.
        select(&mut app, INDEX);
        key(&mut app, KeyCode::Char('d'));
        render(&mut app, w, h);
        // The preview's rehearsal rows, wrapped at spaces: joined again.
        let text = app
            .preview
            .rows()
            .iter()
            .filter_map(|row| match row {
                PreviewRow::Rehearsal(spans) => {
                    Some(spans.iter().map(|s| s.text.as_str()).collect::<String>())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ");
        for expected in [
            "⟲ rehearsal: up ✓ · down ✗ 1 difference · up again ✗ failed",
            "still exists after DOWN",
            "already exists (SQLSTATE 42P07)",
        ] {
            assert!(text.contains(expected), "{size:?}: {expected:?} in {text}");
        }
    }
}

/// Whether the `≠` badge is on screen: `≠` on its own colour.
fn disagreement_badge(terminal: &ratatui::Terminal<ratatui::backend::TestBackend>) -> bool {
    let buffer = terminal.backend().buffer();
    buffer
        .content()
        .iter()
        .any(|cell| cell.symbol() == "≠" && cell.bg == Color::LightBlue)
}

#[test]
fn the_list_column_has_a_place_in_the_dropping_order() {
    let mut app = rehearsed_demo((160, 45));
    let terminal = render(&mut app, 160, 45);
    let lines = screen(&terminal);
    let row = lines
        .iter()
        .find(|l| l.contains(&INDEX.to_string()))
        .expect("the index row");
    // Findings first (✗1), then the rehearsal (✗).
    let crosses: Vec<usize> = row.match_indices('✗').map(|(i, _)| i).collect();
    assert_eq!(crosses.len(), 2, "{row}");
    assert!(row[crosses[0]..].starts_with("✗1"), "{row}");
    assert_eq!(super::screens::cell_fg(&terminal, "✓≠"), Color::Green);
    // Narrow: the rehearsal column gives way first; the findings keep their place beside the
    // identity columns.
    let terminal = render(&mut app, 80, 24);
    let text = screen(&terminal).join("\n");
    let row = text
        .lines()
        .find(|l| l.contains("20260116113000 index conversa"))
        .expect("identity first");
    let crosses: Vec<usize> = row.match_indices('✗').map(|(i, _)| i).collect();
    assert_eq!(crosses.len(), 1, "the rehearsal gives way: {row}");
    assert!(row[crosses[0]..].starts_with("✗1"), "{row}");
}

#[test]
fn the_confirmation_shows_the_rehearsal_of_what_it_runs() {
    for size in SIZES {
        let (w, h) = size;
        let mut app = rehearsed_demo(size);
        select(&mut app, WIDEN);
        key(&mut app, KeyCode::Char('a'));
        let Overlay::Confirm(confirm) = &app.overlay else {
            panic!("{size:?}: no confirmation: {:?}", app.message)
        };
        assert!(confirm.challenge.is_some(), "{size:?}");
        // Scrolled to the rehearsal where the screen is short.
        let mut terminal = render(&mut app, w, h);
        for _ in 0..40 {
            if screen(&terminal).join("\n").contains("Rehearsal: 3 of 7") {
                break;
            }
            key(&mut app, KeyCode::Down);
            terminal = render(&mut app, w, h);
        }
        snapshot(&format!("rehearsal_confirm_{w}x{h}"), &terminal);
        let body = confirm_text(&app);
        for expected in [
            "Rehearsal: 3 of 7 migrations rehearsed on a scratch copy with these files",
            "✓ 20260112110000 add conversation language and archive flag",
            "✗ 20260116113000 index conversations by status",
            "✗ index `conversations_status_created_at_idx` still exists after DOWN",
            "✓ 20260120101500 widen turn token count",
            "≠ statement 1 (line 3): the analysis predicted a rewrite of `conversation_turns`",
            "⚠ 20260119150000 require conversation template: its files changed since the \
             rehearsal (checksums differ): R rehearses it again",
            "⚠ 20260113093000 add turn constraints not valid: not rehearsed",
        ] {
            assert!(body.contains(expected), "{size:?}: {expected:?} in\n{body}");
        }
        assert_eq!(
            super::screens::cell_fg(&terminal, "Rehearsal: 3 of 7"),
            Color::Red,
            "a failed rehearsal is red"
        );
    }
}

/// The confirmation's whole body (every line, scrolled or not).
fn confirm_text(app: &App) -> String {
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    confirm.body_text()
}

#[test]
fn the_confirmation_warns_when_nothing_was_rehearsed_or_only_a_round_trip() {
    for size in SIZES {
        let (w, h) = size;
        let mut app = demo_app();
        render(&mut app, w, h);
        key(&mut app, KeyCode::Char('a'));
        let terminal = render(&mut app, w, h);
        snapshot(&format!("rehearsal_none_confirm_{w}x{h}"), &terminal);
        let body = confirm_text(&app);
        assert!(
            body.contains(
                "Rehearsal: none — R rehearses this migration on a scratch copy first \
                 (observed locks, a DOWN that undoes the UP)"
            ),
            "{size:?}:\n{body}"
        );
        assert_eq!(
            super::screens::cell_fg(&terminal, "Rehearsal: none"),
            Color::Yellow
        );
    }
    // Everything it runs rehearsed, a round trip: green, and y is enough.
    let mut app = rehearsed_demo((120, 35));
    select(&mut app, LANGUAGE);
    key(&mut app, KeyCode::Char('a'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(confirm.challenge, None, "{:?}", confirm.challenge_reason);
    let terminal = render(&mut app, 120, 35);
    let body = confirm_text(&app);
    assert!(
        body.contains("Rehearsal: all 1 migration rehearsed on a scratch copy"),
        "{body}"
    );
    assert_eq!(
        super::screens::cell_fg(&terminal, "Rehearsal: all"),
        Color::Green
    );
    // A failed rehearsal asks for the version to be typed, without error-level findings too.
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('R'));
    let mut failed = add_orders(&app);
    failed.down = Phase {
        outcome: Outcome::NotRun {
            reason: "not reached".into(),
        },
        elapsed_ms: 0.0,
    };
    failed.up = Phase {
        outcome: Outcome::Failed {
            failure: Box::new(Failure {
                statement: Some(1),
                line: Some(5),
                column: None,
                sqlstate: Some("23502".into()),
                message: "null value in column \"user_id\" violates not-null constraint".into(),
                detail: None,
                hint: None,
                in_transaction: true,
                partial: false,
                own_transactions: false,
                completed: vec![0],
                blocked_by: None,
            }),
            statement: None,
        },
        elapsed_ms: 2.0,
    };
    feed(
        &mut app,
        Event::RehearsalDone(RehearsalEnd::Done(Box::new(report(vec![failed])))),
    );
    key(&mut app, KeyCode::Char('a'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(
        confirm.challenge_reason.as_deref(),
        Some("the rehearsal of 7 failed")
    );
    assert!(
        confirm
            .body_text()
            .contains("✗ up failed at statement 2 (line 5)"),
        "{}",
        confirm.body_text()
    );
}

/// A round trip of clean_app's pending `7 add orders`, with its current files.
fn add_orders(app: &App) -> MigrationRehearsal {
    let listed = version(app, 7);
    let m = listed.migration.as_ref().unwrap();
    MigrationRehearsal {
        version: 7,
        description: "add orders".into(),
        in_transaction: true,
        up_checksum: hex::encode(&m.up.checksum),
        down_checksum: m.down.as_ref().map(|d| hex::encode(&d.checksum)),
        up: ok(3.0),
        statements: vec![],
        down: ok(1.0),
        up_again: ok(3.0),
        data_loss: vec![],
    }
}

#[test]
fn r_rehearses_in_the_background_and_c_cancels_it() {
    let mut app = clean_app();
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_version().unwrap().version, 7);
    // The inspection panes in the bottom pane: R still rehearses, and brings the run pane back.
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('1'));
    let effects = key(&mut app, KeyCode::Char('R'));
    assert_eq!(effects, vec![Effect::Rehearse { to: Some(7) }]);
    assert_eq!(app.run.rehearsing().map(|r| r.planned), Some(1));
    assert_eq!(app.focus, Pane::Migrations, "the list keeps the focus");
    // The dashboard stays usable while it runs; a second R and a real apply wait for it.
    assert!(key(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app.message.as_deref().unwrap().contains("c cancels it"));
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    assert!(app.overlay.is_none(), "no apply while rehearsing");
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(
        app.selected_version().unwrap().version,
        4,
        "keys still work"
    );
    key(&mut app, KeyCode::Char('j'));

    // Its progress streams into the run pane, a line per migration.
    feed(
        &mut app,
        Event::Rehearsal(RehearsalEvent::Preparing {
            what: "starting a throwaway PostgreSQL 15".into(),
        }),
    );
    feed(
        &mut app,
        Event::Rehearsal(RehearsalEvent::PhaseStarted {
            version: 7,
            description: "add orders".into(),
            phase: PhaseName::Down,
            statements: 1,
        }),
    );
    let text = render(&mut app, 120, 35).backend().to_string();
    for expected in [
        "rehearsing 1 migration on a scratch copy · c cancels",
        "▶ 7 add orders: down (1 statement)",
        "starting a throwaway PostgreSQL 15…",
        "0 of 1 migration rehearsed",
        "c cancel ·",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    // c cancels at once (nothing on this database is at stake: no question).
    assert_eq!(
        key(&mut app, KeyCode::Char('c')),
        vec![Effect::CancelRehearsal]
    );
    assert!(app.overlay.is_none());
    let text = render(&mut app, 120, 35).backend().to_string();
    assert!(text.contains("cancelling…"), "{text}");
    feed(&mut app, Event::RehearsalDone(RehearsalEnd::Cancelled));
    assert!(app.run.rehearsing().is_none());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .starts_with("rehearsal cancelled")
    );
    assert_eq!(
        key(&mut app, KeyCode::Char('c')),
        Vec::<Effect>::new(),
        "nothing left to cancel"
    );

    // A rehearsal that ran: the list shows its verdict at once.
    key(&mut app, KeyCode::Char('R'));
    let done = add_orders(&app);
    feed(
        &mut app,
        Event::Rehearsal(RehearsalEvent::MigrationRehearsed {
            rehearsal: Box::new(done.clone()),
        }),
    );
    let orders_row = |app: &mut App| {
        render(app, 140, 30)
            .backend()
            .to_string()
            .lines()
            .find(|l| l.contains("○ 7 add orders"))
            .map(str::to_string)
            .expect("the row of 7")
    };
    // Pending (○): its ✓ is the rehearsal's.
    assert!(
        orders_row(&mut app).contains('✓'),
        "{}",
        orders_row(&mut app)
    );
    feed(
        &mut app,
        Event::RehearsalDone(RehearsalEnd::Done(Box::new(report(vec![done])))),
    );
    assert_eq!(
        app.message.as_deref(),
        Some("rehearsal: 1 round trip ✓; 0 disagreements with the static analysis")
    );
    // The files change: the verdict dims, marked `*`.
    let (mut set, mut status) = (
        app.data.set.as_ref().clone(),
        app.data.status.clone().unwrap(),
    );
    set.migrations[4].up.checksum = vec![1; 48];
    for v in &mut status.versions {
        if let Some(m) = v.migration.as_mut().filter(|m| m.version == 7) {
            m.up.checksum = vec![1; 48];
        }
    }
    feed(&mut app, Event::Status(Ok((set, status))));
    assert!(
        orders_row(&mut app).contains("✓*"),
        "{}",
        orders_row(&mut app)
    );

    // Quitting during a rehearsal stops it first (its scratch database is removed).
    key(&mut app, KeyCode::Char('R'));
    let press = |app: &mut App, key: KeyEvent| app.handle(Event::Key(key), super::screens::now());
    assert_eq!(
        press(
            &mut app,
            KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)
        ),
        vec![Effect::CancelRehearsal, Effect::Quit]
    );
    // Ctrl-r re-reads the status and polls the monitor now.
    let mut app = clean_app();
    assert_eq!(
        press(
            &mut app,
            KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)
        ),
        vec![Effect::RefreshStatus, Effect::RefreshMonitor]
    );
}

#[test]
fn read_only_may_rehearse_and_the_help_says_so() {
    let (set, status) = super::screens::every_state();
    let mut ro = App::new(set.clone(), "x".into(), false, false, true, now());
    feed(&mut ro, Event::Status(Ok((set, status))));
    // Migration 6 is recorded as failed: rehearsing refuses as `lockstep rehearse` would.
    key(&mut ro, KeyCode::Char('G'));
    assert!(key(&mut ro, KeyCode::Char('R')).is_empty());
    assert!(
        ro.message
            .as_deref()
            .unwrap()
            .contains("recorded as partially applied or failed"),
        "{:?}",
        ro.message
    );
    let mut ro = clean_app();
    ro.data.read_only = true;
    key(&mut ro, KeyCode::Char('G'));
    assert_eq!(
        key(&mut ro, KeyCode::Char('R')),
        vec![Effect::Rehearse { to: Some(7) }]
    );
    let hints = render(&mut ro, 140, 30).backend().to_string();
    assert!(hints.contains("R rehearse"), "{hints}");
    key(&mut ro, KeyCode::Char('?'));
    let help = render(&mut ro, 120, 40).backend().to_string();
    assert!(help.contains("rehearse the pending migrations up to the selected one"));
    assert!(help.contains("in --read-only too: it only reads"), "{help}");
    assert!(
        help.contains("✓ round trip, ✗ failed, ∅ not reversible"),
        "{help}"
    );
}

#[test]
fn the_lint_policy_decides_the_findings_shown() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("lockstep.toml"),
        "[lint]\n\
         disable = [\"missing-statement-timeout\"]\n\
         severity = { \"require-concurrent-index\" = \"warning\", \"missing-lock-timeout\" = \"info\" }\n",
    )
    .unwrap();
    let config = lockstep::config::Config::load(project.path()).unwrap();
    let without = index_app(false);
    let rules = |app: &App| -> Vec<(String, Severity)> {
        app.data
            .analysis(9, Side::Up)
            .unwrap()
            .findings
            .iter()
            .map(|f| (f.rule.to_string(), f.severity))
            .collect()
    };
    assert!(
        rules(&without).contains(&("missing-statement-timeout".into(), Severity::Warning)),
        "{:?}",
        rules(&without)
    );
    let mut app = index_app(false).with_lint(&config.lint);
    // The files are analysed again under the policy (as they are on every change).
    let (set, status) = (
        app.data.set.as_ref().clone(),
        app.data.status.clone().unwrap(),
    );
    app.data.analyses.invalidate();
    feed(&mut app, Event::Status(Ok((set, status))));
    assert_eq!(
        rules(&app),
        vec![
            ("require-concurrent-index".into(), Severity::Warning),
            ("missing-lock-timeout".into(), Severity::Info),
        ]
    );
    // The list, the preview and the confirmation follow it.
    key(&mut app, KeyCode::Char('G'));
    let text = render(&mut app, 150, 32).backend().to_string();
    assert!(text.contains("▲1"), "{text}");
    assert!(!text.contains("✗1"), "{text}");
    assert!(
        text.contains("▲ warning [require-concurrent-index]"),
        "{text}"
    );
    assert!(!text.contains("missing-statement-timeout"), "{text}");
    key(&mut app, KeyCode::Char('a'));
    let Overlay::Confirm(confirm) = &app.overlay else {
        panic!("no confirmation")
    };
    assert_eq!(confirm.challenge, None, "no error-level finding is left");
    let body = confirm.body_text();
    assert!(
        body.contains("Findings: 0 errors, 1 warning, 1 note"),
        "{body}"
    );
    key(&mut app, KeyCode::Esc);
    // The new-migration editor too.
    super::screens::draft_up(&mut app, "CREATE INDEX ix ON users (email);");
    let Overlay::Editor(editor) = &app.overlay else {
        panic!("the editor is open")
    };
    assert!(
        editor
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning
                && f.text.starts_with("[require-concurrent-index]")),
        "{:?}",
        editor.findings
    );
    assert!(
        !editor
            .findings
            .iter()
            .any(|f| f.text.starts_with("[missing-statement-timeout]")),
        "{:?}",
        editor.findings
    );
}
