//! A hook called on the migration connection right before each statement runs (inside the
//! statement's transaction, when it has one), so what it reads is exactly what the statement
//! will change. lockstep's guard uses it to keep the data a destructive statement drops
//! ([`crate::guard`]); the runner knows nothing of what the hook does.

use std::future::Future;
use std::pin::Pin;

use sqlx::postgres::PgConnection;

use super::events::EventSink;
use super::plan::Step;
use crate::sql::Statement;

/// What [`BeforeStatement::before`] returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send + 'a>>;

/// Work done before each statement of a run. A failure stops the migration as the statement's
/// own failure would (its transaction rolls back; a lock timeout is retried like one).
pub trait BeforeStatement: Send {
    /// Runs before `statement` of `step`, on the migration connection; may report events.
    fn before<'a>(
        &'a mut self,
        conn: &'a mut PgConnection,
        step: &'a Step,
        statement: &'a Statement,
        events: &'a EventSink,
    ) -> HookFuture<'a>;
}

/// Why the hook stopped the statement from running.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A query failed (reported like the statement's own error, with its SQLSTATE).
    #[error(transparent)]
    Query(#[from] sqlx::Error),
    /// Anything else, in words.
    #[error("{0}")]
    Refused(String),
}
