//! The visible form as ANSI-styled text, for the CLI and the rustc-style lint output: each
//! marker in reverse magenta. Written through `anstream`, the style is stripped when the output
//! is not a terminal (or `NO_COLOR` is set) and the marker text stays.

use std::borrow::Cow;

use anstyle::{AnsiColor, Style};

use super::visible::{Segment, is_clean, segments};

/// How a marker is drawn.
pub fn marker_style() -> Style {
    Style::new()
        .fg_color(Some(AnsiColor::Magenta.into()))
        .invert()
}

/// `text` with every hidden character replaced by its marker in [`marker_style`] (borrowed when
/// there is nothing to replace).
pub fn styled(text: &str) -> Cow<'_, str> {
    styled_in(text, Style::new())
}

/// [`styled`] for text printed in `outer`: `outer` is ended before each marker and started again
/// after it.
pub fn styled_in(text: &str, outer: Style) -> Cow<'_, str> {
    if is_clean(text) {
        return Cow::Borrowed(text);
    }
    let style = marker_style();
    let mut out = String::with_capacity(text.len() + 32);
    for segment in segments(text) {
        match segment {
            Segment::Text(piece) => out.push_str(piece),
            Segment::Marker(m) => {
                out.push_str(&format!("{outer:#}{style}{}{style:#}{outer}", m.text));
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_styled_and_no_raw_control_is_left() {
        let out = styled("a\u{1b}[2Jb\u{202e}c");
        let style = marker_style();
        assert_eq!(
            out,
            format!("a{style}␛{style:#}[2Jb{style}\\u{{202E}}{style:#}c")
        );
        // The only escapes left are the style's own.
        let stripped = anstream::adapter::strip_str(&out).to_string();
        assert_eq!(stripped, "a␛[2Jb\\u{202E}c");
        assert!(matches!(styled("plain"), Cow::Borrowed(_)));
    }
}
