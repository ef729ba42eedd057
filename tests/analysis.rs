//! The safety analysis test suite: rule fixtures (must fire / must not fire), version cut-offs,
//! new-table exemptions, ignore comments, transaction shapes, fixes, renderers, lint_files, a
//! property test, and the ground truth from a real PostgreSQL.

#[path = "analysis/cli.rs"]
mod cli;
#[path = "analysis/common.rs"]
mod common;
#[path = "analysis/context.rs"]
mod context;
#[path = "analysis/fix.rs"]
mod fix;
#[path = "analysis/fixtures.rs"]
mod fixtures;
#[path = "analysis/ground_truth.rs"]
mod ground_truth;
#[path = "analysis/integrity.rs"]
mod integrity;
#[path = "analysis/model.rs"]
mod model;
#[path = "analysis/properties.rs"]
mod properties;
#[path = "analysis/render.rs"]
mod render;
#[path = "analysis/suppression.rs"]
mod suppression;
#[path = "analysis/transactions.rs"]
mod transactions;
