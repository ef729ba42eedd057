//! The schema model: a lightweight catalogue (relations and their kinds, columns with types,
//! indexes with their tables, named constraints, what each view reads) that the analysis reads to
//! know what a migration really meets — whether `IF EXISTS` finds anything, the old type of a column
//! whose type changes, the table of an index, whether a relation is a view.
//!
//! It is built by replaying earlier migrations (each file's [`SchemaChanges`] applied in order), or
//! read from a live database (which then wins). Names are folded as PostgreSQL folds them, without
//! a `public.` prefix, as everywhere in the analysis.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::types::KnownConstraint;

/// What kind of relation a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelationKind {
    /// An ordinary table.
    Table,
    /// A partitioned table.
    PartitionedTable,
    /// A view: no storage, nothing to scan or rewrite.
    View,
    /// A materialized view: stored like a table.
    MaterializedView,
}

/// One relation of the schema model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Relation {
    /// Its kind (`None` when only its existence is known).
    pub kind: Option<RelationKind>,
    /// Column types as written (`varchar(50)`, `timestamp(3)`), by folded column name.
    pub columns: BTreeMap<String, String>,
    /// The columns known to be NOT NULL (a NOT NULL or PRIMARY KEY constraint, SET NOT NULL).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub not_null: BTreeSet<String>,
    /// Its triggers, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub triggers: BTreeMap<String, Trigger>,
    /// For a view or materialized view: the relations its query reads.
    pub reads: BTreeSet<String>,
    /// Rows, when read from a database.
    pub rows: Option<i64>,
    /// For a partition: its partitioned table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_of: Option<String>,
    /// A partition that takes the rows no other partition's bounds hold (`DEFAULT`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default_partition: bool,
}

impl Relation {
    /// A relation of a kind, with no columns known yet.
    pub fn of(kind: RelationKind) -> Relation {
        Relation {
            kind: Some(kind),
            ..Relation::default()
        }
    }

    /// Whether it is a view (no storage).
    pub fn is_view(&self) -> bool {
        self.kind == Some(RelationKind::View)
    }

    /// Whether it is a partitioned table (no storage of its own: its partitions hold the rows).
    pub fn is_partitioned(&self) -> bool {
        self.kind == Some(RelationKind::PartitionedTable)
    }
}

/// What a statement does to a table's rows, which fires the triggers written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerEvent {
    /// INSERT, COPY … FROM, MERGE's INSERT.
    Insert,
    /// UPDATE, `ON CONFLICT DO UPDATE`, MERGE's UPDATE.
    Update,
    /// DELETE, MERGE's DELETE.
    Delete,
    /// TRUNCATE.
    Truncate,
}

/// A trigger of the schema model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// The function it executes (folded, `public.` left out).
    pub function: String,
    /// The events it fires on.
    pub events: Vec<TriggerEvent>,
    /// `UPDATE OF` these columns only (empty: an update of any column).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub update_of: Vec<String>,
    /// `FOR EACH ROW`: it fires once per row written, so not at all when no row is; a
    /// statement-level trigger fires once per statement, rows or not.
    pub per_row: bool,
}

impl Trigger {
    /// Whether a statement doing `event` (an UPDATE setting `columns`, when known) fires it.
    pub fn fires_on(&self, event: TriggerEvent, columns: Option<&[String]>) -> bool {
        self.events.contains(&event)
            && (event != TriggerEvent::Update
                || self.update_of.is_empty()
                || columns.is_none_or(|set| set.iter().any(|c| self.update_of.contains(c))))
    }
}

/// What a function's body locks each time it runs, as far as its text tells (a PL/pgSQL or SQL
/// body; `EXECUTE` of a constant command is followed, of one built at run time is not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Routine {
    /// The locks of its statements, in the order written.
    pub locks: Vec<RoutineLock>,
    /// The functions its statements call (`PERFORM f()`, `SELECT f()`, `CALL p()`), with
    /// whether only in a branch or per row; their bodies' locks are taken in turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<(String, bool)>,
    /// It runs SQL it builds at run time (`EXECUTE`): what that SQL locks is not among `locks`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dynamic: bool,
}

/// One lock a function's body takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutineLock {
    /// The relation (folded, `public.` left out).
    pub relation: String,
    /// The lock-model row of the statement that takes it.
    pub shape: super::Shape,
    /// The mode written (`LOCK TABLE … IN SHARE MODE`), when not the lock model's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::LockMode>,
    /// That statement, on one line without comments (shortened).
    pub statement: String,
    /// Taken only in a branch (IF, CASE, a loop, an exception handler).
    pub conditional: bool,
    /// The row events the statement does on the relation (an INSERT, UPDATE or DELETE in the
    /// body), which fire that relation's triggers in turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fires: Vec<TriggerEvent>,
    /// The columns an UPDATE sets, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The function whose body holds the statement, when another function called it or a
    /// trigger fired by the body ran it (set as the session follows the calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<String>,
}

impl RoutineLock {
    /// The mode it takes on a server of `pg_version`.
    pub fn mode_at(&self, pg_version: u32) -> super::LockMode {
        self.mode
            .unwrap_or_else(|| super::model::lookup(self.shape).lock_at(pg_version))
    }
}

/// The schema model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// Relations by folded name.
    pub relations: BTreeMap<String, Relation>,
    /// Indexes with their tables.
    pub indexes: BTreeMap<String, String>,
    /// Named constraints.
    pub constraints: BTreeMap<String, KnownConstraint>,
    /// Functions (folded, `public.` left out; overloads share a name) with what their bodies
    /// lock when they run: triggers' functions, whose locks a statement firing them takes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Routine>,
    /// Whether the model describes the whole schema (replayed from the first migration, or read
    /// from a database): then a relation or index it does not hold does not exist.
    pub complete: bool,
}

impl Catalog {
    /// An empty model of an empty database: everything that exists will be created before it is
    /// used (the state before a project's first migration).
    pub fn empty_database() -> Catalog {
        Catalog {
            complete: true,
            ..Catalog::default()
        }
    }

    /// Applies one file's changes.
    pub fn apply(&mut self, changes: SchemaChanges) {
        replay(&mut self.relations, changes.relations);
        replay(&mut self.indexes, changes.indexes);
        replay(&mut self.constraints, changes.constraints);
        replay(&mut self.functions, changes.functions);
        self.complete &= !changes.unseen;
    }
}

/// Replaces the entries of `map` that `changes` names (`None`: removes it).
fn replay<V>(map: &mut BTreeMap<String, V>, changes: BTreeMap<String, Option<V>>) {
    for (name, value) in changes {
        match value {
            Some(v) => map.insert(name, v),
            None => map.remove(&name),
        };
    }
}

/// What one file changed in the schema model: each entry replaces the model's (`None`: dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchemaChanges {
    /// Relations created, changed or dropped.
    pub relations: BTreeMap<String, Option<Relation>>,
    /// Indexes created, moved or dropped.
    pub indexes: BTreeMap<String, Option<String>>,
    /// Constraints added, changed or dropped.
    pub constraints: BTreeMap<String, Option<KnownConstraint>>,
    /// Functions created, replaced or dropped.
    pub functions: BTreeMap<String, Option<Routine>>,
    /// The file changed the schema in ways the model cannot follow (dynamic SQL): from here on the
    /// model may miss objects.
    pub unseen: bool,
}

/// The model as one file sees it while it is analysed: the earlier state with the file's own
/// changes on top.
#[derive(Debug)]
pub(crate) struct Schema<'a> {
    base: &'a Catalog,
    /// The file's changes so far.
    pub(crate) changes: SchemaChanges,
    /// The index of `base`: given (kept up to date from file to file by the caller), or built
    /// when first asked for.
    base_index: BaseIndex<'a>,
    /// The index of the constraints among `changes`, built when first asked for.
    change_index: OnceCell<CatalogIndex>,
}

#[derive(Debug)]
enum BaseIndex<'a> {
    Given(&'a CatalogIndex),
    Lazy(OnceCell<Box<CatalogIndex>>),
}

/// Names of a catalogue's objects by the relations they belong to, so that what a statement does
/// to one table reads that table's objects, not the whole schema (a history of hundreds of
/// migrations holds thousands of constraints). A name may be stale (the object dropped or
/// changed since): lookups check the object itself.
#[derive(Debug, Default)]
pub(crate) struct CatalogIndex {
    /// Foreign keys by their table.
    keys_by_table: HashMap<String, BTreeSet<String>>,
    /// Foreign keys by their table and column.
    keys_by_column: HashMap<String, HashMap<String, BTreeSet<String>>>,
    /// Every named constraint by its table, and by the table it references.
    constraints: HashMap<String, BTreeSet<String>>,
    /// Indexes by their table.
    indexes: HashMap<String, BTreeSet<String>>,
    /// Views and materialized views by the relations their queries read.
    readers: HashMap<String, BTreeSet<String>>,
}

impl CatalogIndex {
    /// The index of a catalogue.
    pub(crate) fn of(catalog: &Catalog) -> CatalogIndex {
        let mut index = CatalogIndex::default();
        for (name, c) in &catalog.constraints {
            index.add_constraint(name, c);
        }
        for (name, table) in &catalog.indexes {
            insert_name(&mut index.indexes, table, name);
        }
        for (name, relation) in &catalog.relations {
            index.add_relation(name, relation);
        }
        index
    }

    /// The index of what a file's changes add or change.
    fn of_changes(changes: &SchemaChanges) -> CatalogIndex {
        let mut index = CatalogIndex::default();
        index.absorb(changes);
        index
    }

    /// Adds what a file's changes add or change (what they drop stays, stale).
    pub(crate) fn absorb(&mut self, changes: &SchemaChanges) {
        for (name, c) in &changes.constraints {
            if let Some(c) = c {
                self.add_constraint(name, c);
            }
        }
        for (name, table) in &changes.indexes {
            if let Some(table) = table {
                insert_name(&mut self.indexes, table, name);
            }
        }
        for (name, relation) in &changes.relations {
            if let Some(relation) = relation {
                self.add_relation(name, relation);
            }
        }
    }

    fn add_constraint(&mut self, name: &str, c: &KnownConstraint) {
        insert_name(&mut self.constraints, &c.table, name);
        let Some(references) = &c.references else {
            return;
        };
        insert_name(&mut self.constraints, references, name);
        insert_name(&mut self.keys_by_table, &c.table, name);
        let columns = self.keys_by_column.entry(c.table.clone()).or_default();
        for column in &c.columns {
            insert_name(columns, column, name);
        }
    }

    fn add_relation(&mut self, name: &str, relation: &Relation) {
        for read in &relation.reads {
            insert_name(&mut self.readers, read, name);
        }
    }

    fn key_names(&self, table: &str, column: Option<&str>) -> Option<&BTreeSet<String>> {
        match column {
            Some(column) => self.keys_by_column.get(table)?.get(column),
            None => self.keys_by_table.get(table),
        }
    }
}

/// Adds `name` to the names kept under `key`.
fn insert_name(map: &mut HashMap<String, BTreeSet<String>>, key: &str, name: &str) {
    if let Some(names) = map.get_mut(key) {
        names.insert(name.to_string());
    } else {
        map.insert(key.to_string(), BTreeSet::from([name.to_string()]));
    }
}

/// The names kept under `key`.
fn names_under<'m>(
    map: &'m HashMap<String, BTreeSet<String>>,
    key: &str,
) -> impl Iterator<Item = &'m String> {
    map.get(key).into_iter().flatten()
}

impl<'a> Schema<'a> {
    /// The model over `base`, whose index is `base_index` when the caller keeps it.
    pub(crate) fn new(base: &'a Catalog, base_index: Option<&'a CatalogIndex>) -> Schema<'a> {
        Schema {
            base,
            changes: SchemaChanges::default(),
            base_index: match base_index {
                Some(index) => BaseIndex::Given(index),
                None => BaseIndex::Lazy(OnceCell::new()),
            },
            change_index: OnceCell::new(),
        }
    }

    fn change_index(&self) -> &CatalogIndex {
        self.change_index
            .get_or_init(|| CatalogIndex::of_changes(&self.changes))
    }

    fn base_index(&self) -> &CatalogIndex {
        match &self.base_index {
            BaseIndex::Given(index) => index,
            BaseIndex::Lazy(cell) => cell.get_or_init(|| Box::new(CatalogIndex::of(self.base))),
        }
    }

    /// The foreign keys of `table` (on `column` only, when given), as known now, by name.
    pub(crate) fn foreign_keys_of(
        &self,
        table: &str,
        column: Option<&str>,
    ) -> Vec<&KnownConstraint> {
        let mut names: Vec<&String> = self
            .base_index()
            .key_names(table, column)
            .into_iter()
            .chain(self.change_index().key_names(table, column))
            .flatten()
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| self.constraint(name))
            .filter(|c| {
                c.table == table
                    && c.references.is_some()
                    && column.is_none_or(|col| c.columns.iter().any(|k| k == col))
            })
            .collect()
    }

    /// A relation as known now.
    pub(crate) fn relation(&self, name: &str) -> Option<&Relation> {
        match self.changes.relations.get(name) {
            Some(changed) => changed.as_ref(),
            None => self.base.relations.get(name),
        }
    }

    /// Whether a relation exists: `None` when the model cannot tell.
    pub(crate) fn relation_exists(&self, name: &str) -> Option<bool> {
        if self.relation(name).is_some() {
            Some(true)
        } else if self.changes.relations.contains_key(name) || self.complete() {
            Some(false)
        } else {
            None
        }
    }

    /// Whether an index exists: `None` when the model cannot tell.
    pub(crate) fn index_exists(&self, name: &str) -> Option<bool> {
        if self.index_table(name).is_some() {
            Some(true)
        } else if self.changes.indexes.contains_key(name) || self.complete() {
            Some(false)
        } else {
            None
        }
    }

    /// Whether `table` has the trigger `name`: `None` when the model cannot tell.
    pub(crate) fn trigger_exists(&self, table: &str, name: &str) -> Option<bool> {
        match self.relation(table) {
            Some(relation) if relation.triggers.contains_key(name) => Some(true),
            Some(_) if self.complete() => Some(false),
            _ => self.relation_exists(table).filter(|exists| !exists),
        }
    }

    fn complete(&self) -> bool {
        self.base.complete && !self.changes.unseen
    }

    /// The tables `table`'s foreign keys reference, when the model knows every constraint of it
    /// (it exists in a complete model); `None` when it cannot tell.
    pub(crate) fn referenced_by_keys_of(&self, table: &str) -> Option<Vec<String>> {
        if !self.complete() || self.relation(table).is_none() {
            return None;
        }
        let mut tables: Vec<String> = self
            .foreign_keys_of(table, None)
            .into_iter()
            .filter_map(|c| c.references.clone())
            .filter(|r| r != table)
            .collect();
        tables.sort_unstable();
        tables.dedup();
        Some(tables)
    }

    /// The table an index is on.
    pub(crate) fn index_table(&self, name: &str) -> Option<&str> {
        match self.changes.indexes.get(name) {
            Some(changed) => changed.as_deref(),
            None => self.base.indexes.get(name).map(String::as_str),
        }
    }

    /// A named constraint as known now.
    pub(crate) fn constraint(&self, name: &str) -> Option<&KnownConstraint> {
        match self.changes.constraints.get(name) {
            Some(changed) => changed.as_ref(),
            None => self.base.constraints.get(name),
        }
    }

    /// The constraints known now on `table` or referencing it, by name.
    pub(crate) fn constraints_touching(
        &self,
        table: &str,
    ) -> impl Iterator<Item = (&String, &KnownConstraint)> {
        let names: BTreeSet<&String> = names_under(&self.base_index().constraints, table)
            .chain(names_under(&self.change_index().constraints, table))
            .collect();
        names.into_iter().filter_map(move |name| {
            let c = self.constraint(name)?;
            (c.table == table || c.references.as_deref() == Some(table)).then_some((name, c))
        })
    }

    /// A function's body as known now.
    pub(crate) fn function(&self, name: &str) -> Option<&Routine> {
        match self.changes.functions.get(name) {
            Some(changed) => changed.as_ref(),
            None => self.base.functions.get(name),
        }
    }

    pub(crate) fn set_function(&mut self, name: &str, routine: Option<Routine>) {
        self.changes.functions.insert(name.to_string(), routine);
    }

    /// The type of `table.column`, when known.
    pub(crate) fn column_type(&self, table: &str, column: &str) -> Option<&str> {
        self.relation(table)?
            .columns
            .get(column)
            .map(String::as_str)
    }

    pub(crate) fn set_relation(&mut self, name: &str, relation: Option<Relation>) {
        self.changes.relations.insert(name.to_string(), relation);
    }

    /// A relation to change in place (copied into the file's changes first); one that is not
    /// known is taken to exist (the statement would fail otherwise), with nothing known about it.
    pub(crate) fn relation_mut(&mut self, name: &str) -> &mut Relation {
        if !self.changes.relations.contains_key(name) {
            let current = self.base.relations.get(name).cloned().unwrap_or_default();
            self.changes
                .relations
                .insert(name.to_string(), Some(current));
        }
        self.changes
            .relations
            .get_mut(name)
            .map(|slot| slot.get_or_insert_with(Relation::default))
            .expect("inserted above")
    }

    pub(crate) fn set_index(&mut self, name: &str, table: Option<String>) {
        self.changes.indexes.insert(name.to_string(), table);
    }

    pub(crate) fn set_constraint(&mut self, name: &str, constraint: Option<KnownConstraint>) {
        if let (Some(keys), Some(c)) = (self.change_index.get_mut(), &constraint) {
            keys.add_constraint(name, c);
        }
        self.changes
            .constraints
            .insert(name.to_string(), constraint);
    }

    /// The constraints known now on `table` or referencing it (by name, each once) that `keep`
    /// keeps, copied.
    fn constraints_where(
        &self,
        table: &str,
        keep: impl Fn(&KnownConstraint) -> bool,
    ) -> Vec<(String, KnownConstraint)> {
        self.constraints_touching(table)
            .filter(|(_, c)| keep(c))
            .map(|(name, c)| (name.clone(), c.clone()))
            .collect()
    }

    /// The indexes known now on `table`.
    fn indexes_on(&self, table: &str) -> Vec<String> {
        let mut names: BTreeSet<&String> = names_under(&self.base_index().indexes, table).collect();
        names.extend(self.changes.indexes.keys());
        names
            .into_iter()
            .filter(|index| self.index_table(index) == Some(table))
            .cloned()
            .collect()
    }

    /// Renames a column of `table`, in its constraints too (a foreign key keeps its column).
    pub(crate) fn rename_column(&mut self, table: &str, from: &str, to: &str) {
        let relation = self.relation_mut(table);
        if let Some(ty) = relation.columns.remove(from) {
            relation.columns.insert(to.to_string(), ty);
        }
        if relation.not_null.remove(from) {
            relation.not_null.insert(to.to_string());
        }
        let constraints = self.constraints_where(table, |c| {
            c.table == table && c.columns.iter().any(|k| k == from)
        });
        for (name, mut c) in constraints {
            for column in &mut c.columns {
                if column == from {
                    *column = to.to_string();
                }
            }
            self.set_constraint(&name, Some(c));
        }
    }

    /// Renames a relation, moving its indexes and constraints along.
    pub(crate) fn rename_relation(&mut self, from: &str, to: &str) {
        let relation = self.relation(from).cloned().unwrap_or_default();
        for index in self.indexes_on(from) {
            self.set_index(&index, Some(to.to_string()));
        }
        let constraints = self.constraints_where(from, |_| true);
        for (name, mut c) in constraints {
            if c.table == from {
                c.table = to.to_string();
            }
            if c.references.as_deref() == Some(from) {
                c.references = Some(to.to_string());
            }
            self.set_constraint(&name, Some(c));
        }
        for partition in self.partitions_of(from).unwrap_or_default() {
            if self.partition_parent(&partition) == Some(from) {
                self.relation_mut(&partition).partition_of = Some(to.to_string());
            }
        }
        self.set_relation(from, None);
        self.set_relation(to, Some(relation));
    }

    /// The tables whose foreign keys reference `column` of `table`.
    pub(crate) fn keys_referencing_column(&self, table: &str, column: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .constraints_where(table, |c| {
                c.references.as_deref() == Some(table)
                    && c.table != table
                    && c.referenced_columns.iter().any(|r| r == column)
            })
            .into_iter()
            .map(|(_, c)| c.table)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The columns of a table's primary key, when known.
    pub(crate) fn primary_key_of(&self, table: &str) -> Option<Vec<String>> {
        self.constraints_touching(table)
            .find(|(_, c)| c.primary_key && c.table == table)
            .map(|(_, c)| c.columns.clone())
    }

    /// The foreign keys of other tables that reference `table`, as (constraint, its table).
    pub(crate) fn keys_referencing(&self, table: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .constraints_where(table, |c| {
                c.references.as_deref() == Some(table) && c.table != table
            })
            .into_iter()
            .map(|(name, c)| (name, c.table))
            .collect();
        out.sort_unstable();
        out
    }

    /// Drops a column of `table` with the constraints on it (as the server does).
    pub(crate) fn drop_column(&mut self, table: &str, column: &str) {
        let relation = self.relation_mut(table);
        relation.columns.remove(column);
        relation.not_null.remove(column);
        let constraints = self.constraints_where(table, |c| {
            c.table == table && c.columns.iter().any(|k| k == column)
        });
        for (name, _) in constraints {
            self.set_constraint(&name, None);
        }
    }

    /// Drops a relation with its indexes, its constraints and the foreign keys that reference it
    /// (which only a `CASCADE` lets go; without one the drop fails).
    pub(crate) fn drop_relation(&mut self, name: &str) {
        // A partitioned table's partitions go with it.
        for partition in self.partitions_of(name).unwrap_or_default() {
            if self.relation(&partition).is_some() {
                self.drop_relation(&partition);
            }
        }
        for index in self.indexes_on(name) {
            self.set_index(&index, None);
        }
        let constraints = self.constraints_where(name, |_| true);
        for (constraint, _) in constraints {
            self.set_constraint(&constraint, None);
        }
        self.set_relation(name, None);
    }

    /// The names of the relations the model holds (some may be dropped by the changes).
    fn relation_names(&self) -> BTreeSet<&String> {
        self.base
            .relations
            .keys()
            .chain(self.changes.relations.keys())
            .collect()
    }

    /// The tables with a trigger that executes one of `functions`, with those triggers' names.
    pub(crate) fn triggers_calling(&self, functions: &[String]) -> Vec<(String, Vec<String>)> {
        self.relation_names()
            .into_iter()
            .filter_map(|table| {
                let relation = self.relation(table)?;
                let triggers: Vec<String> = relation
                    .triggers
                    .iter()
                    .filter(|(_, t)| functions.contains(&t.function))
                    .map(|(t, _)| t.clone())
                    .collect();
                (!triggers.is_empty()).then(|| (table.clone(), triggers))
            })
            .collect()
    }

    /// The partitions of a partitioned table, and theirs in turn (a partition may be partitioned
    /// too), as the model knows them now: `None` when `table` is not known to be partitioned.
    pub(crate) fn partitions_of(&self, table: &str) -> Option<Vec<String>> {
        if !self.relation(table).is_some_and(Relation::is_partitioned) {
            return None;
        }
        let names = self.relation_names();
        let mut out: Vec<String> = Vec::new();
        let mut parents = vec![table.to_string()];
        while let Some(parent) = parents.pop() {
            for name in &names {
                if self
                    .relation(name)
                    .is_some_and(|r| r.partition_of.as_deref() == Some(parent.as_str()))
                    && !out.contains(*name)
                {
                    out.push((*name).clone());
                    parents.push((*name).clone());
                }
            }
        }
        out.sort_unstable();
        Some(out)
    }

    /// The default partition of a partitioned table, when it has one (as far as the model knows).
    pub(crate) fn default_partition_of(&self, table: &str) -> Option<String> {
        self.relation_names().into_iter().find_map(|name| {
            let r = self.relation(name)?;
            (r.default_partition && r.partition_of.as_deref() == Some(table)).then(|| name.clone())
        })
    }

    /// The partitioned table `name` is a partition of, when known.
    pub(crate) fn partition_parent(&self, name: &str) -> Option<&str> {
        self.relation(name)?.partition_of.as_deref()
    }

    /// The views and materialized views that read `name`, directly or through other views (what a
    /// `DROP … CASCADE` drops along).
    pub(crate) fn dependents(&self, name: &str) -> Vec<(String, RelationKind)> {
        let mut out: Vec<(String, RelationKind)> = Vec::new();
        let mut queue = vec![name.to_string()];
        while let Some(current) = queue.pop() {
            // What reads it: known to the index, or changed by this file.
            let mut candidates: BTreeSet<&String> =
                names_under(&self.base_index().readers, &current).collect();
            candidates.extend(self.changes.relations.keys());
            for candidate in candidates {
                let Some(relation) = self.relation(candidate) else {
                    continue;
                };
                // A view's query is kept and depends on what it reads; a table filled by
                // CREATE TABLE … AS read it once and depends on nothing.
                if relation.reads.contains(&current)
                    && let Some(kind @ (RelationKind::View | RelationKind::MaterializedView)) =
                        relation.kind
                    && !out.iter().any(|(n, _)| n == candidate)
                    && candidate != name
                {
                    out.push((candidate.clone(), kind));
                    queue.push(candidate.clone());
                }
            }
        }
        out
    }
}
