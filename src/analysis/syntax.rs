//! Small helpers over squawk's lossless syntax tree: children by kind, names, spans.

use std::ops::Range;

use squawk_syntax::{SyntaxKind, SyntaxNode, SyntaxToken};

/// The byte range of a node.
pub(crate) fn span(node: &SyntaxNode) -> Range<usize> {
    let range = node.text_range();
    usize::from(range.start())..usize::from(range.end())
}

/// The byte range of a token.
pub(crate) fn token_span(token: &SyntaxToken) -> Range<usize> {
    let range = token.text_range();
    usize::from(range.start())..usize::from(range.end())
}

/// The first direct child node of a kind.
pub(crate) fn child(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxNode> {
    node.children().find(|c| c.kind() == kind)
}

/// The first direct child node of any of the kinds.
pub(crate) fn child_any(node: &SyntaxNode, kinds: &[SyntaxKind]) -> Option<SyntaxNode> {
    node.children().find(|c| kinds.contains(&c.kind()))
}

/// The direct child nodes of a kind.
pub(crate) fn children(node: &SyntaxNode, kind: SyntaxKind) -> impl Iterator<Item = SyntaxNode> {
    node.children().filter(move |c| c.kind() == kind)
}

/// The first direct child token of a kind.
pub(crate) fn token(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxToken> {
    node.children_with_tokens()
        .filter_map(|e| e.into_token())
        .find(|t| t.kind() == kind)
}

/// Whether the node has a direct child token of a kind.
pub(crate) fn has_token(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    token(node, kind).is_some()
}

/// The first descendant node (the node itself included) of a kind.
pub(crate) fn descendant(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxNode> {
    node.descendants().find(|c| c.kind() == kind)
}

/// Whether any descendant node (the node itself included) has one of the kinds.
pub(crate) fn has_descendant(node: &SyntaxNode, kinds: &[SyntaxKind]) -> bool {
    node.descendants().any(|c| kinds.contains(&c.kind()))
}

/// One identifier as PostgreSQL folds it: unquoted names lower-cased, quoted names verbatim.
pub(crate) fn fold_ident(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_folded(&mut out, text);
    out
}

/// Appends [`fold_ident`]`(text)` to `out`, cut as the server cuts an identifier longer than
/// [`MAX_IDENTIFIER_BYTES`] (so `CREATE INDEX` of a 64-byte name and a later `DROP INDEX` of its
/// 63-byte form name the same index).
fn push_folded(out: &mut String, text: &str) {
    let start = out.len();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => out.push_str(&inner.replace("\"\"", "\"")),
        None if text.is_ascii() => out.extend(text.chars().map(|c| c.to_ascii_lowercase())),
        None => out.push_str(&text.to_lowercase()),
    }
    if out.len() - start > MAX_IDENTIFIER_BYTES {
        let mut end = start + MAX_IDENTIFIER_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
}

/// PostgreSQL keeps the first `NAMEDATALEN - 1` bytes of an identifier (whole characters).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The dotted name a node spells (e.g. a `PATH_REF`), folded, with a leading `public.` removed so
/// `public.t` and `t` compare equal.
pub(crate) fn name_text(node: &SyntaxNode) -> String {
    let mut out = String::with_capacity(usize::from(node.text_range().len()));
    for tok in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        let kind = tok.kind();
        if kind.is_trivia() {
            continue;
        }
        if kind == SyntaxKind::DOT {
            out.push('.');
        } else if kind == SyntaxKind::STRING {
            out.push_str(tok.text().trim_matches('\''));
        } else {
            push_folded(&mut out, tok.text());
        }
    }
    if out.starts_with("public.") {
        out.replace_range(.."public.".len(), "");
    }
    out
}

/// The dotted name a node spells, one folded part per identifier (`"Sales"."Q1.total"` is
/// `["Sales", "Q1.total"]`): unlike [`name_text`], a quoted name holding a dot stays one part.
pub(crate) fn name_parts(node: &SyntaxNode) -> Vec<String> {
    let mut parts = vec![String::new()];
    for tok in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        match tok.kind() {
            kind if kind.is_trivia() => {}
            SyntaxKind::DOT => parts.push(String::new()),
            SyntaxKind::STRING => parts
                .last_mut()
                .expect("never empty")
                .push_str(tok.text().trim_matches('\'')),
            _ => parts
                .last_mut()
                .expect("never empty")
                .push_str(&fold_ident(tok.text())),
        }
    }
    parts
}

/// The relation a node names: its first `TABLE_NAME_REF`, `RELATION_NAME_REF`, `TABLE_NAME`,
/// `INDEX_REF`, `VIEW_REF` or `PATH_REF` descendant.
pub(crate) fn relation_in(node: &SyntaxNode) -> Option<String> {
    use SyntaxKind::*;
    let found = node.descendants().find(|n| {
        matches!(
            n.kind(),
            TABLE_NAME_REF
                | RELATION_NAME_REF
                | TABLE_NAME
                | INDEX_REF
                | VIEW_REF
                | PATH_REF
                | PATH
        )
    })?;
    let name = name_text(&found);
    (!name.is_empty()).then_some(name)
}

/// A type or expression's text with whitespace collapsed and lower-cased, for comparisons.
pub(crate) fn squashed_text(node: &SyntaxNode) -> String {
    let mut out = String::new();
    for tok in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        if tok.kind().is_trivia() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            continue;
        }
        out.push_str(&tok.text().to_lowercase());
    }
    out.trim().to_string()
}
