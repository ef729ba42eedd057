//! The rule registry (names, squawk aliases, severities, axes, docs) and the checks: per action
//! ([`checks`]) and over the text itself ([`integrity`]).

mod checks;
mod file;
mod help;
mod integrity;
mod partitioned;
mod registry;

pub(crate) use checks::*;
pub(crate) use file::file_checks;
pub use help::safe_alternative;
pub(crate) use integrity::review_integrity;
pub(crate) use partitioned::refused as refused_on_partitioned_table;
pub use registry::{RULES, RuleInfo, lookup, resolve};
