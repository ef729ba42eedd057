//! Engine tests against a real PostgreSQL: `DATABASE_URL` when set, else a sandbox per process.

mod apply_revert;
mod audit;
mod bad_input;
mod cli;
mod common;
mod concurrency;
mod drift;
mod failures;
mod guard;
mod health;
mod hidden;
mod interrupt;
mod no_transaction;
mod pooler;
mod process;
mod rehearse;
mod sandbox;
mod sqlx_interop;
