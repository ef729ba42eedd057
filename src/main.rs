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
    match result {
        Ok(code) => code,
        Err(report) => {
            lockstep::cli::print_error(&report);
            ExitCode::FAILURE
        }
    }
}
