//! The scratch database the migrations are rehearsed on: on lockstep's own throwaway PostgreSQL
//! (of the configured server's major version when the machine has its binaries), or on a server
//! given with `--scratch-server` where lockstep may create and drop a database.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::RehearseError;
use crate::db::{self, DbError, create_database, redact, server_version_num};
use crate::sandbox::{PgBinaries, Sandbox, SandboxError};

/// The scratch database on a sandbox.
const SANDBOX_DATABASE: &str = "postgres";

enum Server {
    Sandbox(Sandbox),
    External { admin_url: String },
}

/// A scratch database, removed by [`Scratch::remove`].
pub struct Scratch {
    server: Server,
    database: String,
    url: String,
    /// The server's `server_version_num`.
    pub version_num: u32,
    /// Its `server_version`.
    pub version: String,
    /// The binaries whose `pg_restore` (and `pg_dump`) are used with it.
    pub binaries: PgBinaries,
}

impl Scratch {
    /// Starts a sandbox of `binaries` and creates the scratch database in it.
    pub async fn sandbox(binaries: PgBinaries) -> Result<Scratch, RehearseError> {
        let start = binaries.clone();
        let sandbox = tokio::task::spawn_blocking(move || Sandbox::start_with(start))
            .await
            .map_err(|e| SandboxError::Io {
                context: "starting the sandbox".into(),
                source: std::io::Error::other(e.to_string()),
            })
            .and_then(|started| started)
            .map_err(DbError::from)?;
        // The server is new and ours alone: its `postgres` database is as empty as a new one.
        let url = sandbox.url_for(SANDBOX_DATABASE);
        Scratch::finish(
            Server::Sandbox(sandbox),
            SANDBOX_DATABASE.to_string(),
            url,
            binaries,
        )
        .await
    }

    /// Creates a scratch database on the server at `admin_url` (a URL of any of its databases);
    /// `pg_restore` comes from `binaries`.
    pub async fn external(admin_url: &str, binaries: PgBinaries) -> Result<Scratch, RehearseError> {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).map_err(|e| SandboxError::Io {
            context: "naming the scratch database".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let database = format!("lockstep_rehearsal_{}", hex::encode(random));
        let url = with_database(admin_url, &database)?;
        create_database(admin_url, &database).await?;
        let server = Server::External {
            admin_url: admin_url.to_string(),
        };
        Scratch::finish(server, database, url, binaries).await
    }

    async fn finish(
        server: Server,
        database: String,
        url: String,
        binaries: PgBinaries,
    ) -> Result<Scratch, RehearseError> {
        let mut scratch = Scratch {
            server,
            database,
            url,
            version_num: 0,
            version: String::new(),
            binaries,
        };
        let read = async {
            let mut conn = scratch.connect("lockstep:rehearse").await?;
            let num = server_version_num(&mut conn).await?;
            let version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
                .fetch_one(&mut conn)
                .await
                .map_err(|error| DbError::Query {
                    context: "reading the scratch server's version".into(),
                    error,
                })?;
            let _ = conn.close().await;
            Ok::<_, DbError>((num, version))
        };
        match read.await {
            Ok((num, version)) if num >= 100_000 => {
                scratch.version_num = num;
                scratch.version = version;
                Ok(scratch)
            }
            Ok((_, version)) => {
                scratch.remove().await;
                Err(RehearseError::OldScratchServer(version))
            }
            Err(error) => {
                scratch.remove().await;
                Err(error.into())
            }
        }
    }

    /// The scratch database's URL, with its password: never print it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server, for people: `lockstep's throwaway PostgreSQL` or the redacted URL.
    pub fn describe(&self) -> String {
        match &self.server {
            Server::Sandbox(_) => "lockstep's throwaway PostgreSQL".into(),
            Server::External { admin_url } => redact(admin_url),
        }
    }

    /// Opens a connection to the scratch database.
    pub async fn connect(&self, application_name: &str) -> Result<PgConnection, DbError> {
        db::connect(&self.url, application_name).await
    }

    /// Drops the scratch database (ending its sessions) or stops and deletes the sandbox.
    pub async fn remove(self) {
        match self.server {
            Server::Sandbox(sandbox) => {
                let _ = tokio::task::spawn_blocking(move || drop(sandbox)).await;
            }
            Server::External { admin_url } => {
                Scratch::drop_external(&admin_url, &self.database).await;
            }
        }
    }

    async fn drop_external(admin_url: &str, database: &str) {
        let Ok(mut conn) = db::connect(admin_url, "lockstep:rehearse").await else {
            return;
        };
        let name = database.replace('"', "\"\"");
        let force = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if sqlx::raw_sql(sqlx::AssertSqlSafe(force))
            .execute(&mut conn)
            .await
            .is_err()
        {
            // Before PostgreSQL 13: no FORCE; end the sessions first.
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(database)
            .execute(&mut conn)
            .await;
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\""
            )))
            .execute(&mut conn)
            .await;
        }
        let _ = conn.close().await;
    }
}

/// The binaries of `major` when the machine has them, else its newest (off the async threads:
/// it runs `postgres --version`).
pub async fn locate(major: Option<u32>) -> Result<PgBinaries, RehearseError> {
    tokio::task::spawn_blocking(move || match major {
        Some(major) => PgBinaries::locate_major(major),
        None => PgBinaries::locate().map(|b| (b, true)),
    })
    .await
    .map_err(|e| SandboxError::Io {
        context: "looking for the PostgreSQL binaries".into(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map(|(binaries, _)| binaries)
    .map_err(|e| RehearseError::Db(DbError::from(e)))
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> Result<String, RehearseError> {
    let mut parsed = url::Url::parse(url).map_err(|e| DbError::BadUrl {
        url: redact(url),
        message: e.to_string(),
    })?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}
