//! Keeping the data a destructive statement drops: right before the statement, on the migration
//! connection (inside its transaction, so the copy holds exactly what the statement drops),
//! `COPY (SELECT …) TO STDOUT` streamed through gzip into a private directory, with a
//! `restore.sql` beside the copies that loads them back with psql.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use super::GuardError;
use super::snapshot::{private_dir, private_file, write_private};
use crate::analysis::destructive::{Destruction, quote_ident, type_change_keeps_values};
use crate::runner::{
    BeforeStatement, Direction, EventSink, HookError, HookFuture, KeptTable, RunEvent, Step,
};
use crate::sql::Statement;

/// The runner hook that copies data before destructive statements ([`BeforeStatement`]).
pub struct DataKeeper {
    pub(super) run_dir: PathBuf,
    pub(super) destructive: HashMap<(Direction, i64, usize), Vec<Destruction>>,
    pub(super) limit: u64,
    /// The number of each statement's directory, in run order.
    pub(super) order: HashMap<(Direction, i64, usize), usize>,
    /// The size of each copy written, by file (a retried transaction writes a copy again).
    pub(super) written: HashMap<PathBuf, u64>,
    pub(super) server_version_num: u32,
    pub(super) database: String,
    pub(super) schema_snapshot: Option<PathBuf>,
}

impl BeforeStatement for DataKeeper {
    fn before<'a>(
        &'a mut self,
        conn: &'a mut PgConnection,
        step: &'a Step,
        statement: &'a Statement,
        events: &'a EventSink,
    ) -> HookFuture<'a> {
        Box::pin(self.keep(conn, step, statement, events))
    }
}

/// The one line the CLI (and the dashboard's log) prints for a [`RunEvent::DataKept`].
pub fn describe_kept(event: &RunEvent) -> Option<String> {
    let RunEvent::DataKept {
        index,
        restore,
        tables,
        ..
    } = event
    else {
        return None;
    };
    let what: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "{} row{} of {}{} ({})",
                t.rows,
                if t.rows == 1 { "" } else { "s" },
                t.table,
                t.column
                    .as_ref()
                    .map(|c| format!(".{c}"))
                    .unwrap_or_default(),
                crate::monitor::format::human_bytes(i64::try_from(t.bytes).unwrap_or(i64::MAX))
            )
        })
        .collect();
    Some(format!(
        "kept before statement {}: {}; restore with psql -f {}",
        index + 1,
        what.join(", "),
        restore.display()
    ))
}

/// A table as the server names it.
struct Table {
    oid: i64,
    /// `format('%I.%I')`: quoted, schema-qualified.
    sql: String,
    /// Unquoted, for people.
    display: String,
    /// The table it inherits from or is a partition of.
    parent: Option<String>,
}

/// A key of a table: the primary key, or a unique index on NOT NULL columns.
struct Key {
    columns: Vec<String>,
    primary: bool,
}

/// What [`TABLE_FACTS`] reads of a table.
type TableRow = (i64, String, String, Option<String>);

/// The facts of table `c` (schema `n`) that make a [`Table`].
const TABLE_FACTS: &str = "c.oid::int8, format('%I.%I', n.nspname, c.relname), \
     n.nspname || '.' || c.relname, \
     (SELECT format('%I.%I', pn.nspname, p.relname) FROM pg_inherits i \
      JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace \
      WHERE i.inhrelid = c.oid LIMIT 1)";

impl From<TableRow> for Table {
    fn from((oid, sql, display, parent): TableRow) -> Table {
        Table {
            oid,
            sql,
            display,
            parent,
        }
    }
}

/// One column of a table.
struct Column {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
    generated: bool,
}

impl DataKeeper {
    /// The size of the copies written so far, but `path`'s.
    fn written_besides(&self, path: &Path) -> u64 {
        self.written
            .iter()
            .filter(|(file, _)| file.as_path() != path)
            .map(|(_, bytes)| bytes)
            .sum()
    }

    async fn keep(
        &mut self,
        conn: &mut PgConnection,
        step: &Step,
        statement: &Statement,
        events: &EventSink,
    ) -> Result<(), HookError> {
        let Some(destructions) = self
            .destructive
            .get(&(step.direction, step.version, statement.index))
            .cloned()
        else {
            return Ok(());
        };
        // Numbered in run order (a retry reuses its number), so they sort as they ran.
        let next = self.order.len() + 1;
        let order = *self
            .order
            .entry((step.direction, step.version, statement.index))
            .or_insert(next);
        let dir = self.run_dir.join(format!(
            "{order:03}-{}-{}-statement-{}",
            step.direction.verb(),
            step.version,
            statement.index + 1
        ));
        private_dir(&dir).map_err(refused)?;
        let mut script = Restore::new(self, step, statement, &dir);
        let mut kept = Vec::new();
        for destruction in &destructions {
            match destruction.column() {
                None => {
                    for table in self.tables(conn, destruction).await? {
                        let columns = self.columns(conn, table.oid).await?;
                        let key = match destruction {
                            Destruction::UpdateAll { .. } | Destruction::DropTable { .. } => {
                                self.keys(conn, table.oid).await?.into_iter().next()
                            }
                            _ => None,
                        };
                        let copied = self.copy(conn, &dir, &table, &columns, None, None).await?;
                        script.whole_table(destruction, &table, &columns, key.as_ref(), &copied);
                        kept.push(copied);
                    }
                }
                Some(column) => {
                    let Some(table) = self.table(conn, &destruction.table().sql()).await? else {
                        continue;
                    };
                    let columns = self.columns(conn, table.oid).await?;
                    let Some(target) = columns.iter().find(|c| c.name == column) else {
                        continue;
                    };
                    if let Destruction::ChangeType {
                        new_type, using, ..
                    } = destruction
                        && type_change_keeps_values(&target.ty, new_type, *using)
                    {
                        continue;
                    }
                    let key = self
                        .keys(conn, table.oid)
                        .await?
                        .into_iter()
                        .find(|key| !key.columns.iter().any(|k| k == column))
                        .map(|key| key.columns);
                    let copied = self
                        .copy(conn, &dir, &table, &columns, Some(target), key.as_deref())
                        .await?;
                    script.column(
                        destruction,
                        &table,
                        &columns,
                        target,
                        key.as_deref(),
                        &copied,
                    );
                    kept.push(copied);
                }
            }
        }
        if kept.is_empty() {
            let _ = std::fs::remove_dir(&dir);
            return Ok(());
        }
        let restore = dir.join("restore.sql");
        write_private(&restore, &script.finish()).map_err(refused)?;
        sync_dir(&dir);
        let _ = events.send(RunEvent::DataKept {
            version: step.version,
            direction: step.direction,
            index: statement.index,
            directory: dir,
            restore,
            tables: kept,
        });
        Ok(())
    }

    /// The table a name resolves to now (through the session's `search_path`), if it exists.
    async fn table(&self, conn: &mut PgConnection, name: &str) -> Result<Option<Table>, HookError> {
        let row: Option<TableRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TABLE_FACTS} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1)"
        )))
        .bind(name)
        .persistent(false)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(Table::from))
    }

    /// The tables whose rows a table-level destruction removes: the table, its inheritance
    /// children and partitions (unless `ONLY`), and for `TRUNCATE … CASCADE` the tables that
    /// reference them; those that hold rows of their own (not a partitioned parent).
    async fn tables(
        &self,
        conn: &mut PgConnection,
        destruction: &Destruction,
    ) -> Result<Vec<Table>, HookError> {
        let (only, cascade) = scope(destruction);
        let rows: Vec<TableRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{TREE} SELECT {TABLE_FACTS} FROM (SELECT oid, min(depth) AS depth FROM tree GROUP BY oid) t \
             JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' ORDER BY t.depth, t.oid"
        )))
        .bind(destruction.table().sql())
        .bind(only)
        .bind(cascade)
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(Table::from).collect())
    }

    async fn columns(&self, conn: &mut PgConnection, oid: i64) -> Result<Vec<Column>, HookError> {
        let generated = if self.server_version_num >= 120_000 {
            "a.attgenerated <> ''"
        } else {
            "false"
        };
        let rows: Vec<(String, String, bool, Option<String>, bool)> =
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid), {generated} \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d \
                   ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum"
            )))
            .bind(oid)
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(name, ty, not_null, default, generated)| Column {
                name,
                ty,
                not_null,
                default,
                generated,
            })
            .collect())
    }

    /// The table's keys, the primary key first, then unique indexes on NOT NULL columns (no
    /// expressions, no predicate), shortest first.
    async fn keys(&self, conn: &mut PgConnection, oid: i64) -> Result<Vec<Key>, HookError> {
        let key_columns = if self.server_version_num >= 110_000 {
            "indnkeyatts"
        } else {
            "indnatts"
        };
        let rows: Vec<(Vec<String>, bool, bool)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT array_agg(coalesce(a.attname::text, '') ORDER BY k.ord), \
                    bool_and(coalesce(a.attnotnull, false)), i.indisprimary \
             FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::oid AND (i.indisprimary OR i.indisunique) \
               AND i.indpred IS NULL AND i.indisvalid AND k.ord <= i.{key_columns} \
             GROUP BY i.indexrelid, i.indisprimary \
             ORDER BY i.indisprimary DESC, count(*), i.indexrelid"
        )))
        .bind(oid)
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(names, not_null, _)| *not_null && names.iter().all(|n| !n.is_empty()))
            .map(|(columns, _, primary)| Key { columns, primary })
            .collect())
    }

    /// Copies the rows of `table` — every column but generated ones, or only `key` and `column`
    /// when both are known — into a gzip file in `dir`.
    async fn copy(
        &mut self,
        conn: &mut PgConnection,
        dir: &Path,
        table: &Table,
        columns: &[Column],
        column: Option<&Column>,
        key: Option<&[String]>,
    ) -> Result<KeptTable, HookError> {
        let names = copied_columns(columns, column, key);
        let list: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        // Column-level copies read through the parent (an ALTER TABLE recurses to children, and
        // the restoring UPDATE does too); whole tables are copied one by one.
        let only = if column.is_some() { "" } else { "ONLY " };
        let sql = format!(
            "COPY (SELECT {} FROM {only}{}) TO STDOUT",
            list.join(", "),
            table.sql
        );
        let file_name = format!(
            "{}{}.copy.gz",
            safe_file_name(&table.display),
            column
                .map(|c| format!(".{}", safe_file_name(&c.name)))
                .unwrap_or_default()
        );
        let path = dir.join(file_name);
        let file = private_file(&path).map_err(refused)?;
        let mut gz =
            flate2::write::GzEncoder::new(Counting::new(file), flate2::Compression::fast());
        let mut stream = conn.copy_out_raw(&sql).await?;
        let mut rows = 0u64;
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    failure = Some(HookError::Query(error));
                    break;
                }
            };
            rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            if let Err(e) = gz.write_all(&chunk) {
                failure = Some(refused(GuardError::Io(
                    format!("writing {}", path.display()),
                    e,
                )));
                break;
            }
            if self.written_besides(&path) + gz.get_ref().count > self.limit {
                failure = Some(HookError::Refused(format!(
                    "the data kept before this statement passed the limit of {} (the estimate \
                     before the run was lower); nothing of this migration's transaction stays \
                     applied. Raise --backup-limit (or backup-limit in lockstep.toml), or turn \
                     data copies off (--no-keep-data)",
                    human(self.limit)
                )));
                break;
            }
        }
        if let Some(failure) = failure {
            // Drain what the server still sends so the connection stays usable.
            while stream.next().await.is_some() {}
            drop(gz);
            let _ = std::fs::remove_file(&path);
            return Err(failure);
        }
        drop(stream);
        let counting = gz
            .finish()
            .map_err(|e| refused(GuardError::Io(format!("writing {}", path.display()), e)))?;
        counting
            .inner
            .sync_all()
            .map_err(|e| refused(GuardError::Io(format!("syncing {}", path.display()), e)))?;
        self.written.insert(path.clone(), counting.count);
        Ok(KeptTable {
            table: table.display.clone(),
            column: column.map(|c| c.name.clone()),
            rows,
            bytes: counting.count,
            file: path,
        })
    }
}

/// The relation tree of a table-level destruction, for the estimate and the copy: `$1` the
/// name, `$2` `ONLY` (no inheritance children), `$3` `CASCADE` (tables referencing it too).
pub(super) const TREE: &str = "WITH RECURSIVE edges(parent, child) AS ( \
       SELECT inhparent, inhrelid FROM pg_inherits WHERE NOT $2 \
       UNION ALL \
       SELECT confrelid, conrelid FROM pg_constraint WHERE contype = 'f' AND $3 \
     ), tree(oid, depth) AS ( \
       SELECT c.oid, 0 FROM pg_class c WHERE c.oid = to_regclass($1) \
       UNION \
       SELECT e.child, t.depth + 1 FROM edges e JOIN tree t ON e.parent = t.oid WHERE t.depth < 32 \
     )";

/// `ONLY` and `CASCADE` of a table-level destruction.
pub(super) fn scope(destruction: &Destruction) -> (bool, bool) {
    match destruction {
        Destruction::Truncate { only, cascade, .. } => (*only, *cascade),
        Destruction::DeleteAll { only, .. } | Destruction::UpdateAll { only, .. } => (*only, false),
        _ => (false, false),
    }
}

/// The columns a copy holds: the key and the column when both are known, else every column but
/// generated ones (whole rows).
fn copied_columns(
    columns: &[Column],
    column: Option<&Column>,
    key: Option<&[String]>,
) -> Vec<String> {
    match (column, key) {
        (Some(column), Some(key)) => key
            .iter()
            .cloned()
            .chain(std::iter::once(column.name.clone()))
            .collect(),
        _ => columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.clone())
            .collect(),
    }
}

fn refused(error: GuardError) -> HookError {
    HookError::Refused(error.to_string())
}

fn human(bytes: u64) -> String {
    crate::monitor::format::human_bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// A file name made of `name`: letters, digits, `.`, `_`, `-` and `+` kept, the rest `_`.
pub(super) fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// A writer that counts the bytes written through it.
struct Counting {
    inner: std::fs::File,
    count: u64,
}

impl Counting {
    fn new(inner: std::fs::File) -> Counting {
        Counting { inner, count: 0 }
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The `restore.sql` of one statement's copies.
struct Restore {
    text: String,
    temp: usize,
}

impl Restore {
    fn new(keeper: &DataKeeper, step: &Step, statement: &Statement, dir: &Path) -> Restore {
        let shown: String = crate::format::sql_one_line(&statement.text, 200)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut text = format!(
            "-- lockstep kept this data right before it ran statement {} (line {}) of migration {} \
             ({}, {}) on database {} at {}:\n--   {shown}\n",
            statement.index + 1,
            statement.start.line,
            step.version,
            step.description.replace(['\n', '\r'], " "),
            step.direction.verb(),
            keeper.database,
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
        );
        text.push_str(&format!(
            "-- Load it back with psql, in one transaction that stops at the first error:\n\
             --   psql \"$DATABASE_URL\" -f {}\n",
            absolute(&dir.join("restore.sql")).display()
        ));
        if let Some(snapshot) = &keeper.schema_snapshot {
            text.push_str(&format!(
                "-- The schema before the run (indexes, constraints, triggers, grants): {}\n",
                absolute(snapshot).display()
            ));
        }
        text.push_str("\\set ON_ERROR_STOP on\nBEGIN;\n");
        Restore { text, temp: 0 }
    }

    /// The lines for a table whose rows were copied whole (`key`: its key, for an UPDATE or a
    /// DROP TABLE).
    fn whole_table(
        &mut self,
        destruction: &Destruction,
        table: &Table,
        columns: &[Column],
        key: Option<&Key>,
        copied: &KeptTable,
    ) {
        let loaded: Vec<&Column> = columns.iter().filter(|c| !c.generated).collect();
        let list = column_list(loaded.iter().map(|c| c.name.as_str()));
        self.text.push_str(&format!(
            "\n-- {}: {} rows of {}\n",
            destruction.describe(),
            copied.rows,
            table.display
        ));
        match destruction {
            Destruction::DropTable { .. } => {
                if let Some(parent) = &table.parent {
                    self.text.push_str(&format!(
                        "-- It was a partition or child of {parent}: re-create it as one (from the \
                         schema snapshot or the DOWN migration) instead of with the CREATE TABLE below.\n"
                    ));
                }
                self.text.push_str(&format!(
                    "-- Its columns, types, NOT NULL, defaults and primary key; re-create its other \
                     indexes, constraints and triggers from the schema snapshot or the DOWN migration.\n\
                     CREATE TABLE IF NOT EXISTS {} (\n",
                    table.sql
                ));
                let definitions: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let mut line = format!("    {} {}", quote_ident(&c.name), c.ty);
                        if c.not_null {
                            line.push_str(" NOT NULL");
                        }
                        match &c.default {
                            Some(expr) if c.generated => {
                                line.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
                            }
                            // Its sequence was dropped with the table.
                            Some(expr) if expr.contains("nextval(") => {}
                            Some(expr) => line.push_str(&format!(" DEFAULT {expr}")),
                            None => {}
                        }
                        line
                    })
                    .chain(key.filter(|k| k.primary).map(|k| {
                        format!(
                            "    PRIMARY KEY ({})",
                            column_list(k.columns.iter().map(String::as_str))
                        )
                    }))
                    .collect();
                self.text.push_str(&definitions.join(",\n"));
                self.text.push_str("\n);\n");
                self.load(&table.sql, &list, &copied.file);
            }
            Destruction::UpdateAll { .. } => {
                let temp = self.temp_table(&table.sql, &list);
                self.load(&temp, &list, &copied.file);
                let key = key.map(|k| k.columns.as_slice()).unwrap_or_default();
                let set: Vec<String> = loaded
                    .iter()
                    .filter(|c| !key.contains(&c.name))
                    .map(|c| format!("{0} = k.{0}", quote_ident(&c.name)))
                    .collect();
                let matching: Vec<String> = key
                    .iter()
                    .map(|k| format!("t.{0} = k.{0}", quote_ident(k)))
                    .collect();
                if key.is_empty() {
                    self.text.push_str(&format!(
                        "-- {} has no primary key or unique NOT NULL key: match the rows as they were\n\
                         -- before the UPDATE to the table's rows by hand, e.g.:\n\
                         -- UPDATE ONLY {} AS t SET {} FROM {temp} AS k WHERE t.<column> = k.<column>;\n",
                        table.display,
                        table.sql,
                        set.join(", ")
                    ));
                } else {
                    self.text.push_str(&format!(
                        "UPDATE ONLY {} AS t SET {} FROM {temp} AS k WHERE {};\n",
                        table.sql,
                        set.join(", "),
                        matching.join(" AND ")
                    ));
                }
            }
            _ => self.load(&table.sql, &list, &copied.file),
        }
    }

    /// The lines for one column's values, copied with the table's key (or whole rows).
    fn column(
        &mut self,
        destruction: &Destruction,
        table: &Table,
        columns: &[Column],
        column: &Column,
        key: Option<&[String]>,
        copied: &KeptTable,
    ) {
        let name = quote_ident(&column.name);
        self.text.push_str(&format!(
            "\n-- {}: {} values of {}.{}\n",
            destruction.describe(),
            copied.rows,
            table.display,
            column.name
        ));
        match destruction {
            Destruction::DropColumn { .. } => {
                let default = column
                    .default
                    .as_ref()
                    .filter(|_| !column.generated)
                    .map(|d| format!(" DEFAULT {d}"))
                    .unwrap_or_default();
                self.text.push_str(&format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {name} {}{default};\n",
                    table.sql, column.ty
                ));
            }
            _ => self.text.push_str(&format!(
                "ALTER TABLE {} ALTER COLUMN {name} TYPE {};\n",
                table.sql, column.ty
            )),
        }
        let Some(key) = key else {
            let list = column_list(
                copied_columns(columns, None, None)
                    .iter()
                    .map(String::as_str),
            );
            let temp = self.temp_table(&table.sql, &list);
            self.load(&temp, &list, &copied.file);
            self.text.push_str(&format!(
                "-- {} has no primary key or unique NOT NULL key: lockstep copied whole rows. Match\n\
                 -- them to the table's rows by hand, e.g.:\n\
                 -- UPDATE {} AS t SET {name} = k.{name} FROM {temp} AS k WHERE t.<column> = k.<column>;\n",
                table.display, table.sql
            ));
            return;
        };
        let names: Vec<&str> = key
            .iter()
            .map(String::as_str)
            .chain([column.name.as_str()])
            .collect();
        let list = column_list(names.iter().copied());
        let temp = self.temp_table(&table.sql, &list);
        self.load(&temp, &list, &copied.file);
        let matching: Vec<String> = key
            .iter()
            .map(|k| format!("t.{0} = k.{0}", quote_ident(k)))
            .collect();
        self.text.push_str(&format!(
            "UPDATE {} AS t SET {name} = k.{name} FROM {temp} AS k WHERE {};\n",
            table.sql,
            matching.join(" AND ")
        ));
        if column.not_null {
            self.text.push_str(&format!(
                "ALTER TABLE {} ALTER COLUMN {name} SET NOT NULL;\n",
                table.sql
            ));
        }
    }

    /// A temporary table shaped like `list` of `table`, dropped at COMMIT; its name.
    fn temp_table(&mut self, table: &str, list: &str) -> String {
        self.temp += 1;
        let temp = format!("lockstep_kept_{}", self.temp);
        self.text.push_str(&format!(
            "CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {list} FROM {table} WITH NO DATA;\n"
        ));
        temp
    }

    /// psql's `\copy` of a gzip file into `target`, by its absolute path (psql may run from
    /// anywhere).
    fn load(&mut self, target: &str, list: &str, file: &Path) {
        let file = absolute(file);
        let path = file.display().to_string();
        let plain = !path.contains(['\'', '"', '$', '`', '\\', '\n', '\r']);
        let (shown, note) = if plain {
            (path, String::new())
        } else {
            (
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                "-- (run psql from this directory: its path cannot be quoted for the shell here)\n"
                    .to_string(),
            )
        };
        self.text.push_str(&format!(
            "{note}\\copy {target} ({list}) FROM PROGRAM 'gzip -dc \"{shown}\"'\n"
        ));
    }

    fn finish(mut self) -> String {
        self.text.push_str("\nCOMMIT;\n");
        self.text
    }
}

fn column_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(quote_ident).collect::<Vec<_>>().join(", ")
}

/// `path` made absolute against the current directory (as it is when it cannot be).
fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
