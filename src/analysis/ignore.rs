//! Suppression comments: `-- lockstep-ignore rule-a, rule-b` (next statement),
//! `-- lockstep-ignore-file [rules]` (whole file), squawk's `-- squawk-ignore` /
//! `-- squawk-ignore-file` with squawk rule names, and diesel-guard's `-- safety-assured:start` …
//! `-- safety-assured:end` blocks, so existing codebases need no edits.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use rowan::NodeOrToken;
use squawk_syntax::{SyntaxKind, SyntaxNode, SyntaxToken};

use super::rules::resolve;
use super::syntax::token_span;
use super::types::{Axis, Finding};
use crate::sql::{LineIndex, Statement};

/// A per-statement directive.
#[derive(Debug, Clone)]
pub(crate) struct NextDirective {
    /// Line of the comment (findings starting there are covered too).
    line: usize,
    /// Byte offset where the comment ends.
    end: usize,
    /// Rules covered; None means all.
    rules: Option<BTreeSet<&'static str>>,
}

/// The directives of a file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Directives {
    /// A file-wide directive without names.
    file_all: bool,
    /// Rules ignored file-wide.
    file_rules: BTreeSet<&'static str>,
    /// Per-statement directives.
    next: Vec<NextDirective>,
    /// Unknown rule names, with the comment's span.
    pub unknown: Vec<(Range<usize>, String)>,
    /// diesel-guard's block markers in order: each comment's span, and whether it starts a block.
    assured_marks: Vec<(Range<usize>, bool)>,
}

/// diesel-guard's `-- safety-assured` blocks of a file.
pub(crate) struct AssuredBlocks {
    /// The text between each `-- safety-assured:start` and the `-- safety-assured:end` after it.
    pub blocks: Vec<Range<usize>>,
    /// The markers that pair with nothing, with their spans.
    pub unpaired: Vec<(Range<usize>, Unpaired)>,
}

/// What is wrong with a `-- safety-assured` marker that pairs with nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unpaired {
    /// A start with no end after it.
    Unclosed,
    /// A start inside an open block.
    Nested,
    /// An end with no open block.
    Unmatched,
}

impl Unpaired {
    /// What the finding says.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Unpaired::Unclosed => {
                "`-- safety-assured:start` has no `-- safety-assured:end` after it: the block \
                 suppresses nothing"
            }
            Unpaired::Nested => {
                "`-- safety-assured:start` inside a block already open: blocks do not nest, so \
                 this marker is ignored"
            }
            Unpaired::Unmatched => {
                "`-- safety-assured:end` closes no block: there is no `-- safety-assured:start` \
                 before it"
            }
        }
    }
}

impl Directives {
    /// Adds the directives of another part of the same file.
    pub(crate) fn absorb(&mut self, other: Directives) {
        self.file_all |= other.file_all;
        self.file_rules.extend(other.file_rules);
        self.next.extend(other.next);
        self.unknown.extend(other.unknown);
        self.assured_marks.extend(other.assured_marks);
        self.assured_marks.sort_by_key(|(span, _)| span.start);
    }

    /// diesel-guard's blocks, and the markers that pair with nothing.
    pub(crate) fn assured_blocks(&self) -> AssuredBlocks {
        let mut blocks = Vec::new();
        let mut unpaired = Vec::new();
        let mut open: Option<&Range<usize>> = None;
        for (span, start) in &self.assured_marks {
            match (start, open) {
                (true, None) => open = Some(span),
                (true, Some(_)) => unpaired.push((span.clone(), Unpaired::Nested)),
                (false, Some(from)) => {
                    blocks.push(from.end..span.start);
                    open = None;
                }
                (false, None) => unpaired.push((span.clone(), Unpaired::Unmatched)),
            }
        }
        if let Some(from) = open {
            unpaired.push((from.clone(), Unpaired::Unclosed));
        }
        AssuredBlocks { blocks, unpaired }
    }
}

/// diesel-guard's block marker: `Some(true)` for `-- safety-assured:start`, `Some(false)` for
/// `-- safety-assured:end` (any case), when the comment is alone on its line.
fn assured_marker(comment: &str, alone_on_line: bool) -> Option<bool> {
    let body = comment.strip_prefix("--")?.trim();
    if !alone_on_line {
        return None;
    }
    if body.eq_ignore_ascii_case("safety-assured:start") {
        Some(true)
    } else if body.eq_ignore_ascii_case("safety-assured:end") {
        Some(false)
    } else {
        None
    }
}

/// Splits a comment's text into a directive, if it is one: `(file_wide, names)`.
fn directive(comment: &str) -> Option<(bool, Vec<&str>)> {
    let body = if let Some(rest) = comment.strip_prefix("--") {
        rest
    } else {
        comment.strip_prefix("/*")?.strip_suffix("*/").unwrap_or("")
    };
    let body = body.trim_start();
    let (file, rest) = [
        ("lockstep-ignore-file", true),
        ("squawk-ignore-file", true),
        ("lockstep-ignore", false),
        ("squawk-ignore", false),
    ]
    .iter()
    .find_map(|(prefix, file)| {
        let rest = body.strip_prefix(prefix)?;
        let boundary = rest.is_empty() || rest.starts_with([' ', '\t', ':', ',', '\n', '\r']);
        boundary.then_some((*file, rest))
    })?;
    // A trailing `-- reason` is allowed.
    let rest = rest.split("--").next().unwrap_or("");
    let names = rest
        .split([',', ' ', '\t', ':', '\n', '\r'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    Some((file, names))
}

/// The comment tokens of a parsed file, in order. Statements whose text has no `--` or `/*` are
/// not searched (the tree still decides what is a comment: not the text).
fn comments(root: &SyntaxNode, text: &str) -> Vec<SyntaxToken> {
    let mut out: Vec<SyntaxToken> = Vec::new();
    for element in root.children_with_tokens() {
        match element {
            NodeOrToken::Token(token) => {
                if token.kind() == SyntaxKind::COMMENT {
                    out.push(token);
                }
            }
            NodeOrToken::Node(node) => {
                let range = node.text_range();
                let slice = text
                    .get(usize::from(range.start())..usize::from(range.end()))
                    .unwrap_or("");
                if slice.contains("--") || slice.contains("/*") {
                    out.extend(
                        node.descendants_with_tokens()
                            .filter_map(|e| e.into_token())
                            .filter(|t| t.kind() == SyntaxKind::COMMENT),
                    );
                }
            }
        }
    }
    out
}

/// Reads the directives from the comments of a parsed file.
pub(crate) fn parse_directives(root: &SyntaxNode, text: &str, lines: &LineIndex) -> Directives {
    let mut out = Directives::default();
    for token in comments(root, text) {
        let span = token_span(&token);
        let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let alone = text[line_start..span.start].trim().is_empty();
        if let Some(start) = assured_marker(token.text(), alone) {
            out.assured_marks.push((span, start));
            continue;
        }
        let Some((file, names)) = directive(token.text()) else {
            continue;
        };
        let mut rules = BTreeSet::new();
        for name in &names {
            let resolved = resolve(name);
            if resolved.is_empty() {
                out.unknown.push((span.clone(), (*name).to_string()));
            }
            rules.extend(resolved);
        }
        if file {
            if names.is_empty() {
                out.file_all = true;
            }
            out.file_rules.extend(rules);
        } else {
            out.next.push(NextDirective {
                line: lines.line_col(text, span.start).line,
                end: span.end,
                rules: (!names.is_empty()).then_some(rules),
            });
        }
    }
    out
}

/// Splits findings into those kept and those an ignore comment suppresses.
pub(crate) fn apply_ignores(
    findings: Vec<Finding>,
    directives: &Directives,
    assured_blocks: &[Range<usize>],
    statements: &[Statement],
) -> (Vec<Finding>, Vec<Finding>) {
    // Each per-statement directive covers the first statement starting after the comment, and
    // findings starting on the comment's own line. Index both for a single pass over findings.
    let mut by_statement: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut by_line: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, d) in directives.next.iter().enumerate() {
        let at = statements.partition_point(|s| s.span.start < d.end);
        if let Some(stmt) = statements.get(at) {
            by_statement.entry(stmt.index).or_default().push(i);
        }
        by_line.entry(d.line).or_default().push(i);
    }
    // A blanket directive (no rule named) does not cover review-integrity findings: hiding a
    // hidden character takes naming its rule.
    let covers = |i: &usize, finding: &Finding| match &directives.next[*i].rules {
        Some(rules) => rules.contains(finding.rule),
        None => finding.axis != Axis::ReviewIntegrity,
    };
    // A diesel-guard block (from [`Directives::assured_blocks`]) covers every statement starting
    // in it, for every rule but the review-integrity ones (as a blanket directive).
    let assured = |finding: &Finding| {
        let at = finding
            .statement_index
            .and_then(|i| statements.get(i))
            .map_or(finding.span.start, |s| s.span.start);
        finding.axis != Axis::ReviewIntegrity && assured_blocks.iter().any(|b| b.contains(&at))
    };
    let mut kept = Vec::new();
    let mut suppressed = Vec::new();
    for finding in findings {
        // Bad ignore comments cannot be ignored away by themselves.
        let ignorable = !matches!(
            finding.rule,
            "unknown-rule-in-ignore" | "unmatched-ignore-block"
        );
        let by_file = (directives.file_all && finding.axis != Axis::ReviewIntegrity)
            || directives.file_rules.contains(finding.rule);
        let by_next = finding
            .statement_index
            .and_then(|i| by_statement.get(&i))
            .is_some_and(|ds| ds.iter().any(|d| covers(d, &finding)))
            || by_line
                .get(&finding.start.line)
                .is_some_and(|ds| ds.iter().any(|d| covers(d, &finding)));
        if ignorable && (by_file || by_next || assured(&finding)) {
            suppressed.push(finding);
        } else {
            kept.push(finding);
        }
    }
    (kept, suppressed)
}

#[cfg(test)]
mod tests {
    use super::directive;

    #[test]
    fn reads_directive_forms() {
        assert_eq!(
            directive("-- squawk-ignore ban-drop-column"),
            Some((false, vec!["ban-drop-column"]))
        );
        assert_eq!(
            directive("-- lockstep-ignore a, b -- because"),
            Some((false, vec!["a", "b"]))
        );
        assert_eq!(directive("/* squawk-ignore-file */"), Some((true, vec![])));
        assert_eq!(directive("-- lockstep-ignored"), None);
        assert_eq!(directive("-- no-transaction"), None);
    }

    #[test]
    fn reads_diesel_guards_block_markers() {
        use super::assured_marker;
        assert_eq!(assured_marker("-- safety-assured:start", true), Some(true));
        assert_eq!(assured_marker("--SAFETY-ASSURED:END  ", true), Some(false));
        assert_eq!(assured_marker("-- safety-assured:start", false), None);
        assert_eq!(
            assured_marker("-- safety-assured:start because", true),
            None
        );
        assert_eq!(assured_marker("/* safety-assured:start */", true), None);
    }
}
