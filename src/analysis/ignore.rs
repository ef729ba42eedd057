//! Suppression comments: `-- lockstep-ignore rule-a, rule-b` (next statement),
//! `-- lockstep-ignore-file [rules]` (whole file), and squawk's `-- squawk-ignore` /
//! `-- squawk-ignore-file` with squawk rule names, so existing codebases need no edits.

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
}

impl Directives {
    /// Adds the directives of another part of the same file.
    pub(crate) fn absorb(&mut self, other: Directives) {
        self.file_all |= other.file_all;
        self.file_rules.extend(other.file_rules);
        self.next.extend(other.next);
        self.unknown.extend(other.unknown);
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
        let Some((file, names)) = directive(token.text()) else {
            continue;
        };
        let span = token_span(&token);
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
    let mut kept = Vec::new();
    let mut suppressed = Vec::new();
    for finding in findings {
        // Bad ignore comments cannot be ignored away by themselves.
        let ignorable = finding.rule != "unknown-rule-in-ignore";
        let by_file = (directives.file_all && finding.axis != Axis::ReviewIntegrity)
            || directives.file_rules.contains(finding.rule);
        let by_next = finding
            .statement_index
            .and_then(|i| by_statement.get(&i))
            .is_some_and(|ds| ds.iter().any(|d| covers(d, &finding)))
            || by_line
                .get(&finding.start.line)
                .is_some_and(|ds| ds.iter().any(|d| covers(d, &finding)));
        if ignorable && (by_file || by_next) {
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
}
