//! Migration safety analysis: what each statement locks, blocks and rewrites, and the findings a
//! reviewer needs (reference: `shared/reference/postgres-locks.md`).
//!
//! Pure: text in, [`Analysis`] out. No I/O, no terminal. The lock facts come from the lock model
//! table in [`model`] and the conflict matrix in [`locks`]; the rules in [`rules`] read them.
//!
//! ```
//! use lockstep::analysis::{analyze, AnalysisContext};
//! let analysis = analyze("CREATE INDEX ix ON users (email);", &AnalysisContext::default());
//! assert!(analysis.findings.iter().any(|f| f.rule == "require-concurrent-index"));
//! assert_eq!(analysis.statements[0].locks[0].mode, lockstep::analysis::LockMode::Share);
//! ```

#![warn(missing_docs)]

pub mod catalog;
mod coercion;
mod describe;
pub mod destructive;
mod engine;
mod ignore;
pub mod lint;
pub mod locks;
pub mod migrations;
pub mod model;
mod naming;
pub mod policy;
pub mod render;
pub mod rules;
mod segments;
mod session;
mod syntax;
mod types;

pub use catalog::{
    Catalog, Relation, RelationKind, Routine, RoutineLock, SchemaChanges, Trigger, TriggerEvent,
};
pub(crate) use describe::{not_null_proven_by, routine_of_source};
pub use engine::analyze;
pub use lint::{LintOptions, LintReport, LintedFile, lint_each, lint_files};
pub use locks::LockMode;
pub use model::{Cost, Shape, Target};
pub use segments::{ConcurrentIndex, OwnTransaction, Segment, Segmented, segment};
pub use types::*;
