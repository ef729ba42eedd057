//! Connection poolers between lockstep and the server (PgBouncer and the like): what sits there,
//! how it shares server connections, and how lockstep talks through it safely.
//!
//! Under *transaction* pooling a client connection gets a server backend for one transaction at a
//! time. Session state — an advisory lock taken with `pg_advisory_lock`, `SET lock_timeout`,
//! prepared statements — stays behind on a backend that the next transaction (or another client)
//! gets. Two rules make lockstep safe there, and it follows them on every connection:
//!
//! - No named prepared statements: every query is sent with `persistent(false)` (sqlx's
//!   `statement_cache_capacity(0)` does *not* do this: it still names each statement, and never
//!   closes them).
//! - A query with parameters runs inside a transaction ([`pinned`]): sqlx sends it as Parse +
//!   Sync, then Bind + Execute + Sync, and a pooler may hand the second half to another backend,
//!   where another client's unnamed statement runs with these parameters. Settings are made with
//!   `SET LOCAL` in that transaction.
//!
//! [`detect`] finds out what sits between lockstep and the server; [`Pooling`] says it, for
//! `status`, the status bar and the runner's refusal.

mod detect;
mod pgbouncer;

use serde::Serialize;
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::{Connection, Transaction};

pub use detect::detect;

/// How server connections are shared between clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// No pooler seen: the connection keeps its own server session.
    None,
    /// A pooler that gives each client one server connection for as long as it stays connected.
    Session,
    /// A pooler that gives a client a server connection for one transaction at a time.
    Transaction,
    /// A pooler that gives a client a server connection for one statement at a time (no
    /// transactions of more than one statement).
    Statement,
}

impl PoolMode {
    /// PgBouncer's name for the mode (`session`, `transaction`, `statement`); `none` without a
    /// pooler.
    pub fn name(self) -> &'static str {
        match self {
            PoolMode::None => "none",
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }

    /// From PgBouncer's spelling.
    pub fn from_name(name: &str) -> Option<PoolMode> {
        match name.trim() {
            "session" => Some(PoolMode::Session),
            "transaction" => Some(PoolMode::Transaction),
            "statement" => Some(PoolMode::Statement),
            _ => None,
        }
    }
}

/// How the pool mode is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeSource {
    /// PgBouncer's admin console said it (`SHOW POOLS`).
    Console,
    /// The server backends lockstep's transactions ran on showed it.
    Behaviour,
}

/// What sits between lockstep and the server, as [`detect`] found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pooling {
    /// The pooler when one was seen: `PgBouncer 1.18.0` (its console answered), `PgBouncer`
    /// (recognised by its own answers), or `a connection pooler` (seen only by its behaviour).
    pub pooler: Option<String>,
    /// How it shares server connections.
    pub mode: PoolMode,
    /// How the mode is known.
    pub mode_from: ModeSource,
    /// The client address the server sees lockstep's connections come from when they go through
    /// a pooler: the pooler's. Sessions from it are shown as pooler connections.
    pub pooler_address: Option<String>,
    /// What was observed, one fact each.
    pub evidence: Vec<String>,
}

/// What a pooler-unaware run would leave behind, for the refusals.
const SESSION_STATE_LOST: &str = "lockstep's migration lock (a session-level advisory lock), \
     its session settings (lock_timeout, statement_timeout, application_name) and named prepared \
     statements do not stay on one server connection: two runs could both apply a migration, and \
     a lock could stay held on a pooler connection after lockstep exits";

impl Pooling {
    /// A connection with no pooler seen.
    pub fn direct(evidence: Vec<String>) -> Pooling {
        Pooling {
            pooler: None,
            mode: PoolMode::None,
            mode_from: ModeSource::Behaviour,
            pooler_address: None,
            evidence,
        }
    }

    /// Whether a connection keeps one server session (no pooler, or session pooling): session
    /// locks and settings are safe.
    pub fn keeps_sessions(&self) -> bool {
        matches!(self.mode, PoolMode::None | PoolMode::Session)
    }

    /// What sits in between, for `status`: `no pooler seen (a direct connection)`, `PgBouncer
    /// 1.18.0, transaction pooling`.
    pub fn describe(&self) -> String {
        let pooler = self.pooler.as_deref().unwrap_or("a connection pooler");
        match self.mode {
            PoolMode::None => "no pooler seen (a direct connection)".to_string(),
            PoolMode::Session => format!("{pooler}, session pooling (safe)"),
            PoolMode::Transaction | PoolMode::Statement => format!(
                "{pooler}, {} pooling{}",
                self.mode.name(),
                if self.mode_from == ModeSource::Behaviour {
                    " (seen from the server backends)"
                } else {
                    ""
                }
            ),
        }
    }

    /// How lockstep is connected, for a sentence: `directly (no pooler seen)`, `through
    /// PgBouncer 1.18.0, transaction pooling`.
    pub fn summary(&self) -> String {
        match self.mode {
            PoolMode::None => "directly (no pooler seen)".to_string(),
            _ => format!("through {}", self.describe()),
        }
    }

    /// What it means for runs, `None` when nothing: `up, down and redo need --pooled`.
    pub fn consequence(&self) -> Option<&'static str> {
        match self.mode {
            PoolMode::None | PoolMode::Session => None,
            PoolMode::Transaction => Some("up, down and redo need --pooled"),
            PoolMode::Statement => Some("up, down and redo cannot run through it"),
        }
    }

    /// A few words for the status bar, `None` without a pooler: `PgBouncer 1.18.0 · transaction
    /// pooling`.
    pub fn short(&self) -> Option<String> {
        (self.mode != PoolMode::None).then(|| {
            format!(
                "{} · {} pooling",
                self.pooler.as_deref().unwrap_or("pooler"),
                self.mode.name()
            )
        })
    }

    /// Why `up` / `down` / `redo` refuse to run without `--pooled`, or `None` when they may.
    pub fn refusal(&self) -> Option<String> {
        if self.keeps_sessions() {
            return None;
        }
        Some(format!(
            "lockstep is connected {}: {SESSION_STATE_LOST}.\n\
             Connect to the server directly (its own host and port) or through a session-pooling \
             pool{}",
            self.summary(),
            if self.mode == PoolMode::Statement {
                " (statement pooling allows no transactions, so migrations cannot run through it)"
                    .to_string()
            } else {
                ", or pass --pooled to run with a transaction-level lock taken inside each \
                 migration's transaction (-- no-transaction migrations are then refused)"
                    .to_string()
            }
        ))
    }

    /// Why a run refuses even with `--pooled`, or `None` when it may run.
    pub fn pooled_refusal(&self) -> Option<String> {
        (self.mode == PoolMode::Statement).then(|| {
            format!(
                "lockstep is connected {}: statement pooling allows no transaction of more than \
                 one statement, and every migration needs one for its lock and its history row. \
                 Connect to the server directly or through a session or transaction pool",
                self.summary()
            )
        })
    }
}

/// Why a migration that does not run in one transaction (`-- no-transaction`, or one that opens
/// and ends its own) cannot run under `--pooled`.
pub fn no_transaction_refusal(version: i64, own_transactions: bool) -> String {
    let why = match own_transactions {
        true => "opens and ends its own transactions (BEGIN/COMMIT)",
        false => "is marked -- no-transaction",
    };
    format!(
        "migration {version} {why}, and --pooled runs every migration under a transaction-level \
         lock: its statements would run with no lock held (another run could apply them at the \
         same time) and each could land on another server connection. Run it connected to the \
         server directly or through a session-pooling pool, without --pooled"
    )
}

/// Begins a transaction on `conn` and runs `settings` (e.g. `SET LOCAL lock_timeout = '1s'`) in
/// it, in one round trip. Until it ends the connection stays on one server backend, even behind a
/// transaction pooler: run every query with parameters inside one (see the [module
/// docs](self)). Dropping it uncommitted rolls it back.
pub async fn pinned<'c>(
    conn: &'c mut PgConnection,
    settings: &str,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    if settings.is_empty() {
        conn.begin().await
    } else {
        conn.begin_with(sqlx::AssertSqlSafe(format!("BEGIN; {settings}")))
            .await
    }
}

/// `SET LOCAL name = 'value'` statements for a [`pinned`] transaction, skipping unset values.
pub fn set_local<'a>(settings: impl IntoIterator<Item = (&'a str, Option<String>)>) -> String {
    settings
        .into_iter()
        .filter_map(|(name, value)| {
            value.map(|v| format!("SET LOCAL {name} = '{}';", v.replace('\'', "''")))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooling(mode: PoolMode) -> Pooling {
        Pooling {
            pooler: Some("PgBouncer 1.18.0".into()),
            mode,
            mode_from: ModeSource::Console,
            pooler_address: Some("10.0.0.5".into()),
            evidence: vec![],
        }
    }

    #[test]
    fn only_sessionless_pooling_refuses() {
        assert!(Pooling::direct(vec![]).refusal().is_none());
        assert!(pooling(PoolMode::Session).refusal().is_none());
        let refusal = pooling(PoolMode::Transaction).refusal().unwrap();
        assert!(
            refusal.contains("PgBouncer 1.18.0, transaction pooling"),
            "{refusal}"
        );
        assert!(refusal.contains("--pooled"), "{refusal}");
        assert!(pooling(PoolMode::Transaction).pooled_refusal().is_none());
        let statement = pooling(PoolMode::Statement).pooled_refusal().unwrap();
        assert!(statement.contains("statement pooling"), "{statement}");
    }

    #[test]
    fn set_local_quotes_and_skips_unset() {
        assert_eq!(
            set_local([
                ("lock_timeout", Some("3s".to_string())),
                ("statement_timeout", None),
                ("application_name", Some("it's".to_string())),
            ]),
            "SET LOCAL lock_timeout = '3s'; SET LOCAL application_name = 'it''s';"
        );
    }
}
