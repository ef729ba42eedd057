//! The Locks tab: the lock forest as an indented tree. Roots (the blockers nobody blocks) are
//! red, sessions that block others while waiting yellow. A session waiting on two blockers is
//! placed under its primary one with its waiters, and listed again under the other as a
//! reference line, so it appears under both.

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

use super::text::age;
use super::{SELECTED, empty};
use crate::format::one_line;
use crate::monitor::render::{session_parts, wants};
use crate::monitor::{LockTreeNode, Placeholder};
use crate::tui::visible::visible_line;

/// The key that keeps the cursor on a line across polls: (the pid it is shown under, its pid).
pub type LineKey = (Option<i32>, i32);

/// One line of the drawn tree.
#[derive(Debug, Clone)]
pub struct TreeLine<'a> {
    /// The branch drawing before the node (`├─ `, `│  └─ `, ...).
    pub prefix: String,
    /// The session.
    pub node: &'a LockTreeNode,
    /// The pid it is shown under (`None` for a root).
    pub parent: Option<i32>,
    /// Whether this is only a reference: the session waits on `parent` too, but its subtree is
    /// under its primary blocker.
    pub reference: bool,
}

impl TreeLine<'_> {
    /// The cursor key of this line.
    pub fn key(&self) -> LineKey {
        (self.parent, self.node.pid)
    }
}

/// Flattens the forest into drawn lines, depth first, roots in order.
pub fn flatten(forest: &[LockTreeNode]) -> Vec<TreeLine<'_>> {
    let mut elsewhere: HashMap<i32, Vec<&LockTreeNode>> = HashMap::new();
    for root in forest {
        root.walk(&mut |node, _| {
            for &blocker in &node.also_waits_on {
                elsewhere.entry(blocker).or_default().push(node);
            }
        });
    }
    let mut lines = Vec::new();
    for root in forest {
        lines.push(TreeLine {
            prefix: String::new(),
            node: root,
            parent: None,
            reference: false,
        });
        push_children(root, "", &elsewhere, &mut lines);
    }
    lines
}

fn push_children<'a>(
    node: &'a LockTreeNode,
    prefix: &str,
    elsewhere: &HashMap<i32, Vec<&'a LockTreeNode>>,
    lines: &mut Vec<TreeLine<'a>>,
) {
    let references = elsewhere
        .get(&node.pid)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let count = node.children.len() + references.len();
    let all = node
        .children
        .iter()
        .map(|child| (child, false))
        .chain(references.iter().map(|&other| (other, true)));
    for (i, (child, reference)) in all.enumerate() {
        let last = i + 1 == count;
        lines.push(TreeLine {
            prefix: format!("{prefix}{}", if last { "└─ " } else { "├─ " }),
            node: child,
            parent: Some(node.pid),
            reference,
        });
        if !reference {
            let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
            push_children(child, &deeper, elsewhere, lines);
        }
    }
}

/// The colour of a node: roots red, blockers that also wait yellow, plain waiters unstyled.
pub fn node_style(line: &TreeLine) -> Style {
    if line.parent.is_none() {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if !line.node.children.is_empty() && !line.reference {
        Style::default().fg(Color::Yellow)
    } else {
        Style::default()
    }
}

/// One node's spans: pid, badge, who, state, wait event, lock wanted, ages, query.
fn line<'a>(tree: &TreeLine) -> Line<'a> {
    let node = tree.node;
    let dim = Style::default().fg(Color::DarkGray);
    let mut spans = vec![
        Span::styled(tree.prefix.clone(), dim),
        Span::styled(format!("pid {}", node.pid), node_style(tree)),
    ];
    if tree.reference {
        let under = node
            .blocked_by
            .iter()
            .find(|&&b| Some(b) != tree.parent)
            .map(|b| format!(" (also waits here; listed under pid {b})"))
            .unwrap_or_default();
        spans.push(Span::styled(under, dim));
        return visible_line(Line::from(spans));
    }
    let blocks = node.descendants.max(node.directly_blocks);
    if blocks > 0 {
        spans.push(Span::styled(
            format!(" 🔒 blocks {blocks}"),
            Style::default().fg(Color::Red),
        ));
    }
    if !node.blocked_by.is_empty() {
        spans.push(Span::styled(
            format!(" 🕓 waits on {}", node.blocked_by.len()),
            Style::default().fg(Color::Yellow),
        ));
    }
    let mut parts: Vec<String> = Vec::new();
    match (node.placeholder, &node.session) {
        (Some(Placeholder::PreparedTransaction), _) => parts.push("prepared transaction".into()),
        (Some(Placeholder::Gone), _) | (None, None) => parts.push("(session ended)".into()),
        (None, Some(session)) => parts.extend(session_parts(session)),
    }
    if let Some(lock) = &node.waiting_for {
        parts.push(wants(lock));
    }
    if node.wait_age_secs.is_some() {
        parts.push(format!("waited {}", age(node.wait_age_secs)));
    }
    if let Some(session) = &node.session {
        parts.push(format!("xact {}", age(session.xact_age_secs)));
    }
    spans.push(Span::raw(format!("  {}", parts.join("  "))));
    if node.in_cycle {
        spans.push(Span::styled(
            "  CYCLE",
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(query) = node.session.as_ref().and_then(|s| s.query.as_deref())
        && !query.is_empty()
    {
        spans.push(Span::styled(format!("  — {}", one_line(query, 60)), dim));
    }
    visible_line(Line::from(spans))
}

/// Draws the tree into `area`, the line at `selected` highlighted.
pub fn draw(frame: &mut Frame, area: Rect, lines: &[TreeLine], selected: Option<usize>) {
    if lines.is_empty() {
        return empty(frame, area, "no session is waiting on a lock");
    }
    let items: Vec<ListItem> = lines.iter().map(|l| ListItem::new(line(l))).collect();
    let list = List::new(items).highlight_style(SELECTED);
    let mut state = ListState::default().with_selected(selected);
    frame.render_stateful_widget(list, area, &mut state);
}
