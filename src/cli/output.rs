//! Small formatting helpers shared by the commands.

use anstyle::{AnsiColor, Style};

pub use crate::format::execution_time;

use crate::status::State;

pub use crate::text::ansi::{styled as show, styled_in as show_in};

/// [`show_in`] (markers inside text of `style`), padded to `width` columns as the markers show.
pub fn show_padded_in(text: &str, width: usize, style: Style) -> String {
    let columns = crate::text::visible::width(text);
    format!(
        "{}{}",
        show_in(text, style),
        " ".repeat(width.saturating_sub(columns))
    )
}

/// The glyph and colour of a state.
pub fn state_style(state: State) -> (&'static str, Style) {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match state {
        State::Applied => ("✓", color(AnsiColor::Green)),
        State::Pending => ("·", color(AnsiColor::Cyan)),
        State::OutOfOrder => ("↯", color(AnsiColor::Yellow)),
        State::ChecksumMismatch => ("≠", color(AnsiColor::Red)),
        State::Missing => ("?", color(AnsiColor::Magenta)),
        State::Failed => ("✗", color(AnsiColor::Red).bold()),
        State::Partial => ("◐", color(AnsiColor::Red).bold()),
    }
}

/// Bold text.
pub fn bold() -> Style {
    Style::new().bold()
}

/// Dimmed text.
pub fn dim() -> Style {
    Style::new().dimmed()
}

/// Red text.
pub fn red() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into()))
}

/// Yellow text.
pub fn yellow() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}

/// Green text.
pub fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into()))
}
