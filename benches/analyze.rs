//! `cargo bench --bench analyze [-- CORPUS_DIR...]`: the CPU time of the whole analysis against
//! the grammar's own (`SourceFile::parse` on the same text; target: the analysis costs at most
//! 1.3× the parse), and against the parse with squawk's validation, which every analysis runs to
//! report syntax errors (proposed target: at most 1.3× that; see [`TARGET`]).
//!
//! Without arguments: `analyze()` on a generated 1 MB migration, and `lint_files()` on a
//! directory's worth of small generated migrations. With directories of real migrations (sqlx
//! layout: `*.sql` files; nothing is fetched): per corpus, the parse of every file against
//! `lint_files()` over them as `lockstep lint DIR` runs it (each file against the schema of the
//! ones before it), and the renderers (gcc, JSON) on its report.
//!
//! CPU time of the whole process (every thread, `CLOCK_PROCESS_CPUTIME_ID`) rather than wall
//! time, so the ratio holds on a busy machine. The parts being compared run in turn within each
//! round (parse, analysis, parse, analysis…), so a slow spell of a shared machine hits both; the
//! figures are medians over the rounds, and the ratio is the median of the rounds' ratios.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use lockstep::analysis::lint::Chain;
use lockstep::analysis::{AnalysisContext, Catalog, LintOptions, analyze, lint_files, render};

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

/// CPU time this process has used (user + system, every thread, ended threads included).
fn cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) } == 0;
    assert!(ok, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// One thing to measure.
struct Part<'a> {
    label: &'a str,
    run: Box<dyn FnMut() + 'a>,
}

fn part<'a>(label: &'a str, run: impl FnMut() + 'a) -> Part<'a> {
    Part {
        label,
        run: Box::new(run),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs every part once per round for `rounds` rounds (after one warm-up round), prints each
/// part's median CPU time per run, and returns the CPU time of every round, per part.
fn rounds(rounds: usize, parts: &mut [Part<'_>]) -> Vec<Vec<f64>> {
    for p in parts.iter_mut() {
        (p.run)();
    }
    let mut cpu: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); parts.len()];
    for _ in 0..rounds {
        for (p, samples) in parts.iter_mut().zip(&mut cpu) {
            let start = cpu_time();
            (p.run)();
            samples.push((cpu_time() - start).as_secs_f64() * 1e3);
        }
    }
    for (p, samples) in parts.iter().zip(&cpu) {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "  {:<52} CPU median {:>8.2} ms (min {:.2}, max {:.2}) over {rounds} rounds",
            p.label,
            sorted[sorted.len() / 2],
            sorted[0],
            sorted[sorted.len() - 1],
        );
    }
    cpu
}

/// The median over the rounds of `whole / parse`.
fn ratio(whole: &[f64], parse: &[f64]) -> f64 {
    median(
        whole
            .iter()
            .zip(parse)
            .map(|(w, p)| w / p.max(1e-9))
            .collect(),
    )
}

/// The analysis's target, against the parse alone (issue 12) and against the parse with squawk's
/// own validation (`Parse::errors()`: two more walks of the tree and a second parse of every SQL
/// function body). Syntax errors are reported as squawk reports them, so the validation is part
/// of every analysis, and alone it costs about as much as the parse: against the parse alone,
/// 1.3x cannot be met; the proposed target allows the same 30% over the grammar's whole work.
const TARGET: f64 = 1.3;

fn report_ratio(what: &str, whole: &[f64], parse: &[f64], with_errors: &[f64]) {
    let above = |r: f64| if r > TARGET { "  ABOVE TARGET" } else { "" };
    let r = ratio(whole, parse);
    println!(
        "  {what} / parse CPU time: {r:.2}x (target: at most {TARGET:.2}x){}",
        above(r)
    );
    let v = ratio(with_errors, parse) - 1.0;
    println!("  squawk's validation alone / parse CPU time: {v:.2}x");
    let r = ratio(whole, with_errors);
    println!(
        "  {what} / (parse + squawk's own validation) CPU time: {r:.2}x (proposed target: at most \
         {TARGET:.2}x){}",
        above(r)
    );
}

/// Parses every file (and with `errors`, collects squawk's syntax errors, its validation
/// included), as squawk itself does per file.
fn parse_all(files: &[(PathBuf, String)], errors: bool) {
    for (_, text) in files {
        let parse = squawk_syntax::SourceFile::parse(black_box(text));
        if errors {
            black_box(parse.errors());
        }
        black_box(parse);
    }
}

/// The migration files of a corpus directory, in name order.
fn corpus(dir: &str) -> Vec<(PathBuf, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

/// Enough rounds for about 8 MB of text per part.
fn rounds_for(bytes: usize) -> usize {
    ((8 << 20) / bytes.max(1)).clamp(15, 200)
}

/// The parse against the whole analysis on one corpus of real migrations.
fn bench_corpus(dir: &str) {
    let files = corpus(dir);
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    println!("== {dir}: {} files, {bytes} bytes", files.len());
    // As `lockstep lint DIR` runs without a database: the history from the first migration.
    let opts = LintOptions {
        chain: Chain::History,
        catalog: Catalog::empty_database(),
        ..LintOptions::default()
    };
    let report = lint_files(&files, &opts);
    let cpu = rounds(
        rounds_for(bytes),
        &mut [
            part("SourceFile::parse, every file (the grammar alone)", || {
                parse_all(&files, false)
            }),
            part("SourceFile::parse + errors() (squawk's validation)", || {
                parse_all(&files, true)
            }),
            part("lint_files (the whole analysis)", || {
                black_box(lint_files(black_box(&files), &opts));
            }),
            part("render gcc", || {
                black_box(render::gcc(black_box(&report)));
            }),
            part("render JSON", || {
                let mut out = Vec::new();
                render::write_json(black_box(&report), &mut out).expect("writes to memory");
                black_box(out);
            }),
        ],
    );
    report_ratio("analysis", &cpu[2], &cpu[0], &cpu[1]);
}

/// The generated 1 MB migration, and 200 small ones.
fn bench_generated() {
    let text = migration(1 << 20);
    let ctx = AnalysisContext::default();
    let statements = analyze(&text, &ctx).statements.len();
    println!(
        "== generated 1 MB migration: {} bytes, {statements} statements",
        text.len()
    );
    let cpu = rounds(
        15,
        &mut [
            part("SourceFile::parse(1 MB) (the grammar alone)", || {
                black_box(squawk_syntax::SourceFile::parse(black_box(&text)));
            }),
            part("SourceFile::parse(1 MB) + errors()", || {
                black_box(squawk_syntax::SourceFile::parse(black_box(&text)).errors());
            }),
            part("analyze(1 MB)", || {
                black_box(analyze(black_box(&text), &ctx));
            }),
        ],
    );
    report_ratio("analyze", &cpu[2], &cpu[0], &cpu[1]);

    let files: Vec<(PathBuf, String)> = (0..200)
        .map(|i| (PathBuf::from(format!("{i:04}_m.sql")), migration(2_000)))
        .collect();
    println!("== generated: 200 files × 2 KB");
    let cpu = rounds(
        15,
        &mut [
            part("SourceFile::parse, every file", || parse_all(&files, false)),
            part("SourceFile::parse + errors(), every file", || {
                parse_all(&files, true)
            }),
            part("lint_files(200 files × 2 KB)", || {
                black_box(lint_files(black_box(&files), &LintOptions::default()));
            }),
        ],
    );
    report_ratio("lint_files", &cpu[2], &cpu[0], &cpu[1]);
}

fn main() {
    let dirs: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if dirs.is_empty() {
        bench_generated();
    }
    for dir in &dirs {
        bench_corpus(dir);
    }
}
