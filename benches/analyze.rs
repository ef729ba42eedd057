//! `cargo bench --bench analyze`: the CPU time of `analyze()` on a generated 1 MB migration
//! against the grammar's own (`SourceFile::parse` on the same text; target: the whole analysis
//! costs at most 1.3× the parse), and `lint_files()` on a directory's worth of small migrations.
//!
//! CPU time (all threads of the process, from `/proc/self/stat`) rather than wall time, so the
//! ratio holds on a busy machine; wall-time medians are printed too.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lockstep::analysis::{AnalysisContext, LintOptions, analyze, lint_files};

// The allocator the `lockstep` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS t{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
    "CREATE INDEX idx_{i} ON users (email, created_at) WHERE deleted_at IS NULL;",
    "ALTER TABLE orders ADD COLUMN c{i} uuid DEFAULT gen_random_uuid(), ALTER COLUMN amount TYPE bigint;",
    "-- squawk-ignore ban-drop-column\nALTER TABLE orders DROP COLUMN old_{i};",
    "ALTER TABLE orders ADD CONSTRAINT fk_{i} FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk_{i};",
    "UPDATE orders SET note = 'backfill; not a split' WHERE id BETWEEN {i} AND {i} + 1000;",
    "SET LOCAL lock_timeout = '2s';",
    "CREATE FUNCTION f_{i}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := 1; RETURN NEW; END $$;",
    "INSERT INTO audit (id, payload) VALUES ({i}, '{{\"k\": \"v\"}}'::jsonb);",
];

/// A migration of about `bytes` bytes cycling through realistic statements.
fn migration(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 256);
    let mut i = 0usize;
    while out.len() < bytes {
        let template = STATEMENTS[i % STATEMENTS.len()];
        out.push_str(&template.replace("{i}", &i.to_string()));
        out.push('\n');
        i += 1;
    }
    out
}

/// CPU time this process has used (user + system, every thread), in clock ticks' precision.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `f` `runs` times after a warm-up; prints the wall-time median and returns the mean CPU
/// time per run.
fn time<F: FnMut()>(label: &str, runs: usize, mut f: F) -> Duration {
    f(); // warm-up
    let cpu_start = cpu_time();
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    let cpu = (cpu_time() - cpu_start) / runs as u32;
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "{label}: CPU {:.1} ms per run; wall median {:.2} ms, min {:.2} ms, max {:.2} ms over {runs} runs",
        cpu.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    cpu
}

fn main() {
    let text = migration(1 << 20);
    let ctx = AnalysisContext::default();
    let statements = analyze(&text, &ctx).statements.len();
    println!(
        "1 MB migration: {} bytes, {statements} statements",
        text.len()
    );
    let parse = time("SourceFile::parse(1 MB) (the grammar alone)", 15, || {
        black_box(squawk_syntax::SourceFile::parse(black_box(&text)));
    });
    let whole = time("analyze(1 MB)", 15, || {
        black_box(analyze(black_box(&text), &ctx));
    });
    let ratio = whole.as_secs_f64() / parse.as_secs_f64().max(1e-9);
    println!("analyze / parse CPU time: {ratio:.2}x (target: at most 1.30x)");
    if ratio > 1.3 {
        println!("WARNING: above the 1.3x target");
    }

    let files: Vec<(PathBuf, String)> = (0..200)
        .map(|i| (PathBuf::from(format!("{i:04}_m.sql")), migration(2_000)))
        .collect();
    time("lint_files(200 files × 2 KB)", 15, || {
        black_box(lint_files(black_box(&files), &LintOptions::default()));
    });
}
