//! Review-integrity checks: text that reads differently from how PostgreSQL parses it. Hidden
//! characters (controls, bidirectional controls, invisible characters, odd spaces) anywhere in
//! the file, and identifiers that mix scripts. Where a character sits (string literal, comment,
//! identifier…) comes from squawk's lexer.

use std::ops::Range;

use squawk_lexer::{LiteralKind, TokenKind};
use unicode_script::{Script, UnicodeScript};
use unicode_security::MixedScript;

use super::checks::Draft;
use crate::analysis::{Fix, Severity, TextEdit};
use crate::text::visible::{Hidden, describe_char, hidden_chars, is_clean};

/// Where in the SQL a character is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    StringLiteral,
    DollarQuoted,
    Comment,
    Identifier,
    Elsewhere,
}

impl Place {
    fn of(kind: TokenKind) -> Place {
        match kind {
            TokenKind::Literal {
                kind: LiteralKind::DollarQuotedString { .. },
            } => Place::DollarQuoted,
            TokenKind::Literal {
                kind:
                    LiteralKind::Str { .. }
                    | LiteralKind::NationalStr { .. }
                    | LiteralKind::EscStr { .. }
                    | LiteralKind::UnicodeEscStr { .. }
                    | LiteralKind::ByteStr { .. }
                    | LiteralKind::BitStr { .. },
            } => Place::StringLiteral,
            TokenKind::LineComment | TokenKind::BlockComment { .. } => Place::Comment,
            TokenKind::Ident | TokenKind::QuotedIdent { .. } => Place::Identifier,
            _ => Place::Elsewhere,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Place::StringLiteral => {
                "in a string literal: the value stored holds it, and the statement shows differently from what PostgreSQL reads"
            }
            Place::DollarQuoted => {
                "in a dollar-quoted body: the function code or string holds it, and shows differently from what PostgreSQL reads"
            }
            Place::Comment => {
                "in a comment: it can make the code around it read differently from how it runs"
            }
            Place::Identifier => {
                "in an identifier: PostgreSQL reads it as part of the name, so the name is not the one you see"
            }
            Place::Elsewhere => "outside any literal or comment: PostgreSQL rejects or misreads it",
        }
    }

    fn help(self, c: char) -> String {
        match self {
            Place::StringLiteral | Place::DollarQuoted => {
                let code = u32::from(c);
                let escape = if code <= 0xffff {
                    format!("U&'\\{code:04X}'")
                } else {
                    format!("U&'\\+{code:06X}'")
                };
                format!(
                    "remove it, or spell it as an escape a reviewer can read: {escape} or chr({code})"
                )
            }
            Place::Identifier => "remove it and name the object with visible characters".into(),
            Place::Comment | Place::Elsewhere => "remove it".into(),
        }
    }
}

/// The review-integrity findings of a text (context-free: they depend on the text alone).
pub(crate) fn review_integrity(text: &str) -> Vec<Draft> {
    if text.is_ascii() && is_clean(text) {
        return Vec::new();
    }
    let hidden: Vec<(usize, char, Hidden)> = hidden_chars(text).collect();
    let scan_identifiers = !text.is_ascii();
    if hidden.is_empty() && !scan_identifiers {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut next_hidden = 0;
    let mut offset = 0;
    for token in squawk_lexer::tokenize(text) {
        let span = offset..offset + token.len as usize;
        offset = span.end;
        let place = Place::of(token.kind);
        let first = next_hidden;
        while hidden.get(next_hidden).is_some_and(|h| h.0 < span.end) {
            next_hidden += 1;
        }
        for run in runs(&hidden[first..next_hidden]) {
            out.push(hidden_draft(run, place));
        }
        if scan_identifiers && place == Place::Identifier {
            out.extend(mixed_script(text, span));
        }
    }
    out
}

/// Splits hidden characters into runs of adjacent ones.
fn runs(hidden: &[(usize, char, Hidden)]) -> Vec<&[(usize, char, Hidden)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=hidden.len() {
        let ends = i == hidden.len() || hidden[i - 1].0 + hidden[i - 1].1.len_utf8() != hidden[i].0;
        if ends {
            out.push(&hidden[start..i]);
            start = i;
        }
    }
    out
}

fn hidden_draft(run: &[(usize, char, Hidden)], place: Place) -> Draft {
    let (first, last) = (run[0], run[run.len() - 1]);
    let span = first.0..last.0 + last.1.len_utf8();
    let mut names: Vec<String> = Vec::new();
    for &(_, c, _) in run {
        let name = describe_char(c);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let list = crate::format::first_and_more(&names, 3);
    let what = if run.len() == 1 {
        format!("{} {list}", first.2.describe())
    } else {
        let mut kinds: Vec<&str> = run.iter().map(|h| h.2.describe()).collect();
        kinds.sort();
        kinds.dedup();
        format!(
            "{} hidden characters ({}): {list}",
            run.len(),
            kinds.join(", ")
        )
    };
    let mut draft = Draft::new(
        "hidden-character",
        span.clone(),
        format!("{what} {}", place.phrase()),
    );
    draft.safe_alternative = Some(place.help(first.1));
    // An odd space in a literal or a comment changes what a reader sees, not what runs.
    let only_spaces = run.iter().all(|h| h.2 == Hidden::Space);
    if only_spaces && place != Place::Identifier && place != Place::Elsewhere {
        draft.severity = Some(Severity::Warning);
    }
    if matches!(place, Place::Comment | Place::Elsewhere) {
        draft.fix = Some(Fix {
            description: "delete the hidden characters".to_string(),
            edits: vec![TextEdit {
                span,
                replacement: String::new(),
            }],
        });
    }
    draft
}

/// A note for an identifier whose letters come from more than one script (`pаyments` with a
/// Cyrillic `а`), which can pass for another name.
fn mixed_script(text: &str, span: Range<usize>) -> Option<Draft> {
    let token = text.get(span.clone())?;
    if token.is_ascii() {
        return None;
    }
    let name = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(token);
    if name.is_single_script() {
        return None;
    }
    // The scripts in order of how many letters each has: the first is the name's own.
    let mut counts: Vec<(Script, usize)> = Vec::new();
    for c in name.chars() {
        let script = c.script();
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        match counts.iter_mut().find(|(s, _)| *s == script) {
            Some((_, n)) => *n += 1,
            None => counts.push((script, 1)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let main = counts.first()?.0;
    let odd: Vec<String> = name
        .chars()
        .filter(|c| {
            let s = c.script();
            s != main && !matches!(s, Script::Common | Script::Inherited | Script::Unknown)
        })
        .map(|c| format!("{c} {}", crate::text::visible::code_point(c)))
        .take(4)
        .collect();
    let scripts: Vec<&str> = counts.iter().map(|(s, _)| s.full_name()).collect();
    let mut draft = Draft::new(
        "mixed-script-identifier",
        span,
        format!(
            "identifier {token} mixes scripts ({}): {} can pass for a look-alike, so it may not be the name it seems",
            scripts.join(", "),
            odd.join(", ")
        ),
    );
    draft.safe_alternative = Some(format!(
        "spell the name in one script ({})",
        main.full_name()
    ));
    Some(draft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(&'static str, Range<usize>, String)> {
        review_integrity(text)
            .into_iter()
            .map(|d| (d.rule, d.span, d.message))
            .collect()
    }

    #[test]
    fn finds_each_place() {
        let text = "INSERT INTO t VALUES ('\u{1b}[8m'); -- a\u{202e}b\nSELECT x\u{200b};\n";
        let found = rules(text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].2.contains("U+001B ESCAPE"), "{found:?}");
        assert!(found[0].2.contains("string literal"));
        assert!(found[1].2.contains("U+202E RIGHT-TO-LEFT OVERRIDE"));
        assert!(found[1].2.contains("comment"));
        assert!(found[2].2.contains("U+200B ZERO WIDTH SPACE"));
        assert!(found[2].2.contains("identifier"), "{found:?}");
        assert_eq!(&text[found[0].1.clone()], "\u{1b}");
        assert!(rules("SELECT 'plain é';\r\n").is_empty());
    }

    #[test]
    fn adjacent_hidden_characters_are_one_finding() {
        let found = rules("SELECT '\u{202e}\u{2066}\u{1b}x';");
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .2
                .contains("3 hidden characters (bidirectional control, control character): U+202E"),
            "{}",
            found[0].2
        );
    }

    #[test]
    fn mixed_scripts_are_noted_single_scripts_are_not() {
        // A Cyrillic `а` in a Latin name.
        let found = rules("SELECT * FROM p\u{430}yments;");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "mixed-script-identifier");
        assert!(found[0].2.contains("Latin, Cyrillic"), "{}", found[0].2);
        assert!(found[0].2.contains("U+0430"));
        assert!(rules("SELECT * FROM \"заказы\", données, 注文テーブル;").is_empty());
    }
}
