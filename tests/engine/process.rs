//! The real binary as a child process whose output is collected while it runs, and waiting for a
//! condition with a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::Dir;

/// A running `lockstep` with its stdout and stderr collected line by line.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts `lockstep --source DIR ARGS…` with `DATABASE_URL=URL` (in the environment, so a
    /// password is not on its command line).
    pub fn start(url: &str, dir: &Dir, args: &[&str]) -> Running {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
            .arg("--source")
            .arg(&dir.path)
            .args(args)
            .env("DATABASE_URL", url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting lockstep");
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// Everything it printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until its stdout or stderr contains `text`.
    pub async fn wait_for_output(&self, text: &str, within: Duration) {
        let found = wait_until(within, || async {
            self.stdout().contains(text) || self.stderr().contains(text)
        })
        .await;
        assert!(
            found,
            "lockstep did not print {text:?} within {within:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    /// Sends it a signal.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signalling lockstep");
    }

    /// Waits for it to exit and returns its exit code; fails when it does not exit in time.
    pub async fn exit_code(&mut self, within: Duration) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for lockstep") {
                // The pipes are closed: the readers end with the last lines.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status.code().unwrap_or(-1);
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "lockstep did not exit within {within:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    (text, reader)
}

/// Polls `condition` every 20 ms until it holds or `within` passes; whether it held.
pub async fn wait_until<F, Fut>(within: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
