//! Migration file names, read exactly as sqlx reads them.

use serde::Serialize;

/// The kind of a migration file, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `<version>_<desc>.sql`: applied, never reverted.
    Simple,
    /// `<version>_<desc>.up.sql`.
    Up,
    /// `<version>_<desc>.down.sql`.
    Down,
}

impl FileKind {
    /// The suffix sqlx trims off to get the description.
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Simple => ".sql",
            FileKind::Up => ".up.sql",
            FileKind::Down => ".down.sql",
        }
    }
}

/// What a file name says, or why sqlx would not take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedName {
    /// A migration file.
    Migration {
        /// The integer version prefix.
        version: i64,
        /// The description, `_` turned into spaces.
        description: String,
        /// Simple, up or down.
        kind: FileKind,
    },
    /// sqlx silently skips this name; the reason says why.
    Ignored(&'static str),
    /// sqlx refuses the whole directory because of this name (its version is not an integer).
    BadVersion(String),
}

/// Parses a file name as sqlx 0.8/0.9 does: split once on the first `_`; the remainder must end in
/// `.sql`; the prefix must parse as an `i64`.
pub fn parse_file_name(name: &str) -> ParsedName {
    let Some((prefix, rest)) = name.split_once('_') else {
        return ParsedName::Ignored("no `_` separates a version from a description");
    };
    if !rest.ends_with(".sql") {
        return ParsedName::Ignored("the name does not end in `.sql`");
    }
    let Ok(version) = prefix.parse::<i64>() else {
        return ParsedName::BadVersion(prefix.to_string());
    };
    let kind = if rest.ends_with(FileKind::Up.suffix()) {
        FileKind::Up
    } else if rest.ends_with(FileKind::Down.suffix()) {
        FileKind::Down
    } else {
        FileKind::Simple
    };
    // sqlx uses trim_end_matches, which strips a repeated suffix too; imitate it to the letter.
    let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
    ParsedName::Migration {
        version,
        description,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(name: &str) -> (i64, String, FileKind) {
        match parse_file_name(name) {
            ParsedName::Migration {
                version,
                description,
                kind,
            } => (version, description, kind),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn reads_names_like_sqlx() {
        assert_eq!(
            migration("20230101000000_add_users_table.up.sql"),
            (20230101000000, "add users table".into(), FileKind::Up)
        );
        assert_eq!(
            migration("0001_setup.sql"),
            (1, "setup".into(), FileKind::Simple)
        );
        assert_eq!(
            migration("2_drop_it.down.sql"),
            (2, "drop it".into(), FileKind::Down)
        );
        assert_eq!(
            migration("3_x.sql.sql"),
            (3, "x".into(), FileKind::Simple),
            "trim_end_matches strips the suffix repeatedly, as in sqlx"
        );
        assert_eq!(migration("-4_neg.sql").0, -4);
    }

    #[test]
    fn names_sqlx_skips_or_refuses() {
        assert!(matches!(
            parse_file_name("README.md"),
            ParsedName::Ignored(_)
        ));
        assert!(matches!(
            parse_file_name("0001.sql"),
            ParsedName::Ignored(_)
        ));
        assert!(matches!(
            parse_file_name("0001_init.txt"),
            ParsedName::Ignored(_)
        ));
        assert_eq!(
            parse_file_name("v1_init.sql"),
            ParsedName::BadVersion("v1".into())
        );
        assert_eq!(
            parse_file_name("99999999999999999999_big.sql"),
            ParsedName::BadVersion("99999999999999999999".into())
        );
    }
}
