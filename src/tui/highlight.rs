//! SQL syntax highlighting with syntect, turned into ratatui lines. Runs off the UI thread.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// Lines longer than this are shown plain (highlighting them is slow and rarely useful).
const MAX_HIGHLIGHT_LINE: usize = 5_000;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn theme() -> &'static Theme {
    static THEME: OnceLock<Theme> = OnceLock::new();
    THEME.get_or_init(|| {
        let mut themes = ThemeSet::load_defaults();
        themes
            .themes
            .remove("base16-eighties.dark")
            .or_else(|| themes.themes.into_values().next())
            .unwrap_or_default()
    })
}

/// Highlights SQL text into one styled line per source line (no trailing newline characters).
/// Backgrounds are dropped so the pane's own shows through.
pub fn highlight_sql(text: &str) -> Vec<Line<'static>> {
    let set = syntaxes();
    let syntax = set
        .find_syntax_by_extension("sql")
        .unwrap_or_else(|| set.find_syntax_plain_text());
    let mut highlighter = HighlightLines::new(syntax, theme());
    let mut lines = Vec::new();
    for line in LinesWithEndings::from(text) {
        let content = line.trim_end_matches(['\n', '\r']);
        if line.len() > MAX_HIGHLIGHT_LINE {
            lines.push(Line::raw(content.to_string()));
            // Keep the parser's state consistent for what follows.
            let _ = highlighter.highlight_line(line, set);
            continue;
        }
        match highlighter.highlight_line(line, set) {
            Ok(pieces) => lines.push(Line::from(
                pieces
                    .into_iter()
                    .map(|(style, piece)| {
                        Span::styled(
                            piece.trim_end_matches(['\n', '\r']).to_string(),
                            convert(style),
                        )
                    })
                    .filter(|span| !span.content.is_empty())
                    .collect::<Vec<_>>(),
            )),
            Err(_) => lines.push(Line::raw(content.to_string())),
        }
    }
    lines
}

fn convert(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::default().fg(Color::Rgb(fg.r, fg.g, fg.b));
    if style.font_style.contains(FontStyle::BOLD) {
        out = out.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out = out.add_modifier(Modifier::ITALIC);
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        out = out.add_modifier(Modifier::UNDERLINED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_line_with_the_same_text() {
        let sql = "-- comment\nCREATE TABLE t (id int);\n\nSELECT 'x';";
        let lines = highlight_sql(sql);
        assert_eq!(lines.len(), 4);
        let texts: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            texts,
            vec!["-- comment", "CREATE TABLE t (id int);", "", "SELECT 'x';"]
        );
        // Keywords and comments get different colours.
        let create = &lines[1].spans[0];
        let comment = &lines[0].spans[0];
        assert_ne!(create.style.fg, comment.style.fg);
    }
}
