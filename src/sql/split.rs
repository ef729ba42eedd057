//! Splitting a migration into statements with squawk's PostgreSQL parser.
//!
//! Statements end at the semicolons that sit at the top level of the syntax tree, so semicolons
//! inside string literals, quoted identifiers, comments, dollar-quoted bodies and `BEGIN ATOMIC`
//! bodies never split a statement. The parser is error tolerant: a syntax error is reported, and the
//! text around it is still split (PostgreSQL itself has the last word when the statement runs).

use std::ops::Range;

use serde::Serialize;
use squawk_syntax::{Parse, SourceFile, SyntaxKind, SyntaxNode};

use super::{LineCol, LineIndex};

/// One SQL statement of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Position among the file's statements, from 0.
    pub index: usize,
    /// Byte range in the file, from the first token to the last token before the semicolon.
    pub span: Range<usize>,
    /// Where the statement starts.
    pub start: LineCol,
    /// The statement text (without the terminating semicolon and surrounding comments).
    pub text: String,
}

/// A syntax error the parser found, with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxProblem {
    /// The parser's message.
    pub message: String,
    /// Byte range in the file.
    pub span: Range<usize>,
    /// Where it starts.
    pub start: LineCol,
}

/// Texts from this size on are split a piece at a time, so that the parse tree of one piece, not
/// of the whole text, is in memory at once (a whole tree takes several times the text's size).
const SPLIT_IN_PIECES_FROM: usize = 4 << 20;
/// About how big each piece is.
const PIECE_BYTES: usize = 1 << 20;

/// Splits `text` into statements and reports syntax errors. Comment-only text gives no statements.
pub fn split_statements(text: &str) -> (Vec<Statement>, Vec<SyntaxProblem>) {
    if text.len() >= SPLIT_IN_PIECES_FROM
        && let Some(statements) = split_in_pieces(text)
    {
        return (statements, Vec::new());
    }
    split_parsed(text, &SourceFile::parse(text))
}

/// Splits a large text piece by piece, cut after top-level statement ends; `None` when it cannot
/// be cut or a piece has a syntax error (the caller then parses it whole, to report the error
/// as the whole text sees it).
fn split_in_pieces(text: &str) -> Option<Vec<Statement>> {
    let cuts = super::statement_cuts(text, text.len().div_ceil(PIECE_BYTES))?;
    let index = LineIndex::new(text);
    let mut statements: Vec<Statement> = Vec::new();
    for piece in cuts.windows(2) {
        let (from, to) = (piece[0], piece[1]);
        let parse = SourceFile::parse(&text[from..to]);
        if !parse.errors().is_empty() {
            return None;
        }
        let first = statements.len();
        statements.extend(
            split_tree(&text[from..to], &parse.syntax_node())
                .into_iter()
                .map(|mut statement| {
                    statement.index += first;
                    statement.span = statement.span.start + from..statement.span.end + from;
                    statement.start = index.line_col(text, statement.span.start);
                    statement
                }),
        );
    }
    Some(statements)
}

/// Like [`split_statements`], for a text the caller has already parsed (so the tree can be reused).
pub fn split_parsed(text: &str, parse: &Parse<SourceFile>) -> (Vec<Statement>, Vec<SyntaxProblem>) {
    (
        split_tree(text, &parse.syntax_node()),
        syntax_problems(text, parse),
    )
}

/// The statements of an already parsed text (its root node), without the syntax errors.
pub fn split_tree(text: &str, root: &SyntaxNode) -> Vec<Statement> {
    split_tree_indexed(text, root, &LineIndex::new(text))
}

/// [`split_tree`] with the text's line index at hand.
pub(crate) fn split_tree_indexed(
    text: &str,
    root: &SyntaxNode,
    index: &LineIndex,
) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let push = |range: Range<usize>, statements: &mut Vec<Statement>| {
        statements.push(Statement {
            index: statements.len(),
            start: index.line_col(text, range.start),
            text: text[range.clone()].to_string(),
            span: range,
        });
    };
    let extend = |current: Option<Range<usize>>, range: Range<usize>| match current {
        Some(stmt) => Some(stmt.start..range.end),
        None => Some(range),
    };
    // The parser hangs each statement's terminating semicolon under the statement's node; a
    // statement that is not terminated (a syntax error) runs on into the next node, as in psql.
    for element in root.children_with_tokens() {
        let kind = element.kind();
        if kind.is_trivia() {
            continue;
        }
        if kind == SyntaxKind::SEMICOLON {
            if let Some(stmt) = current.take() {
                push(stmt, &mut statements);
            }
            continue;
        }
        let range = to_range(element.text_range());
        let Some(node) = element.as_node() else {
            current = extend(current, range);
            continue;
        };
        let mut parts = node
            .children_with_tokens()
            .filter(|child| !child.kind().is_trivia());
        let last = parts.clone().last();
        if last.as_ref().map(|l| l.kind()) == Some(SyntaxKind::SEMICOLON) {
            let content_end = parts
                .by_ref()
                .filter(|child| child.kind() != SyntaxKind::SEMICOLON)
                .last()
                .map(|child| to_range(child.text_range()).end);
            if let Some(end) = content_end {
                current = extend(current, range.start..end);
            }
            if let Some(stmt) = current.take() {
                push(stmt, &mut statements);
            }
        } else {
            current = extend(current, range);
        }
    }
    if let Some(stmt) = current {
        push(stmt, &mut statements);
    }
    statements
}

/// The syntax errors of an already parsed text.
pub fn syntax_problems(text: &str, parse: &Parse<SourceFile>) -> Vec<SyntaxProblem> {
    syntax_problems_indexed(text, parse, &LineIndex::new(text))
}

/// [`syntax_problems`] with the text's line index at hand.
pub(crate) fn syntax_problems_indexed(
    text: &str,
    parse: &Parse<SourceFile>,
    index: &LineIndex,
) -> Vec<SyntaxProblem> {
    parse
        .errors()
        .into_iter()
        .map(|error| {
            let span = to_range(error.range());
            SyntaxProblem {
                message: error.message().to_string(),
                start: index.line_col(text, span.start),
                span,
            }
        })
        .collect()
}

fn to_range(range: rowan::TextRange) -> Range<usize> {
    usize::from(range.start())..usize::from(range.end())
}

/// Where the text after a statement ending at `end` starts: past its semicolon and line break.
pub fn past_statement_end(text: &str, end: usize) -> usize {
    let mut end = end.min(text.len());
    if text.get(end..).unwrap_or("").starts_with(';') {
        end += 1;
    }
    let rest = text.get(end..).unwrap_or("");
    if rest.starts_with("\r\n") {
        end + 2
    } else {
        end + usize::from(rest.starts_with('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split_statements(sql)
            .0
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "-- a comment; with a semicolon\n\
                   CREATE TABLE t (id int, note text DEFAULT 'a;b');\n\
                   /* block; comment */\n\
                   INSERT INTO \"we;ird\" VALUES (1);\n\
                   CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\n\
                   BEGIN\n  NEW.x := 1;\n  RETURN NEW;\nEND;\n$body$;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   SELECT E'it\\'s;' AS x";
        assert_eq!(
            texts(sql),
            vec![
                "CREATE TABLE t (id int, note text DEFAULT 'a;b')".to_string(),
                "INSERT INTO \"we;ird\" VALUES (1)".to_string(),
                "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  NEW.x := 1;\n  RETURN NEW;\nEND;\n$body$".to_string(),
                "DO $$ BEGIN PERFORM 1; END $$".to_string(),
                "SELECT E'it\\'s;' AS x".to_string(),
            ]
        );
    }

    #[test]
    fn sql_standard_function_bodies_stay_whole() {
        let sql = "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n\
                   BEGIN ATOMIC\n  SELECT a + b;\nEND;\nSELECT 1;";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].ends_with("END"));
    }

    #[test]
    fn statements_carry_spans_and_lines() {
        let sql = "-- no-transaction\n\nCREATE INDEX CONCURRENTLY i ON t (a);\n  DROP TABLE x;\n";
        let (stmts, problems) = split_statements(sql);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].start, LineCol { line: 3, column: 1 });
        assert_eq!(stmts[1].start, LineCol { line: 4, column: 3 });
        assert_eq!(&sql[stmts[1].span.clone()], "DROP TABLE x");
        assert_eq!(stmts[1].index, 1);
    }

    #[test]
    fn comment_only_text_has_no_statements() {
        assert!(texts("-- Add migration script here\n").is_empty());
        assert!(texts("").is_empty());
        assert!(texts(";;").is_empty());
    }

    #[test]
    fn syntax_errors_are_reported_and_the_rest_still_splits() {
        let sql = "CREATE TABLE ok (id int);\nCREATE TABLE (;\nSELECT 2;";
        let (stmts, problems) = split_statements(sql);
        assert!(!problems.is_empty());
        assert_eq!(problems[0].start.line, 2);
        assert_eq!(stmts.first().unwrap().text, "CREATE TABLE ok (id int)");
        assert_eq!(stmts.last().unwrap().text, "SELECT 2");
    }
}
