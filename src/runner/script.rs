//! What a step sends, in order: its statements, the transactions around them and the history-row
//! writes. The run ([`super::execute`]) and the dry run both follow this script.
//!
//! A migration in one transaction is sqlx's sequence: `BEGIN`, the statements, the row (`INSERT`
//! with `success = TRUE` and the execution time, or the `DELETE` on revert), `COMMIT` (sent with
//! the row in one round trip). Unlike sqlx, the execution time is written with the row, not by an
//! `UPDATE` in a transaction of its own after the commit: one commit per migration, not two. A
//! `-- no-transaction` migration runs in [`Segment`]s: each transaction segment is `BEGIN`, its
//! statements, the row, `COMMIT`; a statement that cannot run in a transaction runs alone, and the
//! row is written after it. Until the last segment the row says `success = FALSE` with the
//! [`Progress`] so far (on apply it is inserted so; on revert the applied row is marked so), so a
//! run that stops midway is recorded. One that commits in one segment (a single transaction
//! segment) is atomic and writes the row as sqlx does.

use super::plan::{Direction, Step};
use crate::analysis::{OwnTransaction, Segment};
use crate::history::{HistoryTable, Progress};

/// One thing a step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A `-- no-transaction` migration's segment starts (nothing is sent).
    Segment(usize),
    /// `BEGIN`.
    Begin,
    /// The statement with this index.
    Statement(usize),
    /// A write of the migration's history row.
    Row(RowWrite),
    /// `COMMIT`.
    Commit,
}

/// A write of the migration's history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWrite {
    /// sqlx's `INSERT … success = TRUE` with the execution time.
    Insert,
    /// `INSERT … success = FALSE` with the progress so far.
    InsertUnfinished(Progress),
    /// `UPDATE … success = FALSE` with the progress so far.
    Unfinished(Progress),
    /// `UPDATE … success = TRUE` with the execution time: the last segment of an apply is
    /// committed.
    Finished,
    /// sqlx's `DELETE`.
    Delete,
}

impl RowWrite {
    /// Whether the row it leaves says the migration is unfinished.
    pub fn leaves_unfinished(self) -> bool {
        matches!(
            self,
            RowWrite::InsertUnfinished(_) | RowWrite::Unfinished(_)
        )
    }
}

/// The script of `step`.
pub fn script(step: &Step) -> Vec<Op> {
    let apply = step.direction == Direction::Apply;
    let progress = |committed: usize| match step.direction {
        Direction::Apply => Progress::Applying { committed },
        Direction::Revert => Progress::Reverting { committed },
    };
    // Whether the row has been written (apply) or marked unfinished (revert) yet.
    let mut written = false;
    let unfinished = |written: bool, committed: usize| {
        if apply && !written {
            RowWrite::InsertUnfinished(progress(committed))
        } else {
            RowWrite::Unfinished(progress(committed))
        }
    };
    let finished = |written: bool| match (apply, written) {
        (true, false) => RowWrite::Insert,
        (true, true) => RowWrite::Finished,
        (false, _) => RowWrite::Delete,
    };
    let mut ops = Vec::new();
    if step.segments.is_empty() {
        ops.push(Op::Row(finished(false)));
    }
    let last = step.segments.len().saturating_sub(1);
    // A file that rolls back a transaction of its own could undo a row written in it.
    let rolls_back = step.segments.iter().any(|s| {
        matches!(
            s.control,
            Some(OwnTransaction::RollsBack | OwnTransaction::RollsBackAndChains)
        )
    });
    // Inside a transaction the file opened itself: its row is written once, right before the
    // file's COMMIT, so that it commits with the work it records (and a failure in between
    // leaves neither).
    let mut inside = false;
    for (i, segment) in step.segments.iter().enumerate() {
        let Segment {
            statements,
            alone,
            control,
        } = segment;
        if !step.in_transaction {
            ops.push(Op::Segment(i));
        }
        match control {
            Some(OwnTransaction::Begins) if !rolls_back => {
                ops.extend(statements.clone().map(Op::Statement));
                inside = true;
                continue;
            }
            _ if inside
                && !matches!(
                    control,
                    Some(OwnTransaction::Commits | OwnTransaction::CommitsAndChains)
                ) =>
            {
                ops.extend(statements.clone().map(Op::Statement));
                if i == last {
                    // The file leaves its transaction open: committed at the end, as sqlx's
                    // own COMMIT would.
                    ops.push(Op::Row(finished(written)));
                    ops.push(Op::Commit);
                }
                continue;
            }
            _ => {}
        }
        let row = |written| {
            if i == last {
                finished(written)
            } else {
                unfinished(written, statements.end)
            }
        };
        if inside {
            ops.push(Op::Row(row(written)));
            ops.extend(statements.clone().map(Op::Statement));
            // COMMIT AND CHAIN: what follows runs in the file's next transaction.
            inside = *control == Some(OwnTransaction::CommitsAndChains);
            written = true;
            continue;
        }
        if alone.is_some() && !written {
            ops.push(Op::Row(unfinished(false, statements.start)));
            written = true;
        }
        let row = row(written);
        if alone.is_some() {
            ops.extend(statements.clone().map(Op::Statement));
            ops.push(Op::Row(row));
        } else {
            ops.push(Op::Begin);
            ops.extend(statements.clone().map(Op::Statement));
            ops.push(Op::Row(row));
            ops.push(Op::Commit);
        }
        written = true;
    }
    // (A transaction left open inside the file's own is committed above, with its row.)
    if step.leaves_transaction_open() && ops.last() != Some(&Op::Commit) {
        ops.push(Op::Commit);
    }
    ops
}

/// The statement of a history-row write for `step`; `elapsed` is the execution time to record
/// (nanoseconds) when the write finishes the migration.
pub fn row_sql(table: &HistoryTable, step: &Step, write: RowWrite, elapsed: &str) -> String {
    let version = step.version;
    let insert = |success, time: &str| {
        table.insert_row_sql(version, &step.description, &step.checksum, success, time)
    };
    match write {
        RowWrite::Insert => insert(true, elapsed),
        RowWrite::InsertUnfinished(progress) => insert(false, &progress.encode().to_string()),
        RowWrite::Unfinished(progress) => {
            table.mark_row_sql(version, false, &progress.encode().to_string())
        }
        RowWrite::Finished => table.mark_row_sql(version, true, elapsed),
        RowWrite::Delete => table.delete_row_sql(version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationFile;
    use Op::*;
    use RowWrite::*;
    use std::path::PathBuf;

    fn step(direction: Direction, sql: &str, in_transaction: bool) -> Step {
        let file = MigrationFile {
            path: PathBuf::from("1_m.sql"),
            sql: sql.into(),
            checksum: vec![],
            no_transaction: !in_transaction,
        };
        super::super::plan::step(direction, 1, "m", &file, &[], &mut Default::default())
    }

    #[test]
    fn one_transaction_is_sqlx_sequence() {
        let s = step(Direction::Apply, "SELECT 1; SELECT 2;", true);
        assert_eq!(
            script(&s),
            vec![Begin, Statement(0), Statement(1), Row(Insert), Commit]
        );
        let s = step(Direction::Revert, "SELECT 1;", true);
        assert_eq!(script(&s), vec![Begin, Statement(0), Row(Delete), Commit]);
    }

    #[test]
    fn a_no_transaction_file_of_transactional_statements_is_one_atomic_transaction() {
        let s = step(Direction::Apply, "SELECT 1; SELECT 2;", false);
        assert_eq!(
            script(&s),
            vec![
                Segment(0),
                Begin,
                Statement(0),
                Statement(1),
                Row(Insert),
                Commit
            ]
        );
    }

    #[test]
    fn a_file_with_its_own_transactions_runs_as_written_and_its_row_commits_with_them() {
        let applying = |committed| Progress::Applying { committed };
        // Wrapped whole in BEGIN/COMMIT, with or without -- no-transaction: the row is written
        // once, right before the file's COMMIT, so a failure inside leaves neither.
        for in_transaction in [true, false] {
            let s = step(
                Direction::Apply,
                "BEGIN;\nSELECT 1;\nSELECT 2;\nCOMMIT;",
                in_transaction,
            );
            assert!(!s.in_transaction && s.own_transactions());
            assert_eq!(
                script(&s),
                vec![
                    Segment(0),
                    Statement(0),
                    Segment(1),
                    Statement(1),
                    Segment(2),
                    Statement(2),
                    Segment(3),
                    Row(Insert),
                    Statement(3)
                ]
            );
        }
        // A COMMIT part-way (in the runner's transaction, sqlx's would end there): what follows
        // runs a statement at a time, each recorded once it stays.
        let s = step(
            Direction::Apply,
            "SELECT 0;\nBEGIN;\nSELECT 1;\nCOMMIT;\nSELECT 2;",
            true,
        );
        assert_eq!(
            script(&s),
            vec![
                Segment(0),
                Row(InsertUnfinished(applying(0))),
                Statement(0),
                Row(Unfinished(applying(1))),
                Segment(1),
                Statement(1),
                Segment(2),
                Statement(2),
                Segment(3),
                Row(Unfinished(applying(4))),
                Statement(3),
                Segment(4),
                Statement(4),
                Row(Finished)
            ]
        );
        // A transaction left open at the end is committed by the runner, with the row.
        let s = step(
            Direction::Apply,
            "SELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;",
            true,
        );
        let ops = script(&s);
        assert_eq!(
            ops[ops.len() - 6..],
            [
                Segment(2),
                Statement(2),
                Segment(3),
                Statement(3),
                Row(Finished),
                Commit
            ]
        );
        // A file without BEGIN or COMMIT stays one transaction.
        assert!(step(Direction::Apply, "SELECT 1; SELECT 'BEGIN';", true).in_transaction);
    }

    #[test]
    fn segments_record_their_progress() {
        let sql = "CREATE INDEX CONCURRENTLY a ON t (x);\nSELECT 1;\nSELECT 2;\nVACUUM t;";
        let applying = |committed| Progress::Applying { committed };
        assert_eq!(
            script(&step(Direction::Apply, sql, false)),
            vec![
                Segment(0),
                Row(InsertUnfinished(applying(0))),
                Statement(0),
                Row(Unfinished(applying(1))),
                Segment(1),
                Begin,
                Statement(1),
                Statement(2),
                Row(Unfinished(applying(3))),
                Commit,
                Segment(2),
                Statement(3),
                Row(Finished)
            ]
        );
        let sql = "SELECT 1;\nDROP INDEX CONCURRENTLY a;\nSELECT 2;";
        let reverting = |committed| Progress::Reverting { committed };
        assert_eq!(
            script(&step(Direction::Revert, sql, false)),
            vec![
                Segment(0),
                Begin,
                Statement(0),
                Row(Unfinished(reverting(1))),
                Commit,
                Segment(1),
                Statement(1),
                Row(Unfinished(reverting(2))),
                Segment(2),
                Begin,
                Statement(2),
                Row(Delete),
                Commit
            ]
        );
    }

    #[test]
    fn an_empty_file_still_records_its_row() {
        assert_eq!(
            script(&step(Direction::Apply, "-- nothing", false)),
            vec![Row(Insert)]
        );
        assert_eq!(script(&step(Direction::Apply, "", true)).len(), 3);
    }
}
