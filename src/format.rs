//! Text formatting shared by the CLI and the dashboard: durations, one-line statements and
//! lists cut short.

use std::time::Duration;

/// A duration the way people read them: `850 µs`, `12.3 ms`, `4.20 s`, `3 min 5 s`.
pub fn human_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1e3)
    } else if micros < 60_000_000 {
        format!("{:.2} s", micros as f64 / 1e6)
    } else {
        let secs = duration.as_secs();
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// An `execution_time` column value: nanoseconds, `-1` meaning unknown.
pub fn execution_time(nanos: i64) -> String {
    if nanos < 0 {
        "unknown".into()
    } else {
        human_duration(Duration::from_nanos(nanos as u64))
    }
}

/// A statement on one line, whitespace collapsed, shortened to `max` characters once visible.
///
/// Only spaces, tabs and line ends collapse: a hidden character (a lone carriage return, a
/// no-break space, an escape…) stays in the text, counted as wide as its visible marker
/// ([`crate::text::visible`]), so the caller can show it instead of a silent space.
pub fn one_line(text: &str, max: usize) -> String {
    use crate::text::visible::visible_len;
    let mut collapsed = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        if matches!(c, ' ' | '\t' | '\n') || (c == '\r' && chars.peek() == Some(&'\n')) {
            space = !collapsed.is_empty();
            continue;
        }
        if space {
            collapsed.push(' ');
            space = false;
        }
        collapsed.push(c);
    }
    if collapsed.chars().map(visible_len).sum::<usize>() <= max {
        return collapsed;
    }
    let mut out = String::new();
    let mut width = 0;
    for c in collapsed.chars() {
        width += visible_len(c);
        if width > max.saturating_sub(1) {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A migration's statement on one line as [`one_line`] shows it, its comments left out: on one
/// line, a `-- …` comment would seem to swallow everything after it. (A text that is only
/// comments is shown as it is. A live session's query keeps its comments, which often name the
/// code that sent it.)
pub fn sql_one_line(sql: &str, max: usize) -> String {
    let bare = crate::sql::without_comments(sql);
    if bare.trim().is_empty() {
        one_line(sql, max)
    } else {
        one_line(&bare, max)
    }
}

/// The first `shown` of `names`, comma-separated, and how many more there are: `a, b, c and 5
/// more`.
pub fn first_and_more<S: AsRef<str>>(names: &[S], shown: usize) -> String {
    let mut list = names
        .iter()
        .take(shown)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > shown {
        list.push_str(&format!(" and {} more", names.len() - shown));
    }
    list
}

/// [`first_and_more`] of `names`, each in double quotes: `"a", "b" and 5 more`.
pub fn quoted_and_more<S: AsRef<str>>(names: &[S], shown: usize) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.as_ref()))
        .collect();
    first_and_more(&quoted, shown)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_list_names_its_first_items_and_counts_the_rest() {
        assert_eq!(first_and_more(&["a", "b"], 3), "a, b");
        assert_eq!(first_and_more(&["a", "b", "c"], 3), "a, b, c");
        assert_eq!(
            first_and_more(&["a", "b", "c", "d", "e"], 3),
            "a, b, c and 2 more"
        );
    }

    use super::*;

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(human_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(human_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human_duration(Duration::from_millis(4_200)), "4.20 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(execution_time(-1), "unknown");
        assert_eq!(one_line("CREATE   TABLE\n  x (a int)", 12), "CREATE TABL…");
        assert_eq!(one_line("CREATE TABLE x", 14), "CREATE TABLE x");
        assert_eq!(one_line("a\r\nb\rc\u{a0}d", 20), "a b\rc\u{a0}d");
        // A marker counts as wide as it shows: `\u{202E}` is 8 columns.
        assert_eq!(one_line("ab\u{202e}cdefgh", 10), "ab…");
        assert_eq!(one_line("ab\u{202e}cdefgh", 11), "ab\u{202e}…");
        assert_eq!(
            sql_one_line("create table t ( -- why\n  a int, /* b */ c int\n)", 80),
            "create table t ( a int, c int )"
        );
        assert_eq!(sql_one_line("-- only a comment", 80), "-- only a comment");
    }
}
