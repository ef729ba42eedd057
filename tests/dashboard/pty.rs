//! The real binary in a pseudo-terminal against a real PostgreSQL: apply a migration through the
//! keys, roll it back, and check both the screen and `_sqlx_migrations`.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::testing::fresh_database;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `needle` (bounded).
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
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

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Confirms the open dialog: `y`, or the typed version where the dialog asks for it.
    fn confirm(&mut self, version: &str) {
        let text = self.wait_for("Run");
        if text.contains("Type ") {
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

    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 140,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.args(["--database-url", db.url(), "--source"]);
    cmd.arg(&migrations);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("DATABASE_URL");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(40, 140, 0)));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let feed = parser.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            feed.lock().unwrap().process(&buffer[..n]);
        }
    });
    let mut screen = Screen {
        parser,
        writer: pty.master.take_writer().unwrap(),
    };

    screen.wait_for("0 applied, 2 pending");
    // Apply only the first migration: it is selected, `a` applies up to it.
    screen.keys("a");
    let dialog = screen.wait_for("Apply 1 migration(s) through 1?");
    assert!(dialog.contains("CREATE TABLE notes (id int)"), "{dialog}");
    assert!(dialog.contains("INSERT INTO history (1"), "{dialog}");
    screen.confirm("1");
    screen.wait_for("1 applied, 1 pending");
    let rows = versions(&db).await;
    assert_eq!(rows, vec![1]);

    // Roll it back: `b` on the selected migration.
    screen.keys("b");
    screen.wait_for("Revert 1 migration(s) down to 1?");
    screen.confirm("1");
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

    screen.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "q quits");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn versions(db: &lockstep::db::Database) -> Vec<i64> {
    let mut conn = db.connect("test").await.unwrap();
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}
