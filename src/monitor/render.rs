//! Text rendering of the lock forest, one line per session, with `├─` / `└─` branches.

use super::activity::Session;
use super::edges::WaitedLock;
use super::forest::{LockTreeNode, Placeholder};
use super::format::{human_age, shorten};
use super::session_locks::{HeldLock, LockWait, RelatedSession};

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

/// Who a session is: `alice · psql`, the backend type for background processes,
/// `(lockstep) lockstep:apply:…` for lockstep's own sessions, and `… via pooler 10.0.0.5` for a
/// connection from the pooler lockstep goes through (its real client is hidden behind it).
pub fn who(session: &Session) -> String {
    let app = session
        .application_name
        .as_deref()
        .filter(|a| !a.is_empty());
    let who = if session.is_lockstep {
        format!("(lockstep) {}", app.unwrap_or("lockstep"))
    } else {
        let parts: Vec<&str> = session.user.as_deref().into_iter().chain(app).collect();
        if !parts.is_empty() {
            parts.join(" · ")
        } else {
            session.backend_type.clone().unwrap_or_else(|| "-".into())
        }
    };
    if session.via_pooler {
        format!("{who} {}", via_pooler(session.client.as_deref()))
    } else {
        who
    }
}

/// How a pooler connection is named: `via pooler 10.0.0.5` (the server sees the pooler's
/// address; the client behind it is not visible).
pub fn via_pooler(client: Option<&str>) -> String {
    format!("via pooler {}", client.unwrap_or("(local socket)"))
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

/// A lock mode in PostgreSQL's SQL spelling (`ACCESS EXCLUSIVE`) from its `pg_locks` name
/// (`AccessExclusiveLock`); other names (`ExclusiveLock` on a transaction id) as they are.
pub fn sql_mode(pg_name: &str) -> String {
    crate::analysis::LockMode::from_pg_name(pg_name)
        .map(|mode| mode.sql_name().to_string())
        .unwrap_or_else(|| pg_name.to_string())
}

/// What a lock is and what it is on: `ACCESS EXCLUSIVE on users`, `ShareLock (transaction 731)`.
pub fn lock_target(lock: &HeldLock) -> String {
    let mode = sql_mode(&lock.mode);
    match (&lock.relation, &lock.transaction_id) {
        (Some(relation), _) => format!("{mode} on {relation}"),
        (None, Some(xid)) => format!("{mode} (transaction {xid})"),
        (None, None) => format!("{mode} ({})", lock.locktype),
    }
}

/// A session in a few words: who, its state and how old its transaction is.
pub fn session_brief(session: &Session) -> String {
    let mut brief = format!(
        "{}, {}",
        who(session),
        session.state.as_deref().unwrap_or("?")
    );
    if let Some(age) = session.xact_age_secs {
        brief.push_str(&format!(", transaction {}", human_age(age)));
    }
    brief
}

/// A blocking session: `pid 4711 (alice · psql, idle in transaction, transaction 2m05s)`.
pub fn blocker_brief(blocker: &RelatedSession) -> String {
    match &blocker.session {
        Some(session) => format!("pid {} ({})", blocker.pid, session_brief(session)),
        None if blocker.pid == 0 => "a prepared transaction".to_string(),
        None => format!("pid {} (session ended)", blocker.pid),
    }
}

/// What a waiting statement waits for, on whom and who queues behind it, one line each:
/// `waits 2.1s for ACCESS EXCLUSIVE on users`, `held by pid 4711 (…):`, its query indented on the
/// next line, `3 sessions queued behind it`. Shared by the CLI's run log and the dashboard's run pane.
pub fn wait_lines(wait: &LockWait, waited: Option<std::time::Duration>) -> Vec<String> {
    let what: Vec<String> = wait.waiting_for.iter().map(lock_target).collect();
    let what = if what.is_empty() {
        "a lock".to_string()
    } else {
        what.join(", ")
    };
    let mut lines = vec![match waited {
        Some(waited) => format!("waits {} for {what}", human_age(waited.as_secs_f64())),
        None => format!("waits for {what}"),
    }];
    for blocker in &wait.blockers {
        let query = blocker
            .session
            .as_ref()
            .and_then(|s| s.query.as_deref())
            .filter(|q| !q.is_empty());
        match query {
            Some(query) => {
                lines.push(format!("held by {}:", blocker_brief(blocker)));
                lines.push(format!("  {}", shorten(query, 100)));
            }
            None => lines.push(format!("held by {}", blocker_brief(blocker))),
        }
    }
    if wait.queued_behind > 0 {
        lines.push(format!(
            "{} session{} queued behind it",
            wait.queued_behind,
            if wait.queued_behind == 1 { "" } else { "s" }
        ));
    }
    lines
}

/// A session a migration touching its table would queue behind: `pid 777 holds ACCESS SHARE on
/// users (alice · psql, idle in transaction, transaction 2m05s)`.
pub fn table_blocker(blocker: &super::blockers::TableBlocker) -> String {
    format!(
        "pid {} {} {} on {} ({})",
        blocker.session.pid,
        if blocker.granted {
            "holds"
        } else {
            "waits for"
        },
        sql_mode(&blocker.mode),
        blocker.table,
        session_brief(&blocker.session)
    )
}
