//! Hidden characters on screen: every text from a migration or the database is drawn through
//! these helpers, so a control, bidirectional or invisible character shows as its marker
//! ([`crate::text::visible`]) in reverse magenta. ratatui would otherwise drop control characters
//! silently and hand zero-width ones to the terminal inside a neighbouring cell.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui_textarea::TextArea;

use crate::text::visible::{Segment, is_clean, segments};

/// How a marker is drawn (on top of the surrounding style, so an underline stays).
pub const MARKER: Style = Style::new()
    .fg(Color::Magenta)
    .add_modifier(Modifier::REVERSED);

/// `text` in `style`, hidden characters as marker spans.
pub fn spans(text: &str, style: Style) -> Vec<Span<'static>> {
    if is_clean(text) {
        return vec![Span::styled(text.to_string(), style)];
    }
    segments(text)
        .map(|segment| match segment {
            Segment::Text(piece) => Span::styled(piece.to_string(), style),
            Segment::Marker(m) => Span::styled(m.text.into_owned(), style.patch(MARKER)),
        })
        .collect()
}

/// `text` as one line in `style`, hidden characters as markers.
pub fn line(text: &str, style: Style) -> Line<'static> {
    Line::from(spans(text, style))
}

/// `line` with the hidden characters of every span shown as markers (each span's style kept).
/// Column-based decorations (the preview's underlines) are applied before, on the source
/// characters, so a marker carries the decoration of the character it stands for.
pub fn visible_line(line: Line<'_>) -> Line<'static> {
    let Line {
        style,
        alignment,
        spans: pieces,
    } = line;
    let mut out = Vec::with_capacity(pieces.len());
    for span in pieces {
        out.extend(spans(&span.content, span.style));
    }
    Line {
        style,
        alignment,
        spans: out,
    }
}

/// Every line of `lines` through [`visible_line`].
pub fn visible_lines<'a>(lines: impl IntoIterator<Item = Line<'a>>) -> Vec<Line<'static>> {
    lines.into_iter().map(visible_line).collect()
}

/// Draws a text area. When its text has hidden characters it is drawn as visible lines (the
/// cursor's character in the cursor style, the cursor's line kept on screen) instead of by the
/// widget, which would drop or pass them on raw.
pub fn draw_text_area(frame: &mut Frame, area: &TextArea<'_>, rect: Rect) {
    if area.lines().iter().all(|l| is_clean(l)) {
        frame.render_widget(area, rect);
        return;
    }
    let block = area.block().cloned().unwrap_or_else(Block::default);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let height = usize::from(inner.height.max(1));
    let (row, column) = (area.cursor().0, area.cursor().1);
    let top = row.saturating_sub(height - 1);
    let lines: Vec<Line> = area
        .lines()
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, text)| {
            if i != row {
                return line(text, Style::default());
            }
            let before: String = text.chars().take(column).collect();
            let at: String = text.chars().skip(column).take(1).collect();
            let after: String = text.chars().skip(column + 1).collect();
            let mut spans = spans(&before, Style::default());
            let at = if at.is_empty() { " ".to_string() } else { at };
            spans.extend(self::spans(&at, area.cursor_style()));
            spans.extend(self::spans(&after, Style::default()));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Draws a text area of code: line numbers, the text highlighted when `highlighted` has its
/// lines (else plain), hidden characters as markers, the cursor's cell in the cursor style, and
/// the view scrolled to keep the cursor on screen (down and right).
pub fn draw_code_area(
    frame: &mut Frame,
    area: &TextArea<'_>,
    rect: Rect,
    highlighted: Option<&[Line<'static>]>,
) {
    let block = area.block().cloned().unwrap_or_else(Block::default);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let lines = area.lines();
    let number_width = lines.len().to_string().len();
    let text_width = usize::from(inner.width)
        .saturating_sub(number_width + 1)
        .max(1);
    let height = usize::from(inner.height.max(1));
    let (row, column) = (area.cursor().0, area.cursor().1);
    let top = row.saturating_sub(height - 1);
    let left = column.saturating_sub(text_width - 1);
    let numbers = area.line_number_style().unwrap_or_default();
    let drawn: Vec<Line> = lines
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, text)| {
            let source = highlighted
                .and_then(|h| h.get(i))
                .filter(|l| {
                    l.spans
                        .iter()
                        .map(|s| s.content.chars().count())
                        .sum::<usize>()
                        == text.chars().count()
                })
                .cloned()
                .unwrap_or_else(|| Line::raw(text.clone()));
            let cursor = (i == row).then(|| (column, area.cursor_style()));
            let mut spans = vec![Span::styled(format!("{:>number_width$} ", i + 1), numbers)];
            spans.extend(cut_with_cursor(source, left, cursor));
            visible_line(Line::from(spans))
        })
        .collect();
    frame.render_widget(Paragraph::new(drawn), inner);
}

/// `line`'s spans from character `left` on, with the character at the cursor's column (a space
/// past the end) in the cursor's style.
fn cut_with_cursor(
    line: Line<'static>,
    left: usize,
    cursor: Option<(usize, Style)>,
) -> Vec<Span<'static>> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut column = 0;
    let mut cursor_drawn = false;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            if column >= left {
                match cursor {
                    Some((at, style)) if at == column => {
                        if !piece.is_empty() {
                            out.push(Span::styled(std::mem::take(&mut piece), span.style));
                        }
                        out.push(Span::styled(c.to_string(), style));
                        cursor_drawn = true;
                    }
                    _ => piece.push(c),
                }
            }
            column += 1;
        }
        if !piece.is_empty() {
            out.push(Span::styled(piece, span.style));
        }
    }
    if let Some((_, style)) = cursor.filter(|_| !cursor_drawn) {
        out.push(Span::styled(" ", style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_keep_the_style_around_them() {
        let underlined = Style::default().add_modifier(Modifier::UNDERLINED);
        let line = visible_line(Line::from(vec![Span::styled("a\u{1b}[8mb", underlined)]));
        let texts: Vec<&str> = line.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["a", "␛", "[8mb"]);
        assert!(
            line.spans[1]
                .style
                .add_modifier
                .contains(Modifier::UNDERLINED)
        );
        assert!(
            line.spans[1]
                .style
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert_eq!(line.spans[1].style.fg, Some(Color::Magenta));
    }
}
