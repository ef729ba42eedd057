//! `lockstep lint`: the safety analysis of migration files, for people (rustc style), editors
//! (gcc one-liners), scripts (JSON), code scanning (SARIF) and GitHub Actions (annotations).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use color_eyre::eyre::{Result, WrapErr, eyre};
use sqlx::postgres::PgConnection;

use super::{Project, print_error};
use crate::analysis::lint::{Chain, folder_runner, is_down_file, version_of};
use crate::analysis::model::{parse_version, version_from_server_num, version_label};
use crate::analysis::{Catalog, LintOptions, lint_files, render};
use crate::db::{Database, server_version_num};
use crate::runner::read_status;
use crate::source::Severity;
use crate::status::Status;

mod changed;

/// Exit code when lint could not run at all (unreadable path, unreachable database).
const EXIT_CANNOT_LINT: u8 = 2;
/// How long lint waits for the database before going on without it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server version analysed for when neither flag, server nor config names one.
const DEFAULT_PG_VERSION: u32 = 15;

/// Options of `lockstep lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Migration files or directories of them (default: the pending migrations of the
    /// migrations directory; all of them when no database is configured).
    paths: Vec<PathBuf>,
    /// Output: rustc-style text, gcc-style one line per finding, one JSON document, a SARIF 2.1.0
    /// log, or GitHub Actions annotations.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The PostgreSQL version to analyse for, e.g. 16 or 9.6 (default: the configured server's,
    /// else `pg-version` in lockstep.toml, else 15).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pg_version: Option<u32>,
    /// Lint only the migration files added or modified since this git ref (from its merge base
    /// with HEAD to the working tree); an edited migration that was already at the ref is itself
    /// an error.
    #[arg(long, value_name = "REF", conflicts_with = "paths")]
    changed_since: Option<String>,
    /// Treat the migrations with a version below V as applied in production already and the rest
    /// as one deploy: what a migration of the deploy creates is new (empty) for the later ones.
    /// Without it, each named migration meets everything before it as pre-existing; the pending
    /// migrations of a configured database are one deploy.
    #[arg(long, value_name = "V")]
    assume_applied_before: Option<u128>,
    /// The tool that runs the migrations, for its transaction handling: sqlx and diesel wrap each
    /// migration in a transaction (unless `-- no-transaction`, or diesel's `metadata.toml` says
    /// `run_in_transaction = false`); golang-migrate does not, but sends each file as one query,
    /// which PostgreSQL runs as one implicit transaction (unless `x-multi-statement=true`:
    /// `golang-migrate-multi-statement`).
    #[arg(long, value_enum, default_value_t = Runner::Sqlx)]
    runner: Runner,
    /// List every rule with its severity and squawk name, or explain one rule, and exit.
    #[arg(long, value_name = "RULE", num_args = 0..=1, default_missing_value = "")]
    explain: Option<String>,
    /// Apply the fixes the findings offer (as the dashboard's `f` does), then report what is
    /// left. A statement that must run outside the file's transaction moves to a new
    /// `-- no-transaction` migration. Never touches a migration the database has applied.
    #[arg(long)]
    fix: bool,
}

/// The migration tools whose transaction handling lint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runner {
    Sqlx,
    Diesel,
    /// golang-migrate as it runs by default: each file as one query.
    GolangMigrate,
    /// golang-migrate with `x-multi-statement=true`: each statement on its own.
    GolangMigrateMultiStatement,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Gcc,
    Sarif,
    Github,
}

pub(super) async fn run(project: &Project, dir: &Path, args: LintArgs) -> Result<ExitCode> {
    if let Some(rule) = &args.explain {
        let rule = Some(rule.as_str()).filter(|r| !r.is_empty());
        return Ok(
            match render::explain_with(rule, &project.config.lint.policy) {
                Some(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!(
                        "error: there is no rule `{}`; `lockstep lint --explain` lists them",
                        rule.unwrap_or_default()
                    );
                    ExitCode::from(EXIT_CANNOT_LINT)
                }
            },
        );
    }
    match lint(project, dir, &args).await {
        Ok(code) => Ok(code),
        Err(report) => {
            print_error(&report);
            Ok(ExitCode::from(EXIT_CANNOT_LINT))
        }
    }
}

async fn lint(project: &Project, dir: &Path, args: &LintArgs) -> Result<ExitCode> {
    let db = project.configured_database(dir);
    let mut changes = None;
    let (mut files, live, mut named, whole_history) = if let Some(reference) = &args.changed_since {
        let changed = changed::changed_since(
            dir,
            &project.migrations_dir,
            reference,
            &project.config.ignored_chars,
        )?;
        // The added migrations, each against the schema every earlier migration produces.
        let added: Vec<PathBuf> = changed.added.iter().map(|(p, _)| p.clone()).collect();
        let read = read_paths(&added)?;
        changes = Some((reference, changed));
        (read.files, None, Some(read.named), read.whole_history)
    } else if args.paths.is_empty() && holds_folder_migrations(&project.migrations_dir) {
        // lockstep runs none of them, so none is known to be applied: all are linted.
        eprintln!(
            "note: {} holds diesel or Prisma migrations, which lockstep does not run: linting \
             all of them, each against the ones before it",
            project.migrations_dir.display()
        );
        let read = read_paths(std::slice::from_ref(&project.migrations_dir))?;
        (read.files, None, Some(read.named), read.whole_history)
    } else if args.paths.is_empty() {
        let (files, live) = pending_files(project, db.as_ref()).await?;
        (files, live, None, true)
    } else {
        let read = read_paths(&args.paths)?;
        (read.files, None, Some(read.named), read.whole_history)
    };
    let pg_version = match args.pg_version {
        Some(version) => version,
        None => server_version(db.as_ref())
            .await
            .or(project.config.pg_version)
            .unwrap_or(DEFAULT_PG_VERSION),
    };
    let mut options = LintOptions::for_session(
        pg_version,
        project.config.lock_timeout.is_some(),
        project.config.statement_timeout.is_some(),
    );
    options.runner_wraps_in_transaction = !matches!(
        args.runner,
        Runner::GolangMigrate | Runner::GolangMigrateMultiStatement
    );
    options.runner = match args.runner {
        Runner::Sqlx => crate::analysis::Runner::Sqlx,
        Runner::Diesel => crate::analysis::Runner::Diesel,
        Runner::GolangMigrate => crate::analysis::Runner::GolangMigrate,
        Runner::GolangMigrateMultiStatement => crate::analysis::Runner::GolangMigrateMultiStatement,
    };
    // squawk's `assume_in_transaction` stands for the runner when none other is named.
    if args.runner == Runner::Sqlx
        && let Some(wraps) = project.config.lint.assume_in_transaction
    {
        options.runner_wraps_in_transaction = wraps;
    }
    // A pull request's added migrations are deployed together, after everything before them.
    let first_added = changes.as_ref().and_then(|(_, changed)| {
        changed
            .added
            .iter()
            .filter_map(|(p, _)| version_of(p))
            .min()
    });
    options.chain = match args.assume_applied_before.or(first_added) {
        Some(first) => Chain::Run {
            applied_before: Some(first),
        },
        None if live.is_some() => Chain::Run {
            applied_before: None,
        },
        None => Chain::History,
    };
    options.catalog = match live {
        Some(catalog) => catalog,
        None if whole_history => Catalog::empty_database(),
        None => Catalog::default(),
    };
    if args.fix {
        let applied = match (&db, args.paths.is_empty() && args.changed_since.is_none()) {
            (Some(db), false) => applied_paths(project, db).await,
            _ => Vec::new(),
        };
        let fixable = |path: &Path| {
            let named = named.as_ref().is_none_or(|named| named.contains(path));
            let applied = applied.iter().any(|a| same_file(a, path));
            if named && applied {
                eprintln!(
                    "note: not fixing {}: the database has applied it (its checksum is locked); \
                     write the change as a new migration",
                    path.display()
                );
            }
            named && !applied
        };
        let fixable: HashSet<PathBuf> = files
            .iter()
            .map(|(path, _)| path.clone())
            .filter(|path| fixable(path))
            .collect();
        let created;
        (files, created) = fix_files(files, fixable, &options)?;
        if let Some(named) = &mut named {
            named.extend(created);
        }
    }
    // These formats show findings only, not the statements' lock facts (the fixes above needed
    // them).
    options.keep_statements = !matches!(args.format, Format::Gcc | Format::Github);
    let mut report = lint_files(&files, &options);
    // The migrations before a named file were its history: not reported. (When every file is
    // named, as `lint DIR` and `lint DIR/*.sql` have it, there is nothing to look up.)
    if let Some(named) = named
        .as_ref()
        .filter(|named| named.len() < report.files.len())
    {
        report.files.retain(|f| named.contains(&f.path));
    }
    if let Some((reference, changed)) = &changes {
        // An edited migration was deployed already: it is linted against the migrations
        // before it, as history.
        for (path, _) in &changed.modified {
            let read = read_paths(std::slice::from_ref(path))?;
            let mut alone = options.clone();
            alone.chain = Chain::History;
            alone.catalog = if read.whole_history {
                Catalog::empty_database()
            } else {
                Catalog::default()
            };
            let mut edited = lint_files(&read.files, &alone);
            edited.files.retain(|f| read.named.contains(&f.path));
            report.files.extend(edited.files);
        }
        changed::sort_by_version(&mut report);
        changed::report_edited(&mut report, &changed.edited, reference);
    }
    project.config.lint.policy.apply(&mut report);
    let colored = args.format == Format::Human && std::io::stdout().is_terminal();
    // anstream honours NO_COLOR (stripping the colours); plain text has no escapes to strip.
    let out: Box<dyn Write> = if colored {
        Box::new(anstream::stdout().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    if let Some(note) = project.config.lint.squawk_note() {
        // The first line of the output; beside a JSON or SARIF document, on stderr.
        if matches!(args.format, Format::Json | Format::Sarif) {
            anstream::eprintln!("{}", super::output::show(&note));
        } else {
            writeln!(out, "{}", crate::text::visible(&note))?;
        }
    }
    match args.format {
        Format::Human if colored => out.write_all(render::human_colored(&report).as_bytes())?,
        Format::Human => out.write_all(render::human(&report).as_bytes())?,
        Format::Json => {
            render::write_json(&report, &mut out)?;
            out.write_all(b"\n")?;
        }
        Format::Gcc => render::write_gcc(&report, &mut out)?,
        Format::Sarif => {
            render::write_sarif(&report, &mut out)?;
            out.write_all(b"\n")?;
        }
        Format::Github => out.write_all(render::github(&report).as_bytes())?,
    }
    out.flush()?;
    drop(out);
    if args.format == Format::Sarif {
        // stdout is one SARIF document: the summary line goes beside it.
        eprintln!("{}", render::summary_line(&report));
    }
    let code = if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    // The process ends now: leave the (possibly very large) report to the OS instead of
    // freeing it piece by piece.
    std::mem::forget(report);
    std::mem::forget(files);
    Ok(code)
}

/// Files to lint: each path with its text.
type Files = Vec<(PathBuf, String)>;

/// Most fixes applied to one file in a row (each changes the text the next is found in).
const MAX_FIXES_PER_FILE: usize = 64;

/// Applies every fix the findings of the `fixable` ones of `files` offer, one at a time (the
/// files are linted again after each, as one run), printing what was written; returns the files
/// as they are now, with the migrations the fixes created, and the UP files it created.
fn fix_files(
    mut files: Files,
    mut fixable: HashSet<PathBuf>,
    options: &LintOptions,
) -> Result<(Files, Vec<PathBuf>)> {
    let mut created_ups = Vec::new();
    let mut done = 0;
    // Fixes that would change nothing: (file, rule, where), not tried again.
    let mut futile: Vec<(PathBuf, &'static str, usize)> = Vec::new();
    loop {
        let report = lint_files(&files, options);
        let next = report.files.iter().find_map(|file| {
            if !fixable.contains(&file.path) {
                return None;
            }
            let finding = file.analysis.findings.iter().find(|f| {
                f.fix.is_some() && !futile.contains(&(file.path.clone(), f.rule, f.span.start))
            })?;
            Some((file, finding))
        });
        let Some((file, finding)) = next else {
            return Ok((files, created_ups));
        };
        done += 1;
        if done > files.len() * MAX_FIXES_PER_FILE {
            return Err(eyre!(
                "fixes of {} keep producing findings with fixes; stopped after {done} — fix the \
                 rest by hand",
                file.path.display()
            ));
        }
        let dir = file
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let folder = folder_runner(&file.path);
        let set = if folder.is_some() {
            // A diesel or Prisma migration's folder holds no sqlx migrations: the fix is planned
            // without them, and one that needs a new migration is not written.
            crate::source::MigrationSet {
                dir: dir.to_path_buf(),
                migrations: Vec::new(),
                problems: Vec::new(),
            }
        } else {
            crate::source::load(dir, &Default::default())
                .wrap_err_with(|| format!("reading {} for the fix", dir.display()))?
        };
        let description = set
            .migrations
            .iter()
            .find(|m| {
                same_file(&m.up.path, &file.path)
                    || m.down
                        .as_ref()
                        .is_some_and(|d| same_file(&d.path, &file.path))
            })
            .map(|m| m.description.clone())
            .unwrap_or_else(|| "fix".to_string());
        let Some(fix) = crate::source::fix::plan_fix(
            &file.path,
            &file.text,
            &file.analysis,
            finding,
            &description,
        ) else {
            return Ok((files, created_ups));
        };
        if fix.after == fix.before && fix.new_migration.is_none() {
            futile.push((file.path.clone(), finding.rule, finding.span.start));
            continue;
        }
        if !crate::source::fix::resolves(&fix, &report, &files, options, lint_files) {
            anstream::eprintln!(
                "not fixed {}:{}: [{}] {}",
                super::output::show(&fix.path.display().to_string()),
                finding.start.line,
                fix.rule,
                crate::source::fix::UNRESOLVED,
            );
            futile.push((file.path.clone(), finding.rule, finding.span.start));
            continue;
        }
        // diesel's and Prisma's folders, and goose's and dbmate's files (UP and DOWN together),
        // hold no sqlx migrations: no sqlx file goes beside them.
        let other_layout = folder.or_else(|| {
            crate::sql::sections(&file.text).map(|s| crate::analysis::Runner::from(s.tool))
        });
        if let Some(runner) = other_layout
            && fix.new_migration.is_some()
        {
            anstream::eprintln!(
                "not fixed {}: [{}] the fix moves a statement to a new migration, and lockstep \
                 writes sqlx's layout only; create a {} migration for it ({}) and move the \
                 statement there (when it cannot run in a transaction, {})",
                super::output::show(&fix.path.display().to_string()),
                fix.rule,
                runner.name(),
                runner.new_migration_command(),
                runner.outside_transaction(),
            );
            futile.push((file.path.clone(), finding.rule, finding.span.start));
            continue;
        }
        let written = crate::source::fix::write_fix(&set, &fix, chrono::Utc::now())?;
        anstream::eprintln!(
            "fixed {}: [{}] {}",
            super::output::show(&fix.path.display().to_string()),
            fix.rule,
            super::output::show(&fix.description)
        );
        for created in written.iter().skip(1) {
            eprintln!("  created {}", created.display());
        }
        for (path, text) in files.iter_mut() {
            if *path == fix.path {
                *text = fix.after.clone();
            }
        }
        // The new UP file is pending too: lint (and fix) it with the rest.
        for created in written.iter().skip(1) {
            if created.to_string_lossy().ends_with(".down.sql") {
                continue;
            }
            files.push(read(created)?);
            fixable.insert(created.clone());
            created_ups.push(created.clone());
        }
    }
}

/// The files of the migrations the configured database has applied (none when it cannot say).
async fn applied_paths(project: &Project, db: &Database) -> Vec<PathBuf> {
    let Ok(set) = project.migrations() else {
        return Vec::new();
    };
    let Ok(status) = within(db, read_status(db, &set, &project.run_options().table)).await else {
        eprintln!(
            "warning: cannot read what the database has applied; fixing the named files as they \
             are"
        );
        return Vec::new();
    };
    status
        .recorded()
        .filter_map(|v| v.migration.as_ref())
        .flat_map(|m| {
            std::iter::once(m.up.path.clone()).chain(m.down.iter().map(|d| d.path.clone()))
        })
        .collect()
}

/// Whether two paths name the same file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The pending migrations' UP files: against the configured database (with its schema), or all
/// of them without one.
async fn pending_files(
    project: &Project,
    db: Option<&Database>,
) -> Result<(Vec<(PathBuf, String)>, Option<Catalog>)> {
    let set = project.migrations()?;
    for problem in &set.problems {
        if problem.severity == Severity::Error {
            anstream::eprintln!("warning: {}", super::output::show(&problem.to_string()));
        }
    }
    let status = match db {
        Some(db) => within(db, read_status(db, &set, &project.run_options().table))
            .await
            .wrap_err(
                "finding the pending migrations needs the database; to lint files without it, \
                 name them: `lockstep lint migrations/`",
            )?,
        None => {
            eprintln!(
                "note: no database configured (--database-url, DATABASE_URL, .env): linting all \
                 {} migrations of {} as pending",
                set.migrations.len(),
                set.dir.display()
            );
            Status::build(&set, None)
        }
    };
    let catalog = match db {
        Some(db) => Some(live_catalog(db).await?),
        None => None,
    };
    let files = status
        .pending()
        .filter_map(|v| v.migration.as_ref())
        .map(|m| (m.up.path.clone(), m.up.sql.clone()))
        .collect();
    Ok((files, catalog))
}

/// The configured database's schema, which the pending migrations meet.
async fn live_catalog(db: &Database) -> Result<Catalog> {
    let mut conn = connect(db).await?;
    let catalog = within(db, crate::schema::read_catalog(&mut conn))
        .await
        .wrap_err("reading the database's schema for the analysis")?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(catalog)
}

/// The files named on the command line (a directory stands for the migrations in it), and the
/// earlier migrations beside a named file, which it meets as its history.
struct NamedFiles {
    /// Every file to analyse, history included.
    files: Vec<(PathBuf, String)>,
    /// The files to report on (the others are history only).
    named: HashSet<PathBuf>,
    /// Whether the history starts from the first migration (each named file's directory holds
    /// other migrations, so the file is not linted on its own).
    whole_history: bool,
}

/// The migration files of a directory: sqlx, golang-migrate, goose and dbmate keep `.sql` files in
/// it, diesel an `up.sql` and Prisma a `migration.sql` in a directory per migration.
fn migrations_in(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_migrations(dir)?.0)
}

/// [`migrations_in`], and the names of the goose migrations written in Go (`<version>_*.go`),
/// which lint cannot read.
fn list_migrations(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut go = Vec::new();
    let mut inside: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(dir)
        .wrap_err_with(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let p = entry.path();
            // The listing says what most entries are, without a stat each (not for a symlink).
            let is_dir = match entry.file_type() {
                Ok(t) if !t.is_symlink() => t.is_dir(),
                _ => p.is_dir(),
            };
            let found = if is_dir {
                crate::analysis::lint::folder_migration(&p).map(|(file, _)| file)
            } else if p.extension().is_some_and(|e| e == "go") && version_of(&p).is_some() {
                go.push(entry.file_name().to_string_lossy().into_owned());
                None
            } else {
                Some(p).filter(|p| p.extension().is_some_and(|e| e == "sql"))
            };
            found.map(|p| (entry.file_name(), p))
        })
        .collect();
    // In path order: every path is `dir/NAME` or `dir/NAME/FILE`, so the names decide (and
    // comparing them is much cheaper than comparing paths component by component).
    inside.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    go.sort_unstable();
    Ok((inside.into_iter().map(|(_, path)| path).collect(), go))
}

/// Whether `dir` keeps its migrations in a folder each (diesel's, Prisma's).
fn holds_folder_migrations(dir: &Path) -> bool {
    migrations_in(dir).is_ok_and(|found| found.iter().any(|p| folder_runner(p).is_some()))
}

fn read_paths(paths: &[PathBuf]) -> Result<NamedFiles> {
    // Every path read at once (on all cores); a directory stands for the migrations in it.
    let opened = crate::source::parallel_map(paths, |path| read_or_list(path));
    let mut named: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut unreadable = None;
    let mut whole_history = true;
    // Per directory of a named file: the latest named version in it (a list: most runs name
    // one directory's files).
    let mut latest: Vec<(&Path, Option<u128>)> = Vec::new();
    // The named DOWN files, by directory and version: each runs after its own UP.
    let mut downs: Vec<(&Path, u128)> = Vec::new();
    for (path, opened) in paths.iter().zip(opened) {
        let text = match opened {
            Ok(Named::Dir) => {
                let (found, go) = list_migrations(path)?;
                if !go.is_empty() {
                    // Reviewed files after them meet a schema without their changes.
                    eprintln!(
                        "warning: {}: {} migration{} written in Go ({}) not reviewed: lint reads \
                         SQL only, and the files after {} do not know what {} change",
                        path.display(),
                        go.len(),
                        if go.len() == 1 { "" } else { "s" },
                        crate::source::abbreviated_list(&go),
                        if go.len() == 1 { "it" } else { "them" },
                        if go.len() == 1 { "it may" } else { "they may" },
                    );
                }
                if found.is_empty() && go.is_empty() {
                    // Not silence, which a CI job would take for a clean review.
                    eprintln!(
                        "warning: {} holds no migrations lockstep can read: it lints `.sql` \
                         files (sqlx, golang-migrate, goose, dbmate) and folders holding an \
                         up.sql (diesel) or a migration.sql (Prisma)",
                        path.display()
                    );
                }
                named.extend(found.into_iter().map(|p| (p, None)));
                continue;
            }
            Ok(Named::File(text)) => Some(text),
            // Reported once every directory is listed, as the first unreadable file in order.
            Err(e) => {
                unreadable.get_or_insert(e);
                None
            }
        };
        named.push((path.clone(), text));
        let dir = match path.parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => Path::new("."),
        };
        let dir = if folder_runner(path).is_some() {
            dir.parent().unwrap_or(Path::new("."))
        } else {
            dir
        };
        let version = version_of(path);
        whole_history &= version.is_some();
        if is_down_file(path)
            && let Some(version) = version
        {
            downs.push((dir, version));
        }
        match latest.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, slot)) => *slot = (*slot).max(version),
            None => latest.push((dir, version)),
        }
    }
    if let Some(e) = unreadable {
        return Err(e);
    }
    let mut history: Vec<PathBuf> = Vec::new();
    for (dir, version) in &latest {
        // The UP migrations before the named ones in their directory: the schema they meet
        // (a named DOWN's own UP included: it is what the DOWN undoes).
        let siblings = migrations_in(dir).unwrap_or_default();
        whole_history &= siblings.len() > 1;
        let before = |p: &Path| match (version_of(p), version) {
            (Some(a), Some(b)) => a < *b || downs.contains(&(*dir, a)),
            _ => false,
        };
        history.extend(
            siblings
                .into_iter()
                .filter(|p| !is_down_file(p))
                .filter(|p| before(p)),
        );
    }
    // A file named without a directory (`lint *.sql` inside it) is listed back as `./NAME`.
    let without_dot = |p: &Path| -> PathBuf {
        p.components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect()
    };
    // A file named twice (by two globs, or by itself and by its directory) is linted once.
    let mut named_files: HashSet<PathBuf> = HashSet::with_capacity(named.len());
    named.retain(|(p, _)| named_files.insert(without_dot(p)));
    let named_set: HashSet<PathBuf> = named.iter().map(|(p, _)| p.clone()).collect();
    history.retain(|p| !named_files.contains(&without_dot(p)));
    // The files of named directories and the history, read at once too.
    let unread: Vec<&PathBuf> = named
        .iter()
        .filter(|(_, text)| text.is_none())
        .map(|(p, _)| p)
        .chain(&history)
        .collect();
    let mut read_now = crate::source::parallel_map(&unread, |path| read(path)).into_iter();
    let mut files = Vec::with_capacity(named.len() + history.len());
    for (path, text) in named {
        match text {
            Some(text) => files.push((path, text)),
            None => files.push(read_now.next().expect("one read per unread file")?),
        }
    }
    for read in read_now {
        files.push(read?);
    }
    Ok(NamedFiles {
        files,
        named: named_set,
        whole_history,
    })
}

/// A path named on the command line.
enum Named {
    /// A directory of migrations.
    Dir,
    /// A file, with its text.
    File(String),
}

/// Reads a named path: its text, or that it is a directory.
fn read_or_list(path: &Path) -> Result<Named> {
    match crate::source::read_file(path) {
        Ok(bytes) => Ok(Named::File(text_of(path, bytes)?)),
        // (Told apart before any error report is made: making one captures a backtrace. A
        // directory that cannot be opened is listed, to say so.)
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() => Ok(Named::Dir),
        Err(e) => Err(cannot_read(path, e)),
    }
}

fn read(path: &Path) -> Result<(PathBuf, String)> {
    let bytes = crate::source::read_file(path).map_err(|e| cannot_read(path, e))?;
    Ok((path.to_path_buf(), text_of(path, bytes)?))
}

fn cannot_read(path: &Path, e: std::io::Error) -> color_eyre::eyre::Report {
    eyre!(e).wrap_err(format!(
        "cannot read {}: check the path (lint takes migration files or directories)",
        path.display()
    ))
}

/// A file's bytes as text, or an error naming the file and its first bad byte.
fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        eyre!(
            "{} is not UTF-8 text (first bad byte at offset {}): save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The configured server's major version, or `None` (with a warning) when it cannot be reached.
async fn server_version(db: Option<&Database>) -> Option<u32> {
    let db = db?;
    let version = match connect(db).await {
        Ok(mut conn) => {
            let version = server_version_num(&mut conn).await;
            let _ = sqlx::Connection::close(conn).await;
            version.map_err(|e| eyre!(e))
        }
        Err(e) => Err(e),
    };
    match version {
        Ok(num) if num > 0 => Some(version_from_server_num(num)),
        Ok(_) => None,
        Err(e) => {
            eprintln!(
                "warning: cannot read the server version ({e}); analysing for the configured \
                 `pg-version` or PostgreSQL {} (set --pg-version to choose)",
                version_label(DEFAULT_PG_VERSION)
            );
            None
        }
    }
}

/// One connection for lint, given up after [`CONNECT_TIMEOUT`].
async fn connect(db: &Database) -> Result<PgConnection> {
    within(db, db.connect("lockstep:lint")).await
}

/// `work` on `db`, given up after [`CONNECT_TIMEOUT`].
async fn within<T, E>(db: &Database, work: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(CONNECT_TIMEOUT, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(eyre!(
            "no answer from {} within {} s",
            db.display_url(),
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}
