//! The `lockstep` binary: parses the command line and hands it to [`lockstep::cli`].

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the parser and the analysis allocate many small nodes; it makes `lint` about 12%
/// faster than the system allocator (`benches/lint-vs-squawk.sh`). Built with `no_thp`: asking
/// for transparent huge pages made each 2 MiB region it touched resident (and zeroed) at once,
/// doubling lint's peak memory (`benches/lint-corpora.py`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Installed first, so a panic anywhere prints a full report (and, once the dashboard owns the
    // terminal, restores it before printing).
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: could not install the error reporter: {e}");
    }
    let cli = lockstep::cli::Cli::parse();
    let exit_at_once = cli.exits_at_once();
    // A command that prints and exits mostly waits on the server: one thread saves the hand-offs
    // between worker threads on every round trip (`benches/compare-sqlx.sh`).
    let mut builder = if cli.single_threaded() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(lockstep::cli::run(cli));
    // Close connections before any sandbox server owned by the command is gone.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let code = match result {
        Ok(code) => code,
        Err(report) => {
            lockstep::cli::print_error(&report);
            ExitCode::FAILURE
        }
    };
    if exit_at_once {
        exit_now(code);
    }
    code
}

/// Ends the process with `code` now, without the clean-up of a normal exit: mimalloc hands every
/// page back to the system page by page (about 1 ms after a lint of a few hundred files, with a
/// TLB shoot-down per call); the kernel frees the whole address space faster on its own.
fn exit_now(code: ExitCode) -> ! {
    use std::io::Write;
    // (As a normal exit does, for anything still in stdout's buffer; an error has nowhere to go.)
    let _ = std::io::stdout().flush();
    let status = (0..=u8::MAX)
        .find(|&c| ExitCode::from(c) == code)
        .map_or(1, i32::from);
    // SAFETY: `_exit` ends the process; nothing is left to write (stdout is flushed, stderr is
    // unbuffered) and the command's files, connections and threads are closed or joined.
    unsafe { nix::libc::_exit(status) }
}
