//! The audit schema: created on first use, in a transaction of its own, and versioned.
//!
//! `schema_version` holds one row per version applied. A lockstep that finds the current
//! version (or a newer one: later versions only add tables, and columns with defaults) writes
//! without any DDL, so a user with only `INSERT`, `UPDATE` and `SELECT` on the tables can run
//! once the schema exists. Otherwise the missing versions are applied under a
//! transaction-level advisory lock of their own, so two runs creating the schema at once do not
//! collide (`CREATE SCHEMA IF NOT EXISTS` alone can fail with a unique violation when they do).

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use super::{AuditError, AuditSettings};
use crate::pooler::pinned;

/// The newest version of the audit schema this lockstep knows.
pub const VERSION: i32 = 1;

/// How long creating the schema may wait for a lock (another run creating it, a DBA's DDL).
const CREATE_LOCK_TIMEOUT: &str =
    "SET LOCAL lock_timeout = '10s'; SET LOCAL statement_timeout = '60s';";

/// The DDL of each version, in order, for the schema `s` (quoted).
pub fn versions(s: &str) -> Vec<(i32, String)> {
    vec![(
        1,
        format!(
            "CREATE TABLE {s}.runs (
    id bigserial PRIMARY KEY,
    lockstep_version text NOT NULL,
    os_user text,
    host text,
    database_user text NOT NULL DEFAULT current_user,
    command text NOT NULL,
    environment text,
    snapshot text,
    snapshot_skipped boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    outcome text NOT NULL DEFAULT 'running',
    error text,
    writer_pid integer,
    writer_backend_start timestamptz,
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX runs_started_at_idx ON {s}.runs (started_at);
CREATE TABLE {s}.migrations (
    run_id bigint NOT NULL REFERENCES {s}.runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    version bigint NOT NULL,
    description text NOT NULL,
    action text NOT NULL,
    in_transaction boolean,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    duration_ms double precision,
    attempts integer NOT NULL DEFAULT 1,
    outcome text NOT NULL,
    message text,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX migrations_version_idx ON {s}.migrations (version);
CREATE TABLE {s}.statements (
    run_id bigint NOT NULL REFERENCES {s}.runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    migration_seq integer NOT NULL,
    version bigint NOT NULL,
    direction text NOT NULL,
    attempt integer NOT NULL DEFAULT 1,
    statement_index integer NOT NULL,
    line integer,
    sha256 text NOT NULL,
    first_line text NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms double precision,
    lock_wait_ms double precision,
    waiting_for text,
    blocker_pid integer,
    blocker_user text,
    blocker_application text,
    blocker_query text,
    rows_affected bigint,
    error text,
    PRIMARY KEY (run_id, seq)
);"
        ),
    )]
}

/// The version of the audit schema in the database: `None` when it does not exist.
pub async fn installed(
    conn: &mut PgConnection,
    settings: &AuditSettings,
) -> Result<Option<i32>, sqlx::Error> {
    let table = format!("{}.schema_version", settings.quoted_schema());
    let exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i32> =
        sqlx::raw_sql(AssertSqlSafe(format!("SELECT max(version) FROM {table}")))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    Ok(Some(version.unwrap_or(0)))
}

/// Makes sure the audit schema exists at [`VERSION`] or later: a read when it does, else the
/// missing versions in one transaction under the schema's advisory lock. A schema on the user's
/// `search_path` is refused (and not created): a user named like it has it as `"$user"`, the
/// first place unqualified `CREATE TABLE`s of the migrations would go.
pub async fn ensure(conn: &mut PgConnection, settings: &AuditSettings) -> Result<(), AuditError> {
    let context = format!("reading the audit schema {}", settings.quoted_schema());
    let mut tx = pinned(conn, "SET TRANSACTION READ ONLY;")
        .await
        .map_err(AuditError::query(&context))?;
    let found = match installed(&mut tx, settings).await {
        Ok(Some(version)) => on_search_path(&mut tx, settings)
            .await
            .map(|path| (Some(version), path)),
        Ok(None) => Ok((None, None)),
        Err(error) => Err(error),
    };
    tx.commit().await.map_err(AuditError::query(&context))?;
    match found.map_err(AuditError::query(&context))? {
        (_, Some(search_path)) => Err(search_path_error(settings, search_path)),
        (Some(version), None) if version >= VERSION => Ok(()),
        _ => create(conn, settings).await,
    }
}

fn search_path_error(settings: &AuditSettings, search_path: String) -> AuditError {
    AuditError::OnSearchPath {
        schema: settings.quoted_schema(),
        search_path,
    }
}

/// The session's `search_path` when the audit schema (which exists) is on it.
async fn on_search_path(
    conn: &mut PgConnection,
    settings: &AuditSettings,
) -> Result<Option<String>, sqlx::Error> {
    let row =
        sqlx::query("SELECT $1 = ANY (current_schemas(false)), current_setting('search_path')")
            .bind(&settings.schema)
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
    let on_path: bool = row.try_get(0)?;
    on_path.then(|| row.try_get(1)).transpose()
}

async fn create(conn: &mut PgConnection, settings: &AuditSettings) -> Result<(), AuditError> {
    let context = format!("creating the audit schema {}", settings.quoted_schema());
    let s = settings.quoted_schema();
    let mut tx = pinned(conn, CREATE_LOCK_TIMEOUT)
        .await
        .map_err(AuditError::query(&context))?;
    let created: Result<Option<String>, sqlx::Error> = async {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(&settings.schema))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.schema_version (
                 version integer PRIMARY KEY,
                 installed_on timestamptz NOT NULL DEFAULT now(),
                 lockstep_version text NOT NULL
             );"
        )))
        .execute(&mut *tx)
        .await?;
        if let Some(search_path) = on_search_path(&mut tx, settings).await? {
            return Ok(Some(search_path));
        }
        let current = installed(&mut tx, settings).await?.unwrap_or(0);
        for (version, ddl) in versions(&s).into_iter().filter(|(v, _)| *v > current) {
            sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&mut *tx).await?;
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {s}.schema_version (version, lockstep_version) VALUES ($1, $2)"
            )))
            .bind(version)
            .bind(env!("CARGO_PKG_VERSION"))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        }
        Ok(None)
    }
    .await;
    match created.map_err(AuditError::query(&context))? {
        // Dropped uncommitted: rolled back, nothing created.
        Some(search_path) => Err(search_path_error(settings, search_path)),
        None => tx.commit().await.map_err(AuditError::query(&context)),
    }
}

/// The advisory lock key under which the audit schema `schema` is created: derived from its
/// name, so it shares no key with sqlx's migration lock.
pub fn lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("lockstep audit schema {schema}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_in_order_and_end_at_the_current_one() {
        let versions = versions("\"lockstep\"");
        assert!(versions.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(versions.last().map(|v| v.0), Some(VERSION));
        assert_ne!(lock_key("lockstep"), lock_key("audit"));
    }
}
