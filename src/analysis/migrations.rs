//! Analysing a migration set as lockstep will run it: the pending UP files as one run (tables
//! created by an earlier pending migration are new), every other file on its own.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::lint::{LintOptions, LintReport, lint_each, lint_files};
use super::types::Analysis;
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
