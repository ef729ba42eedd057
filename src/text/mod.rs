//! Text from migrations and from the database, made honest to display: hidden characters
//! (controls, bidirectional controls, invisible characters) found and given a visible form, and
//! JSON that escapes them. No terminal knowledge: the CLI and the dashboard style the markers.

pub mod json;
pub mod visible;

pub use visible::{Hidden, Segment, hidden_chars, is_clean, segments, visible};
