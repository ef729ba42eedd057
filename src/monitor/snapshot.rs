//! One refresh of every pane, for the dashboard's poller and `lockstep inspect`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{LockEdge, LockTreeNode, Monitor, MonitorError, Session, TableSize, build_forest};

/// What a refresh reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshOptions {
    /// Read sizes too (the costliest part: every 5–10 s or on demand, not every tick).
    pub sizes: bool,
    /// From what idle time an idle-in-transaction session is flagged.
    pub idle_threshold: Duration,
}

impl Default for RefreshOptions {
    fn default() -> RefreshOptions {
        RefreshOptions {
            sizes: true,
            idle_threshold: super::DEFAULT_IDLE_THRESHOLD,
        }
    }
}

/// Everything one refresh read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// When the refresh started.
    pub taken_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: f64,
    /// Table sizes, when asked for.
    pub sizes: Option<Vec<TableSize>>,
    /// Every session but the monitor's.
    pub activity: Vec<Session>,
    /// The raw waiter edges.
    pub edges: Vec<LockEdge>,
    /// The lock forest built from the edges and the activity.
    pub forest: Vec<LockTreeNode>,
}

/// Reads edges first, then activity, so every blocker that still exists has an activity row.
pub(super) async fn refresh(
    monitor: &mut Monitor,
    options: &RefreshOptions,
) -> Result<Snapshot, MonitorError> {
    let taken_at = Utc::now();
    let started = Instant::now();
    let edges = monitor.lock_edges().await?;
    let activity = monitor.activity(options.idle_threshold).await?;
    let forest = build_forest(&edges, &activity);
    let sizes = if options.sizes {
        Some(monitor.sizes().await?)
    } else {
        None
    };
    Ok(Snapshot {
        taken_at,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        sizes,
        activity,
        edges,
        forest,
    })
}
