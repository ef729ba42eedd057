//! The Activity pane: sessions from `pg_stat_activity`, with ages computed on the server.

use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// The `state` of a session idle inside a transaction (also `... (aborted)`).
const IDLE_IN_TRANSACTION: &str = "idle in transaction";

/// One session from `pg_stat_activity`. Every column but the pid may be NULL (background workers
/// have no database, user or query; a session may end between two reads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    /// Backend pid.
    pub pid: i32,
    /// Database name (`None` for background processes).
    pub datname: Option<String>,
    /// Role name.
    pub user: Option<String>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// Client address (`None` for Unix sockets and background processes).
    pub client: Option<String>,
    /// `backend_type` (`client backend`, `autovacuum worker`, ...).
    pub backend_type: Option<String>,
    /// `state` (`active`, `idle`, `idle in transaction`, ...).
    pub state: Option<String>,
    /// `wait_event_type` (`Lock`, `LWLock`, `IO`, `Client`, ...).
    pub wait_event_type: Option<String>,
    /// `wait_event` (`relation`, `transactionid`, `advisory`, `ClientRead`, ...).
    pub wait_event: Option<String>,
    /// Seconds since the session connected.
    pub backend_age_secs: Option<f64>,
    /// Seconds since its transaction started (`None` outside a transaction).
    pub xact_age_secs: Option<f64>,
    /// Seconds since its current (or last) query started.
    pub query_age_secs: Option<f64>,
    /// Seconds since its state last changed (how long it has been idle, for idle sessions).
    pub state_age_secs: Option<f64>,
    /// The leader's pid when this is a parallel worker (PostgreSQL 13+).
    pub leader_pid: Option<i32>,
    /// The current or last query, whitespace collapsed to single spaces.
    pub query: Option<String>,
    /// Whether `application_name` starts with `lockstep` (one of lockstep's own sessions).
    pub is_lockstep: bool,
    /// Whether it comes from the pooler lockstep goes through (its client address is the
    /// pooler's): the application name is the pooler's last client's, the real client is hidden.
    #[serde(default)]
    pub via_pooler: bool,
    /// Whether it is idle in a transaction for at least the threshold: what a migration queues
    /// behind.
    pub idle_in_transaction_too_long: bool,
}

impl Session {
    /// Whether it is idle inside a transaction (also an aborted one).
    pub fn is_idle_in_transaction(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| s.starts_with(IDLE_IN_TRANSACTION))
    }

    /// Whether it is waiting for a heavyweight lock.
    pub fn is_waiting_on_lock(&self) -> bool {
        self.wait_event_type.as_deref() == Some("Lock")
    }

    /// Whether it is an idle session (nothing to cancel).
    pub fn is_idle(&self) -> bool {
        self.state.as_deref() == Some("idle")
    }

    /// Reads the columns of [`activity_columns`] (and `pid`) from a row. `threshold` decides
    /// [`Session::idle_in_transaction_too_long`] (measured from the last state change).
    pub(crate) fn from_row(row: &PgRow, threshold: Duration) -> Result<Session, sqlx::Error> {
        let application_name: Option<String> = row.try_get("application_name")?;
        let state: Option<String> = row.try_get("state")?;
        let state_age_secs: Option<f64> = row.try_get("state_age_secs")?;
        let idle_in_tx = state
            .as_deref()
            .is_some_and(|s| s.starts_with(IDLE_IN_TRANSACTION));
        Ok(Session {
            pid: row.try_get("pid")?,
            datname: row.try_get("datname")?,
            user: row.try_get("usename")?,
            is_lockstep: application_name
                .as_deref()
                .is_some_and(|a| a.starts_with("lockstep")),
            application_name,
            via_pooler: row.try_get("via_pooler")?,
            client: row.try_get("client_addr")?,
            backend_type: row.try_get("backend_type")?,
            idle_in_transaction_too_long: idle_in_tx
                && state_age_secs.is_some_and(|age| age >= threshold.as_secs_f64()),
            state,
            wait_event_type: row.try_get("wait_event_type")?,
            wait_event: row.try_get("wait_event")?,
            backend_age_secs: row.try_get("backend_age_secs")?,
            xact_age_secs: row.try_get("xact_age_secs")?,
            query_age_secs: row.try_get("query_age_secs")?,
            state_age_secs,
            leader_pid: row.try_get("leader_pid")?,
            query: row.try_get("query")?,
        })
    }
}

/// The `pg_stat_activity` columns every session-returning query selects from alias `a` (all but
/// `pid`, which the caller selects so that it survives a LEFT JOIN). Ages are computed from
/// `clock_timestamp()` on the server, so client clock skew does not matter. Sessions whose client
/// address is `pooler_address` (the pooler lockstep goes through) come out `via_pooler`.
pub(crate) fn activity_columns(server_version_num: i32, pooler_address: Option<&str>) -> String {
    let leader = if server_version_num >= 130000 {
        "a.leader_pid"
    } else {
        "NULL::int"
    };
    let via_pooler = match pooler_address {
        Some(address) => format!(
            "coalesce(host(a.client_addr) = '{}', false)",
            address.replace('\'', "''")
        ),
        None => "false".to_string(),
    };
    format!(
        r"a.datname::text AS datname, a.usename::text AS usename, a.application_name,
          host(a.client_addr) AS client_addr, a.backend_type, a.state, a.wait_event_type,
          a.wait_event,
          extract(epoch FROM clock_timestamp() - a.backend_start)::float8 AS backend_age_secs,
          extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS xact_age_secs,
          extract(epoch FROM clock_timestamp() - a.query_start)::float8 AS query_age_secs,
          extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS state_age_secs,
          {leader} AS leader_pid, {via_pooler} AS via_pooler,
          regexp_replace(a.query, '\s+', ' ', 'g') AS query"
    )
}

/// The activity query over [`activity_columns`]: every session of this database (and the
/// background processes, which have none) but the monitor's own, longest-running transactions
/// first.
pub(crate) fn activity_sql(activity_columns: &str) -> String {
    format!(
        "/* lockstep */ SELECT a.pid, {activity_columns} FROM pg_stat_activity a \
         WHERE a.pid <> pg_backend_pid() \
           AND (a.datname = current_database() OR a.datname IS NULL) \
         ORDER BY a.xact_start NULLS LAST, a.query_start NULLS LAST, a.pid"
    )
}
