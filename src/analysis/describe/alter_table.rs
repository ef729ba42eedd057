//! ALTER TABLE: each action (columns, constraints, partitions, storage, renames) as lock-model
//! shapes with the details the rules need.

use std::ops::Range;

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Action, ConstraintKind, DefaultKind, Described, Detail, Effect};
use crate::analysis::model::{Shape, at_least};
use crate::analysis::naming::{name_addition, object_name};
use crate::analysis::syntax::*;
use SyntaxKind as K;

/// Names of storage parameters whose change takes only SHARE UPDATE EXCLUSIVE.
fn light_option(name: &str) -> bool {
    let name = name.trim();
    name == "fillfactor"
        || name == "parallel_workers"
        || name.starts_with("autovacuum_")
        || name.starts_with("toast.")
        || name.starts_with("toast_tuple_target")
        || name == "log_autovacuum_min_duration"
        || name == "vacuum_truncate"
        || name == "vacuum_index_cleanup"
        || name == "user_catalog_table"
}

/// Describes an `ALTER TABLE` statement's actions.
pub(super) fn alter_table(node: &SyntaxNode, pg_version: u32, d: &mut Described) {
    d.kind = "ALTER TABLE";
    let Some(target) = child(node, K::TABLE_RELATION_NAME) else {
        return;
    };
    let Some(table) = relation_in(&target) else {
        return;
    };
    if has_token(&target, K::ONLY_KW) {
        d.only.push(table.clone());
    }
    if child(node, K::IF_EXISTS).is_some() {
        d.only_if_exists = Some(table.clone());
    }
    for action in node.children() {
        let action_span = span(&action);
        let simple = |shape: Shape| Action {
            shape,
            relation: table.clone(),
            span: action_span.clone(),
            detail: Detail::None,
            mode_override: None,
            on_created: false,
            conditional: false,
        };
        match action.kind() {
            K::ADD_COLUMN => add_column(&action, &table, pg_version, d),
            K::DROP_COLUMN => {
                let column = child(&action, K::COLUMN_NAME_REF)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                d.effects.push(Effect::DropColumn {
                    table: table.clone(),
                    column: column.clone(),
                });
                d.actions.push(Action {
                    detail: Detail::Column { column },
                    ..simple(Shape::DropColumn)
                });
            }
            K::ALTER_COLUMN => alter_column(&action, &table, d),
            K::ADD_CONSTRAINT => {
                if let Some(constraint) = action.children().next() {
                    add_constraint(&constraint, &table, None, d);
                }
            }
            K::VALIDATE_CONSTRAINT => {
                let name = child(&action, K::CONSTRAINT_NAME_REF)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                d.actions.push(Action {
                    detail: Detail::Validate { name },
                    ..simple(Shape::ValidateConstraint)
                });
            }
            K::DROP_CONSTRAINT => {
                let name = child(&action, K::CONSTRAINT_NAME_REF)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                d.actions.push(Action {
                    detail: Detail::DropConstraint { name },
                    ..simple(Shape::DropConstraint)
                });
            }
            K::ALTER_CONSTRAINT => d.actions.push(simple(Shape::AlterConstraint)),
            K::RENAME_COLUMN => {
                let from = child(&action, K::COLUMN_NAME_REF)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                let to = child(&action, K::COLUMN_NAME)
                    .map(|n| name_text(&n))
                    .unwrap_or_default();
                d.effects.push(Effect::RenameColumn {
                    table: table.clone(),
                    from: from.clone(),
                    to: to.clone(),
                });
                d.actions.push(Action {
                    detail: Detail::Rename {
                        what: "column",
                        from,
                        to,
                    },
                    ..simple(Shape::Rename)
                });
            }
            K::TABLE_RENAME_TO => {
                let mut to = relation_in(&action).unwrap_or_default();
                // RENAME TO keeps the schema.
                if let Some((schema, _)) = table.rsplit_once('.')
                    && !to.contains('.')
                {
                    to = format!("{schema}.{to}");
                }
                d.effects.push(Effect::RenameRelation {
                    from: table.clone(),
                    to: to.clone(),
                });
                d.actions.push(Action {
                    detail: Detail::Rename {
                        what: "table",
                        from: table.clone(),
                        to,
                    },
                    ..simple(Shape::Rename)
                });
            }
            K::RENAME_CONSTRAINT => {
                let from = child(&action, K::CONSTRAINT_NAME_REF).map(|n| name_text(&n));
                let to = child(&action, K::CONSTRAINT_NAME).map(|n| name_text(&n));
                if let (Some(from), Some(to)) = (from, to) {
                    d.effects.push(Effect::RenameConstraint {
                        table: table.clone(),
                        from,
                        to,
                    });
                }
                d.actions.push(simple(Shape::Rename));
            }
            K::ENABLE_TRIGGER
            | K::DISABLE_TRIGGER
            | K::ENABLE_REPLICA_TRIGGER
            | K::ENABLE_ALWAYS_TRIGGER => d.actions.push(simple(Shape::ToggleTrigger)),
            K::CLUSTER_ON | K::SET_WITHOUT_CLUSTER => d.actions.push(simple(Shape::ClusterOn)),
            K::SET_OPTIONS | K::RESET_OPTIONS => {
                let all_light = child(&action, K::ATTRIBUTE_LIST).is_some_and(|list| {
                    let names: Vec<String> = list
                        .children()
                        .map(|opt| {
                            opt.children()
                                .next()
                                .map(|n| squashed_text(&n))
                                .unwrap_or_default()
                        })
                        .collect();
                    !names.is_empty() && names.iter().all(|n| light_option(n))
                });
                d.actions.push(simple(if all_light {
                    Shape::SetLightOptions
                } else {
                    Shape::SetOtherOptions
                }));
            }
            K::SET_TABLESPACE => d.actions.push(simple(Shape::SetTablespace)),
            K::SET_LOGGED | K::SET_UNLOGGED | K::SET_ACCESS_METHOD => {
                d.actions.push(simple(Shape::SetPersistence))
            }
            K::ATTACH_PARTITION => {
                d.actions.push(simple(Shape::AttachPartitionParent));
                if let Some(child_table) = child(&action, K::TABLE_NAME_REF).map(|n| name_text(&n))
                {
                    d.effects.push(Effect::PartitionOf {
                        table: child_table.clone(),
                        parent: Some(table.clone()),
                        default: child(&action, K::PARTITION_DEFAULT).is_some(),
                    });
                    d.actions.push(Action {
                        relation: child_table,
                        ..simple(Shape::AttachPartitionChild)
                    });
                }
            }
            K::DETACH_PARTITION => {
                let concurrently = child(&action, K::DETACH_CONCURRENTLY).is_some();
                let finalize = child(&action, K::DETACH_FINALIZE).is_some();
                let shape = if concurrently || finalize {
                    Shape::DetachPartitionConcurrently
                } else {
                    Shape::DetachPartition
                };
                if concurrently {
                    d.no_transaction_block = Some("DETACH PARTITION CONCURRENTLY");
                    d.newer(
                        14,
                        "DETACH PARTITION … CONCURRENTLY",
                        "DETACH PARTITION with a short lock_timeout, retried until it gets its \
                         ACCESS EXCLUSIVE lock",
                        &action,
                    );
                }
                let insert_at = child(&action, K::TABLE_NAME_REF)
                    .map(|n| span(&n).end)
                    .unwrap_or(action_span.end);
                // Findings are the partitioned table's action's (one per DETACH); the
                // partition's action carries its lock.
                d.actions.push(Action {
                    detail: Detail::Concurrently { insert_at },
                    ..simple(shape)
                });
                if let Some(part) = child(&action, K::TABLE_NAME_REF).map(|n| name_text(&n)) {
                    // FINALIZE completes a detach begun earlier: nothing changes in the model.
                    if !finalize {
                        d.effects.push(Effect::PartitionOf {
                            table: part.clone(),
                            parent: None,
                            default: false,
                        });
                    }
                    d.actions.push(Action {
                        relation: part,
                        ..simple(shape)
                    });
                }
            }
            K::OWNER_TO
            | K::SET_SCHEMA
            | K::REPLICA_IDENTITY
            | K::INHERIT_TABLE
            | K::NO_INHERIT_TABLE
            | K::OF_TYPE
            | K::NOT_OF
            | K::FORCE_RLS
            | K::NO_FORCE_RLS
            | K::ENABLE_RLS
            | K::DISABLE_RLS
            | K::ENABLE_RULE
            | K::DISABLE_RULE
            | K::ENABLE_REPLICA_RULE
            | K::ENABLE_ALWAYS_RULE
            | K::SET_WITHOUT_OIDS => d.actions.push(simple(Shape::AlterTableMetadata)),
            _ => {}
        }
    }
}

/// Functions whose results are the same within a statement (STABLE or IMMUTABLE): a default using
/// only these is evaluated once, so ADD COLUMN stays metadata-only on 11+.
const NON_VOLATILE_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "transaction_timestamp",
    "statement_timestamp",
    "lower",
    "upper",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "concat",
    "concat_ws",
    "length",
    "abs",
    "round",
    "to_jsonb",
    "to_json",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "json_build_array",
    "array",
    "make_date",
    "make_timestamp",
    "make_timestamptz",
    "make_interval",
    "current_setting",
    "current_user",
    "session_user",
    "current_schema",
    "to_timestamp",
    "to_date",
    "to_char",
    "md5",
    "trim",
    "btrim",
    "replace",
    "substring",
    "format",
    "interval",
];

/// Whether a default expression is volatile (evaluated per row, forcing a rewrite).
fn default_kind(expr: &SyntaxNode) -> DefaultKind {
    for call in expr.descendants().filter(|n| n.kind() == K::CALL_EXPR) {
        let name = call
            .children()
            .next()
            .map(|n| name_text(&n))
            .unwrap_or_default();
        let bare = name.rsplit('.').next().unwrap_or(&name);
        if !NON_VOLATILE_FUNCTIONS.contains(&bare) {
            return DefaultKind::Volatile;
        }
    }
    DefaultKind::NonVolatile
}

const SERIAL_TYPES: &[&str] = &[
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
];

pub(super) fn column_type_text(node: &SyntaxNode) -> Option<String> {
    node.children()
        .find(|n| {
            matches!(
                n.kind(),
                K::PATH_TYPE
                    | K::VARCHAR_TYPE
                    | K::CHARACTER_TYPE
                    | K::BIT_TYPE
                    | K::DOUBLE_TYPE
                    | K::TIME_TYPE
                    | K::TIMESTAMP_TYPE
                    | K::INTERVAL_TYPE
                    | K::ARRAY_TYPE
            )
        })
        .map(|n| squashed_text(&n))
}

/// Whether a column definition is NOT NULL by its type or generation alone: a serial column,
/// or an identity column.
pub(super) fn implied_not_null(column: &SyntaxNode) -> bool {
    column_type_text(column).is_some_and(|ty| SERIAL_TYPES.contains(&ty.as_str()))
        || descendant(column, K::GENERATED_IDENTITY).is_some()
}

fn add_column(action: &SyntaxNode, table: &str, pg_version: u32, d: &mut Described) {
    let column = child(action, K::COLUMN_NAME)
        .map(|n| name_text(&n))
        .unwrap_or_default();
    let ty = column_type_text(action).unwrap_or_default();
    let mut not_null = false;
    let mut default = DefaultKind::None;
    let mut rewrite_reason = None;
    if SERIAL_TYPES.contains(&ty.as_str()) {
        rewrite_reason = Some("a serial column fills every row from a sequence");
    }
    for constraint in action.children() {
        match constraint.kind() {
            K::NOT_NULL_CONSTRAINT => not_null = true,
            K::DEFAULT_CONSTRAINT => {
                default = constraint
                    .children()
                    .find(|n| n.kind() != K::CONSTRAINT_NAME_CLAUSE)
                    .map(|e| default_kind(&e))
                    .unwrap_or(DefaultKind::NonVolatile);
            }
            K::GENERATED_CONSTRAINT => {
                if descendant(&constraint, K::GENERATED_IDENTITY).is_some() {
                    rewrite_reason = Some("an identity column fills every row from a sequence");
                } else if let Some(generated) = descendant(&constraint, K::GENERATED_STORED) {
                    let is_virtual = child(&generated, K::VIRTUAL).is_some()
                        || (child(&generated, K::STORED).is_none() && at_least(pg_version, 18));
                    if !is_virtual {
                        rewrite_reason = Some("a STORED generated column computes every row");
                    }
                }
            }
            K::PRIMARY_KEY_CONSTRAINT
            | K::UNIQUE_CONSTRAINT
            | K::CHECK_CONSTRAINT
            | K::REFERENCES_CONSTRAINT
            | K::EXCLUDE_CONSTRAINT => {
                if constraint.kind() == K::PRIMARY_KEY_CONSTRAINT {
                    not_null = true;
                }
                add_constraint(&constraint, table, Some(&column), d);
            }
            _ => {}
        }
    }
    let shape = if rewrite_reason.is_some() || default == DefaultKind::Volatile {
        Shape::AddColumnRewrite
    } else if default == DefaultKind::NonVolatile {
        Shape::AddColumnDefault
    } else {
        Shape::AddColumn
    };
    // The column action comes before its inline constraints in the findings.
    let position = d
        .actions
        .iter()
        .rposition(|a| !span_within(&a.span, &span(action)))
        .map(|p| p + 1)
        .unwrap_or(0);
    d.actions.insert(
        position.min(d.actions.len()),
        Action {
            shape,
            relation: table.to_string(),
            span: span(action),
            detail: Detail::AddColumn {
                column: column.clone(),
                not_null,
                default,
                rewrite_reason,
            },
            mode_override: None,
            on_created: false,
            conditional: false,
        },
    );
    d.effects.push(Effect::AddColumn {
        table: table.to_string(),
        column: column.clone(),
        ty,
        if_not_exists: child(action, K::IF_NOT_EXISTS).is_some(),
    });
    if not_null || implied_not_null(action) {
        d.effects.push(Effect::NotNull {
            table: table.to_string(),
            columns: vec![column],
            on: true,
        });
    }
    let if_not_exists_at = token(action, K::COLUMN_KW)
        .or_else(|| token(action, K::ADD_KW))
        .map(|t| token_span(&t).end)
        .unwrap_or(0);
    // The first ADD COLUMN without IF NOT EXISTS decides.
    if !matches!(d.robustness, Some((false, _))) {
        d.robustness = Some((child(action, K::IF_NOT_EXISTS).is_some(), if_not_exists_at));
    }
}

fn span_within(inner: &Range<usize>, outer: &Range<usize>) -> bool {
    inner.start >= outer.start && inner.end <= outer.end
}

/// The column a constraint proves non-null, from its definition as `pg_get_constraintdef` writes
/// it (`CHECK ((col IS NOT NULL))`): the same reading as a `CHECK` added by a migration.
pub(crate) fn not_null_proven_by(definition: &str) -> Option<String> {
    let parse = squawk_syntax::SourceFile::parse(&format!("ALTER TABLE t ADD {definition};"));
    let check = parse
        .syntax_node()
        .descendants()
        .find(|n| n.kind() == K::CHECK_CONSTRAINT)?;
    not_null_check_column(&check)
}

/// `CHECK (col IS NOT NULL)`: the column, when the expression is exactly that.
fn not_null_check_column(check: &SyntaxNode) -> Option<String> {
    let mut expr = check
        .children()
        .find(|n| !matches!(n.kind(), K::CONSTRAINT_NAME_CLAUSE | K::NOT_VALID))?;
    // `CHECK ((col IS NOT NULL))`, as `pg_get_constraintdef` writes it.
    while expr.kind() == K::PAREN_EXPR {
        expr = expr.children().next()?;
    }
    let text = squashed_text(&expr);
    let column = text
        .strip_suffix(" is not null")
        .or_else(|| text.strip_suffix(" isnotnull"))?;
    let column = column.trim_start_matches('(').trim_end_matches(')');
    (!column.contains(' ')).then(|| fold_ident(column))
}

fn add_constraint(
    constraint: &SyntaxNode,
    table: &str,
    inline_column: Option<&str>,
    d: &mut Described,
) {
    let inline = inline_column.is_some();
    // Its own columns: the column it is written on, or the ones it lists.
    let own_columns = || match inline_column {
        Some(column) => vec![column.to_string()],
        None => super::constraint_columns(constraint),
    };
    let name = child(constraint, K::CONSTRAINT_NAME_CLAUSE)
        .and_then(|c| child(&c, K::CONSTRAINT_NAME))
        .map(|n| name_text(&n));
    let not_valid = has_descendant(constraint, &[K::NOT_VALID]);
    let insert_at = span(constraint).end;
    let using_index = child_any(constraint, &[K::USING_INDEX, K::USING_INDEX_NAME]).is_some();
    let mut detail = Detail::Constraint {
        name: name.clone(),
        not_valid,
        insert_at,
        not_null_column: None,
        referenced: None,
        inline,
        primary_key: constraint.kind() == K::PRIMARY_KEY_CONSTRAINT,
    };
    let kind;
    let shape = match constraint.kind() {
        K::CHECK_CONSTRAINT => {
            let column = not_null_check_column(constraint);
            kind = column
                .clone()
                .map(ConstraintKind::NotNullCheck)
                .unwrap_or(ConstraintKind::Other);
            if let Detail::Constraint {
                not_null_column, ..
            } = &mut detail
            {
                *not_null_column = column;
            }
            if not_valid {
                Shape::AddCheckNotValid
            } else {
                Shape::AddCheck
            }
        }
        K::FOREIGN_KEY_CONSTRAINT | K::REFERENCES_CONSTRAINT => {
            let referenced = child(constraint, K::TABLE_NAME_REF)
                .map(|n| name_text(&n))
                .unwrap_or_default();
            kind = ConstraintKind::ForeignKey(
                referenced.clone(),
                own_columns(),
                super::referenced_columns(constraint),
                super::ref_actions(constraint),
            );
            if let Detail::Constraint { referenced: r, .. } = &mut detail {
                *r = Some(referenced.clone());
            }
            if referenced != table {
                d.actions.push(Action {
                    shape: Shape::ForeignKeyReferenced,
                    relation: referenced,
                    span: span(constraint),
                    detail: Detail::None,
                    mode_override: None,
                    on_created: false,
                    conditional: false,
                });
            }
            if not_valid {
                Shape::AddForeignKeyNotValid
            } else {
                Shape::AddForeignKey
            }
        }
        K::UNIQUE_CONSTRAINT | K::PRIMARY_KEY_CONSTRAINT => {
            if constraint.kind() == K::UNIQUE_CONSTRAINT {
                super::nulls_not_distinct(constraint, d);
            }
            kind = if constraint.kind() == K::PRIMARY_KEY_CONSTRAINT {
                ConstraintKind::PrimaryKey(own_columns())
            } else {
                ConstraintKind::Other
            };
            if constraint.kind() == K::PRIMARY_KEY_CONSTRAINT && !inline {
                let columns = own_columns();
                if !columns.is_empty() {
                    d.effects.push(Effect::NotNull {
                        table: table.to_string(),
                        columns,
                        on: true,
                    });
                }
            }
            if using_index {
                Shape::AddConstraintUsingIndex
            } else {
                Shape::AddIndexConstraint
            }
        }
        K::EXCLUDE_CONSTRAINT => {
            kind = ConstraintKind::Other;
            Shape::AddExclude
        }
        // `ADD [CONSTRAINT c] NOT NULL col` (PostgreSQL 18): SET NOT NULL, with a name.
        K::NOT_NULL_CONSTRAINT if !inline => {
            kind = ConstraintKind::Other;
            d.newer(
                18,
                "ADD CONSTRAINT … NOT NULL column (a named NOT NULL constraint)",
                "ALTER TABLE … ALTER COLUMN … SET NOT NULL (after a CHECK (column IS NOT NULL) NOT \
                 VALID, validated, so it skips the scan)",
                constraint,
            );
            let column = child(constraint, K::COLUMN_NAME_REF)
                .map(|n| name_text(&n))
                .unwrap_or_default();
            d.effects.push(Effect::NotNull {
                table: table.to_string(),
                columns: vec![column.clone()],
                on: true,
            });
            detail = Detail::Column { column };
            Shape::SetNotNull
        }
        _ => return,
    };
    let bare = table.rsplit('.').next().unwrap_or(table);
    let name = name.or_else(|| match &kind {
        ConstraintKind::ForeignKey(_, columns, _, _) if !columns.is_empty() => {
            Some(object_name(bare, Some(&name_addition(columns)), "fkey"))
        }
        // (`… USING INDEX i` without a name takes the index's.)
        ConstraintKind::PrimaryKey(_) if !using_index => Some(object_name(bare, None, "pkey")),
        _ if constraint.kind() == K::UNIQUE_CONSTRAINT && !using_index => {
            let columns = own_columns();
            (!columns.is_empty()).then(|| object_name(bare, Some(&name_addition(&columns)), "key"))
        }
        _ => None,
    });
    if matches!(shape, Shape::AddIndexConstraint)
        && let Some(index) = name.clone()
    {
        d.effects.push(Effect::CreateIndex {
            name: index,
            table: table.to_string(),
            if_not_exists: false,
        });
    }
    if let Some(name) = name {
        d.constraints.push((name, table.to_string(), kind));
    }
    let position = if shape == Shape::AddForeignKey || shape == Shape::AddForeignKeyNotValid {
        // Keep the referencing table's action before the referenced table's.
        d.actions.len().saturating_sub(1).min(d.actions.len())
    } else {
        d.actions.len()
    };
    let position = if matches!(shape, Shape::AddForeignKey | Shape::AddForeignKeyNotValid)
        && d.actions
            .last()
            .is_some_and(|a| a.shape == Shape::ForeignKeyReferenced)
    {
        position
    } else {
        d.actions.len()
    };
    d.actions.insert(
        position,
        Action {
            shape,
            relation: table.to_string(),
            span: span(constraint),
            detail,
            mode_override: None,
            on_created: false,
            conditional: false,
        },
    );
}

/// Whether a `USING` expression is the column itself, and nothing more.
fn names_only(using: &SyntaxNode, column: &str) -> bool {
    let mut exprs = using.children();
    match (exprs.next(), exprs.next()) {
        (Some(expr), None) => expr.kind() == K::NAME_REF && name_text(&expr) == column,
        _ => false,
    }
}

fn alter_column(action: &SyntaxNode, table: &str, d: &mut Described) {
    let column = child(action, K::COLUMN_NAME_REF)
        .map(|n| name_text(&n))
        .unwrap_or_default();
    let Some(option) = action.children().find(|n| n.kind() != K::COLUMN_NAME_REF) else {
        return;
    };
    let mut detail = Detail::Column {
        column: column.clone(),
    };
    let shape = match option.kind() {
        K::SET_TYPE => {
            let new_type = column_type_text(&option).unwrap_or_default();
            // `USING column` is the conversion the server makes without one.
            let has_using =
                child(&option, K::USING_EXPR).is_some_and(|using| !names_only(&using, &column));
            let has_collate = child(&option, K::COLLATE).is_some();
            d.effects.push(Effect::SetType {
                table: table.to_string(),
                column: column.clone(),
                ty: new_type.clone(),
            });
            detail = Detail::SetType {
                column,
                new_type,
                plain: !has_using && !has_collate,
            };
            Shape::AlterColumnType
        }
        K::SET_NOT_NULL | K::DROP_NOT_NULL => {
            let on = option.kind() == K::SET_NOT_NULL;
            d.effects.push(Effect::NotNull {
                table: table.to_string(),
                columns: vec![column.clone()],
                on,
            });
            if on {
                Shape::SetNotNull
            } else {
                Shape::AlterColumnMetadata
            }
        }
        K::SET_DEFAULT
        | K::DROP_DEFAULT
        | K::DROP_IDENTITY
        | K::DROP_EXPRESSION
        | K::ADD_GENERATED
        | K::SET_GENERATED
        | K::SET_GENERATED_OPTIONS
        | K::SET_SEQUENCE_OPTION
        | K::RESTART
        | K::INHERIT
        | K::NO_INHERIT => Shape::AlterColumnMetadata,
        K::SET_EXPRESSION => Shape::AlterColumnType,
        K::SET_STATISTICS | K::SET_OPTIONS | K::RESET_OPTIONS | K::SET_OPTIONS_LIST => {
            Shape::SetStatistics
        }
        K::SET_STORAGE | K::SET_COMPRESSION => Shape::SetStorage,
        _ => Shape::AlterColumnMetadata,
    };
    d.actions.push(Action {
        shape,
        relation: table.to_string(),
        span: span(action),
        detail,
        mode_override: None,
        on_created: false,
        conditional: false,
    });
}
