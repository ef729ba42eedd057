//! Cancel and terminate, with pgAdmin's guards: never a background process, never the monitor's
//! own session, never "cancel" an idle session.

use serde::Serialize;

use super::error::{MonitorError, Refusal};

/// What to send a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `pg_cancel_backend`: cancel the running query (its transaction rolls back).
    Cancel,
    /// `pg_terminate_backend`: end the session.
    Terminate,
}

impl Signal {
    /// `cancel` or `terminate`.
    pub fn verb(self) -> &'static str {
        match self {
            Signal::Cancel => "cancel",
            Signal::Terminate => "terminate",
        }
    }

    pub(crate) fn sql(self) -> &'static str {
        match self {
            Signal::Cancel => "/* lockstep */ SELECT pg_cancel_backend($1)",
            Signal::Terminate => "/* lockstep */ SELECT pg_terminate_backend($1)",
        }
    }
}

/// The target as `pg_stat_activity` shows it: `datname`, `state`.
pub(crate) const TARGET_SQL: &str =
    "/* lockstep */ SELECT datname::text, state FROM pg_stat_activity WHERE pid = $1";

/// Cancels `$1`'s query while it carries `application_name = $2` (one statement: the check and
/// the signal see the same session), never the monitor's own.
pub(crate) const CANCEL_OWNED_SQL: &str = "/* lockstep */ SELECT pg_cancel_backend(pid) \
     FROM pg_stat_activity WHERE pid = $1 AND application_name = $2 AND pid <> pg_backend_pid()";

/// Applies the guards to a target (`None` when it has no activity row).
pub(crate) fn check(
    signal: Signal,
    pid: i32,
    own_pid: i32,
    target: Option<(Option<String>, Option<String>)>,
) -> Result<(), MonitorError> {
    let refuse = |reason| MonitorError::Refused {
        action: signal.verb(),
        pid,
        reason,
    };
    if pid == own_pid {
        return Err(refuse(Refusal::OwnSession));
    }
    let Some((datname, state)) = target else {
        return Err(MonitorError::NoSuchSession(pid));
    };
    if datname.is_none() {
        return Err(refuse(Refusal::BackgroundWorker));
    }
    if signal == Signal::Cancel && state.as_deref() == Some("idle") {
        return Err(refuse(Refusal::AlreadyIdle));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_refuse_own_background_and_idle_sessions() {
        let client = |state: &str| Some((Some("app".to_string()), Some(state.to_string())));
        assert!(matches!(
            check(Signal::Cancel, 7, 7, client("active")),
            Err(MonitorError::Refused {
                reason: Refusal::OwnSession,
                ..
            })
        ));
        assert!(matches!(
            check(Signal::Terminate, 8, 7, Some((None, None))),
            Err(MonitorError::Refused {
                reason: Refusal::BackgroundWorker,
                ..
            })
        ));
        assert!(matches!(
            check(Signal::Cancel, 8, 7, client("idle")),
            Err(MonitorError::Refused {
                reason: Refusal::AlreadyIdle,
                ..
            })
        ));
        assert!(check(Signal::Terminate, 8, 7, client("idle")).is_ok());
        assert!(check(Signal::Cancel, 8, 7, client("idle in transaction")).is_ok());
        assert!(matches!(
            check(Signal::Cancel, 8, 7, None),
            Err(MonitorError::NoSuchSession(8))
        ));
    }
}
