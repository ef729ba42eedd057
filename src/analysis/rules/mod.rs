//! The rule registry (names, squawk aliases, severities, axes, docs) and the checks.

mod checks;
mod registry;

pub(crate) use checks::*;
pub use registry::{RULES, RuleInfo, lookup, resolve};
