//! Findings about a migration file as a whole, in the words `lockstep status` uses: it is still
//! the template from `new` (an empty file is left to `status`: projects keep them on purpose), or
//! its `-- no-transaction` marker is not where sqlx looks for it.

use super::checks::Draft;
use crate::analysis::{Fix, TextEdit};
use crate::source::{
    MISPLACED_NO_TRANSACTION, NO_TRANSACTION_MARKER, NoOp, misplaced_no_transaction,
};

/// The file-level findings of a migration's text.
pub(crate) fn file_checks(text: &str) -> Vec<Draft> {
    let mut out = Vec::new();
    if NoOp::of(text) == Some(NoOp::Template) {
        out.push(Draft::new(
            "unwritten-migration",
            0..0,
            NoOp::Template.message().to_string(),
        ));
    }
    if let Some(line) = misplaced_no_transaction(text) {
        let span = line_span(text, line);
        let mut draft = Draft::new(
            "misplaced-no-transaction",
            span.start..span.start + text[span.clone()].trim_end().len(),
            MISPLACED_NO_TRANSACTION.to_string(),
        );
        let marker = format!("{NO_TRANSACTION_MARKER}\n");
        let edits = if span.start == 0 {
            // On the first line, behind a byte-order mark or spaces: the line becomes the marker.
            vec![TextEdit {
                span,
                replacement: marker,
            }]
        } else {
            vec![
                TextEdit {
                    span: 0..0,
                    replacement: marker,
                },
                TextEdit {
                    span,
                    replacement: String::new(),
                },
            ]
        };
        draft.fix = Some(Fix {
            description: "move `-- no-transaction` to the first line".to_string(),
            edits,
        });
        out.push(draft);
    }
    out
}

/// The byte range of line `line` (1-based), its line break included.
fn line_span(text: &str, line: usize) -> std::ops::Range<usize> {
    let mut start = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return start..start + l.len();
        }
        start += l.len();
    }
    text.len()..text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritten_migration_and_a_misplaced_marker_are_found_and_the_marker_moved() {
        assert!(
            file_checks("").is_empty(),
            "kept on purpose in real projects"
        );
        assert_eq!(
            file_checks("-- Add migration script here\n")[0].rule,
            "unwritten-migration"
        );
        assert!(file_checks("-- a no-op on purpose\n").is_empty());
        assert!(file_checks("-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);").is_empty());
        let text = "-- add an index\n-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\n";
        let found = file_checks(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "misplaced-no-transaction");
        assert_eq!(&text[found[0].span.clone()], "-- no-transaction");
        let fixed = found[0].fix.as_ref().unwrap().apply(text);
        assert_eq!(
            fixed,
            "-- no-transaction\n-- add an index\nCREATE INDEX CONCURRENTLY i ON t (x);\n"
        );
        assert!(file_checks(&fixed).is_empty());
        // Behind a byte-order mark on the first line.
        let bom = "\u{feff}-- no-transaction\nSELECT 1;\n";
        let fixed = file_checks(bom)[0].fix.as_ref().unwrap().apply(bom);
        assert_eq!(fixed, "-- no-transaction\nSELECT 1;\n");
    }
}
