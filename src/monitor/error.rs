//! What can go wrong while monitoring, with a "stale" variant for timeouts so callers keep their
//! last good data and retry on the next tick.

use serde::Serialize;

use crate::db::DbError;

/// SQLSTATE `lock_not_available`: the monitor's `lock_timeout` fired.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE `query_canceled`: the monitor's `statement_timeout` fired (or someone cancelled it).
pub const QUERY_CANCELED: &str = "57014";

/// An error from the monitor.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The monitoring connection could not be opened.
    #[error(transparent)]
    Connect(#[from] DbError),
    /// A query hit the monitor's lock or statement timeout. Keep the last good data, mark it stale
    /// and retry on the next tick.
    #[error("{what} timed out (SQLSTATE {sqlstate}); showing the last data, retrying next tick")]
    Stale {
        /// What was being read.
        what: &'static str,
        /// `55P03` (lock timeout) or `57014` (statement timeout).
        sqlstate: String,
    },
    /// A query failed for another reason.
    #[error("{what}: {}", crate::db::describe(error))]
    Query {
        /// What was being read.
        what: &'static str,
        /// The driver's error.
        error: sqlx::Error,
    },
    /// A cancel or terminate request was refused before anything was sent to the server.
    #[error("refusing to {action} pid {pid}: {reason}")]
    Refused {
        /// `cancel` or `terminate`.
        action: &'static str,
        /// The target pid.
        pid: i32,
        /// Why.
        reason: Refusal,
    },
    /// No session with that pid exists (any more).
    #[error("no session with pid {0} (it may have ended)")]
    NoSuchSession(i32),
    /// The server did not signal the session (it ended meanwhile, or permission was lacking).
    #[error("the server did not signal pid {0} (it may have ended, or the role lacks permission)")]
    NotSignalled(i32),
}

impl MonitorError {
    /// Whether this is a timeout: keep the last good data and retry on the next tick.
    pub fn is_stale(&self) -> bool {
        matches!(self, MonitorError::Stale { .. })
    }
}

/// Why a cancel or terminate was refused (pgAdmin's guards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The target is the monitor's own connection.
    OwnSession,
    /// The target is a background process with no database (checkpointer, walwriter, ...).
    BackgroundWorker,
    /// Cancelling an idle session does nothing.
    AlreadyIdle,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::OwnSession => "it is the monitor's own session",
            Refusal::BackgroundWorker => "it is a background process with no database",
            Refusal::AlreadyIdle => "it is already idle: there is no query to cancel",
        })
    }
}

/// Maps a driver error to [`MonitorError`], turning the two timeout SQLSTATEs into `Stale`.
pub(crate) fn classify(what: &'static str) -> impl FnOnce(sqlx::Error) -> MonitorError {
    move |source| {
        if let Some(code) = source.as_database_error().and_then(|d| d.code())
            && (code == LOCK_NOT_AVAILABLE || code == QUERY_CANCELED)
        {
            return MonitorError::Stale {
                what,
                sqlstate: code.into_owned(),
            };
        }
        MonitorError::Query {
            what,
            error: source,
        }
    }
}
