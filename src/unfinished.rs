//! What is known about a migration whose history row says `success = false`: how far the
//! `-- no-transaction` run that left it got, segment by segment (from lockstep's [`Progress`]
//! mark), and what the server shows of the statement it stopped in (the index a `CONCURRENTLY`
//! build or drop leaves, INVALID indexes). The text is rendered here, once, for the CLI and the
//! dashboard.

use std::ops::Range;

use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::analysis::{ConcurrentIndex, OwnTransaction, segment};
use crate::format::sql_one_line;
use crate::history::{AppliedRow, Progress};
use crate::runner::text::count;
use crate::runner::{LockHolder, advisory_key, lock_holder};
use crate::source::Migration;

/// What is known about an unfinished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unfinished {
    /// How far the run got, as lockstep marked the row.
    pub progress: Progress,
    /// The file that ran (UP when applying, DOWN when reverting), when it is here.
    pub file: Option<std::path::PathBuf>,
    /// How many statements that file has.
    pub statements: usize,
    /// Whether the file opens and ends its own transactions (it runs as written).
    pub own_transactions: bool,
    /// Its segments and what became of each.
    pub segments: Vec<SegmentOutcome>,
    /// The mark does not fall between two segments: the file changed since the run.
    pub file_changed: bool,
    /// INVALID indexes on the relations the file names (left by a `CONCURRENTLY` build or drop
    /// that did not finish), read from the server: `(index, table)`.
    pub invalid_indexes: Vec<(String, String)>,
    /// The session holding the migration lock, read from the server: a run that is still going
    /// (after a client crashes, its server session finishes the statement it was running first).
    pub lock_holder: Option<LockHolder>,
    /// Relations the file names, and the index the segment the run stopped in builds or drops.
    #[serde(skip)]
    lookup: Lookup,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Lookup {
    relations: Vec<String>,
    stopped_in: Option<(usize, ConcurrentIndex)>,
}

/// One segment of the file and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentOutcome {
    /// Its statements' indices.
    pub statements: Range<usize>,
    /// The first statement's line.
    pub line: usize,
    /// The first statement, on one line and shortened.
    pub text: String,
    /// Why it runs alone, or `None` for a transaction segment.
    pub alone: Option<&'static str>,
    /// What became of it.
    pub outcome: Outcome,
}

/// What became of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Committed.
    Committed,
    /// The transaction segment the run stopped in: rolled back, none of it stayed.
    RolledBack,
    /// The statement (run alone) the run stopped in or right after: it may have completed.
    Uncertain,
    /// That statement completed: the index it builds is valid, or the index it drops is gone.
    Completed,
    /// That statement took no effect: the index it builds is absent, or the one it drops valid.
    NoEffect,
    /// That statement stopped midway: the index it builds or drops is INVALID.
    LeftInvalid,
    /// Not run: it comes after the segment the run stopped in.
    NotRun,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::RolledBack => "rolled back (a transaction that did not commit leaves nothing)",
            Outcome::Uncertain => "may have completed (it runs outside a transaction)",
            Outcome::Completed => "completed (the server shows its index change)",
            Outcome::NoEffect => "took no effect (the server shows no index change)",
            Outcome::LeftInvalid => "stopped midway and left an INVALID index",
            Outcome::NotRun => "not run",
        }
    }
}

impl Unfinished {
    /// What the row and the migration's files say, before asking the server.
    pub fn build(row: &AppliedRow, migration: Option<&Migration>) -> Unfinished {
        let progress = Progress::decode(row.execution_time);
        let file = match progress {
            Progress::Reverting { .. } => migration.and_then(|m| m.down.as_ref()),
            _ => migration.map(|m| &m.up),
        };
        let mut unfinished = Unfinished {
            progress,
            file: file.map(|f| f.path.clone()),
            statements: 0,
            own_transactions: false,
            segments: Vec::new(),
            file_changed: false,
            invalid_indexes: Vec::new(),
            lock_holder: None,
            lookup: Lookup::default(),
        };
        let (Some(file), Some(committed)) = (file, progress.committed()) else {
            return unfinished;
        };
        let segmented = segment(&file.sql);
        unfinished.statements = segmented.statements.len();
        unfinished.own_transactions = segmented.own_transactions;
        unfinished.lookup.relations = segmented.relations.iter().cloned().collect();
        unfinished.file_changed = committed > 0
            && !segmented
                .segments
                .iter()
                .any(|s| s.statements.end == committed);
        let mut stopped = false;
        for (i, segment) in segmented.segments.iter().enumerate() {
            let outcome = if segment.statements.end <= committed {
                Outcome::Committed
            } else if stopped {
                Outcome::NotRun
            } else {
                stopped = true;
                // The file's own BEGIN, or a statement in the transaction a COMMIT/ROLLBACK AND
                // CHAIN began: that transaction, row and all, was rolled back.
                let chained = segmented.segments[..i]
                    .iter()
                    .rev()
                    .find_map(|s| s.control)
                    .is_some_and(OwnTransaction::leaves_open);
                if segment.is_transaction()
                    || segment.control == Some(OwnTransaction::Begins)
                    || chained
                {
                    Outcome::RolledBack
                } else {
                    if let Some(index) =
                        segmented.concurrent_index[segment.statements.start].clone()
                    {
                        unfinished.lookup.stopped_in = Some((i, index));
                    }
                    Outcome::Uncertain
                }
            };
            let first = &segmented.statements[segment.statements.start];
            unfinished.segments.push(SegmentOutcome {
                statements: segment.statements.clone(),
                line: first.start.line,
                text: sql_one_line(&first.text, 60),
                alone: segment.alone,
                outcome,
            });
        }
        unfinished
    }

    /// Reads from the server what the file's statements left on indexes: INVALID indexes on the
    /// relations it names, and whether the `CONCURRENTLY` statement the run stopped in completed.
    pub async fn read_server(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.lookup.relations.is_empty() {
            return Ok(());
        }
        let last_part = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
        let names: Vec<String> = self.lookup.relations.iter().map(|r| last_part(r)).collect();
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "/* lockstep */ SELECT c.relname::text, t.relname::text, i.indisvalid \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid \
             WHERE c.relname = ANY($1) OR (NOT i.indisvalid AND t.relname = ANY($1)) \
             ORDER BY 1",
        )
        .bind(&names)
        .fetch_all(&mut *conn)
        .await?;
        self.invalid_indexes = rows
            .iter()
            .filter(|(_, _, valid)| !valid)
            .map(|(index, table, _)| (index.clone(), table.clone()))
            .collect();
        if let Some((i, index)) = &self.lookup.stopped_in {
            let (name, builds) = match index {
                ConcurrentIndex::Creates(name) => (last_part(name), true),
                ConcurrentIndex::Drops(name) => (last_part(name), false),
            };
            let found = rows.iter().find(|(index, _, _)| *index == name);
            let outcome = match (found.map(|(_, _, valid)| *valid), builds) {
                (Some(false), _) => Outcome::LeftInvalid,
                (Some(true), true) | (None, false) => Outcome::Completed,
                (None, true) | (Some(true), false) => Outcome::NoEffect,
            };
            if let Some(segment) = self.segments.get_mut(*i) {
                segment.outcome = outcome;
            }
        }
        Ok(())
    }

    /// What is known, as lines of text (without a trailing newline), for `status` and the
    /// dashboard.
    pub fn lines(&self, version: i64) -> Vec<String> {
        let mut out = Vec::new();
        let (verb, committed) = match self.progress {
            Progress::Applying { committed } => ("applying", committed),
            Progress::Reverting { committed } => ("reverting", committed),
            Progress::Unknown => {
                out.push(
                    "recorded as failed (success = false) by hand or by another tool: lockstep \
                     knows nothing of how far it got"
                        .to_string(),
                );
                out.push(resolve_hint(version));
                return out;
            }
        };
        let file = self
            .file
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        let run = match self.own_transactions {
            true => "a run (as written: its own BEGIN/COMMIT)",
            false => "a -- no-transaction run",
        };
        match &file {
            Some(file) => out.push(format!(
                "{run} {verb} {file} stopped after {committed} of {} committed",
                count(self.statements, "statement", "statements")
            )),
            None => out.push(format!(
                "{run} {verb} it stopped after {} committed; its file is missing",
                count(committed, "statement", "statements")
            )),
        }
        if let Some(holder) = &self.lock_holder {
            out.push(format!(
                "the migration lock is held by {holder}: a run is still going (after a crash, \
                 its server session first finishes the statement it was running); wait for it \
                 to end before acting"
            ));
        }
        if self.file_changed {
            out.push(
                "the file changed since that run: the segments below may not match what ran"
                    .to_string(),
            );
        }
        for segment in &self.segments {
            let which = match segment.statements.len() {
                1 => format!("statement {}", segment.statements.start + 1),
                _ => format!(
                    "statements {}–{}",
                    segment.statements.start + 1,
                    segment.statements.end
                ),
            };
            let how = match segment.alone {
                Some(_) => "alone",
                None => "one transaction",
            };
            out.push(format!(
                "  {which} (line {}, {how}): {} — {}",
                segment.line,
                segment.outcome.label(),
                segment.text
            ));
        }
        for (index, table) in &self.invalid_indexes {
            out.push(format!(
                "  INVALID index {index} on {table}: drop it (DROP INDEX CONCURRENTLY {index}) \
                 before building it again"
            ));
        }
        out.push(resolve_hint(version));
        out
    }
}

/// Reads the server's facts ([`Unfinished::read_server`], and who holds the migration lock) for
/// every unfinished version of `status`. Read-only.
pub async fn read_server_facts(
    conn: &mut PgConnection,
    status: &mut crate::status::Status,
) -> Result<(), sqlx::Error> {
    let mut holder = None;
    for (i, unfinished) in status
        .versions
        .iter_mut()
        .filter_map(|v| v.unfinished.as_mut())
        .enumerate()
    {
        if i == 0 {
            let database: String = sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(&mut *conn)
                .await?;
            holder = lock_holder(conn, advisory_key(&database), None).await?;
        }
        unfinished.lock_holder = holder.clone();
        unfinished.read_server(conn).await?;
    }
    Ok(())
}

fn resolve_hint(version: i64) -> String {
    format!(
        "finish or undo it by hand, then `lockstep resolve {version} --applied` or \
         `lockstep resolve {version} --rolled-back`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationFile;
    use std::path::PathBuf;

    fn migration(up: &str) -> Migration {
        Migration {
            version: 1,
            description: "m".into(),
            up: MigrationFile {
                path: PathBuf::from("1_m.up.sql"),
                sql: up.into(),
                checksum: vec![],
                no_transaction: true,
            },
            down: None,
        }
    }

    fn row(progress: Progress) -> AppliedRow {
        AppliedRow {
            version: 1,
            description: "m".into(),
            installed_on: chrono::DateTime::UNIX_EPOCH,
            success: false,
            checksum: vec![],
            execution_time: progress.encode(),
        }
    }

    #[test]
    fn what_ran_in_the_transaction_an_and_chain_began_was_rolled_back() {
        let m = migration(
            "BEGIN;\nCREATE TABLE x (id int);\nCOMMIT AND CHAIN;\nCREATE TABLE y (id int);\nSELECT 1/0;\n",
        );
        // Committed through the chain (statements 1–3); stopped in the chained transaction.
        let u = Unfinished::build(&row(Progress::Applying { committed: 3 }), Some(&m));
        let outcomes: Vec<Outcome> = u.segments.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                Outcome::Committed,
                Outcome::Committed,
                Outcome::Committed,
                Outcome::RolledBack,
                Outcome::NotRun
            ]
        );
        // After a plain COMMIT, what runs next is outside any transaction: not known.
        let m = migration("BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\nCREATE TABLE y (id int);\n");
        let u = Unfinished::build(&row(Progress::Applying { committed: 3 }), Some(&m));
        assert_eq!(u.segments[3].outcome, Outcome::Uncertain);
    }

    #[test]
    fn segments_before_the_mark_are_committed_and_the_next_one_is_where_it_stopped() {
        let m = migration(
            "-- no-transaction\nSELECT 1;\nSELECT 2;\nCREATE INDEX CONCURRENTLY ix ON t (a);\nSELECT 3;\n",
        );
        let u = Unfinished::build(&row(Progress::Applying { committed: 2 }), Some(&m));
        let outcomes: Vec<Outcome> = u.segments.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Committed, Outcome::Uncertain, Outcome::NotRun]
        );
        assert!(!u.file_changed);
        assert_eq!(
            u.lookup.stopped_in,
            Some((1, ConcurrentIndex::Creates("ix".into())))
        );
        let text = u.lines(1).join("\n");
        assert!(text.contains("stopped after 2 of 4 statements"), "{text}");
        assert!(
            text.contains("statements 1–2 (line 2, one transaction): committed"),
            "{text}"
        );
        assert!(text.contains("lockstep resolve 1 --applied"), "{text}");

        let u = Unfinished::build(&row(Progress::Applying { committed: 0 }), Some(&m));
        assert_eq!(u.segments[0].outcome, Outcome::RolledBack);
        let u = Unfinished::build(&row(Progress::Applying { committed: 1 }), Some(&m));
        assert!(u.file_changed, "1 is inside the first transaction segment");
    }

    #[test]
    fn a_foreign_failed_row_says_nothing_is_known() {
        let mut r = row(Progress::Unknown);
        r.execution_time = 5_000;
        let u = Unfinished::build(&r, None);
        assert_eq!(u.progress, Progress::Unknown);
        assert!(u.lines(1)[0].contains("knows nothing"));
    }
}
