//! How far an unfinished `-- no-transaction` run got, as lockstep marks it in the history row.
//!
//! While lockstep runs a `-- no-transaction` migration that commits in several steps, its row has
//! `success = false` (sqlx's "dirty" state: sqlx refuses to run past it) and `execution_time`
//! counts the statements known to be committed. sqlx never reads `execution_time` of such a row.
//! The count is written in the same transaction as the statements it counts when they run in one,
//! so it is exact for those; after a statement that runs alone it is written once the statement
//! has succeeded, so a crash in between leaves that statement uncertain (it may have completed).

use serde::Serialize;

/// An applying run: `execution_time = -2 - committed` (`-1` stays sqlx's "unknown").
const APPLYING: i64 = -2;
/// A reverting run: `execution_time = REVERTING - committed`.
const REVERTING: i64 = -(1 << 32);

/// What a `success = false` row says about the run that left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "run")]
pub enum Progress {
    /// Applying the UP file: its first `committed` statements are committed.
    Applying {
        /// Statements known to be committed.
        committed: usize,
    },
    /// Reverting with the DOWN file: its first `committed` statements are committed.
    Reverting {
        /// Statements known to be committed.
        committed: usize,
    },
    /// Not lockstep's mark (a row marked failed by hand or by another tool).
    Unknown,
}

impl Progress {
    /// Reads a `success = false` row's `execution_time`.
    pub fn decode(execution_time: i64) -> Progress {
        let count = |base: i64| usize::try_from(base - execution_time).unwrap_or(usize::MAX);
        if execution_time <= REVERTING {
            Progress::Reverting {
                committed: count(REVERTING),
            }
        } else if execution_time <= APPLYING {
            Progress::Applying {
                committed: count(APPLYING),
            }
        } else {
            Progress::Unknown
        }
    }

    /// The `execution_time` that records this progress (`-1` for [`Progress::Unknown`]).
    pub fn encode(self) -> i64 {
        // Counts stay far below the 2^32 between the two ranges.
        let count = |n: usize| i64::try_from(n.min(1 << 31)).unwrap_or(0);
        match self {
            Progress::Applying { committed } => APPLYING - count(committed),
            Progress::Reverting { committed } => REVERTING - count(committed),
            Progress::Unknown => -1,
        }
    }

    /// Statements known to be committed, when lockstep marked the row.
    pub fn committed(self) -> Option<usize> {
        match self {
            Progress::Applying { committed } | Progress::Reverting { committed } => Some(committed),
            Progress::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_foreign_rows_are_unknown() {
        for progress in [
            Progress::Applying { committed: 0 },
            Progress::Applying { committed: 7 },
            Progress::Reverting { committed: 0 },
            Progress::Reverting { committed: 3 },
        ] {
            assert_eq!(Progress::decode(progress.encode()), progress);
        }
        assert_eq!(Progress::Applying { committed: 0 }.encode(), -2);
        assert_eq!(
            Progress::decode(-1),
            Progress::Unknown,
            "sqlx's unknown time"
        );
        assert_eq!(Progress::decode(1_234_567), Progress::Unknown);
        assert_eq!(Progress::decode(0), Progress::Unknown);
        assert_eq!(Progress::Reverting { committed: 2 }.committed(), Some(2));
    }
}
