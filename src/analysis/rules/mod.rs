//! The rule registry (names, squawk aliases, severities, axes, docs) and the checks: per action
//! ([`checks`]) and over the text itself ([`integrity`]).

mod checks;
mod help;
mod integrity;
mod registry;

pub(crate) use checks::*;
pub use help::safe_alternative;
pub(crate) use integrity::review_integrity;
pub use registry::{RULES, RuleInfo, lookup, resolve};
