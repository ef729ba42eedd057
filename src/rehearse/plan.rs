//! The DOWN steps a rehearsal runs.

use crate::runner::{Direction, Step};
use crate::source::Migration;

/// The step that reverts `migration`, or why there is none: a simple migration, a missing DOWN
/// file, or a DOWN file without statements.
pub fn down_step(migration: &Migration) -> Result<Step, String> {
    let Some(file) = &migration.down else {
        return Err(if migration.lacks_down() {
            "its .down.sql file is missing".into()
        } else {
            "a simple migration (no .down.sql)".into()
        });
    };
    // Cut as the runner cuts it: a `-- no-transaction` DOWN runs in the same segments.
    let (statements, segments) = crate::runner::cut(file);
    if statements.is_empty() {
        return Err("its .down.sql file has no statement".into());
    }
    Ok(Step {
        direction: Direction::Revert,
        version: migration.version,
        description: migration.description.clone(),
        file: file.clone(),
        checksum: migration.checksum().to_vec(),
        in_transaction: crate::runner::in_one_transaction(file, &segments),
        segments,
        statements,
    })
}
