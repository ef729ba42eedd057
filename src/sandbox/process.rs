//! Process plumbing for the sandbox: running as an unprivileged user, dying with lockstep, stopping.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User, chown, fchown};

use super::SandboxError;

/// The user the server processes run as: the current one, or an unprivileged one when root.
pub(crate) struct RunAs {
    ids: Option<(u32, u32)>,
}

impl RunAs {
    pub(crate) fn for_current_user() -> Result<RunAs, SandboxError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(RunAs { ids: None });
        }
        let name = std::env::var("LOCKSTEP_SANDBOX_USER").unwrap_or_else(|_| "nobody".into());
        match User::from_name(&name) {
            Ok(Some(user)) if !user.uid.is_root() => Ok(RunAs {
                ids: Some((user.uid.as_raw(), user.gid.as_raw())),
            }),
            _ => Err(SandboxError::NoUnprivilegedUser(name)),
        }
    }

    /// Hands a directory over to the server's user (before that user can touch what is in it).
    pub(crate) fn give(&self, path: &Path) -> Result<(), SandboxError> {
        self.give_with(path, |uid, gid| chown(path, uid, gid))
    }

    /// Hands an open file over to the server's user: by its descriptor, so that a symlink put in
    /// its place in the server's directory is never followed.
    pub(crate) fn give_file(&self, file: &File, path: &Path) -> Result<(), SandboxError> {
        self.give_with(path, |uid, gid| fchown(file, uid, gid))
    }

    fn give_with(
        &self,
        path: &Path,
        change: impl FnOnce(Option<Uid>, Option<Gid>) -> nix::Result<()>,
    ) -> Result<(), SandboxError> {
        if let Some((uid, gid)) = self.ids {
            change(Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|e| {
                SandboxError::Io {
                    context: format!("handing {} to the sandbox user", path.display()),
                    source: e.into(),
                }
            })?;
        }
        Ok(())
    }

    /// Makes the command run as the server's user.
    pub(crate) fn apply(&self, cmd: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
            // The unprivileged user cannot read root's home; keep the server's environment neutral.
            cmd.env("HOME", "/");
        }
    }
}

/// Asks the kernel to send the server SIGQUIT (immediate shutdown) if the thread that started it
/// goes away, so a killed lockstep never leaves a server running.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure only calls async-signal-safe prctl(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT).map_err(std::io::Error::from)
        });
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns the command from a thread that lives as long as the process. The parent-death signal is
/// tied to the spawning *thread*, and runtime worker threads come and go.
pub(crate) fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("lockstep-sandbox-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the sandbox keeper thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the sandbox keeper thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the sandbox keeper thread is gone"))?
}

/// Stops a server: fast shutdown (SIGINT), then SIGKILL if it does not go within ten seconds.
pub(super) fn stop(child: &mut Child) {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops a server known only by pid (not our child to wait on): fast shutdown, then SIGKILL.
pub(super) fn stop_pid(pid: i32) {
    let target = Pid::from_raw(pid);
    let _ = kill(target, Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        // Our own child stays a zombie until reaped, so ask the kernel for its state.
        if !is_alive(pid) || is_zombie(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = kill(target, Signal::SIGKILL);
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z"))
        })
        .unwrap_or(false)
}

/// Whether a process with this pid exists.
pub(super) fn is_alive(pid: i32) -> bool {
    !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Immediate shutdown of a leftover server, when `pid` really is a PostgreSQL server of
/// `data_dir`. The pid comes from `postmaster.pid` in a directory the server's account can
/// write, so it is not trusted: only a process whose command line is `postgres … -D data_dir`
/// is signalled.
pub(super) fn kill_server(pid: i32, data_dir: &std::path::Path) {
    if !is_server_of(pid, data_dir) {
        return;
    }
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_ok() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && is_alive(pid.as_raw()) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether `pid` runs `postgres` (or `postmaster`) with `-D data_dir`, from `/proc/<pid>/cmdline`.
fn is_server_of(pid: i32, data_dir: &std::path::Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let program = args
        .first()
        .map(|a| std::path::Path::new(std::ffi::OsStr::from_bytes(a)));
    let is_postgres = program
        .and_then(|p| p.file_name())
        .is_some_and(|name| name == "postgres" || name == "postmaster");
    let data = data_dir.as_os_str().as_bytes();
    is_postgres && args.windows(2).any(|w| w[0] == b"-D" && w[1] == data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_postgres_server_of_that_directory_is_recognised() {
        // This test process is no PostgreSQL server, whatever postmaster.pid says.
        assert!(!is_server_of(
            std::process::id() as i32,
            Path::new("/tmp/lockstep-sandbox-x/data")
        ));
        assert!(!is_server_of(-1, Path::new("/tmp")));
    }
}
