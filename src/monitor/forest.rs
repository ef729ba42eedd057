//! The lock forest: who blocks whom, built in Rust from [`LockEdge`]s (pure, no database).
//!
//! Nodes are every pid seen as a waiter or a blocker; edges run blocker → waiter, deduplicated.
//! Roots block someone and wait on no one. A waiter with several blockers is placed once, under a
//! primary blocker (a root if it has one, else the lowest pid), and lists the others in
//! `also_waits_on`, so a session blocked by two unrelated roots is never dropped nor shown twice.
//! A component with no root (a deadlock not yet broken, or a soft-block loop) gets its oldest
//! transaction on the cycle as a pseudo-root, and the cycle's nodes are marked. Children are
//! sorted by wait age, longest first; every node counts its descendants.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::activity::Session;
use super::edges::{LockEdge, WaitedLock};

/// Why a node has no session row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    /// pid 0: a prepared transaction holds the lock.
    PreparedTransaction,
    /// The session was not in the activity read (it ended between the two reads).
    Gone,
}

/// One session in the lock forest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockTreeNode {
    /// Backend pid (0 for a prepared transaction).
    pub pid: i32,
    /// Its activity row; `None` for placeholders.
    pub session: Option<Session>,
    /// Set when there is no activity row, saying why.
    pub placeholder: Option<Placeholder>,
    /// The lock it waits for, when it waits.
    pub waiting_for: Option<WaitedLock>,
    /// Seconds it has waited for that lock.
    pub wait_age_secs: Option<f64>,
    /// Every session it waits on (deduplicated, ascending).
    pub blocked_by: Vec<i32>,
    /// Blockers other than the parent it is shown under (for a pseudo-root: all its blockers).
    pub also_waits_on: Vec<i32>,
    /// Whether it is on a wait cycle.
    pub in_cycle: bool,
    /// Whether it was chosen as the root of a component that has none (a cycle).
    pub pseudo_root: bool,
    /// How many sessions are below it in the tree.
    pub descendants: usize,
    /// How many sessions wait on it directly, wherever they are placed (a waiter blocked by two
    /// roots counts for both).
    pub directly_blocks: usize,
    /// The sessions placed under it, longest wait first.
    pub children: Vec<LockTreeNode>,
}

impl LockTreeNode {
    /// Visits this node and every descendant, depth first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a LockTreeNode, usize)) {
        fn go<'a>(
            node: &'a LockTreeNode,
            depth: usize,
            visit: &mut impl FnMut(&'a LockTreeNode, usize),
        ) {
            visit(node, depth);
            for child in &node.children {
                go(child, depth + 1, visit);
            }
        }
        go(self, 0, visit);
    }

    /// The node for `pid` in this subtree.
    pub fn find(&self, pid: i32) -> Option<&LockTreeNode> {
        let mut found = None;
        self.walk(&mut |node, _| {
            if found.is_none() && node.pid == pid {
                found = Some(node);
            }
        });
        found
    }
}

/// Finds `pid` anywhere in a forest.
pub fn find_in_forest(forest: &[LockTreeNode], pid: i32) -> Option<&LockTreeNode> {
    forest.iter().find_map(|root| root.find(pid))
}

/// Counts the nodes of a forest.
pub fn forest_len(forest: &[LockTreeNode]) -> usize {
    forest.iter().map(|root| root.descendants + 1).sum()
}

/// What is known about one waiter, merged over its edges.
#[derive(Default)]
struct WaitInfo {
    blockers: BTreeSet<i32>,
    wait_age_secs: Option<f64>,
    waiting_for: Option<WaitedLock>,
}

/// Builds the forest from waiter edges and the activity rows (which need not cover every pid:
/// missing ones become placeholders). Deterministic for the same input.
pub fn build_forest(edges: &[LockEdge], activity: &[Session]) -> Vec<LockTreeNode> {
    let sessions: HashMap<i32, &Session> = activity.iter().map(|s| (s.pid, s)).collect();

    let mut waits: BTreeMap<i32, WaitInfo> = BTreeMap::new();
    for edge in edges {
        let info = waits.entry(edge.pid).or_default();
        info.blockers
            .extend(edge.blocked_by.iter().copied().filter(|&b| b != edge.pid));
        info.wait_age_secs = match (info.wait_age_secs, edge.wait_age_secs) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if info.waiting_for.is_none() {
            info.waiting_for = edge.waiting_for.clone();
        }
    }
    waits.retain(|_, info| !info.blockers.is_empty());

    let mut nodes: BTreeSet<i32> = waits.keys().copied().collect();
    for info in waits.values() {
        nodes.extend(info.blockers.iter().copied());
    }
    let is_waiter = |pid: i32| waits.contains_key(&pid);

    // Each waiter's primary blocker: a root when it has one, else the lowest pid.
    let mut parent: HashMap<i32, i32> = HashMap::new();
    for (&pid, info) in &waits {
        let primary = info
            .blockers
            .iter()
            .copied()
            .find(|&b| !is_waiter(b))
            .or_else(|| info.blockers.first().copied());
        if let Some(primary) = primary {
            parent.insert(pid, primary);
        }
    }
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&child, &p) in &parent {
        children.entry(p).or_default().push(child);
    }

    let mut roots: Vec<i32> = nodes.iter().copied().filter(|&p| !is_waiter(p)).collect();
    let mut visited: HashSet<i32> = HashSet::new();
    for &root in &roots {
        mark_reachable(root, &children, &mut visited);
    }

    // Whatever is left hangs off a cycle of primary blockers: break each at its oldest
    // transaction.
    let mut in_cycle: HashSet<i32> = HashSet::new();
    let mut pseudo_roots: HashSet<i32> = HashSet::new();
    while let Some(start) = nodes.iter().copied().find(|p| !visited.contains(p)) {
        let mut path: Vec<i32> = Vec::new();
        let mut position: HashMap<i32, usize> = HashMap::new();
        let mut current = start;
        let cycle: Vec<i32> = loop {
            if let Some(&i) = position.get(&current) {
                break path[i..].to_vec();
            }
            position.insert(current, path.len());
            path.push(current);
            match parent.get(&current) {
                Some(&next) if !visited.contains(&next) => current = next,
                // Cannot happen for a well-formed parent map; treat the node as a root.
                _ => break vec![current],
            }
        };
        in_cycle.extend(cycle.iter().copied().filter(|_| cycle.len() > 1));
        let pseudo = cycle
            .iter()
            .copied()
            .max_by(|&a, &b| {
                let age = |p: i32| {
                    sessions
                        .get(&p)
                        .and_then(|s| s.xact_age_secs)
                        .unwrap_or(-1.0)
                };
                age(a).total_cmp(&age(b)).then(b.cmp(&a))
            })
            .unwrap_or(start);
        if let Some(old_parent) = parent.remove(&pseudo)
            && let Some(siblings) = children.get_mut(&old_parent)
        {
            siblings.retain(|&c| c != pseudo);
        }
        pseudo_roots.insert(pseudo);
        roots.push(pseudo);
        mark_reachable(pseudo, &children, &mut visited);
    }

    let mut blocked_counts: HashMap<i32, usize> = HashMap::new();
    for info in waits.values() {
        for &b in &info.blockers {
            *blocked_counts.entry(b).or_default() += 1;
        }
    }

    let context = Context {
        sessions: &sessions,
        blocked_counts: &blocked_counts,
        waits: &waits,
        parent: &parent,
        children: &children,
        in_cycle: &in_cycle,
        pseudo_roots: &pseudo_roots,
    };
    let mut built = HashSet::new();
    let mut forest: Vec<LockTreeNode> = roots
        .iter()
        .filter_map(|&root| context.build(root, &mut built))
        .collect();
    forest.sort_by(|a, b| {
        b.descendants
            .cmp(&a.descendants)
            .then_with(|| xact_age(b).total_cmp(&xact_age(a)))
            .then(a.pid.cmp(&b.pid))
    });
    forest
}

fn xact_age(node: &LockTreeNode) -> f64 {
    node.session
        .as_ref()
        .and_then(|s| s.xact_age_secs)
        .unwrap_or(-1.0)
}

fn mark_reachable(root: i32, children: &HashMap<i32, Vec<i32>>, visited: &mut HashSet<i32>) {
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if visited.insert(pid)
            && let Some(kids) = children.get(&pid)
        {
            stack.extend(kids.iter().copied());
        }
    }
}

struct Context<'a> {
    sessions: &'a HashMap<i32, &'a Session>,
    blocked_counts: &'a HashMap<i32, usize>,
    waits: &'a BTreeMap<i32, WaitInfo>,
    parent: &'a HashMap<i32, i32>,
    children: &'a HashMap<i32, Vec<i32>>,
    in_cycle: &'a HashSet<i32>,
    pseudo_roots: &'a HashSet<i32>,
}

impl Context<'_> {
    /// Builds the subtree at `pid`; `built` guards against any node appearing twice.
    fn build(&self, pid: i32, built: &mut HashSet<i32>) -> Option<LockTreeNode> {
        if !built.insert(pid) {
            return None;
        }
        let session = self.sessions.get(&pid).map(|s| (*s).clone());
        let placeholder = match (&session, pid) {
            (_, 0) => Some(Placeholder::PreparedTransaction),
            (None, _) => Some(Placeholder::Gone),
            (Some(_), _) => None,
        };
        let info = self.waits.get(&pid);
        let blocked_by: Vec<i32> = info
            .map(|i| i.blockers.iter().copied().collect())
            .unwrap_or_default();
        let shown_under = self.parent.get(&pid).copied();
        let also_waits_on = blocked_by
            .iter()
            .copied()
            .filter(|&b| Some(b) != shown_under)
            .collect();
        let mut children: Vec<LockTreeNode> = self
            .children
            .get(&pid)
            .into_iter()
            .flatten()
            .filter_map(|&child| self.build(child, built))
            .collect();
        children.sort_by(|a, b| {
            let age = |n: &LockTreeNode| n.wait_age_secs.unwrap_or(-1.0);
            age(b).total_cmp(&age(a)).then(a.pid.cmp(&b.pid))
        });
        let descendants = children.iter().map(|c| c.descendants + 1).sum();
        Some(LockTreeNode {
            pid,
            session,
            placeholder,
            waiting_for: info.and_then(|i| i.waiting_for.clone()),
            wait_age_secs: info.and_then(|i| i.wait_age_secs),
            blocked_by,
            also_waits_on,
            in_cycle: self.in_cycle.contains(&pid),
            pseudo_root: self.pseudo_roots.contains(&pid),
            descendants,
            directly_blocks: self.blocked_counts.get(&pid).copied().unwrap_or(0),
            children,
        })
    }
}
