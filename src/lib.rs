//! lockstep: review and run sqlx migrations on PostgreSQL safely.
//!
//! The engine is a library that knows nothing of the terminal: migration files ([`source`]), the
//! history table ([`history`]), what is applied and pending ([`status`]) and what an unfinished
//! `-- no-transaction` run left ([`unfinished`]), statement splitting
//! ([`sql`]), the runner ([`runner`]), database connections ([`db`]) and the poolers between
//! lockstep and the server ([`pooler`]), the audit trail of runs ([`audit`]), a throwaway PostgreSQL of its own ([`sandbox`]), the
//! database monitor behind the inspection panes ([`monitor`]), and the
//! visible form of hidden characters in migration and database text ([`text`]). The CLI ([`cli`])
//! is a thin layer on top.

pub mod analysis;
pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod format;
pub mod guard;
pub mod health;
pub mod history;
pub mod monitor;
pub mod pooler;
pub mod rehearse;
pub mod run;
pub mod runner;
pub mod sandbox;
pub mod schema;
pub mod source;
pub mod sql;
pub mod status;
pub mod testing;
pub mod text;
pub mod trace;
pub mod tui;
pub mod unfinished;

/// The number of cores this process may use (at least 1), asked once: the answer reads cgroup
/// files, and lint asks on every file it splits and every output it renders.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Serializes bytes as lowercase hex (checksums in JSON output).
pub fn serde_hex<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}
