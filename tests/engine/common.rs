//! Shared helpers: migration directories, runs and history reads.

use std::path::PathBuf;
use std::time::Duration;

use lockstep::db::Database;
use lockstep::history::{self, AppliedRow, HistoryTable};
use lockstep::runner::{Operation, RunError, RunEvent, RunOptions, RunSummary, Runner};
use lockstep::source::{self, MigrationSet};
use lockstep::status::Status;
pub use lockstep::testing::scalar_i64;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;

/// The `lockstep` binary on `url` with the migrations of `dir` (and no `DATABASE_URL`).
pub fn lockstep(url: &str, dir: &Dir) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("lockstep").unwrap();
    // In the environment, not on the command line, where other accounts could read the password.
    cmd.env("DATABASE_URL", url).arg("--source").arg(&dir.path);
    cmd
}

/// Parses a JSON document, or panics showing the text.
pub fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(output)))
}

/// A temporary migrations directory.
pub struct Dir {
    _tmp: TempDir,
    pub path: PathBuf,
}

impl Dir {
    /// Creates a directory holding `files` (name, text).
    pub fn with(files: &[(&str, &str)]) -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("migrations");
        std::fs::create_dir(&path).unwrap();
        let dir = Dir { _tmp: tmp, path };
        for (name, text) in files {
            dir.write(name, text);
        }
        dir
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path.join(name), text).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.path.join(name)).unwrap();
    }

    pub fn set(&self) -> MigrationSet {
        source::load(&self.path, &Default::default()).unwrap()
    }
}

/// Three reversible migrations: a table, a column with a function, an index.
pub fn three() -> Dir {
    Dir::with(&[
        (
            "1_create_widgets.up.sql",
            "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL);\nINSERT INTO widgets (name) SELECT 'w' || g FROM generate_series(1, 100) g;\n",
        ),
        ("1_create_widgets.down.sql", "DROP TABLE widgets;\n"),
        (
            "2_add_color.up.sql",
            "ALTER TABLE widgets ADD COLUMN color text DEFAULT 'red';\nCREATE FUNCTION widget_label(w widgets) RETURNS text LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN w.name || ';' || w.color; -- a ; inside\nEND;\n$$;\n",
        ),
        (
            "2_add_color.down.sql",
            "DROP FUNCTION widget_label(widgets);\nALTER TABLE widgets DROP COLUMN color;\n",
        ),
        (
            "3_index_name.up.sql",
            "CREATE INDEX widgets_name ON widgets (name);\n",
        ),
        ("3_index_name.down.sql", "DROP INDEX widgets_name;\n"),
    ])
}

pub fn options() -> RunOptions {
    RunOptions {
        table: HistoryTable::new("_sqlx_migrations"),
        create_schemas: vec![],
        lock_timeout: None,
        statement_timeout: None,
        lock_wait: Duration::from_secs(30),
        retries: 0,
        ignore_missing: false,
        pooled: false,
    }
}

/// Runs `operation` and returns the result with every event it reported.
pub async fn run_with(
    db: &Database,
    dir: &Dir,
    operation: Operation,
    options: RunOptions,
) -> (Result<RunSummary, RunError>, Vec<RunEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut runner = Runner::connect(db, options, tx).await.expect("connect");
    let result = runner.run(operation, &dir.set()).await;
    runner.close().await;
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (result, events)
}

pub async fn run(db: &Database, dir: &Dir, operation: Operation) -> Result<RunSummary, RunError> {
    run_with(db, dir, operation, options()).await.0
}

/// The failure of a migration, from a run's error (panics on any other error).
pub fn failure(err: &RunError) -> &lockstep::runner::Failure {
    match err {
        RunError::Migration { failure, .. } => failure,
        other => panic!("expected a migration failure, got {other}"),
    }
}

pub async fn up(db: &Database, dir: &Dir) -> RunSummary {
    run(db, dir, Operation::Up { to: None }).await.expect("up")
}

pub async fn conn(db: &Database) -> PgConnection {
    db.connect("lockstep-test").await.expect("connect")
}

pub async fn rows(db: &Database) -> Vec<AppliedRow> {
    let mut c = conn(db).await;
    let rows = history::read(&mut c, &HistoryTable::new("_sqlx_migrations"))
        .await
        .unwrap()
        .unwrap_or_default();
    c.close().await.unwrap();
    rows
}

pub async fn versions(db: &Database) -> Vec<i64> {
    rows(db).await.iter().map(|r| r.version).collect()
}

pub async fn status(db: &Database, dir: &Dir) -> Status {
    lockstep::runner::read_status(db, &dir.set(), &HistoryTable::new("_sqlx_migrations"))
        .await
        .unwrap()
}

/// Whether a relation exists.
pub async fn exists(db: &Database, relation: &str) -> bool {
    let mut c = conn(db).await;
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(relation)
        .fetch_one(&mut c)
        .await
        .unwrap();
    found.is_some()
}
