//! PgBouncer in front of the test server, for tests of lockstep behind a connection pooler.
//!
//! Each [`PgBouncer`] is a process of its own (from the system package: `apt-get install
//! pgbouncer`) on a free 127.0.0.1 port, configured from a private temporary directory, running
//! as the account the sandbox server runs as (PgBouncer refuses to run as root), and stopped when
//! dropped. Its `[databases]` entry is the wildcard `*`, so every database of the test server
//! (each test's [`super::fresh_database`]) is reachable through it under the same name.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::db::{Database, UrlSource};
use crate::sandbox::free_port;
use crate::sandbox::process::{RunAs, die_with_parent, spawn_from_keeper};

/// How the pooler is set up.
#[derive(Debug, Clone)]
pub struct PgBouncerConfig {
    /// `pool_mode`: `session`, `transaction` or `statement`.
    pub pool_mode: &'static str,
    /// `default_pool_size`: server connections per database and user.
    pub pool_size: u32,
    /// Whether the test server's user may read the admin console (`stats_users`), so lockstep
    /// can ask it for the pool mode.
    pub console: bool,
}

impl PgBouncerConfig {
    /// `pool_mode` with 4 server connections per pool and no console access.
    pub fn mode(pool_mode: &'static str) -> PgBouncerConfig {
        PgBouncerConfig {
            pool_mode,
            pool_size: 4,
            console: false,
        }
    }
}

/// A running PgBouncer in front of the test server. Stopped when dropped.
pub struct PgBouncer {
    dir: TempDir,
    port: u16,
    child: Child,
    /// The test server's URL (with its password).
    server: url::Url,
}

impl PgBouncer {
    /// Starts PgBouncer with `config` in front of [`super::server_url`].
    ///
    /// # Panics
    /// When PgBouncer is not installed (with what to install) or does not start (with its log).
    pub fn start(config: PgBouncerConfig) -> PgBouncer {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "these tests need PgBouncer, which is not installed (looked for pgbouncer on \
                 PATH, /usr/sbin and /usr/bin). Install it: `apt-get install pgbouncer` \
                 (Debian/Ubuntu), `dnf install pgbouncer`, `brew install pgbouncer`."
            )
        });
        let server = url::Url::parse(&super::server_url()).expect("the test server URL parses");
        let run_as = RunAs::for_current_user().expect("an unprivileged user to run PgBouncer as");
        let dir = tempfile::Builder::new()
            .prefix("lockstep-pgbouncer-")
            .tempdir()
            .expect("creating PgBouncer's directory");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
            .expect("making PgBouncer's directory private");
        run_as
            .give(dir.path())
            .expect("handing PgBouncer's directory to its user");
        let port = free_port().expect("a free port for PgBouncer");
        let user = server.username().to_string();
        let password = server.password().unwrap_or_default().to_string();
        let ini = dir.path().join("pgbouncer.ini");
        let auth_file = dir.path().join("userlist.txt");
        let log = dir.path().join("pgbouncer.log");
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        write_private(
            &run_as,
            &auth_file,
            &format!("{} {}\n", quoted(&user), quoted(&password)),
        );
        write_private(
            &run_as,
            &ini,
            &format!(
                "[databases]\n\
                 * = host={host} port={server_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = {auth_type}\n\
                 auth_file = {auth_file}\n\
                 pool_mode = {mode}\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 200\n\
                 {console}\
                 logfile = {log}\n\
                 pidfile =\n\
                 server_login_retry = 1\n",
                host = server.host_str().unwrap_or("127.0.0.1"),
                server_port = server.port().unwrap_or(5432),
                auth_type = if password.is_empty() {
                    "trust"
                } else {
                    "scram-sha-256"
                },
                auth_file = auth_file.display(),
                mode = config.pool_mode,
                pool_size = config.pool_size,
                console = if config.console {
                    format!("stats_users = {user}\n")
                } else {
                    String::new()
                },
                log = log.display(),
            ),
        );
        let mut cmd = Command::new(&binary);
        cmd.arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_as.apply(&mut cmd);
        die_with_parent(&mut cmd);
        let child =
            spawn_from_keeper(cmd).unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut bouncer = PgBouncer {
            dir,
            port,
            child,
            server,
        };
        bouncer.wait_ready(&log);
        bouncer
    }

    fn wait_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "PgBouncer did not start ({}); its log:\n{}",
                    exited.map_or("no answer within 15 s".to_string(), |s| s.to_string()),
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` through the pooler, with the test server's credentials. Hand it to
    /// a child process in its environment, never on its command line.
    pub fn url_for(&self, database: &str) -> String {
        let mut url = self.server.clone();
        let _ = url.set_host(Some("127.0.0.1"));
        let _ = url.set_port(Some(self.port));
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    /// The database `direct` (a test database on the server) reached through the pooler.
    pub fn database(&self, direct: &Database) -> Database {
        Database::at(self.url_for(&direct.names().0), UrlSource::Environment)
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    /// Immediate shutdown (SIGTERM; SIGINT would wait for every client), then SIGKILL.
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
}

/// Writes a 0600 file and hands it to PgBouncer's user.
fn write_private(run_as: &RunAs, path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    run_as
        .give_file(&file, path)
        .unwrap_or_else(|e| panic!("handing {} to PgBouncer's user: {e}", path.display()));
}
