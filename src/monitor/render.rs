//! Text rendering of the lock forest, one line per session, with `├─` / `└─` branches.

use super::activity::Session;
use super::edges::WaitedLock;
use super::forest::{LockTreeNode, Placeholder};
use super::format::{human_age, shorten};

/// Renders a forest: each root at the left margin, its waiters indented below it.
pub fn render_forest(forest: &[LockTreeNode]) -> String {
    let mut out = String::new();
    for root in forest {
        out.push_str(&node_line(root));
        out.push('\n');
        render_children(root, "", &mut out);
    }
    out
}

fn render_children(node: &LockTreeNode, prefix: &str, out: &mut String) {
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        out.push_str(prefix);
        out.push_str(if last { "└─ " } else { "├─ " });
        out.push_str(&node_line(child));
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
        render_children(child, &deeper, out);
    }
}

/// One session's line: pid, who, state, what it waits for, ages, how many it blocks, its query.
pub fn node_line(node: &LockTreeNode) -> String {
    let mut parts: Vec<String> = vec![format!("pid {}", node.pid)];
    match node.placeholder {
        Some(Placeholder::PreparedTransaction) => parts.push("prepared transaction".into()),
        Some(Placeholder::Gone) => parts.push("(session ended)".into()),
        None => {}
    }
    if let Some(session) = &node.session {
        parts.extend(session_parts(session));
    }
    if let Some(lock) = &node.waiting_for {
        parts.push(wants(lock));
    }
    if let Some(age) = node.wait_age_secs {
        parts.push(format!("waiting {}", human_age(age)));
    }
    if let Some(age) = node.session.as_ref().and_then(|s| s.xact_age_secs) {
        parts.push(format!("xact {}", human_age(age)));
    }
    let blocks = node.descendants.max(node.directly_blocks);
    if blocks > 0 {
        parts.push(format!("blocks {blocks}"));
    }
    if !node.also_waits_on.is_empty() {
        let pids: Vec<String> = node.also_waits_on.iter().map(i32::to_string).collect();
        parts.push(format!("also waits on {}", pids.join(", ")));
    }
    if node.in_cycle {
        parts.push("CYCLE".into());
    }
    if let Some(query) = node.session.as_ref().and_then(|s| s.query.as_deref())
        && !query.is_empty()
    {
        parts.push(format!("— {}", shorten(query, 80)));
    }
    parts.join("  ")
}

/// Who a session is: `alice · psql`, the backend type for background processes, and
/// `(lockstep) lockstep:apply:…` for lockstep's own sessions.
pub fn who(session: &Session) -> String {
    let app = session
        .application_name
        .as_deref()
        .filter(|a| !a.is_empty());
    if session.is_lockstep {
        return format!("(lockstep) {}", app.unwrap_or("lockstep"));
    }
    let parts: Vec<&str> = session.user.as_deref().into_iter().chain(app).collect();
    if !parts.is_empty() {
        parts.join(" · ")
    } else {
        session.backend_type.clone().unwrap_or_else(|| "-".into())
    }
}

/// Who a session is, its state (`waiting` when it waits on a lock) and its wait event.
pub fn session_parts(session: &Session) -> Vec<String> {
    let mut parts = vec![who(session)];
    parts.push(if session.is_waiting_on_lock() {
        "waiting".to_string()
    } else {
        session.state.clone().unwrap_or_else(|| "-".into())
    });
    if let (Some(kind), Some(event)) = (&session.wait_event_type, &session.wait_event) {
        parts.push(format!("{kind}:{event}"));
    }
    parts
}

/// The lock a session waits for: `wants AccessExclusiveLock on users`, or the lock type when it
/// is not on a relation.
pub fn wants(lock: &WaitedLock) -> String {
    let mode = lock.mode.as_deref().unwrap_or("lock");
    match &lock.relation {
        Some(relation) => format!("wants {mode} on {relation}"),
        None => format!("wants {mode} ({})", lock.locktype.as_deref().unwrap_or("?")),
    }
}
