//! Hidden characters through every CLI output: escape sequences (OSC 52, cursor movement,
//! conceal), a bidirectional override, a zero-width joiner and a C1 control, in migration files
//! and in database text. Output for people shows markers (with colours forced on, too) and
//! never the raw characters; JSON keeps the exact text, escaped.

use assert_cmd::Command;
use lockstep::testing::fresh_database;

use crate::common::*;

/// One of each: ESC conceal, a bidi override in a comment (between statements: not sent), a
/// zero-width joiner, a C1 CSI, and OSC 52 (clipboard) with BEL and cursor movement.
const UP: &str = "CREATE TABLE t (v text);\nINSERT INTO t VALUES ('\u{1b}[8m');\n-- \u{202e} note\nSELECT 'a\u{200d}b', '\u{9b}2J', '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A';\n";

/// Input sequences that must never reach a terminal raw.
const RAW: [&str; 7] = [
    "\u{1b}]52",
    "\u{1b}[5A",
    "\u{1b}[8m",
    "\u{202e}",
    "\u{200d}",
    "\u{9b}",
    "\u{7}",
];

fn assert_raw_free(bytes: &[u8], what: &str) {
    for sequence in RAW {
        let sequence = sequence.as_bytes();
        assert!(
            !bytes.windows(sequence.len()).any(|w| w == sequence),
            "{what}: {sequence:?} is in the output raw:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// The output without its colour codes.
fn plain(bytes: &[u8]) -> String {
    anstream::adapter::strip_str(&String::from_utf8_lossy(bytes)).to_string()
}

/// `lockstep` on `url` and `dir`, colours forced on as on a terminal.
fn lockstep(url: &str, dir: &Dir) -> Command {
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.arg("--database-url")
        .arg(url)
        .arg("--source")
        .arg(&dir.path)
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1");
    cmd
}

#[tokio::test]
async fn dry_runs_and_run_logs_show_markers_and_json_keeps_the_text() {
    let db = fresh_database().await;
    let dir = Dir::with(&[
        ("1_seed.up.sql", UP),
        ("1_seed.down.sql", "DROP TABLE t;\n"),
    ]);
    let dry = lockstep(db.url(), &dir)
        .args(["up", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", plain(&dry.stderr));
    assert_raw_free(&dry.stdout, "up --dry-run");
    let text = plain(&dry.stdout);
    assert!(text.contains("INSERT INTO t VALUES ('␛[8m');"), "{text}");
    assert!(
        text.contains("SELECT 'a\\u{200D}b', '\\u{9B}2J', '␛]52;c;ZXZpbA==␇␛[5A';"),
        "{text}"
    );
    // The markers are styled: the raw output has more than the plain one.
    assert!(dry.stdout.len() > text.len());

    let run = lockstep(db.url(), &dir).arg("up").output().unwrap();
    assert!(run.status.success(), "{}", plain(&run.stderr));
    assert_raw_free(&run.stdout, "up");
    let text = plain(&run.stdout);
    assert!(text.contains("INSERT INTO t VALUES ('␛[8m')"), "{text}");
    assert!(text.contains("'␛]52;c;ZXZpbA==␇␛[5A'"), "{text}");

    lockstep(db.url(), &dir).arg("down").assert().success();
    let json = lockstep(db.url(), &dir)
        .args(["up", "--json"])
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", plain(&json.stderr));
    assert_raw_free(&json.stdout, "up --json");
    let texts: Vec<String> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "statement_started")
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "CREATE TABLE t (v text)",
            "INSERT INTO t VALUES ('\u{1b}[8m')",
            "SELECT 'a\u{200d}b', '\u{9b}2J', '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A'",
        ],
        "JSON round-trips the exact statements"
    );
    let stored: String = sqlx::query_scalar("SELECT v FROM t")
        .fetch_one(&mut conn(&db).await)
        .await
        .unwrap();
    assert_eq!(stored, "\u{1b}[8m", "and the database got exactly that");
}

#[tokio::test]
async fn a_server_message_naming_a_hidden_character_is_shown_with_markers() {
    let db = fresh_database().await;
    let dir = Dir::with(&[(
        "1_broken.sql",
        "SELECT * FROM \"no\u{1b}[5Asuch\u{202e}\";\n",
    )]);
    let out = lockstep(db.url(), &dir).arg("up").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_raw_free(&out.stdout, "up stdout");
    assert_raw_free(&out.stderr, "up stderr");
    let text = plain(&out.stderr);
    assert!(
        text.contains("relation \"no␛[5Asuch\\u{202E}\" does not exist"),
        "{text}"
    );
}

#[tokio::test]
async fn status_shows_a_description_with_markers() {
    let db = fresh_database().await;
    let dir = Dir::with(&[("1_seed\u{1b}[8m\u{202e}x.up.sql", "SELECT 1;\n")]);
    let out = lockstep(db.url(), &dir).arg("status").output().unwrap();
    assert_raw_free(&out.stdout, "status");
    let text = plain(&out.stdout);
    assert!(text.contains("seed␛[8m\\u{202E}x"), "{text}");
}

#[tokio::test]
async fn inspect_shows_another_sessions_query_with_markers() {
    let db = fresh_database().await;
    let dir = Dir::with(&[]);
    let mut holder = conn(&db).await;
    sqlx::raw_sql("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::raw_sql("SELECT '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A\u{202e}\u{9b}2J' AS evil")
        .execute(&mut holder)
        .await
        .unwrap();
    let out = lockstep(db.url(), &dir)
        .args(["inspect", "activity", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", plain(&out.stderr));
    assert_raw_free(&out.stdout, "inspect activity");
    let text = plain(&out.stdout);
    assert!(
        text.contains("SELECT '␛]52;c;ZXZpbA==␇␛[5A\\u{202E}\\u{9B}2J' AS evil"),
        "{text}"
    );
    let out = lockstep(db.url(), &dir)
        .args(["inspect", "activity", "--all", "--json"])
        .output()
        .unwrap();
    assert_raw_free(&out.stdout, "inspect activity --json");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let queries: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["query"].as_str())
        .collect();
    assert!(
        queries.contains(&"SELECT '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A\u{202e}\u{9b}2J' AS evil"),
        "{queries:?}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
}
