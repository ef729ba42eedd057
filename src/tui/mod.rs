//! The terminal dashboard: a thin layer over the engine.
//!
//! One event enum ([`event::Event`]), one channel into the UI loop. Terminal input, the status
//! watcher, highlighting jobs, the migration run and the rehearsal are background tasks that
//! report back as events; the loop applies them to [`app::App`] (a pure reducer, time coming in with each
//! event) and draws every frame from that state. No database call happens on the UI loop.
//!
//! The folder has one shape: a module per component — a pane ([`list`], [`preview`], [`run`],
//! [`inspect`], [`history`]) or an overlay ([`confirm`], [`editor`], [`fix`], [`resolve`], [`question`],
//! [`health`], [`help`], [`filter`], [`command`]) — each owning its state, its keys (returning what the
//! dashboard must do) and its drawing. Around them: [`app`] routes events and holds what is
//! shared ([`data`], with the rehearsals' results of [`rehearsal`]); [`layout`] says where everything goes, for the reducer and the drawing
//! alike; [`view`] puts the frame together with the [`status_bar`]; [`keys`], [`theme`],
//! [`visible`] and [`highlight`] are what every component uses.

pub mod app;
pub mod command;
pub mod confirm;
pub mod data;
pub mod editor;
pub mod event;
pub mod filter;
pub mod fix;
pub mod health;
pub mod help;
pub mod highlight;
pub mod history;
pub mod inspect;
pub mod keys;
pub mod layout;
pub mod list;
pub mod preview;
pub mod question;
pub mod rehearsal;
pub mod resolve;
pub mod run;
pub mod slot;
pub mod status_bar;
pub mod theme;
pub mod view;
pub mod visible;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::LintConfig;
use crate::rehearse::{RehearseError, RehearseOptions};
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::analysis::LintOptions;
use crate::analysis::lint::Chain;
use crate::analysis::migrations::{analyze_pending, analyze_rest};
use crate::db::Database;
use crate::guard::{GuardOptions, GuardPlan};
use crate::monitor::poller::{INTERVAL_IDLE, INTERVAL_RUNNING};
use crate::monitor::{Monitor, Poller, PollerConfig, Signal};
use crate::runner::{RunEvent, RunOptions, Runner};
use crate::source::{self, MigrationSet, SourceOptions};
use crate::status::watch::StatusWatcher;
use app::{App, Effect, Event};

/// What the dashboard works on.
pub struct Dashboard {
    /// The database.
    pub db: Database,
    /// The migrations directory.
    pub dir: std::path::PathBuf,
    /// How to read it.
    pub source_options: SourceOptions,
    /// How runs behave.
    pub options: RunOptions,
    /// Disable everything that writes (rehearsals still run: they only read this database).
    pub read_only: bool,
    /// Where rehearsals create their scratch database (`LOCKSTEP_SCRATCH_SERVER`); `None`: on a
    /// throwaway PostgreSQL of lockstep's own.
    pub scratch_server: Option<String>,
    /// The project's rule configuration (`[lint]` of `lockstep.toml`, or `.squawk.toml`).
    pub lint: LintConfig,
    /// The environment (`--env`, or the one whose URL is in use): named in the status bar; its
    /// snapshot, data copies and confirmation policy apply to every run.
    pub environment: crate::guard::Environment,
    /// Where runs are recorded (the History pane reads it).
    pub audit: crate::audit::AuditSettings,
    /// How the pending migrations meet each other in the review: as one run (a real database:
    /// what an earlier pending migration creates is new and empty for the later ones), or each
    /// after all before it were long applied (a sandbox holding none of the project's migrations
    /// yet: the review `lockstep lint` gives without a database).
    pub chain: Chain,
}

/// How to analyse for a server of `pg_version`, with the session timeouts lockstep runs with.
fn lint_options(run: &RunOptions, chain: Chain, pg_version: u32) -> LintOptions {
    LintOptions {
        chain,
        ..LintOptions::for_session(
            pg_version,
            run.lock_timeout.is_some(),
            run.statement_timeout.is_some(),
        )
    }
}

/// `options` with the database's own schema, which the pending migrations meet; without it (an
/// unreachable database), `options` as they are: the replay of the files alone.
async fn with_live_catalog(db: &Database, options: &LintOptions) -> LintOptions {
    let mut options = options.clone();
    if let Ok(mut conn) = db.connect("lockstep:analyze").await {
        if let Ok(catalog) = crate::schema::read_catalog(&mut conn).await {
            options.catalog = catalog;
        }
        let _ = sqlx::Connection::close(conn).await;
    }
    options
}

/// Whether a URL points at this machine.
pub fn is_local(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(parsed) => {
            matches!(
                parsed.host_str(),
                None | Some("")
                    | Some("localhost")
                    | Some("127.0.0.1")
                    | Some("[::1]")
                    | Some("::1")
            ) || parsed.host_str().is_some_and(|h| h.starts_with('/'))
        }
        Err(_) => false,
    }
}

/// Runs the dashboard until the user quits. The terminal is restored on return and on panic.
pub async fn run(dashboard: Dashboard) -> Result<()> {
    if !dashboard.dir.is_dir() {
        // The error `lockstep status` gives, before the terminal is taken over.
        source::load(&dashboard.dir, &dashboard.source_options)?;
    }
    // The first frame comes at once; the files are read while the database is connected to.
    let set = MigrationSet {
        dir: dashboard.dir.clone(),
        migrations: Vec::new(),
        problems: Vec::new(),
    };
    let db = Arc::new(dashboard.db);
    let remote = !(db.is_sandbox() || is_local(db.url()));
    let mut app = App::new(
        set,
        db.display_url(),
        db.is_sandbox(),
        remote,
        dashboard.read_only,
        Instant::now(),
    )
    .with_run_options(&dashboard.options)
    .with_lint(&dashboard.lint)
    .with_environment(dashboard.environment.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();

    let running = Arc::new(AtomicBool::new(false));
    let rehearsing = Arc::new(AtomicBool::new(false));
    let mut run_cancel: Option<CancellationToken> = None;
    let mut rehearsal: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    spawn_input(tx.clone());
    let watcher = StatusWatcher::new(
        db.clone(),
        dashboard.dir.clone(),
        dashboard.source_options.clone(),
        dashboard.options.table.clone(),
    )
    .with_audit(dashboard.audit.enabled.then(|| dashboard.audit.clone()));
    let refresh = watcher.waker();
    spawn_status_watcher(watcher, tx.clone());
    spawn_ticker([running.clone(), rehearsing.clone()], tx.clone());
    // The monitor starts once the status is on screen: the first frame does not wait for it.
    let poller: SharedPoller = Arc::new(std::sync::Mutex::new(None));
    let mut monitor_started = false;

    let mut terminal = ratatui::init();
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    if let Ok(size) = terminal.size() {
        app.handle(Event::Resize(size.width, size.height), Instant::now());
    }
    let result = async {
        loop {
            terminal.draw(|frame| view::draw(frame, &app))?;
            let Some(first) = rx.recv().await else {
                return Ok(());
            };
            // Everything that has arrived, then one frame.
            let mut events = vec![first];
            while let Ok(event) = rx.try_recv() {
                events.push(event);
            }
            let mut effects = Vec::new();
            for event in events {
                if matches!(event, Event::RunDone(_)) {
                    with_poller(&poller, |p| p.set_interval(INTERVAL_IDLE));
                }
                if !monitor_started && matches!(event, Event::Status(_)) {
                    monitor_started = true;
                    spawn_monitor(db.clone(), poller.clone(), tx.clone());
                }
                effects.extend(app.handle(event, Instant::now()));
            }
            for effect in effects {
                match effect {
                    Effect::Quit => {
                        // A rehearsal removes its scratch database before the dashboard goes.
                        if let Some((cancel, task)) = rehearsal.take() {
                            cancel.cancel();
                            terminal.draw(|frame| view::draw(frame, &app))?;
                            let _ = tokio::time::timeout(REHEARSAL_CLEANUP, task).await;
                        }
                        return Ok(());
                    }
                    Effect::RefreshStatus => refresh.notify_one(),
                    Effect::PauseMonitor(paused) => with_poller(&poller, |p| p.pause(paused)),
                    Effect::RefreshMonitor => with_poller(&poller, |p| p.refresh_now()),
                    Effect::Signal { signal, pid } => {
                        let current = poller.lock().ok().and_then(|p| p.clone());
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let outcome = match current {
                                Some(p) => match signal {
                                    Signal::Cancel => p.cancel(pid).await,
                                    Signal::Terminate => p.terminate(pid).await,
                                }
                                .map_err(|e| e.to_string()),
                                None => Err("the monitoring connection is not up".to_string()),
                            };
                            let _ = tx.send(Event::Signalled {
                                signal,
                                pid,
                                outcome,
                            });
                        });
                    }
                    Effect::FindBlockers { tables } => {
                        let db = db.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let found = async {
                                let mut monitor =
                                    Monitor::connect(&db).await.map_err(|e| e.to_string())?;
                                let found = monitor
                                    .sessions_blocking_tables(&tables, BLOCKER_MIN_AGE)
                                    .await
                                    .map_err(|e| e.to_string());
                                monitor.close().await;
                                found
                            }
                            .await;
                            let _ = tx.send(Event::Blockers(found));
                        });
                    }
                    Effect::Analyze {
                        generation,
                        pg_version,
                        pending,
                    } => {
                        let set = app.data.set.clone();
                        let options = lint_options(&dashboard.options, dashboard.chain, pg_version);
                        let db = db.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let pending_options = with_live_catalog(&db, &options).await;
                            let _ = tokio::task::spawn_blocking(move || {
                                // Pending first: they are what the user is about to run.
                                let files = analyze_pending(&set, &pending, &pending_options);
                                if tx.send(Event::Analyzed { generation, files }).is_ok() {
                                    let files = analyze_rest(&set, &pending, &options);
                                    let _ = tx.send(Event::Analyzed { generation, files });
                                }
                            })
                            .await;
                        });
                    }
                    Effect::AnalyzeDraft { draft, pg_version } => {
                        let options = lint_options(&dashboard.options, dashboard.chain, pg_version);
                        let policy = app.data.lint_policy.clone();
                        let tx = tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let findings = editor::analyse_draft(&draft, &options, &policy);
                            let _ = tx.send(Event::DraftAnalyzed {
                                generation: draft.generation,
                                findings,
                            });
                        });
                    }
                    Effect::Highlight { key, text } => {
                        let tx = tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let lines = highlight::highlight_sql(&text);
                            let _ = tx.send(Event::Highlighted { key, lines });
                        });
                    }
                    Effect::PrepareGuard { operation } => {
                        let prepared = app.data.status.as_ref().map(|status| {
                            crate::runner::plan(operation, &app.data.set, status, false)
                        });
                        let environment = app.data.environment.clone();
                        let (db, tx) = (db.clone(), tx.clone());
                        let options = guard_options(&dashboard.options);
                        tokio::spawn(async move {
                            let result = match (prepared, environment) {
                                (Some(Ok(plan)), Some(env)) => {
                                    GuardPlan::prepare(&db, &env, &plan, &options)
                                        .await
                                        .map(Box::new)
                                        .map_err(|e| with_causes(&e))
                                }
                                (Some(Err(e)), _) => Err(e.to_string()),
                                _ => Err("the status is not loaded yet".to_string()),
                            };
                            let _ = tx.send(Event::Guarded(result));
                        });
                    }
                    Effect::LoadHistory { limit } => {
                        let (db, tx) = (db.clone(), tx.clone());
                        let settings = dashboard.audit.clone();
                        tokio::spawn(async move {
                            let query = crate::audit::HistoryQuery {
                                limit,
                                run: None,
                                statements: true,
                            };
                            let history = crate::audit::load(&db, &settings, query)
                                .await
                                .map_err(|e| with_causes(&e));
                            let _ = tx.send(Event::History(history));
                        });
                    }
                    Effect::CheckHealth => {
                        let (db, tx) = (db.clone(), tx.clone());
                        let schema = dashboard.audit.schema.clone();
                        tokio::spawn(async move {
                            let checked = crate::health::check(
                                &db,
                                None,
                                crate::health::IDLE_IN_TRANSACTION_ALERT,
                                &schema,
                            )
                            .await
                            .map_err(|e| with_causes(&e));
                            let _ = tx.send(Event::Health(checked));
                        });
                    }
                    Effect::Run {
                        operation,
                        expected,
                        guard,
                    } => {
                        running.store(true, Ordering::SeqCst);
                        with_poller(&poller, |p| p.set_interval(INTERVAL_RUNNING));
                        let cancel = CancellationToken::new();
                        run_cancel = Some(cancel.clone());
                        spawn_run(
                            db.clone(),
                            app.data.set.clone(),
                            dashboard.options.clone(),
                            RunJob {
                                operation,
                                expected,
                                guard,
                                cancel,
                                audit: dashboard.audit.enabled.then(|| {
                                    let env = app.data.environment.as_ref();
                                    (
                                        dashboard.audit.clone(),
                                        env.filter(|e| e.configured).map(|e| e.name.clone()),
                                    )
                                }),
                            },
                            running.clone(),
                            tx.clone(),
                        );
                    }
                    Effect::SaveMigration {
                        description,
                        up,
                        down,
                    } => {
                        let tx = tx.clone();
                        let dir = dashboard.dir.clone();
                        let source_options = dashboard.source_options.clone();
                        tokio::task::spawn_blocking(move || {
                            let saved =
                                save_migration(&dir, &source_options, description, up, down);
                            let _ = tx.send(Event::Saved(saved));
                        });
                    }
                    Effect::CheckFix {
                        fix,
                        pending,
                        pg_version,
                    } => {
                        let set = app.data.set.clone();
                        let options = lint_options(&dashboard.options, dashboard.chain, pg_version);
                        let (db, tx) = (db.clone(), tx.clone());
                        tokio::spawn(async move {
                            let pending_options = with_live_catalog(&db, &options).await;
                            let checked = fix.clone();
                            let resolves = tokio::task::spawn_blocking(move || {
                                crate::analysis::migrations::fix_resolves(
                                    &set,
                                    &pending,
                                    &checked,
                                    &pending_options,
                                    &options,
                                )
                            })
                            .await
                            // A check that failed resolves nothing: the fix is not written.
                            .unwrap_or(false);
                            let _ = tx.send(Event::FixChecked { fix, resolves });
                        });
                    }
                    Effect::WriteFix(fix) => {
                        let (tx, set) = (tx.clone(), app.data.set.clone());
                        tokio::task::spawn_blocking(move || {
                            let written =
                                crate::source::fix::write_fix(&set, &fix, chrono::Utc::now())
                                    .map(|paths| {
                                        format!("fix written: {}", app::file_names(&paths))
                                    })
                                    .map_err(|e| e.to_string());
                            let _ = tx.send(Event::Fixed(written));
                        });
                    }
                    Effect::Rehearse { to } => {
                        rehearsing.store(true, Ordering::SeqCst);
                        let cancel = CancellationToken::new();
                        let options = RehearseOptions {
                            to,
                            sample_rows: 0,
                            require_down: rehearsal::REQUIRE_DOWN,
                            all: false,
                            scratch_server: dashboard.scratch_server.clone(),
                            pg_version: dashboard.lint.pg_version,
                            run: dashboard.options.clone(),
                            source: dashboard.source_options.clone(),
                        };
                        let task = spawn_rehearsal(
                            db.clone(),
                            app.data.set.clone(),
                            options,
                            cancel.clone(),
                            rehearsing.clone(),
                            tx.clone(),
                        );
                        rehearsal = Some((cancel, task));
                    }
                    Effect::CancelRehearsal => {
                        if let Some((cancel, _)) = &rehearsal {
                            cancel.cancel();
                        }
                    }
                    Effect::CancelRun => {
                        if let Some(cancel) = &run_cancel {
                            cancel.cancel();
                        }
                    }
                    Effect::Resolve {
                        version,
                        resolution,
                    } => {
                        let (db, options, tx) = (db.clone(), dashboard.options.clone(), tx.clone());
                        tokio::spawn(async move {
                            let result = async {
                                let (events, _) = mpsc::unbounded_channel();
                                let mut runner = Runner::connect(&db, options, events).await?;
                                let resolved = runner.resolve(version, resolution).await;
                                runner.close().await;
                                resolved
                            }
                            .await;
                            let _ = tx.send(Event::Resolved(
                                result.map(|r| r.summary()).map_err(|e| e.to_string()),
                            ));
                        });
                    }
                }
            }
        }
    }
    .await;
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// Writes a reversible migration with the editor's bodies, versioned as sqlx would.
fn save_migration(
    dir: &std::path::Path,
    source_options: &SourceOptions,
    description: String,
    up: String,
    down: String,
) -> Result<Vec<std::path::PathBuf>, String> {
    let set = if dir.exists() {
        source::load(dir, source_options).map_err(|e| e.to_string())?
    } else {
        MigrationSet {
            dir: dir.to_path_buf(),
            migrations: Vec::new(),
            problems: Vec::new(),
        }
    };
    source::create_migration(
        &set,
        &source::NewMigration {
            description,
            reversible: Some(true),
            versioning: None,
            bodies: Some((up, down)),
        },
        chrono::Utc::now(),
    )
    .map_err(|e| e.to_string())
}

fn spawn_input(tx: mpsc::UnboundedSender<Event>) {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            let event = match event {
                TermEvent::Key(key) if key.kind == crossterm::event::KeyEventKind::Press => {
                    Event::Key(key)
                }
                TermEvent::Mouse(mouse) => Event::Mouse(mouse),
                TermEvent::Resize(columns, rows) => Event::Resize(columns, rows),
                _ => continue,
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    });
}

/// Ticks ten times a second only while a migration or a rehearsal runs (live timers); idle
/// otherwise.
fn spawn_ticker(busy: [Arc<AtomicBool>; 2], tx: mpsc::UnboundedSender<Event>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        loop {
            interval.tick().await;
            let live = busy.iter().any(|b| b.load(Ordering::SeqCst));
            if live && tx.send(Event::Tick).is_err() {
                return;
            }
            if !live {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    });
}

/// How long quitting waits for a cancelled rehearsal to remove its scratch database.
const REHEARSAL_CLEANUP: Duration = Duration::from_secs(15);

/// Rehearses on a scratch copy of `db` (never writing to it), forwarding the rehearsal's
/// progress as events, until it ends or `cancel` fires.
fn spawn_rehearsal(
    db: Arc<Database>,
    set: Arc<MigrationSet>,
    options: RehearseOptions,
    cancel: CancellationToken,
    rehearsing: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let forward = tx.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                if forward.send(Event::Rehearsal(event)).is_err() {
                    return;
                }
            }
        });
        let result =
            crate::rehearse::rehearse(Some(db.as_ref()), &set, &options, events_tx, cancel).await;
        let _ = forwarder.await;
        rehearsing.store(false, Ordering::SeqCst);
        let end = match result {
            Ok(report) => rehearsal::RehearsalEnd::Done(Box::new(report)),
            Err(RehearseError::Cancelled) => rehearsal::RehearsalEnd::Cancelled,
            Err(error) => rehearsal::RehearsalEnd::Failed(with_causes(&error)),
        };
        let _ = tx.send(Event::RehearsalDone(end));
    })
}

/// An error and its causes, each after a colon.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = cause.source();
    }
    text
}

/// How often the status watcher looks when nothing wakes it.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Runs the engine's status watcher: a look on start, every five seconds and when woken (`R`,
/// a finished run, a change in the directory); what changed is reported as events, and an error
/// in the status bar (the watcher connects again on its next look).
fn spawn_status_watcher(mut watcher: StatusWatcher, tx: mpsc::UnboundedSender<Event>) {
    tokio::spawn(async move {
        let mut forced = true;
        loop {
            let events = match watcher.look(forced).await {
                Ok(seen) => observed(seen),
                Err(error) => vec![Event::Status(Err(error))],
            };
            for event in events {
                if tx.send(event).is_err() {
                    return;
                }
            }
            forced = watcher.wait(STATUS_EVERY).await;
        }
    });
}

/// The events one look of the status watcher makes: the server after a new connection, the
/// lock holder, and the files, their status and who applied each version when they changed.
pub fn observed(seen: crate::status::watch::Observation) -> Vec<Event> {
    let mut events = Vec::new();
    if let Some(server) = seen.server {
        events.push(Event::ServerVersion {
            database: server.database,
            version: server.version,
            num: server.version_num,
        });
        events.push(Event::Pooling(server.pooling));
    }
    if let Some(holder) = seen.lock_holder {
        events.push(Event::LockHolder(holder));
    }
    if let Some(fresh) = seen.status {
        events.push(Event::Status(Ok(fresh)));
    }
    if let Some(applied) = seen.applied {
        events.push(Event::Applied(applied));
    }
    events
}

/// What the guard's plan is made with in the dashboard: the environment's settings, no flags,
/// `pg_dump` waiting for each table's lock at most the run's `lock_timeout`.
fn guard_options(options: &RunOptions) -> GuardOptions {
    GuardOptions {
        lock_timeout: options.lock_timeout,
        ..GuardOptions::default()
    }
}

/// An operation as the command line would say it: `up --to 7`, `down --steps 1`, `redo`.
fn command_words(operation: crate::runner::Operation) -> String {
    use crate::runner::Operation;
    match operation {
        Operation::Up { to: None } => "up".to_string(),
        Operation::Up { to: Some(to) } => format!("up --to {to}"),
        Operation::DownSteps { steps } => format!("down --steps {steps}"),
        Operation::DownTo { to } => format!("down --to {to}"),
        Operation::Redo => "redo".to_string(),
    }
}

/// A run the user confirmed.
pub struct RunJob {
    /// What to run.
    pub operation: crate::runner::Operation,
    /// The plan the dialog showed: the run refuses to start if it changed.
    pub expected: Vec<(crate::runner::Direction, i64)>,
    /// What the environment asks for around the run (the schema snapshot, the data copies), as
    /// the dialog showed it.
    pub guard: Option<Box<GuardPlan>>,
    /// Interrupts the run (`c`).
    pub cancel: CancellationToken,
    /// Where the run is recorded (`None`: the audit is off), and the environment it is
    /// recorded in when one is named in `lockstep.toml`.
    pub audit: Option<(crate::audit::AuditSettings, Option<String>)>,
}

fn spawn_run(
    db: Arc<Database>,
    set: Arc<MigrationSet>,
    options: RunOptions,
    job: RunJob,
    running: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Event>,
) {
    tokio::spawn(async move {
        run_job(db, set, options, job, tx).await;
        running.store(false, Ordering::SeqCst);
    });
}

/// Carries out a confirmed run as the CLI does ([`crate::run::carry_out`]), reporting
/// everything as events on `tx`: the schema snapshot first when the environment asks for one (a
/// required one that fails stops the run before anything changes: [`Event::RunDone`] says why),
/// the run with the data copies before destructive statements ([`RunEvent::DataKept`] in its
/// events) and its locks sampled, then [`Event::RunDone`] and, after a run that changed
/// something, the health check. The dashboard spawns it; it never runs on the UI loop.
pub async fn run_job(
    db: Arc<Database>,
    set: Arc<MigrationSet>,
    options: RunOptions,
    job: RunJob,
    tx: mpsc::UnboundedSender<Event>,
) {
    let RunJob {
        operation,
        expected,
        guard,
        cancel,
        audit,
    } = job;
    let mut keeper = None;
    let mut info = crate::audit::RunInfo::command(format!(
        "lockstep (dashboard) {}",
        command_words(operation)
    ));
    if let Some(guard) = &guard {
        match guard.take_snapshot(&db, options.lock_timeout).await {
            Ok(snapshot) => {
                if let Some(text) = snapshot.describe() {
                    let _ = tx.send(Event::RunNote(text));
                }
                keeper = guard.keeper(&snapshot);
                info.snapshot = snapshot.path.clone();
                info.snapshot_skipped = snapshot.skipped_by_flag;
            }
            Err(error) => {
                let why = match &error {
                    crate::guard::GuardError::Snapshot(_) => with_causes(&error),
                    _ => format!(
                        "the schema snapshot could not be written, so the run did not start: {}",
                        with_causes(&error)
                    ),
                };
                let _ = tx.send(Event::RunDone(Err(why)));
                return;
            }
        }
    }
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let forward_tx = tx.clone();
    let sampler_db = db.clone();
    let forwarder = tokio::spawn(async move {
        let mut sampler: Option<(i32, tokio::task::JoinHandle<()>)> = None;
        while let Some(event) = events_rx.recv().await {
            // Under --pooled each migration's lock names the backend it runs on.
            if let RunEvent::Connected { backend_pid, .. }
            | RunEvent::LockAcquired { backend_pid, .. } = &event
                && sampler.as_ref().is_none_or(|(pid, _)| pid != backend_pid)
            {
                if let Some((_, old)) = sampler.take() {
                    old.abort();
                }
                let task = spawn_lock_sampler(sampler_db.clone(), *backend_pid, forward_tx.clone());
                sampler = Some((*backend_pid, task));
            }
            let _ = forward_tx.send(Event::Run(event));
        }
        if let Some((_, sampler)) = sampler {
            sampler.abort();
        }
    });
    let around = crate::run::Surroundings {
        audit: audit.map(|(settings, environment)| {
            info.environment = environment;
            (settings, info)
        }),
        hook: keeper.map(|keeper| Box::new(keeper) as Box<dyn crate::runner::BeforeStatement>),
        expected: Some(expected),
        check: true,
        cancel,
    };
    let carried = crate::run::carry_out(&db, &set, options, operation, around, events_tx).await;
    let _ = forwarder.await;
    let carried = match carried {
        Ok(carried) => carried,
        Err(refused) => {
            let _ = tx.send(Event::RunDone(Err(refused.to_string())));
            return;
        }
    };
    // An audit that cannot be completed reads as interrupted: the run log says so.
    if let Some(words) = &carried.audit_incomplete {
        let _ = tx.send(Event::RunNote(words.clone()));
    }
    let done = match &carried.result {
        Ok(_) => Ok(carried.summary()),
        // The run log has the failure from its event: the summary says what it left.
        Err(_) if carried.interrupted() || carried.tally.failed.is_some() => Err(carried.summary()),
        Err(e) => Err(e.to_string()),
    };
    let _ = tx.send(Event::RunDone(done));
    // What the run may have left behind, after one that changed something.
    if let Some(checked) = carried.health
        && let Some(words) = crate::health::after_run_words(checked.as_ref())
    {
        let _ = tx.send(Event::HealthChecked(words));
    }
}

/// From what transaction age a session holding a lock on a table the plan touches is listed in
/// the confirmation (idle-in-transaction sessions are always listed).
const BLOCKER_MIN_AGE: Duration = Duration::from_secs(5);

/// How often the running migration's locks are sampled.
const LOCK_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Samples the migration session's locks (held, waited for, on whom, who queues behind) several
/// times a second on a monitoring connection of its own, until aborted when the run ends.
fn spawn_lock_sampler(
    db: Arc<Database>,
    pid: i32,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut monitor) = Monitor::connect(&db).await else {
            return;
        };
        let mut interval = tokio::time::interval(LOCK_SAMPLE_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            if let Ok(sample) = monitor.session_locks(pid).await
                && tx.send(Event::LockSample(Arc::new(sample))).is_err()
            {
                return;
            }
        }
    })
}

/// The monitor's poller, once connected (replaced after the connection is lost).
type SharedPoller = Arc<std::sync::Mutex<Option<Arc<Poller>>>>;

/// Runs `f` on the poller when there is one.
fn with_poller(poller: &SharedPoller, f: impl FnOnce(&Poller)) {
    if let Some(p) = poller.lock().ok().and_then(|p| p.clone()) {
        f(&p);
    }
}

/// Polls that fail in a row (other than timeouts) before the monitor connects again.
const MONITOR_FAILURES_BEFORE_RECONNECT: u32 = 3;

/// Connects the monitor (retrying every few seconds), runs its poller (put in `slot`) and
/// forwards every poll to the UI; after repeated failures it drops the connection and starts over.
fn spawn_monitor(db: Arc<Database>, slot: SharedPoller, tx: mpsc::UnboundedSender<Event>) {
    tokio::spawn(async move {
        loop {
            let monitor = match Monitor::connect(&db).await {
                Ok(monitor) => monitor,
                Err(e) => {
                    let _ = tx.send(Event::Monitor(crate::monitor::PollState {
                        error: Some(e.to_string()),
                        ..Default::default()
                    }));
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            let poller = Arc::new(Poller::spawn(monitor, PollerConfig::default()));
            let mut updates = poller.subscribe();
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(poller.clone());
            }
            let mut failures = 0;
            while updates.changed().await.is_ok() {
                let state = updates.borrow_and_update().clone();
                failures = match (&state.error, state.stale) {
                    (Some(_), false) => failures + 1,
                    _ => 0,
                };
                if tx.send(Event::Monitor(state)).is_err() {
                    return;
                }
                if failures >= MONITOR_FAILURES_BEFORE_RECONNECT {
                    break;
                }
            }
            if let Ok(mut slot) = slot.lock() {
                *slot = None;
            }
            drop(poller);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}
