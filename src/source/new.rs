//! Writing new migration files, with sqlx's naming, templates and version inference.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::MigrationSet;

const SIMPLE_TEMPLATE: &str = "-- Add migration script here\n";
const UP_TEMPLATE: &str = "-- Add up migration script here\n";
/// The DOWN file `new` writes for a reversible migration.
pub(crate) const DOWN_TEMPLATE: &str = "-- Add down migration script here\n";

/// Whether `sql` is still one of the templates `new` writes.
pub(super) fn is_template(sql: &str) -> bool {
    [SIMPLE_TEMPLATE, UP_TEMPLATE, DOWN_TEMPLATE]
        .iter()
        .any(|t| sql.trim() == t.trim())
}

/// How versions of new migrations are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// UTC `%Y%m%d%H%M%S`.
    Timestamp,
    /// The last version plus one, zero-padded to four digits.
    Sequential,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMigration {
    /// The description; spaces become `_` in the file name.
    pub description: String,
    /// `Some(true)` for an `.up.sql`/`.down.sql` pair, `Some(false)` for one `.sql`; `None`
    /// follows the latest migration, as sqlx does.
    pub reversible: Option<bool>,
    /// `None` infers it as sqlx does: sequential when the last two versions differ by one (or the
    /// only version is 0 or 1), else timestamp.
    pub versioning: Option<Versioning>,
    /// UP and DOWN bodies to write instead of the templates.
    pub bodies: Option<(String, String)>,
}

/// Why a migration could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The description is unusable as part of a file name.
    #[error(
        "the description {0:?} cannot be part of a file name: use letters, digits, spaces, `_` or `-`"
    )]
    BadDescription(String),
    /// The version is taken.
    #[error(
        "version {0} already exists in the migrations directory; try again in a second or use --sequential"
    )]
    VersionTaken(i64),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Creates the migration's files in `set.dir` (created if missing) and returns their paths.
/// Never overwrites an existing file.
pub fn create_migration(
    set: &MigrationSet,
    new: &NewMigration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PathBuf>, NewError> {
    let description = new.description.trim();
    if description.is_empty()
        || !description
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-'))
    {
        return Err(NewError::BadDescription(new.description.clone()));
    }
    let versions: Vec<i64> = set.migrations.iter().map(|m| m.version).collect();
    let versioning = new
        .versioning
        .unwrap_or_else(|| infer_versioning(&versions));
    let (version, prefix) = match versioning {
        Versioning::Timestamp => {
            let text = now.format("%Y%m%d%H%M%S").to_string();
            (text.parse::<i64>().unwrap_or_default(), text)
        }
        Versioning::Sequential => {
            let next = versions.last().map_or(1, |v| v + 1);
            (next, format!("{next:04}"))
        }
    };
    if set.get(version).is_some() {
        return Err(NewError::VersionTaken(version));
    }
    let reversible = new.reversible.unwrap_or_else(|| {
        set.migrations
            .last()
            .is_some_and(|m| m.is_reversible() || m.lacks_down())
    });
    let stem = format!("{prefix}_{}", description.replace(' ', "_"));
    let files: Vec<(String, String)> = match (&new.bodies, reversible) {
        (Some((up, down)), true) => vec![
            (format!("{stem}.up.sql"), up.clone()),
            (format!("{stem}.down.sql"), down.clone()),
        ],
        (Some((up, _)), false) => vec![(format!("{stem}.sql"), up.clone())],
        (None, true) => vec![
            (format!("{stem}.up.sql"), UP_TEMPLATE.into()),
            (format!("{stem}.down.sql"), DOWN_TEMPLATE.into()),
        ],
        (None, false) => vec![(format!("{stem}.sql"), SIMPLE_TEMPLATE.into())],
    };
    std::fs::create_dir_all(&set.dir).map_err(|source| NewError::Write {
        path: set.dir.clone(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, body) in files {
        let path = set.dir.join(name);
        write_new(&path, &body)?;
        written.push(path);
    }
    Ok(written)
}

fn write_new(path: &Path, body: &str) -> Result<(), NewError> {
    let err = |source| NewError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err)?;
    file.write_all(body.as_bytes()).map_err(err)
}

/// sqlx's inference, over distinct versions (sqlx looks at its list of files, where an up/down
/// pair shares a version; lockstep looks at versions, which is what the rule means).
pub fn infer_versioning(versions: &[i64]) -> Versioning {
    match versions {
        [.., previous, latest] if latest - previous == 1 => Versioning::Sequential,
        [0 | 1] => Versioning::Sequential,
        _ => Versioning::Timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_versioning_like_sqlx() {
        assert_eq!(infer_versioning(&[]), Versioning::Timestamp);
        assert_eq!(infer_versioning(&[1]), Versioning::Sequential);
        assert_eq!(infer_versioning(&[7]), Versioning::Timestamp);
        assert_eq!(infer_versioning(&[1, 2, 3]), Versioning::Sequential);
        assert_eq!(
            infer_versioning(&[20240101000000, 20240102000000]),
            Versioning::Timestamp
        );
    }
}
