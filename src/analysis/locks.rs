//! PostgreSQL's eight table-level lock modes and their conflict matrix (reference §1).

use std::fmt;

use serde::Serialize;

/// A table-level lock mode, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum LockMode {
    /// `ACCESS SHARE`: taken by SELECT.
    AccessShare,
    /// `ROW SHARE`: SELECT FOR UPDATE/SHARE.
    RowShare,
    /// `ROW EXCLUSIVE`: INSERT/UPDATE/DELETE/MERGE.
    RowExclusive,
    /// `SHARE UPDATE EXCLUSIVE`: VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT.
    ShareUpdateExclusive,
    /// `SHARE`: CREATE INDEX.
    Share,
    /// `SHARE ROW EXCLUSIVE`: CREATE TRIGGER, ADD FOREIGN KEY.
    ShareRowExclusive,
    /// `EXCLUSIVE`: REFRESH MATERIALIZED VIEW CONCURRENTLY.
    Exclusive,
    /// `ACCESS EXCLUSIVE`: most ALTER TABLE forms, DROP, TRUNCATE.
    AccessExclusive,
}

/// Every mode, weakest first (the order of [`CONFLICTS`]).
pub const ALL_MODES: [LockMode; 8] = [
    LockMode::AccessShare,
    LockMode::RowShare,
    LockMode::RowExclusive,
    LockMode::ShareUpdateExclusive,
    LockMode::Share,
    LockMode::ShareRowExclusive,
    LockMode::Exclusive,
    LockMode::AccessExclusive,
];

/// The conflict matrix: `CONFLICTS[held][requested]` is true when the two modes conflict.
pub const CONFLICTS: [[bool; 8]; 8] = {
    const O: bool = false;
    const X: bool = true;
    [
        // AS RS RE SUE S SRE EXCL AE
        [O, O, O, O, O, O, O, X], // AS
        [O, O, O, O, O, O, X, X], // RS
        [O, O, O, O, X, X, X, X], // RE
        [O, O, O, X, X, X, X, X], // SUE
        [O, O, X, X, O, X, X, X], // S
        [O, O, X, X, X, X, X, X], // SRE
        [O, X, X, X, X, X, X, X], // EXCL
        [X, X, X, X, X, X, X, X], // AE
    ]
};

impl LockMode {
    fn index(self) -> usize {
        self as usize
    }

    /// Whether a lock held in mode `self` makes a request for `other` wait.
    pub fn conflicts_with(self, other: LockMode) -> bool {
        CONFLICTS[self.index()][other.index()]
    }

    /// Whether holding this mode blocks plain SELECT (only ACCESS EXCLUSIVE does).
    pub fn blocks_reads(self) -> bool {
        self.conflicts_with(LockMode::AccessShare)
    }

    /// Whether holding this mode blocks INSERT/UPDATE/DELETE/MERGE.
    pub fn blocks_writes(self) -> bool {
        self.conflicts_with(LockMode::RowExclusive)
    }

    /// Eugene's "dangerous" modes: those conflicting with SELECT, DML or FOR UPDATE (S and up).
    pub fn is_dangerous(self) -> bool {
        self >= LockMode::Share
    }

    /// The name `pg_locks.mode` uses, e.g. `AccessExclusiveLock`.
    pub fn pg_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }

    /// The mode from its `pg_locks.mode` name.
    pub fn from_pg_name(name: &str) -> Option<LockMode> {
        ALL_MODES.into_iter().find(|mode| mode.pg_name() == name)
    }

    /// The SQL spelling, e.g. `ACCESS EXCLUSIVE`.
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// What the mode blocks, in words: "blocks reads and writes", "blocks writes, not reads" or
    /// "blocks neither reads nor writes".
    pub fn blocking_summary(self) -> &'static str {
        match (self.blocks_reads(), self.blocks_writes()) {
            (true, _) => "blocks reads and writes",
            (false, true) => "blocks writes, not reads",
            (false, false) => "blocks neither reads nor writes",
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_is_symmetric_and_matches_the_reference() {
        for a in ALL_MODES {
            for b in ALL_MODES {
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a), "{a:?} {b:?}");
            }
        }
        let reads: Vec<_> = ALL_MODES.into_iter().filter(|m| m.blocks_reads()).collect();
        assert_eq!(reads, vec![LockMode::AccessExclusive]);
        let writes: Vec<_> = ALL_MODES
            .into_iter()
            .filter(|m| m.blocks_writes())
            .collect();
        assert_eq!(
            writes,
            vec![
                LockMode::Share,
                LockMode::ShareRowExclusive,
                LockMode::Exclusive,
                LockMode::AccessExclusive
            ]
        );
        assert!(!LockMode::Share.conflicts_with(LockMode::Share));
        assert!(LockMode::ShareUpdateExclusive.conflicts_with(LockMode::ShareUpdateExclusive));
        assert_eq!(LockMode::from_pg_name("ShareLock"), Some(LockMode::Share));
    }
}
