//! Applying a finding's fix to a pending migration's file: the edits the analysis proposes, and —
//! where the fix is to move a statement out of the file (one that cannot run in the file's
//! transaction, or must run after it) — the new migration it moves to, with the next version.
//! The dashboard's `f` and `lockstep lint --fix` both go through [`plan_fix`] and [`write_fix`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::new::{DOWN_TEMPLATE, NewError, NewMigration, create_migration};
use super::{MigrationSet, NO_TRANSACTION_MARKER};
use crate::analysis::{Analysis, Finding, Fix, LintOptions, LintReport};

/// A statement moved to a migration of its own, after the one it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedStatement {
    /// The new migration's description.
    pub description: String,
    /// Its UP body (a DOWN, when the set is reversible, starts as the template to fill in).
    pub body: String,
}

/// A fix, ready to be shown as a diff and written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixWrite {
    /// The file the fix edits.
    pub path: PathBuf,
    /// Its text as analysed: the fix is refused if the file changed since.
    pub before: String,
    /// Its text with the fix.
    pub after: String,
    /// The statement moved to a new migration, when the fix moves one.
    pub new_migration: Option<MovedStatement>,
    /// What the fix does (and what is left to do by hand).
    pub description: String,
    /// The rule whose finding it fixes.
    pub rule: &'static str,
}

/// Why a fix was not written.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// The file changed after it was analysed.
    #[error(
        "{} changed since it was analysed; nothing was written — look at it again and retry",
        .0.display()
    )]
    Changed(PathBuf),
    /// Reading or writing the file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The new migration could not be created.
    #[error(transparent)]
    New(#[from] NewError),
}

/// The fix of `finding` in the file whose text is `text` and analysis `analysis`, or `None` when
/// the finding has no fix.
///
/// A fix that marks the file `-- no-transaction` while the file holds other statements moves the
/// statement (with the fix's other edits) to a new `-- no-transaction` migration instead, so the
/// rest keeps its transaction. A fix that removes a statement to run it later moves it to a new
/// migration too.
pub fn plan_fix(
    path: &Path,
    text: &str,
    analysis: &Analysis,
    finding: &Finding,
    description: &str,
) -> Option<FixWrite> {
    let fix = finding.fix.as_ref()?;
    let statement = finding
        .statement_index
        .and_then(|i| analysis.statements.get(i));
    let marks_file = fix.edits.iter().any(is_marker_edit);
    let others = analysis.statements.len() > 1;
    let mut write = FixWrite {
        path: path.to_path_buf(),
        before: text.to_string(),
        after: fix.apply(text),
        new_migration: None,
        description: fix.description.clone(),
        rule: finding.rule,
    };
    let Some(statement) = statement else {
        return Some(write);
    };
    let span = statement.span.clone();
    if marks_file && others {
        let inner = Fix {
            description: String::new(),
            edits: fix
                .edits
                .iter()
                .filter(|e| !is_marker_edit(e) && e.span.start >= span.start)
                .filter(|e| e.span.end <= span.end)
                .map(|e| crate::analysis::TextEdit {
                    span: e.span.start - span.start..e.span.end - span.start,
                    replacement: e.replacement.clone(),
                })
                .collect(),
        };
        let moved = inner.apply(text.get(span.clone()).unwrap_or_default());
        write.after = remove_statement(text, &span);
        write.new_migration = Some(MovedStatement {
            description: new_description(description, "no transaction"),
            body: format!(
                "{NO_TRANSACTION_MARKER}\n{};\n",
                moved.trim_end_matches(';')
            ),
        });
        write.description = format!(
            "{}: the statement moves to a new `-- no-transaction` migration after this one, the \
             rest of the file keeps its transaction",
            fix.description
        );
    } else if finding.rule == "no-transaction-not-alone"
        && let [edit] = fix.edits.as_slice()
    {
        // The file splits: what the edit cuts off its end becomes the next migration.
        let moved = text.get(edit.span.clone()).unwrap_or_default();
        write.new_migration = Some(MovedStatement {
            description: new_description(description, "part 2"),
            body: format!("{NO_TRANSACTION_MARKER}\n{}\n", moved.trim()),
        });
    } else if let [edit] = fix.edits.as_slice()
        && edit.replacement.is_empty()
        && edit.span.start <= span.start
        && edit.span.end >= span.end
    {
        let moved = text.get(span).unwrap_or_default();
        write.new_migration = Some(MovedStatement {
            description: new_description(description, "part 2"),
            body: format!("{};\n", moved.trim_end_matches(';')),
        });
        write.description = format!(
            "{}: the statement moves to a new migration after this one",
            fix.description
        );
    }
    Some(write)
}

/// Writes a fix: first the new migration (if the fix moves a statement; versioned as `new`
/// would), then the edited file. Refuses when the file no longer holds the text the fix was made
/// for. Returns the files written.
pub fn write_fix(
    set: &MigrationSet,
    fix: &FixWrite,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PathBuf>, FixError> {
    let io = |source| FixError::Io {
        path: fix.path.clone(),
        source,
    };
    let current = std::fs::read_to_string(&fix.path).map_err(io)?;
    if current != fix.before {
        return Err(FixError::Changed(fix.path.clone()));
    }
    let mut written = Vec::new();
    if let Some(moved) = &fix.new_migration {
        written.extend(create_migration(
            set,
            &NewMigration {
                description: moved.description.clone(),
                reversible: None,
                versioning: None,
                bodies: Some((moved.body.clone(), DOWN_TEMPLATE.to_string())),
            },
            now,
        )?);
    }
    // Written beside and renamed over, so a crash never leaves half a file.
    let temporary = fix.path.with_extension("sql.lockstep-fix");
    std::fs::write(&temporary, &fix.after).map_err(io)?;
    std::fs::rename(&temporary, &fix.path).map_err(io)?;
    written.insert(0, fix.path.clone());
    Ok(written)
}

/// How a set of files is linted: [`crate::analysis::lint_files`] (as one run) or
/// [`crate::analysis::lint_each`] (each on its own).
pub type LintFn = fn(&[(PathBuf, String)], &LintOptions) -> LintReport;

/// Whether `fix`, found in `report` (of `files` as `lint` with `options` lints them), leaves fewer
/// findings of its rule in the file it edits (linted again the same way with the fix applied, in
/// memory; a statement it moves to a new migration is that migration's to fix in turn), and no
/// more syntax errors there, and whether a statement it moves parses in its new migration. A fix
/// that does not is not to be written: its edits would not do what it says, and a loop that
/// applies fixes until none is left would apply it again and again.
pub fn resolves(
    fix: &FixWrite,
    report: &LintReport,
    files: &[(PathBuf, String)],
    options: &LintOptions,
    lint: LintFn,
) -> bool {
    if let Some(moved) = &fix.new_migration
        && !crate::sql::split_statements(&moved.body).1.is_empty()
    {
        return false;
    }
    let count = |report: &LintReport, rule: &str| -> usize {
        report
            .files
            .iter()
            .filter(|f| f.path == fix.path)
            .flat_map(|f| &f.analysis.findings)
            .filter(|finding| finding.rule == rule)
            .count()
    };
    let (before, errors_before) = (count(report, fix.rule), count(report, SYNTAX_ERROR));
    let trial: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(path, text)| {
            let text = if *path == fix.path { &fix.after } else { text };
            (path.clone(), text.clone())
        })
        .collect();
    let after = lint(&trial, options);
    count(&after, fix.rule) < before && count(&after, SYNTAX_ERROR) <= errors_before
}

/// Why a fix that [`resolves`] refuses is not written (the CLI and the dashboard say it alike).
pub const UNRESOLVED: &str =
    "the fix would not resolve the finding, or would add a syntax error; fix it by hand";

/// The rule of a syntax error's finding.
const SYNTAX_ERROR: &str = "syntax-error";

/// One line of a fix's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// Unchanged (shown for context).
    Same(String),
    /// Removed.
    Removed(String),
    /// Added.
    Added(String),
    /// Unchanged lines left out.
    Skipped(usize),
}

/// The line diff of a fix's file, with `context` unchanged lines around each change.
pub fn diff(before: &str, after: &str, context: usize) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(context).iter().enumerate() {
        let first = group.first().map(|op| op.old_range().start).unwrap_or(0);
        if i == 0 && first > 0 {
            out.push(DiffLine::Skipped(first));
        } else if i > 0 {
            out.push(DiffLine::Skipped(0));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let text = change.value().trim_end_matches('\n').to_string();
                out.push(match change.tag() {
                    similar::ChangeTag::Equal => DiffLine::Same(text),
                    similar::ChangeTag::Delete => DiffLine::Removed(text),
                    similar::ChangeTag::Insert => DiffLine::Added(text),
                });
            }
        }
    }
    out
}

/// Whether an edit puts the `-- no-transaction` marker at the top of the file.
fn is_marker_edit(edit: &crate::analysis::TextEdit) -> bool {
    edit.span == (0..0) && edit.replacement.starts_with(NO_TRANSACTION_MARKER)
}

/// `text` without the statement at `span`, its semicolon and its line break.
fn remove_statement(text: &str, span: &std::ops::Range<usize>) -> String {
    let end = crate::sql::past_statement_end(text, span.end);
    format!(
        "{}{}",
        text.get(..span.start).unwrap_or_default(),
        text.get(end..).unwrap_or_default()
    )
}

/// A new migration's description from the one it comes from: letters, digits, spaces, `_` and `-`
/// only, as file names need.
fn new_description(from: &str, suffix: &str) -> String {
    let kept: String = from
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-'))
        .collect();
    let kept = kept.trim();
    // A part of a part is the next part: "x part 2" moves on to "x part 3", not "x part 2 part 2".
    if let Some((stem, n)) = kept.rsplit_once(" part ")
        && let Ok(n) = n.parse::<u32>()
        && suffix == "part 2"
    {
        return format!("{stem} part {}", n + 1);
    }
    if kept.is_empty() {
        suffix.to_string()
    } else {
        format!("{kept} {suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisContext, analyze, lint_files};

    #[test]
    fn a_fix_resolves_only_when_its_finding_is_gone_after_it() {
        let files = vec![
            (
                PathBuf::from("1_a.sql"),
                "CREATE TABLE t (id int);\n".to_string(),
            ),
            (
                PathBuf::from("2_b.sql"),
                "CREATE INDEX i ON t (id);\n".to_string(),
            ),
        ];
        let options = LintOptions {
            chain: crate::analysis::lint::Chain::History,
            ..Default::default()
        };
        let fix = |after: &str| FixWrite {
            path: PathBuf::from("2_b.sql"),
            before: files[1].1.clone(),
            after: after.to_string(),
            new_migration: None,
            description: String::new(),
            rule: "require-concurrent-index",
        };
        let report = lint_files(&files, &options);
        let resolved = |fix: FixWrite| resolves(&fix, &report, &files, &options, lint_files);
        // An edit that lands in a comment changes the file and nothing else.
        assert!(!resolved(fix(
            "-- no-transaction CONCURRENTLY\nCREATE INDEX i ON t (id);\n"
        )));
        assert!(resolved(fix(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n"
        )));
        // An edit that removes the finding by breaking the statement is no fix.
        assert!(!resolved(fix(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id;\n"
        )));
        // Nor is a move that lands a statement the parser refuses in the new migration.
        let moved = |body: &str| FixWrite {
            after: String::new(),
            new_migration: Some(MovedStatement {
                description: "part 2".into(),
                body: body.to_string(),
            }),
            ..fix("")
        };
        assert!(resolved(moved(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n"
        )));
        assert!(!resolved(moved(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (id;\n"
        )));
    }

    fn first_fix(text: &str, rule: &str) -> FixWrite {
        let analysis = analyze(
            text,
            &AnalysisContext {
                in_transaction: true,
                ..AnalysisContext::default()
            },
        );
        let finding = analysis
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no {rule} in {:?}", analysis.findings));
        plan_fix(Path::new("m.up.sql"), text, &analysis, finding, "add index").unwrap()
    }

    #[test]
    fn an_edit_in_place_keeps_the_file() {
        let fix = first_fix(
            "ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0);\n",
            "check-needs-not-valid",
        );
        assert!(fix.after.contains("NOT VALID"), "{}", fix.after);
        assert_eq!(fix.new_migration, None);
    }

    #[test]
    fn a_concurrent_index_among_other_statements_moves_to_its_own_migration() {
        let fix = first_fix(
            "ALTER TABLE users ADD COLUMN email text;\nCREATE INDEX users_email ON users (email);\n",
            "require-concurrent-index",
        );
        assert_eq!(fix.after, "ALTER TABLE users ADD COLUMN email text;\n");
        let moved = fix.new_migration.unwrap();
        assert_eq!(
            moved.body,
            "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        );
        assert_eq!(moved.description, "add index no transaction");
    }

    #[test]
    fn a_lone_statement_gets_the_marker_in_place() {
        let fix = first_fix(
            "CREATE INDEX users_email ON users (email);\n",
            "require-concurrent-index",
        );
        assert_eq!(
            fix.after,
            "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        );
        assert_eq!(fix.new_migration, None);
    }

    #[test]
    fn the_diff_shows_changes_with_context() {
        let lines = diff("a\nb\nc\nd\ne\nf\n", "a\nb\nc\nD\ne\nf\n", 1);
        assert_eq!(
            lines,
            vec![
                DiffLine::Skipped(2),
                DiffLine::Same("c".into()),
                DiffLine::Removed("d".into()),
                DiffLine::Added("D".into()),
                DiffLine::Same("e".into()),
            ]
        );
    }
}
