//! Reading one statement's syntax tree into what it does: the actions (each a lock-model shape on a
//! relation, with the details rules need), transaction control, session settings, and the
//! relations it creates.

mod alter_table;
mod execute;

use crate::analysis::naming::{name_addition, object_name};

pub(crate) use alter_table::not_null_proven_by;
mod reads;

use std::ops::Range;

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::catalog::{RelationKind, TriggerEvent};
use super::locks::LockMode;
use super::model::Shape;
use super::syntax::*;
use SyntaxKind as K;

/// One thing a statement does to one relation.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    /// The lock-model row.
    pub shape: Shape,
    /// The relation (or type, or index) it applies to, folded.
    pub relation: String,
    /// Where in the file the action is written (findings point here).
    pub span: Range<usize>,
    /// Rule-specific details.
    pub detail: Detail,
    /// A lock mode written in the statement (LOCK TABLE … IN … MODE).
    pub mode_override: Option<LockMode>,
    /// Its relation was created by an earlier statement of the same DO block.
    pub on_created: bool,
    /// Written in a branch of a DO block (IF, CASE, a loop, an exception handler): it runs only
    /// when the branch is taken.
    pub conditional: bool,
}

/// How a column default behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultKind {
    /// No default.
    None,
    /// A constant or stable expression.
    NonVolatile,
    /// A call to a function known to be volatile, or one lockstep does not know.
    Volatile,
}

/// Details rules read.
#[derive(Debug, Clone, Default)]
pub(crate) enum Detail {
    /// Nothing more.
    #[default]
    None,
    /// CREATE INDEX.
    CreateIndex {
        /// Where ` CONCURRENTLY` would be inserted.
        insert_at: usize,
    },
    /// The write of a data-modifying WITH query (`WITH x AS (INSERT INTO t …) UPDATE …`): its
    /// row events and columns are its [`Described::body_writes`] entry's, not the statement's.
    CteWrite,
    /// DROP INDEX, REINDEX, DETACH PARTITION: where ` CONCURRENTLY` would go.
    Concurrently {
        /// Insert offset.
        insert_at: usize,
    },
    /// ADD COLUMN.
    AddColumn {
        /// Column name.
        column: String,
        /// NOT NULL given.
        not_null: bool,
        /// Default behaviour.
        default: DefaultKind,
        /// Why it rewrites, when it does regardless of the default.
        rewrite_reason: Option<&'static str>,
    },
    /// A CHECK / UNIQUE / PK / EXCLUDE / FK constraint being added.
    Constraint {
        /// Its name, if written.
        name: Option<String>,
        /// `NOT VALID` given.
        not_valid: bool,
        /// Where ` NOT VALID` would be appended.
        insert_at: usize,
        /// For a `CHECK (c IS NOT NULL)`: the column.
        not_null_column: Option<String>,
        /// For an FK: the referenced table.
        referenced: Option<String>,
        /// Part of an ADD COLUMN (not an ADD CONSTRAINT).
        inline: bool,
        /// A PRIMARY KEY.
        primary_key: bool,
    },
    /// VALIDATE CONSTRAINT.
    Validate {
        /// Constraint name.
        name: String,
    },
    /// DROP CONSTRAINT.
    DropConstraint {
        /// Constraint name.
        name: String,
    },
    /// ALTER COLUMN TYPE.
    SetType {
        /// Column.
        column: String,
        /// The new type as written.
        new_type: String,
        /// No USING expression and no COLLATE clause.
        plain: bool,
    },
    /// Column-level action naming a column.
    Column {
        /// Column.
        column: String,
    },
    /// A rename.
    Rename {
        /// What is renamed: "column", "table", "constraint", "index".
        what: &'static str,
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// TRUNCATE.
    Truncate {
        /// CASCADE given.
        cascade: bool,
    },
    /// ALTER TYPE … ADD VALUE.
    EnumValue {
        /// BEFORE/AFTER given.
        ordered: bool,
    },
}

impl Described {
    /// The statement begins or ends a transaction itself (`BEGIN`, `COMMIT`, `ROLLBACK`).
    pub(crate) fn controls_transaction(&self) -> bool {
        self.control.iter().any(|c| {
            matches!(
                c,
                Control::Begin | Control::Commit { .. } | Control::Rollback { .. }
            )
        })
    }

    /// The names it gives relations, in order: what it creates, and what it renames to.
    pub(crate) fn named_relations(&self) -> impl Iterator<Item = &str> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Create { name, .. } | Effect::RenameRelation { to: name, .. } => {
                Some(name.as_str())
            }
            _ => None,
        })
    }

    /// The statement only changes session settings (`SET`, `RESET`).
    pub(crate) fn only_settings(&self) -> bool {
        self.actions.is_empty()
            && !self.control.is_empty()
            && self
                .control
                .iter()
                .all(|c| matches!(c, Control::Set { .. } | Control::Reset { .. }))
    }
}

/// Transaction control and session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT / END (and COMMIT PREPARED); with `AND CHAIN`, another transaction begins at once.
    Commit {
        /// `AND CHAIN`.
        chain: bool,
    },
    /// ROLLBACK / ABORT; with `AND CHAIN`, another transaction begins at once.
    Rollback {
        /// `AND CHAIN`.
        chain: bool,
    },
    /// SET [LOCAL] param = value (value None for DEFAULT).
    Set {
        /// Parameter name, folded.
        param: String,
        /// Value text; None means DEFAULT.
        value: Option<String>,
        /// SET LOCAL / set_config(…, true).
        local: bool,
    },
    /// RESET param (None: RESET ALL).
    Reset {
        /// Parameter name, folded; None for ALL.
        param: Option<String>,
    },
}

/// A change a statement makes to the schema model (replayed so later statements and files know
/// what exists, with which columns and types).
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// CREATE TABLE / VIEW / MATERIALIZED VIEW / TABLE AS (or CREATE OR REPLACE VIEW).
    Create {
        /// Its name.
        name: String,
        /// What it is.
        kind: RelationKind,
        /// Columns with their types as written.
        columns: Vec<(String, String)>,
        /// For a view: what its query reads.
        reads: std::collections::BTreeSet<String>,
        /// `IF NOT EXISTS` written.
        if_not_exists: bool,
    },
    /// CREATE INDEX (or the index of a PRIMARY KEY / UNIQUE constraint).
    CreateIndex {
        /// Index name.
        name: String,
        /// Its table.
        table: String,
        /// `IF NOT EXISTS` written.
        if_not_exists: bool,
    },
    /// DROP TABLE / VIEW / MATERIALIZED VIEW / INDEX.
    Drop {
        /// What the statement says it drops.
        kind: DropKind,
        /// The names.
        names: Vec<String>,
        /// `IF EXISTS` written.
        if_exists: bool,
        /// `CASCADE` written.
        cascade: bool,
    },
    /// ALTER TABLE … ADD COLUMN.
    AddColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Type as written.
        ty: String,
        /// `IF NOT EXISTS` written.
        if_not_exists: bool,
    },
    /// Columns made NOT NULL (a NOT NULL or PRIMARY KEY constraint, SET NOT NULL) or made
    /// nullable again (DROP NOT NULL).
    NotNull {
        /// Table.
        table: String,
        /// Columns.
        columns: Vec<String>,
        /// NOT NULL (`true`) or nullable again (`false`).
        on: bool,
    },
    /// CREATE TRIGGER on a table.
    CreateTrigger {
        /// Table.
        table: String,
        /// Trigger name.
        name: String,
        /// What it executes, and when.
        trigger: crate::analysis::Trigger,
    },
    /// CREATE [OR REPLACE] FUNCTION or PROCEDURE: what its body locks when it runs.
    DefineFunction {
        /// Its name (folded, `public.` left out).
        name: String,
        /// Its body's locks.
        routine: crate::analysis::Routine,
    },
    /// CREATE INDEX without a name: the server chooses one ([`crate::analysis::naming`]).
    CreateUnnamedIndex {
        /// Table.
        table: String,
        /// The names the server derives for its columns.
        columns: Vec<String>,
    },
    /// DROP TRIGGER.
    DropTrigger {
        /// Table.
        table: String,
        /// Trigger name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// ALTER TRIGGER … RENAME TO.
    RenameTrigger {
        /// Table.
        table: String,
        /// The trigger's name.
        from: String,
        /// Its new name.
        to: String,
    },
    /// ALTER FUNCTION (PROCEDURE, ROUTINE) … RENAME TO or SET SCHEMA: the body is called by
    /// its new name, and the triggers that execute it follow it.
    RenameFunction {
        /// Its name (folded, `public.` left out).
        from: String,
        /// Its new name.
        to: String,
    },
    /// DROP FUNCTION: with CASCADE, the triggers that execute them go too.
    DropFunctions {
        /// The functions (folded, `public.` left out).
        names: Vec<String>,
        /// `CASCADE` written.
        cascade: bool,
    },
    /// A table becomes a partition of `parent` (`CREATE TABLE … PARTITION OF`, `ATTACH
    /// PARTITION`) or stops being one (`DETACH PARTITION`: `None`).
    PartitionOf {
        /// The partition.
        table: String,
        /// Its partitioned table.
        parent: Option<String>,
        /// It is the `DEFAULT` partition.
        default: bool,
    },
    /// ALTER TABLE … DROP COLUMN.
    DropColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// ALTER COLUMN … TYPE.
    SetType {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// New type as written.
        ty: String,
    },
    /// RENAME COLUMN.
    RenameColumn {
        /// Table.
        table: String,
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// ALTER TABLE/VIEW … RENAME TO.
    RenameRelation {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// ALTER INDEX … RENAME TO.
    RenameIndex {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// ALTER TABLE … RENAME CONSTRAINT (a PRIMARY KEY's or UNIQUE constraint's index is renamed
    /// with it).
    RenameConstraint {
        /// Table.
        table: String,
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// Dynamic SQL (`EXECUTE` in a DO block): the model cannot follow what it does.
    Unseen,
}

/// What a DROP statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropKind {
    /// DROP TABLE.
    Table,
    /// DROP VIEW.
    View,
    /// DROP MATERIALIZED VIEW.
    MaterializedView,
    /// DROP INDEX.
    Index,
}

/// Everything a statement does, as far as the analyser cares.
#[derive(Debug, Clone, Default)]
pub(crate) struct Described {
    /// The statement's kind, for messages (`CREATE INDEX`, `ALTER TABLE`…).
    pub kind: &'static str,
    /// Lock-taking actions.
    pub actions: Vec<Action>,
    /// Transaction control and settings.
    pub control: Vec<Control>,
    /// Why the statement cannot run inside a transaction block, if it cannot.
    pub no_transaction_block: Option<&'static str>,
    /// Relations (tables, indexes, views) it creates.
    pub creates: Vec<String>,
    /// Indexes it creates, with their tables.
    pub indexes: Vec<(String, String)>,
    /// For CREATE/DROP statements outside a transaction: whether `IF [NOT] EXISTS` is written, and
    /// where it would go.
    pub robustness: Option<(bool, usize)>,
    /// Data-changing statement (backfill).
    pub is_dml: bool,
    /// An UNIQUE/PK/EXCLUDE/FK constraint names seen, with their table (for VALIDATE / DROP).
    pub constraints: Vec<(String, String, ConstraintKind)>,
    /// Changes to the schema model.
    pub effects: Vec<Effect>,
    /// `ALTER TABLE IF EXISTS t`: the statement does nothing unless `t` exists.
    pub only_if_exists: Option<String>,
    /// The statement calls functions or runs a bulk change (INSERT … SELECT, UPDATE, DELETE):
    /// work that takes time while earlier locks are held.
    pub bulk: bool,
    /// For an INSERT (the columns it lists; empty: every column) or an UPDATE (the columns it
    /// sets): the columns whose foreign keys are checked.
    pub dml_columns: Option<Vec<String>>,
    /// Relations the statement does not recurse from to their partitions: written with `ONLY`
    /// (`CREATE INDEX … ON ONLY p`, `ALTER TABLE ONLY p`, `TRUNCATE ONLY p`, `LOCK TABLE ONLY
    /// p`), or the table of a statement-level trigger.
    pub only: Vec<String>,
    /// The statement stores its query instead of running it (`CREATE VIEW`, `CREATE RULE`, `…
    /// WITH NO DATA`): a view it reads is not expanded into the relations that view reads, as
    /// the rewriter does for a query that runs.
    pub keeps_query: bool,
    /// Syntax the server accepts only from some major version on.
    pub newer_syntax: Vec<NewerSyntax>,
    /// A DELETE: the rows of referencing tables that point at the deleted rows are looked for,
    /// or (`ON DELETE CASCADE`, `SET NULL`, `SET DEFAULT`) changed.
    pub deletes: bool,
    /// An UPDATE (of [`Described::dml_columns`]): changing a referenced key does the same.
    pub updates: bool,
    /// What it does to the rows of the table it writes, which fires that table's triggers.
    pub fires: Vec<crate::analysis::TriggerEvent>,
    /// The functions a SELECT or CALL calls (folded, `public.` left out), each with whether it
    /// runs once per row of a FROM clause (not at all without rows).
    pub calls: Vec<(String, bool)>,
    /// For a DO block: the rows its statements write, with the events that fire the written
    /// tables' triggers (as a function body's writes are kept in its routine); for another
    /// statement, the writes of its data-modifying WITH queries.
    pub body_writes: Vec<crate::analysis::RoutineLock>,
    /// A DO block that runs SQL it builds at run time (`EXECUTE`): what that SQL locks and
    /// changes is not in the text.
    pub runs_dynamic_sql: bool,
}

/// Syntax PostgreSQL accepts only from a major version on: an older server refuses the
/// statement, and the migration fails there.
#[derive(Debug, Clone)]
pub(crate) struct NewerSyntax {
    /// The first major version that accepts it.
    pub since: u32,
    /// What it is (`MERGE`, `NULLS NOT DISTINCT`).
    pub what: &'static str,
    /// What does the same on older servers.
    pub instead: &'static str,
    /// Where it is written.
    pub span: std::ops::Range<usize>,
}

impl Described {
    /// Notes syntax that needs PostgreSQL `since` or later.
    pub(crate) fn newer(
        &mut self,
        since: u32,
        what: &'static str,
        instead: &'static str,
        at: &SyntaxNode,
    ) {
        self.newer_syntax.push(NewerSyntax {
            since,
            what,
            instead,
            span: span(at),
        });
    }
}

/// The kind of a named constraint the analyser remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConstraintKind {
    /// A foreign key to the table (`.0`), on these columns of its own table (`.1`), referencing
    /// these columns of the other (`.2`; empty when not written: its primary key), with its
    /// `ON DELETE` and `ON UPDATE` actions (`.3`).
    ForeignKey(
        String,
        Vec<String>,
        Vec<String>,
        (crate::analysis::RefAction, crate::analysis::RefAction),
    ),
    /// A primary key on these columns.
    PrimaryKey(Vec<String>),
    /// A CHECK proving `column IS NOT NULL`.
    NotNullCheck(String),
    /// Anything else.
    Other,
}

/// Describes one top-level statement node.
pub(crate) fn describe(node: &SyntaxNode, pg_version: u32) -> Described {
    let mut d = Described {
        kind: "statement",
        ..Described::default()
    };
    match node.kind() {
        K::CREATE_INDEX => create_index(node, &mut d),
        K::DROP_INDEX => drop_index(node, &mut d),
        K::REINDEX => reindex(node, &mut d),
        K::ALTER_TABLE => alter_table::alter_table(node, pg_version, &mut d),
        K::ALTER_INDEX => alter_index(node, &mut d),
        K::CREATE_TABLE => create_table(node, &mut d),
        K::CREATE_VIEW if child(node, K::OR_REPLACE).is_some() => {
            // The view may exist: replacing it locks it; it is not known to be new.
            d.kind = "CREATE OR REPLACE VIEW";
            d.keeps_query = true;
            if let Some(view) = child_any(node, &[K::VIEW, K::PATH]).map(|n| name_text(&n)) {
                push(&mut d, Shape::ReplaceView, view.clone(), span(node));
                let reads = reads::relations_read(node);
                reads::push_each_read(&reads, Some(&view), span(node), &mut d);
                d.effects.push(Effect::Create {
                    name: view,
                    kind: RelationKind::View,
                    columns: Vec::new(),
                    reads,
                    if_not_exists: false,
                });
            }
        }
        K::CREATE_POLICY | K::ALTER_POLICY | K::DROP_POLICY => {
            d.kind = "POLICY";
            if let Some(rel) = child(node, K::ON_TABLE).and_then(|n| relation_in(&n)) {
                push(&mut d, Shape::Policy, rel, span(node));
            }
        }
        K::CREATE_RULE => {
            d.kind = "CREATE RULE";
            d.keeps_query = true;
            if let Some(rel) = child(node, K::RULE_ON).and_then(|n| {
                n.children()
                    .find(|c| {
                        matches!(
                            c.kind(),
                            K::RELATION_NAME_REF | K::TABLE_NAME_REF | K::PATH_REF
                        )
                    })
                    .map(|c| name_text(&c))
            }) {
                push(&mut d, Shape::CreateRule, rel, span(node));
            }
            // The actions are parsed and analysed now, as a SQL function's body is.
            if let Some(action) = child(node, K::RULE_DO) {
                let statements: Vec<SyntaxNode> = match child(&action, K::RULE_STMT_LIST) {
                    Some(list) => list.children().collect(),
                    None => action.children().collect(),
                };
                reads::parsed_statements(node, &statements, &mut d);
            }
        }
        K::CREATE_TABLE_AS | K::SELECT_INTO | K::CREATE_MATERIALIZED_VIEW | K::CREATE_VIEW => {
            d.kind = "CREATE";
            d.keeps_query = node.kind() == K::CREATE_VIEW || child(node, K::WITH_NO_DATA).is_some();
            let created = child_any(node, &[K::TABLE_NAME, K::VIEW, K::PATH])
                .map(|n| name_text(&n))
                .or_else(|| descendant(node, K::INTO_CLAUSE).and_then(|n| relation_in(&n)));
            if let Some(name) = created {
                let reads = reads::relations_read(node);
                reads::push_each_read(&reads, Some(&name), span(node), &mut d);
                d.effects.push(Effect::Create {
                    name: name.clone(),
                    kind: match node.kind() {
                        K::CREATE_VIEW => RelationKind::View,
                        K::CREATE_MATERIALIZED_VIEW => RelationKind::MaterializedView,
                        _ => RelationKind::Table,
                    },
                    columns: Vec::new(),
                    reads,
                    if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
                });
                d.creates.push(name);
            }
            if node.kind() != K::CREATE_VIEW {
                d.robustness = Some((
                    child(node, K::IF_NOT_EXISTS).is_some() || node.kind() == K::SELECT_INTO,
                    0,
                ));
            }
        }
        K::DROP_TABLE | K::DROP_MATERIALIZED_VIEW | K::DROP_VIEW => {
            let (kind, shape) = match node.kind() {
                K::DROP_VIEW => (DropKind::View, Shape::DropView),
                K::DROP_MATERIALIZED_VIEW => (DropKind::MaterializedView, Shape::DropTable),
                _ => (DropKind::Table, Shape::DropTable),
            };
            d.kind = match kind {
                DropKind::View => "DROP VIEW",
                DropKind::MaterializedView => "DROP MATERIALIZED VIEW",
                _ => "DROP TABLE",
            };
            let names: Vec<String> = node
                .children()
                .filter(|c| matches!(c.kind(), K::TABLE_NAME_REF | K::VIEW_REF | K::PATH_REF))
                .map(|target| name_text(&target))
                .collect();
            for name in &names {
                push(&mut d, shape, name.clone(), span(node));
            }
            let if_exists = child(node, K::IF_EXISTS).is_some();
            d.effects.push(Effect::Drop {
                kind,
                names,
                if_exists,
                cascade: child(node, K::CASCADE).is_some(),
            });
            d.robustness = Some((if_exists, 0));
        }
        K::TRUNCATE => {
            d.kind = "TRUNCATE";
            d.fires = vec![TriggerEvent::Truncate];
            let cascade = child(node, K::CASCADE).is_some();
            if let Some(list) = child(node, K::TABLE_LIST) {
                for rel in list.children() {
                    let name = relation_in(&rel).unwrap_or_default();
                    if has_token(&rel, K::ONLY_KW) {
                        d.only.push(name.clone());
                    }
                    d.actions.push(Action {
                        shape: Shape::Truncate,
                        relation: name,
                        span: span(node),
                        detail: Detail::Truncate { cascade },
                        mode_override: None,
                        on_created: false,
                        conditional: false,
                    });
                }
            }
            d.is_dml = true;
        }
        K::CREATE_TRIGGER => {
            d.kind = "CREATE TRIGGER";
            if child(node, K::OR_REPLACE).is_some() {
                d.newer(
                    14,
                    "CREATE OR REPLACE TRIGGER",
                    "DROP TRIGGER IF EXISTS, then CREATE TRIGGER, in the same transaction",
                    node,
                );
            }
            if let Some(rel) = child(node, K::ON_RELATION).and_then(|n| relation_in(&n)) {
                let name = child(node, K::TRIGGER).map(|n| name_text(&n));
                let function = child(node, K::CALL_EXPR)
                    .and_then(|call| call.children().find(|c| c.kind() != K::ARG_LIST))
                    .map(|f| name_text(&f));
                if let (Some(name), Some(function)) = (name, function) {
                    d.effects.push(Effect::CreateTrigger {
                        table: rel.clone(),
                        name,
                        trigger: trigger_of(node, function),
                    });
                }
                // A statement-level trigger (the default) stays on a partitioned table; a
                // row-level one is cloned onto each partition.
                if child(node, K::FOR_EACH_ROW).is_none() {
                    d.only.push(rel.clone());
                }
                push(&mut d, Shape::CreateTrigger, rel, span(node));
            }
        }
        K::DROP_TRIGGER => {
            d.kind = "DROP TRIGGER";
            if let Some(rel) = child(node, K::ON_RELATION).and_then(|n| relation_in(&n)) {
                if let Some(name) = child(node, K::TRIGGER_REF).map(|n| name_text(&n)) {
                    d.effects.push(Effect::DropTrigger {
                        table: rel.clone(),
                        name,
                        if_exists: child(node, K::IF_EXISTS).is_some(),
                    });
                }
                push(&mut d, Shape::DropTrigger, rel, span(node));
            }
            d.robustness = Some((child(node, K::IF_EXISTS).is_some(), 0));
        }
        K::ALTER_FUNCTION | K::ALTER_PROCEDURE | K::ALTER_ROUTINE => {
            d.kind = match node.kind() {
                K::ALTER_FUNCTION => "ALTER FUNCTION",
                K::ALTER_PROCEDURE => "ALTER PROCEDURE",
                _ => "ALTER ROUTINE",
            };
            if let Some((from, to)) = function_renamed(node) {
                d.effects.push(Effect::RenameFunction { from, to });
            }
        }
        K::ALTER_TRIGGER => {
            d.kind = "ALTER TRIGGER";
            if let Some(rel) = child(node, K::ON_RELATION).and_then(|n| relation_in(&n)) {
                let from = child(node, K::TRIGGER_REF).map(|n| name_text(&n));
                let to = child(node, K::TRIGGER_RENAME_TO)
                    .and_then(|n| child(&n, K::TRIGGER))
                    .map(|n| name_text(&n));
                if let (Some(from), Some(to)) = (from, to) {
                    d.effects.push(Effect::RenameTrigger {
                        table: rel.clone(),
                        from,
                        to,
                    });
                }
                push(&mut d, Shape::AlterTrigger, rel, span(node));
            }
        }
        K::VACUUM => vacuum(node, &mut d),
        K::CLUSTER => {
            d.kind = "CLUSTER";
            if let Some(rel) = child(node, K::TABLE_NAME_REF).map(|n| name_text(&n)) {
                push(&mut d, Shape::Cluster, rel, span(node));
            }
        }
        K::ANALYZE => {
            d.kind = "ANALYZE";
            for rel in node
                .descendants()
                .filter(|n| n.kind() == K::TABLE_AND_COLUMNS)
            {
                if let Some(name) = relation_in(&rel) {
                    push(&mut d, Shape::Analyze, name, span(node));
                }
            }
        }
        K::COPY => copy(node, &mut d),
        K::REFRESH => {
            d.kind = "REFRESH MATERIALIZED VIEW";
            let shape = if has_token(node, K::CONCURRENTLY_KW) {
                Shape::RefreshMatviewConcurrently
            } else {
                Shape::RefreshMatview
            };
            if let Some(rel) = child(node, K::VIEW_REF).map(|n| name_text(&n)) {
                push(&mut d, shape, rel, span(node));
            }
        }
        K::ALTER_TYPE => {
            d.kind = "ALTER TYPE";
            let ty = child(node, K::TYPE_NAME_REF)
                .map(|n| name_text(&n))
                .unwrap_or_default();
            if let Some(add) = child_any(node, &[K::ADD_VALUE, K::RENAME_VALUE]) {
                let ordered = add.kind() == K::RENAME_VALUE
                    || child_any(&add, &[K::BEFORE_VALUE, K::AFTER_VALUE]).is_some();
                d.actions.push(Action {
                    shape: Shape::EnumAddValue,
                    relation: ty,
                    span: span(&add),
                    detail: Detail::EnumValue { ordered },
                    mode_override: None,
                    on_created: false,
                    conditional: false,
                });
                if add.kind() == K::ADD_VALUE && !super::model::at_least(pg_version, 12) {
                    d.no_transaction_block = Some("ALTER TYPE … ADD VALUE (before PostgreSQL 12)");
                }
            }
        }
        K::COMMENT_ON => {
            d.kind = "COMMENT ON";
            // Only COMMENT ON TABLE/COLUMN take a lock on a table we can name.
            let object = node.children().next();
            if let Some(obj) = object
                && obj
                    .children_with_tokens()
                    .any(|t| t.kind() == K::TABLE_KW || t.kind() == K::COLUMN_KW)
                && let Some(rel) = relation_in(&obj)
            {
                let rel = if obj.children_with_tokens().any(|t| t.kind() == K::COLUMN_KW) {
                    rel.rsplit_once('.')
                        .map(|(t, _)| t.to_string())
                        .unwrap_or(rel)
                } else {
                    rel
                };
                push(&mut d, Shape::Comment, rel, span(node));
            }
        }
        K::CREATE_STATISTICS => {
            d.kind = "CREATE STATISTICS";
            if let Some(rel) = node
                .descendants()
                .find(|n| matches!(n.kind(), K::FROM_TABLE | K::TABLE_NAME_REF))
                .and_then(|n| relation_in(&n))
            {
                push(&mut d, Shape::Comment, rel, span(node));
            }
        }
        K::LOCK => lock_table(node, &mut d),
        K::CREATE_DOMAIN => {
            d.kind = "CREATE DOMAIN";
            if let Some(check) = child(node, K::CHECK_CONSTRAINT) {
                let name = child(node, K::DOMAIN)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                d.actions.push(Action {
                    shape: Shape::DomainAddConstraint,
                    relation: name,
                    span: span(&check),
                    detail: Detail::None,
                    mode_override: None,
                    on_created: false,
                    conditional: false,
                });
                // A new domain has no columns yet: no lock worth reporting, but the rule fires.
            }
        }
        K::ALTER_DOMAIN => {
            d.kind = "ALTER DOMAIN";
            if let Some(add) = child(node, K::ADD_CONSTRAINT) {
                let name = child(node, K::DOMAIN_REF)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                let not_valid = has_descendant(&add, &[K::NOT_VALID]);
                d.actions.push(Action {
                    shape: Shape::DomainAddConstraint,
                    relation: name,
                    span: span(&add),
                    detail: Detail::Constraint {
                        name: None,
                        not_valid,
                        insert_at: span(&add).end,
                        not_null_column: None,
                        referenced: None,
                        inline: false,
                        primary_key: false,
                    },
                    mode_override: None,
                    on_created: false,
                    conditional: false,
                });
            }
        }
        K::BEGIN => {
            d.kind = "BEGIN";
            d.control.push(Control::Begin);
        }
        K::COMMIT_TRANSACTION | K::COMMIT_PREPARED | K::PREPARE_TRANSACTION => {
            d.kind = "COMMIT";
            d.control.push(Control::Commit {
                chain: child(node, K::AND_CHAIN).is_some(),
            });
        }
        K::ROLLBACK_TRANSACTION | K::ROLLBACK_PREPARED => {
            d.kind = "ROLLBACK";
            d.control.push(Control::Rollback {
                chain: child(node, K::AND_CHAIN).is_some(),
            });
        }
        K::SET => set(node, &mut d),
        K::RESET => {
            d.kind = "RESET";
            let param = child(node, K::CONFIG_PARAMETER_REF).map(|n| name_text(&n));
            d.control.push(Control::Reset { param });
        }
        K::INSERT | K::UPDATE | K::DELETE | K::MERGE => {
            d.kind = match node.kind() {
                K::INSERT => "INSERT",
                K::UPDATE => "UPDATE",
                K::DELETE => "DELETE",
                _ => "MERGE",
            };
            d.is_dml = true;
            d.deletes = node.kind() == K::DELETE;
            d.updates = node.kind() == K::UPDATE;
            d.fires = dml_events(node);
            if node.kind() == K::MERGE {
                d.newer(
                    15,
                    "MERGE",
                    "INSERT … ON CONFLICT, or an UPDATE then an INSERT of the rows not found",
                    node,
                );
            }
            let target = reads::dml_target(node);
            if let Some(rel) = &target {
                push(&mut d, Shape::Dml, rel.clone(), span(node));
            }
            reads::push_reads(node, target.as_deref(), &mut d);
            reads::push_cte_writes(node, target.as_deref(), &mut d);
            d.dml_columns = dml_columns(node);
            // INSERT … VALUES writes the rows it lists; the others may touch the whole table.
            d.bulk = node.kind() != K::INSERT || child(node, K::VALUES).is_none();
            // An UPDATE's or DELETE's SET and WHERE run for each row of the table.
            d.calls = calls_in(node, node.kind() != K::INSERT);
            set_config_calls(node, &mut d);
        }
        K::CALL => {
            d.kind = "CALL";
            d.bulk = true;
            if let Some(name) = child(node, K::PROCEDURE_NAME_REF).map(|n| name_text(&n)) {
                d.calls.push((name, false));
            }
        }
        K::SELECT | K::COMPOUND_SELECT | K::PAREN_SELECT | K::VALUES => {
            d.kind = "SELECT";
            d.calls = calls_in(node, false);
            reads::push_reads(node, None, &mut d);
            reads::push_row_locks(node, &mut d);
            d.bulk = has_descendant(node, &[K::CALL_EXPR]);
            if reads::push_cte_writes(node, None, &mut d) {
                // `WITH x AS (DELETE …) SELECT …` changes rows as a DML statement does.
                d.is_dml = true;
                d.bulk = true;
            }
            set_config_calls(node, &mut d);
        }
        K::DO => do_block(node, pg_version, &mut d),
        K::CREATE_FUNCTION => {
            d.kind = "CREATE FUNCTION";
            // A quoted SQL body is parsed here, once, for both.
            let statements = reads::sql_body_statements(node);
            reads::parsed_statements(node, &statements, &mut d);
            define_function(node, &statements, pg_version, &mut d);
        }
        K::CREATE_PROCEDURE => {
            d.kind = "CREATE PROCEDURE";
            let statements = reads::sql_body_statements(node);
            define_function(node, &statements, pg_version, &mut d);
        }
        K::CREATE_DATABASE | K::DROP_DATABASE => {
            d.kind = "DATABASE";
            d.no_transaction_block = Some("CREATE/DROP DATABASE");
        }
        K::CREATE_TABLESPACE | K::DROP_TABLESPACE => {
            d.kind = "TABLESPACE";
            d.no_transaction_block = Some("CREATE/DROP TABLESPACE");
        }
        K::ALTER_SYSTEM => {
            d.kind = "ALTER SYSTEM";
            d.no_transaction_block = Some("ALTER SYSTEM");
        }
        K::CREATE_SCHEMA | K::CREATE_SEQUENCE | K::CREATE_TYPE | K::CREATE_EXTENSION => {
            d.kind = "CREATE";
            d.robustness = Some((child(node, K::IF_NOT_EXISTS).is_some(), 0));
            sequence_owner(node, &mut d);
        }
        K::ALTER_SEQUENCE => {
            d.kind = "ALTER SEQUENCE";
            sequence_owner(node, &mut d);
        }
        K::DROP_SCHEMA
        | K::DROP_SEQUENCE
        | K::DROP_TYPE
        | K::DROP_EXTENSION
        | K::DROP_DOMAIN
        | K::DROP_FUNCTION
        | K::DROP_PROCEDURE
        | K::DROP_ROUTINE => {
            d.kind = "DROP";
            d.robustness = Some((child(node, K::IF_EXISTS).is_some(), 0));
            if matches!(
                node.kind(),
                K::DROP_FUNCTION | K::DROP_PROCEDURE | K::DROP_ROUTINE
            ) {
                let names = node
                    .descendants()
                    .filter(|n| ROUTINE_NAME_REFS.contains(&n.kind()))
                    .map(|n| name_text(&n))
                    .collect();
                d.effects.push(Effect::DropFunctions {
                    names,
                    cascade: child(node, K::CASCADE).is_some(),
                });
            }
        }
        _ => {}
    }
    d
}

/// The nodes naming a function, procedure or routine a statement refers to.
const ROUTINE_NAME_REFS: &[SyntaxKind] = &[
    K::FUNCTION_NAME_REF,
    K::PROCEDURE_NAME_REF,
    K::ROUTINE_NAME_REF,
];

/// The old and new name of a function that `ALTER FUNCTION|PROCEDURE|ROUTINE … RENAME TO` or
/// `… SET SCHEMA` gives a new name (folded, `public.` left out): a rename keeps the schema.
fn function_renamed(node: &SyntaxNode) -> Option<(String, String)> {
    let from = child_any(node, &[K::FUNCTION_SIG, K::PROCEDURE_SIG, K::ROUTINE_SIG])
        .and_then(|sig| child_any(&sig, ROUTINE_NAME_REFS))
        .map(|n| name_text(&n))?;
    let (schema, base) = match from.rsplit_once('.') {
        Some((schema, base)) => (Some(schema), base),
        None => (None, from.as_str()),
    };
    let qualified = |schema: Option<&str>, base: &str| match schema {
        Some(schema) if schema != "public" => format!("{schema}.{base}"),
        _ => base.to_string(),
    };
    let to = if let Some(rename) = child_any(
        node,
        &[
            K::FUNCTION_RENAME_TO,
            K::PROCEDURE_RENAME_TO,
            K::ROUTINE_RENAME_TO,
        ],
    ) {
        let name = child_any(
            &rename,
            &[K::FUNCTION_NAME, K::PROCEDURE_NAME, K::ROUTINE_NAME],
        )
        .map(|n| name_text(&n))?;
        qualified(schema, &name)
    } else {
        let schema = child(node, K::SET_SCHEMA).and_then(|n| child(&n, K::SCHEMA_REF))?;
        qualified(Some(&name_text(&schema)), base)
    };
    (to != from).then_some((from, to))
}

fn push(d: &mut Described, shape: Shape, relation: String, span: Range<usize>) {
    d.actions.push(Action {
        shape,
        relation,
        span,
        detail: Detail::None,
        mode_override: None,
        on_created: false,
        conditional: false,
    });
}

/// `COPY t FROM …` writes `t` (ROW EXCLUSIVE), `COPY t TO …` reads it, `COPY (query) TO …` runs
/// the query.
fn copy(node: &SyntaxNode, d: &mut Described) {
    d.kind = "COPY";
    if let Some(query) = child(node, K::COPY_QUERY) {
        reads::push_reads(&query, None, d);
        d.bulk = true;
    } else if let Some(table) = child(node, K::COPY_TABLE).and_then(|t| relation_in(&t)) {
        if child(node, K::COPY_FROM).is_some() {
            d.is_dml = true;
            d.fires = vec![TriggerEvent::Insert];
            d.bulk = true;
            push(d, Shape::Dml, table, span(node));
        } else {
            push(d, Shape::Select, table, span(node));
        }
    }
}

/// `… SEQUENCE … OWNED BY t.c`: the server reads `t` (ACCESS SHARE) to find the column.
fn sequence_owner(node: &SyntaxNode, d: &mut Described) {
    let table = child(node, K::OPTION_OWNED_BY)
        .and_then(|owned| child(&owned, K::QUALIFIED_COLUMN_NAME_REF))
        .and_then(|column| child(&column, K::PATH_REF))
        .and_then(|path| child(&path, K::PATH_REF))
        .map(|table| name_text(&table));
    if let Some(table) = table {
        push(d, Shape::Select, table, span(node));
    }
}

/// `NULLS NOT DISTINCT` on a unique index or constraint (15+).
pub(super) fn nulls_not_distinct(node: &SyntaxNode, d: &mut Described) {
    let written = child(node, K::NULLS_NOT_DISTINCT).or_else(|| {
        child(node, K::INDEX_PARAMETERS).and_then(|p| child(&p, K::NULLS_NOT_DISTINCT))
    });
    if let Some(at) = written {
        d.newer(
            15,
            "NULLS NOT DISTINCT",
            "a unique index on COALESCE(column, a value it never holds), or a second, partial \
             unique index WHERE column IS NULL",
            &at,
        );
    }
}

fn create_index(node: &SyntaxNode, d: &mut Described) {
    d.kind = "CREATE INDEX";
    nulls_not_distinct(node, d);
    let concurrently = has_token(node, K::CONCURRENTLY_KW);
    let insert_at = token(node, K::INDEX_KW)
        .map(|t| token_span(&t).end)
        .unwrap_or(0);
    let Some(target) = child(node, K::TABLE_RELATION_NAME) else {
        return;
    };
    let Some(rel) = relation_in(&target) else {
        return;
    };
    if has_token(&target, K::ONLY_KW) {
        d.only.push(rel.clone());
    }
    if let Some(mut name) = child(node, K::INDEX).map(|n| name_text(&n)) {
        // An index lives in its table's schema.
        if let Some((schema, _)) = rel.rsplit_once('.')
            && !name.contains('.')
        {
            name = format!("{schema}.{name}");
        }
        d.creates.push(name.clone());
        d.indexes.push((name.clone(), rel.clone()));
        d.effects.push(Effect::CreateIndex {
            name,
            table: rel.clone(),
            if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        });
    } else {
        let key = child(node, K::PARTITION_ITEM_LIST);
        let include =
            child(node, K::INDEX_INCLUDE_CLAUSE).and_then(|c| child(&c, K::PARTITION_ITEM_LIST));
        let items = key
            .into_iter()
            .chain(include)
            .flat_map(|list| children(&list, K::PARTITION_ITEM).collect::<Vec<_>>());
        d.effects.push(Effect::CreateUnnamedIndex {
            table: rel.clone(),
            columns: crate::analysis::naming::index_column_names(items),
        });
    }
    d.actions.push(Action {
        shape: if concurrently {
            Shape::CreateIndexConcurrently
        } else {
            Shape::CreateIndex
        },
        relation: rel,
        span: span(node),
        detail: Detail::CreateIndex { insert_at },
        mode_override: None,
        on_created: false,
        conditional: false,
    });
    if concurrently {
        d.no_transaction_block = Some("CREATE INDEX CONCURRENTLY");
    }
    let if_not_exists_at = insert_at
        + token(node, K::CONCURRENTLY_KW)
            .map(|t| token_span(&t).end - insert_at)
            .unwrap_or(0);
    d.robustness = Some((child(node, K::IF_NOT_EXISTS).is_some(), if_not_exists_at));
}

fn drop_index(node: &SyntaxNode, d: &mut Described) {
    d.kind = "DROP INDEX";
    let concurrently = has_token(node, K::CONCURRENTLY_KW);
    // DROP INDEX CONCURRENTLY takes one index and no CASCADE: no mechanical fix otherwise.
    let single = children(node, K::INDEX_REF).count() == 1 && child(node, K::CASCADE).is_none();
    let insert_at = token(node, K::INDEX_KW)
        .filter(|_| single)
        .map(|t| token_span(&t).end)
        .unwrap_or(0);
    d.effects.push(Effect::Drop {
        kind: DropKind::Index,
        names: children(node, K::INDEX_REF)
            .map(|i| name_text(&i))
            .collect(),
        if_exists: child(node, K::IF_EXISTS).is_some(),
        cascade: child(node, K::CASCADE).is_some(),
    });
    for index in children(node, K::INDEX_REF) {
        d.actions.push(Action {
            shape: if concurrently {
                Shape::DropIndexConcurrently
            } else {
                Shape::DropIndex
            },
            relation: name_text(&index),
            span: span(node),
            detail: Detail::Concurrently { insert_at },
            mode_override: None,
            on_created: false,
            conditional: false,
        });
    }
    if concurrently {
        d.no_transaction_block = Some("DROP INDEX CONCURRENTLY");
    }
    let if_exists_at = token(node, K::CONCURRENTLY_KW)
        .map(|t| token_span(&t).end)
        .unwrap_or(insert_at);
    d.robustness = Some((child(node, K::IF_EXISTS).is_some(), if_exists_at));
}

fn reindex(node: &SyntaxNode, d: &mut Described) {
    d.kind = "REINDEX";
    let Some(target) = node.children().find(|n| {
        matches!(
            n.kind(),
            K::REINDEX_TARGET_TABLE
                | K::REINDEX_TARGET_INDEX
                | K::REINDEX_TARGET_SCHEMA
                | K::REINDEX_TARGET_DATABASE
                | K::REINDEX_TARGET_SYSTEM
        )
    }) else {
        return;
    };
    let concurrently = has_token(&target, K::CONCURRENTLY_KW)
        || child(node, K::REINDEX_OPTION_LIST)
            .is_some_and(|opts| squashed_text(&opts).contains("concurrently"));
    if concurrently {
        d.no_transaction_block = Some("REINDEX CONCURRENTLY");
        d.newer(
            12,
            "REINDEX CONCURRENTLY",
            "CREATE INDEX CONCURRENTLY a copy of the index, DROP INDEX CONCURRENTLY the old one, \
             then rename the copy",
            node,
        );
    }
    if target.kind() != K::REINDEX_TARGET_INDEX && target.kind() != K::REINDEX_TARGET_TABLE {
        // REINDEX SCHEMA/DATABASE/SYSTEM cannot run in a transaction block.
        d.no_transaction_block = Some("REINDEX SCHEMA/DATABASE/SYSTEM");
        return;
    }
    let insert_at = target
        .children_with_tokens()
        .filter_map(|e| e.into_token())
        .find(|t| matches!(t.kind(), K::TABLE_KW | K::INDEX_KW))
        .map(|t| token_span(&t).end)
        .unwrap_or(span(&target).start);
    let Some(rel) = relation_in(&target) else {
        return;
    };
    let detail = Detail::Concurrently { insert_at };
    let is_table = target.kind() == K::REINDEX_TARGET_TABLE;
    let mut add = |shape: Shape, relation: String| {
        d.actions.push(Action {
            shape,
            relation,
            span: span(node),
            detail: detail.clone(),
            mode_override: None,
            on_created: false,
            conditional: false,
        })
    };
    match (concurrently, is_table) {
        (true, _) => add(Shape::ReindexConcurrently, rel),
        (false, true) => {
            add(Shape::Reindex, rel.clone());
            add(Shape::ReindexIndexes, rel);
        }
        (false, false) => add(Shape::ReindexIndex, rel),
    }
}

fn vacuum(node: &SyntaxNode, d: &mut Described) {
    d.kind = "VACUUM";
    let full = has_token(node, K::FULL_KW)
        || child(node, K::VACUUM_OPTION_LIST).is_some_and(|opts| {
            opts.children()
                .filter(|o| o.kind() == K::VACUUM_OPTION)
                .any(|o| {
                    let text = squashed_text(&o);
                    text == "full"
                        || text.starts_with("full ")
                            && !text.ends_with("false")
                            && !text.ends_with("off")
                })
        });
    d.no_transaction_block = Some(if full { "VACUUM FULL" } else { "VACUUM" });
    let shape = if full {
        Shape::VacuumFull
    } else {
        Shape::Vacuum
    };
    for rel in node
        .descendants()
        .filter(|n| n.kind() == K::TABLE_AND_COLUMNS)
    {
        if let Some(name) = relation_in(&rel) {
            push(d, shape, name, span(node));
        }
    }
}

fn lock_table(node: &SyntaxNode, d: &mut Described) {
    d.kind = "LOCK TABLE";
    let mode = child(node, K::LOCK_MODE_CLAUSE)
        .and_then(|c| c.children().next())
        .map(|m| match m.kind() {
            K::ACCESS_SHARE => LockMode::AccessShare,
            K::ROW_SHARE => LockMode::RowShare,
            K::ROW_EXCLUSIVE => LockMode::RowExclusive,
            K::SHARE_UPDATE_EXCLUSIVE => LockMode::ShareUpdateExclusive,
            K::SHARE => LockMode::Share,
            K::SHARE_ROW_EXCLUSIVE => LockMode::ShareRowExclusive,
            K::EXCLUSIVE => LockMode::Exclusive,
            _ => LockMode::AccessExclusive,
        })
        .unwrap_or(LockMode::AccessExclusive);
    if let Some(list) = child(node, K::RELATION_LIST) {
        for rel in list.children() {
            if let Some(name) = relation_in(&rel) {
                if has_token(&rel, K::ONLY_KW) {
                    d.only.push(name.clone());
                }
                d.actions.push(Action {
                    shape: Shape::LockTable,
                    relation: name,
                    span: span(node),
                    detail: Detail::None,
                    mode_override: Some(mode),
                    on_created: false,
                    conditional: false,
                });
            }
        }
    }
}

fn set(node: &SyntaxNode, d: &mut Described) {
    d.kind = "SET";
    let local = descendant(node, K::LOCAL_SCOPE).is_some();
    let Some(config) = descendant(node, K::SET_CONFIG) else {
        return;
    };
    let param = child(&config, K::CONFIG_PARAMETER_REF)
        .map(|n| name_text(&n))
        .unwrap_or_default();
    let value = config
        .children()
        .find(|n| n.kind() != K::CONFIG_PARAMETER_REF)
        .map(|v| {
            v.children()
                .next()
                .map(|inner| squashed_text(&inner))
                .unwrap_or_else(|| squashed_text(&v))
        })
        .map(|v| v.trim_matches('\'').to_string())
        .filter(|v| v != "default");
    d.control.push(Control::Set {
        param,
        value,
        local,
    });
}

/// `set_config('lock_timeout', '2s', is_local)` calls anywhere in the statement.
fn set_config_calls(node: &SyntaxNode, d: &mut Described) {
    for call in node.descendants().filter(|n| n.kind() == K::CALL_EXPR) {
        let Some(name) = call.children().next().map(|n| name_text(&n)) else {
            continue;
        };
        if name != "set_config" && name != "pg_catalog.set_config" {
            continue;
        }
        let args: Vec<String> = call
            .descendants()
            .filter(|n| n.kind() == K::ARG_LIST)
            .take(1)
            .flat_map(|list| list.children().collect::<Vec<_>>())
            .map(|arg| squashed_text(&arg))
            .collect();
        if let [param, value, local] = args.as_slice() {
            d.control.push(Control::Set {
                param: param.trim_matches('\'').to_string(),
                value: Some(value.trim_matches('\'').to_string()),
                local: local == "true" || local == "'t'" || local == "'true'",
            });
        }
    }
}

fn create_table(node: &SyntaxNode, d: &mut Described) {
    d.kind = "CREATE TABLE";
    let Some(name) = child(node, K::TABLE_NAME).map(|n| name_text(&n)) else {
        return;
    };
    let if_not_exists = child(node, K::IF_NOT_EXISTS).is_some();
    d.robustness = Some((if_not_exists, 0));
    push(d, Shape::CreateTable, name.clone(), span(node));
    d.creates.push(name.clone());
    let parent = child(node, K::PARTITION_OF).and_then(|n| relation_in(&n));
    if let Some(parent) = &parent {
        push(
            d,
            Shape::PartitionParentOfNewTable,
            parent.clone(),
            span(node),
        );
    }
    let bare = name.rsplit('.').next().unwrap_or(&name).to_string();
    let mut columns = Vec::new();
    let mut not_null = Vec::new();
    let args: Vec<SyntaxNode> = child(node, K::TABLE_ARG_LIST)
        .map(|list| list.children().collect())
        .unwrap_or_default();
    for arg in &args {
        let column = (arg.kind() == K::COLUMN)
            .then(|| child(arg, K::COLUMN_NAME).map(|n| name_text(&n)))
            .flatten();
        if let Some(column) = &column {
            columns.push((
                column.clone(),
                alter_table::column_type_text(arg).unwrap_or_default(),
            ));
            if alter_table::implied_not_null(arg) {
                not_null.push(column.clone());
            }
        }
        // The constraints written on this column or as a table constraint.
        let constraints: Vec<SyntaxNode> = if column.is_some() {
            arg.children().collect()
        } else {
            vec![arg.clone()]
        };
        for constraint in constraints {
            match (constraint.kind(), &column) {
                (K::NOT_NULL_CONSTRAINT | K::PRIMARY_KEY_CONSTRAINT, Some(column)) => {
                    not_null.push(column.clone())
                }
                (K::PRIMARY_KEY_CONSTRAINT, None) => {
                    not_null.extend(constraint_columns(&constraint))
                }
                _ => {}
            }
            table_constraint(&constraint, &name, &bare, column.as_deref(), d);
        }
    }
    if !not_null.is_empty() {
        d.effects.push(Effect::NotNull {
            table: name.clone(),
            columns: not_null,
            on: true,
        });
    }
    let kind = if child(node, K::PARTITION_BY).is_some() {
        RelationKind::PartitionedTable
    } else {
        RelationKind::Table
    };
    if let Some(parent) = parent {
        d.effects.insert(
            0,
            Effect::PartitionOf {
                table: name.clone(),
                parent: Some(parent),
                default: child(node, K::PARTITION_DEFAULT).is_some(),
            },
        );
    }
    // The Create effect comes first: the indexes and constraints below belong to the new table.
    d.effects.insert(
        0,
        Effect::Create {
            name,
            kind,
            columns,
            reads: Default::default(),
            if_not_exists,
        },
    );
}

/// A constraint of a new table: the index a PRIMARY KEY or UNIQUE builds, and a foreign key with
/// the lock it takes on the referenced table, under the names PostgreSQL gives them.
fn table_constraint(
    constraint: &SyntaxNode,
    table: &str,
    bare: &str,
    column: Option<&str>,
    d: &mut Described,
) {
    let written = child(constraint, K::CONSTRAINT_NAME_CLAUSE)
        .and_then(|c| child(&c, K::CONSTRAINT_NAME))
        .map(|n| name_text(&n));
    let columns: Vec<String> = match column {
        Some(c) => vec![c.to_string()],
        None => constraint_columns(constraint),
    };
    let schema = table.rsplit_once('.').map(|(s, _)| format!("{s}."));
    let qualified = |n: String| match &schema {
        Some(s) => format!("{s}{n}"),
        None => n,
    };
    if constraint.kind() == K::UNIQUE_CONSTRAINT {
        nulls_not_distinct(constraint, d);
    }
    match constraint.kind() {
        K::PRIMARY_KEY_CONSTRAINT | K::UNIQUE_CONSTRAINT => {
            let index = written.unwrap_or_else(|| {
                if constraint.kind() == K::PRIMARY_KEY_CONSTRAINT {
                    object_name(bare, None, "pkey")
                } else {
                    object_name(bare, Some(&name_addition(&columns)), "key")
                }
            });
            if constraint.kind() == K::PRIMARY_KEY_CONSTRAINT {
                d.constraints.push((
                    index.clone(),
                    table.to_string(),
                    ConstraintKind::PrimaryKey(columns),
                ));
            }
            d.effects.push(Effect::CreateIndex {
                name: qualified(index),
                table: table.to_string(),
                if_not_exists: false,
            });
        }
        K::FOREIGN_KEY_CONSTRAINT | K::REFERENCES_CONSTRAINT => {
            let Some(referenced) = child(constraint, K::TABLE_NAME_REF)
                .or_else(|| child(constraint, K::PATH_REF))
                .map(|n| name_text(&n))
            else {
                return;
            };
            if referenced != table {
                push(
                    d,
                    Shape::ForeignKeyReferenced,
                    referenced.clone(),
                    span(constraint),
                );
            }
            let name = written
                .unwrap_or_else(|| object_name(bare, Some(&name_addition(&columns)), "fkey"));
            d.constraints.push((
                name,
                table.to_string(),
                ConstraintKind::ForeignKey(
                    referenced,
                    columns,
                    referenced_columns(constraint),
                    ref_actions(constraint),
                ),
            ));
        }
        _ => {}
    }
}

/// A foreign key's `ON DELETE` and `ON UPDATE` actions (`NO ACTION` when not written).
pub(super) fn ref_actions(
    constraint: &SyntaxNode,
) -> (crate::analysis::RefAction, crate::analysis::RefAction) {
    use crate::analysis::RefAction;
    let action = |kind: SyntaxKind| {
        child(constraint, kind)
            .and_then(|clause| {
                clause.children().find_map(|n| match n.kind() {
                    K::CASCADE => Some(RefAction::Cascade),
                    K::SET_NULL_COLUMNS => Some(RefAction::SetNull),
                    K::SET_DEFAULT_COLUMNS => Some(RefAction::SetDefault),
                    K::RESTRICT => Some(RefAction::Restrict),
                    _ => None,
                })
            })
            .unwrap_or_default()
    };
    (action(K::ON_DELETE_ACTION), action(K::ON_UPDATE_ACTION))
}

/// A table constraint's own columns: a foreign key's referencing columns, a key's indexed ones.
pub(crate) fn constraint_columns(constraint: &SyntaxNode) -> Vec<String> {
    constraint
        .descendants()
        .find(|n| {
            matches!(
                n.kind(),
                K::FOREIGN_KEY_COLUMN_LIST | K::CONSTRAINT_COLUMN_REF_LIST
            )
        })
        .map(|list| {
            list.descendants()
                .filter(|n| n.kind() == K::COLUMN_NAME_REF)
                .map(|n| name_text(&n))
                .collect()
        })
        .unwrap_or_default()
}

/// The columns a foreign key names in the referenced table (empty when it names none: the
/// referenced table's primary key).
pub(crate) fn referenced_columns(constraint: &SyntaxNode) -> Vec<String> {
    let after_table = constraint
        .children()
        .skip_while(|n| n.kind() != K::TABLE_NAME_REF && n.kind() != K::PATH_REF)
        .skip(1);
    let mut out = Vec::new();
    for n in after_table {
        match n.kind() {
            K::COLUMN_NAME_REF => out.push(name_text(&n)),
            K::FOREIGN_KEY_COLUMN_LIST => out.extend(
                n.children()
                    .filter(|c| c.kind() == K::COLUMN_NAME_REF)
                    .map(|c| name_text(&c)),
            ),
            _ => {}
        }
    }
    out
}

/// The row events an INSERT, UPDATE, DELETE or MERGE fires triggers with.
fn dml_events(node: &SyntaxNode) -> Vec<TriggerEvent> {
    match node.kind() {
        K::INSERT if has_descendant(node, &[K::CONFLICT_DO_UPDATE_SET]) => {
            vec![TriggerEvent::Insert, TriggerEvent::Update]
        }
        K::INSERT => vec![TriggerEvent::Insert],
        K::UPDATE => vec![TriggerEvent::Update],
        K::DELETE => vec![TriggerEvent::Delete],
        _ => merge_events(node),
    }
}

/// The columns an INSERT writes (those listed, or every column: empty) or an UPDATE sets; for
/// the other DML, none known.
fn dml_columns(node: &SyntaxNode) -> Option<Vec<String>> {
    match node.kind() {
        // (A key column left out of an INSERT is NULL: nothing to check.)
        K::INSERT => Some(
            child(node, K::COLUMN_TARGET_LIST)
                .map(|list| {
                    children(&list, K::COLUMN_TARGET)
                        .filter_map(|t| t.first_child().map(|c| name_text(&c)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        K::UPDATE => Some(
            child(node, K::SET_CLAUSE)
                .map(|set| {
                    set.descendants()
                        .filter(|n| n.kind() == K::COLUMN_TARGET)
                        .filter_map(|t| t.first_child().map(|c| name_text(&c)))
                        .collect()
                })
                .unwrap_or_default(),
        )
        .filter(|columns: &Vec<String>| !columns.is_empty()),
        _ => None,
    }
}

/// A DO block: the statements of its PL/pgSQL body run now, so they lock what they would lock at
/// the top level; dynamic SQL (`EXECUTE`) hides what it does from the schema model.
fn do_block(node: &SyntaxNode, pg_version: u32, d: &mut Described) {
    d.kind = "DO";
    d.bulk = true;
    let Some(body) = ast::Do::cast(node.clone()).and_then(|block| block.plpgsql()) else {
        return;
    };
    let at = span(node);
    let mut body = PlpgsqlBody::of(&body.syntax());
    for (statement, conditional) in &body.statements {
        let mut part = describe(statement, pg_version);
        if !part.fires.is_empty() || !part.body_writes.is_empty() {
            d.body_writes.extend(
                body_locks(&part, statement, *conditional)
                    .into_iter()
                    .filter(|l| !l.fires.is_empty()),
            );
        }
        for action in &mut part.actions {
            action.span = at.clone();
            action.on_created |= d.creates.contains(&action.relation);
            action.conditional = *conditional;
        }
        d.actions.append(&mut part.actions);
        d.effects.append(&mut part.effects);
        d.constraints.append(&mut part.constraints);
        d.creates.append(&mut part.creates);
        d.indexes.append(&mut part.indexes);
        for (function, per_row) in part.calls {
            add_call(&mut d.calls, function, *conditional || per_row);
        }
    }
    for (function, conditional) in body.calls.drain(..) {
        add_call(&mut d.calls, function, conditional);
    }
    if body.dynamic {
        d.effects.push(Effect::Unseen);
        d.runs_dynamic_sql = true;
    }
    let reads: std::collections::BTreeSet<String> = body
        .reads
        .into_iter()
        .map(|(relation, _)| relation)
        .collect();
    let first = d.actions.len();
    reads::push_each_read(&reads, None, at, d);
    for action in &mut d.actions[first..] {
        action.on_created = d.creates.contains(&action.relation);
    }
}

/// What a PL/pgSQL body (a DO block's or a function's) runs.
struct PlpgsqlBody {
    /// Its SQL statements, each with whether it runs only in a branch (IF, CASE, a loop, an
    /// exception handler).
    statements: Vec<(SyntaxNode, bool)>,
    /// The relations read by queries the body evaluates itself (an IF's condition, PERFORM,
    /// FOR … IN SELECT, RETURN QUERY), with the query; system catalogues left out.
    reads: Vec<(String, SyntaxNode)>,
    /// The functions those queries call (`PERFORM f()`, `x := f()`), each with whether only in
    /// a branch or per row; the calls of its SQL statements are in their descriptions.
    calls: Vec<(String, bool)>,
    /// It runs dynamic SQL (`EXECUTE`), which the analysis cannot follow.
    dynamic: bool,
}

impl PlpgsqlBody {
    fn of(body: &SyntaxNode) -> PlpgsqlBody {
        let mut out = PlpgsqlBody {
            statements: Vec::new(),
            reads: Vec::new(),
            calls: Vec::new(),
            dynamic: false,
        };
        let in_branch = |node: &SyntaxNode| {
            node.ancestors().any(|a| {
                matches!(
                    a.kind(),
                    K::PLPGSQL_IF_STMT
                        | K::PLPGSQL_CASE_STMT
                        | K::PLPGSQL_LOOP_STMT
                        | K::PLPGSQL_WHILE_STMT
                        | K::PLPGSQL_FOR_I_STMT
                        | K::PLPGSQL_FOR_QUERY_STMT
                        | K::PLPGSQL_FOR_CURSOR_STMT
                        | K::PLPGSQL_FOR_DYN_STMT
                        | K::PLPGSQL_FOR_EACH_STMT
                        | K::PLPGSQL_EXCEPTION_HANDLER
                )
            })
        };
        for inner in body.descendants() {
            match inner.kind() {
                K::PLPGSQL_EXEC_SQL_STMT => {
                    let conditional = in_branch(&inner);
                    out.statements
                        .extend(inner.children().map(|statement| (statement, conditional)));
                }
                // (The query of `FOR … IN EXECUTE` runs whenever the loop is reached.)
                K::PLPGSQL_DYN_EXECUTE_STMT | K::PLPGSQL_FOR_DYN_STMT => {
                    match execute::constant_statements(&inner) {
                        Some(statements) => {
                            let conditional = inner.parent().is_some_and(|p| in_branch(&p));
                            out.statements
                                .extend(statements.into_iter().map(|s| (s, conditional)));
                        }
                        None => out.dynamic = true,
                    }
                }
                K::PLPGSQL_EXPR
                | K::PLPGSQL_PERFORM_STMT
                | K::PLPGSQL_FOR_QUERY_STMT
                | K::PLPGSQL_RETURN_QUERY_STMT
                | K::PLPGSQL_OPEN_QUERY
                    if !inner
                        .ancestors()
                        .any(|a| a.kind() == K::PLPGSQL_EXEC_SQL_STMT) =>
                {
                    for relation in reads::relations_read(&inner) {
                        if !is_system_catalog(&relation)
                            && !out.reads.iter().any(|(r, _)| *r == relation)
                        {
                            out.reads.push((relation, inner.clone()));
                        }
                    }
                    let conditional = in_branch(&inner);
                    for (function, per_row) in calls_in(&inner, false) {
                        add_call(&mut out.calls, function, conditional || per_row);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// `CREATE FUNCTION` / `CREATE PROCEDURE` with a PL/pgSQL body or an SQL one (`sql_statements`):
/// what the body locks each time it runs (for the statements that fire its triggers, or call it).
fn define_function(
    node: &SyntaxNode,
    sql_statements: &[SyntaxNode],
    pg_version: u32,
    d: &mut Described,
) {
    let Some(name) = child(node, K::FUNCTION_NAME)
        .or_else(|| child(node, K::PROCEDURE_NAME))
        .map(|n| name_text(&n))
    else {
        return;
    };
    let plpgsql = match (
        ast::CreateFunction::cast(node.clone()),
        ast::CreateProcedure::cast(node.clone()),
    ) {
        (Some(f), _) => f.plpgsql(),
        (_, Some(p)) => p.plpgsql(),
        _ => return,
    };
    let routine = match plpgsql {
        Some(body) => routine_of_plpgsql(&body.syntax(), pg_version),
        None => {
            let mut routine = crate::analysis::Routine::default();
            for statement in sql_statements {
                add_routine_locks(&mut routine, statement, false, pg_version);
            }
            routine
        }
    };
    d.effects.push(Effect::DefineFunction { name, routine });
}

/// What a PL/pgSQL body (a function's, or `prosrc` read from a database) locks when it runs.
pub(crate) fn routine_of_plpgsql(body: &SyntaxNode, pg_version: u32) -> crate::analysis::Routine {
    let body = PlpgsqlBody::of(body);
    let mut routine = crate::analysis::Routine::default();
    for (statement, conditional) in &body.statements {
        add_routine_locks(&mut routine, statement, *conditional, pg_version);
    }
    for (relation, query) in body.reads {
        routine.locks.push(crate::analysis::RoutineLock {
            relation,
            shape: Shape::Select,
            mode: None,
            statement: crate::format::sql_one_line(&query.text().to_string(), ROUTINE_TEXT),
            conditional: false,
            fires: Vec::new(),
            columns: None,
            inner: None,
        });
    }
    for (function, conditional) in body.calls {
        add_call(&mut routine.calls, function, conditional);
    }
    routine.dynamic = body.dynamic;
    routine
}

/// What a function whose body is `source` in `language` (`pg_proc.prosrc`, `pg_language.lanname`)
/// locks when it runs: `None` for a language the analysis does not read (C, internal…).
pub(crate) fn routine_of_source(
    language: &str,
    source: &str,
    pg_version: u32,
) -> Option<crate::analysis::Routine> {
    match language {
        "plpgsql" => {
            // The body is parsed as a DO block's, under a dollar quote it does not contain.
            let mut tag = String::from("lockstep");
            while source.contains(&format!("${tag}$")) {
                tag.push('_');
            }
            let text = format!("DO ${tag}${source}${tag}$");
            let parse = squawk_syntax::SourceFile::parse(&text);
            let body = parse
                .syntax_node()
                .descendants()
                .find_map(ast::Do::cast)?
                .plpgsql()?;
            Some(routine_of_plpgsql(&body.syntax(), pg_version))
        }
        "sql" => {
            let parse = squawk_syntax::SourceFile::parse(source);
            let mut routine = crate::analysis::Routine::default();
            for statement in parse.syntax_node().children() {
                add_routine_locks(&mut routine, &statement, false, pg_version);
            }
            Some(routine)
        }
        _ => None,
    }
}

/// How much of a function's statement a finding quotes.
const ROUTINE_TEXT: usize = 80;

/// Adds the locks one statement of a function body takes.
fn add_routine_locks(
    routine: &mut crate::analysis::Routine,
    statement: &SyntaxNode,
    conditional: bool,
    pg_version: u32,
) {
    let part = describe(statement, pg_version);
    for (function, per_row) in &part.calls {
        add_call(
            &mut routine.calls,
            function.clone(),
            conditional || *per_row,
        );
    }
    routine
        .locks
        .extend(body_locks(&part, statement, conditional));
}

/// The locks `part`, the description of `statement` in a PL/pgSQL or SQL body, takes when the
/// body runs (those on relations it creates left out), each with the row events that fire the
/// written relation's triggers.
fn body_locks(
    part: &Described,
    statement: &SyntaxNode,
    conditional: bool,
) -> Vec<crate::analysis::RoutineLock> {
    if part.actions.is_empty() {
        return Vec::new();
    }
    let text = crate::format::sql_one_line(&statement.text().to_string(), ROUTINE_TEXT);
    part.actions
        .iter()
        .filter(|action| !action.relation.is_empty() && !part.creates.contains(&action.relation))
        .map(|action| {
            let writes_rows = matches!(action.shape, Shape::Dml | Shape::Truncate);
            // A WITH query's write: with its own events and columns.
            let cte = matches!(action.detail, Detail::CteWrite)
                .then(|| {
                    part.body_writes
                        .iter()
                        .find(|w| w.relation == action.relation)
                })
                .flatten();
            let (fires, columns) = match cte {
                Some(write) => (write.fires.clone(), write.columns.clone()),
                None if writes_rows => (part.fires.clone(), part.dml_columns.clone()),
                None => (Vec::new(), None),
            };
            crate::analysis::RoutineLock {
                relation: action.relation.clone(),
                shape: action.shape,
                mode: action.mode_override,
                statement: text.clone(),
                conditional: conditional || action.conditional,
                fires,
                columns,
                inner: None,
            }
        })
        .collect()
}

/// A CREATE TRIGGER's events, `UPDATE OF` columns and level.
fn trigger_of(node: &SyntaxNode, function: String) -> crate::analysis::Trigger {
    let mut trigger = crate::analysis::Trigger {
        function,
        per_row: child(node, K::FOR_EACH_ROW).is_some(),
        ..Default::default()
    };
    if let Some(list) = child(node, K::TRIGGER_EVENT_LIST) {
        for event in list.children() {
            trigger.events.push(match event.kind() {
                K::TRIGGER_EVENT_INSERT => TriggerEvent::Insert,
                K::TRIGGER_EVENT_UPDATE => {
                    trigger
                        .update_of
                        .extend(children(&event, K::COLUMN_NAME_REF).map(|c| name_text(&c)));
                    TriggerEvent::Update
                }
                K::TRIGGER_EVENT_DELETE => TriggerEvent::Delete,
                K::TRIGGER_EVENT_TRUNCATE => TriggerEvent::Truncate,
                _ => continue,
            });
        }
    }
    trigger
}

/// The functions a statement calls: once when it has no FROM clause (and `per_row` is false) or
/// the call is a FROM item, else once per row (so not at all when there is none).
fn calls_in(node: &SyntaxNode, per_row: bool) -> Vec<(String, bool)> {
    let has_from = per_row || has_descendant(node, &[K::FROM_CLAUSE]);
    let mut out: Vec<(String, bool)> = Vec::new();
    for call in node.descendants().filter(|n| n.kind() == K::CALL_EXPR) {
        let Some(name) = call
            .children()
            .find(|c| c.kind() != K::ARG_LIST)
            .map(|f| name_text(&f))
        else {
            continue;
        };
        let from_item = call
            .parent()
            .is_some_and(|p| p.kind() == K::FUNCTION_FROM_ITEM);
        add_call(&mut out, name, has_from && !from_item);
    }
    out
}

/// Adds a call of `function` to `calls`, `maybe` when it may not run (per row, in a branch): a
/// function called twice runs surely if either call does.
fn add_call(calls: &mut Vec<(String, bool)>, function: String, maybe: bool) {
    match calls.iter_mut().find(|(f, _)| *f == function) {
        Some(known) => known.1 &= maybe,
        None => calls.push((function, maybe)),
    }
}

/// The row events a MERGE's WHEN clauses do.
fn merge_events(node: &SyntaxNode) -> Vec<TriggerEvent> {
    let mut events = Vec::new();
    for (kind, event) in [
        (K::MERGE_INSERT, TriggerEvent::Insert),
        (K::MERGE_UPDATE, TriggerEvent::Update),
        (K::MERGE_DELETE, TriggerEvent::Delete),
    ] {
        if has_descendant(node, &[kind]) {
            events.push(event);
        }
    }
    events
}

/// `pg_class`, `pg_catalog.pg_constraint`, `information_schema.tables`: read by checks in DO
/// blocks, never locked against a migration.
fn is_system_catalog(name: &str) -> bool {
    name.starts_with("pg_") || name.starts_with("information_schema.")
}

fn alter_index(node: &SyntaxNode, d: &mut Described) {
    d.kind = "ALTER INDEX";
    let Some(index) = child(node, K::INDEX_REF).map(|n| name_text(&n)) else {
        return;
    };
    if let Some(attached) =
        child(node, K::ATTACH_INDEX_PARTITION).and_then(|n| child(&n, K::INDEX_REF))
    {
        push(d, Shape::AttachIndexParent, index.clone(), span(node));
        push(d, Shape::AttachIndexChild, name_text(&attached), span(node));
    }
    if let Some(rename) = node.children().find(|n| n.kind() == K::INDEX_RENAME_TO) {
        d.effects.push(Effect::RenameIndex {
            from: index.clone(),
            to: relation_in(&rename).unwrap_or_default(),
        });
        d.actions.push(Action {
            shape: Shape::RenameIndex,
            relation: index.clone(),
            span: span(&rename),
            detail: Detail::Rename {
                what: "index",
                from: index,
                to: relation_in(&rename).unwrap_or_default(),
            },
            mode_override: None,
            on_created: false,
            conditional: false,
        });
    }
}
