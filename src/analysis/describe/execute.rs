//! `EXECUTE` in PL/pgSQL (and `FOR … IN EXECUTE`): the statements of a command string written as a constant
//! (`EXECUTE 'DROP INDEX i'`, `'ALTER TABLE ' || 't …'`), which the analysis follows as it follows
//! the body's own statements; anything built at run time (`format(…)`, a variable) it cannot.

use squawk_syntax::ast::{self, AstNode, LitKind};
use squawk_syntax::{SourceFile, SyntaxKind as K, SyntaxNode};

use crate::analysis::syntax::child;

/// The statements an `EXECUTE` (a `PLPGSQL_DYN_EXECUTE_STMT`, or the query of a
/// `FOR … IN EXECUTE` loop) runs, when its command is a constant that parses without error;
/// `None` when it is built at run time.
pub(super) fn constant_statements(execute: &SyntaxNode) -> Option<Vec<SyntaxNode>> {
    let expr = child(execute, K::PLPGSQL_EXPR)?;
    let mut targets = child(&expr, K::TARGET_LIST)?.children();
    let target = targets.next()?;
    if targets.next().is_some() {
        return None;
    }
    let command = constant_text(&target.children().next()?)?;
    let parse = SourceFile::parse(&command);
    if !parse.errors().is_empty() {
        return None;
    }
    let statements: Vec<SyntaxNode> = parse.syntax_node().children().collect();
    (!statements.is_empty()).then_some(statements)
}

/// The value of a constant string expression: a string literal, or constants joined by `||`.
fn constant_text(expr: &SyntaxNode) -> Option<String> {
    match expr.kind() {
        K::LITERAL => {
            let literal = ast::Literal::cast(expr.clone())?;
            match literal.kind()? {
                LitKind::String(_)
                | LitKind::EscString(_)
                | LitKind::UnicodeEscString(_)
                | LitKind::DollarQuotedString(_)
                | LitKind::NationalString(_) => literal.string_value(),
                _ => None,
            }
        }
        K::PAREN_EXPR => constant_text(&expr.children().next()?),
        K::BIN_EXPR => {
            let mut operands = expr.children().filter(|c| c.kind() != K::CUSTOM_OP);
            let op = child(expr, K::CUSTOM_OP)?;
            if op.text() != "||" {
                return None;
            }
            let (left, right) = (operands.next()?, operands.next()?);
            Some(constant_text(&left)? + &constant_text(&right)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executes(block: &str) -> Vec<Option<Vec<String>>> {
        let parse = SourceFile::parse(block);
        let body = parse
            .syntax_node()
            .descendants()
            .find_map(ast::Do::cast)
            .and_then(|d| d.plpgsql())
            .expect("a DO block");
        body.syntax()
            .descendants()
            .filter(|n| n.kind() == K::PLPGSQL_DYN_EXECUTE_STMT)
            .map(|e| {
                constant_statements(&e).map(|s| s.iter().map(|n| n.text().to_string()).collect())
            })
            .collect()
    }

    #[test]
    fn a_constant_command_is_followed_and_a_built_one_is_not() {
        let found = executes(
            "DO $$ DECLARE t text := 'x'; BEGIN \
             EXECUTE 'drop index auth.i'; \
             EXECUTE 'ALTER TABLE ' || ('a' || ' ADD COLUMN c int'); \
             EXECUTE E'CREATE INDEX j ON b (\\'k\\')'; \
             EXECUTE $q$UPDATE c SET x = 1; DELETE FROM d$q$ USING 1; \
             EXECUTE format('DROP TABLE %I', t); \
             EXECUTE 'DROP TABLE ' || t; \
             EXECUTE 'not sql at all'; \
             END $$;",
        );
        assert_eq!(
            found,
            vec![
                Some(vec!["drop index auth.i".to_string()]),
                Some(vec!["ALTER TABLE a ADD COLUMN c int".to_string()]),
                Some(vec!["CREATE INDEX j ON b ('k')".to_string()]),
                Some(vec![
                    "UPDATE c SET x = 1;".to_string(),
                    "DELETE FROM d".to_string()
                ]),
                None,
                None,
                None,
            ]
        );
    }
}
