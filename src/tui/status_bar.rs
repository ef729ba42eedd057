//! The status bar (the environment and its database, the server, the pooler, the migration lock's holder, and the
//! latest message
//! or connection error, wrapped rather than cut) and the key hints under it (the keys of the
//! focused pane that fit the width, those that would write left out in read-only mode).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::data::Data;
use super::theme::{DIM, wrapped_height};

/// The bar's background.
pub const BACKGROUND: Style = Style::new().bg(Color::Rgb(30, 30, 30));

/// The bar's items, in order: each a separate piece of state, so more can be added (a pooler's
/// mode, a rehearsal) without touching the others.
pub fn items(data: &Data) -> Vec<Vec<Span<'static>>> {
    let database = Span::styled(
        data.database.clone(),
        Style::default().fg(if data.remote {
            Color::Red
        } else {
            Color::Green
        }),
    );
    // The environment's label names its database when it has one; else the database follows.
    let mut items = match &data.environment {
        Some(env) => {
            let style = if env.production_like {
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(Color::Green)
            };
            let mut items = vec![vec![Span::styled(env.label(), style)]];
            if env.database.is_none() {
                items.push(vec![database]);
            }
            items
        }
        None => vec![vec![database]],
    };
    if data.sandbox {
        items.push(vec![Span::styled(
            "[sandbox]",
            Style::default().fg(Color::Cyan),
        )]);
    }
    if let Some(version) = &data.server_version {
        // `15.4 (Debian 15.4-1.pgdg120+1)`: the number says it.
        let number = version.split_whitespace().next().unwrap_or(version);
        items.push(vec![Span::raw(format!("PostgreSQL {number}"))]);
    }
    if data.read_only {
        items.push(vec![Span::styled(
            "READ-ONLY",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )]);
    }
    if let Some(pooling) = &data.pooling
        && let Some(short) = pooling.short()
    {
        // A pooler that does not keep sessions needs --pooled to run migrations: it stands out.
        let color = if pooling.keeps_sessions() {
            Color::Gray
        } else {
            Color::Yellow
        };
        items.push(vec![Span::styled(short, Style::default().fg(color))]);
    }
    if let Some(holder) = &data.lock_holder {
        let via = if holder.via_pooler {
            format!(
                " {}",
                crate::monitor::render::via_pooler(holder.client.as_deref())
            )
        } else {
            String::new()
        };
        items.push(vec![Span::styled(
            format!("migration lock (sqlx): pid {}{via}", holder.pid),
            Style::default().fg(Color::Yellow),
        )]);
    }
    items
}

/// The bar's lines at `width`: the items on the first (the last ones left out when they do not
/// fit), then the error or the message — on the same line when it fits, else wrapped below.
pub fn lines(data: &Data, message: Option<&str>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut items = items(data);
    let joined = |items: &[Vec<Span<'static>>]| {
        let mut spans = vec![Span::raw(" ")];
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            spans.extend(item.iter().cloned());
        }
        Line::from(spans)
    };
    while items.len() > 1 && joined(&items).width() > width {
        items.pop();
    }
    let mut first = joined(&items);
    let note = match (&data.status_error, message) {
        (Some(error), _) => Some(Span::styled(
            format!("⚠ {error} (retrying)"),
            Style::default().fg(Color::Red),
        )),
        (None, Some(message)) => Some(Span::styled(
            message.to_string(),
            Style::default().fg(Color::White),
        )),
        (None, None) => None,
    };
    let Some(note) = note else {
        return vec![super::visible::visible_line(first)];
    };
    if first.width() + 2 + note.width() <= width {
        first.spans.push(Span::raw("  "));
        first.spans.push(note);
        return vec![super::visible::visible_line(first)];
    }
    vec![
        super::visible::visible_line(first),
        super::visible::visible_line(Line::from(vec![Span::raw(" "), note])),
    ]
}

/// Rows the bar takes at `width` (its lines wrapped).
pub fn rows(data: &Data, message: Option<&str>, width: u16) -> u16 {
    wrapped_height(&lines(data, message, width), width).max(1) as u16
}

/// A key hint: the key and what it does.
pub type Hint = (&'static str, String);

/// A key hint.
pub fn hint(key: &'static str, what: &str) -> Hint {
    (key, what.to_string())
}

/// The hints that fit `width`, the last ones left out first (`? help` and `q quit` stay).
pub fn hint_line(hints: &[Hint], width: u16) -> Line<'static> {
    let always: [Hint; 2] = [hint("?", "help"), hint("q", "quit")];
    let cost = |(key, what): &Hint| key.chars().count() + what.chars().count() + 4;
    let mut room = usize::from(width).saturating_sub(always.iter().map(cost).sum());
    let mut shown: Vec<Hint> = Vec::new();
    for hint in hints {
        if cost(hint) > room {
            break;
        }
        room -= cost(hint);
        shown.push(hint.clone());
    }
    shown.extend(always);
    let mut spans = Vec::new();
    for (i, (key, what)) in shown.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", DIM));
        }
        spans.push(Span::styled(key, Style::default().fg(Color::Cyan)));
        spans.push(Span::styled(format!(" {what}"), DIM));
    }
    Line::from(spans)
}
