//! Migration files that keep UP and DOWN in one file, in sections marked by comments: goose
//! (`-- +goose Up`, `-- +goose Down`, `-- +goose NO TRANSACTION`) and dbmate (`-- migrate:up`,
//! `-- migrate:down`, `transaction:false` on the directive). A directive is a line comment that
//! starts its line, found with squawk's lexer (never inside a string, a comment or a body).

use std::ops::Range;

/// The tool whose sections a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionTool {
    /// goose: the UP section's statements run one by one, in one transaction unless the file
    /// says `-- +goose NO TRANSACTION` (then each on its own).
    Goose,
    /// dbmate: the UP section is sent as one query, in a transaction unless its directive says
    /// `transaction:false` (then PostgreSQL runs a section of several statements as one
    /// implicit transaction).
    Dbmate,
}

/// Where a sectioned file's UP and DOWN are, and how they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// goose or dbmate.
    pub tool: SectionTool,
    /// The byte ranges of the UP sections: from the line after each UP directive to the next
    /// directive that ends it (or the end of the file).
    pub up: Vec<Range<usize>>,
    /// The UP runs without the tool's transaction (`-- +goose NO TRANSACTION`,
    /// `-- migrate:up transaction:false`).
    pub no_transaction: bool,
    /// The byte ranges of the DOWN sections, as for the UP.
    pub down: Vec<Range<usize>>,
    /// The DOWN runs without the tool's transaction (`-- +goose NO TRANSACTION`,
    /// `-- migrate:down transaction:false`).
    pub down_no_transaction: bool,
}

/// A directive of either tool.
enum Directive {
    GooseUp,
    GooseDown,
    GooseNoTransaction,
    /// Another goose annotation (StatementBegin/End, ENVSUB): not a section boundary.
    GooseOther,
    DbmateUp {
        no_transaction: bool,
    },
    DbmateDown {
        no_transaction: bool,
    },
}

/// The sections of `text`, when it is a goose or a dbmate migration (it has an UP directive).
pub fn sections(text: &str) -> Option<Sections> {
    // Most files are neither: no lexing for them.
    if !text.contains("+goose") && !text.contains("migrate:") {
        return None;
    }
    let mut tool = None;
    let mut up: Vec<Range<usize>> = Vec::new();
    let mut down: Vec<Range<usize>> = Vec::new();
    // The section open now: whether it is an UP, and where it starts.
    let mut open: Option<(bool, usize)> = None;
    let mut no_transaction = false;
    let mut down_no_transaction = false;
    let mut close = |open: &mut Option<(bool, usize)>, at: usize| match open.take() {
        Some((true, start)) => up.push(start..at),
        Some((false, start)) => down.push(start..at),
        None => {}
    };
    let mut offset = 0;
    for token in squawk_lexer::tokenize(text) {
        let end = offset + token.len as usize;
        let piece = text.get(offset..end).unwrap_or("");
        if token.kind == squawk_lexer::TokenKind::LineComment
            && starts_line(text, offset)
            && let Some(directive) = directive(piece)
        {
            // The section starts on the line after its directive.
            let next_line = text[end..].find('\n').map_or(text.len(), |n| end + n + 1);
            match directive {
                Directive::GooseUp | Directive::DbmateUp { .. } => {
                    let this = match directive {
                        Directive::DbmateUp {
                            no_transaction: off,
                        } => {
                            no_transaction |= off;
                            SectionTool::Dbmate
                        }
                        _ => SectionTool::Goose,
                    };
                    if tool.is_none_or(|t| t == this) {
                        tool = Some(this);
                        close(&mut open, offset);
                        open = Some((true, next_line));
                    }
                }
                Directive::GooseDown | Directive::DbmateDown { .. } => {
                    close(&mut open, offset);
                    // (A DOWN before any UP belongs to no migration of this file's tool.)
                    if tool.is_some() {
                        if let Directive::DbmateDown {
                            no_transaction: off,
                        } = directive
                        {
                            down_no_transaction |= off;
                        }
                        open = Some((false, next_line));
                    }
                }
                Directive::GooseNoTransaction => {
                    no_transaction = true;
                    down_no_transaction = true;
                }
                Directive::GooseOther => {}
            }
        }
        offset = end;
    }
    close(&mut open, text.len());
    Some(Sections {
        tool: tool?,
        up: up.into_iter().filter(|r| r.start < r.end).collect(),
        no_transaction,
        down: down.into_iter().filter(|r| r.start < r.end).collect(),
        down_no_transaction,
    })
}

/// Nothing but spaces and tabs before `offset` on its line.
fn starts_line(text: &str, offset: usize) -> bool {
    let before = &text[..offset];
    let line = before.rfind('\n').map_or(before, |n| &before[n + 1..]);
    line.chars().all(|c| c == ' ' || c == '\t')
}

/// The directive a line comment holds, if any.
fn directive(comment: &str) -> Option<Directive> {
    let body = comment.strip_prefix("--")?.trim();
    if let Some(rest) = body.strip_prefix("+goose") {
        // As goose compares them: the whole annotation, in any case.
        let annotation = rest.trim();
        let is = |name: &str| annotation.eq_ignore_ascii_case(name);
        return Some(if is("up") {
            Directive::GooseUp
        } else if is("down") {
            Directive::GooseDown
        } else if is("no transaction") {
            Directive::GooseNoTransaction
        } else {
            Directive::GooseOther
        });
    }
    let (name, options) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    match name {
        "migrate:up" => Some(Directive::DbmateUp {
            no_transaction: options.split_whitespace().any(|o| o == "transaction:false"),
        }),
        "migrate:down" => Some(Directive::DbmateDown {
            no_transaction: options.split_whitespace().any(|o| o == "transaction:false"),
        }),
        _ => None,
    }
}

/// `text` with every byte outside `keep` made a space, except line breaks: offsets, lines and
/// columns stay those of `text`. `None` if a range does not fall on character boundaries.
pub fn blank_outside(text: &str, keep: &[Range<usize>]) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let mut kept = keep.iter().peekable();
    for (i, b) in bytes.iter_mut().enumerate() {
        while kept.peek().is_some_and(|r| r.end <= i) {
            kept.next();
        }
        let inside = kept.peek().is_some_and(|r| r.contains(&i));
        if !inside && *b != b'\n' {
            *b = b' ';
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goose_file_is_its_up_section_and_no_transaction_counts_anywhere() {
        let text = "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n-- +goose Down\nDROP INDEX i;\n";
        let found = sections(text).unwrap();
        assert_eq!(found.tool, SectionTool::Goose);
        assert!(found.no_transaction);
        assert_eq!(found.up.len(), 1);
        assert_eq!(
            &text[found.up[0].clone()],
            "CREATE INDEX CONCURRENTLY i ON t (a);\n\n"
        );
        // Blanked, the DOWN is gone and every line is where it was.
        let up = blank_outside(text, &found.up).unwrap();
        assert_eq!(up.len(), text.len());
        assert_eq!(up.lines().count(), text.lines().count());
        assert_eq!(
            up.lines().nth(2),
            Some("CREATE INDEX CONCURRENTLY i ON t (a);")
        );
        assert!(!up.contains("DROP"), "{up}");
        // The DOWN, for its own review; NO TRANSACTION holds for it too.
        assert_eq!(&text[found.down[0].clone()], "DROP INDEX i;\n");
        assert!(found.down_no_transaction);

        let in_transaction =
            "-- +goose up\nALTER TABLE t ADD c int;\n-- +goose down\nALTER TABLE t DROP c;\n";
        let found = sections(in_transaction).unwrap();
        assert!(!found.no_transaction);
        assert_eq!(
            &in_transaction[found.up[0].clone()],
            "ALTER TABLE t ADD c int;\n"
        );
    }

    #[test]
    fn a_dbmate_file_is_its_up_sections_with_their_option() {
        let text = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX i;\n\n-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n";
        let found = sections(text).unwrap();
        assert_eq!(found.tool, SectionTool::Dbmate);
        assert!(found.no_transaction);
        let ups: Vec<&str> = found.up.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            ups,
            ["CREATE INDEX CONCURRENTLY i ON t (a);\n", "SELECT 1;\n"]
        );
        let downs: Vec<&str> = found.down.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(downs, ["DROP INDEX i;\n\n", "SELECT 2;\n"]);
        assert!(!found.down_no_transaction);
        // The DOWN's own option.
        let own = sections("-- migrate:up\nSELECT 1;\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY i;\n").unwrap();
        assert!(!own.no_transaction && own.down_no_transaction);
    }

    #[test]
    fn a_directive_in_a_string_or_after_code_is_not_one() {
        assert_eq!(sections("SELECT '-- +goose Up';\n"), None);
        assert_eq!(sections("SELECT 1; -- migrate:up\n"), None);
        assert_eq!(
            sections(
                "CREATE FUNCTION f() RETURNS int AS $$\n-- +goose Up\nSELECT 1 $$ LANGUAGE sql;\n"
            ),
            None
        );
        // A file of neither tool.
        assert_eq!(sections("CREATE TABLE t (a int);\n"), None);
    }
}
