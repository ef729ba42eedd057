//! The preview's rows: the file's lines, each marked with the findings on it, and every finding's
//! note (message, lock badges, the safe alternative) inserted under its statement. Built once per
//! file, analysis and width; each frame draws only the rows on screen.

use crate::analysis::{Analysis, Finding, Severity};

/// A character range of a source line to underline, and how serious it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underline {
    /// First character (0-based).
    pub from: usize,
    /// One past the last character (`usize::MAX`: to the end of the line).
    pub to: usize,
    /// The most serious finding covering it.
    pub severity: Severity,
}

/// What a note row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// The finding's message (one wrapped piece of it; `first` starts with the rule).
    Message {
        /// The first piece.
        first: bool,
    },
    /// The lock badges of the statement (mode, table, blocks reads/writes, scan, rewrite) and
    /// the table's size when known.
    Badges,
    /// The safe alternative or the available fix.
    Help,
}

/// One row of the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewRow {
    /// A source line (0-based), the most serious finding starting on it, and what to underline.
    Code {
        /// The line, from 0.
        line: usize,
        /// The gutter mark.
        mark: Option<Severity>,
        /// Ranges to underline.
        underlines: Vec<Underline>,
    },
    /// A note under a statement.
    Note {
        /// The finding's index in the analysis.
        finding: usize,
        /// What the row says.
        kind: NoteKind,
        /// Its text (without badges, which are drawn from the analysis).
        text: String,
    },
}

/// The rows for a text of `line_count` lines with its analysis, notes wrapped to `width` columns.
pub fn build_rows(line_count: usize, analysis: Option<&Analysis>, width: usize) -> Vec<PreviewRow> {
    let mut rows: Vec<PreviewRow> = (0..line_count.max(1))
        .map(|line| PreviewRow::Code {
            line,
            mark: None,
            underlines: Vec::new(),
        })
        .collect();
    let Some(analysis) = analysis else {
        return rows;
    };
    // Notes go under the last line of the finding's statement (or of the finding itself).
    let mut notes: Vec<(usize, usize)> = Vec::with_capacity(analysis.findings.len());
    for (index, finding) in analysis.findings.iter().enumerate() {
        mark_lines(&mut rows, finding);
        let last_line = finding
            .statement_index
            .and_then(|s| analysis.statements.get(s))
            .map(|s| s.end.line)
            .unwrap_or(finding.end.line)
            .max(finding.start.line);
        notes.push((last_line.saturating_sub(1).min(rows.len() - 1), index));
    }
    notes.sort();
    let width = width.max(20);
    let mut out = Vec::with_capacity(rows.len() + notes.len() * 3);
    let mut next = notes.iter().peekable();
    for (line, row) in rows.into_iter().enumerate() {
        out.push(row);
        while let Some(&&(after, index)) = next.peek() {
            if after != line {
                break;
            }
            next.next();
            push_notes(&mut out, index, &analysis.findings[index], width);
        }
    }
    out
}

fn mark_lines(rows: &mut [PreviewRow], finding: &Finding) {
    let (start, end) = (finding.start, finding.end);
    for line in start.line..=end.line.max(start.line) {
        let Some(PreviewRow::Code {
            mark, underlines, ..
        }) = rows.get_mut(line.saturating_sub(1))
        else {
            continue;
        };
        if line == start.line {
            *mark = Some(mark.map_or(finding.severity, |m| m.max(finding.severity)));
        }
        let from = if line == start.line {
            start.column.saturating_sub(1)
        } else {
            0
        };
        let to = if line == end.line {
            end.column.saturating_sub(1)
        } else {
            usize::MAX
        };
        if to > from {
            underlines.push(Underline {
                from,
                to,
                severity: finding.severity,
            });
        }
    }
}

fn push_notes(out: &mut Vec<PreviewRow>, index: usize, finding: &Finding, width: usize) {
    let head = format!(
        "{} {} [{}] {}",
        glyph(finding.severity),
        finding.severity.as_str(),
        finding.rule,
        finding.message
    );
    for (i, piece) in wrap(&head, width).into_iter().enumerate() {
        out.push(PreviewRow::Note {
            finding: index,
            kind: NoteKind::Message { first: i == 0 },
            text: if i == 0 { piece } else { format!("  {piece}") },
        });
    }
    out.push(PreviewRow::Note {
        finding: index,
        kind: NoteKind::Badges,
        text: String::new(),
    });
    let help = match (&finding.safe_alternative, &finding.fix) {
        (Some(safe), Some(fix)) => Some(format!("→ {safe} (fix available: {})", fix.description)),
        (Some(safe), None) => Some(format!("→ {safe}")),
        (None, Some(fix)) => Some(format!("→ fix available: {}", fix.description)),
        (None, None) => None,
    };
    if let Some(help) = help {
        for (i, piece) in wrap(&help, width).into_iter().enumerate() {
            out.push(PreviewRow::Note {
                finding: index,
                kind: NoteKind::Help,
                text: if i == 0 { piece } else { format!("  {piece}") },
            });
        }
    }
}

/// The gutter glyph of a severity.
pub fn glyph(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "✗",
        Severity::Warning => "▲",
        Severity::Info => "●",
    }
}

/// Splits `text` into pieces of at most `width` characters, at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if current_len > 0 && current_len + 1 + len > width {
            pieces.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if current_len > 0 {
            current.push(' ');
            current_len += 1;
        }
        // A word longer than a whole line is cut.
        let mut chars = word.chars().peekable();
        while chars.peek().is_some() {
            let room = width - current_len;
            let part: String = chars.by_ref().take(room).collect();
            current_len += part.chars().count();
            current.push_str(&part);
            if chars.peek().is_some() {
                pieces.push(std::mem::take(&mut current));
                current_len = 0;
            }
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The rows of the source lines where findings start (those with a gutter mark), in order.
pub fn finding_rows(rows: &[PreviewRow]) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, PreviewRow::Code { mark: Some(_), .. }))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisContext, analyze};

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghijk", 8), vec!["abcdefgh", "ijk"]);
        assert_eq!(wrap("", 10), vec![""]);
    }

    #[test]
    fn notes_follow_the_statement_and_lines_are_marked() {
        let text = "CREATE INDEX ix\n  ON users (email);\nSELECT 1;\n";
        let analysis = analyze(text, &AnalysisContext::default());
        let rows = build_rows(3, Some(&analysis), 60);
        let PreviewRow::Code {
            mark, underlines, ..
        } = &rows[0]
        else {
            panic!("{rows:?}")
        };
        assert_eq!(*mark, Some(Severity::Error));
        assert_eq!(underlines[0].from, 0);
        // Line 2 (the end of the statement) is followed by the notes, then line 3.
        assert!(matches!(rows[1], PreviewRow::Code { line: 1, .. }));
        assert!(matches!(rows[2], PreviewRow::Note { .. }), "{rows:?}");
        assert!(matches!(
            rows.last(),
            Some(PreviewRow::Code { line: 2, .. })
        ));
        assert_eq!(finding_rows(&rows), vec![0]);
    }
}
