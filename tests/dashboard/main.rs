//! Dashboard tests: screens drawn on ratatui's TestBackend (insta snapshots, times and pids
//! redacted, colours asserted), the reducer driven by keys, and the real binary in a
//! pseudo-terminal against a real PostgreSQL.

mod applied;
mod guard;
mod hidden;
mod history;
mod inspect;
mod layouts;
mod pty;
mod rehearsal;
mod run;
mod screens;
