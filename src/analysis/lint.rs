//! Linting a set of migration files of one run: per-file transaction mode, the "new tables"
//! chain across files, and a stable order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use super::catalog::Catalog;
use super::engine::{
    Prepared, Prior, SMALL_TEXT, WORKER_TEXT, prepare, prepare_on_worker, stack_size_for,
};
use super::types::{Analysis, AnalysisContext, Severity};

/// Options for [`lint_files`].
#[derive(Debug, Clone, Serialize)]
pub struct LintOptions {
    /// Target server major version (see [`AnalysisContext::pg_version`]).
    pub pg_version: u32,
    /// Whether the runner wraps each file in a transaction unless it opts out (sqlx: yes).
    pub runner_wraps_in_transaction: bool,
    /// lockstep sets `lock_timeout` for its session.
    pub session_lock_timeout: bool,
    /// lockstep sets `statement_timeout` for its session.
    pub session_statement_timeout: bool,
    /// Relations known to be new before the first file (rarely needed).
    pub new_tables: BTreeSet<String>,
    /// The schema the first file meets (empty: nothing known; or read from the database).
    pub catalog: Catalog,
    /// How the files relate to each other.
    pub chain: Chain,
}

/// How the files of one lint relate to each other. Either way each file meets the schema the
/// files before it produced (the schema model is replayed from file to file); what differs is
/// whether what they created is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chain {
    /// The earlier files are applied already (production has run them for a while): what they
    /// created is pre-existing, and only what a file creates itself is new to it.
    History,
    /// The files are applied together in one run: what an earlier file of the run created is
    /// new (empty, not yet used by production) for the later ones. Files whose version is below
    /// `applied_before` count as applied already (as in [`Chain::History`]).
    Run {
        /// The first version of the run (`None`: every file is part of it).
        applied_before: Option<u128>,
    },
}

impl LintOptions {
    /// Options for files that lockstep will run on a server of `pg_version`, with the session
    /// timeouts lockstep sets itself (they count as set, as if each migration began with `SET`).
    pub fn for_session(
        pg_version: u32,
        session_lock_timeout: bool,
        session_statement_timeout: bool,
    ) -> LintOptions {
        LintOptions {
            pg_version,
            session_lock_timeout,
            session_statement_timeout,
            ..LintOptions::default()
        }
    }
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            pg_version: 15,
            runner_wraps_in_transaction: true,
            session_lock_timeout: false,
            session_statement_timeout: false,
            new_tables: BTreeSet::new(),
            catalog: Catalog::default(),
            chain: Chain::Run {
                applied_before: None,
            },
        }
    }
}

/// One linted file.
#[derive(Debug, Clone, Serialize)]
pub struct LintedFile {
    /// The path as given.
    pub path: PathBuf,
    /// The file text (renderers quote it).
    #[serde(skip)]
    pub text: String,
    /// The file starts with `-- no-transaction`.
    pub no_transaction: bool,
    /// A `.down.sql` file.
    pub is_down: bool,
    /// The analysis.
    pub analysis: Analysis,
}

/// The result of linting a run's files.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// The server major version the files were analysed for.
    pub pg_version: u32,
    /// Files in run order.
    pub files: Vec<LintedFile>,
}

impl LintReport {
    /// Counts of remaining findings by severity: (errors, warnings, infos).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for finding in self.files.iter().flat_map(|f| &f.analysis.findings) {
            match finding.severity {
                Severity::Error => counts.0 += 1,
                Severity::Warning => counts.1 += 1,
                Severity::Info => counts.2 += 1,
            }
        }
        counts
    }

    /// Whether any error-level finding remains.
    pub fn has_errors(&self) -> bool {
        self.files.iter().any(|f| f.analysis.has_errors())
    }
}

/// `texts` cut into runs of consecutive indexes of at least `bytes` bytes each (the last one may
/// be smaller).
fn runs_of(texts: &[&str], bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, text) in texts.iter().enumerate() {
        size += text.len();
        if size >= bytes {
            runs.push(start..i + 1);
            (start, size) = (i + 1, 0);
        }
    }
    if start < texts.len() {
        runs.push(start..texts.len());
    }
    runs
}

/// sqlx's marker: a migration whose text starts with it runs outside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- no-transaction";

/// Whether a file is a down migration (`….down.sql`, diesel's `down.sql`).
pub fn is_down_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".down.sql") || n == "down.sql")
}

/// The numeric version prefix of a migration file name (`20240101120000_add_x.sql` →
/// 20240101120000); for diesel's `2024-01-01-120000_add_x/up.sql`, of its directory, dashes
/// removed.
pub fn version_of(path: &Path) -> Option<u128> {
    let name = path.file_name()?.to_str()?;
    let name = if matches!(name, "up.sql" | "down.sql") {
        path.parent()?.file_name()?.to_str()?
    } else {
        name
    };
    let digits: String = name
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .filter(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Lints migration files in order: sorted by version (up before down), each analysed with its
/// own transaction mode, against the schema the earlier *up* files produced, and with what they
/// created new or pre-existing as [`LintOptions::chain`] says.
pub fn lint_files(files: &[(PathBuf, String)], opts: &LintOptions) -> LintReport {
    lint(files, opts, true)
}

/// Lints migration files each on its own, against [`LintOptions::catalog`] only: for migrations
/// already applied, or DOWN files, whose surroundings are the database as it is.
pub fn lint_each(files: &[(PathBuf, String)], opts: &LintOptions) -> LintReport {
    lint(files, opts, false)
}

/// What a `-- no-transaction`-like setting of the file's migration tool says: diesel's
/// `metadata.toml` beside an `up.sql` with `run_in_transaction = false`.
fn tool_runs_outside_transaction(path: &Path) -> bool {
    if path.file_name().and_then(|n| n.to_str()) != Some("up.sql") {
        return false;
    }
    let Some(metadata) = path
        .parent()
        .and_then(|dir| std::fs::read_to_string(dir.join("metadata.toml")).ok())
    else {
        return false;
    };
    metadata
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("run_in_transaction").and_then(|v| v.as_bool()))
        == Some(false)
}

fn lint(files: &[(PathBuf, String)], opts: &LintOptions, chain: bool) -> LintReport {
    let mut order: Vec<&(PathBuf, String)> = files.iter().collect();
    order.sort_by_cached_key(|(path, _)| (version_of(path), is_down_file(path), path));
    let texts: Vec<&str> = order.iter().map(|(_, text)| text.as_str()).collect();
    // Without a chain every file meets the options' state; with one, what the files before it left.
    let mut prior = Prior::new(opts.new_tables.clone(), opts.catalog.clone());
    // One context for the run; only the transaction mode changes per file.
    let mut ctx = AnalysisContext {
        pg_version: opts.pg_version,
        in_transaction: opts.runner_wraps_in_transaction,
        new_tables: BTreeSet::new(),
        session_lock_timeout: opts.session_lock_timeout,
        session_statement_timeout: opts.session_statement_timeout,
        catalog: Catalog::default(),
    };
    let mut out = Vec::with_capacity(order.len());
    // The rules run here, file after file in run order, while later files are still parsing.
    prepare_in_order(&texts, opts.pg_version, |i, prepared| {
        let (path, text) = order[i];
        let no_transaction =
            text.starts_with(NO_TRANSACTION_MARKER) || tool_runs_outside_transaction(path);
        let is_down = is_down_file(path);
        ctx.in_transaction = opts.runner_wraps_in_transaction && !no_transaction;
        let (analysis, changes) = prior.run(prepared, text, &ctx);
        if chain && !is_down {
            let same_run = match opts.chain {
                Chain::History => false,
                Chain::Run { applied_before } => {
                    applied_before.is_none_or(|first| version_of(path).is_some_and(|v| v >= first))
                }
            };
            prior.absorb(&analysis, changes, same_run);
        }
        out.push(LintedFile {
            path: path.clone(),
            text: text.clone(),
            no_transaction,
            is_down,
            analysis,
        });
    });
    LintReport {
        pg_version: opts.pg_version,
        files: out,
    }
}

/// Below this many bytes in total, one worker thread parses (while this one runs the rules): the
/// parse of more takes longer than starting another thread (about 0.1 ms).
const PARALLEL_THRESHOLD: usize = 16 * 1024;

/// Workers take consecutive files of about this many bytes at a time and hand them back together:
/// one wake-up of the calling thread per run of files rather than per file, and runs small enough
/// that the rules start soon after the first one.
const RUN_BYTES: usize = 4 * 1024;

/// Parses and describes every text on worker threads (as many as the machine has cores, or one
/// for a small total), and hands each result to `each` on the calling thread in input order, as
/// soon as it and all before it are ready. Texts too small to nest deeply are parsed right here
/// instead; the others need a worker's big stack, and starting one worker for them all costs less
/// than a thread per file.
fn prepare_in_order(texts: &[&str], pg_version: u32, mut each: impl FnMut(usize, Prepared)) {
    if texts.iter().all(|t| t.len() <= SMALL_TEXT) {
        for (i, text) in texts.iter().enumerate() {
            each(i, prepare(text, pg_version));
        }
        return;
    }
    let total: usize = texts.iter().map(|t| t.len()).sum();
    // (Asking for the core count reads cgroup files: only when it can matter.)
    let threads = if total < PARALLEL_THRESHOLD {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(texts.len())
    };
    let runs = runs_of(texts, RUN_BYTES);
    let next = AtomicUsize::new(0);
    let mut ready: Vec<Option<Prepared>> = texts.iter().map(|_| None).collect();
    let mut handed = 0;
    std::thread::scope(|scope| {
        let (sender, results) = mpsc::channel::<Vec<(usize, Prepared)>>();
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let sender = sender.clone();
            let (runs, next) = (&runs, &next);
            let worker = move || {
                while let Some(run) = runs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let prepared = run
                        .clone()
                        .map(|i| (i, prepare_on_worker(texts[i], pg_version)))
                        .collect();
                    if sender.send(prepared).is_err() {
                        break;
                    }
                }
            };
            // A worker that cannot start leaves its share to the others (or to the loop below).
            workers.extend(
                std::thread::Builder::new()
                    .name("lockstep-lint".to_string())
                    .stack_size(stack_size_for(WORKER_TEXT))
                    .spawn_scoped(scope, worker),
            );
        }
        drop(sender);
        for run in results {
            for (i, prepared) in run {
                ready[i] = Some(prepared);
            }
            while let Some(prepared) = ready.get_mut(handed).and_then(Option::take) {
                each(handed, prepared);
                handed += 1;
            }
        }
        // Joined here, so a worker's panic is not re-raised by the scope.
        for worker in workers {
            let _ = worker.join();
        }
    });
    // Texts whose worker died (or never started) are prepared here.
    for (i, text) in texts.iter().enumerate().skip(handed) {
        let prepared = ready[i].take().unwrap_or_else(|| prepare(text, pg_version));
        each(i, prepared);
    }
}
