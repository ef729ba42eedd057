//! Text from migrations and from the database, made honest to display: hidden characters
//! (controls, bidirectional controls, invisible characters) found and given a visible form, and
//! JSON that escapes them. [`visible`] has no terminal knowledge; [`ansi`] styles its markers
//! for the CLI (the dashboard styles them with ratatui).

pub mod ansi;
pub mod json;
pub mod visible;

pub use visible::{Hidden, Segment, hidden_chars, is_clean, segments, visible};
