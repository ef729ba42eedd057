//! The relations a query reads (ACCESS SHARE) and writes (ROW EXCLUSIVE): the FROM items of a
//! view's query, an `INSERT … SELECT`, an `UPDATE … FROM`, a subquery, and the statements of a SQL
//! function body that PostgreSQL analyses when the function is created.

use std::collections::BTreeSet;

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Described, push};
use crate::analysis::model::Shape;
use crate::analysis::syntax::*;
use SyntaxKind as K;

/// The relations named in FROM items (and JOINs, subqueries, CTE bodies) under `node`, without
/// the names of the query's own CTEs.
pub(crate) fn relations_read(node: &SyntaxNode) -> BTreeSet<String> {
    // One walk for both: a large INSERT … VALUES is long to walk.
    let mut ctes: BTreeSet<String> = BTreeSet::new();
    let mut read: BTreeSet<String> = BTreeSet::new();
    for n in node.descendants() {
        match n.kind() {
            K::CTE_NAME => {
                ctes.insert(name_text(&n));
            }
            K::RELATION_FROM_ITEM => {
                if let Some(name) = child(&n, K::RELATION_NAME_REF).map(|r| name_text(&r))
                    && !name.is_empty()
                {
                    read.insert(name);
                }
            }
            _ => {}
        }
    }
    read.retain(|name| !ctes.contains(name));
    read
}

/// Adds an ACCESS SHARE action for each relation `node` reads, except `except`.
pub(super) fn push_reads(node: &SyntaxNode, except: Option<&str>, d: &mut Described) {
    push_each_read(&relations_read(node), except, span(node), d);
}

/// Adds a ROW EXCLUSIVE action for the target of each data-modifying CTE under `node`
/// (`WITH x AS (INSERT INTO t … RETURNING …) UPDATE …`), except `except`; whether there was one.
pub(super) fn push_cte_writes(node: &SyntaxNode, except: Option<&str>, d: &mut Described) -> bool {
    // A cheap test first: most statements have no CTE at all.
    if !has_descendant(node, &[K::WITH_CLAUSE]) {
        return false;
    }
    let mut found = false;
    for inner in node.descendants().skip(1) {
        if !matches!(inner.kind(), K::INSERT | K::UPDATE | K::DELETE | K::MERGE) {
            continue;
        }
        found = true;
        let Some(target) = dml_target(&inner) else {
            continue;
        };
        // Its row events and columns: the triggers it fires, the keys it checks or cascades.
        d.body_writes.push(crate::analysis::RoutineLock {
            relation: target.clone(),
            shape: Shape::Dml,
            mode: None,
            statement: crate::format::sql_one_line(&inner.text().to_string(), super::ROUTINE_TEXT),
            conditional: false,
            fires: super::dml_events(&inner),
            columns: super::dml_columns(&inner),
            inner: None,
        });
        if Some(target.as_str()) != except {
            push(d, Shape::Dml, target, span(&inner));
            if let Some(action) = d.actions.last_mut() {
                action.detail = super::Detail::CteWrite;
            }
        }
    }
    found
}

/// Adds a ROW SHARE action for each relation a locking clause under `node` locks (`FOR UPDATE`,
/// `FOR NO KEY UPDATE`, `FOR SHARE`, `FOR KEY SHARE`): those in the FROM items of the query it
/// ends (sub-queries and views included, not the query's CTEs), or with `OF`, those it names (by
/// name or alias).
pub(super) fn push_row_locks(node: &SyntaxNode, d: &mut Described) {
    // A cheap test first: most queries lock no rows.
    if !has_descendant(node, &[K::LOCKING_CLAUSE]) {
        return;
    }
    let ctes: BTreeSet<String> = node
        .descendants()
        .filter(|n| n.kind() == K::CTE_NAME)
        .map(|n| name_text(&n))
        .collect();
    for query in node.descendants() {
        let clauses: Vec<SyntaxNode> = children(&query, K::LOCKING_CLAUSE).collect();
        let Some(from) = child(&query, K::FROM_CLAUSE).filter(|_| !clauses.is_empty()) else {
            continue;
        };
        let every = clauses.iter().any(|c| child(c, K::LOCKING_OF).is_none());
        let named: BTreeSet<String> = clauses
            .iter()
            .filter_map(|c| child(c, K::LOCKING_OF))
            .flat_map(|of| of.children().map(|n| name_text(&n)).collect::<Vec<_>>())
            .collect();
        for item in from.descendants() {
            if item.kind() != K::RELATION_FROM_ITEM {
                continue;
            }
            let Some(name) = child(&item, K::RELATION_NAME_REF)
                .map(|r| name_text(&r))
                .filter(|name| !ctes.contains(name))
            else {
                continue;
            };
            let alias = descendant(&item, K::TABLE_ALIAS).map(|a| name_text(&a));
            if every || named.contains(&name) || alias.is_some_and(|a| named.contains(&a)) {
                push(d, Shape::SelectForUpdate, name, span(&query));
            }
        }
    }
}

/// Adds an ACCESS SHARE action at `at` for each of `reads`, except `except`.
pub(super) fn push_each_read(
    reads: &BTreeSet<String>,
    except: Option<&str>,
    at: std::ops::Range<usize>,
    d: &mut Described,
) {
    for relation in reads {
        if Some(relation.as_str()) != except {
            push(d, Shape::Select, relation.clone(), at.clone());
        }
    }
}

/// The locks that parsing and analysing `statements` takes (those of `node`): a `LANGUAGE sql`
/// function body (from [`sql_body_statements`]) when the function is created (with
/// `check_function_bodies`, the default), a rule's actions when the rule is. Each statement locks
/// what it reads and the table it writes.
pub(super) fn parsed_statements(node: &SyntaxNode, statements: &[SyntaxNode], d: &mut Described) {
    let at = span(node);
    for statement in statements {
        let target = match statement.kind() {
            K::INSERT | K::UPDATE | K::DELETE | K::MERGE => dml_target(statement),
            K::SELECT | K::COMPOUND_SELECT | K::PAREN_SELECT | K::VALUES | K::RETURN_STMT => None,
            _ => continue,
        };
        if let Some(target) = &target {
            push(d, Shape::Dml, target.clone(), at.clone());
        }
        for relation in relations_read(statement) {
            if Some(&relation) != target.as_ref() {
                push(d, Shape::Select, relation, at.clone());
            }
        }
    }
}

/// The statements of a `CREATE FUNCTION` or `CREATE PROCEDURE` whose body is SQL: a quoted
/// `LANGUAGE sql` body, `BEGIN ATOMIC … END`, or `RETURN expr` (none for another language).
pub(super) fn sql_body_statements(node: &SyntaxNode) -> Vec<SyntaxNode> {
    let quoted = match (
        ast::CreateFunction::cast(node.clone()),
        ast::CreateProcedure::cast(node.clone()),
    ) {
        (Some(f), _) => f.sql_body(),
        (_, Some(p)) => p.sql_body(),
        _ => return Vec::new(),
    };
    match quoted {
        Some(body) => body.syntax().children().collect(),
        // BEGIN ATOMIC: the statements are part of this tree.
        None => match node.descendants().find(|n| n.kind() == K::ATOMIC_BODY) {
            Some(atomic) => atomic.children().collect(),
            None => children(node, K::RETURN_STMT).collect(),
        },
    }
}

/// The table an INSERT, UPDATE, DELETE or MERGE writes.
pub(super) fn dml_target(node: &SyntaxNode) -> Option<String> {
    node.children()
        .find(|n| {
            matches!(
                n.kind(),
                K::RELATION_NAME | K::RELATION_NAME_REF | K::TABLE_RELATION_NAME
            )
        })
        .and_then(|n| relation_in(&n))
        .or_else(|| relation_in(node))
}
