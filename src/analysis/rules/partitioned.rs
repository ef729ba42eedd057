//! Partitioned tables: what PostgreSQL refuses on them (a concurrent index build, a NOT VALID
//! foreign key before 18, a concurrent drop of their index, a concurrent detach beside a default
//! partition), what a new partition costs, and the advice that replaces the usual one there. Each refusal was traced on a real server (the ground-truth tests).

use crate::analysis::describe::{Action, Detail};
use crate::analysis::locks::LockMode;
use crate::analysis::model::{Shape, at_least};

use super::checks::{ALock, CheckCtx, Draft};

/// The partitions named in advice and messages, the rest counted.
pub(crate) const SHOWN: usize = 4;

/// `each partition ("a", "b" and 3 more)`, or `each partition` when none is known yet (they may
/// be created at run time).
fn each_partition(partitions: &[String]) -> String {
    if partitions.is_empty() {
        "each partition".to_string()
    } else {
        format!(
            "each partition ({})",
            crate::format::quoted_and_more(partitions, SHOWN)
        )
    }
}

/// How an index is built on a partitioned table without blocking writes: on the partitioned
/// table alone first, then concurrently on each partition, attached one by one.
pub(crate) fn index_recipe(table: &str, leaves: &[String], ctx: &CheckCtx) -> String {
    format!(
        "build it per partition: CREATE INDEX ix ON ONLY \"{table}\" (…) (brief: SHARE on \"{table}\" alone, and the index stays invalid); then, for {}, CREATE INDEX CONCURRENTLY ON the partition (…) {} and ALTER INDEX ix ATTACH PARTITION it; ix becomes valid when every partition's index is attached",
        each_partition(leaves),
        ctx.runner.outside_transaction_home()
    )
}

/// How a foreign key is added to a partitioned table without a long lock before 18, where NOT
/// VALID is refused there: validated on each partition first, then attached.
pub(crate) fn foreign_key_recipe(table: &str, leaves: &[String]) -> String {
    format!(
        "NOT VALID is refused on a partitioned table before PostgreSQL 18: add the key to {} with NOT VALID, VALIDATE it there in another migration (SHARE UPDATE EXCLUSIVE, writes continue), then add it to \"{table}\", which attaches the partitions' validated keys without checking the rows again",
        each_partition(leaves)
    )
}

/// The advice for a DROP INDEX of a partitioned table's index, where CONCURRENTLY is refused.
pub(crate) fn drop_index_advice(table: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY cannot drop the index of a partitioned table: keep DROP INDEX, with SET lock_timeout = '2s' before it and a retry, so its ACCESS EXCLUSIVE lock on \"{table}\" and each partition is brief and never queued behind a long transaction"
    )
}

/// A statement PostgreSQL refuses on a partitioned table, whether it existed or was created in
/// the same migration: the migration fails there.
pub(crate) fn refused(a: &Action, ctx: &CheckCtx) -> Option<Draft> {
    ctx.partitions.as_ref()?;
    let table = ctx.index_table.as_deref().unwrap_or(&a.relation);
    let (message, help) = match (&a.shape, &a.detail) {
        (Shape::CreateIndexConcurrently, _) => (
            format!(
                "CREATE INDEX CONCURRENTLY on the partitioned table \"{table}\" fails: PostgreSQL cannot build the index of a partitioned table concurrently (\"cannot create index on partitioned table … concurrently\")"
            ),
            index_recipe(table, &ctx.leaf_partitions, ctx),
        ),
        (
            Shape::AddForeignKeyNotValid,
            Detail::Constraint {
                not_valid: true, ..
            },
        ) if !at_least(ctx.pg_version, 18) => (
            format!(
                "ADD FOREIGN KEY … NOT VALID on the partitioned table \"{table}\" fails before PostgreSQL 18 (\"cannot add NOT VALID foreign key on partitioned table\")"
            ),
            foreign_key_recipe(table, &ctx.leaf_partitions),
        ),
        (Shape::DetachPartitionConcurrently, Detail::Concurrently { .. })
            if ctx.default_partition.is_some() =>
        {
            (
            format!(
                "DETACH PARTITION … CONCURRENTLY fails while \"{table}\" has a default partition (\"{}\"): \"cannot detach partitions concurrently when a default partition exists\"",
                ctx.default_partition.as_deref().unwrap_or_default()
            ),
            "DETACH PARTITION without CONCURRENTLY, in a quiet window, with SET lock_timeout before it and a retry (it takes ACCESS EXCLUSIVE on the partitioned table, the partition and the default partition)".to_string(),
        )
        }
        (Shape::DropIndexConcurrently, _) => (
            format!(
                "DROP INDEX CONCURRENTLY of \"{}\", an index of the partitioned table \"{table}\", fails (\"cannot drop partitioned index … concurrently\")",
                a.relation
            ),
            drop_index_advice(table),
        ),
        _ => return None,
    };
    Some(Draft::new("fails-on-partitioned-table", a.span.clone(), message).help(help))
}

/// A new partition of an existing partitioned table: CREATE TABLE … PARTITION OF locks the
/// partitioned table ACCESS EXCLUSIVE where ATTACH PARTITION needs SHARE UPDATE EXCLUSIVE (12+),
/// and either one locks and scans the default partition for rows the new bounds would hold.
pub(crate) fn new_partition(a: &Action, mode: LockMode, ctx: &CheckCtx) -> Vec<Draft> {
    let table = a.relation.as_str();
    let mut out = Vec::new();
    let statement = match a.shape {
        Shape::PartitionParentOfNewTable => "CREATE TABLE … PARTITION OF",
        _ => "ATTACH PARTITION",
    };
    if a.shape == Shape::PartitionParentOfNewTable && at_least(ctx.pg_version, 12) {
        out.push(
            Draft::new(
                "create-partition-locks-parent",
                a.span.clone(),
                format!(
                    "CREATE TABLE … PARTITION OF \"{table}\" takes {}: brief, but while it waits for the lock every later query on \"{table}\" queues behind it",
                    ALock(mode, table)
                ),
            )
            .on(table, mode)
            .help(format!(
                "create the table on its own (CREATE TABLE … (LIKE \"{table}\" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)) with a CHECK matching the partition's bounds, then ALTER TABLE \"{table}\" ATTACH PARTITION … FOR VALUES …: SHARE UPDATE EXCLUSIVE on \"{table}\", reads and writes continue"
            )),
        );
    }
    if let Some(default) = &ctx.default_partition {
        out.push(
            Draft::new(
                "default-partition-scan",
                a.span.clone(),
                format!(
                    "{statement} takes {} and scans it, to check that none of its rows belong to the new partition: the rows \"{table}\" routes there are blocked for the whole scan",
                    ALock(LockMode::AccessExclusive, default)
                ),
            )
            .on(default, LockMode::AccessExclusive)
            .help(format!(
                "add a CHECK constraint to \"{default}\" that excludes the new partition's bounds (NOT VALID, then VALIDATE CONSTRAINT in another migration: SHARE UPDATE EXCLUSIVE), and PostgreSQL skips the scan; or keep \"{default}\" empty"
            )),
        );
    }
    out
}
