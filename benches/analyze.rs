//! `cargo bench --bench analyze`: time `analyze()` on a generated 1 MB migration (target < 50 ms)
//! and `lint_files()` on a directory's worth of small migrations.

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

fn time<F: FnMut()>(label: &str, runs: usize, mut f: F) -> Duration {
    f(); // warm-up
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "{label}: median {:.2} ms, min {:.2} ms, max {:.2} ms over {runs} runs",
        median.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    median
}

fn main() {
    let text = migration(1 << 20);
    let ctx = AnalysisContext::default();
    let statements = analyze(&text, &ctx).statements.len();
    println!(
        "1 MB migration: {} bytes, {statements} statements",
        text.len()
    );
    time("split_statements(1 MB) (parse + split only)", 5, || {
        black_box(lockstep::sql::split_statements(black_box(&text)));
    });
    let median = time("analyze(1 MB)", 15, || {
        black_box(analyze(black_box(&text), &ctx));
    });
    if median > Duration::from_millis(50) {
        println!("WARNING: above the 50 ms target");
    }

    let files: Vec<(PathBuf, String)> = (0..200)
        .map(|i| (PathBuf::from(format!("{i:04}_m.sql")), migration(2_000)))
        .collect();
    time("lint_files(200 files × 2 KB)", 15, || {
        black_box(lint_files(black_box(&files), &LintOptions::default()));
    });
}
