//! Figures the way people read them: `1.2 GB`, `8.1M` rows, `3m05s`.

/// Bytes with binary units, one decimal from KB up: `512 B`, `1.5 KB`, `1.2 GB`.
pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let negative = bytes < 0;
    let mut value = bytes.unsigned_abs() as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let sign = if negative { "-" } else { "" };
    if unit == 0 {
        format!("{sign}{value:.0} B")
    } else {
        format!("{sign}{value:.1} {}", UNITS[unit])
    }
}

/// A count with decimal suffixes: `950`, `12.3k`, `8.1M`, `2.0G`.
pub fn human_count(count: i64) -> String {
    let value = count as f64;
    let abs = value.abs();
    if abs < 1_000.0 {
        format!("{count}")
    } else if abs < 1_000_000.0 {
        format!("{:.1}k", value / 1e3)
    } else if abs < 1_000_000_000.0 {
        format!("{:.1}M", value / 1e6)
    } else {
        format!("{:.1}G", value / 1e9)
    }
}

/// An age in seconds: `850ms`, `4.2s`, `3m05s`, `2h03m`, `3d04h`.
pub fn human_age(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "0ms".into();
    }
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1e3);
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let whole = secs as u64;
    if whole < 3_600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else if whole < 86_400 {
        format!("{}h{:02}m", whole / 3_600, (whole % 3_600) / 60)
    } else {
        format!("{}d{:02}h", whole / 86_400, (whole % 86_400) / 3_600)
    }
}

/// Text on one line (whitespace collapsed), cut to `max` characters with `…`: the shared
/// [`crate::format::one_line`].
pub use crate::format::one_line as shorten;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_counts_and_ages() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(1_288_490_189), "1.2 GB");
        assert_eq!(human_count(950), "950");
        assert_eq!(human_count(8_100_000), "8.1M");
        assert_eq!(human_count(12_345), "12.3k");
        assert_eq!(human_age(0.25), "250ms");
        assert_eq!(human_age(4.21), "4.2s");
        assert_eq!(human_age(185.0), "3m05s");
        assert_eq!(human_age(7_380.0), "2h03m");
        assert_eq!(human_age(f64::NAN), "0ms");
        assert_eq!(shorten("SELECT\n   1,\t2", 20), "SELECT 1, 2");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
