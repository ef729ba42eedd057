//! Whether `ALTER COLUMN … TYPE` rewrites the table: binary-coercible changes (varchar widening,
//! varchar → text, dropping or raising a length or precision limit, cidr → inet) are free
//! (reference catalogue row 15). The verdict needs the old type, which the migration text alone
//! does not show: callers can pass known column types in the context.

use super::model::at_least;

/// The verdict on a type change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeChange {
    /// Binary-coercible: metadata only.
    Free,
    /// Every row is rewritten (and the indexes rebuilt).
    Rewrite,
    /// Free or not depending on the old type, which is unknown.
    Unknown,
    /// `timestamp` ↔ `timestamptz` (12+): free when the session's TimeZone is UTC, else a
    /// rewrite.
    FreeInUtc,
}

/// A type split into its canonical base name and its numeric modifiers. The modifiers may sit
/// inside the name, as `format_type` writes them (`timestamp(3) with time zone`). `char` and
/// `character` without a length are `char(1)`; `bpchar` without one is unlimited.
fn parse(ty: &str) -> (String, Vec<u32>) {
    let ty = ty.trim().to_ascii_lowercase();
    let (base, args) = match ty.split_once('(') {
        Some((head, rest)) => {
            let (args, tail) = rest.split_once(')').unwrap_or((rest, ""));
            (format!("{} {}", head.trim(), tail.trim()), args.to_string())
        }
        None => (ty.clone(), String::new()),
    };
    let mut args: Vec<u32> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let base = match base.trim().trim_start_matches("pg_catalog.") {
        "character varying" | "varchar" => "varchar",
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp without time zone" | "timestamp" => "timestamp",
        "time with time zone" | "timetz" => "timetz",
        "time without time zone" | "time" => "time",
        "decimal" | "numeric" => "numeric",
        "bit varying" | "varbit" => "varbit",
        "bool" | "boolean" => "bool",
        "double precision" | "float8" | "float" => "float8",
        "real" | "float4" => "float4",
        "character" | "char" => {
            if args.is_empty() {
                args.push(1);
            }
            "bpchar"
        }
        other => other,
    }
    .to_string();
    (base, args)
}

/// The most fractional digits a time, timestamp or interval keeps (no precision written).
const MAX_TIME_PRECISION: u32 = 6;

/// Types that can change to `new_type` without a rewrite from *some* old type.
pub(crate) fn maybe_binary_coercible(new_type: &str) -> bool {
    let (base, _) = parse(new_type);
    matches!(
        base.as_str(),
        "text"
            | "varchar"
            | "numeric"
            | "inet"
            | "varbit"
            | "citext"
            | "timestamptz"
            | "timestamp"
            | "time"
            | "timetz"
            | "interval"
    )
}

/// Classifies a change to `new_type` from `old_type` (when known). `plain` is false when the
/// statement has a USING expression or a COLLATE clause (treated as rewriting).
pub(crate) fn classify(
    old_type: Option<&str>,
    new_type: &str,
    plain: bool,
    pg_version: u32,
) -> TypeChange {
    if !plain {
        return TypeChange::Rewrite;
    }
    let Some(old_type) = old_type else {
        return if maybe_binary_coercible(new_type) {
            TypeChange::Unknown
        } else {
            TypeChange::Rewrite
        };
    };
    let (old, old_args) = parse(old_type);
    let (new, new_args) = parse(new_type);
    let free = match (old.as_str(), new.as_str()) {
        _ if old == new && old_args == new_args => true,
        ("varchar", "varchar") | ("varbit", "varbit") => {
            // Widening or dropping the limit.
            match (old_args.first(), new_args.first()) {
                (_, None) => true,
                (Some(o), Some(n)) => n >= o,
                (None, Some(_)) => false,
            }
        }
        // A longer char(n) pads every value: only dropping the limit (`bpchar`) is free.
        ("bpchar", "bpchar") => new_args.is_empty(),
        ("timestamp", "timestamp")
        | ("timestamptz", "timestamptz")
        | ("time", "time")
        | ("timetz", "timetz")
        | ("interval", "interval") => match (old_args.first(), new_args.first()) {
            (_, None) => true,
            (_, Some(n)) if *n >= MAX_TIME_PRECISION => true,
            (Some(o), Some(n)) => n >= o,
            (None, Some(_)) => false,
        },
        ("varchar", "text") | ("text", "varchar") if new_args.is_empty() => true,
        ("varchar", "text") => true,
        ("numeric", "numeric") => match (old_args.as_slice(), new_args.as_slice()) {
            (_, []) => true,
            ([op, os], [np, ns]) => ns == os && np >= op,
            ([op], [np]) => np >= op,
            _ => false,
        },
        ("cidr", "inet") => true,
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp") if at_least(pg_version, 12) => {
            return TypeChange::FreeInUtc;
        }
        _ => false,
    };
    if free {
        TypeChange::Free
    } else {
        TypeChange::Rewrite
    }
}

/// Whether every value of a column of `old_type` survives a change to `new_type` unchanged
/// (a widening: a longer or unlimited length, more precision, a wider integer, anything to
/// `text`). Everything else — narrowing, or a change lockstep cannot judge — may lose
/// information. `old_type` as `format_type` writes it, `new_type` as the statement does.
pub(crate) fn keeps_every_value(old_type: &str, new_type: &str) -> bool {
    let (old, old_args) = parse(old_type);
    let (new, new_args) = parse(new_type);
    if old.ends_with("[]") || new.ends_with("[]") {
        return old == new && (new_args.is_empty() || new_args == old_args);
    }
    let limit_kept = || match (old_args.first(), new_args.first()) {
        (_, None) => true,
        (Some(o), Some(n)) => n >= o,
        (None, Some(_)) => false,
    };
    match (old.as_str(), new.as_str()) {
        _ if old == new && old_args == new_args => true,
        (_, "text") => true,
        ("text", "varchar") => new_args.is_empty(),
        ("varchar", "varchar") | ("varbit", "varbit") | ("bpchar", "bpchar") => limit_kept(),
        ("int2", "int4" | "int8") | ("int4", "int8") | ("float4", "float8") => true,
        ("int2" | "int4" | "int8", "numeric") => match new_args.as_slice() {
            [] => true,
            [precision] => *precision >= 19,
            [precision, scale] => precision.saturating_sub(*scale) >= 19,
            _ => false,
        },
        ("numeric", "numeric") => match (old_args.as_slice(), new_args.as_slice()) {
            (_, []) => true,
            ([op], [np]) => np >= op,
            ([op], [np, ns]) => np.saturating_sub(*ns) >= *op,
            ([op, os], [np, ns]) => ns >= os && np.saturating_sub(*ns) >= op.saturating_sub(*os),
            _ => false,
        },
        ("cidr", "inet") | ("date", "timestamp" | "timestamptz") => true,
        ("timestamp", "timestamptz") => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_old_types_decide() {
        assert_eq!(
            classify(Some("varchar(50)"), "varchar(100)", true, 15),
            TypeChange::Free
        );
        assert_eq!(
            classify(Some("character varying(50)"), "text", true, 15),
            TypeChange::Free
        );
        assert_eq!(
            classify(Some("varchar(50)"), "varchar(10)", true, 15),
            TypeChange::Rewrite
        );
        assert_eq!(
            classify(Some("int"), "bigint", true, 15),
            TypeChange::Rewrite
        );
        assert_eq!(
            classify(Some("numeric(10,2)"), "numeric(12,2)", true, 15),
            TypeChange::Free
        );
        assert_eq!(
            classify(Some("numeric(10,2)"), "numeric(12,3)", true, 15),
            TypeChange::Rewrite
        );
        assert_eq!(classify(Some("cidr"), "inet", true, 15), TypeChange::Free);
        assert_eq!(
            classify(Some("timestamp"), "timestamptz", true, 15),
            TypeChange::FreeInUtc
        );
        assert_eq!(
            classify(Some("timestamp"), "timestamptz", true, 11),
            TypeChange::Rewrite
        );
        assert_eq!(
            classify(Some("varchar(5)"), "varchar(50)", false, 15),
            TypeChange::Rewrite
        );
        assert_eq!(classify(None, "varchar(50)", true, 15), TypeChange::Unknown);
        // Measured on PostgreSQL 15 (a new relfilenode is a rewrite).
        for (old, new, verdict) in [
            ("char(10)", "char(12)", TypeChange::Rewrite),
            ("character(10)", "char(8)", TypeChange::Rewrite),
            ("character(10)", "bpchar", TypeChange::Free),
            ("character(10)", "char", TypeChange::Rewrite),
            ("char", "character(1)", TypeChange::Free),
            ("character(10)", "text", TypeChange::Rewrite),
            ("bpchar", "text", TypeChange::Rewrite),
            ("character(10)", "varchar(10)", TypeChange::Rewrite),
            ("bit varying(4)", "varbit(8)", TypeChange::Free),
            ("bit(4)", "bit(8)", TypeChange::Rewrite),
            (
                "timestamp(3) without time zone",
                "timestamp(6)",
                TypeChange::Free,
            ),
            (
                "timestamp(3) without time zone",
                "timestamp",
                TypeChange::Free,
            ),
            ("timestamp(6)", "timestamp(0)", TypeChange::Rewrite),
            (
                "timestamp(3) with time zone",
                "timestamptz(6)",
                TypeChange::Free,
            ),
            (
                "timestamp(3) with time zone",
                "timestamptz",
                TypeChange::Free,
            ),
            (
                "timestamp(3) with time zone",
                "timestamptz(1)",
                TypeChange::Rewrite,
            ),
            ("time(3) without time zone", "time(6)", TypeChange::Free),
            ("time without time zone", "time(3)", TypeChange::Rewrite),
            ("time(3) with time zone", "timetz(6)", TypeChange::Free),
            ("interval(3)", "interval", TypeChange::Free),
            ("numeric(10,2)", "numeric(12,4)", TypeChange::Rewrite),
        ] {
            assert_eq!(
                classify(Some(old), new, true, 15),
                verdict,
                "{old} -> {new}"
            );
        }
        assert_eq!(classify(None, "bigint", true, 15), TypeChange::Rewrite);
    }

    #[test]
    fn widening_keeps_every_value_and_narrowing_does_not() {
        for (old, new) in [
            ("character varying(50)", "varchar(100)"),
            ("character varying(50)", "text"),
            ("integer", "bigint"),
            ("smallint", "numeric"),
            ("numeric(10,2)", "numeric(12,2)"),
            ("numeric(10,2)", "numeric"),
            ("text", "varchar"),
            ("date", "timestamptz"),
            ("real", "double precision"),
        ] {
            assert!(keeps_every_value(old, new), "{old} -> {new}");
        }
        for (old, new) in [
            ("character varying(50)", "varchar(10)"),
            ("text", "varchar(10)"),
            ("bigint", "integer"),
            ("numeric(10,2)", "numeric(10,1)"),
            ("numeric(10,2)", "numeric(9,2)"),
            ("double precision", "real"),
            ("timestamp with time zone", "date"),
            ("text", "integer"),
            ("jsonb", "json"),
        ] {
            assert!(!keeps_every_value(old, new), "{old} -> {new}");
        }
    }
}
