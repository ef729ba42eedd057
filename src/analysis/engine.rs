//! The analysis pass: statements in file order, with the transaction, the lock window, the
//! session timeouts and the "what is new" set tracked across them.

use std::collections::{BTreeMap, BTreeSet};

use squawk_syntax::{Parse, SourceFile, SyntaxNode};

use super::describe::{Described, describe};
use super::ignore::{Directives, apply_ignores, parse_directives};
use super::rules::{self, Draft};
use super::session::State;
use super::types::*;
use crate::sql::{LineIndex, Statement, SyntaxProblem, split_tree, syntax_problems};

/// Analyses one migration's text.
pub fn analyze(text: &str, ctx: &AnalysisContext) -> Analysis {
    run(&prepare(text, ctx.pg_version), text, ctx)
}

/// The context-free part of an analysis (parsing, splitting, describing statements, reading
/// ignore comments): the expensive part, which [`super::lint_files`] runs on several threads.
#[derive(Debug)]
pub(crate) struct Prepared {
    statements: Vec<Statement>,
    syntax_errors: Vec<SyntaxProblem>,
    described: Vec<Described>,
    directives: Directives,
    lines: LineIndex,
}

/// Parses and describes `text` for a server of version `pg_version`.
///
/// The parser recurses once per nesting level (`((((…`, `NOT NOT …`), so a pathological text
/// would overflow a normal thread stack and abort the process. Anything larger than a tiny text is
/// therefore parsed on a thread whose stack grows with the text.
pub(crate) fn prepare(text: &str, pg_version: u32) -> Prepared {
    on_deep_stack(text.len(), || prepare_here(text, pg_version))
}

/// Texts up to this many bytes cannot nest deeply enough to need a bigger stack.
const SMALL_TEXT: usize = 1024;

/// Runs `f` on a thread with a stack big enough for a text of `len` bytes nested to the hilt
/// (about 1 KiB of parser stack per byte), or right here for tiny texts or when no such thread
/// can be started.
pub(crate) fn on_deep_stack<T: Send>(len: usize, f: impl Fn() -> T + Sync) -> T {
    if len <= SMALL_TEXT {
        return f();
    }
    let size = (16usize << 20)
        .saturating_add(len.saturating_mul(1024))
        .min(8usize << 30);
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("lockstep-parse".to_string())
            .stack_size(size)
            .spawn_scoped(scope, &f)
        {
            Ok(handle) => handle.join().unwrap_or_else(|_| f()),
            Err(_) => f(),
        }
    })
}

fn prepare_here(text: &str, pg_version: u32) -> Prepared {
    let parse = SourceFile::parse(text);
    if text.len() < PARALLEL_ERRORS_THRESHOLD {
        let (described, errors) = (
            describe_all(text, &parse, pg_version),
            syntax_problems(text, &parse),
        );
        return Prepared {
            syntax_errors: errors,
            ..described
        };
    }
    // squawk's error collection walks the whole tree again: on a large text, run it on a second
    // thread while this one describes the statements. (The tree is shared, immutable data.)
    let errors_of = || syntax_problems(text, &parse);
    let syntax_errors_and_rest = std::thread::scope(|scope| {
        let errors = std::thread::Builder::new()
            .name("lockstep-errors".to_string())
            .stack_size(
                (16usize << 20)
                    .saturating_add(text.len().saturating_mul(1024))
                    .min(8usize << 30),
            )
            .spawn_scoped(scope, errors_of);
        let described = describe_all(text, &parse, pg_version);
        let syntax_errors = match errors {
            Ok(handle) => handle.join().unwrap_or_else(|_| errors_of()),
            Err(_) => errors_of(),
        };
        (syntax_errors, described)
    });
    let (syntax_errors, described) = syntax_errors_and_rest;
    Prepared {
        syntax_errors,
        ..described
    }
}

/// Above this size, [`prepare`] collects syntax errors on a second thread.
const PARALLEL_ERRORS_THRESHOLD: usize = 128 * 1024;

/// Splits and describes a parsed text (everything but the syntax errors).
fn describe_all(text: &str, parse: &Parse<SourceFile>, pg_version: u32) -> Prepared {
    let root = parse.syntax_node();
    let statements = split_tree(text, &root);
    let syntax_errors = Vec::new();
    let lines = LineIndex::new(text);
    let nodes: Vec<SyntaxNode> = root.children().collect();
    let mut node_at = 0;
    let mut described = Vec::with_capacity(statements.len());
    for stmt in &statements {
        // The statement's nodes: those starting inside its span.
        let mut parts: Vec<Described> = Vec::new();
        while let Some(node) = nodes.get(node_at) {
            let start = usize::from(node.text_range().start());
            if start >= stmt.span.end {
                break;
            }
            if start >= stmt.span.start {
                parts.push(describe(node, pg_version));
            }
            node_at += 1;
        }
        described.push(merge(parts));
    }
    let directives = parse_directives(&root, text, &lines);
    Prepared {
        statements,
        syntax_errors,
        described,
        directives,
        lines,
    }
}

/// Runs the rules over a prepared text in its context.
pub(crate) fn run(prepared: &Prepared, text: &str, ctx: &AnalysisContext) -> Analysis {
    let prior = Prior {
        new_tables: ctx.new_tables.clone(),
        constraints: ctx.constraints.clone(),
        index_tables: ctx.index_tables.clone(),
    };
    run_after(prepared, text, ctx, &prior)
}

/// What earlier files of the run left behind (kept outside [`AnalysisContext`] so a long run is
/// not cloned for every file).
#[derive(Debug, Default)]
pub(crate) struct Prior {
    /// Relations created by earlier files.
    pub new_tables: BTreeSet<String>,
    /// Constraints known from earlier files.
    pub constraints: BTreeMap<String, KnownConstraint>,
    /// Indexes known from earlier files, with their tables.
    pub index_tables: BTreeMap<String, String>,
}

impl Prior {
    /// Adds what a file created, changed and dropped.
    pub(crate) fn absorb(&mut self, analysis: &Analysis) {
        self.new_tables
            .extend(analysis.tables_created.iter().cloned());
        for (name, c) in &analysis.constraints {
            self.constraints.insert(name.clone(), c.clone());
        }
        for name in &analysis.constraints_dropped {
            self.constraints.remove(name);
        }
        self.index_tables.extend(
            analysis
                .index_tables
                .iter()
                .map(|(i, t)| (i.clone(), t.clone())),
        );
    }
}

/// Runs the rules with the earlier files' state in `prior` (and `ctx`'s own sets ignored).
pub(crate) fn run_after(
    prepared: &Prepared,
    text: &str,
    ctx: &AnalysisContext,
    prior: &Prior,
) -> Analysis {
    let Prepared {
        statements,
        syntax_errors,
        described,
        directives,
        lines,
    } = prepared;
    let mut state = State::new(ctx, prior);
    let mut drafts: Vec<(Option<usize>, Draft)> = Vec::new();
    let mut analyzed = Vec::with_capacity(statements.len());
    for (stmt, d) in statements.iter().zip(described) {
        let (analysed, found) = state.statement(stmt.index, &stmt.span, d, text);
        drafts.extend(found.into_iter().map(|f| (Some(stmt.index), f)));
        analyzed.push(AnalyzedStatement {
            index: stmt.index,
            span: stmt.span.clone(),
            start: stmt.start,
            end: lines.line_col(text, stmt.span.end),
            text: stmt.text.clone(),
            ..analysed
        });
    }
    if let Some((index, span)) = state.open_explicit.clone() {
        drafts.push((
            Some(index),
            Draft::new(
                "uncommitted-transaction",
                span,
                "BEGIN without a matching COMMIT: the transaction stays open to the end of the migration and its work is rolled back when the connection closes".to_string(),
            ),
        ));
    }
    for problem in syntax_errors {
        drafts.push((
            None,
            Draft::new(
                "syntax-error",
                problem.span.clone(),
                format!("syntax error: {}", problem.message),
            ),
        ));
    }

    let mut findings: Vec<Finding> = drafts
        .into_iter()
        .map(|(index, draft)| finish(draft, index, text, lines))
        .collect();
    findings.extend(directives.unknown.iter().map(|(span, name)| {
        let mut draft = Draft::new(
            "unknown-rule-in-ignore",
            span.clone(),
            format!("unknown rule `{name}` in ignore comment"),
        );
        draft.safe_alternative = Some(
            "see `lockstep lint --explain` for the rule names (squawk names are accepted too)"
                .to_string(),
        );
        finish(draft, None, text, lines)
    }));
    // By line, the most severe first, then by position.
    findings.sort_by(|a, b| {
        (
            a.start.line,
            std::cmp::Reverse(a.severity),
            a.span.start,
            a.rule,
        )
            .cmp(&(
                b.start.line,
                std::cmp::Reverse(b.severity),
                b.span.start,
                b.rule,
            ))
    });
    let (findings, suppressed) = apply_ignores(findings, directives, statements);

    Analysis {
        statements: analyzed,
        findings,
        suppressed,
        syntax_errors: syntax_errors.clone(),
        tables_created: state.created,
        constraints: state
            .constraints
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), c.clone()?)))
            .collect(),
        index_tables: state.indexes.clone(),
        constraints_dropped: state
            .constraints
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

fn finish(draft: Draft, statement_index: Option<usize>, text: &str, lines: &LineIndex) -> Finding {
    let info = rules::lookup(draft.rule);
    let span = draft.span.start.min(text.len())
        ..draft
            .span
            .end
            .min(text.len())
            .max(draft.span.start.min(text.len()));
    Finding {
        rule: draft.rule,
        severity: draft
            .severity
            .or(info.map(|i| i.severity))
            .unwrap_or(Severity::Warning),
        axis: info.map(|i| i.axis).unwrap_or(Axis::LockHazard),
        statement_index,
        start: lines.line_col(text, span.start),
        end: lines.line_col(text, span.end),
        span,
        table: draft.table,
        lock: draft.lock,
        message: draft.message,
        safe_alternative: draft.safe_alternative,
        fix: draft.fix,
    }
}

fn merge(mut parts: Vec<Described>) -> Described {
    if parts.len() <= 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut out = parts.remove(0);
    for p in parts {
        out.actions.extend(p.actions);
        out.control.extend(p.control);
        out.creates.extend(p.creates);
        out.indexes.extend(p.indexes);
        out.constraints.extend(p.constraints);
        out.no_transaction_block = out.no_transaction_block.or(p.no_transaction_block);
        out.is_dml |= p.is_dml;
    }
    out
}
