//! `lint --changed-since REF`: the migration files added or modified since a git ref (from the
//! merge base of the ref and `HEAD`, to the working tree, untracked files included), and the
//! migrations that were at the ref and have a different checksum now.

use std::path::{Path, PathBuf};
use std::process::Command;

use color_eyre::eyre::{Result, eyre};

use crate::analysis::lint::{folder_runner, version_of};
use crate::analysis::rules::{lookup, safe_alternative};
use crate::analysis::{Finding, LintReport, Runner};
use crate::source::checksum;
use crate::sql::LineCol;

/// A migration that was at the ref and whose checksum differs now.
#[derive(Debug, Clone)]
pub(super) struct Edited {
    /// The file, as lint names it.
    pub path: PathBuf,
    /// sqlx's checksum at the ref.
    pub before: Vec<u8>,
    /// sqlx's checksum now.
    pub now: Vec<u8>,
}

/// What changed in the migrations directory since the ref.
#[derive(Debug, Default)]
pub(super) struct Changed {
    /// The added `.sql` files (the pull request's new migrations, deployed together), with
    /// their text, named under `dir`.
    pub added: Vec<(PathBuf, String)>,
    /// The modified ones (already deployed with their old text).
    pub modified: Vec<(PathBuf, String)>,
    /// The modified UP files whose checksum differs from the ref's.
    pub edited: Vec<Edited>,
}

/// Runs git in `cwd` and returns its standard output.
fn git(cwd: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .output()
        .map_err(|e| eyre!("cannot run git ({e}): --changed-since needs git on PATH"))?;
    if !out.status.success() {
        return Err(eyre!(
            "git {} failed in {}: {}",
            args.join(" "),
            cwd.display(),
            crate::text::visible(String::from_utf8_lossy(&out.stderr).trim())
        ));
    }
    Ok(out.stdout)
}

/// NUL-separated git output as strings.
fn fields(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// The `.sql` files of `dir` (the migrations directory) added or modified since `reference`.
pub(super) fn changed_since(
    project: &Path,
    dir: &Path,
    reference: &str,
    ignored_chars: &[char],
) -> Result<Changed> {
    let top = String::from_utf8_lossy(&git(project, &["rev-parse", "--show-toplevel"])?)
        .trim()
        .to_string();
    let top = PathBuf::from(top);
    let base = git(project, &["merge-base", reference, "HEAD"]).map_err(|e| {
        eyre!(
            "{e}\n`{reference}` is not a commit git knows here: fetch it first (in GitHub \
             Actions, actions/checkout with fetch-depth: 0)"
        )
    })?;
    let base = String::from_utf8_lossy(&base).trim().to_string();
    let dir_abs = std::fs::canonicalize(dir).map_err(|e| {
        eyre!(
            "cannot open the migrations directory {}: {e}",
            dir.display()
        )
    })?;
    let scope = dir_abs.to_string_lossy().into_owned();
    // Status letter, then path (relative to the top of the work tree), NUL-separated.
    let diff = fields(&git(
        &top,
        &[
            "diff",
            "--name-status",
            "--no-renames",
            "-z",
            &base,
            "--",
            &scope,
        ],
    )?);
    let mut entries: Vec<(String, String)> = diff
        .chunks(2)
        .filter_map(|pair| match pair {
            [status, path] => Some((status.clone(), path.clone())),
            _ => None,
        })
        .collect();
    let untracked = fields(&git(
        &top,
        &[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--",
            &scope,
        ],
    )?);
    entries.extend(untracked.into_iter().map(|p| ("A".to_string(), p)));

    let mut changed = Changed::default();
    for (status, repo_path) in entries {
        let absolute = top.join(&repo_path);
        let Some(name) = absolute.file_name() else {
            continue;
        };
        // A migration file in the directory, or in a folder of its own there (diesel's,
        // Prisma's): its path below the directory.
        let (inside, below) = match (folder_runner(&absolute), absolute.parent()) {
            (Some(_), Some(folder)) => (
                folder.parent(),
                Path::new(folder.file_name().unwrap_or_default()).join(name),
            ),
            (None, parent) => (parent, PathBuf::from(name)),
            (Some(_), None) => continue,
        };
        if absolute.extension().is_none_or(|e| e != "sql")
            || inside.and_then(|p| std::fs::canonicalize(p).ok()) != Some(dir_abs.clone())
        {
            continue;
        }
        let path = dir.join(below);
        match status.chars().next() {
            Some('A') => changed.added.push(super::read(&path)?),
            Some('M' | 'T') => {
                let text = super::read(&path)?.1;
                let old = git(&top, &["show", &format!("{base}:{repo_path}")])?;
                let old = String::from_utf8_lossy(&old);
                let (before, now) = (
                    checksum(&old, ignored_chars),
                    checksum(&text, ignored_chars),
                );
                if before == now {
                    // The same migration to sqlx (only ignored characters changed).
                    continue;
                }
                if !crate::analysis::lint::is_down_file(&path) {
                    changed.edited.push(Edited {
                        path: path.clone(),
                        before,
                        now,
                    });
                }
                changed.modified.push((path, text));
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// Adds a `modified-applied-migration` finding at the top of each edited migration's file.
pub(super) fn report_edited(report: &mut LintReport, edited: &[Edited], reference: &str) {
    let Some(rule) = lookup("modified-applied-migration") else {
        return;
    };
    for edit in edited {
        let Some(file) = report.files.iter_mut().find(|f| f.path == edit.path) else {
            continue;
        };
        let first_line = file.text.find('\n').unwrap_or(file.text.len());
        let end_column = file.text[..first_line].chars().count() + 1;
        file.analysis.findings.insert(
            0,
            Finding {
                rule: rule.name,
                severity: rule.severity,
                axis: rule.axis,
                statement_index: None,
                span: 0..first_line,
                start: LineCol { line: 1, column: 1 },
                end: LineCol {
                    line: 1,
                    column: end_column,
                },
                table: None,
                lock: None,
                message: format!(
                    "this migration was already at {reference} (checksum {}…) and has been edited \
                     since (now {}…): {}, and databases that applied it never get the change",
                    &hex::encode(&edit.before)[..12],
                    &hex::encode(&edit.now)[..12],
                    match folder_runner(&edit.path) {
                        Some(Runner::Prisma) => {
                            "Prisma finds the applied migration modified (its checksum in \
                             _prisma_migrations no longer matches)"
                        }
                        Some(_) => "diesel does not notice",
                        None => {
                            "sqlx refuses to run on a database that applied it (checksum mismatch)"
                        }
                    }
                ),
                safe_alternative: safe_alternative(rule.name).map(str::to_string),
                fix: None,
            },
        );
    }
}

/// Puts the report's files in migration order: by version, then by name.
pub(super) fn sort_by_version(report: &mut LintReport) {
    report
        .files
        .sort_by_cached_key(|f| (version_of(&f.path), f.path.clone()));
}
