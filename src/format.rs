//! Text formatting shared by the CLI and the dashboard: durations and one-line statements.

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

/// A statement on one line, whitespace collapsed, shortened to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > max {
        let cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(human_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(human_duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(human_duration(Duration::from_millis(4_200)), "4.20 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(execution_time(-1), "unknown");
        assert_eq!(one_line("CREATE   TABLE\n  x (a int)", 12), "CREATE TABL…");
    }
}
