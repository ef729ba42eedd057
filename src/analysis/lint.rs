//! Linting a set of migration files of one run: per-file transaction mode, the "new tables"
//! chain across files, and a stable order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use super::catalog::Catalog;
use super::engine::{
    Prepared, Prior, SMALL_TEXT, WORKER_TEXT, prepare, prepare_on_worker, stack_size_for,
};
use super::types::{Analysis, AnalysisContext, Runner, Severity};
use crate::sql::Sections;

/// Options for [`lint_files`].
#[derive(Debug, Clone, Serialize)]
pub struct LintOptions {
    /// Target server major version (see [`AnalysisContext::pg_version`]).
    pub pg_version: u32,
    /// Whether the runner wraps each file in a transaction unless it opts out (sqlx: yes).
    pub runner_wraps_in_transaction: bool,
    /// The tool that runs the files (see [`AnalysisContext::runner`]).
    pub runner: Runner,
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
    /// Keep each statement's analysis (its locks, its text) in the report. Without, each file's
    /// statements are let go once its findings are known: an output of findings only (`gcc`,
    /// `github`) holds a whole history's findings, not megabytes of lock facts it never shows.
    pub keep_statements: bool,
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

impl Default for Chain {
    /// Every file part of one run.
    fn default() -> Self {
        Chain::Run {
            applied_before: None,
        }
    }
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
            runner: Runner::Sqlx,
            session_lock_timeout: false,
            session_statement_timeout: false,
            new_tables: BTreeSet::new(),
            catalog: Catalog::default(),
            chain: Chain::default(),
            keep_statements: true,
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

    /// How many files were checked (a goose or dbmate file is one, though its UP and DOWN are
    /// two analyses).
    pub fn file_count(&self) -> usize {
        let paths: std::collections::HashSet<&PathBuf> =
            self.files.iter().map(|f| &f.path).collect();
        paths.len()
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

/// The tool of a migration kept in a folder of its own, known by the file's name: diesel's
/// `up.sql` and `down.sql` (its `metadata.toml` decides the transaction, not a comment in the
/// file), Prisma's `migration.sql`. The folder's name carries the version.
pub fn folder_runner(path: &Path) -> Option<Runner> {
    match path.file_name()?.to_str()? {
        "down.sql" => Some(Runner::Diesel),
        name => FOLDER_MIGRATIONS
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, runner)| *runner),
    }
}

/// The file that applies a migration kept in a folder of its own, by tool.
const FOLDER_MIGRATIONS: [(&str, Runner); 2] = [
    ("up.sql", Runner::Diesel),
    ("migration.sql", Runner::Prisma),
];

/// The file of `folder` that applies its migration, when it is a diesel or Prisma migration's
/// folder, with the tool.
pub fn folder_migration(folder: &Path) -> Option<(PathBuf, Runner)> {
    FOLDER_MIGRATIONS
        .iter()
        .map(|(file, runner)| (folder.join(file), *runner))
        .find(|(file, _)| file.is_file())
}

/// Whether a file is a diesel migration's (`up.sql` or `down.sql` in a folder of its own).
pub fn is_diesel_file(path: &Path) -> bool {
    folder_runner(path) == Some(Runner::Diesel)
}

/// Whether a file is a down migration (`….down.sql`, diesel's `down.sql`).
pub fn is_down_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".down.sql") || n == "down.sql")
}

/// The numeric version prefix of a migration file name (`20240101120000_add_x.sql` →
/// 20240101120000); for diesel's `2024-01-01-120000_add_x/up.sql` and Prisma's
/// `20240101120000_add_x/migration.sql`, of its directory, dashes removed.
///
/// Prisma applies its folders in name order, where `20250625_x` comes after every
/// `20250625…_y` of Prisma's 14-digit timestamps: a shorter prefix is filled with 9s to 14
/// digits, so that the versions sort as the names do.
pub fn version_of(path: &Path) -> Option<u128> {
    let folder = folder_runner(path);
    let name = if folder.is_some() {
        path.parent()?.file_name()?.to_str()?
    } else {
        path.file_name()?.to_str()?
    };
    // (Folded as they come: no string of the digits per file.)
    let mut digits = name
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'-')
        .filter(u8::is_ascii_digit)
        .peekable();
    digits.peek()?;
    let (version, count) = digits.try_fold((0u128, 0u32), |(n, count), d| {
        Some((
            n.checked_mul(10)?.checked_add(u128::from(d - b'0'))?,
            count + 1,
        ))
    })?;
    if folder == Some(Runner::Prisma) && count < PRISMA_TIMESTAMP_DIGITS {
        let fill = 10u128.pow(PRISMA_TIMESTAMP_DIGITS - count);
        return Some(version * fill + (fill - 1));
    }
    Some(version)
}

/// The digits of the timestamp that starts the name of a migration Prisma writes
/// (`YYYYMMDDHHMMSS`).
const PRISMA_TIMESTAMP_DIGITS: u32 = 14;

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
/// `metadata.toml` beside an `up.sql` or `down.sql` with `run_in_transaction = false` (it holds
/// for both directions).
fn tool_runs_outside_transaction(path: &Path) -> bool {
    if !is_diesel_file(path) {
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
    // A goose or dbmate file is analysed as its UP section and, after it, as its DOWN section,
    // the rest blanked each time (lines and columns stay the file's own).
    let mut order: Vec<Part> = Vec::with_capacity(files.len());
    for (path, text) in files {
        let sections = crate::sql::sections(text).filter(|_| folder_runner(path).is_none());
        let Some(sections) = sections else {
            order.push(Part {
                path,
                text,
                is_down: is_down_file(path),
                section: None,
            });
            continue;
        };
        let sections = std::sync::Arc::new(sections);
        for is_down in [false, true] {
            let ranges = if is_down {
                &sections.down
            } else {
                &sections.up
            };
            if is_down && ranges.is_empty() {
                continue;
            }
            // (The sections start and end at line breaks and comments: blanking splits no
            // character. Were it ever to, the file is analysed whole, as before sections.)
            let section =
                crate::sql::blank_outside(text, ranges).map(|blanked| (sections.clone(), blanked));
            if section.is_none() && is_down {
                continue;
            }
            order.push(Part {
                path,
                text,
                is_down,
                section,
            });
        }
    }
    order.sort_by_cached_key(|part| (version_of(part.path), part.is_down, part.path));
    let texts: Vec<&str> = order
        .iter()
        .map(|part| {
            part.section
                .as_ref()
                .map_or(part.text.as_str(), |(_, blanked)| blanked)
        })
        .collect();
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
        runner: opts.runner,
    };
    let mut out = Vec::with_capacity(order.len());
    // The rules run here, file after file in run order, while later files are still parsing.
    prepare_in_order(&texts, opts.pg_version, |i, prepared| {
        let Part {
            path,
            text,
            is_down,
            ref section,
        } = order[i];
        let sections = section.as_ref().map(|(sections, _)| &**sections);
        // diesel's, Prisma's, goose's or dbmate's, whatever the option says.
        let folder = folder_runner(path);
        let no_transaction = match (folder, sections) {
            (Some(Runner::Diesel), _) => tool_runs_outside_transaction(path),
            (Some(_), _) => false,
            (None, Some(sections)) if is_down => sections.down_no_transaction,
            (None, Some(sections)) => sections.no_transaction,
            (None, None) => text.starts_with(NO_TRANSACTION_MARKER),
        };
        ctx.runner = match (folder, sections) {
            (Some(runner), _) => runner,
            (None, Some(sections)) => sections.tool.into(),
            (None, None) => opts.runner,
        };
        ctx.in_transaction = match (folder, sections) {
            (Some(Runner::Diesel), _) | (None, Some(_)) => !no_transaction,
            _ => opts.runner_wraps_in_transaction && !no_transaction,
        };
        // golang-migrate and Prisma send the file as one query, dbmate a `transaction:false`
        // section: several statements are one implicit transaction (atomic, locks held to its
        // end, no CONCURRENTLY), one is none.
        if ctx.runner.sends_file_as_one_query() || (ctx.runner == Runner::Dbmate && no_transaction)
        {
            ctx.in_transaction = prepared.one_query_is_one_transaction();
        }
        let (mut analysis, changes) = prior.run(prepared, texts[i], &ctx);
        if chain && !is_down {
            let same_run = match opts.chain {
                Chain::History => false,
                Chain::Run { applied_before } => {
                    applied_before.is_none_or(|first| version_of(path).is_some_and(|v| v >= first))
                }
            };
            prior.absorb(&analysis, changes, same_run);
        }
        if !opts.keep_statements {
            analysis.statements = Vec::new();
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

/// One analysis of a lint run: a file, or one section (UP or DOWN) of a goose or dbmate file.
struct Part<'a> {
    path: &'a PathBuf,
    text: &'a String,
    /// A DOWN file or section: analysed against what the migrations up to its own left, and
    /// leaving nothing for the later ones.
    is_down: bool,
    /// The file's sections, and its text with everything but this section blanked.
    section: Option<(std::sync::Arc<Sections>, String)>,
}

/// Below this many bytes in total, one thread parses and runs the rules: the parse of more takes
/// longer than starting another thread (about 0.1 ms).
const PARALLEL_THRESHOLD: usize = 16 * 1024;

/// Threads take consecutive files of about this many bytes at a time: a worker hands them back
/// together (one wake-up of the lead per run of files rather than per file), and runs are small
/// enough that the rules start soon after the first one.
const RUN_BYTES: usize = 4 * 1024;

/// Parses and describes every text, and hands each result to `each` in input order, as soon as it
/// and all before it are ready.
///
/// One thread per core, and no more: a *lead* runs `each` in order and, whenever the next text
/// is not ready, parses the earliest text nobody has taken; the other threads parse the largest
/// texts nobody has taken (so a big file is not left to the end, where the rules of the files
/// after it would wait for it). With more threads than cores, the lead would sit runnable but
/// unscheduled while workers parse, and the rules would pile up at the end. The lead runs on
/// this thread when every text is too small to nest deeply; otherwise on a thread with a big
/// stack, like the workers (starting one for them all costs less than a thread per file).
fn prepare_in_order(texts: &[&str], pg_version: u32, each: impl FnMut(usize, Prepared) + Send) {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    let threads = if total < PARALLEL_THRESHOLD {
        1
    } else {
        crate::cores()
    };
    prepare_on_threads(texts, pg_version, threads, each);
}

/// [`prepare_in_order`] on at most `threads` threads, the lead included.
fn prepare_on_threads(
    texts: &[&str],
    pg_version: u32,
    threads: usize,
    each: impl FnMut(usize, Prepared) + Send,
) {
    let runs = runs_of(texts, RUN_BYTES);
    let claims = Claims::new(&runs, texts);
    let workers = threads.min(runs.len()).saturating_sub(1);
    let small = texts.iter().all(|t| t.len() <= SMALL_TEXT);
    let lead = Lead {
        texts,
        pg_version,
        runs: &runs,
        claims: &claims,
    };
    // Locked once, by whichever thread leads.
    let each = std::sync::Mutex::new(each);
    let each = || {
        each.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    std::thread::scope(|scope| {
        let (sender, results) = mpsc::channel::<Vec<(usize, Prepared)>>();
        let (lead, each) = (&lead, &each);
        // The lead starts before the workers: started after them, it waited up to a few
        // milliseconds for a core (on a 2-core VM) while this thread sat in `join`.
        let (leading, here) = if small {
            (None, Some(results))
        } else {
            let leading = big_stack_thread().spawn_scoped(scope, move || {
                lead.run(results, prepare_on_worker, &mut *each());
            });
            match leading {
                Ok(handle) => (Some(handle), None),
                // No thread for the lead: this one leads, each big text on a thread of its own
                // (the workers' results went with the thread that did not start).
                Err(_) => (None, Some(mpsc::channel().1)),
            }
        };
        let mut started = Vec::with_capacity(workers);
        for _ in 0..workers {
            let sender = sender.clone();
            let (runs, claims) = (&runs, &claims);
            let worker = move || {
                while let Some(run) = claims.largest() {
                    let prepared = runs[run]
                        .clone()
                        .map(|i| (i, prepare_on_worker(texts[i], pg_version)))
                        .collect();
                    if sender.send(prepared).is_err() {
                        break;
                    }
                }
            };
            // A worker that cannot start leaves its share to the others and the lead.
            started.extend(big_stack_thread().spawn_scoped(scope, worker));
        }
        drop(sender);
        if let Some(handle) = leading {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        } else if let Some(results) = here {
            lead.run(results, prepare, &mut *each());
        }
        // Joined here, so a worker's panic (its texts were parsed again) is not re-raised.
        for worker in started {
            let _ = worker.join();
        }
    });
}

/// A thread with a stack that parses any text up to [`WORKER_TEXT`] right there.
fn big_stack_thread() -> std::thread::Builder {
    std::thread::Builder::new()
        .name("lockstep-lint".to_string())
        .stack_size(stack_size_for(WORKER_TEXT))
}

/// The thread that runs the rules in order (see [`prepare_in_order`]).
struct Lead<'a> {
    texts: &'a [&'a str],
    pg_version: u32,
    runs: &'a [std::ops::Range<usize>],
    claims: &'a Claims,
}

impl Lead<'_> {
    /// Runs `each` on every text in order, parsing with `prepare` what the workers (sending on
    /// `results`) have not taken.
    fn run(
        &self,
        results: mpsc::Receiver<Vec<(usize, Prepared)>>,
        prepare: fn(&str, u32) -> Prepared,
        each: &mut impl FnMut(usize, Prepared),
    ) {
        let mut ready: Vec<Option<Prepared>> = self.texts.iter().map(|_| None).collect();
        let mut handed = 0;
        let keep = |ready: &mut Vec<Option<Prepared>>, batch: Vec<(usize, Prepared)>| {
            for (i, prepared) in batch {
                ready[i] = Some(prepared);
            }
        };
        while handed < self.texts.len() {
            while let Ok(batch) = results.try_recv() {
                keep(&mut ready, batch);
            }
            if let Some(prepared) = ready[handed].take() {
                each(handed, prepared);
                handed += 1;
                continue;
            }
            if let Some(run) = self.claims.first() {
                for i in self.runs[run].clone() {
                    ready[i] = Some(prepare(self.texts[i], self.pg_version));
                }
                continue;
            }
            // Everything is taken: wait for the workers. None left (one died): parse the rest.
            match results.recv() {
                Ok(batch) => keep(&mut ready, batch),
                Err(_) => {
                    ready[handed] = Some(prepare(self.texts[handed], self.pg_version));
                }
            }
        }
    }
}

/// Which runs of texts a thread has taken: the lead takes the earliest free one, workers the
/// largest.
struct Claims {
    taken: Vec<AtomicBool>,
    /// Run indexes, largest first.
    by_size: Vec<usize>,
    /// Where the lead's and the workers' searches resume (everything before is taken).
    first_from: AtomicUsize,
    largest_from: AtomicUsize,
}

impl Claims {
    fn new(runs: &[std::ops::Range<usize>], texts: &[&str]) -> Claims {
        let bytes = |run: &std::ops::Range<usize>| -> usize {
            texts[run.clone()].iter().map(|t| t.len()).sum()
        };
        let mut by_size: Vec<usize> = (0..runs.len()).collect();
        by_size.sort_by_key(|&r| std::cmp::Reverse(bytes(&runs[r])));
        Claims {
            taken: runs.iter().map(|_| AtomicBool::new(false)).collect(),
            by_size,
            first_from: AtomicUsize::new(0),
            largest_from: AtomicUsize::new(0),
        }
    }

    fn take(&self, run: usize) -> bool {
        !self.taken[run].swap(true, Ordering::Relaxed)
    }

    /// The earliest run nobody has taken, now taken.
    fn first(&self) -> Option<usize> {
        let from = self.first_from.load(Ordering::Relaxed);
        let run = (from..self.taken.len()).find(|&r| self.take(r));
        self.first_from
            .store(run.map_or(self.taken.len(), |r| r + 1), Ordering::Relaxed);
        run
    }

    /// The largest run nobody has taken, now taken.
    fn largest(&self) -> Option<usize> {
        let from = self.largest_from.load(Ordering::Relaxed);
        let at = (from..self.by_size.len()).find(|&k| self.take(self.by_size[k]));
        self.largest_from
            .fetch_max(at.map_or(self.by_size.len(), |k| k + 1), Ordering::Relaxed);
        at.map(|k| self.by_size[k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_leading_digits() {
        let v = |p: &str| version_of(Path::new(p));
        assert_eq!(v("m/20240101120000_add_x.sql"), Some(20240101120000));
        assert_eq!(v("0001_networks.sql"), Some(1));
        assert_eq!(v("m/2024-01-01-120000_add_x/up.sql"), Some(20240101120000));
        assert_eq!(
            v("m/2024-01-01-120000_add_x/down.sql"),
            Some(20240101120000)
        );
        assert_eq!(v("add_x.sql"), None);
        assert_eq!(v("--_x.sql"), None);
        assert_eq!(v("12a3.sql"), Some(12));
        // More digits than a u128 holds.
        assert_eq!(v(&format!("{}_x.sql", "9".repeat(40))), None);
        assert_eq!(
            v(&format!("{}_x.sql", "9".repeat(38))),
            Some("9".repeat(38).parse().unwrap())
        );
        // Prisma's folders, in the order Prisma applies them: by name.
        assert_eq!(v("m/20240101120000_x/migration.sql"), Some(20240101120000));
        let mut names = [
            "m/20250626000000_c/migration.sql",
            "m/20250625_b/migration.sql",
            "m/20250625235959_a/migration.sql",
        ];
        names.sort_by_key(|p| v(p));
        let mut by_name = names;
        by_name.sort();
        assert_eq!(names, by_name);
        // Not for sqlx's files, whose versions are numbers.
        assert_eq!(v("m/20250625_b.sql"), Some(20250625));
    }

    #[test]
    fn without_statements_the_findings_and_the_chain_are_the_same() {
        // The second file's findings depend on what the first created (pre-existing, indexed).
        let files = vec![
            (
                PathBuf::from("1_a.sql"),
                "CREATE TABLE t (id int, c int);\nCREATE INDEX t_c ON t (c);".to_string(),
            ),
            (
                PathBuf::from("2_b.sql"),
                "ALTER TABLE t ADD COLUMN d int NOT NULL;\nDROP INDEX t_c;".to_string(),
            ),
        ];
        let opts = LintOptions {
            catalog: Catalog::empty_database(),
            chain: Chain::History,
            ..LintOptions::default()
        };
        let whole = lint_files(&files, &opts);
        let lean = lint_files(
            &files,
            &LintOptions {
                keep_statements: false,
                ..opts
            },
        );
        assert!(whole.files[1].analysis.findings.len() >= 2);
        assert!(!whole.files[1].analysis.statements.is_empty());
        for (whole, lean) in whole.files.iter().zip(&lean.files) {
            assert!(lean.analysis.statements.is_empty());
            assert_eq!(
                serde_json::to_string(&lean.analysis.findings).unwrap(),
                serde_json::to_string(&whole.analysis.findings).unwrap()
            );
        }
    }

    /// The rules see every file in order whatever the threads, and the results are the same.
    #[test]
    fn any_number_of_threads_gives_the_same_results_in_order() {
        let texts: Vec<String> = (0..40)
            .map(|k| {
                // Sizes from tiny to several runs' worth, out of order.
                let filler = "UPDATE t SET note = 'x' WHERE id = 1;\n".repeat((k * 37) % 150);
                format!("{filler}CREATE INDEX i{k} ON t{k} (id);\nALTER TABLE t{k} ADD c int;\n")
            })
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ctx = AnalysisContext::default();
        let run = |threads: usize| {
            let mut seen = Vec::new();
            prepare_on_threads(&texts, 15, threads, |i, prepared| {
                let analysis = super::super::engine::run(prepared, texts[i], &ctx);
                seen.push((i, serde_json::to_string(&analysis).unwrap()));
            });
            seen
        };
        let one = run(1);
        assert_eq!(
            one.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..texts.len()).collect::<Vec<_>>()
        );
        for threads in [2, 3, 8] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
    }
}
