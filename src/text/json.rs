//! JSON that keeps the exact text and is still safe on a terminal: serde_json escapes C0
//! controls but writes DEL, C1 controls, bidirectional controls and invisible characters as they
//! are; these writers turn each of them into `\u` escapes too (the same JSON value).

use std::io::Write;

use serde::Serialize;

use super::visible::Hidden;

/// `value` as one line of JSON, hidden characters escaped.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    to_writer(&mut out, value)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// Writes `value` as one line of JSON to `out`, hidden characters escaped.
pub fn to_writer<T: Serialize + ?Sized>(out: impl Write, value: &T) -> serde_json::Result<()> {
    let mut escaper = Escaper::new(out);
    serde_json::to_writer(&mut escaper, value)?;
    escaper.finish().map_err(serde_json::Error::io)
}

/// Writes `value` as indented JSON to `out`, hidden characters escaped.
pub fn to_writer_pretty<T: Serialize + ?Sized>(
    out: impl Write,
    value: &T,
) -> serde_json::Result<()> {
    let mut escaper = Escaper::new(out);
    serde_json::to_writer_pretty(&mut escaper, value)?;
    escaper.finish().map_err(serde_json::Error::io)
}

/// A writer of serde_json's output that escapes hidden characters. Outside its strings JSON is
/// ASCII, so every non-ASCII character (and DEL) it sees is inside a string.
struct Escaper<W: Write> {
    inner: W,
    /// The start of a UTF-8 character split across two writes.
    pending: Vec<u8>,
}

impl<W: Write> Escaper<W> {
    fn new(inner: W) -> Escaper<W> {
        Escaper {
            inner,
            pending: Vec::new(),
        }
    }

    fn finish(mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        self.inner.write_all(&rest)?;
        self.inner.flush()
    }

    fn write_text(&mut self, text: &str) -> std::io::Result<()> {
        if text.bytes().all(|b| b < 0x7f) {
            return self.inner.write_all(text.as_bytes());
        }
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if Hidden::of(c).is_some() {
                self.inner.write_all(&text.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(self.inner, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        self.inner.write_all(&text.as_bytes()[start..])
    }
}

impl<W: Write> Write for Escaper<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let joined;
        let bytes = if self.pending.is_empty() {
            buf
        } else {
            joined = [std::mem::take(&mut self.pending).as_slice(), buf].concat();
            &joined
        };
        let valid = match std::str::from_utf8(bytes) {
            Ok(_) => bytes.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Not UTF-8 at all (serde_json never writes that): pass it through.
            Err(_) => {
                self.inner.write_all(bytes)?;
                return Ok(buf.len());
            }
        };
        let (text, tail) = bytes.split_at(valid);
        self.write_text(std::str::from_utf8(text).unwrap_or_default())?;
        self.pending = tail.to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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
        // Split writes of a multi-byte character are put back together.
        let mut out = Vec::new();
        let mut escaper = Escaper::new(&mut out);
        let bytes = "x\u{202e}y".as_bytes();
        escaper.write_all(&bytes[..2]).unwrap();
        escaper.write_all(&bytes[2..]).unwrap();
        escaper.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "x\\u202ey");
    }
}
