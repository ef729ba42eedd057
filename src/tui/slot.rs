//! The bottom slot's title. The run pane (`3`), Sizes, Locks and Activity (`4` `5` `6`) and
//! History (`7`) take turns in one place on screen; its title lists them all, the one shown
//! highlighted, then what that pane has to say (how far the log is scrolled back, how many runs).
//!
//! As the slot narrows the title gives way without cutting a name in the middle: first the other
//! panes' names (their keys stay), then the pane's own words, then the shown pane's name.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::visible;

/// A pane of the bottom slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPane {
    /// The run pane.
    Run,
    /// Table sizes.
    Sizes,
    /// The lock forest.
    Locks,
    /// Running sessions.
    Activity,
    /// Past runs from the audit trail.
    History,
}

impl SlotPane {
    /// The panes in the order of their keys.
    pub const ALL: [SlotPane; 5] = [
        SlotPane::Run,
        SlotPane::Sizes,
        SlotPane::Locks,
        SlotPane::Activity,
        SlotPane::History,
    ];

    /// The key that shows it.
    pub fn key(self) -> char {
        match self {
            SlotPane::Run => '3',
            SlotPane::Sizes => '4',
            SlotPane::Locks => '5',
            SlotPane::Activity => '6',
            SlotPane::History => '7',
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            SlotPane::Run => "Run",
            SlotPane::Sizes => "Sizes",
            SlotPane::Locks => "Locks",
            SlotPane::Activity => "Activity",
            SlotPane::History => "History",
        }
    }

    /// The separator before it: `│` between the run pane, the inspection tabs and History,
    /// `·` between the tabs.
    fn separator(self) -> &'static str {
        match self {
            SlotPane::Run => "",
            SlotPane::Sizes | SlotPane::History => " │ ",
            SlotPane::Locks | SlotPane::Activity => " · ",
        }
    }
}

/// Which panes are named in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Every pane.
    All,
    /// The pane shown; the others by their key.
    Shown,
    /// None: keys only.
    None,
}

/// The title of the slot showing `current`, followed by the pane's own `words` (with their
/// leading dash, or empty), for a slot `width` columns wide (its corners included) that keeps
/// `right` columns for a title on the right (0: none).
pub fn title(current: SlotPane, words: &str, width: u16, right: u16) -> Line<'static> {
    let room = usize::from(width.saturating_sub(2));
    let room = match right {
        0 => room,
        right => room.saturating_sub(usize::from(right) + 1),
    };
    let words = visible::spans(words, Style::default());
    let words_width: usize = words.iter().map(Span::width).sum();
    let fits = |names: Names, with_words: bool| {
        let extra = if with_words && words_width > 0 {
            words_width + 1
        } else {
            0
        };
        strip(current, names).width() + 2 + extra <= room
    };
    let (names, with_words) = [
        (Names::All, true),
        (Names::Shown, true),
        (Names::Shown, false),
    ]
    .into_iter()
    .find(|&(names, with_words)| fits(names, with_words))
    .unwrap_or((Names::None, false));
    let mut spans = vec![Span::raw(" ")];
    spans.extend(strip(current, names).spans);
    spans.push(Span::raw(" "));
    if with_words && words_width > 0 {
        spans.extend(words);
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The panes' keys, with the names `names` asks for, `current` highlighted.
fn strip(current: SlotPane, names: Names) -> Line<'static> {
    let mut spans = Vec::new();
    for pane in SlotPane::ALL {
        let separator = pane.separator();
        if !separator.is_empty() {
            spans.push(Span::styled(
                separator,
                Style::default().fg(Color::DarkGray),
            ));
        }
        let named = match names {
            Names::All => true,
            Names::Shown => pane == current,
            Names::None => false,
        };
        let text = if named {
            format!("{} {}", pane.key(), pane.name())
        } else {
            pane.key().to_string()
        };
        let style = if pane == current {
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::Gray)
        };
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn every_pane_is_listed_and_names_give_way_whole() {
        let full = title(SlotPane::Run, "", 80, 0);
        assert_eq!(
            text(&full),
            " 3 Run │ 4 Sizes · 5 Locks · 6 Activity │ 7 History "
        );
        let scrolled = "─ log scrolled back 12 lines (End follows)";
        assert_eq!(
            text(&title(SlotPane::Run, scrolled, 80, 0)),
            format!(" 3 Run │ 4 · 5 · 6 │ 7 {scrolled} ")
        );
        assert_eq!(
            text(&title(SlotPane::History, "— 2 runs", 30, 0)),
            " 3 │ 4 · 5 · 6 │ 7 History ",
            "the pane's words go before its name"
        );
        assert_eq!(
            text(&title(SlotPane::Locks, "", 20, 0)),
            " 3 │ 4 · 5 · 6 │ 7 "
        );
        // A title on the right takes its room first.
        assert_eq!(
            text(&title(SlotPane::Sizes, "", 60, 20)),
            " 3 │ 4 Sizes · 5 · 6 │ 7 "
        );
        for width in 10..200 {
            for pane in SlotPane::ALL {
                let line = title(pane, scrolled, width, 0);
                let words = text(&line);
                for name in SlotPane::ALL.map(SlotPane::name) {
                    let cut = (1..name.len()).any(|n| {
                        words.contains(&format!(" {} ", &name[..n]))
                            || words.ends_with(&format!(" {}", &name[..n]))
                    });
                    assert!(!cut, "{width}: {words}");
                }
                if usize::from(width) >= 2 + line.width() {
                    assert!(words.contains('3') && words.contains('7'), "{words}");
                }
            }
        }
    }
}
