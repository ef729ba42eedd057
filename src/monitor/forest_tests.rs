//! The forest builder on fixture edges.

use super::activity::Session;
use super::edges::{LockEdge, WaitedLock};
use super::forest::{LockTreeNode, Placeholder, build_forest, find_in_forest, forest_len};
use super::render::render_forest;

fn session(pid: i32, xact_age: f64) -> Session {
    Session {
        pid,
        datname: Some("app".into()),
        user: Some("app".into()),
        application_name: Some(format!("app{pid}")),
        client: None,
        backend_type: Some("client backend".into()),
        state: Some("active".into()),
        wait_event_type: None,
        wait_event: None,
        backend_age_secs: Some(xact_age),
        xact_age_secs: Some(xact_age),
        query_age_secs: Some(xact_age),
        state_age_secs: Some(xact_age),
        leader_pid: None,
        query: Some(format!("SELECT {pid}")),
        is_lockstep: false,
        via_pooler: false,
        idle_in_transaction_too_long: false,
    }
}

fn edge(pid: i32, blocked_by: &[i32], wait: f64) -> LockEdge {
    LockEdge {
        pid,
        blocked_by: blocked_by.to_vec(),
        wait_age_secs: Some(wait),
        waiting_for: Some(WaitedLock {
            locktype: Some("relation".into()),
            mode: Some("AccessExclusiveLock".into()),
            relation: Some("t".into()),
        }),
    }
}

fn sessions(pids: &[i32]) -> Vec<Session> {
    pids.iter().map(|&p| session(p, 100.0 - p as f64)).collect()
}

/// The tree as `pid(children...)`, roots separated by spaces.
fn shape(forest: &[LockTreeNode]) -> String {
    fn one(node: &LockTreeNode) -> String {
        if node.children.is_empty() {
            node.pid.to_string()
        } else {
            let kids: Vec<String> = node.children.iter().map(one).collect();
            format!("{}({})", node.pid, kids.join(" "))
        }
    }
    forest.iter().map(one).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_chain_nests() {
    let forest = build_forest(
        &[edge(2, &[1], 5.0), edge(3, &[2], 3.0)],
        &sessions(&[1, 2, 3]),
    );
    assert_eq!(shape(&forest), "1(2(3))");
    assert_eq!(forest[0].descendants, 2);
    assert_eq!(forest[0].children[0].descendants, 1);
    assert!(forest[0].waiting_for.is_none());
    assert_eq!(forest_len(&forest), 3);
}

#[test]
fn a_fork_sorts_children_by_wait_age() {
    let forest = build_forest(
        &[edge(2, &[1], 1.0), edge(3, &[1], 9.0), edge(4, &[1], 5.0)],
        &sessions(&[1, 2, 3, 4]),
    );
    assert_eq!(shape(&forest), "1(3 4 2)");
    assert_eq!(forest[0].descendants, 3);
}

#[test]
fn several_roots_are_all_shown_biggest_first() {
    let forest = build_forest(
        &[
            edge(2, &[1], 1.0),
            edge(11, &[10], 1.0),
            edge(12, &[10], 1.0),
        ],
        &sessions(&[1, 2, 10, 11, 12]),
    );
    assert_eq!(shape(&forest), "10(11 12) 1(2)");
}

#[test]
fn a_session_blocked_by_two_roots_is_placed_once_and_annotated() {
    let forest = build_forest(
        &[edge(3, &[2, 1], 4.0), edge(4, &[2], 1.0)],
        &sessions(&[1, 2, 3, 4]),
    );
    // Equal subtrees: the older transaction (pid 1) first.
    assert_eq!(shape(&forest), "1(3) 2(4)");
    let node = find_in_forest(&forest, 3).unwrap();
    assert_eq!(node.blocked_by, vec![1, 2]);
    assert_eq!(node.also_waits_on, vec![2]);
    assert_eq!(forest_len(&forest), 4, "no node twice");
    assert_eq!(forest[1].directly_blocks, 2, "pid 2 blocks 3 and 4");
    assert_eq!(forest[0].directly_blocks, 1);
}

#[test]
fn a_waiter_prefers_a_root_over_a_waiting_blocker() {
    // 3 waits on 1 (root) and on 2 (itself waiting on 1): shown under the root.
    let forest = build_forest(
        &[edge(2, &[1], 4.0), edge(3, &[2, 1], 2.0)],
        &sessions(&[1, 2, 3]),
    );
    assert_eq!(shape(&forest), "1(2 3)");
    assert_eq!(find_in_forest(&forest, 3).unwrap().also_waits_on, vec![2]);
}

#[test]
fn a_cycle_gets_its_oldest_transaction_as_pseudo_root() {
    // 1 → 2 → 3 → 1, and 4 waits on 3. Oldest transaction: pid 1 (age 99).
    let forest = build_forest(
        &[
            edge(1, &[3], 1.0),
            edge(2, &[1], 1.0),
            edge(3, &[2], 1.0),
            edge(4, &[3], 2.0),
        ],
        &sessions(&[1, 2, 3, 4]),
    );
    assert_eq!(shape(&forest), "1(2(3(4)))");
    let root = &forest[0];
    assert!(root.pseudo_root && root.in_cycle);
    assert_eq!(root.also_waits_on, vec![3]);
    assert!(find_in_forest(&forest, 3).unwrap().in_cycle);
    assert!(!find_in_forest(&forest, 4).unwrap().in_cycle);
    assert_eq!(forest_len(&forest), 4);
}

#[test]
fn pid_zero_and_ended_sessions_become_placeholders() {
    let forest = build_forest(
        &[edge(2, &[0], 1.0), edge(3, &[99], 1.0)],
        &sessions(&[2, 3]),
    );
    assert_eq!(shape(&forest), "0(2) 99(3)");
    assert_eq!(
        forest[0].placeholder,
        Some(Placeholder::PreparedTransaction)
    );
    assert_eq!(forest[1].placeholder, Some(Placeholder::Gone));
    assert!(forest[1].session.is_none());
    let text = render_forest(&forest);
    assert!(text.contains("pid 0  prepared transaction"), "{text}");
    assert!(text.contains("pid 99  (session ended)"), "{text}");
}

#[test]
fn duplicate_leader_pid_edges_and_self_edges_collapse() {
    let forest = build_forest(
        &[edge(2, &[1, 1, 2], 1.0), edge(2, &[1], 3.0)],
        &sessions(&[1, 2]),
    );
    assert_eq!(shape(&forest), "1(2)");
    let node = find_in_forest(&forest, 2).unwrap();
    assert_eq!(node.blocked_by, vec![1]);
    assert!(node.also_waits_on.is_empty());
    assert_eq!(node.wait_age_secs, Some(3.0));
}

#[test]
fn no_edges_no_forest_and_empty_blockers_ignored() {
    assert!(build_forest(&[], &sessions(&[1])).is_empty());
    assert!(build_forest(&[edge(5, &[], 1.0)], &sessions(&[5])).is_empty());
}

#[test]
fn renders_branches() {
    let forest = build_forest(
        &[edge(2, &[1], 5.0), edge(3, &[2], 3.0), edge(4, &[1], 1.0)],
        &sessions(&[1, 2, 3, 4]),
    );
    let text = render_forest(&forest);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("pid 1  app · app1"), "{text}");
    assert!(lines[0].contains("blocks 3"), "{text}");
    assert!(lines[1].starts_with("├─ pid 2"), "{text}");
    assert!(
        lines[1].contains("wants AccessExclusiveLock on t"),
        "{text}"
    );
    assert!(lines[2].starts_with("│  └─ pid 3"), "{text}");
    assert!(lines[3].starts_with("└─ pid 4"), "{text}");
    assert!(lines[3].contains("— SELECT 4"), "{text}");
}
