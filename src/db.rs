//! Which database lockstep talks to, and connecting to it.
//!
//! The URL comes from `--database-url`, then `DATABASE_URL`, then a `.env` file, then
//! `lockstep.toml`; with none, lockstep starts its own throwaway PostgreSQL ([`crate::sandbox`]).
//! A URL is never shown with its password: use [`redact`].

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::pooler::Pooling;
use crate::sandbox::{Sandbox, SandboxError};

/// Where the database URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    /// `--database-url`.
    Flag,
    /// The `DATABASE_URL` environment variable.
    Environment,
    /// `DATABASE_URL` in a `.env` file.
    DotEnv,
    /// `database-url` in `lockstep.toml`.
    ConfigFile,
    /// lockstep's own throwaway server.
    Sandbox,
}

/// The database in use, and the sandbox server behind it when there is one.
pub struct Database {
    url: String,
    /// Where the URL came from.
    pub source: UrlSource,
    /// The throwaway server, stopped and deleted when this is dropped.
    pub sandbox: Option<Sandbox>,
    /// How long a connection attempt may take before it fails.
    pub connect_timeout: Duration,
    /// What sits between lockstep and the server, once checked ([`Database::pooling`]); shared
    /// with the [`Database::detached`] copies.
    pooling: Arc<tokio::sync::OnceCell<Pooling>>,
}

/// How long connecting may take unless configured otherwise (`--connect-timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// A database at a known URL.
    pub fn at(url: impl Into<String>, source: UrlSource) -> Database {
        Database {
            url: url.into(),
            source,
            sandbox: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pooling: Arc::default(),
        }
    }

    /// The same database with another connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Database {
        self.connect_timeout = timeout;
        self
    }

    /// The same database without owning its sandbox: for tasks that open connections of their
    /// own (cancelling, watching a run) while the original keeps the server alive.
    pub fn detached(&self) -> Database {
        Database {
            url: self.url.clone(),
            source: self.source,
            sandbox: None,
            connect_timeout: self.connect_timeout,
            pooling: self.pooling.clone(),
        }
    }

    /// The URL, with its password. Never print it: use [`Database::display_url`].
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with the password redacted, for every output and error.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// Whether this is lockstep's own throwaway server.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Opens one connection with the given `application_name`.
    pub async fn connect(&self, application_name: &str) -> Result<PgConnection, DbError> {
        connect_within(&self.url, application_name, self.connect_timeout).await
    }

    /// Opens one connection to another database of the same server (or pooler), with the same
    /// credentials, giving up after `timeout`.
    pub async fn connect_to(
        &self,
        database: &str,
        application_name: &str,
        timeout: Duration,
    ) -> Result<PgConnection, DbError> {
        let options = connect_options(&self.url, application_name)?.database(database);
        connect_with(&options, &self.url, timeout).await
    }

    /// The port the URL names (PostgreSQL's default 5432 when it names none), if it parses.
    pub fn url_port(&self) -> Option<u16> {
        PgConnectOptions::from_str(&self.url)
            .ok()
            .map(|o| o.get_port())
    }

    /// The host the URL names, when it is an IP address (`localhost` counts as 127.0.0.1);
    /// `None` for a host name or a Unix socket.
    pub fn url_ip(&self) -> Option<std::net::IpAddr> {
        let options = PgConnectOptions::from_str(&self.url).ok()?;
        if options.get_socket().is_some() {
            return None;
        }
        match options.get_host() {
            "localhost" => Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            host => host.trim_matches(['[', ']']).parse().ok(),
        }
    }

    /// The database and user the URL names (the database defaults to the user, as libpq does).
    pub fn names(&self) -> (String, String) {
        match PgConnectOptions::from_str(&self.url) {
            Ok(options) => {
                let user = options.get_username().to_string();
                let database = options.get_database().unwrap_or(&user).to_string();
                (database, user)
            }
            Err(_) => (String::new(), String::new()),
        }
    }

    /// What sits between lockstep and the server (a pooler, how it pools), checked on `conn` the
    /// first time ([`crate::pooler::detect`]) and remembered for this database and its detached
    /// copies.
    pub async fn pooling(&self, conn: &mut PgConnection) -> Result<Pooling, DbError> {
        self.pooling
            .get_or_try_init(|| crate::pooler::detect(self, conn))
            .await
            .cloned()
    }

    /// [`Database::pooling`] when it has been checked already.
    pub fn known_pooling(&self) -> Option<&Pooling> {
        self.pooling.get()
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.display_url())
            .field("source", &self.source)
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

/// Why lockstep could not reach a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error("the database URL {url} is not valid: {message}")]
    BadUrl {
        /// The redacted URL.
        url: String,
        /// Why.
        message: String,
    },
    /// Connecting failed.
    #[error("cannot connect to {url}: {}", describe(error))]
    Connect {
        /// The redacted URL.
        url: String,
        /// The driver's error (described in the message, not chained: its Display adds a line
        /// of PostgreSQL's C source).
        error: sqlx::Error,
    },
    /// The server accepted the connection but did not answer in time.
    #[error(
        "cannot connect to {url}: no answer within {}s; check the host and port (a pooler or \
         proxy that accepts but never answers?), or raise --connect-timeout",
        after.as_secs_f64()
    )]
    ConnectTimeout {
        /// The redacted URL.
        url: String,
        /// How long lockstep waited.
        after: Duration,
    },
    /// The sandbox did not start.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A query failed.
    #[error("{context}: {}", describe(error))]
    Query {
        /// What was being done.
        context: String,
        /// The driver's error.
        error: sqlx::Error,
    },
}

/// A driver error for a person: the server's message and SQLSTATE, without sqlx's
/// "at line N" suffix (a line of PostgreSQL's C source, which users read as a line of their file).
pub fn describe(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_string(),
        },
        None => error.to_string(),
    }
}

/// Connects to `url` with the given `application_name`, giving up after
/// [`DEFAULT_CONNECT_TIMEOUT`].
pub async fn connect(url: &str, application_name: &str) -> Result<PgConnection, DbError> {
    connect_within(url, application_name, DEFAULT_CONNECT_TIMEOUT).await
}

/// Connects to `url` with the given `application_name`, giving up after `timeout`.
pub async fn connect_within(
    url: &str,
    application_name: &str,
    timeout: Duration,
) -> Result<PgConnection, DbError> {
    let options = connect_options(url, application_name)?;
    connect_with(&options, url, timeout).await
}

/// lockstep's options for every connection: no `extra_float_digits` in the startup packet
/// (PgBouncer refuses startup parameters it does not know unless told to ignore them; lockstep
/// reads floats in binary), statements never logged.
fn connect_options(url: &str, application_name: &str) -> Result<PgConnectOptions, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl {
        url: redact(url),
        message: scrub(&e.to_string(), url),
    })?;
    Ok(options
        .application_name(application_name)
        .extra_float_digits(None)
        .log_statements(log::LevelFilter::Off))
}

async fn connect_with(
    options: &PgConnectOptions,
    url: &str,
    timeout: Duration,
) -> Result<PgConnection, DbError> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(connected) => connected.map_err(|error| DbError::Connect {
            url: redact(url),
            error,
        }),
        Err(_) => Err(DbError::ConnectTimeout {
            url: redact(url),
            after: timeout,
        }),
    }
}

/// `server_version_num` of the server behind `conn` (`150004` for 15.4, `90624` for 9.6.24).
pub async fn server_version_num(conn: &mut PgConnection) -> Result<u32, DbError> {
    let text: String = sqlx::raw_sql("SELECT current_setting('server_version_num')")
        .fetch_one(conn)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, 0))
        .map_err(|error| DbError::Query {
            context: "reading server_version_num".into(),
            error,
        })?;
    Ok(text.trim().parse().unwrap_or(0))
}

/// Finds the database URL (flag, environment, `.env` in `dir`, config file), or `None`.
pub fn configured_url(
    flag: Option<&str>,
    dir: &Path,
    config_url: Option<&str>,
) -> Option<(String, UrlSource)> {
    if let Some(url) = flag.filter(|u| !u.is_empty()) {
        return Some((url.to_string(), UrlSource::Flag));
    }
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Some((url, UrlSource::Environment));
    }
    if let Ok(iter) = dotenvy::from_path_iter(dir.join(".env")) {
        for (key, value) in iter.flatten() {
            if key == "DATABASE_URL" && !value.is_empty() {
                return Some((value, UrlSource::DotEnv));
            }
        }
    }
    config_url.map(|u| (u.to_string(), UrlSource::ConfigFile))
}

/// Starts a sandbox and creates `database` in it. Blocking: call it off any UI thread.
pub async fn start_sandbox(database: &str) -> Result<Database, DbError> {
    let sandbox = tokio::task::spawn_blocking(Sandbox::start)
        .await
        .map_err(|e| SandboxError::Io {
            context: "starting the sandbox".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
    create_database(&sandbox.url(), database).await?;
    let url = sandbox.url_for(database);
    Ok(Database {
        url,
        source: UrlSource::Sandbox,
        sandbox: Some(sandbox),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        pooling: Arc::default(),
    })
}

/// Creates a database (from `template0`) through the server at `admin_url`.
pub async fn create_database(admin_url: &str, name: &str) -> Result<(), DbError> {
    let mut conn = connect(admin_url, "lockstep:admin").await?;
    let sql = format!(
        "CREATE DATABASE \"{}\" TEMPLATE template0",
        name.replace('"', "\"\"")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .map_err(|error| DbError::Query {
            context: format!("creating database {name}"),
            error,
        })?;
    let _ = conn.close().await;
    Ok(())
}

/// The URL with any password replaced by `***` (also in `password=` query parameters).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if pairs
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"))
            {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL we can parse: show only its scheme rather than risk printing a secret.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://<unparsable URL hidden>"),
            None => "<unparsable URL hidden>".into(),
        },
    }
}

/// Removes the password of `url` from a message (driver errors may quote the URL).
pub fn scrub(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        Some(password) if !password.is_empty() => message.replace(&password, "***"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_everywhere() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example.com:5432/prod"),
            "postgres://app:***@db.example.com:5432/prod"
        );
        let q = redact("postgres://db/prod?user=app&password=s3cret&sslmode=require");
        assert!(
            !q.contains("s3cret") && q.contains("sslmode=require"),
            "{q}"
        );
        assert_eq!(
            redact("postgres://app@localhost/dev"),
            "postgres://app@localhost/dev"
        );
        assert_eq!(
            redact("postgres://a:b@[bad"),
            "postgres://<unparsable URL hidden>"
        );
        assert_eq!(redact("not a url s3cret"), "<unparsable URL hidden>");
        assert_eq!(
            scrub(
                "failed for postgres://app:s3cret@h/db",
                "postgres://app:s3cret@h/db"
            ),
            "failed for postgres://app:***@h/db"
        );
    }

    #[test]
    fn the_flag_wins_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let got = configured_url(
            Some("postgres://flag/db"),
            dir.path(),
            Some("postgres://cfg/db"),
        );
        assert_eq!(got, Some(("postgres://flag/db".into(), UrlSource::Flag)));
    }
}
