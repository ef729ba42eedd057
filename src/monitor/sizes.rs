//! The Sizes pane: every table's total, heap, index and TOAST size, estimated rows, live and dead
//! tuples and last (auto)vacuum/analyze, read so that a table locked ACCESS EXCLUSIVE (held *or
//! queued*) never stalls the query.
//!
//! The size functions take ACCESS SHARE on the table, its TOAST table and every index; lock
//! requests queue FIFO, so they would wait behind a migration's `ALTER TABLE`. The query first
//! collects every relation with an AccessExclusiveLock in `pg_locks` (granted or not), maps TOAST
//! tables and indexes back to their table and extends the set to partition parents, LEFT JOINs
//! that set, and calls the size functions only inside `CASE WHEN NOT locked`. Locked tables get
//! the lock-free catalog figures (`relpages`, `reltuples`, `n_live_tup`) and
//! `exclusively_locked = true`. The monitor's `lock_timeout` is the backstop for the race between
//! the check and the call.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// One table (plain, partitioned or materialized view). A partitioned table's sizes are its
/// partitions' (and theirs in turn), summed: it holds no rows itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSize {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// `relkind`: `r` table, `p` partitioned table, `m` materialized view.
    pub kind: String,
    /// Heap + TOAST + indexes, in bytes (`None` when locked or dropped meanwhile).
    pub total_bytes: Option<i64>,
    /// The heap's main fork, in bytes.
    pub heap_bytes: Option<i64>,
    /// All indexes, in bytes.
    pub index_bytes: Option<i64>,
    /// The TOAST table and its index, in bytes (0 when there is none).
    pub toast_bytes: Option<i64>,
    /// The heap size from the catalog (`relpages * block_size`): lock-free, as of the last
    /// vacuum/analyze.
    pub estimated_heap_bytes: i64,
    /// The planner's row estimate (`reltuples`); `None` when never vacuumed or analyzed.
    pub estimated_rows: Option<i64>,
    /// Live tuples from the statistics collector.
    pub n_live_tup: Option<i64>,
    /// Dead tuples from the statistics collector.
    pub n_dead_tup: Option<i64>,
    /// Last manual VACUUM.
    pub last_vacuum: Option<DateTime<Utc>>,
    /// Last autovacuum.
    pub last_autovacuum: Option<DateTime<Utc>>,
    /// Last manual ANALYZE.
    pub last_analyze: Option<DateTime<Utc>>,
    /// Last autoanalyze.
    pub last_autoanalyze: Option<DateTime<Utc>>,
    /// Whether an ACCESS EXCLUSIVE lock is held or requested on the table (or its TOAST table, an
    /// index or a partition): sizes were not read, catalog estimates are shown instead.
    pub exclusively_locked: bool,
}

impl TableSize {
    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The total size, or the catalog heap estimate when the table is locked.
    pub fn total_or_estimate(&self) -> i64 {
        self.total_bytes.unwrap_or(self.estimated_heap_bytes)
    }

    /// The figures a finding shows next to a table name: `1.2 GB, 8.1M rows` (`~` marks catalog
    /// estimates of a locked table; `? rows` when never analyzed).
    pub fn summary(&self) -> String {
        let size = match self.total_bytes {
            Some(bytes) => super::format::human_bytes(bytes),
            None => format!("~{}", super::format::human_bytes(self.estimated_heap_bytes)),
        };
        let rows = self
            .estimated_rows
            .map(super::format::human_count)
            .unwrap_or_else(|| "?".into());
        format!("{size}, {rows} rows")
    }

    /// Whether `name` (`table` or `schema.table`, unquoted) names this table.
    pub fn is_named(&self, name: &str) -> bool {
        match name.split_once('.') {
            Some((schema, table)) => schema == self.schema && table == self.name,
            None => name == self.name,
        }
    }

    pub(crate) fn from_row(row: &PgRow, server_version_num: i32) -> Result<TableSize, sqlx::Error> {
        let reltuples: f64 = row.try_get("reltuples")?;
        // Total = heap with its TOAST (`pg_table_size`) + indexes, added here rather than calling
        // `pg_total_relation_size`, which would open every relation a second time.
        let table_bytes: Option<i64> = row.try_get("table_bytes")?;
        let index_bytes: Option<i64> = row.try_get("index_bytes")?;
        Ok(TableSize {
            schema: row.try_get("schema")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            total_bytes: table_bytes.zip(index_bytes).map(|(t, i)| t + i),
            heap_bytes: row.try_get("heap_bytes")?,
            index_bytes,
            toast_bytes: row.try_get("toast_bytes")?,
            estimated_heap_bytes: row.try_get("estimated_heap_bytes")?,
            estimated_rows: estimated_rows(reltuples, server_version_num),
            n_live_tup: row.try_get("n_live_tup")?,
            n_dead_tup: row.try_get("n_dead_tup")?,
            last_vacuum: row.try_get("last_vacuum")?,
            last_autovacuum: row.try_get("last_autovacuum")?,
            last_analyze: row.try_get("last_analyze")?,
            last_autoanalyze: row.try_get("last_autoanalyze")?,
            exclusively_locked: row.try_get("exclusively_locked")?,
        })
    }
}

/// `reltuples` as a row estimate: on 14+ `-1` means never vacuumed or analyzed (`None`); before 14
/// such a table shows `0`, which is all the server knows.
pub fn estimated_rows(reltuples: f64, server_version_num: i32) -> Option<i64> {
    if server_version_num >= 140000 && reltuples < 0.0 {
        None
    } else {
        Some(reltuples.max(0.0).round() as i64)
    }
}

/// The sizes query. With `named`, `$1` is a `text[]` of table names resolved with `to_regclass`
/// (which takes no lock).
pub(crate) fn sizes_sql(named: bool) -> String {
    let filter = if named {
        "AND c.oid IN (SELECT to_regclass(t)::oid FROM unnest($1::text[]) AS t)"
    } else {
        ""
    };
    format!(
        r"/* lockstep */
WITH RECURSIVE ae AS (
    SELECT DISTINCT l.relation AS relid
    FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.relation IS NOT NULL
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), via_index AS (
    SELECT coalesce(i.indrelid, ae.relid) AS relid
    FROM ae LEFT JOIN pg_index i ON i.indexrelid = ae.relid
), via_toast AS (
    SELECT coalesce(owner.oid, v.relid) AS relid
    FROM via_index v LEFT JOIN pg_class owner ON owner.reltoastrelid = v.relid
), locked(relid) AS (
    SELECT relid FROM via_toast
    UNION
    SELECT inh.inhparent FROM pg_inherits inh JOIN locked ON inh.inhrelid = locked.relid
), partitions(root, relid) AS (
    SELECT inh.inhparent, inh.inhrelid
    FROM pg_inherits inh JOIN pg_class p ON p.oid = inh.inhparent AND p.relkind = 'p'
    UNION ALL
    SELECT t.root, inh.inhrelid FROM partitions t JOIN pg_inherits inh ON inh.inhparent = t.relid
)
SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind,
       (k.relid IS NOT NULL) AS exclusively_locked,
       CASE WHEN k.relid IS NULL THEN pg_table_size(c.oid) + coalesce(part.table_bytes, 0) END AS table_bytes,
       CASE WHEN k.relid IS NULL THEN pg_relation_size(c.oid, 'main') + coalesce(part.heap_bytes, 0) END AS heap_bytes,
       CASE WHEN k.relid IS NULL THEN pg_indexes_size(c.oid) + coalesce(part.index_bytes, 0) END AS index_bytes,
       CASE WHEN k.relid IS NOT NULL THEN NULL
            WHEN c.reltoastrelid = 0 THEN coalesce(part.toast_bytes, 0)
            ELSE pg_total_relation_size(c.reltoastrelid) + coalesce(part.toast_bytes, 0) END AS toast_bytes,
       (greatest(c.relpages, 0)::bigint
        + coalesce((SELECT sum(greatest(pc.relpages, 0)) FROM partitions t
                    JOIN pg_class pc ON pc.oid = t.relid WHERE t.root = c.oid), 0)::bigint)
           * current_setting('block_size')::bigint AS estimated_heap_bytes,
       c.reltuples::float8 AS reltuples,
       s.n_live_tup, s.n_dead_tup, s.last_vacuum, s.last_autovacuum, s.last_analyze,
       s.last_autoanalyze
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN locked k ON k.relid = c.oid
-- A partitioned table holds no rows: its partitions' sizes are its own (read only when none of
-- them is locked, as a lock on a partition marks the partitioned table).
LEFT JOIN LATERAL (
    SELECT sum(pg_table_size(t.relid))::bigint AS table_bytes,
           sum(pg_relation_size(t.relid, 'main'))::bigint AS heap_bytes,
           sum(pg_indexes_size(t.relid))::bigint AS index_bytes,
           sum(CASE WHEN pc.reltoastrelid = 0 THEN 0
                    ELSE pg_total_relation_size(pc.reltoastrelid) END)::bigint AS toast_bytes
    FROM partitions t JOIN pg_class pc ON pc.oid = t.relid
    WHERE t.root = c.oid AND c.relkind = 'p' AND k.relid IS NULL
) part ON true
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  {filter}
ORDER BY n.nspname, c.relname"
    )
}

/// A column of the Sizes pane to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeColumn {
    /// Schema, then name.
    Schema,
    /// Table name.
    Name,
    /// Total size (the catalog estimate for locked tables).
    Total,
    /// Heap size.
    Heap,
    /// Index size.
    Index,
    /// TOAST size.
    Toast,
    /// Estimated rows.
    Rows,
    /// Live tuples.
    Live,
    /// Dead tuples.
    Dead,
    /// Last manual VACUUM.
    LastVacuum,
    /// Last autovacuum.
    LastAutovacuum,
    /// Last manual ANALYZE.
    LastAnalyze,
    /// Last autoanalyze.
    LastAutoanalyze,
}

impl SizeColumn {
    /// Every column, in display order.
    pub const ALL: [SizeColumn; 13] = [
        SizeColumn::Schema,
        SizeColumn::Name,
        SizeColumn::Total,
        SizeColumn::Heap,
        SizeColumn::Index,
        SizeColumn::Toast,
        SizeColumn::Rows,
        SizeColumn::Live,
        SizeColumn::Dead,
        SizeColumn::LastVacuum,
        SizeColumn::LastAutovacuum,
        SizeColumn::LastAnalyze,
        SizeColumn::LastAutoanalyze,
    ];

    /// The column's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SizeColumn::Schema => "schema",
            SizeColumn::Name => "name",
            SizeColumn::Total => "total",
            SizeColumn::Heap => "heap",
            SizeColumn::Index => "index",
            SizeColumn::Toast => "toast",
            SizeColumn::Rows => "rows",
            SizeColumn::Live => "live",
            SizeColumn::Dead => "dead",
            SizeColumn::LastVacuum => "last_vacuum",
            SizeColumn::LastAutovacuum => "last_autovacuum",
            SizeColumn::LastAnalyze => "last_analyze",
            SizeColumn::LastAutoanalyze => "last_autoanalyze",
        }
    }

    /// The natural direction: names ascending, figures and dates largest/newest first.
    pub fn descending_by_default(self) -> bool {
        !matches!(self, SizeColumn::Schema | SizeColumn::Name)
    }

    fn compare(self, a: &TableSize, b: &TableSize) -> Ordering {
        match self {
            SizeColumn::Schema => (&a.schema, &a.name).cmp(&(&b.schema, &b.name)),
            SizeColumn::Name => (&a.name, &a.schema).cmp(&(&b.name, &b.schema)),
            SizeColumn::Total => a.total_or_estimate().cmp(&b.total_or_estimate()),
            SizeColumn::Heap => a
                .heap_bytes
                .unwrap_or(a.estimated_heap_bytes)
                .cmp(&b.heap_bytes.unwrap_or(b.estimated_heap_bytes)),
            SizeColumn::Index => a.index_bytes.cmp(&b.index_bytes),
            SizeColumn::Toast => a.toast_bytes.cmp(&b.toast_bytes),
            SizeColumn::Rows => a.estimated_rows.cmp(&b.estimated_rows),
            SizeColumn::Live => a.n_live_tup.cmp(&b.n_live_tup),
            SizeColumn::Dead => a.n_dead_tup.cmp(&b.n_dead_tup),
            SizeColumn::LastVacuum => a.last_vacuum.cmp(&b.last_vacuum),
            SizeColumn::LastAutovacuum => a.last_autovacuum.cmp(&b.last_autovacuum),
            SizeColumn::LastAnalyze => a.last_analyze.cmp(&b.last_analyze),
            SizeColumn::LastAutoanalyze => a.last_autoanalyze.cmp(&b.last_autoanalyze),
        }
    }
}

impl FromStr for SizeColumn {
    type Err = String;

    fn from_str(text: &str) -> Result<SizeColumn, String> {
        let wanted = text.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match wanted.as_str() {
            "size" | "total_bytes" => "total",
            "heap_bytes" => "heap",
            "indexes" | "index_bytes" => "index",
            "toast_bytes" => "toast",
            "estimated_rows" | "reltuples" => "rows",
            "n_live_tup" => "live",
            "n_dead_tup" => "dead",
            "table" => "name",
            other => other,
        };
        SizeColumn::ALL
            .into_iter()
            .find(|c| c.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = SizeColumn::ALL.iter().map(|c| c.name()).collect();
                format!("unknown column {text:?} (one of {})", names.join(", "))
            })
    }
}

/// Sorts rows by `column`; ties keep schema.name order, so the result is deterministic. Missing
/// values (`None`) sort as smallest.
pub fn sort_sizes(rows: &mut [TableSize], column: SizeColumn, descending: bool) {
    rows.sort_by(|a, b| {
        let primary = column.compare(a, b);
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| SizeColumn::Schema.compare(a, b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, total: Option<i64>, estimate: i64, rows: Option<i64>) -> TableSize {
        TableSize {
            schema: "public".into(),
            name: name.into(),
            kind: "r".into(),
            total_bytes: total,
            heap_bytes: total,
            index_bytes: Some(0),
            toast_bytes: Some(0),
            estimated_heap_bytes: estimate,
            estimated_rows: rows,
            n_live_tup: None,
            n_dead_tup: None,
            last_vacuum: None,
            last_autovacuum: None,
            last_analyze: None,
            last_autoanalyze: None,
            exclusively_locked: total.is_none(),
        }
    }

    #[test]
    fn sorts_by_any_column_with_locked_rows_by_their_estimate() {
        let mut rows = vec![
            row("b", Some(10), 0, Some(5)),
            row("a", None, 100, None),
            row("c", Some(50), 0, Some(1)),
        ];
        sort_sizes(&mut rows, SizeColumn::Total, true);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "b"]);
        sort_sizes(&mut rows, SizeColumn::Name, false);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        sort_sizes(&mut rows, SizeColumn::Rows, true);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a"], "never-analyzed sorts last");
    }

    #[test]
    fn parses_column_names_and_aliases() {
        assert_eq!("total".parse::<SizeColumn>(), Ok(SizeColumn::Total));
        assert_eq!("n_dead_tup".parse::<SizeColumn>(), Ok(SizeColumn::Dead));
        assert_eq!(
            "last-autovacuum".parse::<SizeColumn>(),
            Ok(SizeColumn::LastAutovacuum)
        );
        let err = "bogus".parse::<SizeColumn>().unwrap_err();
        assert!(err.contains("last_analyze"), "{err}");
        for c in SizeColumn::ALL {
            assert_eq!(c.name().parse::<SizeColumn>(), Ok(c));
        }
    }

    #[test]
    fn reltuples_minus_one_means_unknown_on_14_and_later() {
        assert_eq!(estimated_rows(-1.0, 150004), None);
        assert_eq!(estimated_rows(-1.0, 130010), Some(0));
        assert_eq!(estimated_rows(8_100_000.0, 160000), Some(8_100_000));
    }

    #[test]
    fn summarises_for_findings() {
        let r = row("conversations", Some(1_288_490_189), 0, Some(8_100_000));
        assert_eq!(r.summary(), "1.2 GB, 8.1M rows");
        let locked = row("conversations", None, 8192, None);
        assert_eq!(locked.summary(), "~8.0 KB, ? rows");
    }

    #[test]
    fn matches_qualified_and_bare_names() {
        let r = row("conversations", Some(1), 0, None);
        assert!(r.is_named("conversations"));
        assert!(r.is_named("public.conversations"));
        assert!(!r.is_named("other.conversations"));
    }
}
