//! The lock model as data: each command shape with the lock it takes, whether it scans or
//! rewrites, and the version cut-offs that change either (reference §3 and §4). Rules and lock
//! badges read this table; nothing else carries lock facts of its own.

use serde::Serialize;

use super::locks::LockMode;
use LockMode::*;

/// How much work a command does under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cost {
    /// Metadata only: brief once the lock is granted.
    None,
    /// A full read of the table (validation, index build) under the lock; no rewrite.
    Scan,
    /// Every row copied to a new file (`relfilenode` changes).
    Rewrite,
}

/// What kind of object a lock is taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A table, partitioned table, view or materialized view.
    Table,
    /// A named index (its table is locked too, but its name is not in the statement).
    Index,
    /// Every index of the named table (REINDEX TABLE).
    IndexesOf,
    /// A type object (enum, domain): `locktype = 'object'`, no conflict with table locks.
    TypeObject,
}

/// A command shape: one row of the lock model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// `SELECT` (and the tables read by other statements).
    Select,
    /// `SELECT … FOR UPDATE/SHARE`.
    SelectForUpdate,
    /// The foreign-key check of a written row, on the referenced table (`SELECT … FOR KEY
    /// SHARE`): taken only when the statement writes a row.
    ForeignKeyCheck,
    /// A DELETE, or an UPDATE of a key, on a referenced table: the check for rows of a
    /// referencing table that still point at the key (`ON DELETE/UPDATE NO ACTION`, `RESTRICT`),
    /// on the referencing table; taken only when a row is deleted or its key changed.
    ReferencingRowsChecked,
    /// The same, when the key's action changes the referencing rows (`CASCADE`, `SET NULL`,
    /// `SET DEFAULT`): they are deleted or updated too.
    ReferencingRowsWritten,
    /// `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY FROM`.
    Dml,
    /// `CREATE TABLE` (the new table).
    CreateTable,
    /// `CREATE TABLE … PARTITION OF p` (on `p`).
    PartitionParentOfNewTable,
    /// `CREATE INDEX`.
    CreateIndex,
    /// `CREATE INDEX CONCURRENTLY`.
    CreateIndexConcurrently,
    /// `DROP INDEX` (on the index; its table gets the same lock).
    DropIndex,
    /// `DROP INDEX CONCURRENTLY`.
    DropIndexConcurrently,
    /// `REINDEX TABLE`/`INDEX` on the table.
    Reindex,
    /// `REINDEX` on each index.
    ReindexIndexes,
    /// `REINDEX INDEX` on the index (its table gets SHARE while the index is rebuilt).
    ReindexIndex,
    /// `REINDEX … CONCURRENTLY`.
    ReindexConcurrently,
    /// `ADD COLUMN` without default.
    AddColumn,
    /// `ADD COLUMN … DEFAULT <non-volatile>`.
    AddColumnDefault,
    /// `ADD COLUMN` materialising per-row values (volatile default, serial, identity, STORED).
    AddColumnRewrite,
    /// `DROP COLUMN`.
    DropColumn,
    /// `ALTER COLUMN … TYPE` that rewrites.
    AlterColumnType,
    /// `ALTER COLUMN … TYPE` that is binary-coercible.
    AlterColumnTypeNoRewrite,
    /// `SET DEFAULT`, `DROP DEFAULT`, `DROP NOT NULL`, `DROP IDENTITY`, `DROP EXPRESSION`.
    AlterColumnMetadata,
    /// `SET NOT NULL` without a proving CHECK.
    SetNotNull,
    /// `SET NOT NULL` with a valid `CHECK (c IS NOT NULL)` already in place.
    SetNotNullProven,
    /// `SET STATISTICS`, `SET (n_distinct …)` on a column.
    SetStatistics,
    /// `SET STORAGE`, `SET COMPRESSION`.
    SetStorage,
    /// `ADD CHECK`.
    AddCheck,
    /// `ADD CHECK … NOT VALID`.
    AddCheckNotValid,
    /// `ADD FOREIGN KEY` on the referencing table.
    AddForeignKey,
    /// `ADD FOREIGN KEY … NOT VALID` on the referencing table.
    AddForeignKeyNotValid,
    /// The referenced table of a new foreign key (ALTER or CREATE TABLE).
    ForeignKeyReferenced,
    /// `ADD UNIQUE` / `ADD PRIMARY KEY` building an index.
    AddIndexConstraint,
    /// `ADD UNIQUE/PRIMARY KEY USING INDEX`.
    AddConstraintUsingIndex,
    /// `ADD EXCLUDE`.
    AddExclude,
    /// `VALIDATE CONSTRAINT`.
    ValidateConstraint,
    /// The referenced table while an FK is validated.
    ValidateForeignKeyReferenced,
    /// `DROP CONSTRAINT`.
    DropConstraint,
    /// `ALTER CONSTRAINT` (deferrability).
    AlterConstraint,
    /// `ENABLE/DISABLE TRIGGER`.
    ToggleTrigger,
    /// Other metadata-only ALTER TABLE forms (rules, RLS, replica identity, owner, schema, inherit).
    AlterTableMetadata,
    /// `RENAME` of a table, column or constraint.
    Rename,
    /// `ALTER INDEX … RENAME`.
    RenameIndex,
    /// `CLUSTER ON`, `SET WITHOUT CLUSTER`.
    ClusterOn,
    /// `SET (fillfactor, autovacuum_*, toast.*, parallel_workers)`.
    SetLightOptions,
    /// Other `SET (…)` / `RESET (…)` storage parameters.
    SetOtherOptions,
    /// `SET TABLESPACE`.
    SetTablespace,
    /// `SET LOGGED/UNLOGGED`, `SET ACCESS METHOD`.
    SetPersistence,
    /// `ATTACH PARTITION` on the parent.
    AttachPartitionParent,
    /// `ATTACH PARTITION` on the attached table.
    AttachPartitionChild,
    /// `DETACH PARTITION` (parent and partition).
    DetachPartition,
    /// `DETACH PARTITION … CONCURRENTLY`.
    DetachPartitionConcurrently,
    /// `DROP TABLE` / `DROP MATERIALIZED VIEW`.
    DropTable,
    /// `TRUNCATE`.
    Truncate,
    /// `CREATE TRIGGER`.
    CreateTrigger,
    /// `DROP TRIGGER`.
    DropTrigger,
    /// `ALTER TRIGGER … RENAME TO` / `[NO] DEPENDS ON EXTENSION`.
    AlterTrigger,
    /// `VACUUM` (not FULL).
    Vacuum,
    /// `VACUUM FULL`.
    VacuumFull,
    /// `CLUSTER`.
    Cluster,
    /// `ANALYZE`.
    Analyze,
    /// `REFRESH MATERIALIZED VIEW`.
    RefreshMatview,
    /// `REFRESH MATERIALIZED VIEW CONCURRENTLY`.
    RefreshMatviewConcurrently,
    /// `ALTER TYPE … ADD VALUE` / `RENAME VALUE` (a type-object lock).
    EnumAddValue,
    /// `COMMENT ON`, `CREATE STATISTICS`.
    Comment,
    /// `LOCK TABLE … IN <mode> MODE` (the mode comes from the statement).
    LockTable,
    /// `ALTER DOMAIN … ADD CONSTRAINT` (checks every column using the domain).
    DomainAddConstraint,
    /// The referenced table when a foreign key is dropped (its triggers are removed), by
    /// `DROP CONSTRAINT` or `DROP TABLE`.
    DropForeignKeyReferenced,
    /// `CREATE/ALTER/DROP POLICY` on the table.
    Policy,
    /// `CREATE RULE` on the table.
    CreateRule,
    /// `CREATE OR REPLACE VIEW` on the view.
    ReplaceView,
    /// `DROP VIEW` (a view has no storage: the lock is on the view only).
    DropView,
    /// The other table of a foreign key on a column whose type changes without a rewrite: the
    /// key is dropped and re-created (its triggers too), not re-checked.
    ForeignKeyRecreated,
    /// The other table of a foreign key on a column whose type change rewrites either table:
    /// the re-created key is re-checked, reading both tables.
    ForeignKeyRechecked,
    /// `ALTER INDEX … ATTACH PARTITION`: on the partitioned index.
    AttachIndexParent,
    /// `ALTER INDEX … ATTACH PARTITION`: on the index attached.
    AttachIndexChild,
}

/// The lock a command on a partitioned table also takes on each of its partitions, given the
/// mode it takes on the partitioned table; `None` when it locks the partitioned table alone.
/// Measured on PostgreSQL 15 (the ground-truth test traces each form): ALTER TABLE's column,
/// constraint and trigger forms recurse with the same lock; an index build (CREATE INDEX, ADD
/// UNIQUE/PRIMARY KEY) takes SHARE on each partition; renaming the table, its owner, schema,
/// policies, row security and comments stay on the partitioned table. Reads and row changes are
/// left out: which partitions they lock depends on pruning and on the rows.
pub(crate) fn partition_lock(
    shape: Shape,
    detail: &crate::analysis::describe::Detail,
    mode: LockMode,
) -> Option<LockMode> {
    use crate::analysis::describe::Detail;
    match shape {
        Shape::AddIndexConstraint | Shape::AddExclude => Some(LockMode::Share),
        Shape::Rename => match detail {
            Detail::Rename { what: "table", .. } => None,
            _ => Some(mode),
        },
        Shape::AddColumn
        | Shape::AddColumnDefault
        | Shape::AddColumnRewrite
        | Shape::DropColumn
        | Shape::AlterColumnType
        | Shape::AlterColumnTypeNoRewrite
        | Shape::AlterColumnMetadata
        | Shape::SetNotNull
        | Shape::SetNotNullProven
        | Shape::SetStatistics
        | Shape::SetStorage
        | Shape::AddCheck
        | Shape::AddCheckNotValid
        | Shape::AddForeignKey
        | Shape::AddForeignKeyNotValid
        | Shape::ValidateConstraint
        | Shape::DropConstraint
        | Shape::AlterConstraint
        | Shape::ToggleTrigger
        | Shape::CreateIndex
        | Shape::DropIndex
        | Shape::DetachPartition
        | Shape::AttachPartitionChild
        | Shape::DropTable
        | Shape::Truncate
        | Shape::CreateTrigger
        | Shape::DropTrigger
        | Shape::AlterTrigger
        | Shape::LockTable
        | Shape::Analyze
        | Shape::Vacuum => Some(mode),
        _ => None,
    }
}

/// One row of the lock model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ShapeRow {
    /// The shape this row describes.
    pub shape: Shape,
    /// The command, as a user would write it.
    pub command: &'static str,
    /// The lock mode on current versions.
    pub lock: LockMode,
    /// Before version key `.0` (see [`version_key`]) the lock was `.1` instead.
    pub lock_before: Option<(u32, LockMode)>,
    /// The work done under the lock on current versions.
    pub cost: Cost,
    /// Before version key `.0` (see [`version_key`]) the cost was `.1` instead.
    pub cost_before: Option<(u32, Cost)>,
    /// What the lock is taken on.
    pub target: Target,
}

impl Shape {
    /// A foreign key's work for each row a DML statement writes (the check of its key on the
    /// referenced table, the cascade or check on the referencing one): taken only when a row is
    /// written.
    pub fn per_written_row(self) -> bool {
        matches!(
            self,
            Shape::ForeignKeyCheck | Shape::ReferencingRowsChecked | Shape::ReferencingRowsWritten
        )
    }
}

impl ShapeRow {
    /// The lock mode on a server of major version `pg_version` (see [`version_key`]).
    pub fn lock_at(&self, pg_version: u32) -> LockMode {
        match self.lock_before {
            Some((since, before)) if version_key(pg_version) < since => before,
            _ => self.lock,
        }
    }

    /// The cost on a server of major version `pg_version` (see [`version_key`]).
    pub fn cost_at(&self, pg_version: u32) -> Cost {
        match self.cost_before {
            Some((since, before)) if version_key(pg_version) < since => before,
            _ => self.cost,
        }
    }
}

/// Turns a user-facing version into a comparable key: majors 10 and up (`15`) become `major * 10`
/// (`150`); the 9.x series is written `90`–`96` (`95` = 9.5) and kept as is; a bare `9` means 9.0.
pub const fn version_key(pg_version: u32) -> u32 {
    match pg_version {
        0..=9 => 90,
        90..=99 => pg_version,
        _ => pg_version.saturating_mul(10),
    }
}

/// A `pg_version` as people write it: `15`, `9.6`.
pub fn version_label(pg_version: u32) -> String {
    match pg_version {
        0..=9 => format!("{pg_version}.0"),
        90..=99 => format!("{}.{}", pg_version / 10, pg_version % 10),
        _ => pg_version.to_string(),
    }
}

/// Reads a version as people write it (`15`, `9.6`, `96`, `16.2`) into a `pg_version`.
pub fn parse_version(text: &str) -> Result<u32, String> {
    let bad =
        || format!("`{text}` is not a PostgreSQL version: write the major version, e.g. 15 or 9.6");
    let mut parts = text.trim().split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let minor: Option<u32> = match parts.next() {
        Some(p) => Some(p.parse().map_err(|_| bad())?),
        None => None,
    };
    match (major, minor) {
        (9, Some(minor @ 0..=6)) => Ok(90 + minor),
        (90..=96, None) => Ok(major),
        (10..=40, _) => Ok(major),
        _ => Err(bad()),
    }
}

/// The `pg_version` for a server's `server_version_num` (`150004` → `15`, `90605` → `96`).
pub const fn version_from_server_num(server_version_num: u32) -> u32 {
    if server_version_num >= 100_000 {
        server_version_num / 10_000
    } else {
        (server_version_num / 10_000) * 10 + (server_version_num / 100) % 100
    }
}

/// Whether a server of version `pg_version` is at least `major` (10+) — or 9.x given as `9x`.
pub const fn at_least(pg_version: u32, major: u32) -> bool {
    version_key(pg_version) >= version_key(major)
}

const fn row(
    shape: Shape,
    command: &'static str,
    lock: LockMode,
    cost: Cost,
    target: Target,
) -> ShapeRow {
    ShapeRow {
        shape,
        command,
        lock,
        lock_before: None,
        cost,
        cost_before: None,
        target,
    }
}

const fn lock_before(mut r: ShapeRow, since: u32, before: LockMode) -> ShapeRow {
    r.lock_before = Some((since, before));
    r
}

const fn cost_before(mut r: ShapeRow, since: u32, before: Cost) -> ShapeRow {
    r.cost_before = Some((since, before));
    r
}

use Cost::{None as Free, Rewrite, Scan};
use Shape as S;
use Target::*;

/// The lock model, in the order of [`Shape`]'s variants (checked by a test).
#[rustfmt::skip]
pub const LOCK_MODEL: &[ShapeRow] = &[
    row(S::Select, "SELECT", AccessShare, Free, Table),
    row(S::SelectForUpdate, "SELECT FOR UPDATE", RowShare, Free, Table),
    row(S::ForeignKeyCheck, "FOREIGN KEY check of written rows (referenced table)", RowShare, Free, Table),
    row(S::ReferencingRowsChecked, "FOREIGN KEY check of rows referencing deleted or changed keys (referencing table)", RowShare, Free, Table),
    row(S::ReferencingRowsWritten, "ON DELETE/UPDATE CASCADE, SET NULL or SET DEFAULT (referencing table)", RowExclusive, Free, Table),
    row(S::Dml, "INSERT/UPDATE/DELETE", RowExclusive, Free, Table),
    row(S::CreateTable, "CREATE TABLE", AccessExclusive, Free, Table),
    row(S::PartitionParentOfNewTable, "CREATE TABLE … PARTITION OF", AccessExclusive, Free, Table),
    row(S::CreateIndex, "CREATE INDEX", Share, Scan, Table),
    row(S::CreateIndexConcurrently, "CREATE INDEX CONCURRENTLY", ShareUpdateExclusive, Scan, Table),
    row(S::DropIndex, "DROP INDEX", AccessExclusive, Free, Index),
    row(S::DropIndexConcurrently, "DROP INDEX CONCURRENTLY", ShareUpdateExclusive, Free, Index),
    row(S::Reindex, "REINDEX", Share, Scan, Table),
    row(S::ReindexIndexes, "REINDEX", AccessExclusive, Scan, IndexesOf),
    row(S::ReindexIndex, "REINDEX INDEX", AccessExclusive, Scan, Index),
    row(S::ReindexConcurrently, "REINDEX CONCURRENTLY", ShareUpdateExclusive, Scan, Table),
    row(S::AddColumn, "ADD COLUMN", AccessExclusive, Free, Table),
    cost_before(row(S::AddColumnDefault, "ADD COLUMN … DEFAULT", AccessExclusive, Free, Table), 110, Rewrite),
    row(S::AddColumnRewrite, "ADD COLUMN (rewriting)", AccessExclusive, Rewrite, Table),
    row(S::DropColumn, "DROP COLUMN", AccessExclusive, Free, Table),
    row(S::AlterColumnType, "ALTER COLUMN … TYPE", AccessExclusive, Rewrite, Table),
    row(S::AlterColumnTypeNoRewrite, "ALTER COLUMN … TYPE (binary-coercible)", AccessExclusive, Free, Table),
    row(S::AlterColumnMetadata, "ALTER COLUMN", AccessExclusive, Free, Table),
    row(S::SetNotNull, "SET NOT NULL", AccessExclusive, Scan, Table),
    cost_before(row(S::SetNotNullProven, "SET NOT NULL (proven by CHECK)", AccessExclusive, Free, Table), 120, Scan),
    row(S::SetStatistics, "SET STATISTICS", ShareUpdateExclusive, Free, Table),
    row(S::SetStorage, "SET STORAGE/COMPRESSION", AccessExclusive, Free, Table),
    row(S::AddCheck, "ADD CHECK", AccessExclusive, Scan, Table),
    row(S::AddCheckNotValid, "ADD CHECK … NOT VALID", AccessExclusive, Free, Table),
    lock_before(row(S::AddForeignKey, "ADD FOREIGN KEY", ShareRowExclusive, Scan, Table), 95, AccessExclusive),
    lock_before(row(S::AddForeignKeyNotValid, "ADD FOREIGN KEY … NOT VALID", ShareRowExclusive, Free, Table), 95, AccessExclusive),
    lock_before(row(S::ForeignKeyReferenced, "FOREIGN KEY (referenced table)", ShareRowExclusive, Free, Table), 95, AccessExclusive),
    row(S::AddIndexConstraint, "ADD UNIQUE/PRIMARY KEY", AccessExclusive, Scan, Table),
    row(S::AddConstraintUsingIndex, "ADD … USING INDEX", AccessExclusive, Free, Table),
    row(S::AddExclude, "ADD EXCLUDE", AccessExclusive, Scan, Table),
    row(S::ValidateConstraint, "VALIDATE CONSTRAINT", ShareUpdateExclusive, Scan, Table),
    row(S::ValidateForeignKeyReferenced, "VALIDATE CONSTRAINT (referenced table)", RowShare, Free, Table),
    row(S::DropConstraint, "DROP CONSTRAINT", AccessExclusive, Free, Table),
    row(S::AlterConstraint, "ALTER CONSTRAINT", AccessExclusive, Free, Table),
    row(S::ToggleTrigger, "ENABLE/DISABLE TRIGGER", ShareRowExclusive, Free, Table),
    row(S::AlterTableMetadata, "ALTER TABLE", AccessExclusive, Free, Table),
    row(S::Rename, "RENAME", AccessExclusive, Free, Table),
    lock_before(row(S::RenameIndex, "ALTER INDEX … RENAME", ShareUpdateExclusive, Free, Index), 120, AccessExclusive),
    row(S::ClusterOn, "CLUSTER ON / SET WITHOUT CLUSTER", ShareUpdateExclusive, Free, Table),
    row(S::SetLightOptions, "SET (storage parameter)", ShareUpdateExclusive, Free, Table),
    row(S::SetOtherOptions, "SET (storage parameter)", AccessExclusive, Free, Table),
    row(S::SetTablespace, "SET TABLESPACE", AccessExclusive, Rewrite, Table),
    row(S::SetPersistence, "SET LOGGED/UNLOGGED/ACCESS METHOD", AccessExclusive, Rewrite, Table),
    lock_before(row(S::AttachPartitionParent, "ATTACH PARTITION (parent)", ShareUpdateExclusive, Free, Table), 120, AccessExclusive),
    row(S::AttachPartitionChild, "ATTACH PARTITION (attached table)", AccessExclusive, Scan, Table),
    row(S::DetachPartition, "DETACH PARTITION", AccessExclusive, Free, Table),
    row(S::DetachPartitionConcurrently, "DETACH PARTITION CONCURRENTLY", ShareUpdateExclusive, Free, Table),
    row(S::DropTable, "DROP TABLE", AccessExclusive, Free, Table),
    row(S::Truncate, "TRUNCATE", AccessExclusive, Rewrite, Table),
    row(S::CreateTrigger, "CREATE TRIGGER", ShareRowExclusive, Free, Table),
    row(S::DropTrigger, "DROP TRIGGER", AccessExclusive, Free, Table),
    row(S::AlterTrigger, "ALTER TRIGGER", AccessExclusive, Free, Table),
    row(S::Vacuum, "VACUUM", ShareUpdateExclusive, Scan, Table),
    row(S::VacuumFull, "VACUUM FULL", AccessExclusive, Rewrite, Table),
    row(S::Cluster, "CLUSTER", AccessExclusive, Rewrite, Table),
    row(S::Analyze, "ANALYZE", ShareUpdateExclusive, Scan, Table),
    row(S::RefreshMatview, "REFRESH MATERIALIZED VIEW", AccessExclusive, Rewrite, Table),
    row(S::RefreshMatviewConcurrently, "REFRESH MATERIALIZED VIEW CONCURRENTLY", Exclusive, Scan, Table),
    row(S::EnumAddValue, "ALTER TYPE … ADD VALUE", Exclusive, Free, TypeObject),
    row(S::Comment, "COMMENT ON / CREATE STATISTICS", ShareUpdateExclusive, Free, Table),
    row(S::LockTable, "LOCK TABLE", AccessExclusive, Free, Table),
    row(S::DomainAddConstraint, "ALTER DOMAIN … ADD CONSTRAINT", Share, Scan, TypeObject),
    row(S::DropForeignKeyReferenced, "dropping a FOREIGN KEY (referenced table)", AccessExclusive, Free, Table),
    row(S::Policy, "CREATE/ALTER/DROP POLICY", AccessExclusive, Free, Table),
    row(S::CreateRule, "CREATE RULE", AccessExclusive, Free, Table),
    row(S::ReplaceView, "CREATE OR REPLACE VIEW", AccessExclusive, Free, Table),
    row(S::DropView, "DROP VIEW", AccessExclusive, Free, Table),
    row(S::ForeignKeyRecreated, "re-creating a FOREIGN KEY (other table)", AccessExclusive, Free, Table),
    row(S::ForeignKeyRechecked, "re-checking a FOREIGN KEY (other table)", AccessExclusive, Scan, Table),
    row(S::AttachIndexParent, "ALTER INDEX … ATTACH PARTITION (partitioned index)", ShareUpdateExclusive, Free, Index),
    row(S::AttachIndexChild, "ALTER INDEX … ATTACH PARTITION (attached index)", AccessExclusive, Free, Index),
];

/// The lock-model row of a shape.
pub fn lookup(shape: Shape) -> &'static ShapeRow {
    // The table is in variant order (a test checks it); fall back to a search regardless.
    match LOCK_MODEL.get(shape as usize) {
        Some(row) if row.shape == shape => row,
        _ => LOCK_MODEL
            .iter()
            .find(|row| row.shape == shape)
            .unwrap_or(&LOCK_MODEL[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_variant_order() {
        for (i, row) in LOCK_MODEL.iter().enumerate() {
            assert_eq!(row.shape as usize, i, "{:?}", row.shape);
        }
        assert_eq!(LOCK_MODEL.len(), Shape::AttachIndexChild as usize + 1);
    }

    #[test]
    fn version_cutoffs_change_verdicts() {
        assert_eq!(lookup(Shape::AddForeignKey).lock_at(94), AccessExclusive);
        assert_eq!(lookup(Shape::AddForeignKey).lock_at(95), ShareRowExclusive);
        assert!(at_least(96, 95) && !at_least(96, 10) && at_least(15, 12) && !at_least(11, 12));
        assert_eq!(version_from_server_num(150004), 15);
        assert_eq!(version_from_server_num(180000), 18);
        assert_eq!(version_from_server_num(90605), 96);
        assert!(at_least(version_from_server_num(90605), 95));
        assert_eq!(lookup(Shape::AddForeignKey).lock_at(15), ShareRowExclusive);
        assert_eq!(lookup(Shape::AddColumnDefault).cost_at(10), Rewrite);
        assert_eq!(lookup(Shape::AddColumnDefault).cost_at(11), Free);
        assert_eq!(
            lookup(Shape::AttachPartitionParent).lock_at(11),
            AccessExclusive
        );
        assert_eq!(
            lookup(Shape::AttachPartitionParent).lock_at(12),
            ShareUpdateExclusive
        );
        assert_eq!(lookup(Shape::SetNotNullProven).cost_at(11), Scan);
    }
}
