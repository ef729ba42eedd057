//! A throwaway PostgreSQL cluster of lockstep's own, started from the local server binaries.
//!
//! The cluster lives in a private temporary directory, listens on `127.0.0.1` on a free port (and on a
//! unix socket in the same directory), trusts local connections, and runs with durability turned off
//! for speed. It is stopped and deleted when the [`Sandbox`] is dropped. If lockstep dies without
//! running its destructors, the server is signalled by the kernel (`PR_SET_PDEATHSIG`) and the
//! directory is removed by the next sandbox that starts.
//!
//! PostgreSQL refuses to run as root: when lockstep runs as root, the server runs as an unprivileged
//! user (`nobody`, or `LOCKSTEP_SANDBOX_USER`).

mod binaries;
mod process;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use binaries::PgBinaries;

/// The role name the sandbox's superuser is created with.
pub const SANDBOX_USER: &str = "lockstep";
const DIR_PREFIX: &str = "lockstep-sandbox-";
const OWNER_FILE: &str = "owner.pid";

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

/// A running throwaway PostgreSQL cluster.
#[derive(Debug)]
pub struct Sandbox {
    dir: PathBuf,
    port: u16,
    server: Option<Child>,
    binaries: PgBinaries,
}

impl Sandbox {
    /// Locates the binaries, creates a new cluster and starts it. Blocks until the server accepts
    /// connections (usually one to three seconds).
    pub fn start() -> Result<Sandbox, SandboxError> {
        let binaries = PgBinaries::locate()?;
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
        let mut sandbox = Sandbox {
            dir,
            port: 0,
            server: None,
            binaries,
        };
        fs::write(sandbox.dir.join(OWNER_FILE), std::process::id().to_string())
            .map_err(io_err("writing the sandbox owner file"))?;
        run_as.give(&sandbox.dir)?;
        sandbox.init_cluster(&run_as)?;
        let mut last_error = None;
        for _ in 0..5 {
            match sandbox.start_server(&run_as) {
                Ok(()) => return Ok(sandbox),
                // Another process may grab the free port between our probe and the bind: retry.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt was made"))
    }

    /// A connection URL for the given database on this server.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SANDBOX_USER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A connection URL for the `postgres` maintenance database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
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
        let mut cmd = Command::new(self.binaries.initdb());
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", SANDBOX_USER, "--auth=trust", "--no-sync"])
            .args(["-E", "UTF8", "--locale=C"])
            .current_dir(&self.dir)
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        run_as.apply(&mut cmd);
        let output = cmd.output().map_err(io_err(format!(
            "running {}",
            self.binaries.initdb().display()
        )))?;
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

    fn start_server(&mut self, run_as: &process::RunAs) -> Result<(), SandboxError> {
        self.port = free_port()?;
        let log = fs::File::create(self.log_path()).map_err(io_err("creating the server log"))?;
        run_as.give(&self.log_path())?;
        let mut cmd = Command::new(self.binaries.postgres());
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
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

fn free_port() -> Result<u16, SandboxError> {
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
        if let Some(server) = fs::read_to_string(dir.join("data").join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            process::kill_server(server);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
