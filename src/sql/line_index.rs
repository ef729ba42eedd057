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

/// The start offsets of every line of a text, for fast offset → line/column lookups.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The line and column of a byte offset into the indexed `text`. Offsets past the end map to
    /// the end; an offset inside a multi-byte character maps to that character.
    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or_else(|| {
                text[start..]
                    .char_indices()
                    .take_while(|(i, _)| start + i < offset)
                    .count()
            });
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
}
