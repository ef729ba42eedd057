//! PgBouncer's own answers: its admin console (the `pgbouncer` database) and the errors only it
//! gives.

use std::time::Duration;

use sqlx::Connection;
use sqlx::Row;

use super::PoolMode;
use crate::db::{Database, DbError};

/// What PgBouncer's admin console said.
pub(super) enum Console {
    /// It answered: PgBouncer's version and the mode of lockstep's pool (`SHOW POOLS`).
    Answered {
        /// `PgBouncer 1.18.0`.
        version: String,
        /// The pool's mode, when the pool is listed.
        mode: Option<PoolMode>,
    },
    /// PgBouncer refused it with one of its own messages (this user is not an admin or stats
    /// user): it is PgBouncer, mode unknown.
    Refused(String),
    /// Something that is not PgBouncer answered (PostgreSQL has no `pgbouncer` database).
    NotPgBouncer(String),
}

/// Errors only PgBouncer gives (a server says other things: `database "pgbouncer" does not
/// exist`, authentication failures with SQLSTATE 28xxx).
const PGBOUNCER_MESSAGES: &[&str] = &[
    "not allowed",
    "no such user",
    "unsupported startup parameter",
    "login rejected",
    "pgbouncer cannot connect to server",
    "transaction blocks not allowed in statement pooling mode",
];

/// How long the console may take: it answers at once or not at all.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `error` is PgBouncer refusing a transaction block under statement pooling.
pub(super) fn is_statement_pooling_refusal(error: &sqlx::Error) -> bool {
    message(error).contains("transaction blocks not allowed")
}

fn message(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(db) => db.message().to_string(),
        None => error.to_string(),
    }
}

/// Connects to the `pgbouncer` database with `db`'s credentials and asks `SHOW VERSION` and
/// `SHOW POOLS` (simple protocol: the console knows no other).
pub(super) async fn ask_console(db: &Database) -> Console {
    let connected = db
        .connect_to("pgbouncer", "lockstep:pooler-check", CONSOLE_TIMEOUT)
        .await;
    let mut console = match connected {
        Ok(conn) => conn,
        Err(DbError::Connect { error, .. }) => {
            let text = message(&error);
            return if PGBOUNCER_MESSAGES.iter().any(|m| text.contains(m)) {
                Console::Refused(text)
            } else {
                Console::NotPgBouncer(text)
            };
        }
        Err(other) => return Console::NotPgBouncer(other.to_string()),
    };
    let version = sqlx::raw_sql("SHOW VERSION")
        .fetch_optional(&mut console)
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_unchecked::<String, _>(0).ok())
        .filter(|v| v.starts_with("PgBouncer"));
    let Some(version) = version else {
        let _ = console.close().await;
        return Console::NotPgBouncer(
            "a database named pgbouncer answered, but not as PgBouncer's console".into(),
        );
    };
    let (database, user) = db.names();
    let mode = match sqlx::raw_sql("SHOW POOLS").fetch_all(&mut console).await {
        Ok(rows) => rows.iter().find_map(|row| {
            let text = |column: &str| row.try_get_unchecked::<String, _>(column).ok();
            (text("database").as_deref() == Some(database.as_str())
                && text("user").as_deref() == Some(user.as_str()))
            .then(|| text("pool_mode").and_then(|m| PoolMode::from_name(&m)))
            .flatten()
        }),
        Err(_) => None,
    };
    let _ = console.close().await;
    Console::Answered { version, mode }
}
