//! The schema as the catalogue describes it, and the differences between two snapshots in words.
//!
//! A snapshot is one query: every schema, extension, table, view, materialized view, sequence,
//! column (type, nullability, default, identity, generated expression, collation), constraint
//! (definition, validity), index (definition, validity), function, trigger, enum (labels), domain,
//! composite and range type, policy and rule of the user's schemas, with the facts that make it
//! what it is. Objects are keyed by name, never by OID, so an object dropped and created again
//! compares equal. Objects that belong to an extension are covered by the extension.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgConnection;

/// What kind of object a catalogue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A schema.
    Schema,
    /// An installed extension.
    Extension,
    /// A table (plain or partitioned).
    Table,
    /// A foreign table.
    ForeignTable,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// A sequence (identity sequences belong to their column).
    Sequence,
    /// A table's column.
    Column,
    /// A table's constraint.
    Constraint,
    /// A domain's constraint.
    DomainConstraint,
    /// An index (those behind a primary key, unique or exclusion constraint belong to it).
    Index,
    /// A function, procedure or aggregate.
    Function,
    /// A trigger.
    Trigger,
    /// An enum type.
    Enum,
    /// A domain.
    Domain,
    /// A composite type.
    CompositeType,
    /// A range type.
    RangeType,
    /// A row-level security policy.
    Policy,
    /// A rewrite rule.
    Rule,
}

impl ObjectKind {
    fn from_sql(kind: &str) -> Option<ObjectKind> {
        Some(match kind {
            "schema" => ObjectKind::Schema,
            "extension" => ObjectKind::Extension,
            "table" => ObjectKind::Table,
            "foreign table" => ObjectKind::ForeignTable,
            "view" => ObjectKind::View,
            "materialized view" => ObjectKind::MaterializedView,
            "sequence" => ObjectKind::Sequence,
            "column" => ObjectKind::Column,
            "constraint" => ObjectKind::Constraint,
            "domain constraint" => ObjectKind::DomainConstraint,
            "index" => ObjectKind::Index,
            "function" => ObjectKind::Function,
            "trigger" => ObjectKind::Trigger,
            "enum" => ObjectKind::Enum,
            "domain" => ObjectKind::Domain,
            "composite type" => ObjectKind::CompositeType,
            "range type" => ObjectKind::RangeType,
            "policy" => ObjectKind::Policy,
            "rule" => ObjectKind::Rule,
            _ => return None,
        })
    }

    /// The kind in words: `index`, `materialized view`…
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Table => "table",
            ObjectKind::ForeignTable => "foreign table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::DomainConstraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Enum => "enum",
            ObjectKind::Domain => "domain",
            ObjectKind::CompositeType => "type",
            ObjectKind::RangeType => "range type",
            ObjectKind::Policy => "policy",
            ObjectKind::Rule => "rule",
        }
    }

    /// Whether objects of this kind live on a relation (their `owner`), and vanish with it.
    fn belongs_to_relation(self) -> bool {
        matches!(
            self,
            ObjectKind::Column
                | ObjectKind::Constraint
                | ObjectKind::Index
                | ObjectKind::Trigger
                | ObjectKind::Policy
                | ObjectKind::Rule
        )
    }

    fn is_relation(self) -> bool {
        matches!(
            self,
            ObjectKind::Table
                | ObjectKind::ForeignTable
                | ObjectKind::View
                | ObjectKind::MaterializedView
        )
    }
}

/// Which object: its kind, the relation (or domain) it belongs to, and its name. Names are
/// schema-qualified unless in `public`, as the tracer writes them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    /// The kind.
    pub kind: ObjectKind,
    /// The table a column, constraint, index, trigger, policy or rule is on; the domain of a
    /// domain constraint.
    pub owner: Option<String>,
    /// The name (a function's with its argument types).
    pub name: String,
}

impl fmt::Display for ObjectKey {
    /// `column `turns.token_count``, `constraint `pos` on `orders``, `index `ix``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.label();
        match (self.kind, &self.owner) {
            (ObjectKind::Column, Some(owner)) => write!(f, "{kind} `{owner}.{}`", self.name),
            (ObjectKind::Index, _) | (_, None) => write!(f, "{kind} `{}`", self.name),
            (ObjectKind::DomainConstraint, Some(owner)) => {
                write!(f, "{kind} `{}` on domain `{owner}`", self.name)
            }
            (_, Some(owner)) => write!(f, "{kind} `{}` on `{owner}`", self.name),
        }
    }
}

/// The facts of one object: name → value (text, boolean, list or null).
pub type Facts = BTreeMap<String, Value>;

/// A snapshot of the schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Every object with its facts.
    pub objects: BTreeMap<ObjectKey, Facts>,
    /// Plain tables whose storage is not empty (they may hold rows), by name, with their quoted
    /// schema-qualified name for queries.
    pub nonempty: BTreeMap<String, String>,
}

impl Catalog {
    /// Whether a table or materialized view of this name exists (views excluded: they hold no
    /// rows and are never rewritten).
    pub fn has_table(&self, name: &str) -> bool {
        [
            ObjectKind::Table,
            ObjectKind::MaterializedView,
            ObjectKind::ForeignTable,
        ]
        .into_iter()
        .any(|kind| {
            self.objects.contains_key(&ObjectKey {
                kind,
                owner: None,
                name: name.to_string(),
            })
        })
    }

    /// Whether a plain or partitioned table of this name exists.
    pub fn has_plain_table(&self, name: &str) -> bool {
        self.objects.contains_key(&ObjectKey {
            kind: ObjectKind::Table,
            owner: None,
            name: name.to_string(),
        })
    }

    /// The columns of plain and partitioned tables, as `(table, column)`.
    pub fn table_columns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.objects
            .keys()
            .filter(|k| k.kind == ObjectKind::Column)
            .filter_map(|k| Some((k.owner.as_deref()?, k.name.as_str())))
            .filter(|(table, _)| self.has_plain_table(table))
    }
}

/// When a snapshot is compared with the one it should equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// After the DOWN, compared with before the UP.
    AfterDown,
    /// After the UP ran again, compared with after the first UP.
    AfterUpAgain,
}

impl Moment {
    fn after(self) -> &'static str {
        match self {
            Moment::AfterDown => "after DOWN",
            Moment::AfterUpAgain => "after UP again",
        }
    }

    /// The reference the snapshot is compared with, in words.
    fn reference(self) -> &'static str {
        match self {
            Moment::AfterDown => "before UP",
            Moment::AfterUpAgain => "after the first UP",
        }
    }
}

/// How an object differs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    /// It existed in the reference and is gone.
    Missing,
    /// It exists and did not in the reference.
    Extra,
    /// One of its facts differs.
    Changed {
        /// The fact: `type`, `not_null`, `default`, `valid`, `definition`, `labels`…
        fact: String,
        /// Its value in the reference.
        expected: String,
        /// Its value now.
        actual: String,
    },
}

/// One difference between a snapshot and the one it should equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The object.
    pub object: ObjectKey,
    /// What differs.
    #[serde(flatten)]
    pub change: Change,
    /// In words: "index `conversations_status_idx` still exists after DOWN".
    pub message: String,
}

impl Difference {
    /// What identifies the difference whatever the moment it was seen at (to tell a new one
    /// from one left over by an earlier step).
    pub fn identity(&self) -> (ObjectKey, Change) {
        (self.object.clone(), self.change.clone())
    }
}

/// The differences of `actual` (taken at `moment`) from `expected`, object by object, in words.
/// `previous` is the snapshot taken just before the step that produced `actual` (after the UP,
/// for a DOWN): an extra object that was there "still exists". Objects on a relation that is
/// itself missing or extra are not listed again.
pub fn diff(
    expected: &Catalog,
    actual: &Catalog,
    previous: &Catalog,
    moment: Moment,
) -> Vec<Difference> {
    let whole: BTreeSet<&str> = expected
        .objects
        .keys()
        .filter(|k| !actual.objects.contains_key(*k))
        .chain(
            actual
                .objects
                .keys()
                .filter(|k| !expected.objects.contains_key(*k)),
        )
        .filter(|k| k.kind.is_relation())
        .map(|k| k.name.as_str())
        .collect();
    let covered = |key: &ObjectKey| {
        key.kind.belongs_to_relation() && key.owner.as_deref().is_some_and(|o| whole.contains(o))
    };
    let mut out = Vec::new();
    for (key, facts) in &expected.objects {
        if covered(key) {
            continue;
        }
        match actual.objects.get(key) {
            None => out.push(Difference {
                message: format!(
                    "{key} is missing {} (it existed {})",
                    moment.after(),
                    moment.reference()
                ),
                object: key.clone(),
                change: Change::Missing,
            }),
            Some(now) => out.extend(changed_facts(key, facts, now, moment)),
        }
    }
    for key in actual.objects.keys() {
        if expected.objects.contains_key(key) || covered(key) {
            continue;
        }
        let message = if previous.objects.contains_key(key) {
            format!("{key} still exists {}", moment.after())
        } else {
            format!(
                "{key} exists {} but did not {}",
                moment.after(),
                moment.reference()
            )
        };
        out.push(Difference {
            object: key.clone(),
            change: Change::Extra,
            message,
        });
    }
    out
}

fn changed_facts(
    key: &ObjectKey,
    expected: &Facts,
    actual: &Facts,
    moment: Moment,
) -> Vec<Difference> {
    let names: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (was, now) = (
            expected.get(name).unwrap_or(&Value::Null),
            actual.get(name).unwrap_or(&Value::Null),
        );
        if was == now {
            continue;
        }
        if name == "labels" {
            out.extend(label_changes(key, was, now, moment));
            continue;
        }
        out.push(Difference {
            object: key.clone(),
            change: Change::Changed {
                fact: name.clone(),
                expected: show(was),
                actual: show(now),
            },
            message: fact_message(key, name, was, now, moment),
        });
    }
    out
}

/// "column `t.c` is `bigint` after DOWN, was `integer`" and its kin.
fn fact_message(key: &ObjectKey, fact: &str, was: &Value, now: &Value, moment: Moment) -> String {
    let after = moment.after();
    let reference = match moment {
        Moment::AfterDown => String::new(),
        Moment::AfterUpAgain => " after the first UP".to_string(),
    };
    let flag = |value: &Value| value.as_bool().unwrap_or(false);
    match fact {
        "type" => format!(
            "{key} is `{}` {after}, was `{}`{reference}",
            show(now),
            show(was)
        ),
        "not_null" => {
            let (now_text, was_text) = if flag(now) {
                ("NOT NULL", "nullable")
            } else {
                ("nullable", "NOT NULL")
            };
            format!("{key} is {now_text} {after}, was {was_text}{reference}")
        }
        "valid" => {
            let (valid, invalid) = if key.kind == ObjectKind::Index {
                ("valid", "invalid")
            } else {
                ("valid", "NOT VALID")
            };
            let (now_text, was_text) = if flag(now) {
                (valid, invalid)
            } else {
                (invalid, valid)
            };
            format!("{key} is {now_text} {after}, was {was_text}{reference}")
        }
        _ => {
            let label = fact.replace('_', " ");
            let long = |v: &Value| {
                let text = show(v);
                text.len() > 60 || text.contains('\n')
            };
            if long(was) || long(now) {
                format!(
                    "{key} has another {label} {after} than {}",
                    moment.reference()
                )
            } else {
                let now_text = match now {
                    Value::Null => format!("has no {label}"),
                    _ => format!("has {label} `{}`", show(now)),
                };
                let was_text = match was {
                    Value::Null => "had none".to_string(),
                    _ => format!("was `{}`", show(was)),
                };
                format!("{key} {now_text} {after}, {was_text}{reference}")
            }
        }
    }
}

/// An enum's labels: which were added, which are gone, or that the order changed.
fn label_changes(key: &ObjectKey, was: &Value, now: &Value, moment: Moment) -> Vec<Difference> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(show).collect())
            .unwrap_or_default()
    };
    let (was_list, now_list) = (list(was), list(now));
    let changed = |message: String| Difference {
        object: key.clone(),
        change: Change::Changed {
            fact: "labels".into(),
            expected: was_list.join(", "),
            actual: now_list.join(", "),
        },
        message,
    };
    let added: Vec<&String> = now_list.iter().filter(|l| !was_list.contains(l)).collect();
    let removed: Vec<&String> = was_list.iter().filter(|l| !now_list.contains(l)).collect();
    let mut out = Vec::new();
    let quoted = |labels: &[&String]| {
        labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let plural = |labels: &[&String]| if labels.len() == 1 { "" } else { "s" };
    if !added.is_empty() {
        let verb = match moment {
            Moment::AfterDown => "still has",
            Moment::AfterUpAgain => "has",
        };
        out.push(changed(format!(
            "{key} {verb} label{} {} {} that it did not have {}",
            plural(&added),
            quoted(&added),
            moment.after(),
            moment.reference()
        )));
    }
    if !removed.is_empty() {
        out.push(changed(format!(
            "{key} lacks label{} {} {} (it had {} {})",
            plural(&removed),
            quoted(&removed),
            moment.after(),
            if removed.len() == 1 { "it" } else { "them" },
            moment.reference()
        )));
    }
    if out.is_empty() {
        out.push(changed(format!(
            "{key} has its labels in another order {}: `{}`, was `{}`",
            moment.after(),
            now_list.join(", "),
            was_list.join(", ")
        )));
    }
    out
}

/// A fact's value as text: strings as they are, lists joined with `, `, null as `none`.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Takes a snapshot of the schema on `conn` (a server of `server_version_num`, 10 or newer); with
/// `sizes`, also which tables' storage is not empty ([`Catalog::nonempty`]).
pub async fn snapshot(
    conn: &mut PgConnection,
    server_version_num: u32,
    sizes: bool,
) -> Result<Catalog, sqlx::Error> {
    let mut sql = snapshot_sql(server_version_num);
    if sizes {
        sql.push_str(NONEMPTY_SQL);
    }
    let rows: Vec<(String, Option<String>, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
    let mut objects = BTreeMap::new();
    let mut nonempty = BTreeMap::new();
    for (kind, owner, name, facts) in rows {
        if kind == "nonempty" {
            nonempty.insert(name, owner.unwrap_or_default());
            continue;
        }
        let Some(kind) = ObjectKind::from_sql(&kind) else {
            continue;
        };
        let facts: Facts = serde_json::from_str(&facts).unwrap_or_default();
        objects.insert(ObjectKey { kind, owner, name }, facts);
    }
    Ok(Catalog { objects, nonempty })
}

/// The snapshot query for a server of `server_version_num`: generated columns exist from 12 on.
fn snapshot_sql(server_version_num: u32) -> String {
    let generated = if server_version_num >= 120_000 {
        "CASE WHEN a.attgenerated = 's' THEN pg_get_expr(d.adbin, d.adrelid) END"
    } else {
        "NULL::text"
    };
    // A default refers to no column: deparsed without the table (which would open it, ten times
    // slower).
    let default = if server_version_num >= 120_000 {
        "CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, 0) END"
    } else {
        "pg_get_expr(d.adbin, 0)"
    };
    SNAPSHOT_SQL
        .replace("{definition}", CONSTRAINT_DEFINITION)
        .replace("{generated}", generated)
        .replace("{default}", default)
}

/// Added to the snapshot query: one row per plain table whose storage is not empty: `nonempty`,
/// its quoted name, its name.
const NONEMPTY_SQL: &str = "
UNION ALL
SELECT 'nonempty', format('%I.%I', r.nspname, r.relname), r.qname, '{}'
FROM rel r WHERE r.relkind = 'r' AND pg_relation_size(r.oid) > 0
";

/// A constraint's definition without the ` NOT VALID` the server appends to one not validated
/// (validity is a fact of its own).
const CONSTRAINT_DEFINITION: &str = "CASE WHEN con.convalidated THEN pg_get_constraintdef(con.oid) \
     ELSE left(pg_get_constraintdef(con.oid), -length(' NOT VALID')) END";

/// One row per object: kind, owner, name, facts (a JSON object as text). Relations, functions and
/// types are looked for among OIDs from 16384 on (`FirstNormalObjectId`): every object created
/// after `initdb` has one, the server's own objects have lower ones.
const SNAPSHOT_SQL: &str = r#"
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rel AS (
    SELECT c.oid, c.relkind, c.relname, n.nspname,
           CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname END AS qname,
           c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.reloptions, c.relispopulated,
           c.relpartbound, c.relispartition
    FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
)
SELECT 'schema', NULL::text, n.nspname::text, '{}'
FROM ns n
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_namespace'::regclass AND ext.objid = n.oid)
UNION ALL
SELECT 'extension', NULL, e.extname::text,
       jsonb_build_object('version', e.extversion, 'schema', n.nspname)::text
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT CASE r.relkind WHEN 'f' THEN 'foreign table' ELSE 'table' END, NULL, r.qname,
       jsonb_build_object(
           'unlogged', r.relpersistence = 'u',
           'partitioned_by', CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END,
           'partition_of', (SELECT string_agg(p.qname || ' ' || pg_get_expr(r.relpartbound, r.oid), ', ')
                            FROM pg_inherits i JOIN rel p ON p.oid = i.inhparent
                            WHERE i.inhrelid = r.oid AND r.relispartition),
           'inherits', (SELECT string_agg(p.qname, ', ' ORDER BY i.inhseqno)
                        FROM pg_inherits i JOIN rel p ON p.oid = i.inhparent
                        WHERE i.inhrelid = r.oid AND NOT r.relispartition),
           'row_level_security', r.relrowsecurity,
           'forced_row_level_security', r.relforcerowsecurity,
           'options', array_to_string(r.reloptions, ', ')
       )::text
FROM rel r WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, NULL, r.qname,
       jsonb_build_object(
           'definition', pg_get_viewdef(r.oid),
           'options', array_to_string(r.reloptions, ', '),
           'populated', CASE WHEN r.relkind = 'm' THEN r.relispopulated END
       )::text
FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence', NULL, r.qname,
       jsonb_build_object(
           'type', format_type(s.seqtypid, NULL),
           'start', s.seqstart::text, 'increment', s.seqincrement::text,
           'minimum', s.seqmin::text, 'maximum', s.seqmax::text,
           'cache', s.seqcache::text, 'cycle', s.seqcycle,
           'owned_by', (SELECT t.qname || '.' || a.attname
                        FROM pg_depend dep JOIN rel t ON t.oid = dep.refobjid
                        JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
                        WHERE dep.classid = 'pg_class'::regclass AND dep.objid = r.oid
                          AND dep.refclassid = 'pg_class'::regclass AND dep.deptype = 'a' LIMIT 1)
       )::text
FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
WHERE r.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = 'pg_class'::regclass
                  AND dep.objid = r.oid AND dep.deptype = 'i')
UNION ALL
SELECT 'column', r.qname, a.attname::text,
       jsonb_build_object(
           'type', format_type(a.atttypid, a.atttypmod),
           'not_null', a.attnotnull,
           'default', {default},
           'identity', CASE a.attidentity WHEN 'a' THEN 'GENERATED ALWAYS' WHEN 'd' THEN 'GENERATED BY DEFAULT' END,
           'generated', {generated},
           'collation', CASE WHEN a.attcollation <> t.typcollation
                             THEN (SELECT collname::text FROM pg_collation WHERE oid = a.attcollation) END
       )::text
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'constraint', r.qname, con.conname::text,
       jsonb_build_object('definition', {definition}, 'valid', con.convalidated)::text
FROM pg_constraint con JOIN rel r ON r.oid = con.conrelid
UNION ALL
SELECT 'domain constraint',
       CASE WHEN n.nspname = 'public' THEN t.typname::text ELSE n.nspname || '.' || t.typname END,
       con.conname::text,
       jsonb_build_object('definition', {definition}, 'valid', con.convalidated)::text
FROM pg_constraint con JOIN pg_type t ON t.oid = con.contypid JOIN ns n ON n.oid = t.typnamespace
WHERE con.contypid <> 0
UNION ALL
SELECT 'index', r.qname, ir.qname,
       jsonb_build_object('definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid)::text
FROM pg_index i JOIN rel ir ON ir.oid = i.indexrelid JOIN rel r ON r.oid = i.indrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT 'function', NULL,
       CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname || '.' END
           || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       jsonb_build_object(
           'definition', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
           'kind', CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' WHEN 'w' THEN 'window function' ELSE 'function' END
       )::text
FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
WHERE p.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
UNION ALL
SELECT 'trigger', r.qname, tg.tgname::text,
       jsonb_build_object(
           'definition', pg_get_triggerdef(tg.oid),
           'enabled', CASE tg.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled'
                                        WHEN 'R' THEN 'enabled on replicas only' WHEN 'A' THEN 'always enabled' END
       )::text
FROM pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid
WHERE NOT tg.tgisinternal
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' ELSE 'composite type' END,
       NULL,
       CASE WHEN n.nspname = 'public' THEN t.typname::text ELSE n.nspname || '.' || t.typname END,
       CASE t.typtype
           WHEN 'e' THEN jsonb_build_object('labels',
               (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
           WHEN 'd' THEN jsonb_build_object('type', format_type(t.typbasetype, t.typtypmod),
               'not_null', t.typnotnull, 'default', t.typdefault)
           WHEN 'r' THEN jsonb_build_object('subtype',
               (SELECT format_type(rg.rngsubtype, NULL) FROM pg_range rg WHERE rg.rngtypid = t.oid))
           ELSE jsonb_build_object('attributes',
               (SELECT jsonb_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
       END::text
FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
WHERE t.oid >= 16384 AND (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
UNION ALL
SELECT 'policy', r.qname, pol.polname::text,
       jsonb_build_object(
           'command', pol.polcmd::text, 'permissive', pol.polpermissive,
           'roles', (SELECT string_agg(CASE WHEN role = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(role)::text END, ', ')
                     FROM unnest(pol.polroles) role),
           'using', pg_get_expr(pol.polqual, pol.polrelid),
           'with_check', pg_get_expr(pol.polwithcheck, pol.polrelid)
       )::text
FROM pg_policy pol JOIN rel r ON r.oid = pol.polrelid
UNION ALL
SELECT 'rule', r.qname, rw.rulename::text, jsonb_build_object('definition', pg_get_ruledef(rw.oid))::text
FROM pg_rewrite rw JOIN rel r ON r.oid = rw.ev_class
WHERE rw.rulename <> '_RETURN'
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(objects: &[(ObjectKind, Option<&str>, &str, Value)]) -> Catalog {
        Catalog {
            nonempty: BTreeMap::new(),
            objects: objects
                .iter()
                .map(|(kind, owner, name, facts)| {
                    (
                        ObjectKey {
                            kind: *kind,
                            owner: owner.map(str::to_string),
                            name: name.to_string(),
                        },
                        serde_json::from_value(facts.clone()).unwrap(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn differences_are_told_object_by_object() {
        use ObjectKind::*;
        let before = catalog(&[
            (Table, None, "turns", serde_json::json!({})),
            (
                Column,
                Some("turns"),
                "token_count",
                serde_json::json!({"type": "integer", "not_null": false, "default": null}),
            ),
            (
                Enum,
                None,
                "mood",
                serde_json::json!({"labels": ["ok", "sad"]}),
            ),
            (
                Constraint,
                Some("turns"),
                "pos",
                serde_json::json!({"definition": "CHECK (n > 0)", "valid": true}),
            ),
        ]);
        let created = [
            (Table, None, "turns", serde_json::json!({})),
            (Table, None, "fresh", serde_json::json!({})),
            (
                Column,
                Some("fresh"),
                "id",
                serde_json::json!({"type": "integer"}),
            ),
            (
                Index,
                Some("turns"),
                "turns_idx",
                serde_json::json!({"valid": true}),
            ),
        ];
        let after_up = catalog(&created);
        let mut left = created.to_vec();
        left.extend([
            (
                Column,
                Some("turns"),
                "token_count",
                serde_json::json!({"type": "bigint", "not_null": true, "default": "0"}),
            ),
            (
                Enum,
                None,
                "mood",
                serde_json::json!({"labels": ["ok", "sad", "meh"]}),
            ),
            (
                Constraint,
                Some("turns"),
                "pos",
                serde_json::json!({"definition": "CHECK (n > 0)", "valid": false}),
            ),
        ]);
        let after_down = catalog(&left);
        let messages: Vec<String> = diff(&before, &after_down, &after_up, Moment::AfterDown)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(
            messages,
            vec![
                "column `turns.token_count` has default `0` after DOWN, had none",
                "column `turns.token_count` is NOT NULL after DOWN, was nullable",
                "column `turns.token_count` is `bigint` after DOWN, was `integer`",
                "constraint `pos` on `turns` is NOT VALID after DOWN, was valid",
                "enum `mood` still has label `meh` after DOWN that it did not have before UP",
                "table `fresh` still exists after DOWN",
                "index `turns_idx` still exists after DOWN",
            ],
            "the columns of an extra table are not listed again"
        );
        let again: Vec<String> = diff(&after_up, &before, &after_down, Moment::AfterUpAgain)
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert!(
            again.contains(
                &"table `fresh` is missing after UP again (it existed after the first UP)"
                    .to_string()
            ),
            "{again:?}"
        );
    }
}
