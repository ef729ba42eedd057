//! JSON that keeps the exact text and is still safe on a terminal: serde_json escapes C0
//! controls but writes DEL, C1 controls, bidirectional controls and invisible characters as they
//! are; these writers turn each of them into `\u` escapes too (the same JSON value), in a
//! serde_json formatter (so the text is not scanned a second time after serialization).

use std::io::Write;

use serde::Serialize;
use serde_json::Serializer;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::visible::Hidden;

/// `value` as one line of JSON, hidden characters escaped.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    to_writer(&mut out, value)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// Writes `value` as one line of JSON to `out`, hidden characters escaped.
pub fn to_writer<T: Serialize + ?Sized>(out: impl Write, value: &T) -> serde_json::Result<()> {
    write_with(out, value, CompactFormatter)
}

/// Writes `value` as indented JSON to `out`, hidden characters escaped.
pub fn to_writer_pretty<T: Serialize + ?Sized>(
    out: impl Write,
    value: &T,
) -> serde_json::Result<()> {
    write_with(out, value, PrettyFormatter::new())
}

/// Writes `value` as [`to_writer`] does, without flushing `out` (for a part of a larger output).
pub fn write_part<T: Serialize + ?Sized>(out: impl Write, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut Serializer::with_formatter(
        out,
        Escaping(CompactFormatter),
    ))
}

fn write_with<T: Serialize + ?Sized, F: Formatter>(
    out: impl Write,
    value: &T,
    formatter: F,
) -> serde_json::Result<()> {
    let mut out = out;
    let mut serializer = Serializer::with_formatter(&mut out, Escaping(formatter));
    value.serialize(&mut serializer)?;
    out.flush().map_err(serde_json::Error::io)
}

/// A formatter that writes the hidden characters of strings as `\u` escapes and leaves the rest to
/// `F`. serde_json hands it the parts of each string between its own escapes as `&str`, so every
/// character is seen whole, once.
struct Escaping<F>(F);

impl<F: Formatter> Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if Hidden::of(c).is_some() {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // The layout is `F`'s (the other methods' defaults are the same for every formatter).
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hidden_characters_and_round_trips() {
        let text = "a\u{1b}[8m\u{7f}\u{9b}2J\u{202e}\u{200d}\u{e0041}é─\r\n";
        let json = to_string(&serde_json::json!({ "text": text })).unwrap();
        assert_eq!(
            json,
            r#"{"text":"a\u001b[8m\u007f\u009b2J\u202e\u200d\udb40\udc41é─\r\n"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["text"], text);
        // Keys too, and the indented layout is serde_json's own.
        let value = serde_json::json!({ "k\u{202e}": [1, { "a": "\u{a0}" }] });
        let mut pretty = Vec::new();
        to_writer_pretty(&mut pretty, &value).unwrap();
        let expected = serde_json::to_string_pretty(&value)
            .unwrap()
            .replace('\u{202e}', "\\u202e")
            .replace('\u{a0}', "\\u00a0");
        assert_eq!(String::from_utf8(pretty).unwrap(), expected);
    }
}
