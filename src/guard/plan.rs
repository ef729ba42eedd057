//! What the guard will do around one run, decided before anything changes: the schema snapshot,
//! the data copies with their estimated sizes against the limit, and the confirmation; rendered
//! once as text lines for the CLI and the dashboard.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::keep::{DataKeeper, TREE, safe_file_name, scope};
use super::snapshot::{SnapshotOutcome, write_schema};
use super::{Environment, GuardError};
use crate::analysis::destructive::{Destruction, find, type_change_keeps_values};
use crate::config::{ConfirmPolicy, SnapshotPolicy};
use crate::db::{Database, DbError};
use crate::runner::{Direction, Operation, Plan};

/// What the command line (or the dashboard) says about the guard for one run.
#[derive(Debug, Clone, Default)]
pub struct GuardOptions {
    /// `--no-snapshot`: no schema snapshot, whatever the environment says (recorded).
    pub no_snapshot: bool,
    /// `--no-keep-data`: no data copies.
    pub no_keep_data: bool,
    /// `--backup-limit`: the most the run's data copies may hold, instead of the environment's.
    pub backup_limit: Option<u64>,
    /// How long `pg_dump` may wait for each table's lock (the run's `lock_timeout`).
    pub lock_timeout: Option<Duration>,
}

/// One data copy the run will take, before one statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedCopy {
    /// Apply or revert.
    pub direction: Direction,
    /// The migration.
    pub version: i64,
    /// The statement's index.
    pub statement: usize,
    /// Its first line in the file.
    pub line: usize,
    /// What it destroys.
    pub destruction: Destruction,
    /// The estimated size of what will be copied, in bytes (0 when the table does not exist
    /// yet: an earlier migration of the run creates it).
    pub estimate: u64,
    /// Whether the table exists now.
    pub exists: bool,
    /// The estimate of a column's data is its table's size: the server has no statistics on
    /// the column yet, and its type has no fixed width.
    pub at_most: bool,
}

/// The confirmation a run needs before it starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confirmation {
    /// The policy.
    pub policy: ConfirmPolicy,
    /// What to type (the database name or the version), or `y` for a yes/no question.
    pub expected: String,
    /// The question, for a person.
    pub prompt: String,
    /// How to confirm without a terminal: `--yes` or `--confirm VALUE`.
    pub flag: String,
}

impl Confirmation {
    /// Whether `answer` (typed, or given with `--confirm`) confirms.
    pub fn accepts(&self, answer: &str) -> bool {
        let answer = answer.trim();
        match self.policy {
            ConfirmPolicy::None => true,
            ConfirmPolicy::Yes => matches!(answer, "y" | "Y" | "yes" | "YES" | "Yes"),
            _ => answer == self.expected,
        }
    }
}

/// What the guard does around one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardPlan {
    /// The environment.
    pub environment: Environment,
    /// `current_database()`.
    pub database: String,
    /// `server_version_num`.
    pub server_version_num: u32,
    /// `up`, `down` or `redo`.
    pub operation: &'static str,
    /// The steps the plan was made for.
    pub steps: Vec<(Direction, i64)>,
    /// The directory of this run's snapshot and copies:
    /// `<snapshot-dir>/<database>-<UTC time>-<operation>-<versions>`.
    pub run_dir: PathBuf,
    /// The snapshot policy in force (`off` under `--no-snapshot`).
    pub snapshot: SnapshotPolicy,
    /// `--no-snapshot` turned off a snapshot the environment asks for.
    pub snapshot_skipped_by_flag: bool,
    /// Whether data is copied before destructive statements.
    pub keep_data: bool,
    /// The copies, in run order.
    pub copies: Vec<PlannedCopy>,
    /// The most the copies may hold, in bytes.
    pub limit: u64,
}

impl GuardPlan {
    /// Decides the guard's work for `plan` on `db` in `environment`: reads the database's name
    /// and version and estimates the size of each data copy (read-only; nothing is written).
    pub async fn prepare(
        db: &Database,
        environment: &Environment,
        plan: &Plan,
        options: &GuardOptions,
    ) -> Result<GuardPlan, GuardError> {
        let mut conn = db.connect("lockstep:guard").await?;
        let query = |context: &str| {
            let context = context.to_string();
            move |error| GuardError::Db(DbError::Query { context, error })
        };
        let mut tx = crate::pooler::pinned(&mut conn, "SET TRANSACTION READ ONLY;")
            .await
            .map_err(query("opening a read-only transaction"))?;
        let (database, version): (String, String) = sqlx::query_as(
            "SELECT current_database()::text, current_setting('server_version_num')",
        )
        .persistent(false)
        .fetch_one(&mut *tx)
        .await
        .map_err(query("reading the database name"))?;
        let server_version_num = version.trim().parse().unwrap_or(0);
        let keep_data = environment.keep_data && !options.no_keep_data;
        let mut copies = Vec::new();
        for step in plan.steps.iter().filter(|_| keep_data) {
            for statement in &step.statements {
                for destruction in find(&statement.text) {
                    let Some(Estimate {
                        exists,
                        bytes: estimate,
                        at_most,
                    }) = estimate(&mut tx, &destruction)
                        .await
                        .map_err(query("estimating the size of the data to keep"))?
                    else {
                        continue;
                    };
                    copies.push(PlannedCopy {
                        direction: step.direction,
                        version: step.version,
                        statement: statement.index,
                        line: statement.start.line,
                        destruction,
                        estimate,
                        exists,
                        at_most,
                    });
                }
            }
        }
        let _ = tx.commit().await;
        let _ = sqlx::Connection::close(conn).await;
        let operation = match plan.operation {
            Operation::Up { .. } => "up",
            Operation::DownSteps { .. } | Operation::DownTo { .. } => "down",
            Operation::Redo => "redo",
        };
        let steps = plan.signature();
        let run_dir = environment
            .snapshot_dir
            .join(run_dir_name(&database, operation, &steps));
        let skipped = options.no_snapshot && environment.snapshot != SnapshotPolicy::Off;
        Ok(GuardPlan {
            environment: environment.clone(),
            database,
            server_version_num,
            operation,
            steps,
            run_dir,
            snapshot: if options.no_snapshot {
                SnapshotPolicy::Off
            } else {
                environment.snapshot
            },
            snapshot_skipped_by_flag: skipped,
            keep_data,
            copies,
            limit: options.backup_limit.unwrap_or(environment.backup_limit),
        })
    }

    /// Where the schema snapshot goes.
    pub fn snapshot_path(&self) -> PathBuf {
        self.run_dir.join("schema.sql")
    }

    /// The estimated size of every copy together.
    pub fn estimated_bytes(&self) -> u64 {
        self.copies.iter().map(|c| c.estimate).sum()
    }

    /// Why the run must not start because the copies would pass the limit, if they would.
    pub fn over_limit(&self) -> Option<String> {
        let total = self.estimated_bytes();
        (total > self.limit).then(|| {
            let biggest: Vec<String> = self
                .copies
                .iter()
                .filter(|c| c.estimate > 0)
                .map(|c| format!("  {}", copy_line(c)))
                .collect();
            format!(
                "the data to keep before the destructive statements of this run is estimated at \
                 {}, over the limit of {}; nothing was changed. Raise the limit (--backup-limit \
                 {}, or backup-limit in lockstep.toml), turn data copies off (--no-keep-data), \
                 or back the tables up another way first:\n{}",
                human(total),
                human(self.limit),
                human_flag(total),
                biggest.join("\n")
            )
        })
    }

    /// What will happen, one line each: the environment, the snapshot, the data copies.
    pub fn lines(&self) -> Vec<String> {
        let env = &self.environment;
        let mut lines = vec![format!(
            "environment: {} — {}",
            env.label(),
            if env.production_like {
                format!("production-like: {}", env.why)
            } else {
                format!("not production-like: {}", env.why)
            }
        )];
        lines.push(match self.snapshot {
            SnapshotPolicy::Off if self.snapshot_skipped_by_flag => format!(
                "schema snapshot: skipped (--no-snapshot; the environment says {})",
                env.snapshot.label()
            ),
            SnapshotPolicy::Off => "schema snapshot: off".to_string(),
            policy => format!(
                "schema snapshot ({}): pg_dump --schema-only to {}",
                policy.label(),
                self.snapshot_path().display()
            ),
        });
        if !self.keep_data {
            lines.push("data copies: off".to_string());
        } else if self.copies.is_empty() {
            lines.push("data copies: none needed (no destructive statement)".to_string());
        } else {
            lines.push(format!(
                "data kept before {} destructive statement{} (estimated {} of the {} limit), in {}:",
                self.copies.len(),
                if self.copies.len() == 1 { "" } else { "s" },
                human(self.estimated_bytes()),
                human(self.limit),
                self.run_dir.display()
            ));
            lines.extend(self.copies.iter().map(|c| format!("  {}", copy_line(c))));
        }
        lines
    }

    /// The confirmation the environment asks for, `None` when it asks for none.
    pub fn confirmation(&self) -> Option<Confirmation> {
        let policy = self.environment.confirm;
        let version = self
            .steps
            .last()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let (expected, prompt) = match policy {
            ConfirmPolicy::None => return None,
            ConfirmPolicy::Yes => (
                "y".to_string(),
                format!("run {} on {}? [y/N]", self.operation, self.database),
            ),
            ConfirmPolicy::TypeDatabaseName => (
                self.database.clone(),
                format!(
                    "this changes {} ({}); type the database name `{}` to go on:",
                    self.database, self.environment.name, self.database
                ),
            ),
            ConfirmPolicy::TypeVersion => (
                version.clone(),
                format!(
                    "this changes {} ({}); type the version `{version}` to go on:",
                    self.database, self.environment.name
                ),
            ),
        };
        let flag = match policy {
            ConfirmPolicy::Yes => "--yes".to_string(),
            _ => format!("--confirm {expected}"),
        };
        Some(Confirmation {
            policy,
            expected,
            prompt,
            flag,
        })
    }

    /// Writes the schema snapshot when the plan says so. A required one that fails is an
    /// error (the run must not start); an optional one that fails is said in the outcome.
    pub async fn take_snapshot(
        &self,
        db: &Database,
        lock_timeout: Option<Duration>,
    ) -> Result<SnapshotOutcome, GuardError> {
        let mut outcome = SnapshotOutcome {
            skipped_by_flag: self.snapshot_skipped_by_flag,
            ..SnapshotOutcome::default()
        };
        if self.snapshot == SnapshotPolicy::Off {
            return Ok(outcome);
        }
        let path = self.snapshot_path();
        match write_schema(db, self.server_version_num, &path, lock_timeout).await {
            Ok(()) => outcome.path = Some(path),
            Err(error) if self.snapshot == SnapshotPolicy::Optional => {
                outcome.failed = Some(error.to_string())
            }
            Err(error) => return Err(error),
        }
        Ok(outcome)
    }

    /// The runner hook that takes the planned copies, `None` when there are none.
    pub fn keeper(&self, snapshot: &SnapshotOutcome) -> Option<DataKeeper> {
        if self.copies.is_empty() {
            return None;
        }
        let mut destructive: HashMap<(Direction, i64, usize), Vec<Destruction>> = HashMap::new();
        for copy in &self.copies {
            destructive
                .entry((copy.direction, copy.version, copy.statement))
                .or_default()
                .push(copy.destruction.clone());
        }
        Some(DataKeeper {
            run_dir: self.run_dir.clone(),
            destructive,
            limit: self.limit,
            order: HashMap::new(),
            written: HashMap::new(),
            server_version_num: self.server_version_num,
            database: self.database.clone(),
            schema_snapshot: snapshot.path.clone(),
        })
    }
}

/// What a destruction would copy, as estimated before the run.
struct Estimate {
    /// Whether the table exists now.
    exists: bool,
    /// The estimated size, in bytes.
    bytes: u64,
    /// The estimate is the table's size (a column with no statistics and no fixed width).
    at_most: bool,
}

/// What `destruction` would copy; `None` when nothing needs copying (a type change that keeps
/// every value).
async fn estimate(
    conn: &mut sqlx::PgConnection,
    destruction: &Destruction,
) -> Result<Option<Estimate>, sqlx::Error> {
    let table = destruction.table().sql();
    if let Destruction::ChangeType {
        column,
        new_type,
        using,
        ..
    } = destruction
    {
        let current: Option<String> = sqlx::query_scalar(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped",
        )
        .bind(&table)
        .bind(column)
        .persistent(false)
        .fetch_optional(&mut *conn)
        .await?;
        if current.is_some_and(|old| type_change_keeps_values(&old, new_type, *using)) {
            return Ok(None);
        }
    }
    // Column-level copies read through the parent: its children count, referencing tables do not.
    let (only, cascade) = scope(destruction);
    // A column's copy: its average width from the statistics, else its type's fixed width, else
    // (a new column nothing has analysed yet) the table's size as a bound.
    let (count, bytes, at_most): (i64, i64, bool) = sqlx::query_as(AssertSqlSafe(format!(
        "{TREE} SELECT count(*)::int8, coalesce(sum(CASE \
             WHEN $4::text IS NULL THEN pg_total_relation_size(c.oid)::float8 \
             WHEN c.reltuples > 0 AND coalesce(w.width, a.attlen) > 0 \
                 THEN c.reltuples * (coalesce(w.width, a.attlen) + 8) \
             ELSE pg_table_size(c.oid)::float8 END), 0)::int8, \
             coalesce(bool_or($4::text IS NOT NULL AND pg_table_size(c.oid) > 0 \
                 AND NOT (c.reltuples > 0 AND coalesce(w.width, a.attlen) > 0)), false) \
         FROM tree t JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $4 AND NOT a.attisdropped \
         LEFT JOIN LATERAL (SELECT s.avg_width::float8 AS width FROM pg_stats s \
             WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = $4 \
             LIMIT 1) w ON true"
    )))
    .bind(&table)
    .bind(only)
    .bind(cascade)
    .bind(destruction.column())
    .persistent(false)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(Estimate {
        exists: count > 0,
        bytes: u64::try_from(bytes).unwrap_or(0),
        at_most,
    }))
}

/// `apply 3, statement 2 (line 4): DROP COLUMN `users.email` — about 4.1 MB`.
fn copy_line(copy: &PlannedCopy) -> String {
    format!(
        "{} {}, statement {} (line {}): {} — {}",
        copy.direction.verb(),
        copy.version,
        copy.statement + 1,
        copy.line,
        copy.destruction.describe(),
        if copy.exists && copy.at_most {
            format!(
                "at most {} (the table's size: no statistics on the column yet)",
                human(copy.estimate)
            )
        } else if copy.exists {
            format!("about {}", human(copy.estimate))
        } else {
            "not there yet (an earlier migration of the run creates it)".to_string()
        }
    )
}

/// `<database>-<UTC time>-<operation>-<versions>`, safe as a file name.
fn run_dir_name(database: &str, operation: &str, steps: &[(Direction, i64)]) -> String {
    let mut versions: Vec<i64> = Vec::new();
    for (_, version) in steps {
        if !versions.contains(version) {
            versions.push(*version);
        }
    }
    let versions = match versions.as_slice() {
        [] => "none".to_string(),
        [first, .., last] if versions.len() > 3 => format!("{first}..{last}"),
        all => all
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("+"),
    };
    safe_file_name(&format!(
        "{database}-{}-{operation}-{versions}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ))
}

fn human(bytes: u64) -> String {
    crate::monitor::format::human_bytes(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// A `--backup-limit` value a little above `bytes`, in whole MB or GB.
fn human_flag(bytes: u64) -> String {
    let mb = bytes.div_ceil(1 << 20) + 1;
    if mb >= 1024 {
        format!("{}GB", mb.div_ceil(1024))
    } else {
        format!("{mb}MB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_directory_names_database_operation_and_versions() {
        let name = run_dir_name(
            "app/prod",
            "up",
            &[(Direction::Apply, 3), (Direction::Apply, 4)],
        );
        assert!(name.starts_with("app_prod-"), "{name}");
        assert!(name.ends_with("-up-3+4"), "{name}");
        let redo = run_dir_name(
            "db",
            "redo",
            &[(Direction::Revert, 7), (Direction::Apply, 7)],
        );
        assert!(redo.ends_with("-redo-7"), "{redo}");
        let many: Vec<_> = (1..=5).map(|v| (Direction::Apply, v)).collect();
        assert!(run_dir_name("db", "up", &many).ends_with("-up-1..5"));
        assert_eq!(human_flag(1 << 30), "2GB");
        assert_eq!(human_flag(10 << 20), "11MB");
    }
}
