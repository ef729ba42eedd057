//! The names PostgreSQL chooses for what a migration creates without naming it: an index
//! (`CREATE INDEX ON t (lower(name))` is `t_lower_idx`), a primary key or a foreign key. The
//! rules of the server's `ChooseIndexColumnNames`, `ChooseIndexNameAddition`, `makeObjectName`
//! and `ChooseRelationName`, so a later `DROP INDEX t_lower_idx` finds its table.

use squawk_syntax::{SyntaxKind as K, SyntaxNode};

use super::syntax::{fold_ident, name_text};

/// The longest name PostgreSQL keeps, in bytes (`NAMEDATALEN - 1`).
const MAX_NAME: usize = 63;

/// The longest prefix of `text` of at most `bytes` bytes that ends on a character boundary.
fn clip(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `name1_name2_label`, name1 and name2 shortened (the longer first) so the whole fits in
/// [`MAX_NAME`] bytes, as the server's `makeObjectName` does.
pub(crate) fn object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = name2.map_or(0, |_| 1) + label.len() + 1;
    let available = MAX_NAME.saturating_sub(overhead);
    let (mut chars1, mut chars2) = (name1.len(), name2.map_or(0, str::len));
    while chars1 + chars2 > available {
        if chars1 > chars2 {
            chars1 -= 1;
        } else {
            chars2 -= 1;
        }
    }
    let mut out = clip(name1, chars1).to_string();
    if let Some(name2) = name2 {
        out.push('_');
        out.push_str(clip(name2, chars2));
    }
    out.push('_');
    out.push_str(label);
    out
}

/// The column names joined by `_`, stopping once the result reaches the name length limit (the
/// server's `ChooseIndexNameAddition`; [`object_name`] shortens it further).
pub(crate) fn name_addition(columns: &[String]) -> String {
    let mut out = String::new();
    for column in columns {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(clip(column, MAX_NAME));
        if out.len() > MAX_NAME {
            break;
        }
    }
    out
}

/// The name the server gives an index created without one on `table` (folded, schema-qualified
/// unless in `public`) over `columns` (from [`index_column_names`]): `table_columns_idx`, with a
/// number after `idx` until `taken` says the name is free in the table's schema.
pub(crate) fn index_name(table: &str, columns: &[String], taken: impl Fn(&str) -> bool) -> String {
    let (schema, bare) = match table.rsplit_once('.') {
        Some((schema, bare)) => (Some(schema), bare),
        None => (None, table),
    };
    let addition = name_addition(columns);
    (0..)
        .map(|pass| {
            let label = if pass == 0 {
                "idx".to_string()
            } else {
                format!("idx{pass}")
            };
            let name = object_name(bare, Some(&addition), &label);
            match schema {
                Some(schema) => format!("{schema}.{name}"),
                None => name,
            }
        })
        .find(|name| !taken(name))
        .unwrap_or_default()
}

/// The names the server derives for the columns of an index (`PARTITION_ITEM`s, key columns then
/// `INCLUDE` ones): a column's own name; for an expression, its function's name, `case`, or
/// `expr`; a name met before gets a number (`a`, `a1`).
pub(crate) fn index_column_names(items: impl Iterator<Item = SyntaxNode>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let expression = item.children().find(|n| {
            !matches!(
                n.kind(),
                K::OP_CLASS_REF | K::SORT_ASC | K::SORT_DESC | K::SORT_USING
            )
        });
        let name = expression
            .as_ref()
            .and_then(expression_name)
            .unwrap_or_else(|| "expr".to_string());
        let unique = if out.contains(&name) {
            (1..)
                .map(|i| {
                    let number = i.to_string();
                    format!("{}{number}", clip(&name, MAX_NAME - number.len()))
                })
                .find(|candidate| !out.contains(candidate))
                .unwrap_or_default()
        } else {
            name
        };
        out.push(unique);
    }
    out
}

/// The column name the server figures for an expression (`FigureColnameInternal`), when it has
/// one.
fn expression_name(node: &SyntaxNode) -> Option<String> {
    match node.kind() {
        K::NAME_REF => Some(fold_ident(&node.text().to_string())),
        K::FIELD_EXPR => node.children().last().and_then(|n| expression_name(&n)),
        K::PAREN_EXPR | K::COLLATE => node.children().next().and_then(|n| expression_name(&n)),
        K::CAST_EXPR => {
            // The value first, the type last (`x::t`, `CAST(x AS t)`).
            let value = node.children().next()?;
            expression_name(&value).or_else(|| {
                let ty = name_text(&node.children().last()?);
                ty.rsplit('.').next().map(str::to_string)
            })
        }
        K::CALL_EXPR => {
            let function = node.children().find(|c| c.kind() != K::ARG_LIST)?;
            let name = name_text(&function);
            name.rsplit('.').next().map(str::to_string)
        }
        K::CASE_EXPR => Some("case".to_string()),
        K::ARRAY_EXPR => Some("array".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_as_the_server_does() {
        // What PostgreSQL 15 named this index.
        assert_eq!(
            object_name(
                "a_very_long_table_name_that_goes_on_and_on_and_on_forever_x",
                Some("a_very_long_column_name_that_goes_on_and_on_b"),
                "idx"
            ),
            "a_very_long_table_name_that_g_a_very_long_column_name_that__idx"
        );
        assert_eq!(object_name("t", None, "pkey"), "t_pkey");
        let taken = ["r_name_idx", "r_name_idx1"];
        assert_eq!(
            index_name("r", &["name".to_string()], |n| taken.contains(&n)),
            "r_name_idx2"
        );
        assert_eq!(
            index_name("auth.r", &["name".to_string()], |_| false),
            "auth.r_name_idx"
        );
    }
}
