//! The throwaway PostgreSQL: explained when missing, gone when lockstep goes (Ctrl-C or killed),
//! run as an unprivileged user when lockstep runs as root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

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

/// Starts `lockstep demo --keep` with its sandbox under `base`; returns it once the sandbox is up,
/// with the sandbox directory and the server's pid.
fn kept_demo(base: &Path) -> (Child, PathBuf, i32) {
    // As root the server runs as `nobody`, which must be able to reach its directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = lockstep()
        .env("LOCKSTEP_SANDBOX_DIR", base)
        .args(["demo", "--keep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("stays up until Ctrl-C") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the demo comes up");
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
    let pid_file = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap();
    let server: i32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
    (child, dir, server)
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
    let (mut child, dir, server) = kept_demo(base.path());
    assert!(alive(server));
    if nix::unistd::geteuid().is_root() {
        let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            !uid.split_whitespace().skip(1).any(|u| u == "0"),
            "as root, the server runs unprivileged: {uid}"
        );
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!alive(server), "the server stopped with lockstep");
    assert!(!dir.exists(), "the sandbox directory is removed");
}

#[test]
fn a_killed_lockstep_takes_its_server_along_and_the_next_run_cleans_up() {
    let base = tempfile::tempdir().unwrap();
    let (mut child, dir, server) = kept_demo(base.path());
    child.kill().unwrap();
    child.wait().unwrap();
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
