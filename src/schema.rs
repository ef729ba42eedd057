//! The live database's catalogue read into the analysis' schema model ([`Catalog`]): relations
//! with their kinds, columns, estimated rows and partitions, indexes, named constraints and what
//! each view reads. With a database connection this is the schema a pending migration really
//! meets.

use sqlx::PgConnection;

use crate::analysis::{
    Catalog, KnownConstraint, RefAction, Relation, RelationKind, Trigger, TriggerEvent,
};

/// A name as the analysis spells it: `public` left out, other schemas kept (`auth.users`).
const QUALIFIED: &str =
    "CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END";

/// A constraint's name, table, referenced table, whether it is validated, its columns, a foreign
/// key's referenced columns, whether it is the primary key, a CHECK's definition, and a foreign
/// key's `confdeltype` and `confupdtype` codes.
type ConstraintRow = (
    String,
    String,
    Option<String>,
    bool,
    Vec<String>,
    Vec<String>,
    bool,
    Option<String>,
    String,
);

/// A trigger's table, name, function, `tgtype` and `UPDATE OF` columns.
type TriggerRow = (String, String, String, i32, Vec<String>);

/// A trigger from `pg_trigger.tgtype`'s bits (`TRIGGER_TYPE_ROW` 1, `INSERT` 4, `DELETE` 8,
/// `UPDATE` 16, `TRUNCATE` 32, as in PostgreSQL's `pg_trigger.h`).
fn trigger_of_catalog(function: String, tgtype: i32, update_of: Vec<String>) -> Trigger {
    let events = [
        (4, TriggerEvent::Insert),
        (16, TriggerEvent::Update),
        (8, TriggerEvent::Delete),
        (32, TriggerEvent::Truncate),
    ]
    .into_iter()
    .filter(|(bit, _)| tgtype & bit != 0)
    .map(|(_, event)| event)
    .collect();
    Trigger {
        function,
        events,
        update_of,
        per_row: tgtype & 1 != 0,
    }
}

/// A relation's name, `relkind`, estimated rows, partitioned table and whether it is the default
/// partition.
type RelationRow = (String, String, f32, Option<String>, bool);

/// Reads the user relations, columns, indexes, triggers, constraints and view dependencies.
pub async fn read_catalog(conn: &mut PgConnection) -> Result<Catalog, sqlx::Error> {
    let user = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
                AND n.nspname !~ '^pg_temp_'";
    let mut catalog = Catalog::empty_database();
    // A partition's partitioned table, and whether it is the default partition.
    let relations: Vec<RelationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {QUALIFIED}, c.relkind::text, c.reltuples, \
                (SELECT CASE WHEN pn.nspname = 'public' THEN p.relname::text ELSE pn.nspname || '.' || p.relname END \
                 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
                 JOIN pg_namespace pn ON pn.oid = p.relnamespace \
                 WHERE c.relispartition AND i.inhrelid = c.oid), \
                coalesce(c.relispartition AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', false) \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {user}"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (name, relkind, tuples, parent, default) in relations {
        let kind = match relkind.as_str() {
            "p" => RelationKind::PartitionedTable,
            "v" => RelationKind::View,
            "m" => RelationKind::MaterializedView,
            _ => RelationKind::Table,
        };
        let mut relation = Relation::of(kind);
        // -1: never vacuumed or analysed, so unknown.
        relation.rows = (tuples >= 0.0).then_some(tuples as i64);
        relation.partition_of = parent;
        relation.default_partition = default;
        catalog.relations.insert(name, relation);
    }
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {QUALIFIED}, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped AND {user}"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (table, column, ty, not_null) in columns {
        if let Some(relation) = catalog.relations.get_mut(&table) {
            if not_null {
                relation.not_null.insert(column.clone());
            }
            relation.columns.insert(column, ty);
        }
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CASE WHEN n.nspname = 'public' THEN ic.relname::text ELSE n.nspname || '.' || ic.relname END, \
                {QUALIFIED} \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {user}"
    )))
    .fetch_all(&mut *conn)
    .await?;
    catalog.indexes.extend(indexes);
    let triggers: Vec<TriggerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {QUALIFIED}, t.tgname::text, \
                CASE WHEN pn.nspname = 'public' THEN p.proname::text ELSE pn.nspname || '.' || p.proname END, \
                t.tgtype::int4, \
                ARRAY(SELECT a.attname::text FROM unnest(t.tgattr::int2[]) k \
                      JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k) \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace \
         WHERE NOT t.tgisinternal AND {user}"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (table, name, function, tgtype, update_of) in triggers {
        if let Some(relation) = catalog.relations.get_mut(&table) {
            relation
                .triggers
                .insert(name, trigger_of_catalog(function, tgtype, update_of));
        }
    }
    // What the user's PL/pgSQL and SQL functions lock when they run (extensions' left out).
    let functions: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CASE WHEN n.nspname = 'public' THEN p.proname::text ELSE n.nspname || '.' || p.proname END, \
                l.lanname::text, p.prosrc \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         JOIN pg_language l ON l.oid = p.prolang \
         WHERE l.lanname IN ('plpgsql', 'sql') AND {user} \
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                           AND d.objid = p.oid AND d.deptype = 'e')"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let version: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
            .fetch_one(&mut *conn)
            .await?;
    for (name, language, source) in functions {
        if let Some(routine) =
            crate::analysis::routine_of_source(&language, &source, version as u32)
        {
            // Overloads share a name: the one whose body locks the most stands for them.
            let entry = catalog.functions.entry(name).or_default();
            if routine.locks.len() > entry.locks.len() {
                *entry = routine;
            }
        }
    }
    let constraints: Vec<ConstraintRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT co.conname::text, {QUALIFIED}, \
                    (SELECT CASE WHEN rn.nspname = 'public' THEN r.relname::text ELSE rn.nspname || '.' || r.relname END \
                     FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = co.confrelid), \
                    co.convalidated, \
                    ARRAY(SELECT a.attname::text FROM unnest(co.conkey) k \
                          JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k), \
                    ARRAY(SELECT a.attname::text FROM unnest(co.confkey) k \
                          JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k), \
                    co.contype = 'p', \
                    CASE WHEN co.contype = 'c' THEN pg_get_constraintdef(co.oid) END, \
                    co.confdeltype::text || co.confupdtype::text \
             FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE co.contype IN ('c', 'f', 'p', 'u', 'x') AND {user}"
        )))
        .fetch_all(&mut *conn)
        .await?;
    for (
        name,
        table,
        references,
        validated,
        columns,
        referenced_columns,
        primary_key,
        check,
        actions,
    ) in constraints
    {
        let action = |at: usize| RefAction::from_catalog(actions.get(at..=at).unwrap_or(""));
        catalog.constraints.insert(
            name,
            KnownConstraint {
                table,
                references,
                columns,
                referenced_columns,
                primary_key,
                proves_not_null: check
                    .as_deref()
                    .and_then(crate::analysis::not_null_proven_by),
                validated,
                on_delete: action(0),
                on_update: action(1),
            },
        );
    }
    let reads: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT {QUALIFIED}, \
                CASE WHEN tn.nspname = 'public' THEN t.relname::text ELSE tn.nspname || '.' || t.relname END \
         FROM pg_rewrite rw JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid \
         JOIN pg_class c ON c.oid = rw.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass \
         JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         WHERE t.oid <> c.oid AND {user}"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (view, table) in reads {
        if let Some(relation) = catalog.relations.get_mut(&view) {
            relation.reads.insert(table);
        }
    }
    Ok(catalog)
}
