//! Mapping byte offsets in a text to 1-based lines and columns.

use serde::Serialize;

/// A 1-based line and column (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineCol {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

/// The start offsets of every line of a text, for fast offset → line/column lookups (each in
/// logarithmic time, however long the line: a migration of thousands of statements on one line
/// is looked up once per statement).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    /// Each multi-byte character: its offset, and the continuation bytes of the text up to its
    /// end (empty for ASCII text).
    wide: Vec<(usize, usize)>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut wide = Vec::new();
        if !text.is_ascii() {
            let mut continuations = 0;
            for (i, ch) in text.char_indices().filter(|(_, ch)| !ch.is_ascii()) {
                continuations += ch.len_utf8() - 1;
                wide.push((i, continuations));
            }
        }
        LineIndex { starts, wide }
    }

    /// The continuation bytes (of multi-byte characters) before byte `offset`.
    fn continuations_before(&self, offset: usize) -> usize {
        let k = self.wide.partition_point(|&(at, _)| at < offset);
        let Some(&(at, through)) = k.checked_sub(1).and_then(|k| self.wide.get(k)) else {
            return 0;
        };
        let before = k
            .checked_sub(2)
            .and_then(|k| self.wide.get(k))
            .map_or(0, |&(_, c)| c);
        // (An offset inside that character counts only its continuation bytes before it.)
        before + (through - before).min(offset - at - 1)
    }

    /// The line and column of a byte offset into the indexed `text`. Offsets past the end map to
    /// the end; an offset inside a multi-byte character maps to that character.
    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        // Characters starting in start..offset: its bytes less their continuation bytes.
        let column = (offset - start)
            - (self.continuations_before(offset) - self.continuations_before(start));
        LineCol {
            line: line + 1,
            column: column + 1,
        }
    }

    /// The byte offset where a 1-based line starts, if the line exists.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.starts.get(line.checked_sub(1)?).copied()
    }

    /// How many lines the text has (a trailing newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_lines_and_character_columns() {
        let text = "select 1;\n-- é comment\nselect 2;";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 0), LineCol { line: 1, column: 1 });
        assert_eq!(index.line_col(text, 10), LineCol { line: 2, column: 1 });
        let second = text.rfind("select").unwrap();
        assert_eq!(index.line_col(text, second), LineCol { line: 3, column: 1 });
        let after_e = text.find('é').unwrap() + 'é'.len_utf8();
        assert_eq!(
            index.line_col(text, after_e),
            LineCol { line: 2, column: 5 }
        );
        assert_eq!(index.line_col(text, 10_000).line, 3);
        assert_eq!(index.line_start(2), Some(10));
        assert_eq!(index.line_start(0), None);
        assert_eq!(index.line_count(), 3);
    }

    #[test]
    fn columns_count_characters_at_every_offset_of_mixed_text() {
        let text = "ab é\u{1F600}c\nд€x\n\nz\u{10FFFF}é";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            let clipped = offset.min(text.len());
            let before = &text.as_bytes()[..clipped];
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            // What it counted before: the characters starting before the offset on its line.
            let column = text[start..]
                .char_indices()
                .take_while(|(i, _)| start + i < clipped)
                .count();
            let line = before.iter().filter(|&&b| b == b'\n').count();
            assert_eq!(
                index.line_col(text, offset),
                LineCol {
                    line: line + 1,
                    column: column + 1
                },
                "offset {offset}"
            );
        }
    }
}
