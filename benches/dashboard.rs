//! Dashboard speed: first frame with 10,000 migrations and a 1 MB migration selected (target
//! < 200 ms), redraw after a key press (target < 16 ms), idle CPU of the real binary (target
//! near 0%), and the real binary's first frame end to end — process start to the first frame
//! with the status drawn, 10,000 migrations, a real database (target < 250 ms). Uses
//! DATABASE_URL, or a throwaway PostgreSQL.
//!
//! Run: `cargo bench --bench dashboard`

use std::io::Read;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lockstep::history::{self, HistoryTable};
use lockstep::runner::read_status;
use lockstep::source;
use lockstep::status::watch::StatusWatcher;
use lockstep::tui::app::{App, Event};
use lockstep::tui::{highlight, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const MIGRATIONS: usize = 10_000;

/// Seconds the dashboard gets to finish its start-up work before idle CPU is measured.
const STARTUP_SETTLE_SECS: u64 = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    for i in 1..=MIGRATIONS {
        std::fs::write(dir.join(format!("{i}_m{i}.sql")), format!("SELECT {i};\n")).unwrap();
    }
    let mut big = String::from("CREATE TABLE big (id int, note text);\n");
    let mut n = 0;
    while big.len() < 1_000_000 {
        n += 1;
        big.push_str(&format!(
            "INSERT INTO big (id, note) VALUES ({n}, 'row {n}: some text; with a semicolon');\n"
        ));
    }
    std::fs::write(dir.join(format!("{}_big.sql", MIGRATIONS + 1)), &big).unwrap();

    let (db, table) = runtime.block_on(async {
        let db = lockstep::testing::fresh_database().await;
        let table = HistoryTable::new("_sqlx_migrations");
        let set = source::load(&dir, &Default::default()).unwrap();
        let mut conn = db.connect("bench").await.unwrap();
        history::ensure(&mut conn, &table, &[]).await.unwrap();
        let applied = &set.migrations[..MIGRATIONS];
        let versions: Vec<i64> = applied.iter().map(|m| m.version).collect();
        let descriptions: Vec<String> = applied.iter().map(|m| m.description.clone()).collect();
        let checksums: Vec<Vec<u8>> = applied.iter().map(|m| m.checksum().to_vec()).collect();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) SELECT v, d, TRUE, c, 1000 FROM unnest($1::bigint[], $2::text[], $3::bytea[]) AS t(v, d, c)")
            .bind(versions)
            .bind(descriptions)
            .bind(checksums)
            .execute(&mut conn)
            .await
            .unwrap();
        (std::sync::Arc::new(db), table)
    });

    // 1. First frame, as the binary starts: the App built and its frame drawn ("loading"), then
    //    the engine's status watcher's first look (the files read while the history is, on a
    //    new connection) and the full frame (the cursor on the pending 1 MB migration).
    let mut first_loading = Vec::new();
    let mut first_full = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let empty = source::MigrationSet {
            dir: dir.clone(),
            migrations: Vec::new(),
            problems: Vec::new(),
        };
        let mut app = App::new(empty, db.display_url(), true, false, false, started);
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        terminal.draw(|f| view::draw(f, &app)).unwrap();
        first_loading.push(started.elapsed());
        let mut watcher =
            StatusWatcher::new(db.clone(), dir.clone(), Default::default(), table.clone());
        let seen = runtime.block_on(watcher.look(false)).unwrap();
        app.handle(Event::Status(Ok(seen.status.unwrap())), Instant::now());
        terminal.draw(|f| view::draw(f, &app)).unwrap();
        assert!(terminal.backend().to_string().contains("CREATE TABLE big"));
        first_full.push(started.elapsed());
    }

    // 2. Redraw after a key press, with the 1 MB migration highlighted and selected.
    let set = source::load(&dir, &Default::default()).unwrap();
    let status = runtime.block_on(read_status(&db, &set, &table)).unwrap();
    let mut app = App::new(
        set.clone(),
        db.display_url(),
        true,
        false,
        false,
        Instant::now(),
    );
    let mut effects = app.handle(Event::Status(Ok((set, status))), Instant::now());
    effects.extend(app.handle(key(KeyCode::Char('G')), Instant::now()));
    let highlight_started = Instant::now();
    for effect in effects {
        if let lockstep::tui::app::Effect::Highlight { key, text } = effect {
            app.handle(
                Event::Highlighted {
                    key,
                    lines: highlight::highlight_sql(&text),
                },
                Instant::now(),
            );
        }
    }
    let highlight_time = highlight_started.elapsed();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut list_keys = Vec::new();
    let mut scroll_keys = Vec::new();
    for i in 0..400 {
        let code = if i % 2 == 0 {
            KeyCode::Char('k')
        } else {
            KeyCode::Char('j')
        };
        let started = Instant::now();
        app.handle(key(code), Instant::now());
        terminal.draw(|f| view::draw(f, &app)).unwrap();
        list_keys.push(started.elapsed());
    }
    app.handle(key(KeyCode::Char('2')), Instant::now());
    for i in 0..400 {
        let code = if i < 200 {
            KeyCode::PageDown
        } else {
            KeyCode::PageUp
        };
        let started = Instant::now();
        app.handle(key(code), Instant::now());
        terminal.draw(|f| view::draw(f, &app)).unwrap();
        scroll_keys.push(started.elapsed());
    }

    // 3. The real binary end to end: process start to its first frame, and to the first frame
    //    with the status (what is applied and pending) drawn.
    let mut first_output = Vec::new();
    let mut first_status = Vec::new();
    for _ in 0..5 {
        let (output, status) = end_to_end(db.url(), &dir);
        first_output.push(output);
        first_status.push(status);
    }

    // 4. Idle CPU of the real binary in a pseudo-terminal.
    let idle = idle_cpu(db.url(), &dir);

    println!(
        "dashboard benchmark: {MIGRATIONS} applied migrations + one 1 MB migration ({} lines)",
        big.lines().count()
    );
    println!(
        "first frame (drawn while the files and the status load): median {} (target < 200 ms)",
        ms(median(first_loading))
    );
    println!(
        "first full frame (files and status read, 1 MB migration selected): median {} (target \
         < 200 ms)",
        ms(median(first_full))
    );
    println!(
        "highlighting the 1 MB migration (background task): {}",
        ms(highlight_time)
    );
    println!(
        "key press → redraw, list: median {}, p99 {} (target < 16 ms)",
        ms(median(list_keys.clone())),
        ms(p99(list_keys))
    );
    println!(
        "key press → redraw, 1 MB preview scroll: median {}, p99 {} (target < 16 ms)",
        ms(median(scroll_keys.clone())),
        ms(p99(scroll_keys))
    );
    println!(
        "end to end, process start → first frame drawn: median {}",
        ms(median(first_output))
    );
    println!(
        "end to end, process start → first frame with the status (10,000 applied): median {} \
         (target < 250 ms)",
        ms(median(first_status))
    );
    println!("idle CPU of the running dashboard over 10 s: {idle:.2}% (target near 0%)");
}

/// The release binary.
fn binary() -> String {
    std::env::var("LOCKSTEP_BIN").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| format!("{}/target", env!("CARGO_MANIFEST_DIR")));
        format!("{target}/release/lockstep")
    })
}

/// Starts the real binary in a 200×60 pseudo-terminal on `dir` and `url`; returns how long it
/// took to draw anything, and to draw the migrations list with the status read.
fn end_to_end(url: &str, dir: &std::path::Path) -> (Duration, Duration) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::sync::{Arc, Mutex};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 60,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(binary());
    cmd.env("DATABASE_URL", url);
    cmd.arg("--source");
    cmd.arg(dir);
    cmd.env("TERM", "xterm-256color");
    let started = Instant::now();
    let mut child = pty
        .slave
        .spawn_command(cmd)
        .unwrap_or_else(|e| panic!("starting {}: {e} (cargo build --release)", binary()));
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(60, 200, 0)));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let feed = parser.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 65536];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            feed.lock().unwrap().process(&buffer[..n]);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_frame = None;
    let status = loop {
        let screen = parser.lock().unwrap().screen().contents();
        if first_frame.is_none() && screen.contains("1 Migrations") {
            first_frame = Some(started.elapsed());
        }
        if screen.contains(&format!("{MIGRATIONS} applied")) {
            break started.elapsed();
        }
        assert!(Instant::now() < deadline, "no status drawn within 60 s");
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    (first_frame.unwrap_or(status), status)
}

fn idle_cpu(url: &str, dir: &std::path::Path) -> f64 {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 50,
            cols: 160,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let bin = binary();
    let mut cmd = CommandBuilder::new(&bin);
    // In the environment, not on the command line, where other accounts could read the password.
    cmd.env("DATABASE_URL", url);
    cmd.arg("--source");
    cmd.arg(dir);
    cmd.env("TERM", "xterm-256color");
    let mut child = pty
        .slave
        .spawn_command(cmd)
        .unwrap_or_else(|e| panic!("starting {bin}: {e} (build it with cargo build --release)"));
    let mut reader = pty.master.try_clone_reader().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 65536];
        while matches!(reader.read(&mut buffer), Ok(n) if n > 0) {}
    });
    let pid = child.process_id().unwrap();
    // Let the start-up work finish first (reading 10,000 files, analysing them and highlighting
    // the 1 MB migration in the background): idle is what comes after.
    std::thread::sleep(Duration::from_secs(STARTUP_SETTLE_SECS));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let after = cpu_ticks(pid);
    let _ = child.kill();
    let ticks_per_second = 100.0;
    (after - before) as f64 / ticks_per_second / 10.0 * 100.0
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
