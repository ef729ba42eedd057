//! How a `-- no-transaction` migration runs: its statements in segments. Consecutive statements
//! that may run inside a transaction block share one transaction; a statement that may not (or
//! that lockstep cannot vouch for) runs alone. Decided from the parse tree.

use std::collections::BTreeSet;
use std::ops::Range;

use serde::Serialize;
use squawk_syntax::{SourceFile, SyntaxKind, SyntaxNode};

use super::describe::{Control, Described};
use super::engine::{describe_statements, for_statement_nodes};
use super::model::Shape;
use crate::sql::{Statement, split_parsed};
use SyntaxKind as K;

/// Consecutive statements that run together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// The statements' indices.
    pub statements: Range<usize>,
    /// Why its one statement runs alone, outside any transaction lockstep opens; `None` when the
    /// statements run together in one transaction.
    pub alone: Option<&'static str>,
    /// In a file that controls its own transactions, what its one statement does to the
    /// transaction block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<OwnTransaction>,
}

/// What a statement of a file that controls its own transactions does to the transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnTransaction {
    /// `BEGIN` / `START TRANSACTION`: what follows runs in the file's transaction.
    Begins,
    /// `COMMIT` / `END`: the file's transaction commits.
    Commits,
    /// `ROLLBACK` / `ABORT`: the file's transaction is undone.
    RollsBack,
    /// `COMMIT AND CHAIN`: the file's transaction commits and another begins at once.
    CommitsAndChains,
    /// `ROLLBACK AND CHAIN`: the file's transaction is undone and another begins at once.
    RollsBackAndChains,
}

impl OwnTransaction {
    /// Whether a transaction of the file's is open after the statement.
    pub fn leaves_open(self) -> bool {
        matches!(
            self,
            OwnTransaction::Begins
                | OwnTransaction::CommitsAndChains
                | OwnTransaction::RollsBackAndChains
        )
    }
}

impl Segment {
    /// Whether the segment is one transaction (all of it commits, or none).
    pub fn is_transaction(&self) -> bool {
        self.alone.is_none()
    }
}

/// An index a statement creates or drops `CONCURRENTLY`: such a statement commits in several
/// steps, and a failure or a crash in between leaves the index behind, marked INVALID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "index")]
pub enum ConcurrentIndex {
    /// `CREATE INDEX CONCURRENTLY name`.
    Creates(String),
    /// `DROP INDEX CONCURRENTLY name`.
    Drops(String),
}

/// A migration's statements and the segments they run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmented {
    /// The statements, as [`crate::sql::split_statements`] splits them.
    pub statements: Vec<Statement>,
    /// The segments, covering every statement in order.
    pub segments: Vec<Segment>,
    /// For each statement, the index it builds or drops concurrently, if any.
    pub concurrent_index: Vec<Option<ConcurrentIndex>>,
    /// The relations (tables and indexes) the statements name, folded (`public.` left out).
    pub relations: BTreeSet<String>,
    /// Whether the file opens or ends transactions itself (`BEGIN`, `COMMIT`, `ROLLBACK`): then
    /// every statement runs alone, as written, whether or not the file says `-- no-transaction`.
    pub own_transactions: bool,
}

/// Why a file that opens or ends transactions itself runs one statement at a time.
const OWN_TRANSACTIONS: &str =
    "the file controls its own transactions (BEGIN/COMMIT), so lockstep opens none";

/// Splits a `-- no-transaction` migration, or one that controls its own transactions, into
/// segments.
///
/// A statement runs alone when PostgreSQL refuses it inside a transaction block (the lint rule
/// `not-in-transaction-block` knows which: `CREATE/DROP INDEX CONCURRENTLY`, `REINDEX
/// CONCURRENTLY`, `VACUUM`, `CREATE DATABASE`, …), and also when that depends on what the parse
/// tree cannot show or when the statement may commit by itself: every `REINDEX` and `CLUSTER` (a
/// partitioned table's refuses a transaction block), `ALTER TYPE … ADD VALUE` (before PostgreSQL 12
/// it refuses one; from 12 on the new value is unusable until committed), `CALL` and `DO` (a
/// procedure may `COMMIT`), subscriptions, `ALTER DATABASE`, `DISCARD`, and any statement with a
/// syntax error. Running a statement alone is always safe; grouping one that refuses a transaction
/// block is not, so every doubt runs alone. A file that uses `BEGIN`/`COMMIT` itself runs one
/// statement at a time, as written.
pub fn segment(text: &str) -> Segmented {
    let parse = SourceFile::parse(text);
    let (statements, problems) = split_parsed(text, &parse);
    let root = parse.syntax_node();
    // The oldest server's rules: what refuses a transaction block anywhere runs alone everywhere.
    let described = describe_statements(&root, &statements, 0);
    let mut alone: Vec<Option<&'static str>> = vec![None; statements.len()];
    for_statement_nodes(&root, &statements, |index, node| {
        if alone[index].is_none() {
            alone[index] = runs_alone(node);
        }
    });
    for (reason, d) in alone.iter_mut().zip(&described) {
        *reason = reason.or(d.no_transaction_block);
    }
    for problem in &problems {
        for statement in &statements {
            if problem.span.start < statement.span.end && statement.span.start < problem.span.end {
                alone[statement.index]
                    .get_or_insert("it has a syntax error lockstep's parser cannot place");
            }
        }
    }
    let own_transactions = described.iter().any(Described::controls_transaction);
    if own_transactions {
        for reason in alone.iter_mut().filter(|r| r.is_none()) {
            *reason = Some(OWN_TRANSACTIONS);
        }
    }
    let mut segments: Vec<Segment> = Vec::new();
    for (index, reason) in alone.iter().enumerate() {
        match segments.last_mut() {
            Some(last) if reason.is_none() && last.alone.is_none() => {
                last.statements.end = index + 1
            }
            _ => segments.push(Segment {
                statements: index..index + 1,
                alone: *reason,
                control: own_transactions
                    .then(|| own_transaction(&described[index]))
                    .flatten(),
            }),
        }
    }
    let mut relations = BTreeSet::new();
    let concurrent_index = described
        .iter()
        .map(|d| {
            relations.extend(d.actions.iter().map(|a| a.relation.clone()));
            relations.extend(d.creates.iter().cloned());
            let created = d
                .actions
                .iter()
                .find(|a| a.shape == Shape::CreateIndexConcurrently);
            let dropped = d
                .actions
                .iter()
                .find(|a| a.shape == Shape::DropIndexConcurrently);
            match (created, dropped) {
                (Some(_), _) => d
                    .indexes
                    .first()
                    .map(|(name, _)| ConcurrentIndex::Creates(name.clone())),
                (None, Some(drop)) => Some(ConcurrentIndex::Drops(drop.relation.clone())),
                (None, None) => None,
            }
        })
        .collect();
    relations.retain(|r| !r.is_empty());
    Segmented {
        statements,
        segments,
        concurrent_index,
        relations,
        own_transactions,
    }
}

/// What `statement` does to the transaction block, if anything.
fn own_transaction(statement: &Described) -> Option<OwnTransaction> {
    statement.control.iter().find_map(|c| match c {
        Control::Begin => Some(OwnTransaction::Begins),
        Control::Commit { chain: true } => Some(OwnTransaction::CommitsAndChains),
        Control::Commit { chain: false } => Some(OwnTransaction::Commits),
        Control::Rollback { chain: true } => Some(OwnTransaction::RollsBackAndChains),
        Control::Rollback { chain: false } => Some(OwnTransaction::RollsBack),
        _ => None,
    })
}

/// Statements lockstep runs alone, with why: those the lint rule does not flag (PostgreSQL accepts
/// most of them in a transaction block) and `ALTER TYPE … ADD VALUE` on every server version.
fn runs_alone(node: &SyntaxNode) -> Option<&'static str> {
    Some(match node.kind() {
        K::REINDEX => "REINDEX of a partitioned table cannot run inside a transaction block",
        K::CLUSTER => {
            "CLUSTER of a partitioned table or of every table cannot run inside a transaction block"
        }
        K::ALTER_TYPE if node.children().any(|c| c.kind() == K::ADD_VALUE) => {
            "ALTER TYPE … ADD VALUE: the new value is usable only once committed (before \
             PostgreSQL 12 it cannot run inside a transaction block)"
        }
        K::CALL | K::DO => {
            "a procedure or DO block may COMMIT, which it cannot do inside a transaction block"
        }
        K::CREATE_SUBSCRIPTION | K::ALTER_SUBSCRIPTION | K::DROP_SUBSCRIPTION => {
            "a subscription's replication slot cannot be managed inside a transaction block"
        }
        K::ALTER_DATABASE => {
            "ALTER DATABASE (SET TABLESPACE) cannot run inside a transaction block"
        }
        K::DISCARD => "DISCARD (ALL) cannot run inside a transaction block",
        K::COMMIT_PREPARED | K::ROLLBACK_PREPARED => {
            "COMMIT/ROLLBACK PREPARED cannot run inside a transaction block"
        }
        K::BEGIN
        | K::COMMIT_TRANSACTION
        | K::ROLLBACK_TRANSACTION
        | K::PREPARE_TRANSACTION
        | K::SAVEPOINT
        | K::RELEASE_SAVEPOINT
        | K::SET_TRANSACTION => OWN_TRANSACTIONS,
        K::ERROR => "lockstep's parser does not know this statement",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Vec<(Range<usize>, bool)> {
        segment(text)
            .segments
            .into_iter()
            .map(|s| (s.statements.clone(), s.is_transaction()))
            .collect()
    }

    #[test]
    fn consecutive_transactional_statements_share_a_segment() {
        let text = "-- no-transaction\n\
            CREATE TABLE a (id int);\n\
            INSERT INTO a VALUES (1);\n\
            CREATE INDEX CONCURRENTLY a_id ON a (id);\n\
            UPDATE a SET id = 2;\n\
            SELECT pg_sleep(0);\n\
            VACUUM a;\n";
        assert_eq!(
            shape(text),
            vec![(0..2, true), (2..3, false), (3..5, true), (5..6, false)]
        );
        let s = segment(text);
        assert_eq!(
            s.concurrent_index[2],
            Some(ConcurrentIndex::Creates("a_id".into()))
        );
        assert!(s.relations.contains("a"));
        assert_eq!(s.segments[1].alone, Some("CREATE INDEX CONCURRENTLY"));
    }

    #[test]
    fn every_statement_that_refuses_a_transaction_block_runs_alone() {
        for statement in [
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
            "DROP INDEX CONCURRENTLY i",
            "DROP INDEX CONCURRENTLY IF EXISTS i",
            "REINDEX INDEX CONCURRENTLY i",
            "REINDEX (CONCURRENTLY) TABLE t",
            "REINDEX TABLE t",
            "REINDEX SCHEMA s",
            "VACUUM t",
            "VACUUM (FULL) t",
            "VACUUM ANALYZE t",
            "CLUSTER",
            "CLUSTER t USING i",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'sad'",
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
            "CREATE DATABASE d",
            "DROP DATABASE d",
            "ALTER DATABASE d SET TABLESPACE x",
            "CREATE TABLESPACE x LOCATION '/tmp/x'",
            "DROP TABLESPACE x",
            "ALTER SYSTEM SET work_mem = '4MB'",
            "CALL do_batches()",
            "DO $$ BEGIN COMMIT; END $$",
            "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p",
            "ALTER SUBSCRIPTION s REFRESH PUBLICATION",
            "DROP SUBSCRIPTION s",
            "DISCARD ALL",
        ] {
            let text = format!("SELECT 1;\n{statement};\nSELECT 2;\n");
            assert_eq!(
                shape(&text),
                vec![(0..1, true), (1..2, false), (2..3, true)],
                "{statement}"
            );
        }
    }

    #[test]
    fn ordinary_statements_are_grouped() {
        for statement in [
            "CREATE TABLE t (a int)",
            "ALTER TABLE t ADD COLUMN b int",
            "CREATE INDEX i ON t (a)",
            "DROP INDEX i",
            "ANALYZE t",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY v",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
            "COMMENT ON TABLE t IS 'x'",
            "SET lock_timeout = '1s'",
            "CREATE TYPE mood AS ENUM ('sad')",
            "ALTER TYPE mood RENAME TO feeling",
            "INSERT INTO t SELECT g FROM generate_series(1, 10) g",
        ] {
            let text = format!("SELECT 1;\n{statement};\nSELECT 2;\n");
            assert_eq!(shape(&text), vec![(0..3, true)], "{statement}");
        }
    }

    #[test]
    fn a_file_with_its_own_transactions_runs_statement_by_statement() {
        let text = "BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\nVACUUM t;\n";
        let s = segment(text);
        assert_eq!(s.segments.len(), 4);
        assert!(s.segments.iter().all(|s| !s.is_transaction()));
        assert_eq!(s.segments[1].alone, Some(OWN_TRANSACTIONS));
        assert_eq!(s.segments[3].alone, Some("VACUUM"));
        for text in [
            "COMMIT PREPARED 'x';\nSELECT 1;",
            "SELECT 1;\nROLLBACK PREPARED 'x';",
        ] {
            assert!(
                segment(text).segments.iter().all(|s| !s.is_transaction()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_statement_with_a_syntax_error_runs_alone() {
        let s = segment("SELECT 1;\nCREATE TABLE (;\nSELECT 2;\n");
        assert!(s.segments.iter().any(|s| !s.is_transaction()));
        assert!(s.segments.first().is_some_and(|s| s.statements == (0..1)));
    }

    #[test]
    fn dropping_an_index_concurrently_is_recognised() {
        let s = segment("DROP INDEX CONCURRENTLY public.ix_a;");
        assert_eq!(
            s.concurrent_index,
            vec![Some(ConcurrentIndex::Drops("ix_a".into()))]
        );
        assert!(segment("").segments.is_empty());
    }
}
