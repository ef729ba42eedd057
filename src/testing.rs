//! Databases for tests and benchmarks: a fresh database per caller, on the server named by
//! `DATABASE_URL` or, when it is unset, on one sandbox per process.
//!
//! A missing PostgreSQL is a failure with instructions, never a skip. [`pgbouncer`] puts
//! PgBouncer in front of that server.

pub mod pgbouncer;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::db::{Database, UrlSource, create_database};
use crate::sandbox::Sandbox;

static SANDBOX: OnceLock<Result<Sandbox, String>> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The URL of a server's maintenance database: `DATABASE_URL`, or the process's sandbox (started
/// on first use, stopped when the process exits). The sandbox's URL carries its password: hand it
/// to a child process in its environment (`DATABASE_URL`), never on its command line.
///
/// # Panics
/// When neither works, with a message saying what to install.
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return url;
    }
    let sandbox = SANDBOX.get_or_init(|| {
        let started = Sandbox::start().map_err(|e| e.to_string());
        if started.is_ok() {
            register_exit_cleanup();
        }
        started
    });
    match sandbox {
        Ok(sandbox) => sandbox.url(),
        Err(e) => panic!(
            "these tests need PostgreSQL, and none could be started.\n{e}\n\
             Install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`) \
             or set DATABASE_URL to a server where the tests may create databases."
        ),
    }
}

/// Creates a new, empty database for one test and returns it.
pub async fn fresh_database() -> Database {
    let admin = server_url();
    let name = format!(
        "lockstep_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    create_database(&admin, &name)
        .await
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    Database::at(url_with_database(&admin, &name), UrlSource::Environment)
}

/// `url` with its database name replaced.
pub fn url_with_database(url: &str, database: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{database}"));
            parsed.to_string()
        }
        Err(_) => panic!("DATABASE_URL is not a URL: {}", crate::db::redact(url)),
    }
}

/// Stops the static sandbox at process exit (statics are never dropped).
fn register_exit_cleanup() {
    extern "C" fn stop_sandbox() {
        if let Some(Ok(sandbox)) = SANDBOX.get() {
            sandbox.shutdown_in_place();
        }
    }
    // SAFETY: registering a plain extern "C" function with atexit(3).
    unsafe {
        nix::libc::atexit(stop_sandbox);
    }
}

/// The one `bigint` value `sql` selects on `db`, on a connection of its own.
///
/// # Panics
/// When the database cannot be reached or the query fails: a test's setup error.
pub async fn scalar_i64(db: &Database, sql: &str) -> i64 {
    let mut conn = db.connect("lockstep-test").await.expect("connect");
    let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = sqlx::Connection::close(conn).await;
    value
}

/// Whether a lockstep runner (a `lockstep:apply` session) holds the migration lock, sqlx's
/// advisory lock, in `db`'s database (other tests' databases on the same server do not count).
pub async fn runner_holds_the_migration_lock(db: &Database) -> bool {
    scalar_i64(
        db,
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'lockstep:apply' \
         AND a.datname = current_database()",
    )
    .await
        == 1
}
