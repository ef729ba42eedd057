//! Analysing a migration set as lockstep will run it: the pending UP files as one run (tables
//! created by an earlier pending migration are new), every other file on its own.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::lint::{LintOptions, LintReport, lint_each, lint_files};
use super::types::Analysis;
use crate::source::fix::{FixWrite, LintFn, resolves};
use crate::source::{Migration, MigrationSet};

/// One analysed file of a migration.
#[derive(Debug, Clone)]
pub struct FileAnalysis {
    /// The migration's version.
    pub version: i64,
    /// Whether this is the DOWN file.
    pub down: bool,
    /// The analysis.
    pub analysis: Analysis,
}

/// Analyses the UP files of the `pending` versions as one run, in version order.
pub fn analyze_pending(
    set: &MigrationSet,
    pending: &BTreeSet<i64>,
    opts: &LintOptions,
) -> Vec<FileAnalysis> {
    let files = collect(set, |m, down| !down && pending.contains(&m.version));
    results(lint_files(&files, opts), set)
}

/// Analyses every file [`analyze_pending`] leaves out (applied UP files and all DOWN files), each
/// on its own.
pub fn analyze_rest(
    set: &MigrationSet,
    pending: &BTreeSet<i64>,
    opts: &LintOptions,
) -> Vec<FileAnalysis> {
    let files = collect(set, |m, down| down || !pending.contains(&m.version));
    results(lint_each(&files, opts), set)
}

/// Whether `fix`, planned in a file of `set`, resolves its finding (see
/// [`crate::source::fix::resolves`]) when the file is linted as [`analyze_pending`] (with
/// `pending_opts`) or [`analyze_rest`] (with `rest_opts`) lint it.
pub fn fix_resolves(
    set: &MigrationSet,
    pending: &BTreeSet<i64>,
    fix: &FixWrite,
    pending_opts: &LintOptions,
    rest_opts: &LintOptions,
) -> bool {
    let pending_files = collect(set, |m, down| !down && pending.contains(&m.version));
    let (files, opts, lint): (_, _, LintFn) = if pending_files.iter().any(|(p, _)| *p == fix.path) {
        (pending_files, pending_opts, lint_files)
    } else {
        // Linted on its own: the other files change nothing of its findings.
        let file = collect(set, |m, down| down || !pending.contains(&m.version))
            .into_iter()
            .filter(|(path, _)| *path == fix.path)
            .collect();
        (file, rest_opts, lint_each)
    };
    let before = lint(&files, opts);
    resolves(fix, &before, &files, opts, lint)
}

fn collect(set: &MigrationSet, keep: impl Fn(&Migration, bool) -> bool) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for migration in &set.migrations {
        if keep(migration, false) {
            files.push((migration.up.path.clone(), migration.up.sql.clone()));
        }
        if let Some(down) = &migration.down
            && keep(migration, true)
        {
            files.push((down.path.clone(), down.sql.clone()));
        }
    }
    files
}

fn results(report: LintReport, set: &MigrationSet) -> Vec<FileAnalysis> {
    let mut version_of: HashMap<&Path, i64> = HashMap::with_capacity(set.migrations.len() * 2);
    for migration in &set.migrations {
        version_of.insert(&migration.up.path, migration.version);
        if let Some(down) = &migration.down {
            version_of.insert(&down.path, migration.version);
        }
    }
    report
        .files
        .into_iter()
        .filter_map(|file| {
            Some(FileAnalysis {
                version: *version_of.get(file.path.as_path())?,
                down: file.is_down,
                analysis: file.analysis,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::lint::Chain;

    /// A fix in a pending UP file is checked with the pending migrations before it (which create
    /// its table); one in a DOWN file on its own.
    #[test]
    fn a_fix_is_checked_as_the_review_lints_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("1_t.up.sql", "CREATE TABLE t (id int);\n"),
            ("1_t.down.sql", "DROP TABLE t;\n"),
            ("2_i.up.sql", "CREATE INDEX i ON t (id);\n"),
            ("2_i.down.sql", "CREATE INDEX j ON t (id);\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let set = crate::source::load(dir.path(), &Default::default()).unwrap();
        let pending = BTreeSet::from([1, 2]);
        let options = LintOptions {
            chain: Chain::History,
            ..Default::default()
        };
        let fix = |name: &str, after: &str| FixWrite {
            path: dir.path().join(name),
            before: std::fs::read_to_string(dir.path().join(name)).unwrap(),
            after: after.to_string(),
            new_migration: None,
            description: String::new(),
            rule: "require-concurrent-index",
        };
        let resolves = |fix: FixWrite| fix_resolves(&set, &pending, &fix, &options, &options);
        assert!(resolves(fix(
            "2_i.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n"
        )));
        // Only a comment changes: the finding stays.
        assert!(!resolves(fix(
            "2_i.up.sql",
            "-- CONCURRENTLY\nCREATE INDEX i ON t (id);\n"
        )));
        // The finding goes by breaking the statement: no fix.
        assert!(!resolves(fix(
            "2_i.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id;\n"
        )));
        assert!(resolves(fix(
            "2_i.down.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY j ON t (id);\n"
        )));
        assert!(!resolves(fix(
            "2_i.down.sql",
            "-- CONCURRENTLY\nCREATE INDEX j ON t (id);\n"
        )));
    }
}
