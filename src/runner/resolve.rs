//! `resolve`: after a partially applied (or reverted) migration has been finished or undone by
//! hand, record it as applied or remove its row, like golang-migrate's `force`.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{PlanError, RunError, Runner};
use crate::history::{self, AppliedRow, Progress};
use crate::status::State;

/// What the database holds of the migration now, as the user states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// All of it is applied: its row is set to `success = true`.
    Applied,
    /// None of it is applied: its row is deleted, so it is pending again.
    RolledBack,
}

/// What `resolve` changed.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The version.
    pub version: i64,
    /// How it was resolved.
    pub resolution: Resolution,
    /// Its row before.
    pub previous: AppliedRow,
}

impl Resolved {
    /// What the row said before: `partially applied`, `partially reverted` or `failed`.
    pub fn was(&self) -> &'static str {
        match Progress::decode(self.previous.execution_time) {
            Progress::Applying { .. } => State::Partial.label(),
            Progress::Reverting { .. } => "partially reverted",
            Progress::Unknown => State::Failed.label(),
        }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "resolved {} {} (was {}): {}",
            self.version,
            self.previous.description,
            self.was(),
            match self.resolution {
                Resolution::Applied => "recorded as applied (success = true)",
                Resolution::RolledBack => "its history row is deleted; it is pending again",
            }
        )
    }
}

impl Runner {
    /// Takes the migration lock (as a run does) and resolves `version`, which must be recorded
    /// with `success = false`: marks it applied, or deletes its row.
    pub async fn resolve(
        &mut self,
        version: i64,
        resolution: Resolution,
    ) -> Result<Resolved, RunError> {
        self.under_lock(async |runner: &mut Runner| {
            runner.resolve_locked(version, resolution).await
        })
        .await
    }

    async fn resolve_locked(
        &mut self,
        version: i64,
        resolution: Resolution,
    ) -> Result<Resolved, RunError> {
        let table = &self.options.table;
        let rows = history::read(&mut self.conn, table).await?;
        let row = rows
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.version == version);
        let previous = match row {
            None => {
                return Err(PlanError::NothingToResolve {
                    version,
                    state: "not recorded in the history table",
                }
                .into());
            }
            Some(row) if row.success => {
                return Err(PlanError::NothingToResolve {
                    version,
                    state: "applied (success = true)",
                }
                .into());
            }
            Some(row) => row,
        };
        let query = match resolution {
            Resolution::Applied => sqlx::query(AssertSqlSafe(table.mark_sql()))
                .bind(true)
                .bind(-1_i64)
                .bind(version),
            Resolution::RolledBack => sqlx::query(AssertSqlSafe(table.delete_sql())).bind(version),
        };
        query
            .execute(&mut self.conn)
            .await
            .map_err(|source| RunError::Query {
                context: format!("resolving migration {version}"),
                source,
            })?;
        Ok(Resolved {
            version,
            resolution,
            previous,
        })
    }
}
