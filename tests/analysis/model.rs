//! The lock model table against the reference's conflict matrix and per-command rows.

use lockstep::analysis::locks::{ALL_MODES, CONFLICTS};
use lockstep::analysis::model::{LOCK_MODEL, lookup};
use lockstep::analysis::{Cost, LockMode, Shape};

#[test]
fn conflict_matrix_rows_match_the_reference() {
    // Each row as written in the reference (held \ requested), AS..AE.
    let reference = [
        "       X", "      XX", "    XXXX", "   XXXXX", "  XX XXX", "  XXXXXX", " XXXXXXX",
        "XXXXXXXX",
    ];
    for (i, row) in reference.iter().enumerate() {
        let expected: Vec<bool> = row.chars().map(|c| c == 'X').collect();
        assert_eq!(CONFLICTS[i].to_vec(), expected, "row {:?}", ALL_MODES[i]);
    }
}

#[test]
fn key_rows_follow_the_reference() {
    assert_eq!(lookup(Shape::CreateIndex).lock, LockMode::Share);
    assert_eq!(
        lookup(Shape::CreateIndexConcurrently).lock,
        LockMode::ShareUpdateExclusive
    );
    assert_eq!(
        lookup(Shape::ValidateConstraint).lock,
        LockMode::ShareUpdateExclusive
    );
    assert_eq!(
        lookup(Shape::AddForeignKey).lock,
        LockMode::ShareRowExclusive
    );
    assert_eq!(
        lookup(Shape::RefreshMatviewConcurrently).lock,
        LockMode::Exclusive
    );
    assert_eq!(lookup(Shape::Truncate).cost, Cost::Rewrite);
    assert_eq!(lookup(Shape::SetNotNull).cost, Cost::Scan);
    assert_eq!(lookup(Shape::AddColumn).cost, Cost::None);
    assert!(LOCK_MODEL.iter().all(|r| !r.command.is_empty()));
    // Only ACCESS EXCLUSIVE blocks reads.
    assert!(
        LOCK_MODEL
            .iter()
            .filter(|r| r.lock.blocks_reads())
            .all(|r| r.lock == LockMode::AccessExclusive)
    );
}
