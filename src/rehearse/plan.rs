//! Which migrations a rehearsal runs, and their DOWN steps.
//!
//! An `.up.sql` without its `.down.sql` is an error for `up` (sqlx cannot revert it), but the
//! rehearsal can still run its UP: it is taken in as a migration with no DOWN and reported as not
//! reversible.

use std::collections::BTreeSet;

use crate::runner::{Direction, Step};
use crate::source::{
    self, FileKind, MISSING_DOWN, Migration, MigrationFile, MigrationSet, NO_TRANSACTION_MARKER,
    ParsedName, SourceOptions,
};
use crate::sql::split_statements;

/// `set`, with each `.up.sql` that lacks its `.down.sql` taken in as a migration without DOWN
/// (its problem removed); the versions so taken in.
pub fn with_missing_downs(
    set: &MigrationSet,
    options: &SourceOptions,
) -> (MigrationSet, BTreeSet<i64>) {
    let mut out = set.clone();
    let mut missing = BTreeSet::new();
    out.problems.retain(|problem| {
        if problem.severity != source::Severity::Error || !problem.message.starts_with(MISSING_DOWN)
        {
            return true;
        }
        let Some(migration) = read_up(&problem.path, options) else {
            return true;
        };
        if set.get(migration.version).is_some() {
            return true;
        }
        missing.insert(migration.version);
        out.migrations.push(migration);
        false
    });
    out.migrations.sort_by_key(|m| m.version);
    (out, missing)
}

fn read_up(path: &std::path::Path, options: &SourceOptions) -> Option<Migration> {
    let name = path.file_name()?.to_str()?;
    let ParsedName::Migration {
        version,
        description,
        kind: FileKind::Up,
    } = source::parse_file_name(name)
    else {
        return None;
    };
    let sql = std::fs::read_to_string(path).ok()?;
    Some(Migration {
        version,
        description,
        up: MigrationFile {
            path: path.to_path_buf(),
            checksum: source::checksum(&sql, &options.ignored_chars),
            no_transaction: sql.starts_with(NO_TRANSACTION_MARKER),
            sql,
        },
        down: None,
    })
}

/// The step that reverts `migration`, or why there is none: a simple migration, a missing DOWN
/// file (`missing_down`), or a DOWN file without statements.
pub fn down_step(migration: &Migration, missing_down: bool) -> Result<Step, String> {
    let Some(file) = &migration.down else {
        return Err(if missing_down {
            "its .down.sql file is missing".into()
        } else {
            "a simple migration (no .down.sql)".into()
        });
    };
    // Cut as the runner cuts it: a `-- no-transaction` DOWN runs in the same segments.
    let (statements, segments) = if file.no_transaction {
        let segmented = crate::analysis::segment(&file.sql);
        (segmented.statements, segmented.segments)
    } else {
        let statements = split_statements(&file.sql).0;
        let all = crate::analysis::Segment {
            statements: 0..statements.len(),
            alone: None,
        };
        (statements, vec![all])
    };
    if statements.is_empty() {
        return Err("its .down.sql file has no statement".into());
    }
    Ok(Step {
        direction: Direction::Revert,
        version: migration.version,
        description: migration.description.clone(),
        file: file.clone(),
        checksum: migration.checksum().to_vec(),
        segments,
        statements,
        in_transaction: !file.no_transaction,
    })
}
