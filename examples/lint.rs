//! `cargo run --example lint -- [--format human|json|gcc] [--pg-version N] FILES...`: the analyser
//! on files, until the lead wires `lockstep lint` into the CLI. Used by the benchmark script.

use std::path::PathBuf;

use lockstep::analysis::{LintOptions, lint_files, render};

fn main() {
    let mut format = "human".to_string();
    let mut opts = LintOptions::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => format = args.next().unwrap_or_default(),
            "--pg-version" => {
                opts.pg_version = args.next().and_then(|v| v.parse().ok()).unwrap_or(15)
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path, text)),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    let report = lint_files(&files, &opts);
    let out = match format.as_str() {
        "json" => render::json(&report),
        "gcc" => render::gcc(&report),
        _ => render::human(&report),
    };
    print!("{out}");
    std::process::exit(render::exit_code(&report));
}
