//! Rehearsals in the dashboard (`R`): the pending migrations up to the selected one run on a
//! scratch copy in the background ([`crate::rehearse`]), with a progress line per migration in
//! the run pane, and their results where the reviewer looks: the list's rehearsal column, the
//! observed locks under each statement in the preview, and the confirmation of a real apply.
//!
//! [`Rehearsals`] holds the results (shared, in [`super::data::Data`]); [`Rehearsing`] the
//! rehearsal in progress (the run pane's). The words are the engine's
//! ([`crate::rehearse::render`]); this module gives them the dashboard's colours.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::data::Data;
use super::theme::{DIM, clock};
use super::visible;
use crate::rehearse::render::{self, Tone};
use crate::rehearse::{
    MigrationRehearsal, PhaseName, RehearsalEvent, RehearsalReport, StatementRehearsal, Verdict,
};
use crate::runner::text::count;
use crate::runner::{Direction, Operation, Plan};
use crate::source::Migration;
use crate::status::VersionStatus;

/// The dashboard rehearses as `lockstep rehearse` does without `--require-down`: a migration
/// without a DOWN is "not reversible", not a failure.
pub const REQUIRE_DOWN: bool = false;

/// How a rehearsal ended.
#[derive(Debug)]
pub enum RehearsalEnd {
    /// It ran to the end: the report.
    Done(Box<RehearsalReport>),
    /// `c` stopped it (the scratch database is removed).
    Cancelled,
    /// It could not run: why.
    Failed(String),
}

/// The latest rehearsal of each migration, from this session's `R`.
#[derive(Debug, Clone, Default)]
pub struct Rehearsals {
    by_version: HashMap<i64, Arc<MigrationRehearsal>>,
    /// Said by the latest rehearsal when its scratch server's major version differs from the
    /// database's.
    pub warning: Option<String>,
    /// Bumped on every change (the preview rebuilds its rows).
    generation: u64,
}

/// A migration's rehearsal, and whether its files are still the ones rehearsed.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// The rehearsal.
    pub rehearsal: &'a MigrationRehearsal,
    /// Whether the UP and DOWN files have the checksums they had when rehearsed.
    pub current: bool,
}

impl Found<'_> {
    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.rehearsal.verdict(REQUIRE_DOWN)
    }
}

impl Rehearsals {
    /// Keeps a migration's rehearsal (replacing an earlier one).
    pub fn store(&mut self, rehearsal: MigrationRehearsal) {
        self.by_version
            .insert(rehearsal.version, Arc::new(rehearsal));
        self.generation += 1;
    }

    /// Keeps every migration of a finished rehearsal, and what it says about its server.
    pub fn finished(&mut self, report: &RehearsalReport) {
        for rehearsal in &report.migrations {
            self.store(rehearsal.clone());
        }
        self.warning = report.server.warning.clone();
    }

    /// The rehearsal of `v`, if it has one.
    pub fn of<'a>(&'a self, v: &VersionStatus) -> Option<Found<'a>> {
        let rehearsal = self.by_version.get(&v.version)?;
        Some(Found {
            rehearsal,
            current: same_files(rehearsal, v.migration.as_ref()),
        })
    }

    /// Changes with every rehearsal stored.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Whether `migration`'s files are the ones `rehearsal` ran (sqlx checksums compared).
fn same_files(rehearsal: &MigrationRehearsal, migration: Option<&Migration>) -> bool {
    migration.is_some_and(|m| {
        rehearsal.up_checksum == hex::encode(&m.up.checksum)
            && rehearsal.down_checksum == m.down.as_ref().map(|d| hex::encode(&d.checksum))
    })
}

/// The rehearsal in progress.
#[derive(Debug, Clone)]
pub struct Rehearsing {
    /// When `R` was pressed.
    pub started: Instant,
    /// Migrations planned.
    pub planned: usize,
    /// Migrations rehearsed so far.
    pub done: usize,
    /// What it is doing, in the engine's words, and since when.
    pub doing: Option<(render::Line, Instant)>,
    /// Whether `c` asked it to stop.
    pub cancelling: bool,
}

impl Rehearsing {
    /// A rehearsal of `planned` migrations, started at `now`.
    pub fn new(planned: usize, now: Instant) -> Rehearsing {
        Rehearsing {
            started: now,
            planned,
            done: 0,
            doing: None,
            cancelling: false,
        }
    }

    /// Takes an event at `now`: the lines it adds to the log (a migration's block once it is
    /// rehearsed), and that migration's rehearsal.
    pub fn event(
        &mut self,
        event: &RehearsalEvent,
        now: Instant,
    ) -> (Vec<render::Line>, Option<MigrationRehearsal>) {
        match event {
            RehearsalEvent::Preparing { .. } => {
                let line = render::progress(event);
                self.doing = line.clone().map(|l| (l, now));
                (line.into_iter().collect(), None)
            }
            RehearsalEvent::PhaseStarted { .. } => {
                self.doing = render::progress(event).map(|l| (l, now));
                (Vec::new(), None)
            }
            RehearsalEvent::StatementFinished { .. } | RehearsalEvent::PhaseFinished { .. } => {
                (Vec::new(), None)
            }
            RehearsalEvent::MigrationRehearsed { rehearsal } => {
                self.done += 1;
                self.doing = None;
                (
                    render::migration_brief(rehearsal, REQUIRE_DOWN),
                    Some(rehearsal.as_ref().clone()),
                )
            }
        }
    }

    /// The live lines over the run pane's log: the timer and what runs now.
    pub fn header(&self, now: Instant) -> Vec<Line<'static>> {
        let mut first = vec![
            Span::styled("⟲ ", Style::default().fg(Color::Cyan)),
            Span::styled(
                clock(now.saturating_duration_since(self.started)),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "  rehearsing {} on a scratch copy",
                    count(self.planned, "migration", "migrations")
                ),
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
        ];
        if self.cancelling {
            first.push(Span::styled(
                " · cancelling…",
                Style::default().fg(Color::Yellow),
            ));
        } else {
            first.push(Span::styled(" · c cancels", DIM));
        }
        let mut lines = vec![Line::from(first)];
        if let Some((doing, since)) = &self.doing {
            let mut second = vec![Span::styled(
                format!("{} ", clock(now.saturating_duration_since(*since))),
                DIM,
            )];
            second.extend(styled(doing).spans);
            lines.push(Line::from(second));
        }
        lines
    }
}

/// The log lines of a rehearsal's end, in the engine's words, and the status bar's message.
pub fn end_lines(end: &RehearsalEnd) -> (Vec<render::Line>, String) {
    let line = |tone, text: &str| {
        vec![render::Span {
            tone,
            text: text.to_string(),
        }]
    };
    match end {
        RehearsalEnd::Done(report) => {
            let mut lines = render::header(report);
            lines.push(render::summary(report));
            let message = if report.migrations.is_empty() {
                render::plain(&[render::summary(report)])
            } else {
                format!("rehearsal: {}", render::verdicts(report))
            };
            (lines, message)
        }
        RehearsalEnd::Cancelled => {
            let text = "rehearsal cancelled: the scratch database is removed; nothing was written \
                        to this database";
            (vec![line(Tone::Warn, text)], text.to_string())
        }
        RehearsalEnd::Failed(error) => {
            let text = format!("the rehearsal could not run: {error}");
            let message = text.lines().next().unwrap_or_default().to_string();
            (text.lines().map(|l| line(Tone::Bad, l)).collect(), message)
        }
    }
}

/// How a tone looks.
pub fn tone_style(tone: Tone) -> Style {
    match tone {
        Tone::Plain => Style::default(),
        Tone::Dim => DIM,
        Tone::Strong => Style::default().add_modifier(Modifier::BOLD),
        Tone::Good => Style::default().fg(Color::Green),
        Tone::Bad => Style::default().fg(Color::Red),
        Tone::Warn => Style::default().fg(Color::Yellow),
    }
}

/// An engine line in the dashboard's colours, hidden characters as markers.
pub fn styled(line: &render::Line) -> Line<'static> {
    Line::from(
        line.iter()
            .flat_map(|span| visible::spans(&span.text, tone_style(span.tone)))
            .collect::<Vec<_>>(),
    )
}

/// `line` without its leading indentation (the CLI's layout), for a pane of its own.
pub fn unindented(line: &render::Line) -> render::Line {
    let mut out = line.clone();
    while let Some(first) = out.first_mut() {
        let trimmed = first.text.trim_start();
        if trimmed.is_empty() {
            out.remove(0);
            continue;
        }
        first.text = trimmed.to_string();
        break;
    }
    out
}

/// `line` with `prefix` (plain) before it.
fn prefixed(prefix: &str, line: render::Line) -> render::Line {
    let mut out = vec![render::Span {
        tone: Tone::Plain,
        text: prefix.to_string(),
    }];
    out.extend(line);
    out
}

/// The rehearsal column's cell: the verdict (✓ round trip, ✗ failed, ∅ not reversible, · not
/// run), `≠` when the server disagreed with the static analysis, all dimmed with `*` when the
/// files changed since.
pub fn list_cell(found: Option<Found>) -> Line<'static> {
    let Some(found) = found else {
        return Line::default();
    };
    let verdict = found.verdict();
    let dim = |style: Style| if found.current { style } else { DIM };
    let mut spans = vec![Span::styled(
        verdict.glyph(),
        dim(tone_style(render::verdict_tone(verdict)).add_modifier(Modifier::BOLD)),
    )];
    if found.rehearsal.disagreements().next().is_some() {
        spans.push(Span::styled("≠", dim(super::preview::DISAGREEMENT)));
    }
    if !found.current {
        spans.push(Span::styled("*", DIM));
    }
    Line::from(spans)
}

/// The lines of a migration's rehearsal at the top of the preview of its `side`: the phases,
/// and what went wrong on that side (the UP's failure; the DOWN's and the UP again's
/// differences, failures and data loss); or that the file changed since.
pub fn preview_lines(found: Found, down: bool) -> Vec<render::Line> {
    if !found.current {
        return vec![vec![render::Span {
            tone: Tone::Warn,
            text: "⟲ rehearsed before this migration's files changed: R rehearses it again"
                .to_string(),
        }]];
    }
    let r = found.rehearsal;
    let mut lines = vec![prefixed("⟲ rehearsal: ", render::phases_brief(r))];
    let mut details = if down {
        let mut lines = render::outcome_lines(r, &[PhaseName::Down, PhaseName::UpAgain]);
        lines.extend(render::data_loss_lines(r));
        lines
    } else {
        render::outcome_lines(r, &[PhaseName::Up])
    };
    lines.extend(details.drain(..).map(|l| unindented(&l)));
    lines
}

/// The statement `index` of the rehearsal's traced UP, if it ran.
pub fn statement<'a>(found: Found<'a>, index: usize) -> Option<&'a StatementRehearsal> {
    found
        .current
        .then(|| found.rehearsal.statements.iter().find(|s| s.index == index))
        .flatten()
}

/// What the confirmation of an apply says about its rehearsal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RehearsalReview {
    /// `Rehearsal: all 2 migrations rehearsed…`, or that none was (`None`: not an apply).
    pub title: Option<render::Line>,
    /// Each migration's verdict and what went wrong; a warning for each migration not rehearsed
    /// or whose files changed since.
    pub details: Vec<render::Line>,
    /// The versions whose rehearsal (with these files) failed.
    pub failed: Vec<i64>,
}

/// What the confirmation of `plan` says about its rehearsal (an apply only).
pub fn review(plan: &Plan, data: &Data) -> RehearsalReview {
    if !matches!(plan.operation, Operation::Up { .. }) {
        return RehearsalReview::default();
    }
    let steps: Vec<&VersionStatus> = plan
        .steps
        .iter()
        .filter(|s| s.direction == Direction::Apply)
        .filter_map(|s| {
            data.status
                .as_ref()?
                .versions
                .iter()
                .find(|v| v.version == s.version)
        })
        .collect();
    let found: Vec<(&VersionStatus, Option<Found>)> =
        steps.iter().map(|v| (*v, data.rehearsals.of(v))).collect();
    let current = found
        .iter()
        .filter(|(_, f)| f.is_some_and(|f| f.current))
        .count();
    let failed: Vec<i64> = found
        .iter()
        .filter(|(_, f)| f.is_some_and(|f| f.current && f.verdict() == Verdict::Failed))
        .map(|(v, _)| v.version)
        .collect();
    let line = |tone, text: String| vec![render::Span { tone, text }];
    let mut lines = Vec::new();
    let total = found.len();
    let title = if current == 0 {
        line(
            Tone::Warn,
            format!(
                "Rehearsal: none — R rehearses {} on a scratch copy first (observed locks, a \
                 DOWN that undoes the UP)",
                if total == 1 {
                    "this migration".to_string()
                } else {
                    format!("these {total} migrations")
                }
            ),
        )
    } else {
        let tone = if !failed.is_empty() {
            Tone::Bad
        } else if current < total {
            Tone::Warn
        } else {
            Tone::Good
        };
        let rehearsed = if current == total {
            format!("all {}", count(total, "migration", "migrations"))
        } else {
            format!("{current} of {}", count(total, "migration", "migrations"))
        };
        line(
            tone,
            format!("Rehearsal: {rehearsed} rehearsed on a scratch copy with these files"),
        )
    };
    if current > 0
        && let Some(warning) = &data.rehearsals.warning
    {
        lines.push(line(Tone::Warn, format!("  ⚠ {warning}")));
    }
    for (v, f) in &found {
        match f {
            Some(f) if f.current => {
                let r = f.rehearsal;
                lines.push(prefixed("  ", render::verdict_line(r, REQUIRE_DOWN)));
                if f.verdict() != Verdict::RoundTrip {
                    lines.push(prefixed("  ", render::phases_line(r)));
                }
                for detail in render::disagreement_lines(r)
                    .into_iter()
                    .chain(render::outcome_lines(
                        r,
                        &[PhaseName::Up, PhaseName::Down, PhaseName::UpAgain],
                    ))
                    .chain(render::data_loss_lines(r))
                {
                    lines.push(prefixed("  ", detail));
                }
            }
            Some(_) => lines.push(line(
                Tone::Warn,
                format!(
                    "  ⚠ {} {}: its files changed since the rehearsal (checksums differ): R \
                     rehearses it again",
                    v.version, v.description
                ),
            )),
            None if current > 0 => lines.push(line(
                Tone::Warn,
                format!("  ⚠ {} {}: not rehearsed", v.version, v.description),
            )),
            None => {}
        }
    }
    RehearsalReview {
        title: Some(title),
        details: lines,
        failed,
    }
}

/// Wraps an engine line at `width` columns, at spaces where possible (a run of spaces counts
/// as one), each piece keeping its tones.
pub fn wrap_line(line: &render::Line, width: usize) -> Vec<render::Line> {
    let width = width.max(8);
    let mut rows: Vec<render::Line> = Vec::new();
    let mut row: render::Line = Vec::new();
    let mut used = 0;
    let mut space = false;
    let add = |row: &mut render::Line, tone: Tone, text: String| match row.last_mut() {
        Some(last) if last.tone == tone => last.text.push_str(&text),
        _ => row.push(render::Span { tone, text }),
    };
    for span in line {
        for (i, word) in span.text.split(' ').enumerate() {
            space |= i > 0;
            let mut chars: Vec<char> = word.chars().collect();
            if chars.is_empty() {
                continue;
            }
            let gap = usize::from(space && used > 0);
            if used > 0 && used + gap + chars.len() > width {
                rows.push(std::mem::take(&mut row));
                used = 0;
            } else if gap == 1 {
                // The space goes with what it follows.
                if let Some(last) = row.last_mut() {
                    last.text.push(' ');
                }
                used += 1;
            }
            space = false;
            // A word longer than a whole row is cut.
            while chars.len() > width {
                add(&mut row, span.tone, chars.drain(..width).collect());
                rows.push(std::mem::take(&mut row));
            }
            used += chars.len();
            add(&mut row, span.tone, chars.into_iter().collect());
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(tone: Tone, text: &str) -> render::Span {
        render::Span {
            tone,
            text: text.to_string(),
        }
    }

    #[test]
    fn a_line_wraps_at_spaces_keeping_its_tones() {
        let line = vec![
            span(Tone::Plain, "down "),
            span(Tone::Bad, "✗ 2 differences"),
            span(Tone::Dim, " (3 ms)"),
        ];
        let rows = wrap_line(&line, 12);
        let text: Vec<String> = rows
            .iter()
            .map(|r| render::plain(std::slice::from_ref(r)))
            .collect();
        assert_eq!(text, vec!["down ✗ 2", "differences", "(3 ms)"]);
        assert_eq!(
            rows[0],
            vec![span(Tone::Plain, "down "), span(Tone::Bad, "✗ 2")]
        );
        assert_eq!(rows[2][0].tone, Tone::Dim);
        assert_eq!(
            render::plain(&wrap_line(&vec![span(Tone::Plain, "abcdefghijkl")], 8)),
            "abcdefgh\nijkl"
        );
    }

    #[test]
    fn unindented_drops_leading_spaces_only() {
        let line = vec![span(Tone::Plain, "    "), span(Tone::Warn, "  ≠ x y")];
        assert_eq!(unindented(&line), vec![span(Tone::Warn, "≠ x y")]);
    }
}
