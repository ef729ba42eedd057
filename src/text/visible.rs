//! Which characters of a text a person cannot see (or a terminal would act on), and the visible
//! form of the text: plain pieces and markers (`␛`, `\u{202E}`) for the CLI and the dashboard to
//! draw in a distinct style. Knows nothing of terminals or styles.
//!
//! ```
//! use lockstep::text::visible::{Segment, segments, visible};
//! let text = "INSERT INTO t VALUES ('\u{1b}[8m');";
//! assert_eq!(visible(text), "INSERT INTO t VALUES ('␛[8m');");
//! let markers: Vec<_> = segments(text)
//!     .filter_map(|s| match s {
//!         Segment::Marker(m) => Some(m.text),
//!         Segment::Text(_) => None,
//!     })
//!     .collect();
//! assert_eq!(markers, ["␛"]);
//! ```

use std::borrow::Cow;

/// Why a character is hidden from a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hidden {
    /// A C0 control other than tab and line feed (and a carriage return ending a line), DEL, or a
    /// C1 control: a terminal acts on it (escape sequences conceal, erase, move the cursor, write
    /// the clipboard) instead of showing it.
    Control,
    /// A bidirectional formatting character (embeddings, overrides, isolates, marks): it reorders
    /// the text around it on screen, so code reads differently from how it parses.
    Bidi,
    /// A default-ignorable character (zero-width space and joiners, word joiner, soft hyphen,
    /// BOM, variation selectors, tags, Hangul fillers…): no glyph at all.
    Invisible,
    /// A space other than U+0020, U+0009 and U+000A: it looks like a space, but PostgreSQL reads
    /// it as part of an identifier.
    Space,
}

impl Hidden {
    /// How the hidden class of `c` reads, when `c` is hidden in any context. A carriage return is
    /// a control here; [`segments`] and [`hidden_chars`] let one through before a line feed.
    pub fn of(c: char) -> Option<Hidden> {
        match c {
            '\t' | '\n' | ' ' => None,
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => Some(Hidden::Control),
            _ if c.is_ascii() => None,
            '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => Some(Hidden::Bidi),
            '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}' => Some(Hidden::Space),
            _ if default_ignorable(c) => Some(Hidden::Invisible),
            _ => None,
        }
    }

    /// In words: `control character`, `bidirectional control`, `invisible character`,
    /// `non-ASCII space`.
    pub fn describe(self) -> &'static str {
        match self {
            Hidden::Control => "control character",
            Hidden::Bidi => "bidirectional control",
            Hidden::Invisible => "invisible character",
            Hidden::Space => "non-ASCII space",
        }
    }
}

/// Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt, Unicode 16),
/// bidirectional controls included: characters rendered with no glyph.
fn default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// `U+202E`.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// The Unicode name of a hidden character, for the ones a reader is likely to meet.
pub fn name(c: char) -> Option<&'static str> {
    const C0: [&str; 32] = [
        "NULL",
        "START OF HEADING",
        "START OF TEXT",
        "END OF TEXT",
        "END OF TRANSMISSION",
        "ENQUIRY",
        "ACKNOWLEDGE",
        "BELL",
        "BACKSPACE",
        "CHARACTER TABULATION",
        "LINE FEED",
        "LINE TABULATION",
        "FORM FEED",
        "CARRIAGE RETURN",
        "SHIFT OUT",
        "SHIFT IN",
        "DATA LINK ESCAPE",
        "DEVICE CONTROL ONE",
        "DEVICE CONTROL TWO",
        "DEVICE CONTROL THREE",
        "DEVICE CONTROL FOUR",
        "NEGATIVE ACKNOWLEDGE",
        "SYNCHRONOUS IDLE",
        "END OF TRANSMISSION BLOCK",
        "CANCEL",
        "END OF MEDIUM",
        "SUBSTITUTE",
        "ESCAPE",
        "INFORMATION SEPARATOR FOUR",
        "INFORMATION SEPARATOR THREE",
        "INFORMATION SEPARATOR TWO",
        "INFORMATION SEPARATOR ONE",
    ];
    Some(match c {
        '\u{0}'..='\u{1f}' => C0[c as usize],
        '\u{7f}' => "DELETE",
        '\u{85}' => "NEXT LINE",
        '\u{90}' => "DEVICE CONTROL STRING",
        '\u{9b}' => "CONTROL SEQUENCE INTRODUCER",
        '\u{9c}' => "STRING TERMINATOR",
        '\u{9d}' => "OPERATING SYSTEM COMMAND",
        '\u{80}'..='\u{9f}' => "C1 CONTROL",
        '\u{a0}' => "NO-BREAK SPACE",
        '\u{ad}' => "SOFT HYPHEN",
        '\u{61c}' => "ARABIC LETTER MARK",
        '\u{200b}' => "ZERO WIDTH SPACE",
        '\u{200c}' => "ZERO WIDTH NON-JOINER",
        '\u{200d}' => "ZERO WIDTH JOINER",
        '\u{200e}' => "LEFT-TO-RIGHT MARK",
        '\u{200f}' => "RIGHT-TO-LEFT MARK",
        '\u{2028}' => "LINE SEPARATOR",
        '\u{2029}' => "PARAGRAPH SEPARATOR",
        '\u{202a}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202b}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202c}' => "POP DIRECTIONAL FORMATTING",
        '\u{202d}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202e}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{202f}' => "NARROW NO-BREAK SPACE",
        '\u{2060}' => "WORD JOINER",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{3000}' => "IDEOGRAPHIC SPACE",
        '\u{feff}' => "ZERO WIDTH NO-BREAK SPACE (BOM)",
        _ => return None,
    })
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`, or `U+E0041 (invisible character)` when unnamed here.
pub fn describe_char(c: char) -> String {
    match (name(c), Hidden::of(c)) {
        (Some(name), _) => format!("{} {name}", code_point(c)),
        (None, Some(kind)) => format!("{} ({})", code_point(c), kind.describe()),
        (None, None) => code_point(c),
    }
}

/// The visible stand-in of a hidden character: the Control Pictures glyph for C0 controls and
/// DEL (`␛`, `␀`, `␡`), `\u{…}` for everything else (`\u{9B}`, `\u{202E}`). Every stand-in is
/// made of single-column characters.
pub fn marker(c: char) -> Cow<'static, str> {
    const PICTURES: [&str; 33] = [
        "␀", "␁", "␂", "␃", "␄", "␅", "␆", "␇", "␈", "␉", "␊", "␋", "␌", "␍", "␎", "␏", "␐", "␑",
        "␒", "␓", "␔", "␕", "␖", "␗", "␘", "␙", "␚", "␛", "␜", "␝", "␞", "␟", "␡",
    ];
    match c {
        '\u{0}'..='\u{1f}' => Cow::Borrowed(PICTURES[c as usize]),
        '\u{7f}' => Cow::Borrowed(PICTURES[32]),
        _ => Cow::Owned(format!("\\u{{{:X}}}", u32::from(c))),
    }
}

/// A hidden character shown as its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The character.
    pub ch: char,
    /// Why it is hidden.
    pub kind: Hidden,
    /// What to show instead ([`marker`]).
    pub text: Cow<'static, str>,
}

/// A piece of the visible form of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text shown as it is (tabs, line feeds and CR LF line ends included).
    Text(&'a str),
    /// A hidden character, to be drawn as its marker in a distinct style.
    Marker(Marker),
}

/// The hidden characters of `text` with their byte offsets, in order. A carriage return directly
/// before a line feed ends a line and is not hidden; any other one is (it moves a terminal's
/// cursor back to the start of the line).
pub fn hidden_chars(text: &str) -> impl Iterator<Item = (usize, char, Hidden)> + '_ {
    let bytes = text.as_bytes();
    text.char_indices().filter_map(move |(i, c)| {
        if c == '\r' && bytes.get(i + 1) == Some(&b'\n') {
            return None;
        }
        Hidden::of(c).map(|kind| (i, c, kind))
    })
}

/// Whether `text` has no hidden character (a fast check for the common case).
pub fn is_clean(text: &str) -> bool {
    let quick = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\t' || b == b'\n');
    quick || hidden_chars(text).next().is_none()
}

/// The visible form of `text`: its plain pieces and a [`Marker`] for each hidden character.
pub fn segments(text: &str) -> impl Iterator<Item = Segment<'_>> {
    let mut hidden = hidden_chars(text).peekable();
    let mut at = 0;
    std::iter::from_fn(move || match hidden.peek().copied() {
        Some((offset, ch, kind)) if offset == at => {
            hidden.next();
            at += ch.len_utf8();
            Some(Segment::Marker(Marker {
                ch,
                kind,
                text: marker(ch),
            }))
        }
        Some((offset, _, _)) => {
            let piece = &text[at..offset];
            at = offset;
            Some(Segment::Text(piece))
        }
        None if at < text.len() => {
            let piece = &text[at..];
            at = text.len();
            Some(Segment::Text(piece))
        }
        None => None,
    })
}

/// `text` with every hidden character replaced by its marker, for output that cannot style the
/// markers (borrowed when there is nothing to replace).
pub fn visible(text: &str) -> Cow<'_, str> {
    if is_clean(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for segment in segments(text) {
        match segment {
            Segment::Text(piece) => out.push_str(piece),
            Segment::Marker(m) => out.push_str(&m.text),
        }
    }
    Cow::Owned(out)
}

/// How many characters `c` takes once visible: 1, or its marker's length.
pub fn visible_len(c: char) -> usize {
    match Hidden::of(c) {
        Some(_) => marker(c).chars().count(),
        None => 1,
    }
}

/// How many characters `text` takes once visible (hidden characters as wide as their markers).
pub fn width(text: &str) -> usize {
    text.chars().map(visible_len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        assert_eq!(Hidden::of('\u{1b}'), Some(Hidden::Control));
        assert_eq!(Hidden::of('\u{7f}'), Some(Hidden::Control));
        assert_eq!(Hidden::of('\u{9b}'), Some(Hidden::Control));
        assert_eq!(Hidden::of('\u{202e}'), Some(Hidden::Bidi));
        assert_eq!(Hidden::of('\u{2067}'), Some(Hidden::Bidi));
        assert_eq!(Hidden::of('\u{200d}'), Some(Hidden::Invisible));
        assert_eq!(Hidden::of('\u{e0041}'), Some(Hidden::Invisible));
        assert_eq!(Hidden::of('\u{a0}'), Some(Hidden::Space));
        for c in ['\t', '\n', ' ', 'a', 'é', 'ж', '─', '␛'] {
            assert_eq!(Hidden::of(c), None, "{c:?}");
        }
    }

    #[test]
    fn markers_replace_hidden_characters_and_keep_line_ends() {
        let text = "a\u{1b}]52;c;ZXZpbA==\u{7}b\r\nc\rd\u{202e}e\u{200d}\u{9b}f";
        assert_eq!(
            visible(text),
            "a␛]52;c;ZXZpbA==␇b\r\nc␍d\\u{202E}e\\u{200D}\\u{9B}f"
        );
        assert!(matches!(visible("plain\ttext\r\n"), Cow::Borrowed(_)));
        let kinds: Vec<_> = segments(text)
            .filter_map(|s| match s {
                Segment::Marker(m) => Some(m.kind),
                Segment::Text(_) => None,
            })
            .collect();
        use Hidden::*;
        assert_eq!(kinds, [Control, Control, Control, Bidi, Invisible, Control]);
        // The pieces put back together are the text.
        let rebuilt: String = segments(text)
            .map(|s| match s {
                Segment::Text(t) => t.to_string(),
                Segment::Marker(m) => m.ch.to_string(),
            })
            .collect();
        assert_eq!(rebuilt, text);
        assert_eq!(describe_char('\u{202e}'), "U+202E RIGHT-TO-LEFT OVERRIDE");
        assert_eq!(describe_char('\u{e0041}'), "U+E0041 (invisible character)");
        assert_eq!(visible_len('\u{202e}'), 8);
        assert_eq!(visible_len('\u{1b}'), 1);
    }
}
