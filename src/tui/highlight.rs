//! SQL syntax highlighting with syntect, turned into ratatui lines. Runs off the UI thread.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme, ThemeSet};
use syntect::parsing::{SyntaxDefinition, SyntaxSet, SyntaxSetBuilder};
use syntect::util::LinesWithEndings;

/// Lines longer than this are shown plain (highlighting them is slow and rarely useful).
const MAX_HIGHLIGHT_LINE: usize = 5_000;

/// The PostgreSQL syntax definition the dump in `assets/` is built from.
pub const SYNTAX_SOURCE: &str = include_str!("../../assets/postgresql.sublime-syntax");
/// The theme the dump in `assets/` holds (one of syntect's defaults).
pub const THEME_NAME: &str = "base16-eighties.dark";

/// The syntax dump, built from [`SYNTAX_SOURCE`] by [`write_assets`].
static SYNTAX_DUMP: &[u8] = include_bytes!("../../assets/postgresql.packdump");
/// The theme dump, written by [`write_assets`].
static THEME_DUMP: &[u8] = include_bytes!("../../assets/theme.themedump");

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(|| {
        syntect::dumps::from_reader(SYNTAX_DUMP)
            .ok()
            .or_else(|| build_syntaxes().ok())
            .unwrap_or_else(SyntaxSet::load_defaults_newlines)
    })
}

fn theme() -> &'static Theme {
    static THEME: OnceLock<Theme> = OnceLock::new();
    THEME.get_or_init(|| syntect::dumps::from_reader(THEME_DUMP).unwrap_or_default())
}

/// Builds the syntax set from [`SYNTAX_SOURCE`] (with plain text as the fallback).
pub fn build_syntaxes() -> Result<SyntaxSet, String> {
    let definition = SyntaxDefinition::load_from_str(SYNTAX_SOURCE, true, None)
        .map_err(|e| format!("assets/postgresql.sublime-syntax: {e}"))?;
    let mut builder = SyntaxSetBuilder::new();
    builder.add(definition);
    builder.add_plain_text_syntax();
    Ok(builder.build())
}

/// Writes the syntax and theme dumps into `dir` (the project's `assets/`). Run after editing the
/// syntax: `LOCKSTEP_WRITE_ASSETS=1 cargo test --lib highlight`.
pub fn write_assets(dir: &std::path::Path) -> Result<(), String> {
    let syntaxes = build_syntaxes()?;
    let mut themes = ThemeSet::load_defaults();
    let theme = themes
        .themes
        .remove(THEME_NAME)
        .ok_or_else(|| format!("syntect has no theme {THEME_NAME}"))?;
    std::fs::write(
        dir.join("postgresql.packdump"),
        syntect::dumps::dump_binary(&syntaxes),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("theme.themedump"),
        syntect::dumps::dump_binary(&theme),
    )
    .map_err(|e| e.to_string())
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

    #[test]
    fn dollar_quoted_bodies_are_one_string_whatever_their_tag() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 'x'; $$ $body$ LANGUAGE sql;";
        let line = &highlight_sql(sql)[0];
        let body = line
            .spans
            .iter()
            .find(|s| s.content.contains("SELECT"))
            .expect("the body is on screen");
        assert!(
            body.content.contains("$$"),
            "an inner $$ does not end a $body$ string: {line:?}"
        );
        let language = line
            .spans
            .iter()
            .find(|s| s.content.contains("LANGUAGE"))
            .unwrap();
        assert_ne!(body.style.fg, language.style.fg);
    }

    #[test]
    fn the_assets_are_built_from_the_syntax_in_the_repository() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        if std::env::var_os("LOCKSTEP_WRITE_ASSETS").is_some() {
            write_assets(&dir).unwrap();
        }
        let fresh = build_syntaxes().unwrap();
        let sample =
            "CREATE TABLE t (id bigint DEFAULT 1); -- c\nSELECT $1::text, E'a\\'b', \"Q\";\n";
        let highlight_with = |set: &SyntaxSet| {
            let syntax = set.find_syntax_by_extension("sql").unwrap();
            let mut h = HighlightLines::new(syntax, theme());
            LinesWithEndings::from(sample)
                .map(|l| {
                    h.highlight_line(l, set)
                        .unwrap()
                        .into_iter()
                        .map(|(s, t)| (s, t.to_string()))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            highlight_with(syntaxes()),
            highlight_with(&fresh),
            "assets/postgresql.packdump is stale: run LOCKSTEP_WRITE_ASSETS=1 cargo test --lib highlight"
        );
    }
}
