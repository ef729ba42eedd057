//! Discovering and reading migration files in sqlx's layout.
//!
//! The directory is read flat, as sqlx reads it. Everything sqlx would do silently (skip a file,
//! take two files with one version, pair nothing with an `.up.sql`) is reported here as a
//! [`Problem`] naming the file, so nothing is hidden from the reviewer.

mod checksum;
mod filename;
pub mod fix;
mod new;
mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::Runner;

pub use checksum::checksum;
pub use filename::{FileKind, ParsedName, parse_file_name};
pub use new::{NewMigration, Versioning, create_migration};
pub use summary::{abbreviated_list, problem_lines};

/// How the problem of an `.up.sql` without its `.down.sql` begins.
pub const MISSING_DOWN: &str = "no matching `.down.sql` for this `.up.sql`";

/// What `lockstep status` and the dashboard's list say when the directory holds no migration.
pub const NO_MIGRATIONS_YET: &str =
    "no migrations yet: create one with `lockstep new <description>`";

/// The first bytes that make sqlx run a file outside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- no-transaction";

/// One `.sql` file of a migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its whole text, as read.
    #[serde(skip)]
    pub sql: String,
    /// sqlx's checksum of the text (SHA-384, 48 bytes).
    #[serde(serialize_with = "crate::serde_hex")]
    pub checksum: Vec<u8>,
    /// Whether the text starts with `-- no-transaction`, so it runs outside a transaction.
    pub no_transaction: bool,
}

/// A migration: one version with its UP file and, when reversible, its DOWN file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The version (the integer prefix of the file name).
    pub version: i64,
    /// The description from the file name, `_` turned into spaces.
    pub description: String,
    /// The file that applies it (`.sql` or `.up.sql`).
    pub up: MigrationFile,
    /// The file that reverts it (`.down.sql`), if reversible.
    pub down: Option<MigrationFile>,
}

impl Migration {
    /// Whether the migration has a DOWN file.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// Whether it is the `.up.sql` half of a reversible migration whose `.down.sql` is missing
    /// (rather than a simple migration, which has no DOWN by design).
    pub fn lacks_down(&self) -> bool {
        self.down.is_none()
            && self
                .up
                .path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".up.sql"))
    }

    /// The checksum sqlx stores for this migration (the UP file's).
    pub fn checksum(&self) -> &[u8] {
        &self.up.checksum
    }
}

/// How bad a problem with the files is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Listed for information: sqlx silently skips the file.
    Ignored,
    /// Worth fixing, but lockstep (and sqlx) can still run.
    Warning,
    /// lockstep refuses to run migrations until it is fixed.
    Error,
}

/// Something wrong with a file in the migrations directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// The file concerned.
    pub path: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.severity {
            Severity::Ignored => "ignored",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.line {
            Some(line) => write!(
                f,
                "{label}: {}:{line}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{label}: {}: {}", self.path.display(), self.message),
        }
    }
}

/// How to read the directory (from `sqlx.toml`).
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Characters left out of the checksum (`[migrate] ignored-chars`).
    pub ignored_chars: Vec<char>,
}

/// Everything found in a migrations directory.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationSet {
    /// The directory read.
    pub dir: PathBuf,
    /// The migrations, sorted by version.
    pub migrations: Vec<Migration>,
    /// Problems found, errors first.
    pub problems: Vec<Problem>,
}

impl MigrationSet {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The error-level problems.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The migration with this version.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &self.migrations[i])
    }
}

/// Why the directory could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The directory is missing or unreadable.
    #[error(
        "cannot read the migrations directory {path}: {source}\n\
         create it with `lockstep new <description>`, or name another with --source or \
         `[migrate] migrations-dir` in sqlx.toml"
    )]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads every migration in `dir` (flat, following symlinks, as sqlx does). Files are read and
/// hashed on all cores; the result does not depend on the order they are read in.
pub fn load(dir: &Path, options: &SourceOptions) -> Result<MigrationSet, SourceError> {
    let dir_err = |source| SourceError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<(PathBuf, Option<std::fs::FileType>)> = std::fs::read_dir(dir)
        .map_err(dir_err)?
        .map(|e| e.map(|e| (e.path(), e.file_type().ok())))
        .collect::<Result<_, _>>()
        .map_err(dir_err)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let scanned = parallel_map(&entries, |(path, file_type)| {
        scan(path, *file_type, options)
    });

    let mut problems = Vec::new();
    for (tool, file) in [
        (Runner::Diesel, "an up.sql"),
        (Runner::Prisma, "a migration.sql"),
    ] {
        let count = scanned
            .iter()
            .filter(|scan| scan.folder == Some(tool))
            .count();
        if count > 0 {
            problems.push(Problem {
                severity: Severity::Warning,
                path: dir.to_path_buf(),
                line: None,
                message: format!(
                    "{count} {} migration{} (a directory with {file} each): lockstep runs \
                     sqlx's flat layout (<version>_<description>.sql) and skips them, as sqlx \
                     does; `lockstep lint {}` reviews them as {} runs them",
                    tool.name(),
                    if count == 1 { "" } else { "s" },
                    dir.display(),
                    tool.name(),
                ),
            });
        }
    }
    // version → the files that claim it, with their kinds and descriptions
    let mut slots: BTreeMap<i64, Vec<(FileKind, String, MigrationFile)>> = BTreeMap::new();
    for scan in scanned {
        problems.extend(scan.problems);
        if let Some((version, kind, description, file)) = scan.file {
            slots
                .entry(version)
                .or_default()
                .push((kind, description, file));
        }
    }
    let mut migrations = Vec::new();
    for (version, files) in slots {
        if let Some(migration) = pair_files(version, files, &mut problems) {
            migrations.push(migration);
        }
    }
    problems.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.path.cmp(&b.path)));
    Ok(MigrationSet {
        dir: dir.to_path_buf(),
        migrations,
        problems,
    })
}

/// A cheap fingerprint of the directory's entries (names, sizes, modification times): when it is
/// unchanged, [`load`] would read the same migrations. `None` when the directory cannot be read.
pub fn fingerprint(dir: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut entries: Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> =
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| {
                // Follows symlinks, as `load` does.
                let meta = std::fs::metadata(e.path()).ok();
                (
                    e.file_name(),
                    meta.as_ref().map_or(0, |m| m.len()),
                    meta.and_then(|m| m.modified().ok()),
                )
            })
            .collect();
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut hasher);
    Some(hasher.finish())
}

/// What one directory entry turned out to be.
struct Scanned {
    file: Option<(i64, FileKind, String, MigrationFile)>,
    problems: Vec<Problem>,
    /// A directory with an `up.sql` (diesel's) or a `migration.sql` (Prisma's).
    folder: Option<Runner>,
}

/// Classifies, reads and hashes one directory entry.
fn scan(path: &Path, file_type: Option<std::fs::FileType>, options: &SourceOptions) -> Scanned {
    let mut out = Scanned {
        file: None,
        problems: Vec::new(),
        folder: None,
    };
    let problem = |severity, line, message: String| Problem {
        severity,
        path: path.to_path_buf(),
        line,
        message,
    };
    // The directory listing knows the type; only symlinks need a stat (sqlx follows them).
    let is_file = match file_type {
        Some(t) if !t.is_symlink() => Ok(t.is_file()),
        _ => std::fs::metadata(path).map(|m| m.is_file()),
    };
    match is_file {
        Ok(true) => {}
        Ok(false) if let Some((_, runner)) = crate::analysis::lint::folder_migration(path) => {
            out.folder = Some(runner);
            return out;
        }
        Ok(false) => {
            out.problems.push(problem(
                Severity::Ignored,
                None,
                "a directory: sqlx reads the migrations directory flat and skips it".into(),
            ));
            return out;
        }
        Err(e) => {
            out.problems.push(problem(
                Severity::Error,
                None,
                format!("cannot read it ({e}); a broken symlink? Fix or remove it"),
            ));
            return out;
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (version, description, kind) = match parse_file_name(&name) {
        ParsedName::Migration {
            version,
            description,
            kind,
        } => (version, description, kind),
        ParsedName::Ignored(reason) => {
            out.problems.push(problem(
                Severity::Ignored,
                None,
                format!(
                    "not a migration ({reason}); sqlx skips it silently. \
                     Migration files are named <version>_<description>.sql, .up.sql or .down.sql"
                ),
            ));
            return out;
        }
        ParsedName::BadVersion(prefix) => {
            out.problems.push(problem(
                Severity::Error,
                None,
                format!(
                    "the version `{prefix}` is not an integer (a 64-bit signed integer is \
                     expected, e.g. `20240101120000_add_users.sql` or `0001_setup.sql`); \
                     sqlx refuses the whole directory. Rename the file"
                ),
            ));
            return out;
        }
    };
    let bytes = match read_file(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            out.problems.push(problem(
                Severity::Error,
                None,
                format!("cannot read it: {e}"),
            ));
            return out;
        }
    };
    let sql = match String::from_utf8(bytes) {
        Ok(sql) => sql,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            out.problems.push(problem(
                Severity::Error,
                Some(line),
                format!(
                    "not valid UTF-8 (byte {valid} is 0x{:02x}); sqlx cannot read it. \
                     Re-save the file as UTF-8",
                    bytes[valid]
                ),
            ));
            return out;
        }
    };
    if let Some(at) = sql.find('\0') {
        let place = crate::sql::LineIndex::new(&sql).line_col(&sql, at);
        out.problems.push(problem(
            Severity::Error,
            Some(place.line),
            format!(
                "contains a NUL byte at line {}, column {}; PostgreSQL cannot receive it and sqlx \
                 refuses the file. Remove it (a binary paste or a UTF-16 file?)",
                place.line, place.column
            ),
        ));
    }
    check_text(path, &sql, &mut out.problems);
    let file = MigrationFile {
        checksum: checksum(&sql, &options.ignored_chars),
        no_transaction: sql.starts_with(NO_TRANSACTION_MARKER),
        path: path.to_path_buf(),
        sql,
    };
    out.file = Some((version, kind, description, file));
    out
}

/// Reads a whole file in as few system calls as it can: open, one read for a file of up to
/// 64 KiB (into this thread's scratch buffer, so no size probe first), the read that finds the
/// end, close. A directory fails with [`std::io::ErrorKind::IsADirectory`].
pub(crate) fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    thread_local! {
        // Zeroed once per thread, not once per file.
        static SCRATCH: std::cell::RefCell<Box<[u8]>> =
            std::cell::RefCell::new(vec![0; 64 * 1024].into_boxed_slice());
    }
    let mut file = std::fs::File::open(path)?;
    SCRATCH.with_borrow_mut(|scratch| {
        let mut filled = 0;
        while filled < scratch.len() {
            match file.read(&mut scratch[filled..]) {
                Ok(0) => return Ok(scratch[..filled].to_vec()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut bytes = scratch.to_vec();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    })
}

/// Maps `items` on all available cores, keeping their order: this thread maps the first part
/// while one thread per other core maps the rest.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = crate::cores();
    if threads < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = items.chunks(chunk);
        let first = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(&f).collect();
        for handle in handles {
            out.extend(handle.join().expect("a migration reader thread panicked"));
        }
        out
    })
}

/// Warnings about a file's text: empty files and a `-- no-transaction` marker sqlx will not see.
fn check_text(path: &Path, sql: &str, problems: &mut Vec<Problem>) {
    if let Some(no_op) = NoOp::of(sql) {
        problems.push(Problem {
            severity: Severity::Warning,
            path: path.to_path_buf(),
            line: None,
            message: no_op.message().into(),
        });
    }
    if let Some(line) = misplaced_no_transaction(sql) {
        problems.push(Problem {
            severity: Severity::Warning,
            path: path.to_path_buf(),
            line: Some(line),
            message: MISPLACED_NO_TRANSACTION.into(),
        });
    }
}

/// A migration text that runs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoOp {
    /// Nothing but white space (some projects keep such files on purpose, for other databases).
    Empty,
    /// Still the template from `new`: never written.
    Template,
}

impl NoOp {
    /// Whether `sql` runs nothing, and why; a comment of one's own marks an intended no-op.
    pub fn of(sql: &str) -> Option<NoOp> {
        if sql.trim().is_empty() {
            Some(NoOp::Empty)
        } else if new::is_template(sql) {
            Some(NoOp::Template)
        } else {
            None
        }
    }

    /// What `status` (and, for the template, `lint`) says of it.
    pub fn message(self) -> &'static str {
        match self {
            NoOp::Empty => {
                "the file is empty; it runs as a no-op and is recorded as applied. Write the \
                 migration, or put an SQL comment in it if a no-op is intended"
            }
            NoOp::Template => {
                "the file is still the template from `new`; it runs as a no-op and is recorded \
                 as applied. Write the migration"
            }
        }
    }
}

/// What a `-- no-transaction` marker below the first line means.
pub const MISPLACED_NO_TRANSACTION: &str = "`-- no-transaction` only counts as the file's very \
    first bytes; here sqlx ignores it and runs the file in a transaction. Move it to the first \
    line (no blank line, comment or byte-order mark before it)";

/// The line (1-based) of a `-- no-transaction` marker sqlx does not see: not the file's first
/// bytes.
pub fn misplaced_no_transaction(sql: &str) -> Option<usize> {
    if sql.starts_with(NO_TRANSACTION_MARKER) {
        return None;
    }
    sql.lines()
        .position(|line| line.trim_start_matches('\u{feff}').trim() == NO_TRANSACTION_MARKER)
        .map(|i| i + 1)
}

/// Turns the files of one version into a migration, reporting duplicates and unpaired halves.
fn pair_files(
    version: i64,
    files: Vec<(FileKind, String, MigrationFile)>,
    problems: &mut Vec<Problem>,
) -> Option<Migration> {
    let mut simple = Vec::new();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (kind, description, file) in files {
        match kind {
            FileKind::Simple => simple.push((description, file)),
            FileKind::Up => up.push((description, file)),
            FileKind::Down => down.push((description, file)),
        }
    }
    let total = simple.len() + up.len() + down.len();
    let duplicate =
        simple.len() > 1 || up.len() > 1 || down.len() > 1 || (!simple.is_empty() && total > 1);
    if duplicate {
        let all: Vec<&MigrationFile> = simple
            .iter()
            .chain(&up)
            .chain(&down)
            .map(|(_, f)| f)
            .collect();
        let names: Vec<String> = all
            .iter()
            .map(|f| {
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        for file in all {
            problems.push(Problem {
                severity: Severity::Error,
                path: file.path.clone(),
                line: None,
                message: format!(
                    "version {version} is used by {} migrations ({}); sqlx does not notice and \
                     would run them in an arbitrary order. Give each migration its own version",
                    names.len(),
                    abbreviated_list(&names)
                ),
            });
        }
        return None;
    }
    if let Some((description, file)) = simple.pop() {
        return Some(Migration {
            version,
            description,
            up: file,
            down: None,
        });
    }
    match (up.pop(), down.pop()) {
        (Some((description, up)), Some((_, down))) => Some(Migration {
            version,
            description,
            up,
            down: Some(down),
        }),
        (Some((description, up)), None) => {
            // sqlx applies it as any other; only reverting it is impossible.
            problems.push(Problem {
                severity: Severity::Warning,
                path: up.path.clone(),
                line: None,
                message: format!(
                    "{MISSING_DOWN} (version {version}): it applies, but cannot be reverted. \
                     `lockstep down` stops at it, while `sqlx migrate revert` skips it and \
                     reverts the migration below it instead. Add {version}_{}.down.sql if it \
                     can be undone",
                    description.replace(' ', "_"),
                ),
            });
            Some(Migration {
                version,
                description,
                up,
                down: None,
            })
        }
        (None, Some((description, down))) => {
            problems.push(Problem {
                severity: Severity::Error,
                path: down.path.clone(),
                line: None,
                message: format!(
                    "a `.down.sql` with no `.up.sql` (version {version}); sqlx never applies it. \
                     Add {version}_{}.up.sql or remove this file",
                    description.replace(' ', "_")
                ),
            });
            None
        }
        (None, None) => None,
    }
}
