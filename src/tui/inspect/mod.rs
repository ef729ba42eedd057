//! The Sizes, Locks and Activity panes of the dashboard (issue 5): pure state driven by keys and
//! poller states, and drawing from that state. No database call happens here; the dashboard
//! turns [`InspectAction`]s into [`crate::monitor::Poller`] calls.
//!
//! Keys (while the pane has focus):
//!
//! | Key | Action |
//! |---|---|
//! | `j`/`k`, `↓`/`↑`, `PgDn`/`PgUp` (a page of the pane's height), `g`/`G`, `Home`/`End` | move the cursor |
//! | `4` `5` `6`, `[`/`]` | Sizes, Locks, Activity tab / previous, next tab (`h`/`l`, `←`/`→` move between panes) |
//! | `s` / `S` (Sizes) | next sort column (in its natural direction) / reverse the direction |
//! | `p`, `Space` | pause / resume refreshing |
//! | `Ctrl-r` (the dashboard's) | refresh now (also while paused: one poll), the status too |
//! | `x` (Locks, Activity) | cancel the selected session's query: one yellow confirmation |
//! | `X` (Locks, Activity) | terminate the selected session: two red confirmations |
//! | `y` / `n`, `Esc`, any other key | in a confirmation: yes / no (No is the default) |
//!
//! lockstep's own sessions (`application_name` starting with `lockstep`), prepared transactions,
//! background processes and (for cancel) idle sessions are refused with a notice instead.

mod activity;
mod confirm;
mod locks;
mod selection;
mod sizes;
mod text;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub use confirm::Target;
pub use sizes::{columns, find as find_size, header, size_note};

use crate::monitor::format::human_age;
use crate::monitor::{PollState, Signal, SizeColumn, Snapshot, TableSize};
use crate::tui::slot::{self, SlotPane};
use confirm::{Answer, Confirm};
use selection::Selection;

/// The highlight of the selected row.
const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);

/// A tab of the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Table sizes.
    Sizes,
    /// The lock forest.
    Locks,
    /// Running sessions.
    Activity,
}

impl Tab {
    /// Every tab, in order.
    pub const ALL: [Tab; 3] = [Tab::Sizes, Tab::Locks, Tab::Activity];

    fn step(self, forward: bool) -> Tab {
        let at = Tab::ALL.iter().position(|&t| t == self).unwrap_or(0);
        let len = Tab::ALL.len();
        Tab::ALL[if forward { at + 1 } else { at + len - 1 } % len]
    }
}

/// What the dashboard must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectAction {
    /// Not a key of this pane: the dashboard may use it.
    Ignored,
    /// Handled here; redraw.
    Handled,
    /// Confirmed: send `signal` to `pid` ([`crate::monitor::Poller::cancel`] /
    /// [`crate::monitor::Poller::terminate`]), then report with [`Inspect::signalled`].
    Signal {
        /// Cancel or terminate.
        signal: Signal,
        /// The backend.
        pid: i32,
    },
    /// Pause (`true`) or resume (`false`) the poller ([`crate::monitor::Poller::pause`]).
    Pause(bool),
}

/// The panes' state. See the [module docs](self) for the keys.
#[derive(Debug, Clone)]
pub struct Inspect {
    poll: PollState,
    tab: Tab,
    sizes: sizes::SizesState,
    locks: Selection<locks::LineKey>,
    activity: Selection<i32>,
    paused: bool,
    confirm: Option<Confirm>,
    notice: Option<String>,
    /// Rows of a page (the pane's height).
    page: usize,
}

impl Default for Inspect {
    fn default() -> Inspect {
        Inspect::new()
    }
}

impl Inspect {
    /// Empty panes on the Locks tab, sizes sorted by total size, largest first.
    pub fn new() -> Inspect {
        Inspect {
            poll: PollState::default(),
            tab: Tab::Locks,
            sizes: sizes::SizesState::default(),
            locks: Selection::default(),
            activity: Selection::default(),
            paused: false,
            confirm: None,
            notice: None,
            page: 10,
        }
    }

    /// Sets the page size for PgUp / PgDn (the rows the pane shows).
    pub fn set_page(&mut self, rows: usize) {
        self.page = rows.max(1);
    }

    /// Takes the poller's latest state; cursors stay on their session or table.
    pub fn update(&mut self, state: PollState) {
        self.poll = state;
        self.sizes.resort(sizes_of(&self.poll));
        let lock_keys = self.lock_keys();
        self.locks.follow(&lock_keys);
        let activity_keys = self.activity_keys();
        self.activity.follow(&activity_keys);
    }

    /// The latest poller state.
    pub fn poll_state(&self) -> &PollState {
        &self.poll
    }

    /// The current tab.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// Shows `tab`.
    pub fn set_tab(&mut self, tab: Tab) {
        self.tab = tab;
    }

    /// Whether refreshing is paused (by `p`, or [`Inspect::set_paused`]).
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Records that the poller was paused or resumed elsewhere.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// The Sizes sort column (one of [`columns`]) and whether it is descending.
    pub fn sort(&self) -> (SizeColumn, bool) {
        (self.sizes.column, self.sizes.descending)
    }

    /// A one-line message for the user (a refusal, an abandoned or finished signal).
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Whether a confirmation is open: it takes every key until answered.
    pub fn has_overlay(&self) -> bool {
        self.confirm.is_some()
    }

    /// Reports the outcome of an [`InspectAction::Signal`] in the notice line.
    pub fn signalled(&mut self, signal: Signal, pid: i32, outcome: Result<(), String>) {
        self.notice = Some(match (signal, outcome) {
            (Signal::Cancel, Ok(())) => format!("pid {pid}: query cancelled"),
            (Signal::Terminate, Ok(())) => format!("pid {pid}: session terminated"),
            (_, Err(error)) => format!("could not {} pid {pid}: {error}", signal.verb()),
        });
    }

    /// The tables in display order (sorted by the chosen column).
    pub fn sorted_sizes(&self) -> &[TableSize] {
        self.sizes.rows()
    }

    /// A table's sizes by name (`table`, `schema.table`, quoted or not; a bare name prefers
    /// `public`), for notes such as "blocks writes on conversations (1.2 GB, 8.1M rows)" made
    /// with [`size_note`].
    pub fn table_size(&self, name: &str) -> Option<&TableSize> {
        sizes::find(self.all_sizes(), name)
    }

    /// The session under the cursor on the Locks or Activity tab.
    pub fn selected_target(&self) -> Option<Target> {
        match self.tab {
            Tab::Sizes => None,
            Tab::Locks => {
                let lines = self.lock_lines();
                let node = lines.get(self.locks.index(lines.len())?)?.node;
                Some(Target {
                    pid: node.pid,
                    session: node.session.clone(),
                    placeholder: node.placeholder,
                })
            }
            Tab::Activity => {
                let rows = self.activity_rows();
                let session = *rows.get(self.activity.index(rows.len())?)?;
                Some(Target {
                    pid: session.pid,
                    session: Some(session.clone()),
                    placeholder: None,
                })
            }
        }
    }

    /// Applies a key. See the [module docs](self) for the map.
    pub fn key(&mut self, key: KeyEvent) -> InspectAction {
        if let Some(confirm) = &mut self.confirm {
            let (signal, pid) = (confirm.signal, confirm.target.pid);
            return match confirm.key(key.code) {
                Answer::Open => InspectAction::Handled,
                Answer::Abort => {
                    self.confirm = None;
                    self.notice = Some(format!("{} of pid {pid} abandoned", signal.verb()));
                    InspectAction::Handled
                }
                Answer::Go => {
                    self.confirm = None;
                    self.notice = Some(format!("{} pid {pid}…", signal.verb()));
                    InspectAction::Signal { signal, pid }
                }
            };
        }
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return InspectAction::Ignored;
        }
        self.notice = None;
        self.plain_key(&key)
    }

    fn plain_key(&mut self, key: &KeyEvent) -> InspectAction {
        let code = key.code;
        let tab = match code {
            KeyCode::Char('4') => Some(Tab::Sizes),
            KeyCode::Char('5') => Some(Tab::Locks),
            KeyCode::Char('6') => Some(Tab::Activity),
            KeyCode::Char('[') => Some(self.tab.step(false)),
            KeyCode::Char(']') => Some(self.tab.step(true)),
            _ => None,
        };
        if let Some(tab) = tab {
            self.set_tab(tab);
            return InspectAction::Handled;
        }
        match (code, self.tab) {
            (KeyCode::Char('p') | KeyCode::Char(' '), _) => {
                self.paused = !self.paused;
                InspectAction::Pause(self.paused)
            }
            (KeyCode::Char('x'), Tab::Locks | Tab::Activity) => self.ask(Signal::Cancel),
            (KeyCode::Char('X'), Tab::Locks | Tab::Activity) => self.ask(Signal::Terminate),
            (_, Tab::Sizes) => handled(self.sizes.key(key, self.page)),
            (_, Tab::Locks) => {
                let keys = self.lock_keys();
                handled(self.locks.key(key, &keys, self.page))
            }
            (_, Tab::Activity) => {
                let keys = self.activity_keys();
                handled(self.activity.key(key, &keys, self.page))
            }
        }
    }

    /// Opens a confirmation for the selected session, or says why not.
    fn ask(&mut self, signal: Signal) -> InspectAction {
        match self.selected_target() {
            None => self.notice = Some("no session selected".into()),
            Some(target) => match confirm::refusal(signal, &target) {
                Some(reason) => self.notice = Some(reason),
                None => self.confirm = Some(Confirm::new(signal, target)),
            },
        }
        InspectAction::Handled
    }

    /// The keys valid now, for the hint bar: key and what it does. `signals`: whether cancel
    /// and terminate are offered (not in read-only mode).
    pub fn hint_items(&self, signals: bool) -> Vec<(&'static str, String)> {
        if let Some(confirm) = &self.confirm {
            return vec![
                ("y", confirm.signal.verb().to_string()),
                ("n/Esc", "no".into()),
            ];
        }
        let mut items = vec![("j/k", "move".to_string())];
        match self.tab {
            Tab::Sizes => {
                items.push((
                    "s",
                    format!("sort: {}", header(self.sizes.column).to_lowercase()),
                ));
                items.push((
                    "S",
                    if self.sizes.descending {
                        "ascending"
                    } else {
                        "descending"
                    }
                    .into(),
                ));
            }
            Tab::Locks | Tab::Activity if signals => {
                items.push(("x", "cancel query".into()));
                items.push(("X", "terminate".into()));
            }
            Tab::Locks | Tab::Activity => {}
        }
        items.push(("p", if self.paused { "resume" } else { "pause" }.into()));
        items.push(("Ctrl-r", "refresh".into()));
        items.push(("4/5/6 [ ]", "tabs".into()));
        items
    }

    /// [`Inspect::hint_items`] as one line.
    pub fn hints(&self) -> String {
        self.hint_items(true)
            .iter()
            .map(|(key, what)| format!("{key} {what}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    fn snapshot(&self) -> Option<&Snapshot> {
        self.poll.snapshot.as_deref()
    }

    fn all_sizes(&self) -> &[TableSize] {
        sizes_of(&self.poll)
    }

    fn lock_lines(&self) -> Vec<locks::TreeLine<'_>> {
        self.snapshot()
            .map(|s| locks::flatten(&s.forest))
            .unwrap_or_default()
    }

    fn lock_keys(&self) -> Vec<locks::LineKey> {
        self.lock_lines().iter().map(locks::TreeLine::key).collect()
    }

    fn activity_rows(&self) -> Vec<&crate::monitor::Session> {
        self.snapshot()
            .map(|s| activity::rows(&s.activity))
            .unwrap_or_default()
    }

    fn activity_keys(&self) -> Vec<i32> {
        self.activity_rows().iter().map(|s| s.pid).collect()
    }

    /// The title's right side: paused, stale with the error, or the data's age.
    fn status(&self, now: Instant) -> Span<'static> {
        let age = self
            .poll
            .last_success
            .map(|at| human_age(now.saturating_duration_since(at).as_secs_f64()));
        let (text, color) = match (&self.poll.error, self.paused, age) {
            (Some(error), _, _) => (format!("stale: {error}"), Color::Red),
            (None, true, Some(age)) => (format!("paused · data {age} old"), Color::Yellow),
            (None, true, None) => ("paused".into(), Color::Yellow),
            (None, false, Some(age)) => (format!("updated {age} ago"), Color::DarkGray),
            (None, false, None) => ("waiting for the first poll".into(), Color::DarkGray),
        };
        Span::styled(format!(" {text} "), Style::default().fg(color))
    }

    /// The tab shown, as a pane of the bottom slot.
    fn slot_pane(&self) -> SlotPane {
        match self.tab {
            Tab::Sizes => SlotPane::Sizes,
            Tab::Locks => SlotPane::Locks,
            Tab::Activity => SlotPane::Activity,
        }
    }
}

/// The sizes of the last snapshot that read them (empty before).
fn sizes_of(poll: &PollState) -> &[TableSize] {
    poll.snapshot
        .as_deref()
        .and_then(|s| s.sizes.as_deref())
        .unwrap_or_default()
}

fn handled(yes: bool) -> InspectAction {
    if yes {
        InspectAction::Handled
    } else {
        InspectAction::Ignored
    }
}

/// Draws the pane: a bordered block titled with the tabs and the data's age (or "paused", or
/// "stale: <error>"), the current tab inside, a notice line when there is one, and an open
/// confirmation centred over `area`, the data's age measured at `now`. Never panics, however
/// small `area` is.
pub fn draw(frame: &mut Frame, area: Rect, inspect: &Inspect, focused: bool, now: Instant) {
    let border = if focused {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    let status = crate::tui::visible::visible_line(Line::from(inspect.status(now)));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title_top(slot::title(
            inspect.slot_pane(),
            "",
            area.width,
            status.width() as u16,
        ))
        .title_top(status.right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let notice_height = u16::from(inspect.notice.is_some() && inner.height > 1);
    let [body, notice] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(notice_height)]).areas(inner);
    match (inspect.snapshot(), inspect.tab) {
        (None, _) => empty(frame, body, "waiting for the first poll…"),
        (Some(snapshot), Tab::Sizes) => sizes::draw(
            frame,
            body,
            &inspect.sizes,
            snapshot.sizes.is_some(),
            snapshot.taken_at,
        ),
        (Some(_), Tab::Locks) => {
            let lines = inspect.lock_lines();
            let selected = inspect.locks.index(lines.len());
            locks::draw(frame, body, &lines, selected);
        }
        (Some(_), Tab::Activity) => {
            let rows = inspect.activity_rows();
            let selected = inspect.activity.index(rows.len());
            activity::draw(frame, body, &rows, selected);
        }
    }
    if let Some(text) = &inspect.notice {
        frame.render_widget(
            Paragraph::new(crate::tui::visible::line(
                text,
                Style::default().fg(Color::Yellow),
            )),
            notice,
        );
    }
    if let Some(confirm) = &inspect.confirm {
        confirm.draw(frame, area);
    }
}

/// A dim one-line message in place of an empty list.
fn empty(frame: &mut Frame, area: Rect, message: &str) {
    frame.render_widget(
        Paragraph::new(Line::styled(
            message.to_string(),
            Style::default().fg(Color::DarkGray),
        )),
        area,
    );
}
