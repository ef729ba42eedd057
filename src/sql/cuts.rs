//! Where a large SQL text can be cut into pieces that parse on their own: after top-level
//! statement ends, found with squawk's lexer.

/// Where to cut `text` into about `pieces` parts: offsets from 0 to `text.len()`, each cut at the
/// start of a line that follows a top-level `;` (found with the lexer, so never inside a string,
/// a dollar-quoted body, a comment, parentheses or a `BEGIN ATOMIC … END` body).
pub fn statement_cuts(text: &str, pieces: usize) -> Option<Vec<usize>> {
    use squawk_lexer::TokenKind;
    let mut safe_ends: Vec<usize> = Vec::new();
    let (mut depth, mut atomic, mut cases) = (0usize, 0usize, 0usize);
    let mut previous_word: Option<&str> = None;
    let mut offset = 0;
    let mut after_semicolon = false;
    for token in squawk_lexer::tokenize(text) {
        let end = offset + token.len as usize;
        let piece = text.get(offset..end).unwrap_or("");
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            TokenKind::Semi => after_semicolon = depth == 0 && atomic == 0,
            TokenKind::Whitespace => {
                if after_semicolon && let Some(newline) = piece.find('\n') {
                    safe_ends.push(offset + newline + 1);
                    after_semicolon = false;
                }
            }
            TokenKind::Ident => {
                let word = piece;
                if word.eq_ignore_ascii_case("atomic")
                    && previous_word.is_some_and(|w| w.eq_ignore_ascii_case("begin"))
                {
                    atomic += 1;
                } else if atomic > 0 && word.eq_ignore_ascii_case("case") {
                    cases += 1;
                } else if atomic > 0 && word.eq_ignore_ascii_case("end") {
                    if cases > 0 {
                        cases -= 1;
                    } else {
                        atomic -= 1;
                    }
                }
                previous_word = Some(word);
                after_semicolon = false;
            }
            TokenKind::LineComment | TokenKind::BlockComment { .. } => {}
            _ => after_semicolon = false,
        }
        if !matches!(token.kind, TokenKind::Ident | TokenKind::Whitespace) {
            previous_word = None;
        }
        offset = end;
    }
    let mut cuts = vec![0];
    for i in 1..pieces {
        let target = text.len() * i / pieces;
        let at = safe_ends.partition_point(|&e| e < target);
        match safe_ends.get(at) {
            Some(&cut) if cut > cuts[cuts.len() - 1] && cut < text.len() => cuts.push(cut),
            _ => {}
        }
    }
    if cuts.len() < 2 {
        return None;
    }
    cuts.push(text.len());
    Some(cuts)
}

/// Whether `statement` may open or end a transaction block: its first word (read with the lexer,
/// past comments) is `BEGIN`, `START`, `COMMIT`, `END`, `ROLLBACK`, `ABORT` or `PREPARE`. A cheap
/// look before parsing a whole file to find out what it does.
pub fn may_control_transaction(statement: &str) -> bool {
    use squawk_lexer::TokenKind;
    let mut offset = 0;
    for token in squawk_lexer::tokenize(statement) {
        let end = offset + token.len as usize;
        match token.kind {
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment { .. } => {}
            TokenKind::Ident => {
                let word = statement.get(offset..end).unwrap_or("");
                return [
                    "begin", "start", "commit", "end", "rollback", "abort", "prepare",
                ]
                .iter()
                .any(|w| word.eq_ignore_ascii_case(w));
            }
            _ => return false,
        }
        offset = end;
    }
    false
}

/// `text` with its comments (`-- …` to the line end, `/* … */`) each replaced by one space, found
/// with the lexer (so a `--` inside a string or a dollar-quoted body stays). For showing a
/// statement on one line, where a line comment would otherwise swallow all that follows it.
pub fn without_comments(text: &str) -> std::borrow::Cow<'_, str> {
    use squawk_lexer::TokenKind;
    if !text.contains("--") && !text.contains("/*") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut offset = 0;
    for token in squawk_lexer::tokenize(text) {
        let end = offset + token.len as usize;
        match token.kind {
            TokenKind::LineComment | TokenKind::BlockComment { .. } => out.push(' '),
            _ => out.push_str(text.get(offset..end).unwrap_or("")),
        }
        offset = end;
    }
    out.into()
}

#[cfg(test)]
mod control_tests {
    use super::{may_control_transaction, without_comments};

    #[test]
    fn comments_become_spaces_and_strings_keep_theirs() {
        assert_eq!(
            without_comments("create table t ( -- why\n  a int /* b */, c text default '--x' )"),
            "create table t (  \n  a int  , c text default '--x' )"
        );
        assert_eq!(
            without_comments("do $$ begin -- kept\n end $$"),
            "do $$ begin -- kept\n end $$"
        );
        assert_eq!(without_comments("select 1"), "select 1");
    }

    #[test]
    fn the_first_word_says_whether_a_statement_may_control_the_transaction() {
        for yes in [
            "BEGIN",
            "begin isolation level serializable",
            "/* c */ COMMIT",
            "END",
            "ROLLBACK",
            "abort",
            "START TRANSACTION",
            "PREPARE TRANSACTION 'x'",
        ] {
            assert!(may_control_transaction(yes), "{yes}");
        }
        for no in [
            "SELECT 'BEGIN'",
            "CREATE TABLE t (id int)",
            "\"begin\"",
            "DO $$ BEGIN END $$",
            "",
        ] {
            assert!(!may_control_transaction(no), "{no}");
        }
    }
}
