//! Finding out what sits between lockstep and the server, from the server backends lockstep's
//! transactions run on and from PgBouncer's own answers.

use sqlx::Connection;
use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::pgbouncer::{self, Console};
use super::{ModeSource, PoolMode, Pooling};
use crate::db::{Database, DbError};

/// What the server says about the backend a statement ran on.
struct Backend {
    pid: i32,
    /// The server's `port` setting.
    port: Option<u16>,
    /// The client address the server sees (`None` over a Unix socket).
    client_addr: Option<String>,
    /// The address and port the server sees the connection arrive at (`None` over a socket).
    arrived_at: Option<(std::net::IpAddr, u16)>,
}

/// Finds out whether `conn` (a connection to `db`) goes through a pooler, and how it pools:
///
/// 1. the backend pid of one transaction on `conn`;
/// 2. a second connection opens a transaction and reads its backend pid: the same pid means two
///    clients share one backend (transaction pooling); a refused `BEGIN` with PgBouncer's
///    "transaction blocks not allowed" means statement pooling;
/// 3. while that transaction stays open, a second transaction on `conn`: another pid means
///    consecutive transactions move between backends (transaction pooling);
/// 4. when any of that points at a pooler, or the server listens on another port than the one
///    lockstep connected to, PgBouncer's admin console (database `pgbouncer`, same credentials)
///    is asked for its version and the pool's mode (`SHOW POOLS`); its refusal ("not allowed")
///    is PgBouncer's own answer too.
///
/// Every query here uses the simple protocol (no statement is prepared, nothing relies on the
/// backend staying the same).
pub async fn detect(db: &Database, conn: &mut PgConnection) -> Result<Pooling, DbError> {
    let first = backend(conn).await.map_err(query_error)?;
    // The server sees the connection arrive at the very address and port lockstep connected to:
    // nothing listens there but the server, so nothing sits in between.
    if let (Some(ip), Some(port), Some((arrived_ip, arrived_port))) =
        (db.url_ip(), db.url_port(), first.arrived_at)
        && same_ip(ip, arrived_ip)
        && port == arrived_port
    {
        return Ok(Pooling::direct(vec![format!(
            "the server sees this connection arrive at {arrived_ip} port {arrived_port}, where \
             lockstep connected: nothing in between"
        )]));
    }
    let mut evidence = Vec::new();
    let mut per_transaction = false;
    let mut statement_refused = false;
    match db.connect("lockstep:pooler-check").await {
        Ok(mut second) => {
            match sqlx::raw_sql("BEGIN; SELECT pg_backend_pid()")
                .fetch_all(&mut second)
                .await
            {
                Ok(rows) => {
                    let other: i32 = rows
                        .first()
                        .map(|row| row.try_get(0))
                        .transpose()
                        .map_err(query_error)?
                        .unwrap_or(0);
                    if other == first.pid {
                        per_transaction = true;
                        evidence.push(format!(
                            "two connections open at once were served by the same server \
                             backend (pid {other})"
                        ));
                    } else {
                        let again = backend(conn).await.map_err(query_error)?;
                        if again.pid != first.pid {
                            per_transaction = true;
                            evidence.push(format!(
                                "consecutive transactions on one connection ran on different \
                                 server backends (pid {} then {})",
                                first.pid, again.pid
                            ));
                        } else {
                            evidence.push(format!(
                                "consecutive transactions on one connection stayed on server \
                                 backend {}, and a second connection got its own ({other})",
                                first.pid
                            ));
                        }
                    }
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut second).await;
                }
                Err(error) if pgbouncer::is_statement_pooling_refusal(&error) => {
                    statement_refused = true;
                    evidence.push(format!(
                        "BEGIN was refused: {}",
                        crate::db::describe(&error)
                    ));
                }
                Err(error) => return Err(query_error(error)),
            }
            // One round can miss transaction pooling: when the second connection gets another
            // server connection, the first one's next transaction may come back to its own.
            // Session pooling never shows either sign, so a few more rounds cost no false alarm.
            for _ in 0..4 {
                if per_transaction || statement_refused {
                    break;
                }
                let now = backend(conn).await.map_err(query_error)?;
                let rows = sqlx::raw_sql("BEGIN; SELECT pg_backend_pid()")
                    .fetch_all(&mut second)
                    .await
                    .map_err(query_error)?;
                let other: i32 = match rows.first() {
                    Some(row) => row.try_get(0).map_err(query_error)?,
                    None => 0,
                };
                let again = backend(conn).await.map_err(query_error)?;
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut second).await;
                if other == now.pid || again.pid != now.pid {
                    per_transaction = true;
                    evidence.push(format!(
                        "transactions moved between server backends (pids {}, {other}, {})",
                        now.pid, again.pid
                    ));
                }
            }
            let _ = second.close().await;
        }
        Err(error) => {
            // One connection is enough to see transactions move between backends.
            let again = backend(conn).await.map_err(query_error)?;
            per_transaction = again.pid != first.pid;
            evidence.push(format!(
                "a second connection could not be opened ({error}); consecutive transactions ran \
                 on backends {} and {}",
                first.pid, again.pid
            ));
        }
    }
    let url_port = db.url_port();
    let port_differs = match (url_port, first.port) {
        (Some(ours), Some(theirs)) if ours != theirs => {
            evidence.push(format!(
                "lockstep connected to port {ours}, the server listens on port {theirs}"
            ));
            true
        }
        _ => false,
    };
    let console = if per_transaction || statement_refused || port_differs {
        Some(pgbouncer::ask_console(db).await)
    } else {
        None
    };
    let (mut pooler, console_mode) = match console {
        Some(Console::Answered { version, mode }) => {
            evidence.push(format!(
                "PgBouncer's console answered: {version}, pool mode {}",
                mode.map(PoolMode::name).unwrap_or("not listed")
            ));
            (Some(version), mode)
        }
        Some(Console::Refused(message)) => {
            evidence.push(format!(
                "PgBouncer refused its console to this user: {message}"
            ));
            (Some("PgBouncer".to_string()), None)
        }
        Some(Console::NotPgBouncer(message)) => {
            evidence.push(format!("no PgBouncer console: {message}"));
            (None, None)
        }
        None => (None, None),
    };
    if statement_refused && pooler.is_none() {
        pooler = Some("PgBouncer".to_string());
    }
    let (mode, mode_from) = if statement_refused {
        (PoolMode::Statement, ModeSource::Behaviour)
    } else if per_transaction {
        match console_mode {
            Some(mode @ (PoolMode::Transaction | PoolMode::Statement)) => {
                (mode, ModeSource::Console)
            }
            _ => (PoolMode::Transaction, ModeSource::Behaviour),
        }
    } else if let Some(mode) = console_mode {
        (mode, ModeSource::Console)
    } else if pooler.is_some() {
        (PoolMode::Session, ModeSource::Behaviour)
    } else {
        return Ok(Pooling::direct(evidence));
    };
    Ok(Pooling {
        pooler: Some(pooler.unwrap_or_else(|| "a connection pooler".to_string())),
        mode,
        mode_from,
        pooler_address: first.client_addr,
        evidence,
    })
}

/// The backend of one (simple-protocol, so single-message) transaction.
async fn backend(conn: &mut PgConnection) -> Result<Backend, sqlx::Error> {
    let row = sqlx::raw_sql(
        "/* lockstep */ SELECT pg_backend_pid(), current_setting('port'), \
         host(inet_client_addr()), host(inet_server_addr()), inet_server_port()",
    )
    .fetch_one(conn)
    .await?;
    let port: Option<String> = row.try_get(1)?;
    let server_addr: Option<String> = row.try_get(3)?;
    let server_port: Option<i32> = row.try_get(4)?;
    Ok(Backend {
        pid: row.try_get(0)?,
        port: port.and_then(|p| p.trim().parse().ok()),
        client_addr: row.try_get(2)?,
        arrived_at: server_addr
            .and_then(|a| a.parse().ok())
            .zip(server_port.and_then(|p| u16::try_from(p).ok())),
    })
}

/// The same address, an IPv4 address and its IPv6-mapped form included.
fn same_ip(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

fn query_error(error: sqlx::Error) -> DbError {
    DbError::Query {
        context: "checking for a connection pooler".into(),
        error,
    }
}
