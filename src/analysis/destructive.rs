//! Statements that destroy data, read from squawk's parse tree (never from text): `DROP TABLE`,
//! `ALTER TABLE … DROP COLUMN`, `TRUNCATE`, `ALTER COLUMN … TYPE` (lossy or not is decided once
//! the column's current type is known: [`type_change_keeps_values`]), and `DELETE` / `UPDATE`
//! without a `WHERE`, also inside a `WITH` clause or a `DO` block's static SQL.
//!
//! ```
//! use lockstep::analysis::destructive::{Destruction, find};
//! let found = find("ALTER TABLE app.users DROP COLUMN email;");
//! assert!(matches!(&found[0], Destruction::DropColumn { table, column, .. }
//!     if table.to_string() == "app.users" && column == "email"));
//! assert!(find("DELETE FROM users WHERE id = 1").is_empty());
//! ```

use std::fmt;

use serde::Serialize;
use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SourceFile, SyntaxKind, SyntaxNode};

use super::syntax::{child, child_any, descendant, has_descendant, name_parts};
use SyntaxKind as K;

/// A relation's name as written, each part folded as PostgreSQL folds it; without a schema it
/// resolves through the session's `search_path`, as the statement does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct QualifiedName {
    /// The schema, when written.
    pub schema: Option<String>,
    /// The relation.
    pub name: String,
}

impl QualifiedName {
    fn from_parts(mut parts: Vec<String>) -> Option<QualifiedName> {
        let name = parts.pop().filter(|n| !n.is_empty())?;
        Some(QualifiedName {
            schema: parts.pop(),
            name,
        })
    }

    /// The name quoted for SQL: `"app"."users"`.
    pub fn sql(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// An identifier quoted for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One way a statement destroys data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destruction {
    /// `DROP TABLE`: every row of the table (and, partitioned, of its partitions).
    DropTable {
        /// The table.
        table: QualifiedName,
    },
    /// `TRUNCATE`: every row; with `CASCADE`, also of the tables referencing it.
    Truncate {
        /// The table.
        table: QualifiedName,
        /// `ONLY` written: not its inheritance children.
        only: bool,
        /// `CASCADE` written.
        cascade: bool,
    },
    /// `ALTER TABLE … DROP COLUMN`: the column's values.
    DropColumn {
        /// The table.
        table: QualifiedName,
        /// The column.
        column: String,
    },
    /// `ALTER TABLE … ALTER COLUMN … TYPE`: the column's values, when the change can lose
    /// information (see [`type_change_keeps_values`]).
    ChangeType {
        /// The table.
        table: QualifiedName,
        /// The column.
        column: String,
        /// The new type as written.
        new_type: String,
        /// A `USING` expression is written (its result is not judged: the values are kept).
        using: bool,
    },
    /// `DELETE` without `WHERE`: every row.
    DeleteAll {
        /// The table.
        table: QualifiedName,
        /// `ONLY` written.
        only: bool,
    },
    /// `UPDATE` without `WHERE`: every row's old values.
    UpdateAll {
        /// The table.
        table: QualifiedName,
        /// `ONLY` written.
        only: bool,
    },
}

impl Destruction {
    /// The table it destroys data of.
    pub fn table(&self) -> &QualifiedName {
        match self {
            Destruction::DropTable { table }
            | Destruction::Truncate { table, .. }
            | Destruction::DropColumn { table, .. }
            | Destruction::ChangeType { table, .. }
            | Destruction::DeleteAll { table, .. }
            | Destruction::UpdateAll { table, .. } => table,
        }
    }

    /// The column whose values it destroys, for the column-level kinds.
    pub fn column(&self) -> Option<&str> {
        match self {
            Destruction::DropColumn { column, .. } | Destruction::ChangeType { column, .. } => {
                Some(column)
            }
            _ => None,
        }
    }

    /// What it does, in a few words: ``DROP COLUMN `users.email` ``.
    pub fn describe(&self) -> String {
        match self {
            Destruction::DropTable { table } => format!("DROP TABLE `{table}`"),
            Destruction::Truncate { table, cascade, .. } => format!(
                "TRUNCATE `{table}`{}",
                if *cascade { " CASCADE" } else { "" }
            ),
            Destruction::DropColumn { table, column } => {
                format!("DROP COLUMN `{table}.{column}`")
            }
            Destruction::ChangeType {
                table,
                column,
                new_type,
                ..
            } => format!("ALTER COLUMN `{table}.{column}` TYPE {new_type}"),
            Destruction::DeleteAll { table, .. } => format!("DELETE FROM `{table}` without WHERE"),
            Destruction::UpdateAll { table, .. } => format!("UPDATE `{table}` without WHERE"),
        }
    }
}

/// Whether changing a column of `old_type` (as `format_type` writes it) to `new_type` keeps
/// every value: a widening such as `varchar(50)` → `varchar(100)` or `text`, `int` → `bigint`,
/// more numeric precision. A `USING` expression, or anything else, counts as lossy.
pub fn type_change_keeps_values(old_type: &str, new_type: &str, using: bool) -> bool {
    !using && super::coercion::keeps_every_value(old_type, new_type)
}

/// The ways the statements of `sql` (one statement or several) destroy data, in order.
pub fn find(sql: &str) -> Vec<Destruction> {
    let parse = SourceFile::parse(sql);
    let mut found = Vec::new();
    for node in parse.syntax_node().children() {
        statement(&node, &mut found);
    }
    found
}

fn statement(node: &SyntaxNode, found: &mut Vec<Destruction>) {
    match node.kind() {
        K::DROP_TABLE => {
            for target in node
                .children()
                .filter(|c| matches!(c.kind(), K::TABLE_NAME_REF | K::PATH_REF))
            {
                if let Some(table) = QualifiedName::from_parts(name_parts(&target)) {
                    found.push(Destruction::DropTable { table });
                }
            }
        }
        K::TRUNCATE => {
            let cascade = has_descendant(node, &[K::CASCADE]);
            for relation in child(node, K::TABLE_LIST)
                .into_iter()
                .flat_map(|list| list.children().collect::<Vec<_>>())
            {
                if let Some(table) = relation_name(&relation) {
                    found.push(Destruction::Truncate {
                        table,
                        only: has_only(&relation),
                        cascade,
                    });
                }
            }
        }
        K::ALTER_TABLE => alter_table(node, found),
        K::DELETE | K::UPDATE => dml(node, found),
        K::SELECT | K::INSERT | K::MERGE => {}
        K::DO => {
            if let Some(body) = ast::Do::cast(node.clone()).and_then(|block| block.plpgsql()) {
                for inner in body
                    .syntax()
                    .descendants()
                    .filter(|n| n.kind() == K::PLPGSQL_EXEC_SQL_STMT)
                {
                    for part in inner.children() {
                        statement(&part, found);
                    }
                }
            }
            return;
        }
        _ => return,
    }
    // Data-modifying statements in a WITH clause run with the statement.
    if let Some(with) = child(node, K::WITH_CLAUSE) {
        for dml_node in with
            .descendants()
            .filter(|n| matches!(n.kind(), K::DELETE | K::UPDATE))
        {
            dml(&dml_node, found);
        }
    }
}

fn alter_table(node: &SyntaxNode, found: &mut Vec<Destruction>) {
    let Some(table) = child(node, K::TABLE_RELATION_NAME).and_then(|n| relation_name(&n)) else {
        return;
    };
    for action in node.children() {
        let column = || {
            child(&action, K::COLUMN_NAME_REF)
                .and_then(|n| name_parts(&n).pop())
                .unwrap_or_default()
        };
        match action.kind() {
            K::DROP_COLUMN => found.push(Destruction::DropColumn {
                table: table.clone(),
                column: column(),
            }),
            K::ALTER_COLUMN => {
                if let Some(set_type) = child(&action, K::SET_TYPE) {
                    let new_type = set_type
                        .children()
                        .find(|n| !matches!(n.kind(), K::USING_EXPR | K::COLLATE))
                        .map(|n| super::syntax::squashed_text(&n))
                        .unwrap_or_default();
                    found.push(Destruction::ChangeType {
                        table: table.clone(),
                        column: column(),
                        new_type,
                        using: child(&set_type, K::USING_EXPR).is_some(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// A `DELETE` or `UPDATE` without `WHERE` (a `WHERE CURRENT OF` has one).
fn dml(node: &SyntaxNode, found: &mut Vec<Destruction>) {
    let (target, filtered) = match node.kind() {
        K::DELETE => {
            let Some(delete) = ast::Delete::cast(node.clone()) else {
                return;
            };
            (
                delete.relation_name(),
                delete.where_clause_or_current_of().is_some(),
            )
        }
        _ => {
            let Some(update) = ast::Update::cast(node.clone()) else {
                return;
            };
            (
                update.relation_name(),
                update.where_clause_or_current_of().is_some(),
            )
        }
    };
    let Some(target) = target.filter(|_| !filtered) else {
        return;
    };
    let Some(table) = relation_name(target.syntax()) else {
        return;
    };
    let only = target.only_token().is_some();
    found.push(if node.kind() == K::DELETE {
        Destruction::DeleteAll { table, only }
    } else {
        Destruction::UpdateAll { table, only }
    });
}

/// The relation a relation node names.
fn relation_name(node: &SyntaxNode) -> Option<QualifiedName> {
    let name = if matches!(
        node.kind(),
        K::TABLE_NAME_REF | K::RELATION_NAME_REF | K::PATH_REF | K::PATH
    ) {
        node.clone()
    } else {
        child_any(
            node,
            &[
                K::RELATION_NAME_REF,
                K::TABLE_NAME_REF,
                K::PATH_REF,
                K::PATH,
            ],
        )
        .or_else(|| descendant(node, K::PATH_REF))?
    };
    QualifiedName::from_parts(name_parts(&name))
}

fn has_only(node: &SyntaxNode) -> bool {
    node.descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .any(|t| t.kind() == K::ONLY_KW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str) -> QualifiedName {
        QualifiedName {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    #[test]
    fn finds_every_destructive_kind() {
        assert_eq!(
            find("DROP TABLE IF EXISTS a, \"Sales\".\"Q1.total\" CASCADE"),
            vec![
                Destruction::DropTable {
                    table: table(None, "a")
                },
                Destruction::DropTable {
                    table: table(Some("Sales"), "Q1.total")
                },
            ]
        );
        assert_eq!(
            find("TRUNCATE ONLY app.t, u CASCADE"),
            vec![
                Destruction::Truncate {
                    table: table(Some("app"), "t"),
                    only: true,
                    cascade: true
                },
                Destruction::Truncate {
                    table: table(None, "u"),
                    only: false,
                    cascade: true
                },
            ]
        );
        assert_eq!(
            find(
                "ALTER TABLE ONLY users DROP COLUMN IF EXISTS \"Email\", \
                 ALTER COLUMN name TYPE varchar(10) USING left(name, 10), ADD COLUMN x int"
            ),
            vec![
                Destruction::DropColumn {
                    table: table(None, "users"),
                    column: "Email".into()
                },
                Destruction::ChangeType {
                    table: table(None, "users"),
                    column: "name".into(),
                    new_type: "varchar(10)".into(),
                    using: true
                },
            ]
        );
        assert_eq!(
            find("DELETE FROM ONLY logs; UPDATE users SET name = lower(name)"),
            vec![
                Destruction::DeleteAll {
                    table: table(None, "logs"),
                    only: true
                },
                Destruction::UpdateAll {
                    table: table(None, "users"),
                    only: false
                },
            ]
        );
    }

    #[test]
    fn filtered_changes_and_function_bodies_are_not_destructive() {
        for sql in [
            "DELETE FROM logs WHERE at < now() - interval '1 year'",
            "UPDATE users SET name = 'x' WHERE id = 1",
            "CREATE FUNCTION purge() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM logs; END",
            "DROP VIEW v",
            "DROP INDEX users_email_idx",
            "ALTER TABLE users ADD COLUMN email text",
            "SELECT 1",
        ] {
            assert_eq!(find(sql), vec![], "{sql}");
        }
    }

    #[test]
    fn dml_in_a_with_clause_or_a_do_block_counts() {
        assert_eq!(
            find(
                "WITH gone AS (DELETE FROM logs RETURNING *) INSERT INTO archive SELECT * FROM gone"
            ),
            vec![Destruction::DeleteAll {
                table: table(None, "logs"),
                only: false
            }]
        );
        assert_eq!(
            find("DO $$ BEGIN DELETE FROM logs; END $$"),
            vec![Destruction::DeleteAll {
                table: table(None, "logs"),
                only: false
            }]
        );
    }

    #[test]
    fn type_changes_are_judged_with_the_old_type() {
        assert!(type_change_keeps_values("integer", "bigint", false));
        assert!(!type_change_keeps_values("integer", "bigint", true));
        assert!(!type_change_keeps_values("text", "varchar(10)", false));
    }
}
