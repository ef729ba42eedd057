//! Copying the configured database's schema (and history rows, and optionally sample rows) to the
//! scratch database, reading it only through read-only sessions.
//!
//! lockstep's session to the configured database starts with `default_transaction_read_only = on`
//! and opens one `REPEATABLE READ READ ONLY` transaction, checks that the server really made it
//! read-only, and exports its snapshot: `pg_dump --schema-only` (started with the same setting, on
//! that snapshot) reads the schema, and the history rows and sample rows are read in the same
//! transaction, so everything comes from one consistent moment. `pg_restore` writes the schema
//! into the scratch database without owners or privileges (the scratch server has none of the
//! configured database's roles).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::RehearseError;
use super::catalog::{self, Catalog, ObjectKind};
use super::libpq::ServiceFile;
use super::report::CopySummary;
use super::scratch::Scratch;
use crate::config::pg_duration;
use crate::db::{Database, DbError, scrub, server_version_num};
use crate::history::{self, AppliedRow, HistoryTable};
use crate::sandbox::PgBinaries;

/// The `application_name` of every session lockstep opens to the configured database.
pub const SOURCE_APPLICATION: &str = "lockstep:rehearse:read-only";

/// A read-only session on the configured database, inside one `REPEATABLE READ READ ONLY`
/// transaction whose snapshot `pg_dump` shares.
pub struct SourceSession {
    conn: PgConnection,
    snapshot: String,
    /// `server_version_num` of the configured server.
    pub version_num: u32,
    /// Its `server_version`.
    pub version: String,
    /// Whether the server reports the transaction read-only (always true: the session does not
    /// go on otherwise).
    pub read_only: bool,
}

/// Whether `catalog` holds nothing but what a new database has (the `public` schema, PL/pgSQL)
/// and the history table `table`: then there is no schema to dump.
fn holds_only_history(catalog: &Catalog, table: &HistoryTable) -> bool {
    let history = table.name().trim_start_matches("public.").replace('"', "");
    catalog.objects.keys().all(|key| match key.kind {
        ObjectKind::Schema => key.name == "public",
        ObjectKind::Extension => key.name == "plpgsql",
        _ => key.name == history || key.owner.as_deref() == Some(history.as_str()),
    })
}

impl SourceSession {
    /// Connects read-only (`default_transaction_read_only = on`, and `lock_timeout`), opens the
    /// transaction and exports its snapshot. Refuses to go on when the server does not report the
    /// transaction read-only (a pooler that drops startup options, for instance).
    pub async fn open(
        db: &Database,
        lock_timeout: Duration,
    ) -> Result<SourceSession, RehearseError> {
        let mut conn = connect_read_only(db, lock_timeout).await?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut conn)
            .await
            .map_err(query_error(
                "opening a read-only transaction on the configured database",
            ))?;
        let (read_only, default_read_only, version): (String, String, String) = sqlx::query_as(
            "SELECT current_setting('transaction_read_only'), \
             current_setting('default_transaction_read_only'), current_setting('server_version')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(query_error(
            "reading the session settings of the configured database",
        ))?;
        if read_only != "on" || default_read_only != "on" {
            let _ = conn.close().await;
            return Err(RehearseError::NotReadOnly(db.display_url()));
        }
        let version_num = server_version_num(&mut conn).await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut conn)
            .await
            .map_err(query_error(
                "exporting the snapshot of the configured database",
            ))?;
        Ok(SourceSession {
            conn,
            snapshot,
            version_num,
            version,
            read_only: true,
        })
    }

    /// Whether the database holds a schema worth dumping: anything but the history table and what
    /// every new database has (servers before 10 are always dumped).
    pub async fn has_schema(&mut self, table: &HistoryTable) -> Result<bool, RehearseError> {
        if self.version_num < 100_000 {
            return Ok(true);
        }
        let catalog = catalog::snapshot(&mut self.conn, self.version_num, false)
            .await
            .map_err(query_error(
                "reading the catalogue of the configured database",
            ))?;
        Ok(!holds_only_history(&catalog, table))
    }

    /// The history rows, `None` when the table does not exist.
    pub async fn history(
        &mut self,
        table: &HistoryTable,
    ) -> Result<Option<Vec<AppliedRow>>, RehearseError> {
        Ok(history::read(&mut self.conn, table).await?)
    }

    /// Ends the transaction and the session.
    pub async fn close(mut self) {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await;
        let _ = self.conn.close().await;
    }
}

/// Opens a session to the configured database that the server keeps read-only.
async fn connect_read_only(db: &Database, lock_timeout: Duration) -> Result<PgConnection, DbError> {
    let options = PgConnectOptions::from_str(db.url())
        .map_err(|e| DbError::BadUrl {
            url: db.display_url(),
            message: scrub(&e.to_string(), db.url()),
        })?
        .application_name(SOURCE_APPLICATION)
        .options([
            ("default_transaction_read_only", "on".to_string()),
            ("lock_timeout", pg_duration(lock_timeout)),
        ])
        .log_statements(log::LevelFilter::Off);
    match tokio::time::timeout(db.connect_timeout, PgConnection::connect_with(&options)).await {
        Ok(connected) => connected.map_err(|error| DbError::Connect {
            url: db.display_url(),
            error,
        }),
        Err(_) => Err(DbError::ConnectTimeout {
            url: db.display_url(),
            after: db.connect_timeout,
        }),
    }
}

/// What to copy.
pub struct CopyRequest<'a> {
    /// The configured database.
    pub db: &'a Database,
    /// The history table.
    pub table: &'a HistoryTable,
    /// Schemas to create before the history table (when the configured database has none).
    pub create_schemas: &'a [String],
    /// Rows to copy per table (0: none).
    pub sample_rows: u64,
    /// How long `pg_dump` may wait for a table's lock.
    pub lock_timeout: Duration,
}

/// The configured database's schema, dumped by `pg_dump` on the session's snapshot.
pub struct Dump {
    dir: tempfile::TempDir,
    path: PathBuf,
    started: Instant,
}

/// Dumps the schema with the `pg_dump` of `tools` (in a private temporary directory), on the
/// snapshot of `source`, through a read-only session of its own.
pub async fn dump(
    source: &SourceSession,
    request: &CopyRequest<'_>,
    tools: &PgBinaries,
) -> Result<Dump, RehearseError> {
    let started = Instant::now();
    check_pg_dump(tools, source).await?;
    let dir = tempfile::Builder::new()
        .prefix("lockstep-rehearse-")
        .tempdir()
        .map_err(|e| RehearseError::Io("creating a directory for the schema dump".into(), e))?;
    let path = dir.path().join("schema.dump");
    // pg_dump is killed when the rehearsal is cancelled; a server backend waiting for a lock
    // would not notice until the wait ends, so from PostgreSQL 14 on it checks every second.
    let mut settings = vec![("default_transaction_read_only", "on")];
    if source.version_num >= 140_000 {
        settings.push(("client_connection_check_interval", "1s"));
    }
    let from = ServiceFile::write(
        dir.path(),
        "source",
        request.db.url(),
        &settings,
        SOURCE_APPLICATION,
    )?;
    let mut dump_cmd = tokio::process::Command::new(tools.pg_dump());
    dump_cmd
        .args(["--schema-only", "--format=custom", "--no-sync"])
        .arg(format!("--snapshot={}", source.snapshot))
        .arg(format!(
            "--lock-wait-timeout={}",
            pg_duration(request.lock_timeout)
        ))
        .arg("--file")
        .arg(&path);
    from.apply(&mut dump_cmd);
    let output = run(dump_cmd, &tools.pg_dump()).await?;
    if !output.status.success() {
        return Err(RehearseError::Dump(scrub(
            String::from_utf8_lossy(&output.stderr).trim(),
            request.db.url(),
        )));
    }
    Ok(Dump { dir, path, started })
}

/// Restores `dump` into `scratch`, then copies the history rows and (with `sample_rows`) sample
/// rows from `source`.
/// With no dump (nothing but the history table to copy), only the history rows are copied.
pub async fn copy(
    source: &mut SourceSession,
    request: &CopyRequest<'_>,
    dump: Option<Dump>,
    scratch: &Scratch,
) -> Result<CopySummary, RehearseError> {
    let started = dump.as_ref().map_or_else(Instant::now, |d| d.started);
    let restored = dump.is_some();
    let mut warnings = match dump {
        Some(dump) => restore(&dump, scratch).await?,
        None => Vec::new(),
    };
    let mut target = scratch.connect("lockstep:rehearse:copy").await?;
    let history_rows = copy_history(source, &mut target, request).await?;
    let sample_rows = if request.sample_rows > 0 {
        copy_samples(source, &mut target, request, &mut warnings).await?
    } else {
        0
    };
    if restored {
        populate_materialized_views(source, &mut target, &mut warnings).await?;
    }
    let _ = target.close().await;
    Ok(CopySummary {
        database: request.db.display_url(),
        server_version: source.version.clone(),
        read_only: source.read_only,
        tables: 0,
        history_rows,
        sample_rows,
        warnings,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// `pg_restore` of `dump` into `scratch`; what it could not restore.
async fn restore(dump: &Dump, scratch: &Scratch) -> Result<Vec<String>, RehearseError> {
    let tools = &scratch.binaries;
    let to = ServiceFile::write(
        dump.dir.path(),
        "scratch",
        scratch.url(),
        &[("synchronous_commit", "off")],
        "lockstep:rehearse",
    )?;
    let mut restore_cmd = tokio::process::Command::new(tools.pg_restore());
    restore_cmd
        .args([
            "--no-owner",
            "--no-privileges",
            "--no-publications",
            "--no-subscriptions",
            "--no-security-labels",
            "--no-tablespaces",
        ])
        .arg(&dump.path);
    to.apply(&mut restore_cmd);
    let output = run(restore_cmd, &tools.pg_restore()).await?;
    let stderr = scrub(&String::from_utf8_lossy(&output.stderr), scratch.url());
    let mut warnings = restore_errors(&stderr);
    if !output.status.success() && warnings.is_empty() {
        warnings.push(format!(
            "pg_restore failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    Ok(warnings)
}

/// `pg_dump` refuses a server newer than itself: say what to install instead.
async fn check_pg_dump(tools: &PgBinaries, source: &SourceSession) -> Result<(), RehearseError> {
    let probe = tools.clone();
    let major = tokio::task::spawn_blocking(move || probe.major())
        .await
        .ok()
        .flatten();
    let server = crate::analysis::model::version_from_server_num(source.version_num);
    match major {
        Some(major)
            if crate::analysis::model::version_key(major)
                < crate::analysis::model::version_key(server) =>
        {
            Err(RehearseError::Dump(format!(
                "the newest local pg_dump ({}) is older than the configured server ({}); install \
                 the PostgreSQL {} client and server binaries (Debian/Ubuntu: `apt-get install \
                 postgresql-{}`) or point LOCKSTEP_PG_BIN at them",
                tools.bin_dir.display(),
                source.version,
                server,
                server
            )))
        }
        _ => Ok(()),
    }
}

async fn run(
    mut command: tokio::process::Command,
    program: &Path,
) -> Result<std::process::Output, RehearseError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
        .output()
        .await
        .map_err(|e| RehearseError::Io(format!("running {}", program.display()), e))
}

/// The errors `pg_restore` printed, each with the object it was restoring.
fn restore_errors(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut entry: Option<&str> = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("pg_restore: from TOC entry ") {
            entry = Some(rest.trim());
        } else if let Some(error) = line.strip_prefix("pg_restore: error: ") {
            out.push(match entry.take() {
                Some(entry) => format!("{error} (restoring {entry})"),
                None => error.to_string(),
            });
        }
    }
    out
}

/// Copies every history row (all of them: they decide what is pending).
async fn copy_history(
    source: &mut SourceSession,
    target: &mut PgConnection,
    request: &CopyRequest<'_>,
) -> Result<u64, RehearseError> {
    history::ensure(target, request.table, request.create_schemas).await?;
    if !history::exists(&mut source.conn, request.table).await? {
        return Ok(0);
    }
    let columns = "version, description, installed_on, success, checksum, execution_time";
    let table = request.table.name();
    pipe(
        &mut source.conn,
        target,
        &format!("COPY (SELECT {columns} FROM {table}) TO STDOUT"),
        &format!("COPY {table} ({columns}) FROM STDIN"),
    )
    .await
    .map_err(|error| {
        RehearseError::Db(DbError::Query {
            context: format!("copying the history rows of {table}"),
            error,
        })
    })
}

/// Copies up to `sample_rows` rows of every table (triggers and foreign keys are not enforced
/// while loading: the sample of a referencing table need not find its referenced rows), then the
/// sequences' positions.
async fn copy_samples(
    source: &mut SourceSession,
    target: &mut PgConnection,
    request: &CopyRequest<'_>,
    warnings: &mut Vec<String>,
) -> Result<u64, RehearseError> {
    let generated = if source.version_num >= 120_000 {
        "AND a.attgenerated = ''"
    } else {
        ""
    };
    let tables: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT format('%I.%I', n.nspname, c.relname), \
                string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped {generated} \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                           AND d.objid = c.oid AND d.deptype = 'e') \
           AND c.oid IS DISTINCT FROM to_regclass($1) \
         GROUP BY n.nspname, c.relname ORDER BY 1"
    )))
    .bind(request.table.name())
    .fetch_all(&mut source.conn)
    .await
    .map_err(query_error("listing the tables of the configured database"))?;
    if sqlx::raw_sql("SET session_replication_role = replica")
        .execute(&mut *target)
        .await
        .is_err()
    {
        warnings.push(
            "the scratch session may not set session_replication_role (not a superuser): \
             triggers and foreign keys are enforced while loading sample rows"
                .into(),
        );
    }
    let mut rows = 0;
    for (table, columns) in &tables {
        let copied = pipe(
            &mut source.conn,
            target,
            &format!(
                "COPY (SELECT {columns} FROM ONLY {table} LIMIT {}) TO STDOUT",
                request.sample_rows
            ),
            &format!("COPY {table} ({columns}) FROM STDIN"),
        )
        .await;
        match copied {
            Ok(n) => rows += n,
            Err(error) => warnings.push(format!(
                "sample rows of {table} not copied: {}",
                crate::db::describe(&error)
            )),
        }
    }
    let _ = sqlx::raw_sql("RESET session_replication_role")
        .execute(&mut *target)
        .await;
    if source.version_num < 100_000 {
        return Ok(rows);
    }
    let sequences: Vec<(String, i64)> = sqlx::query_as(
        "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences \
         WHERE last_value IS NOT NULL",
    )
    .fetch_all(&mut source.conn)
    .await
    .map_err(query_error(
        "reading the sequences of the configured database",
    ))?;
    let (names, values): (Vec<String>, Vec<i64>) = sequences.into_iter().unzip();
    if let Err(error) = sqlx::query(
        "SELECT setval(to_regclass(s), v) FROM unnest($1::text[], $2::int8[]) AS t(s, v) \
         WHERE to_regclass(s) IS NOT NULL",
    )
    .bind(&names)
    .bind(&values)
    .execute(&mut *target)
    .await
    {
        warnings.push(format!(
            "sequence positions not copied: {}",
            crate::db::describe(&error)
        ));
    }
    Ok(rows)
}

/// The error of a query that failed while doing `context`.
fn query_error(context: &'static str) -> impl FnOnce(sqlx::Error) -> RehearseError {
    move |error| {
        RehearseError::Db(DbError::Query {
            context: context.into(),
            error,
        })
    }
}

/// Refreshes in the scratch database each materialized view the configured database holds
/// populated: a schema-only dump creates them `WITH NO DATA`, and on an unpopulated one a
/// migration's `REFRESH … CONCURRENTLY`, or a query reading it, fails where it would not for
/// real. A view that reads another is refreshed after it (rounds until no more succeed).
async fn populate_materialized_views(
    source: &mut SourceSession,
    target: &mut PgConnection,
    warnings: &mut Vec<String>,
) -> Result<(), RehearseError> {
    let mut pending: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'm' AND c.relispopulated \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                           AND d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY c.oid",
    )
    .fetch_all(&mut source.conn)
    .await
    .map_err(query_error(
        "listing the populated materialized views of the configured database",
    ))?;
    while !pending.is_empty() {
        let mut failed = Vec::new();
        for view in &pending {
            let refresh = format!("REFRESH MATERIALIZED VIEW {view}");
            if let Err(error) = sqlx::raw_sql(AssertSqlSafe(refresh))
                .execute(&mut *target)
                .await
            {
                failed.push((view.clone(), error));
            }
        }
        if failed.len() == pending.len() {
            for (view, error) in failed {
                warnings.push(format!(
                    "materialized view {view} left unpopulated: {}",
                    crate::db::describe(&error)
                ));
            }
            break;
        }
        pending = failed.into_iter().map(|(view, _)| view).collect();
    }
    Ok(())
}

/// Streams `COPY … TO STDOUT` on `from` into `COPY … FROM STDIN` on `to`; the rows loaded.
async fn pipe(
    from: &mut PgConnection,
    to: &mut PgConnection,
    out_sql: &str,
    in_sql: &str,
) -> Result<u64, sqlx::Error> {
    let mut sink = to.copy_in_raw(in_sql).await?;
    let mut stream = match from.copy_out_raw(out_sql).await {
        Ok(stream) => stream,
        Err(error) => {
            let _ = sink.abort("reading the source failed").await;
            return Err(error);
        }
    };
    while let Some(chunk) = stream.next().await {
        let sent = match chunk {
            Ok(bytes) => sink.send(bytes).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            // Drain the source so its connection stays usable.
            while stream.next().await.is_some() {}
            let _ = sink.abort("copying failed").await;
            return Err(error);
        }
    }
    sink.finish().await
}
