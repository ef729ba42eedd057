//! A throwaway PostgreSQL cluster of lockstep's own, started from the local server binaries.
//!
//! The cluster lives in a private temporary directory, listens on `127.0.0.1` on a free port (and on a
//! unix socket in the same directory), and runs with durability turned off for speed. It is stopped
//! and deleted when the [`Sandbox`] is dropped. If lockstep dies without running its destructors, the
//! server is signalled by the kernel (`PR_SET_PDEATHSIG`) and the directory is removed by the next
//! sandbox that starts.
//!
//! Only lockstep gets in: the one role, superuser `lockstep`, has a random password made at start
//! and every connection must give it (SCRAM-SHA-256, over TCP and the socket alike). The password
//! reaches `initdb` through a 0600 file removed right after, never a command line. The directory is
//! 0700 and the socket 0700, both owned by the server's account; lockstep's connection files in it
//! ([`Sandbox::passfile`], [`Sandbox::write_url_file`]) are 0600 and owned by lockstep's account.
//!
//! PostgreSQL refuses to run as root: when lockstep runs as root, the server runs as an unprivileged
//! user (`nobody`, or `LOCKSTEP_SANDBOX_USER`); root still reaches the directory, no other account
//! does.

mod binaries;
pub(crate) mod process;

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use binaries::{PgBinaries, locate_client};

/// The role name the sandbox's superuser is created with.
pub const SANDBOX_USER: &str = "lockstep";
const DIR_PREFIX: &str = "lockstep-sandbox-";
const OWNER_FILE: &str = "owner.pid";
/// Holds the password for `initdb --pwfile`, and only while `initdb` runs.
const INITDB_PASSWORD_FILE: &str = "initdb.pw";
const PASSFILE: &str = "pgpass";
const URL_FILE: &str = "database-url";

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No `initdb`/`postgres` pair was found.
    #[error(
        "no PostgreSQL server binaries (initdb and postgres) were found (looked in {}).\n\
         lockstep starts a throwaway PostgreSQL when no database is configured. Either install the \
         server binaries (Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL: `dnf install \
         postgresql-server`; macOS: `brew install postgresql@17`), or point LOCKSTEP_PG_BIN at their \
         directory, or use an existing database with --database-url or DATABASE_URL.",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BinariesNotFound {
        /// The places searched.
        searched: Vec<PathBuf>,
    },
    /// lockstep runs as root and no unprivileged user exists to run the server as.
    #[error(
        "PostgreSQL refuses to run as root and the user `{0}` to run it as does not exist; \
         create it or set LOCKSTEP_SANDBOX_USER to an existing unprivileged user"
    )]
    NoUnprivilegedUser(String),
    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` failed.
    #[error("initdb failed ({status}):\n{output}")]
    InitDb {
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The server exited or did not become ready.
    #[error("the sandbox PostgreSQL server did not start: {reason}\nserver log ({log}):\n{tail}")]
    Start {
        /// What went wrong.
        reason: String,
        /// Path of the server log.
        log: String,
        /// The end of the server log.
        tail: String,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// The superuser's password: random for each sandbox, and shown as `***` by `Debug`.
struct Password(String);

impl Password {
    /// 192 random bits from the operating system, hex-encoded (nothing to escape in a URL or a
    /// passfile).
    fn generate() -> Result<Password, SandboxError> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|e| SandboxError::Io {
            context: "generating the sandbox password".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Password(hex::encode(bytes)))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A running throwaway PostgreSQL cluster.
#[derive(Debug)]
pub struct Sandbox {
    dir: PathBuf,
    port: u16,
    password: Password,
    server: Option<Child>,
    binaries: PgBinaries,
}

impl Sandbox {
    /// Locates the binaries, creates a new cluster and starts it. Blocks until the server accepts
    /// connections (usually one to three seconds).
    pub fn start() -> Result<Sandbox, SandboxError> {
        Sandbox::start_with(PgBinaries::locate()?)
    }

    /// Like [`Sandbox::start`], with the given server binaries (e.g. those of a major version,
    /// [`PgBinaries::locate_major`]).
    pub fn start_with(binaries: PgBinaries) -> Result<Sandbox, SandboxError> {
        let base = std::env::var_os("LOCKSTEP_SANDBOX_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        remove_stale(&base);
        let run_as = process::RunAs::for_current_user()?;
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&base)
            .map_err(io_err(format!(
                "creating the sandbox directory in {}",
                base.display()
            )))?
            .keep();
        // From here on, dropping `sandbox` deletes the directory.
        let mut sandbox = Sandbox {
            dir,
            port: 0,
            password: Password::generate()?,
            server: None,
            binaries,
        };
        fs::set_permissions(&sandbox.dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("making the sandbox directory private"))?;
        fs::write(sandbox.dir.join(OWNER_FILE), std::process::id().to_string())
            .map_err(io_err("writing the sandbox owner file"))?;
        run_as.give(&sandbox.dir)?;
        sandbox.init_cluster(&run_as)?;
        let mut last_error = None;
        for _ in 0..5 {
            match sandbox.start_server(&run_as) {
                Ok(()) => {
                    sandbox.write_passfile()?;
                    return Ok(sandbox);
                }
                // Another process may grab the free port between our probe and the bind: retry.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    /// A connection URL for the given database on this server, with the password: never print it
    /// (use [`crate::db::redact`]) nor put it on a command line.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SANDBOX_USER}:{}@127.0.0.1:{}/{database}",
            self.password.0, self.port
        )
    }

    /// A connection URL for the `postgres` maintenance database, with the password.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A libpq password file (`PGPASSFILE`) for this server, readable only by lockstep's account
    /// and deleted with the sandbox: `PGPASSFILE=<it> psql -h 127.0.0.1 -p <port> -U lockstep`.
    pub fn passfile(&self) -> PathBuf {
        self.dir.join(PASSFILE)
    }

    /// Writes the full URL of `database` (password included) to a file readable only by lockstep's
    /// account and deleted with the sandbox, for other programs (`DATABASE_URL="$(cat <it>)"`);
    /// returns its path. A second call replaces the first one's file.
    pub fn write_url_file(&self, database: &str) -> Result<PathBuf, SandboxError> {
        let path = self.dir.join(URL_FILE);
        remove_if_present(&path).map_err(io_err("replacing the sandbox URL file"))?;
        create_private(&path)
            .and_then(|mut file| writeln!(file, "{}", self.url_for(database)))
            .map_err(io_err("writing the sandbox URL file"))?;
        Ok(path)
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private directory holding the cluster, its socket and its log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The binaries this sandbox runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn init_cluster(&self, run_as: &process::RunAs) -> Result<(), SandboxError> {
        // initdb reads the password from a file only it can read, removed as soon as it is done.
        let pwfile = self.dir.join(INITDB_PASSWORD_FILE);
        let output = create_private(&pwfile)
            .and_then(|mut file| file.write_all(self.password.0.as_bytes()).map(|()| file))
            .map_err(io_err("writing the sandbox password file"))
            .and_then(|file| run_as.give_file(&file, &pwfile))
            .and_then(|()| self.run_initdb(run_as, &pwfile));
        let removed = fs::remove_file(&pwfile);
        let output = output?;
        removed.map_err(io_err("removing the sandbox password file"))?;
        if !output.status.success() {
            return Err(SandboxError::InitDb {
                status: output.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        Ok(())
    }

    fn run_initdb(
        &self,
        run_as: &process::RunAs,
        pwfile: &Path,
    ) -> Result<std::process::Output, SandboxError> {
        let mut cmd = Command::new(self.binaries.initdb());
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", SANDBOX_USER, "--auth=scram-sha-256", "--pwfile"])
            .arg(pwfile)
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .current_dir(&self.dir)
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        run_as.apply(&mut cmd);
        cmd.output().map_err(io_err(format!(
            "running {}",
            self.binaries.initdb().display()
        )))
    }

    fn start_server(&mut self, run_as: &process::RunAs) -> Result<(), SandboxError> {
        self.port = free_port()?;
        // A new file each attempt: as root the directory belongs to the server's account.
        let log = remove_if_present(&self.log_path())
            .and_then(|()| create_private(&self.log_path()))
            .map_err(io_err("creating the server log"))?;
        run_as.give_file(&log, &self.log_path())?;
        let mut cmd = Command::new(self.binaries.postgres());
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .args([
                "-c",
                "shared_buffers=128MB",
                "-c",
                "max_locks_per_transaction=256",
            ])
            .args(["-c", "log_min_messages=warning", "-c", "log_statement=none"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_err("opening the server log"))?)
            .stderr(log);
        run_as.apply(&mut cmd);
        process::die_with_parent(&mut cmd);
        let child = process::spawn_from_keeper(cmd).map_err(io_err(format!(
            "starting {}",
            self.binaries.postgres().display()
        )))?;
        self.server = Some(child);
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), SandboxError> {
        let started = Instant::now();
        let pid_file = self.data_dir().join("postmaster.pid");
        loop {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.server = None;
                return Err(self.start_error(format!("the server exited ({status})")));
            }
            // Line 8 of postmaster.pid is the server's status; "ready" once it accepts connections.
            if let Ok(text) = fs::read_to_string(&pid_file)
                && text.lines().nth(7).map(str::trim) == Some("ready")
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                self.stop_server();
                return Err(self.start_error(format!("not ready after {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn write_passfile(&self) -> Result<(), SandboxError> {
        // Any host: 127.0.0.1 and the socket directory both reach this server.
        create_private(&self.passfile())
            .and_then(|mut file| {
                writeln!(file, "*:{}:*:{SANDBOX_USER}:{}", self.port, self.password.0)
            })
            .map_err(io_err("writing the sandbox passfile"))
    }

    fn start_error(&self, reason: String) -> SandboxError {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        SandboxError::Start {
            reason,
            log: self.log_path().display().to_string(),
            tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    }

    fn stop_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            process::stop(&mut child);
        }
    }
}

impl Sandbox {
    /// Stops the server and deletes the directory through a shared reference, for a sandbox held
    /// in a `static` (never dropped) at process exit. Dropping does the same otherwise.
    pub fn shutdown_in_place(&self) {
        if let Some(child) = &self.server {
            process::stop_pid(child.id() as i32);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_server();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Creates a new file only its owner can read or write. Refuses an existing file or symlink (as
/// root the directory belongs to the server's account, which could plant one).
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, SandboxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(io_err("finding a free port on 127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("finding a free port on 127.0.0.1"))?
        .port();
    Ok(port)
}

/// Removes sandbox directories whose owning lockstep process is gone, stopping any server left in
/// them.
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let owner = fs::read_to_string(dir.join(OWNER_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let Some(owner) = owner else {
            // Being created right now, or not ours: leave it unless it is clearly old.
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
                .unwrap_or(false);
            if old {
                let _ = fs::remove_dir_all(&dir);
            }
            continue;
        };
        if process::is_alive(owner) {
            continue;
        }
        let data = dir.join("data");
        if let Some(server) = fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            process::kill_server(server, &data);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
