//! Handing a database URL to `pg_dump` and `pg_restore` without a password on their command line:
//! a libpq connection service file (`PGSERVICEFILE`), readable only by lockstep's account, in a
//! private temporary directory deleted after use.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tokio::process::Command;

use crate::db::redact;

/// The service name the file defines.
const SERVICE: &str = "lockstep";

/// URL query parameters libpq takes under the same name (sqlx-only ones are left out).
const LIBPQ_PARAMETERS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "options",
    "connect_timeout",
    "target_session_attrs",
];

/// A connection service file for one URL.
#[derive(Debug)]
pub struct ServiceFile {
    path: PathBuf,
}

/// Why a URL cannot be written as libpq parameters.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The URL does not parse, or holds a line break.
    #[error("the database URL {0} cannot be handed to pg_dump/pg_restore: {1}")]
    BadUrl(String, String),
    /// The file could not be written.
    #[error("writing a connection file for pg_dump/pg_restore: {0}")]
    Io(#[from] std::io::Error),
}

impl ServiceFile {
    /// Writes `dir/<name>.conf` with the URL's parameters, plus `-c setting=value` for each of
    /// `settings` (added to the URL's own `options`) and `application_name`.
    pub fn write(
        dir: &Path,
        name: &str,
        url: &str,
        settings: &[(&str, &str)],
        application_name: &str,
    ) -> Result<ServiceFile, ServiceError> {
        let bad = |why: &str| ServiceError::BadUrl(redact(url), why.to_string());
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let decode = |text: &str| {
            percent_decode(text).ok_or_else(|| bad("a percent-encoded part is not UTF-8"))
        };
        let mut params: Vec<(String, String)> = Vec::new();
        if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
            let host = decode(host)?;
            // IPv6 literals come bracketed from the URL; libpq wants them bare.
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            params.push(("host".into(), host));
        }
        if let Some(port) = parsed.port() {
            params.push(("port".into(), port.to_string()));
        }
        if !parsed.username().is_empty() {
            params.push(("user".into(), decode(parsed.username())?));
        }
        if let Some(password) = parsed.password() {
            params.push(("password".into(), decode(password)?));
        }
        let database = parsed.path().trim_start_matches('/');
        if !database.is_empty() {
            params.push(("dbname".into(), decode(database)?));
        }
        let mut options = String::new();
        for (key, value) in parsed.query_pairs() {
            if key == "options" {
                options = value.into_owned();
            } else if LIBPQ_PARAMETERS.contains(&key.as_ref()) {
                params.retain(|(k, _)| k != key.as_ref());
                params.push((key.into_owned(), value.into_owned()));
            }
        }
        for (setting, value) in settings {
            if !options.is_empty() {
                options.push(' ');
            }
            options.push_str(&format!("-c {setting}={value}"));
        }
        if !options.is_empty() {
            params.push(("options".into(), options));
        }
        params.push(("application_name".into(), application_name.into()));
        let mut text = format!("[{SERVICE}]\n");
        for (key, value) in &params {
            if value.contains(['\n', '\r']) {
                return Err(bad(&format!("its {key} holds a line break")));
            }
            text.push_str(&format!("{key}={value}\n"));
        }
        let path = dir.join(format!("{name}.conf"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        Ok(ServiceFile { path })
    }

    /// Points `command` (`pg_dump` or `pg_restore`) at this service, and only at it: the service
    /// file wins over the `PG*` variables of lockstep's environment.
    pub fn apply(&self, command: &mut Command) {
        command
            .arg(format!("--dbname=service={SERVICE}"))
            .env("PGSERVICEFILE", &self.path)
            .env("PGSERVICE", SERVICE)
            .env_remove("PGDATABASE")
            .env_remove("PGOPTIONS");
    }
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_becomes_a_private_service_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = ServiceFile::write(
            dir.path(),
            "source",
            "postgres://app:p%40ss%3Aw@db.example.com:6543/prod?sslmode=require&statement-cache-capacity=5",
            &[("default_transaction_read_only", "on")],
            "lockstep:rehearse",
        )
        .unwrap();
        let text = fs::read_to_string(&file.path).unwrap();
        assert_eq!(
            text,
            "[lockstep]\nhost=db.example.com\nport=6543\nuser=app\npassword=p@ss:w\ndbname=prod\n\
             sslmode=require\noptions=-c default_transaction_read_only=on\n\
             application_name=lockstep:rehearse\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = ServiceFile::write(dir.path(), "bad", "postgres://app:s3%0Acr3t@h/db", &[], "x")
            .unwrap_err();
        assert!(!err.to_string().contains("cr3t"), "{err}");
        assert!(
            err.to_string().contains("password holds a line break"),
            "{err}"
        );
    }
}
