//! The throwaway PostgreSQL: explained when missing, gone when lockstep goes (Ctrl-C or killed),
//! run as an unprivileged user when lockstep runs as root, and closed to everyone without its
//! password.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lockstep::sandbox::{PgBinaries, Sandbox};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, geteuid};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

fn lockstep() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockstep"));
    cmd.env_remove("DATABASE_URL");
    cmd
}

#[test]
fn missing_server_binaries_are_explained() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("migrations")).unwrap();
    let out = lockstep()
        .current_dir(project.path())
        .env("LOCKSTEP_PG_BIN", "/nonexistent/bin")
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "no PostgreSQL server binaries",
        "/nonexistent/bin",
        "apt-get install postgresql",
        "DATABASE_URL",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}

/// A running `lockstep demo --keep`, with everything it has printed so far.
struct KeptDemo {
    child: Child,
    /// The sandbox directory.
    dir: PathBuf,
    /// The server's pid.
    server: i32,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl KeptDemo {
    /// What the demo printed so far, stdout and stderr.
    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Stops the demo with Ctrl-C; its exit status and everything it printed.
    fn interrupt(mut self) -> (ExitStatus, String) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).unwrap();
        let status = self.child.wait().unwrap();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (status, self.output())
    }
}

impl Drop for KeptDemo {
    /// A failed test leaves no demo waiting for a Ctrl-C that never comes.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `lockstep demo --keep` with its sandbox under `base`; returns it once the sandbox is up.
fn kept_demo(base: &Path) -> KeptDemo {
    kept_demo_with(base, &[])
}

fn kept_demo_with(base: &Path, env: &[(&str, &OsStr)]) -> KeptDemo {
    // As root the server runs as `nobody`, which must be able to reach its directory.
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = lockstep()
        .env("LOCKSTEP_SANDBOX_DIR", base)
        .envs(env.iter().copied())
        .args(["demo", "--keep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let into = output.clone();
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            into.lock().unwrap().push_str(&(line.clone() + "\n"));
            // The instructions end with the `lockstep status` line.
            if line.contains("lockstep status --source") {
                let _ = tx.send(());
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let into = output.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        into.lock().unwrap().push_str(&text);
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        stdout_reader.join().unwrap();
        stderr_reader.join().unwrap();
        panic!("the demo did not come up:\n{}", output.lock().unwrap());
    }
    assert!(
        output.lock().unwrap().contains("stays up until Ctrl-C"),
        "{}",
        output.lock().unwrap()
    );
    let dir = std::fs::read_dir(base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lockstep-sandbox-")
        })
        .expect("a sandbox directory");
    let server = server_pid(&dir);
    KeptDemo {
        child,
        dir,
        server,
        output,
        readers: vec![stdout_reader, stderr_reader],
    }
}

/// The postmaster's pid, from its pid file in the sandbox directory `dir`.
fn server_pid(dir: &Path) -> i32 {
    let pid_file = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap();
    pid_file.lines().next().unwrap().trim().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purposes; /proc tells the state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_server_stops_and_its_directory_goes_on_ctrl_c() {
    let base = tempfile::tempdir().unwrap();
    let demo = kept_demo(base.path());
    let (dir, server) = (demo.dir.clone(), demo.server);
    assert!(alive(server));
    if geteuid().is_root() {
        let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            !uid.split_whitespace().skip(1).any(|u| u == "0"),
            "as root, the server runs unprivileged: {uid}"
        );
    }
    let (status, output) = demo.interrupt();
    assert!(status.success(), "{status}: {output}");
    assert!(!alive(server), "the server stopped with lockstep");
    assert!(!dir.exists(), "the sandbox directory is removed");
}

#[test]
fn a_killed_lockstep_takes_its_server_along_and_the_next_run_cleans_up() {
    let base = tempfile::tempdir().unwrap();
    let mut demo = kept_demo(base.path());
    let (dir, server) = (demo.dir.clone(), demo.server);
    demo.child.kill().unwrap();
    demo.child.wait().unwrap();
    wait_until("the orphaned server exits", || !alive(server));
    assert!(dir.exists(), "nobody was left to delete it");

    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("migrations")).unwrap();
    let out = lockstep()
        .current_dir(project.path())
        .env("LOCKSTEP_SANDBOX_DIR", base.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.exists(),
        "the next sandbox removes the stale directory"
    );
    assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
}

/// An account that is neither root nor the server's: what another user of the machine would be.
const STRANGER: u32 = 54_321;

/// `psql` from the sandbox's installation (else `PATH`) with nothing to find a password in:
/// `psql -h <host> -p <port> -U lockstep -c <sql>`, as `account` when given (we are root).
fn psql(sandbox: &Sandbox, host: &OsStr, account: Option<u32>, sql: &str) -> Command {
    let mut cmd = Command::new(psql_program(sandbox.binaries()));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .args([
            "-X", "-w", "-A", "-t", "-d", "postgres", "-U", "lockstep", "-h",
        ])
        .arg(host)
        .arg("-p")
        .arg(sandbox.port().to_string())
        .arg("-c")
        .arg(sql);
    if let Some(account) = account {
        // std also drops root's supplementary groups.
        cmd.uid(account).gid(account);
    }
    cmd
}

/// `psql` of the installation the sandbox runs, else the one on `PATH`.
fn psql_program(binaries: &PgBinaries) -> PathBuf {
    let installed = binaries.bin_dir.join("psql");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("psql")
    }
}

/// Runs `cmd`, expecting it to fail with `error` on stderr.
fn refused(mut cmd: Command, error: &str) {
    let out = cmd.output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && printed.contains(error),
        "expected a refusal with {error:?}, got {}: {printed}",
        out.status
    );
}

fn succeeds(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Asserts that connecting with `options` is refused for want of the right password.
async fn refused_by_the_server(options: PgConnectOptions, how: &str) {
    match PgConnection::connect_with(&options).await {
        Ok(_) => panic!("{how}: connected without the password"),
        Err(e) => {
            let text = e.to_string();
            let code = e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned());
            assert!(
                code.as_deref() == Some("28P01") || text.contains("password"),
                "{how}: refused for another reason: {text}"
            );
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

fn owner(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().uid()
}

#[tokio::test]
async fn only_the_password_opens_the_sandbox() {
    let sandbox = Sandbox::start().unwrap();
    let dir = sandbox.dir().to_path_buf();
    let socket = dir.join(format!(".s.PGSQL.{}", sandbox.port()));
    let server_account = owner(&dir.join("data"));
    if geteuid().is_root() {
        assert_ne!(server_account, 0, "as root, the server runs unprivileged");
    } else {
        assert_eq!(server_account, geteuid().as_raw());
    }
    for (path, expected) in [(&dir, 0o700), (&dir.join("data"), 0o700), (&socket, 0o700)] {
        assert_eq!(mode(path), expected, "{}", path.display());
        assert_eq!(owner(path), server_account, "{}", path.display());
    }
    assert_eq!(mode(&sandbox.passfile()), 0o600);
    assert_eq!(owner(&sandbox.passfile()), geteuid().as_raw());
    assert!(
        !dir.join("initdb.pw").exists(),
        "initdb's password file is removed once the cluster exists"
    );

    // lockstep gets in, over TCP with its URL and over the socket with its passfile.
    let mut conn = PgConnection::connect(&sandbox.url()).await.unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(user, "lockstep");
    let mut with_passfile = psql(&sandbox, dir.as_os_str(), None, "SELECT current_user");
    with_passfile.env("PGPASSFILE", sandbox.passfile());
    assert_eq!(succeeds(with_passfile), "lockstep");

    // Nothing else does: no password or a wrong one, over TCP or the socket.
    let tcp = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(sandbox.port())
        .username("lockstep")
        .database("postgres");
    let socket = tcp.clone().socket(&dir);
    refused_by_the_server(tcp.clone().password(""), "TCP, no password").await;
    refused_by_the_server(tcp.password("lockstep"), "TCP, a wrong password").await;
    refused_by_the_server(socket.clone().password(""), "socket, no password").await;
    refused_by_the_server(socket.password("lockstep"), "socket, a wrong password").await;
    let attack = "COPY (SELECT 1) TO PROGRAM 'id'";
    for host in [OsStr::new("127.0.0.1"), dir.as_os_str()] {
        refused(psql(&sandbox, host, None, attack), "no password supplied");
        let mut guess = psql(&sandbox, host, None, attack);
        guess.env("PGPASSWORD", "lockstep");
        refused(guess, "password authentication failed");
    }

    if geteuid().is_root() {
        // Another account of the machine: no password to find, no way into the directory.
        assert_ne!(server_account, STRANGER);
        let tcp = OsStr::new("127.0.0.1");
        refused(
            psql(&sandbox, tcp, Some(STRANGER), attack),
            "no password supplied",
        );
        let mut stolen = psql(&sandbox, tcp, Some(STRANGER), attack);
        stolen.env("PGPASSFILE", sandbox.passfile());
        refused(stolen, "no password supplied");
        refused(
            psql(&sandbox, dir.as_os_str(), Some(STRANGER), attack),
            "Permission denied",
        );
    }
    conn.close().await.unwrap();
    drop(sandbox);
    assert!(!dir.exists(), "the sandbox directory is removed");
}

/// `initdb` and `postgres` that append their arguments and environment to `args.log` in the same
/// directory, then become the real ones.
fn recording_binaries() -> (tempfile::TempDir, PathBuf) {
    let real = PgBinaries::locate().unwrap();
    let bin = tempfile::tempdir().unwrap();
    // As root the server's account runs these and writes the log.
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = bin.path().join("args.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
    for (name, target) in [("initdb", real.initdb()), ("postgres", real.postgres())] {
        let script = bin.path().join(name);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '{log}'\nenv >> '{log}'\nexec '{target}' \"$@\"\n",
                log = log.display(),
                target = target.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, log)
}

/// The text after `marker` in `text`, up to the next whitespace or `)`.
fn word_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
        + marker.len();
    text[start..]
        .split(|c: char| c.is_whitespace() || c == ')')
        .next()
        .unwrap()
}

/// Pids of `parent`'s children.
fn children(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

#[test]
fn a_kept_sandbox_says_how_to_connect_and_never_shows_its_password() {
    let base = tempfile::tempdir().unwrap();
    let (bin, args_log) = recording_binaries();
    let demo = kept_demo_with(base.path(), &[("LOCKSTEP_PG_BIN", bin.path().as_os_str())]);
    let printed = demo.output();
    let passfile = PathBuf::from(word_after(&printed, "PGPASSFILE="));
    let url_file = PathBuf::from(word_after(&printed, "$(cat "));
    let source = word_after(&printed, "--source ");
    let port = word_after(&printed, " -p ");
    assert!(printed.contains(&format!(
        "postgres://lockstep:***@127.0.0.1:{port}/lockstep_demo"
    )));
    for file in [&passfile, &url_file] {
        assert!(file.starts_with(&demo.dir), "{}", file.display());
        assert_eq!(mode(file), 0o600, "{}", file.display());
        assert_eq!(owner(file), geteuid().as_raw(), "{}", file.display());
    }
    let entry = std::fs::read_to_string(&passfile).unwrap();
    let password = entry.trim().rsplit(':').next().unwrap().to_string();
    assert_eq!(entry, format!("*:{port}:*:lockstep:{password}\n"));
    assert!(password.len() >= 32, "a strong password");
    let url = std::fs::read_to_string(&url_file).unwrap();
    assert_eq!(
        url.trim(),
        format!("postgres://lockstep:{password}@127.0.0.1:{port}/lockstep_demo")
    );

    // The printed commands work.
    let psql = Command::new(psql_program(&PgBinaries::locate().unwrap()))
        .env("PGPASSFILE", &passfile)
        .args(["-X", "-w", "-A", "-t", "-h", "127.0.0.1", "-p", port])
        .args(["-U", "lockstep", "lockstep_demo", "-c"])
        .arg("SELECT count(*) FROM _sqlx_migrations")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&psql.stdout).trim(),
        "16",
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let status = lockstep()
        .env("DATABASE_URL", url.trim())
        .args(["status", "--source", source])
        .output()
        .unwrap();
    let status_output = format!(
        "{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        status.status.success() && status_output.contains("16 applied"),
        "{status_output}"
    );
    assert!(!status_output.contains(&password), "{status_output}");

    // Not on any command line: lockstep's, initdb's, the server's and its children's. Not in the
    // server's environment either.
    let mut pids = vec![demo.child.id() as i32, demo.server];
    pids.extend(children(demo.server));
    assert!(pids.len() > 3, "the server's children are found: {pids:?}");
    for pid in pids {
        for what in ["cmdline", "environ"] {
            let Ok(bytes) = std::fs::read(format!("/proc/{pid}/{what}")) else {
                continue; // a backend that has exited meanwhile
            };
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&password),
                "the password is in /proc/{pid}/{what}"
            );
        }
    }
    let recorded = std::fs::read_to_string(&args_log).unwrap();
    assert!(
        recorded.contains("--auth=scram-sha-256") && recorded.contains("unix_socket_permissions"),
        "initdb and postgres were recorded: {recorded}"
    );
    assert!(!recorded.contains(&password), "{recorded}");
    let log = std::fs::read_to_string(demo.dir.join("server.log")).unwrap();
    assert!(!log.contains(&password), "{log}");

    let (status, output) = demo.interrupt();
    assert!(status.success(), "{status}: {output}");
    assert!(!output.contains(&password), "{output}");
    assert!(!passfile.exists() && !url_file.exists());
    drop(bin);
}
