//! The real binary in a pseudo-terminal against a real PostgreSQL: apply a migration through the
//! keys, roll it back, and check both the screen and `_sqlx_migrations`; and a real lock scenario:
//! another session holds a lock the migration needs, the screen shows whom it waits on, and `c`
//! cancels it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::testing::fresh_database;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use sqlx::Connection;

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    /// Every byte the dashboard wrote to the terminal.
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `needle` (bounded).
    fn wait_for(&self, needle: &str) -> String {
        self.wait_for_within(needle, Duration::from_secs(30))
    }

    /// Waits up to `limit` until the screen shows `needle`.
    fn wait_for_within(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen no longer shows `needle` (bounded).
    fn wait_until_gone(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?} to go; screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Waits until the run started last has ended and says `summary` (`done: 1 applied (1)`):
    /// the list shows a migration applied as soon as its transaction commits, while the run
    /// still releases its lock and checks the database's health, and a key pressed before the
    /// end meets "No migration is under way. Quit?".
    fn wait_run_done(&self, summary: &str) -> String {
        self.wait_for(&format!("done: {summary}"))
    }

    /// Confirms the open dialog: `y`, or the typed version where the dialog asks for it.
    fn confirm(&mut self, version: &str) {
        let text = self.wait_for("Run");
        if text.contains(&format!("type {version} and press Enter")) {
            self.keys(version);
            self.keys("\r");
        } else {
            self.keys("y");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_and_roll_back_through_the_keys() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_create_notes.up.sql"),
        "CREATE TABLE notes (id int);\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("1_create_notes.down.sql"),
        "DROP TABLE notes;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("2_add_body.up.sql"),
        "ALTER TABLE notes ADD COLUMN body text;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("2_add_body.down.sql"),
        "ALTER TABLE notes DROP COLUMN body;\n",
    )
    .unwrap();

    let (mut screen, mut child) = start(db.url(), &migrations);
    let first = screen.wait_for("0 applied, 2 pending");
    // The status bar names the database without its password (the sandbox's has one).
    assert!(first.contains(&lockstep::db::redact(db.url())), "{first}");
    if let Some(password) = url::Url::parse(db.url()).unwrap().password() {
        assert!(!first.contains(password), "{first}");
    }
    // Apply only the first migration: it is selected, `a` applies up to it.
    screen.keys("a");
    let dialog = screen.wait_for("Apply 1 migration through 1?");
    assert!(dialog.contains("CREATE TABLE notes (id int)"), "{dialog}");
    assert!(dialog.contains("INSERT INTO _sqlx_migrations"), "{dialog}");
    screen.confirm("1");
    screen.wait_for("1 applied, 1 pending");
    screen.wait_run_done("1 applied (1)");
    let rows = versions(&db).await;
    assert_eq!(rows, vec![1]);

    // Roll it back: `b` on the selected migration.
    screen.keys("b");
    screen.wait_for("Revert 1 migration down to 1?");
    screen.confirm("1");
    screen.wait_run_done("0 applied, 1 reverted (1)");
    let text = screen.wait_for("0 applied, 2 pending");
    assert!(
        text.contains("revert 1 create notes"),
        "the run log shows the revert:\n{text}"
    );
    assert!(versions(&db).await.is_empty());

    // A new migration through the editor, saved as sqlx files and listed.
    screen.keys("n");
    screen.wait_for("New migration");
    screen.keys("add tags\t");
    screen.keys("CREATE TABLE tags (id int);\t");
    screen.keys("DROP TABLE tags;");
    // The bodies are analysed in the background as they are typed.
    screen.wait_for("DOWN line 2: [drop-table]");
    screen.keys("\x13"); // Ctrl-S
    screen.wait_for("0 applied, 3 pending");
    assert!(
        migrations.join("3_add_tags.up.sql").exists()
            || std::fs::read_dir(&migrations).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("_add_tags.up.sql"))
    );

    // A file written by another program shows up by itself (the directory is watched).
    std::fs::write(
        migrations.join("4_add_color.up.sql"),
        "ALTER TABLE notes ADD COLUMN color text;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("4_add_color.down.sql"),
        "ALTER TABLE notes DROP COLUMN color;\n",
    )
    .unwrap();
    screen.wait_for("0 applied, 4 pending");

    // Losing the connection shows in the status bar, and the dashboard reconnects by itself.
    let mut admin = db.connect("test").await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'lockstep:status'",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    screen.keys("\x12"); // Ctrl-R: read the status now
    screen.wait_for("⚠");
    screen.keys("\x12");
    screen.wait_until_gone("⚠");
    screen.wait_for("0 applied, 4 pending");

    quit(&mut screen, &mut child);
}

/// Starts the dashboard on `url` and `migrations` in a 140×40 pseudo-terminal.
fn start(
    url: &str,
    migrations: &std::path::Path,
) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    start_sized(url, migrations, 140, 40, &[])
}

/// Starts the dashboard in a `cols`×`rows` pseudo-terminal, with `args` on its command line.
fn start_sized(
    url: &str,
    migrations: &std::path::Path,
    cols: u16,
    rows: u16,
    args: &[&str],
) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    start_with(url, migrations, (cols, rows), args, &[])
}

/// Starts the dashboard in a `(cols, rows)` pseudo-terminal, with `args` on its command line
/// and `envs` in its environment.
fn start_with(
    url: &str,
    migrations: &std::path::Path,
    (cols, rows): (u16, u16),
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_lockstep"));
    // In the environment, not on the command line, where other accounts could read the password.
    cmd.env("DATABASE_URL", url);
    cmd.arg("--source");
    cmd.arg(migrations);
    cmd.args(args);
    for (name, value) in envs {
        cmd.env(name, value);
    }
    spawn(cmd, cols, rows)
}

/// Starts the dashboard in `project` with no database configured.
fn start_unconfigured(
    project: &std::path::Path,
    (cols, rows): (u16, u16),
) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.env_remove("DATABASE_URL");
    cmd.cwd(project);
    spawn(cmd, cols, rows)
}

/// Runs `cmd` in a `cols`×`rows` pseudo-terminal.
fn spawn(
    mut cmd: CommandBuilder,
    cols: u16,
    rows: u16,
) -> (Screen, Box<dyn portable_pty::Child + Send + Sync>) {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    cmd.env("TERM", "xterm-256color");
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let feed = parser.clone();
    let raw = Arc::new(Mutex::new(Vec::new()));
    let record = raw.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            record.lock().unwrap().extend_from_slice(&buffer[..n]);
            feed.lock().unwrap().process(&buffer[..n]);
        }
    });
    let screen = Screen {
        parser,
        writer: pty.master.take_writer().unwrap(),
        raw,
    };

    (screen, child)
}

/// Quits with `q` and checks that the process ends successfully.
fn quit(screen: &mut Screen, child: &mut Box<dyn portable_pty::Child + Send + Sync>) {
    screen.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "q quits within 10 s; screen:\n{}",
            screen.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_waiting_on_a_lock_shows_the_holder_and_cancels() {
    let db = fresh_database().await;
    let mut setup = with_notes(&db).await;
    // Another session reads the table in a transaction it leaves open: it holds ACCESS SHARE.
    let mut holder = db.connect("holder").await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT 'the-lock-holder' FROM notes;")
        .execute(&mut holder)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_add_body.up.sql"),
        "ALTER TABLE notes ADD COLUMN body text;\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("1_add_body.down.sql"),
        "ALTER TABLE notes DROP COLUMN body;\n",
    )
    .unwrap();
    let (mut screen, mut child) = start(db.url(), &migrations);
    screen.wait_for("0 applied, 1 pending");
    // Analysed: lockstep's default lock_timeout leaves the ALTER with no finding.
    screen.wait_for("no findings");
    screen.keys("a");
    // The dialog names the session the migration will queue behind.
    let dialog = screen.wait_for("will queue behind 1 session");
    assert!(dialog.contains("idle in transaction"), "{dialog}");
    assert!(dialog.contains("ACCESS SHARE on notes"), "{dialog}");
    screen.confirm("1");

    // The run pane shows what the migration waits for and on whom, with that session's query.
    let text = screen.wait_for("waits for ACCESS EXCLUSIVE on notes");
    let text = if text.contains("the-lock-holder") {
        text
    } else {
        screen.wait_for("the-lock-holder")
    };
    assert!(text.contains("held by pid"), "{text}");
    // Keys still work while it waits.
    screen.keys("?");
    screen.wait_for("any other key closes");
    screen.keys(" ");

    // The Locks pane shows the same from the server's side: the holder at the root, the
    // migration (labelled as lockstep's) waiting under it.
    screen.keys("5");
    let tree = screen.wait_for("(lockstep)");
    assert!(tree.contains("holder"), "{tree}");
    screen.keys("3");
    screen.wait_for("3 Run");

    screen.keys("c");
    screen.wait_for("Cancel the running statement?");
    screen.keys("y");
    let text = screen.wait_for("interrupted: migration 1 rolled back");
    let text = if text.contains("0 applied, 1 pending") {
        text
    } else {
        screen.wait_for("0 applied, 1 pending")
    };
    assert!(text.contains("interrupted"), "{text}");
    // The run's own end: its summary.
    screen.wait_for("interrupted after");
    assert!(versions(&db).await.is_empty(), "nothing recorded");
    assert_eq!(notes_body(&mut setup).await, None, "the ALTER rolled back");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    quit(&mut screen, &mut child);
}

/// Another session's query holds escape sequences (OSC 52 writing the clipboard, cursor movement,
/// concealed text), a bidirectional override and a C1 control: the Locks pane shows them as
/// markers, and none of them reaches the terminal raw.
#[tokio::test(flavor = "multi_thread")]
async fn a_sessions_query_cannot_paint_the_terminal() {
    const QUERY: &str =
        "SELECT '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A\u{1b}[8m\u{202e}\u{9b}2J' FROM notes";
    let db = fresh_database().await;
    let _setup = with_notes(&db).await;
    let mut holder = db.connect("holder").await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::raw_sql(QUERY).execute(&mut holder).await.unwrap();
    // A second session queues behind it, so the lock tree has both.
    let mut conn = db.connect("waiter").await.unwrap();
    let waiter = tokio::spawn(async move {
        sqlx::raw_sql("ALTER TABLE notes ADD COLUMN body text")
            .execute(&mut conn)
            .await
    });

    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    // Wide enough for the whole query in the Locks pane.
    let (mut screen, mut child) = start_sized(db.url(), &migrations, 320, 30, &[]);
    screen.wait_for("0 applied, 0 pending");
    screen.keys("5");
    let tree = screen.wait_for("SELECT '␛]52;c;ZXZpbA==␇␛[5A␛[8m\\u{202E}\\u{9B}2J'");
    assert!(tree.contains("holder"), "{tree}");
    assert!(tree.contains("waiter"), "{tree}");
    let raw = screen.raw.lock().unwrap().clone();
    for sequence in [
        "\u{1b}]52".as_bytes(),
        b"\x1b[5A",
        b"\x1b[8m",
        "\u{202e}".as_bytes(),
        "\u{9b}".as_bytes(),
        b"\x07",
    ] {
        assert!(
            !raw.windows(sequence.len()).any(|w| w == sequence),
            "{sequence:?} reached the terminal raw"
        );
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    waiter.await.unwrap().unwrap();
    quit(&mut screen, &mut child);
}

#[test]
fn with_nothing_configured_it_opens_the_demo_with_its_foundation_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (mut screen, mut child) = start_unconfigured(dir.path(), (140, 40));
    // Its own PostgreSQL, the demo's tables and seed data applied, the risky migrations pending
    // with their findings and the tables' real sizes.
    screen.wait_for_within("8 applied, 8 pending", Duration::from_secs(120));
    screen.wait_for("[sandbox]");
    screen.wait_for("✓ 20260108090000 seed demo data");
    screen.wait_for("✗1");
    // The index build on conversations: its finding names the table's size.
    screen.keys("jjjj\r");
    screen.wait_for("[require-concurrent-index]");
    screen.wait_for("SHARE on conversations");
    screen.wait_for("rows)");
    quit(&mut screen, &mut child);
}

/// In a project of its own with no database configured: its migrations on a sandbox, none applied,
/// reviewed as `lockstep lint` reviews them (each meets the ones before it as production would).
#[test]
fn with_no_database_configured_it_opens_the_projects_own_migrations() {
    let (dir, _migrations) = migrations_with(&[
        (
            "1_orders.sql",
            "CREATE TABLE orders (id int, amount int);\n",
        ),
        (
            "2_index.sql",
            "CREATE INDEX orders_amount ON orders (amount);\n",
        ),
    ]);
    let (mut screen, mut child) = start_unconfigured(dir.path(), (120, 35));
    screen.wait_for_within("0 applied, 2 pending", Duration::from_secs(120));
    screen.wait_for("[sandbox]");
    screen.wait_for("2 index");
    // orders exists before the index is built on it, as in production: a plain CREATE INDEX
    // blocks its writes (in one run on the empty sandbox, orders would be new).
    let text = screen.wait_for("✗1");
    assert!(!text.contains("seed demo data"), "{text}");
    quit(&mut screen, &mut child);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_run_the_health_check_names_what_it_left_behind() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_positive_notes.sql"),
        "CREATE TABLE notes (id int);\n\
         ALTER TABLE notes ADD CONSTRAINT notes_positive CHECK (id > 0) NOT VALID;\n",
    )
    .unwrap();
    let (mut screen, mut child) = start(db.url(), &migrations);
    screen.wait_for("0 applied, 1 pending");
    screen.keys("a");
    screen.confirm("1");
    screen.wait_for("1 applied, 0 pending");
    // As `lockstep up` says it: the constraint added NOT VALID and never validated.
    let text = screen.wait_for("health check after the run:");
    let text = if text.contains("notes_positive on") {
        text
    } else {
        screen.wait_for("notes_positive on")
    };
    assert!(text.contains("constraints never validated"), "{text}");
    quit(&mut screen, &mut child);
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_transaction_pooler_it_polls_refuses_and_applies_with_pooled() {
    use lockstep::testing::pgbouncer::{PgBouncer, PgBouncerConfig};
    let db = fresh_database().await;
    let bouncer = PgBouncer::start(PgBouncerConfig::mode("transaction"));
    let pooled = bouncer.url_for(&db.names().0);
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_create_notes.sql"),
        "CREATE TABLE notes (id int);\n",
    )
    .unwrap();

    // Without --pooled: the status polls through the pooler, the status bar names it, and
    // applying is refused with the reason.
    let (mut screen, mut child) = start(&pooled, &migrations);
    let first = screen.wait_for("0 applied, 1 pending");
    let first = if first.contains("transaction pooling") {
        first
    } else {
        screen.wait_for("transaction pooling")
    };
    assert!(first.contains("PgBouncer · transaction pooling"), "{first}");
    screen.keys("a");
    screen.confirm("1");
    let refused = screen.wait_for("--pooled");
    assert!(refused.contains("transaction pooling"), "{refused}");
    let mut conn = db.connect("test").await.unwrap();
    let history: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(history, None, "nothing ran");
    quit(&mut screen, &mut child);

    // With --pooled it applies.
    let (mut screen, mut child) = start_sized(&pooled, &migrations, 140, 40, &["--pooled"]);
    screen.wait_for("0 applied, 1 pending");
    screen.keys("a");
    screen.confirm("1");
    screen.wait_for("1 applied, 0 pending");
    screen.wait_run_done("1 applied (1)");
    assert_eq!(versions(&db).await, vec![1]);
    quit(&mut screen, &mut child);
}

/// The column `notes.body`, if it exists.
async fn notes_body(conn: &mut sqlx::PgConnection) -> Option<String> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_name = 'notes' AND column_name = 'body'",
    )
    .fetch_optional(conn)
    .await
    .unwrap()
}

/// A connection to `db`, where it has created the table `notes (id int)`.
async fn with_notes(db: &lockstep::db::Database) -> sqlx::PgConnection {
    let mut setup = db.connect("test").await.unwrap();
    sqlx::raw_sql("CREATE TABLE notes (id int)")
        .execute(&mut setup)
        .await
        .unwrap();
    setup
}

/// A migrations directory holding `files` (name, text), in a temporary directory kept as long as
/// the first value lives.
fn migrations_with(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for (name, sql) in files {
        std::fs::write(migrations.join(name), sql).unwrap();
    }
    (dir, migrations)
}

async fn versions(db: &lockstep::db::Database) -> Vec<i64> {
    let mut conn = db.connect("test").await.unwrap();
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

/// A risky migration end to end: its findings in the preview and in the confirmation, the
/// session it would queue behind named there, `f` writing the fix, then the fixed migration run.
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_with_findings_and_a_blocker_then_f_fixes_and_it_runs() {
    let db = fresh_database().await;
    let mut setup = db.connect("test").await.unwrap();
    sqlx::raw_sql("CREATE TABLE notes (id int, body text)")
        .execute(&mut setup)
        .await
        .unwrap();
    let mut holder = db.connect("reporting").await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM notes;")
        .execute(&mut holder)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    let up = migrations.join("1_index_notes.up.sql");
    std::fs::write(&up, "CREATE INDEX notes_body ON notes (body);\n").unwrap();
    std::fs::write(
        migrations.join("1_index_notes.down.sql"),
        "DROP INDEX notes_body;\n",
    )
    .unwrap();
    let (mut screen, mut child) = start_sized(db.url(), &migrations, 120, 35, &[]);
    screen.wait_for("0 applied, 1 pending");
    screen.wait_for("[require-concurrent-index]");

    // The confirmation: the finding with its lock and table, and the reporting session.
    screen.keys("a");
    let dialog = screen.wait_for("will queue behind 1 session");
    assert!(dialog.contains("Findings: 1 error"), "{dialog}");
    assert!(
        dialog.contains("[require-concurrent-index] SHARE on notes"),
        "{dialog}"
    );
    assert!(dialog.contains("ACCESS SHARE on notes"), "{dialog}");
    assert!(
        dialog.contains("reporting, idle in transaction"),
        "{dialog}"
    );
    assert!(dialog.contains("type 1 and press Enter"), "{dialog}");
    screen.keys("\x1b");
    screen.wait_until_gone("will queue behind");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();

    // f: the diff, then the file written; the dashboard sees the change by itself.
    screen.keys("f");
    let diff = screen.wait_for("Apply this fix?");
    assert!(diff.contains("+ -- no-transaction"), "{diff}");
    assert!(diff.contains("CONCURRENTLY"), "{diff}");
    // Written once a lint of the file with the fix (on the database's schema) finds it resolved.
    screen.wait_for("Checked: with the fix, the finding is resolved");
    screen.keys("y");
    screen.wait_for("fix written: 1_index_notes.up.sql");
    assert_eq!(
        std::fs::read_to_string(&up).unwrap(),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY notes_body ON notes (body);\n"
    );
    screen.wait_for("no transaction, has DOWN");

    // The fixed migration runs: no error-level finding left, so y confirms.
    screen.keys("a");
    screen.confirm("1");
    screen.wait_for("1 applied, 0 pending");
    screen.wait_run_done("1 applied (1)");
    assert_eq!(versions(&db).await, vec![1]);
    let valid: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'notes_body'::regclass",
    )
    .fetch_one(&mut setup)
    .await
    .unwrap();
    assert!(valid, "the index was built");
    quit(&mut screen, &mut child);
}

/// `R` end to end: the real binary rehearses the pending migrations on a scratch database (on
/// the test server, `LOCKSTEP_SCRATCH_SERVER`) in the background, read-only: the list shows the
/// round trip (✓), the preview the lock the server took; the configured database is untouched.
/// Then a rehearsal stuck in a slow statement is cancelled with `c` and its scratch database
/// dropped.
#[tokio::test(flavor = "multi_thread")]
async fn r_rehearses_until_the_list_shows_a_round_trip_and_c_cancels() {
    let db = fresh_database().await;
    let mut setup = with_notes(&db).await;
    let (_dir, migrations) = migrations_with(&[
        (
            "1_add_body.up.sql",
            "ALTER TABLE notes ADD COLUMN body text;\n",
        ),
        (
            "1_add_body.down.sql",
            "ALTER TABLE notes DROP COLUMN body;\n",
        ),
        ("2_slow.up.sql", "SELECT pg_sleep(60);\n"),
        ("2_slow.down.sql", "SELECT 1;\n"),
    ]);
    let scratch_server = lockstep::testing::server_url();
    let (mut screen, mut child) = start_with(
        db.url(),
        &migrations,
        (140, 40),
        &["--read-only"],
        &[("LOCKSTEP_SCRATCH_SERVER", &scratch_server)],
    );
    screen.wait_for("0 applied, 2 pending");
    screen.wait_for("no findings");
    // The cursor is on 1: R rehearses it alone, in the background.
    screen.keys("R");
    let text = screen.wait_for("rehearsed 1 migration in");
    assert!(text.contains("1 round trip ✓"), "{text}");
    // The list: 1 is pending (○) with a round trip (✓) in its rehearsal column.
    let list_width = 140 * 40 / 100;
    let row: String = text
        .lines()
        .find(|l| l.contains("○ 1 add body"))
        .expect("the row of 1")
        .chars()
        .take(list_width)
        .collect();
    assert!(row.contains('✓'), "{row}");
    // The preview: the lock the server took, beside the predicted one.
    assert!(text.contains("⟲ rehearsal: up ✓"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("observed") && l.contains(" ACCESS EXCLUSIVE on notes ")),
        "{text}"
    );
    // The configured database is untouched: no history table, no new column.
    let history: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&mut setup)
            .await
            .unwrap();
    assert_eq!(history, None);
    assert_eq!(
        notes_body(&mut setup).await,
        None,
        "the rehearsal never ran on this database"
    );

    // Up to 2, whose UP sleeps: the dashboard stays responsive, and c cancels.
    screen.keys("j");
    screen.keys("R");
    let mut admin = sqlx::PgConnection::connect(&scratch_server).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let scratch = loop {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_stat_activity \
             WHERE application_name = 'lockstep:rehearse' AND query = 'SELECT pg_sleep(60)' \
             AND datname LIKE 'lockstep_rehearsal_%'",
        )
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        if let Some(name) = found {
            break name;
        }
        assert!(
            Instant::now() < deadline,
            "the slow statement never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    screen.wait_for("▶ 2 slow: up (traced)");
    screen.keys("?");
    screen.wait_for("any other key closes");
    screen.keys(" ");
    screen.keys("c");
    screen.wait_for("rehearsal cancelled");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&scratch)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "the scratch database {scratch} is dropped");
    quit(&mut screen, &mut child);
}
