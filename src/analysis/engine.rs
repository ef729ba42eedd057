//! The analysis pass: statements in file order, with the transaction, the lock window, the
//! session timeouts and the "what is new" set tracked across them.

use std::collections::BTreeSet;

use squawk_syntax::{Parse, SourceFile, SyntaxNode};

use super::catalog::{Catalog, CatalogIndex, SchemaChanges};
use super::describe::{Control, Described, describe};
use super::ignore::{Directives, apply_ignores, parse_directives};
use super::rules::{self, Draft};
use super::session::State;
use super::types::*;
use crate::sql::split::{split_tree_indexed, syntax_problems_indexed};
use crate::sql::{LineIndex, Statement, SyntaxProblem, syntax_problems};

/// Analyses one migration's text.
pub fn analyze(text: &str, ctx: &AnalysisContext) -> Analysis {
    run(prepare(text, ctx.pg_version), text, ctx)
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
    /// Review-integrity findings (hidden characters, mixed scripts): they need the text only.
    integrity: Vec<Draft>,
}

impl Prepared {
    /// How a tool that sends the whole file as one query runs it: PostgreSQL makes a query of
    /// several statements one implicit transaction, unless the file controls its own
    /// (`BEGIN`/`COMMIT`). `true`: as if the runner wrapped it.
    pub(crate) fn one_query_is_one_transaction(&self) -> bool {
        self.statements.len() > 1 && !self.described.iter().any(Described::controls_transaction)
    }
}

/// Parses and describes `text` for a server of version `pg_version`.
///
/// The parser recurses once per nesting level (`((((…`, `NOT NOT …`), so a pathological text
/// would overflow a normal thread stack and abort the process. Anything larger than a tiny text is
/// therefore parsed on a thread whose stack grows with the text.
pub(crate) fn prepare(text: &str, pg_version: u32) -> Prepared {
    if text.len() >= CHUNKED_THRESHOLD
        && let threads = crate::cores()
        && threads > 1
        && let Some(prepared) = prepare_in_pieces(text, pg_version, threads)
    {
        return prepared;
    }
    on_deep_stack(text.len(), || prepare_here(text, pg_version, true))
}

/// [`prepare`] on a thread started with [`stack_size_for`]`(WORKER_TEXT)`: texts that fit that
/// stack are parsed right here instead of on a thread of their own.
pub(crate) fn prepare_on_worker(text: &str, pg_version: u32) -> Prepared {
    if text.len() <= WORKER_TEXT {
        prepare_here(text, pg_version, true)
    } else {
        prepare(text, pg_version)
    }
}

/// The largest text a thread started with `stack_size_for(WORKER_TEXT)` parses itself (below
/// [`CHUNKED_THRESHOLD`], so such texts are never parsed in pieces).
pub(crate) const WORKER_TEXT: usize = CHUNKED_THRESHOLD - 1;

/// A thread stack big enough to parse a text of `len` bytes nested to the hilt (about 1 KiB of
/// parser stack per byte, and never more than 8 GiB of address space).
pub(crate) fn stack_size_for(len: usize) -> usize {
    (16usize << 20)
        .saturating_add(len.saturating_mul(1024))
        .min(8usize << 30)
}

/// Texts at least this big are parsed in pieces, one per core.
const CHUNKED_THRESHOLD: usize = 256 * 1024;

/// Parses a large text in `pieces` parts on as many threads, each part cut at the end of a line
/// that ends a statement (`;`). Each part is parsed as a copy of the whole text with everything
/// outside it blanked (newlines kept), so every offset, line and column is the same as in the
/// whole text. `None` when no cut is found or a part does not parse cleanly (a cut inside a
/// function body or a comment, or a real syntax error): the caller then parses the whole text.
pub(crate) fn prepare_in_pieces(text: &str, pg_version: u32, pieces: usize) -> Option<Prepared> {
    let cuts = crate::sql::statement_cuts(text, pieces)?;
    let ranges: Vec<std::ops::Range<usize>> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
    let blanked: Vec<String> = ranges
        .iter()
        .map(|r| crate::sql::blank_outside(text, std::slice::from_ref(r)))
        .collect::<Option<_>>()?;
    let parts: Vec<Prepared> = std::thread::scope(|scope| {
        let handles: Vec<_> = blanked
            .iter()
            .map(|part| {
                // One thread per piece already: no second thread for each piece's errors.
                scope.spawn(move || {
                    on_deep_stack(part.len(), || prepare_here(part, pg_version, false))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok())
            .collect::<Option<Vec<_>>>()
    })?;
    if parts.iter().any(|p| !p.syntax_errors.is_empty()) {
        return None;
    }
    let mut merged = Prepared {
        statements: Vec::new(),
        syntax_errors: Vec::new(),
        described: Vec::new(),
        directives: Directives::default(),
        lines: LineIndex::new(text),
        integrity: Vec::new(),
    };
    for part in parts {
        let offset = merged.statements.len();
        merged
            .statements
            .extend(part.statements.into_iter().map(|mut s| {
                s.index += offset;
                s
            }));
        merged.described.extend(part.described);
        merged.directives.absorb(part.directives);
        merged.integrity.extend(part.integrity);
    }
    Some(merged)
}

/// Texts up to this many bytes cannot nest deeply enough to need a bigger stack.
pub(crate) const SMALL_TEXT: usize = 1024;

/// Runs `f` on a thread with a stack big enough for a text of `len` bytes
/// ([`stack_size_for`]), or right here for tiny texts or when no such thread can be started.
pub(crate) fn on_deep_stack<T: Send>(len: usize, f: impl Fn() -> T + Sync) -> T {
    if len <= SMALL_TEXT {
        return f();
    }
    let size = stack_size_for(len);
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

/// Parses and describes `text` on this thread; with `errors_aside`, a large text's syntax errors
/// are collected on a second thread meanwhile.
fn prepare_here(text: &str, pg_version: u32, errors_aside: bool) -> Prepared {
    let parse = SourceFile::parse(text);
    let lines = LineIndex::new(text);
    if !errors_aside || text.len() < PARALLEL_ERRORS_THRESHOLD {
        let syntax_errors = syntax_problems_indexed(text, &parse, &lines);
        return Prepared {
            syntax_errors,
            ..describe_all(text, &parse, pg_version, lines)
        };
    }
    // squawk's error collection walks the whole tree again: on a large text, run it on a second
    // thread while this one describes the statements. (The tree is shared, immutable data.)
    let errors_of = || syntax_problems(text, &parse);
    let syntax_errors_and_rest = std::thread::scope(|scope| {
        let errors = std::thread::Builder::new()
            .name("lockstep-errors".to_string())
            .stack_size(stack_size_for(text.len()))
            .spawn_scoped(scope, errors_of);
        let described = describe_all(text, &parse, pg_version, lines);
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

/// Splits and describes a parsed text whose line index is `lines` (everything but the syntax
/// errors).
fn describe_all(
    text: &str,
    parse: &Parse<SourceFile>,
    pg_version: u32,
    lines: LineIndex,
) -> Prepared {
    let root = parse.syntax_node();
    let statements = split_tree_indexed(text, &root, &lines);
    let syntax_errors = Vec::new();
    let described = describe_statements(&root, &statements, pg_version);
    let directives = parse_directives(&root, text, &lines);
    Prepared {
        statements,
        syntax_errors,
        described,
        directives,
        lines,
        integrity: {
            let mut found = rules::file_checks(text);
            found.extend(rules::review_integrity(text));
            found
        },
    }
}

/// Describes each of `statements` (split from the tree under `root`) from its top-level nodes.
pub(crate) fn describe_statements(
    root: &SyntaxNode,
    statements: &[Statement],
    pg_version: u32,
) -> Vec<Described> {
    // (Built in place: a vector of parts per statement would hold room for four descriptions
    // per statement at once.)
    let mut described = vec![Described::default(); statements.len()];
    let mut seen = vec![false; statements.len()];
    for_statement_nodes(root, statements, |index, node| {
        let part = describe(node, pg_version);
        if std::mem::replace(&mut seen[index], true) {
            merge(&mut described[index], part);
        } else {
            described[index] = part;
        }
    });
    described
}

/// Calls `each` with every top-level node under `root` and the index of the statement among
/// `statements` (split from that tree) it belongs to: the nodes starting inside a statement's span
/// (a statement with a syntax error may span several).
pub(crate) fn for_statement_nodes(
    root: &SyntaxNode,
    statements: &[Statement],
    mut each: impl FnMut(usize, &SyntaxNode),
) {
    let mut nodes = root.children().peekable();
    for stmt in statements {
        while let Some(node) = nodes.peek() {
            let start = usize::from(node.text_range().start());
            if start >= stmt.span.end {
                break;
            }
            if start >= stmt.span.start {
                each(stmt.index, node);
            }
            nodes.next();
        }
    }
}

/// Runs the rules over a prepared text in its context.
pub(crate) fn run(prepared: Prepared, text: &str, ctx: &AnalysisContext) -> Analysis {
    run_after(prepared, text, ctx, &ctx.new_tables, &ctx.catalog, None).0
}

/// What earlier files left behind for the next one.
#[derive(Debug, Default)]
pub(crate) struct Prior {
    /// Relations created by earlier files of the same run (new and empty for the next file).
    pub new_tables: BTreeSet<String>,
    /// The schema the next file meets.
    pub catalog: Catalog,
    /// The index of `catalog`, kept with it (rebuilding it for every file would cost the whole
    /// catalogue per file).
    pub index: CatalogIndex,
}

impl Prior {
    /// The state before the first file.
    pub(crate) fn new(new_tables: BTreeSet<String>, catalog: Catalog) -> Prior {
        Prior {
            index: CatalogIndex::of(&catalog),
            new_tables,
            catalog,
        }
    }

    /// Adds what a file changed in the schema; with `same_run`, what it created is new for the
    /// files after it (they run right after it, before production sees it).
    pub(crate) fn absorb(&mut self, analysis: &Analysis, changes: SchemaChanges, same_run: bool) {
        if same_run {
            self.new_tables
                .extend(analysis.tables_created.iter().cloned());
        }
        self.index.absorb(&changes);
        self.catalog.apply(changes);
    }

    /// Runs the rules on a file that meets this state (`ctx`'s own catalog and new tables are
    /// ignored); also returns what the file changed in the schema (see [`Prior::absorb`]).
    pub(crate) fn run(
        &self,
        prepared: Prepared,
        text: &str,
        ctx: &AnalysisContext,
    ) -> (Analysis, SchemaChanges) {
        run_after(
            prepared,
            text,
            ctx,
            &self.new_tables,
            &self.catalog,
            Some(&self.index),
        )
    }
}

/// Runs the rules on a file that meets the schema `catalog` (whose index is `index`, when
/// kept), after the earlier files of its run created `new_tables`; returns
/// the analysis and what the file changed in the schema.
fn run_after(
    prepared: Prepared,
    text: &str,
    ctx: &AnalysisContext,
    new_tables: &BTreeSet<String>,
    catalog: &Catalog,
    index: Option<&CatalogIndex>,
) -> (Analysis, SchemaChanges) {
    let Prepared {
        mut statements,
        syntax_errors,
        described,
        directives,
        lines,
        integrity,
    } = prepared;
    let mut state = State::new(ctx, new_tables, catalog, index);
    state.lone_statement = described.iter().filter(|d| !d.actions.is_empty()).count() == 1;
    state.one_change = described.iter().filter(|d| !d.only_settings()).count() == 1;
    state.statement_count = described.len();
    state.statement_lines = vec![0; statements.iter().map(|s| s.index + 1).max().unwrap_or(0)];
    for stmt in statements.iter() {
        state.statement_lines[stmt.index] = stmt.start.line;
    }
    state.refusing_count = described
        .iter()
        .filter(|d| d.no_transaction_block.is_some())
        .count();
    for (stmt, d) in statements.iter().zip(&described) {
        for name in d.named_relations() {
            state.name_claims.push((stmt.index, name.to_string()));
        }
        if d.control
            .iter()
            .any(|c| matches!(c, Control::Commit { .. } | Control::Rollback { .. }))
        {
            state.transaction_ends.push(stmt.index);
        }
    }
    let mut drafts: Vec<(Option<usize>, Draft)> = Vec::new();
    let mut analyzed = Vec::with_capacity(statements.len());
    // Each description is dropped once its statement is analysed.
    for (stmt, d) in statements.iter_mut().zip(described) {
        let (analysed, found) = state.statement(stmt.index, &stmt.span, &d, text);
        drafts.extend(found.into_iter().map(|f| (Some(stmt.index), f)));
        analyzed.push(AnalyzedStatement {
            index: stmt.index,
            span: stmt.span.clone(),
            start: stmt.start,
            end: lines.line_col(text, stmt.span.end),
            // The statement's text moves to the analysis (nothing else reads it).
            text: std::mem::take(&mut stmt.text),
            ..analysed
        });
    }
    for (statement, held) in analyzed.iter_mut().zip(state.take_held_before()) {
        statement.held_before = held;
    }
    if let Some((index, span)) = state.open_explicit.clone() {
        let opened = if state.open_by_chain {
            "AND CHAIN begins a transaction no COMMIT ends"
        } else {
            "BEGIN without a matching COMMIT"
        };
        drafts.push((
            Some(index),
            Draft::new(
                "uncommitted-transaction",
                span,
                format!("{opened}: the transaction stays open to the end of the migration and its work is rolled back when the connection closes"),
            ),
        ));
    }
    for draft in integrity {
        let at = statements.partition_point(|s| s.span.end <= draft.span.start);
        let index = statements
            .get(at)
            .filter(|s| s.span.start <= draft.span.start)
            .map(|s| s.index);
        drafts.push((index, draft));
    }
    // PostgreSQL rejects a statement it cannot parse before taking any lock: what the rules read
    // into the parser's recovery (`DROP IF EXISTS COLUMN c` as a drop of a column named
    // "column") is not what would happen. Only review-integrity findings stay.
    let within = |s: &Statement, p: &SyntaxProblem| {
        s.span.start <= p.span.start && p.span.start < s.span.end.max(s.span.start + 1)
    };
    let broken: BTreeSet<usize> = statements
        .iter()
        .filter(|s| syntax_errors.iter().any(|p| within(s, p)))
        .map(|s| s.index)
        .collect();
    drafts.retain(|(index, draft)| {
        index.is_none_or(|i| !broken.contains(&i))
            || crate::analysis::rules::lookup(draft.rule)
                .is_some_and(|r| r.axis == crate::analysis::Axis::ReviewIntegrity)
    });
    // A statement's first syntax error is the one to mend, as PostgreSQL reports only that one:
    // the parser's recovery after it ("expected command, found …" at each following token) is
    // counted, not listed.
    let statement_of = |p: &SyntaxProblem| {
        let at = statements.partition_point(|s| s.span.end.max(s.span.start + 1) <= p.span.start);
        statements.get(at).filter(|s| within(s, p)).map(|s| s.index)
    };
    // (the error shown, how many follow it in its statement)
    let mut shown: Vec<(&SyntaxProblem, usize)> = Vec::new();
    let mut last_statement = None;
    for problem in &syntax_errors {
        let statement = statement_of(problem);
        match shown.last_mut() {
            Some((_, more)) if statement.is_some() && statement == last_statement => *more += 1,
            _ => shown.push((problem, 0)),
        }
        last_statement = statement;
    }
    for (problem, more) in shown {
        let mut message = format!("syntax error: {}", problem.message);
        if more > 0 {
            message.push_str(&format!(" (and {more} more in this statement after it)"));
        }
        drafts.push((
            None,
            Draft::new("syntax-error", problem.span.clone(), message),
        ));
    }

    let mut findings: Vec<Finding> = drafts
        .into_iter()
        .map(|(index, draft)| finish(draft, index, text, &lines))
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
        finish(draft, None, text, &lines)
    }));
    let assured = directives.assured_blocks();
    findings.extend(assured.unpaired.into_iter().map(|(span, unpaired)| {
        let mut draft = Draft::new(
            "unmatched-ignore-block",
            span,
            unpaired.message().to_string(),
        );
        draft.safe_alternative = Some(
            "pair each `-- safety-assured:start` with a `-- safety-assured:end` after the \
                     statements it covers"
                .to_string(),
        );
        finish(draft, None, text, &lines)
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
    let (findings, suppressed) = apply_ignores(findings, &directives, &assured.blocks, &statements);

    let analysis = Analysis {
        statements: analyzed,
        findings,
        suppressed,
        syntax_errors,
        tables_created: state.created,
    };
    (analysis, state.schema.changes)
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

/// Adds a later node's description to the statement's (the first node's kind and settings stay).
fn merge(out: &mut Described, p: Described) {
    out.actions.extend(p.actions);
    out.control.extend(p.control);
    out.creates.extend(p.creates);
    out.indexes.extend(p.indexes);
    out.constraints.extend(p.constraints);
    out.effects.extend(p.effects);
    out.no_transaction_block = out.no_transaction_block.or(p.no_transaction_block);
    out.is_dml |= p.is_dml;
    out.bulk |= p.bulk;
    out.dml_columns = out.dml_columns.take().or(p.dml_columns);
    out.body_writes.extend(p.body_writes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis_json(prepared: Prepared, text: &str) -> serde_json::Value {
        let ctx = AnalysisContext::default();
        serde_json::to_value(run(prepared, text, &ctx)).unwrap()
    }

    /// A text whose statements span lines, with comments, ignore directives, a function body
    /// with `;` at line ends, a `BEGIN ATOMIC` body, multi-byte characters and a transaction.
    fn mixed(copies: usize) -> String {
        let block = "-- squawk-ignore require-concurrent-index-creation\n\
            CREATE INDEX ix_{i} ON users (email);\n\
            ALTER TABLE orders\n    ADD COLUMN c{i} int DEFAULT 0;\n\
            /* a comment; with a semicolon */\n\
            CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.note := 'é;';\n  RETURN NEW;\nEND;\n$$;\n\
            CREATE FUNCTION g{i}() RETURNS int LANGUAGE sql BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\n\
            UPDATE orders SET note = 'ünïcödé; text' WHERE id = {i};\n\
            -- lockstep-ignore-file missing-statement-timeout\n";
        (0..copies)
            .map(|i| block.replace("{i}", &i.to_string()))
            .collect()
    }

    #[test]
    fn parsing_in_pieces_gives_the_same_analysis() {
        let text = mixed(40);
        let whole = prepare_here(&text, 15, true);
        let statements = whole.statements.len();
        let whole = analysis_json(whole, &text);
        for pieces in [2, 3, 7] {
            let parts = prepare_in_pieces(&text, 15, pieces).expect("cut points exist");
            assert_eq!(parts.statements.len(), statements);
            assert_eq!(analysis_json(parts, &text), whole, "{pieces} pieces");
        }
    }

    #[test]
    fn cuts_skip_bodies_and_a_syntax_error_falls_back_to_one_piece() {
        // One big function body whose lines all end with `;`: the only cut is after it.
        let mut text =
            String::from("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n");
        for i in 0..200 {
            text.push_str(&format!("  PERFORM {i};\n"));
        }
        text.push_str("END;\n$$;\nSELECT 1;\n");
        let cuts = crate::sql::statement_cuts(&text, 2).expect("a cut after the function");
        assert_eq!(&text[cuts[1]..], "SELECT 1;\n");
        let parts = prepare_in_pieces(&text, 15, 2).expect("both pieces parse");
        assert_eq!(
            analysis_json(parts, &text),
            analysis_json(prepare_here(&text, 15, true), &text)
        );
        let atomic = "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND;\n";
        assert_eq!(
            crate::sql::statement_cuts(atomic, 2),
            None,
            "no cut inside BEGIN ATOMIC"
        );
        let broken = format!("{}SELEC 1;\n{}", mixed(5), mixed(5));
        assert!(prepare_in_pieces(&broken, 15, 2).is_none());
        // The public entry point still reports the error in either case.
        assert!(!prepare(&broken, 15).syntax_errors.is_empty());
    }
}
