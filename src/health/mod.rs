//! The health check after a run (and on demand, `lockstep check`): what a migration may have left
//! behind that needs someone's action. Invalid indexes, NOT VALID constraints never validated,
//! sequences near their maximum, tables rewritten (or never analysed) without statistics, sessions
//! left blocked or idle in a transaction, and how fast the server answers `SELECT 1`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgRow};

use crate::db::{Database, DbError};

/// The application name of the check's connection.
pub const APPLICATION_NAME: &str = "lockstep:check";

/// A sequence counts as near its maximum from this share of it on.
pub const SEQUENCE_ALERT_SHARE: f64 = 0.8;

/// A table never analysed is listed from this many rows on: below it the planner's guess costs
/// little, and autovacuum analyses a table soon after its first rows (50 changed rows and 10%).
pub const NEVER_ANALYZED_MIN_ROWS: i64 = 1000;

/// How long a session may sit idle in a transaction before the on-demand check lists it.
pub const IDLE_IN_TRANSACTION_ALERT: Duration = Duration::from_secs(60);

/// What kind of problem an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// An index marked INVALID (a failed or interrupted `CREATE INDEX CONCURRENTLY`).
    InvalidIndex,
    /// A CHECK or FOREIGN KEY constraint added `NOT VALID` and never validated.
    UnvalidatedConstraint,
    /// A sequence that has used most of its range.
    SequenceNearMax,
    /// A table rewritten by the run (or holding rows and never analysed) without statistics since.
    NotAnalyzed,
    /// A session waiting on a lock.
    BlockedSession,
    /// A session idle in a transaction, holding its locks.
    IdleInTransaction,
}

impl Check {
    /// The heading of its list.
    pub fn heading(self) -> &'static str {
        match self {
            Check::InvalidIndex => "invalid indexes",
            Check::UnvalidatedConstraint => "constraints never validated",
            Check::SequenceNearMax => "sequences near their maximum",
            Check::NotAnalyzed => "tables without fresh statistics",
            Check::BlockedSession => "sessions waiting on a lock",
            Check::IdleInTransaction => "sessions idle in a transaction",
        }
    }
}

/// One thing that needs action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Its kind.
    pub check: Check,
    /// The object, named: `public.users_email_idx`, `pid 4711`.
    pub object: String,
    /// What is wrong with it.
    pub detail: String,
    /// What to do.
    pub action: String,
}

/// How the check after a run is introduced, by the CLI and the dashboard alike.
const AFTER_RUN: &str = "health check after the run";

/// What the check after a run says, in words: the report under [`AFTER_RUN`] when something
/// needs action (`None` when nothing does), or why the check could not run.
pub fn after_run_words(checked: Result<&Report, &DbError>) -> Option<String> {
    match checked {
        Ok(report) if report.needs_action() => Some(format!("{AFTER_RUN}:\n{}", report.render())),
        Ok(_) => None,
        Err(error) => Some(format!("the {AFTER_RUN} could not run: {error}")),
    }
}

/// What the server looked like before a run, to compare with after it, and the check's
/// connection, kept open (idle, outside any transaction) so the check after the run need not
/// connect again.
#[derive(Debug)]
pub struct Baseline {
    started: chrono::DateTime<chrono::Utc>,
    relfilenodes: HashMap<String, i64>,
    response: Duration,
    conn: Option<PgConnection>,
}

/// The check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What needs action, grouped by kind.
    pub items: Vec<Item>,
    /// `SELECT 1` round trip now.
    pub response_ms: f64,
    /// `SELECT 1` round trip before the run, when checked after one.
    pub response_before_ms: Option<f64>,
}

impl Report {
    /// Whether anything needs action.
    pub fn needs_action(&self) -> bool {
        !self.items.is_empty()
    }

    /// The report for a person: one short list per kind with the objects named, and the
    /// response time.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last = None;
        for item in &self.items {
            if last != Some(item.check) {
                out.push_str(&format!("{}:\n", item.check.heading()));
                last = Some(item.check);
            }
            out.push_str(&format!(
                "  {}: {}\n    → {}\n",
                item.object, item.detail, item.action
            ));
        }
        if self.items.is_empty() {
            out.push_str("nothing needs action\n");
        }
        match self.response_before_ms {
            Some(before) => out.push_str(&format!(
                "SELECT 1 answers in {:.1} ms (before the run: {before:.1} ms)\n",
                self.response_ms
            )),
            None => out.push_str(&format!("SELECT 1 answers in {:.1} ms\n", self.response_ms)),
        }
        out
    }
}

/// A connection for the check, inside one read-only transaction with short timeouts (set
/// locally, so nothing outlives it on a pooler's server connection) so it never queues behind a
/// migration. Every query is unnamed: nothing is prepared on the server.
async fn connect(db: &Database) -> Result<PgConnection, DbError> {
    let mut conn = db.connect(APPLICATION_NAME).await?;
    sqlx::raw_sql(BEGIN_CHECK)
        .execute(&mut conn)
        .await
        .map_err(query("configuring the check's connection"))?;
    Ok(conn)
}

/// The baseline's connection, in the check's transaction again; `None` when the server closed it
/// during the run (an idle-session timeout, a restart).
async fn reopen(mut conn: PgConnection) -> Option<PgConnection> {
    sqlx::raw_sql(BEGIN_CHECK).execute(&mut conn).await.ok()?;
    Some(conn)
}

/// The check's transaction: read-only, with short timeouts set locally.
const BEGIN_CHECK: &str = "/* lockstep */ BEGIN READ ONLY; SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '30s'";

fn query(context: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
    move |error| DbError::Query {
        context: context.to_string(),
        error,
    }
}

/// Takes what the check after a run compares with: every table's storage file, the time and
/// how fast the server answers.
pub async fn baseline(db: &Database) -> Result<Baseline, DbError> {
    let mut conn = connect(db).await?;
    let response = response_time(&mut conn).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(TABLE_FILES_SQL)
        .persistent(false)
        .fetch_all(&mut conn)
        .await
        .map_err(query("reading the tables' storage"))?;
    let conn = sqlx::raw_sql("COMMIT")
        .execute(&mut conn)
        .await
        .ok()
        .map(|_| conn);
    Ok(Baseline {
        started: chrono::Utc::now(),
        relfilenodes: rows.into_iter().collect(),
        response,
        conn,
    })
}

impl Baseline {
    /// Closes the kept connection, when the check after the run will not happen.
    pub async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

/// Runs the check, after a run when `since` is its baseline, else on demand. A session idle in
/// a transaction is listed once it has been idle for `idle_after` (or, after a run, when its
/// transaction began during the run). The tables of `audit_schema`, lockstep's own audit trail
/// (written by the run itself), are left out of the statistics check.
pub async fn check(
    db: &Database,
    mut since: Option<Baseline>,
    idle_after: Duration,
    audit_schema: &str,
) -> Result<Report, DbError> {
    let mut conn = match since.as_mut().and_then(|b| b.conn.take()) {
        Some(conn) => match reopen(conn).await {
            Some(conn) => conn,
            None => connect(db).await?,
        },
        None => connect(db).await?,
    };
    let since = since.as_ref();
    let response = response_time(&mut conn).await?;
    let mut items = Vec::new();

    let [invalid, constraints, sequences, stats, sessions] =
        read_all(&mut conn, since, idle_after, audit_schema)
            .await
            .map_err(query("reading the catalogue and the sessions"))?;
    let invalid: Vec<(String, String)> =
        rows_as(&invalid).map_err(query("reading invalid indexes"))?;
    items.extend(invalid.into_iter().map(|(index, table)| Item {
        check: Check::InvalidIndex,
        detail: format!(
            "INVALID index on {table}: a CREATE INDEX CONCURRENTLY that failed or was \
             interrupted (or is still building); it slows writes and is never used"
        ),
        action: format!("DROP INDEX CONCURRENTLY {index}; then build it again"),
        object: index,
    }));

    let constraints: Vec<(String, String, String)> =
        rows_as(&constraints).map_err(query("reading constraints"))?;
    items.extend(
        constraints
            .into_iter()
            .map(|(name, table, definition)| Item {
                check: Check::UnvalidatedConstraint,
                object: format!("{name} on {table}"),
                detail: format!("{definition}: new rows are checked, existing rows never were"),
                action: format!(
                    "ALTER TABLE {table} VALIDATE CONSTRAINT {name} (SHARE UPDATE EXCLUSIVE: \
                     reads and writes go on)"
                ),
            }),
    );

    let sequences: Vec<(String, String, i64, i64)> =
        rows_as(&sequences).map_err(query("reading sequences"))?;
    items.extend(
        sequences
            .into_iter()
            .map(|(name, data_type, last, max)| Item {
                check: Check::SequenceNearMax,
                detail: format!(
                    "{data_type} sequence at {last} of {max} ({:.0}% used)",
                    last as f64 / max as f64 * 100.0
                ),
                action: format!(
                    "ALTER SEQUENCE {name} AS bigint (and the columns it feeds), before it runs out"
                ),
                object: name,
            }),
    );

    let stats: Vec<(String, i64, i64, Option<chrono::DateTime<chrono::Utc>>)> =
        rows_as(&stats).map_err(query("reading table statistics"))?;
    for (table, relfilenode, rows, analyzed) in stats {
        let rewritten = since.is_some_and(|b| {
            b.relfilenodes
                .get(&table)
                .is_some_and(|old| *old != relfilenode)
                && analyzed.is_none_or(|at| at < b.started)
        });
        let never = analyzed.is_none() && rows >= NEVER_ANALYZED_MIN_ROWS;
        if rewritten || never {
            items.push(Item {
                check: Check::NotAnalyzed,
                detail: if rewritten {
                    "rewritten by the run and not analysed since: the planner works from old \
                     statistics"
                        .to_string()
                } else {
                    format!("about {rows} rows and never analysed: the planner guesses")
                },
                action: format!("ANALYZE {table}"),
                object: table,
            });
        }
    }

    let sessions: Vec<SessionRow> = rows_as(&sessions).map_err(query("reading sessions"))?;
    for (pid, user, app, state, xact_age, query_text) in sessions {
        let waiting = state == "waiting";
        let who = [user, app]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        items.push(Item {
            check: if waiting {
                Check::BlockedSession
            } else {
                Check::IdleInTransaction
            },
            object: format!("pid {pid}"),
            detail: format!(
                "{who}, {}, transaction {}: {}",
                if waiting {
                    "waiting on a lock"
                } else {
                    "idle in transaction"
                },
                crate::monitor::format::human_age(xact_age),
                crate::format::one_line(query_text.as_deref().unwrap_or(""), 80)
            ),
            action: if waiting {
                "lockstep inspect locks shows whom it waits on".to_string()
            } else {
                format!(
                    "end that transaction in its application, or SELECT pg_terminate_backend({pid})"
                )
            },
        });
    }
    finish(conn).await;
    items.sort_by(|a, b| a.check.cmp(&b.check).then(a.object.cmp(&b.object)));
    Ok(Report {
        items,
        response_ms: response.as_secs_f64() * 1e3,
        response_before_ms: since.map(|b| b.response.as_secs_f64() * 1e3),
    })
}

/// The check's five reads (invalid indexes, unvalidated constraints, sequences, table
/// statistics, sessions) sent as one query string: one round trip, each read's rows apart. Their
/// parameters are numbers and a time lockstep formats itself, written in as literals.
async fn read_all(
    conn: &mut PgConnection,
    since: Option<&Baseline>,
    idle_after: Duration,
    audit_schema: &str,
) -> Result<[Vec<PgRow>; 5], sqlx::Error> {
    let since = since.map_or("NULL".to_string(), |b| {
        format!("'{}'", b.started.to_rfc3339())
    });
    let sql = [
        INVALID_INDEXES_SQL.to_string(),
        UNVALIDATED_SQL.to_string(),
        SEQUENCES_SQL.replace("{share}", &format!("{SEQUENCE_ALERT_SHARE:?}")),
        STATISTICS_SQL.replace("{audit}", &audit_schema.replace('\'', "''")),
        SESSIONS_SQL
            .replace("{idle}", &format!("{:?}", idle_after.as_secs_f64()))
            .replace("{since}", &since),
    ]
    .join(";\n");
    let mut sets: Vec<Vec<PgRow>> = vec![Vec::new()];
    let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&mut *conn);
    while let Some(item) = results.try_next().await? {
        match item {
            sqlx::Either::Left(_) => sets.push(Vec::new()),
            sqlx::Either::Right(row) => sets.last_mut().expect("one set at least").push(row),
        }
    }
    drop(results);
    sets.truncate(5);
    sets.try_into().map_err(|sets: Vec<Vec<PgRow>>| {
        sqlx::Error::Protocol(format!(
            "the check's reads gave {} results, not 5",
            sets.len()
        ))
    })
}

/// One read's rows as tuples.
fn rows_as<T: for<'r> sqlx::FromRow<'r, PgRow>>(rows: &[PgRow]) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(T::from_row).collect()
}

/// Ends the check's transaction and closes its connection.
async fn finish(mut conn: PgConnection) {
    let _ = sqlx::raw_sql("COMMIT").execute(&mut conn).await;
    let _ = conn.close().await;
}

/// The best of three `SELECT 1` round trips.
async fn response_time(conn: &mut PgConnection) -> Result<Duration, DbError> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        sqlx::raw_sql("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(query("timing SELECT 1"))?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

const TABLE_FILES_SQL: &str = "/* lockstep */ SELECT c.oid::regclass::text, c.relfilenode::int8 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%'";

const INVALID_INDEXES_SQL: &str = "/* lockstep */ SELECT i.indexrelid::regclass::text, \
            i.indrelid::regclass::text \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1";

/// Relation `$rel` has an ACCESS EXCLUSIVE lock held or queued: reading its definition would wait.
macro_rules! exclusively_locked {
    ($rel:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'relation' AND l.relation = ",
            $rel,
            " AND l.mode = 'AccessExclusiveLock' \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
        )
    };
}

const UNVALIDATED_SQL: &str = concat!(
    "/* lockstep */ SELECT con.conname::text, con.conrelid::regclass::text, \
            CASE WHEN ",
    exclusively_locked!("con.conrelid"),
    " THEN 'definition not read: the table is locked' \
            ELSE pg_get_constraintdef(con.oid) END \
     FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace \
     WHERE NOT con.convalidated AND con.contype IN ('c', 'f') AND con.conrelid <> 0 \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 2, 1"
);

const SEQUENCES_SQL: &str = concat!(
    "/* lockstep */ SELECT format('%I.%I', s.schemaname, s.sequencename), \
            s.data_type::text, s.last_value, s.max_value \
     FROM pg_sequences s \
     WHERE NOT ",
    exclusively_locked!("format('%I.%I', s.schemaname, s.sequencename)::regclass"),
    " AND s.last_value IS NOT NULL AND s.increment_by > 0 \
       AND s.last_value::float8 >= {share} * s.max_value::float8 ORDER BY 1"
);

const STATISTICS_SQL: &str = "/* lockstep */ SELECT s.relid::regclass::text, c.relfilenode::int8, \
            s.n_live_tup, greatest(s.last_analyze, s.last_autoanalyze) \
     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
     WHERE s.schemaname <> '{audit}' ORDER BY 1";

/// pid, user, application, state (`waiting` for a lock wait), transaction age, query.
type SessionRow = (
    i32,
    Option<String>,
    Option<String>,
    String,
    f64,
    Option<String>,
);

/// Sessions of this database waiting on a lock, or idle in a transaction for longer than `{idle}`
/// seconds (after a run: whose transaction began after `{since}`, the run's start, or that wait).
/// lockstep's own sessions are not counted idle for the first second: between two statements of
/// their short read-only transactions (the dashboard's status watcher, reading who applied each
/// version while this check runs) they are, for a moment, and nothing a migration left behind.
/// One that stays idle longer (another person's lockstep holding a transaction) is listed.
const SESSIONS_SQL: &str = "/* lockstep */ SELECT a.pid, a.usename::text, a.application_name, \
            CASE WHEN a.wait_event_type = 'Lock' THEN 'waiting' ELSE a.state END, \
            extract(epoch FROM clock_timestamp() - a.xact_start)::float8, \
            a.query \
     FROM pg_stat_activity a \
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
       AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL \
       AND (a.wait_event_type = 'Lock' \
            OR (a.state LIKE 'idle in transaction%' \
                AND NOT (a.application_name LIKE 'lockstep:%' \
                         AND clock_timestamp() - a.state_change < interval '1 second') \
                AND ({since}::timestamptz IS NOT NULL AND a.xact_start >= {since} \
                     OR clock_timestamp() - a.state_change >= make_interval(secs => {idle})))) \
     ORDER BY a.xact_start";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_each_kind_once_with_the_objects_named() {
        let report = Report {
            items: vec![
                Item {
                    check: Check::InvalidIndex,
                    object: "public.a_idx".into(),
                    detail: "INVALID".into(),
                    action: "DROP INDEX CONCURRENTLY public.a_idx".into(),
                },
                Item {
                    check: Check::InvalidIndex,
                    object: "public.b_idx".into(),
                    detail: "INVALID".into(),
                    action: "DROP INDEX CONCURRENTLY public.b_idx".into(),
                },
            ],
            response_ms: 0.4,
            response_before_ms: Some(0.3),
        };
        let text = report.render();
        assert_eq!(text.matches("invalid indexes:").count(), 1);
        assert!(text.contains("public.b_idx: INVALID"));
        assert!(text.contains("before the run: 0.3 ms"));
        assert!(report.needs_action());
    }
}
