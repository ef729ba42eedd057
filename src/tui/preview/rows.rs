//! The preview's rows: who applied the migration and when (for an applied one), the file's
//! problems, then the migration's rehearsal (its phases and
//! what went wrong on this side), then its lines, each marked with the findings on it, and under
//! each statement with findings, or that blocks reads or writes of a table that existed before
//! (by its own lock or one held from an earlier statement), its lock badges (once) and its
//! findings, errors first, each with its message and the safe alternative or fix. A rehearsed
//! statement of the UP file shows its predicted badges over the locks the rehearsal observed, a
//! disagreement highlighted and said.
//! Built once per file, analysis, table sizes, rehearsal and width; each frame draws only the
//! rows on screen.

use std::collections::{BTreeMap, HashMap};

use crate::analysis::{
    Analysis, AnalyzedStatement, Finding, HeldLock, LockFact, LockMode, Severity,
};
use crate::rehearse::StatementRehearsal;
use crate::rehearse::render;
use crate::tui::rehearsal::{self, Found};

/// A character range of a source line to underline, and how serious it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underline {
    /// First character (0-based).
    pub from: usize,
    /// One past the last character (`usize::MAX`: to the end of the line).
    pub to: usize,
    /// The most serious finding covering it.
    pub severity: Severity,
}

/// What a note row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// The finding's message (one wrapped piece of it; `first` starts with the rule).
    Message {
        /// The first piece.
        first: bool,
    },
    /// The safe alternative or the available fix.
    Help,
}

/// How a badge looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A lock that blocks reads (and writes).
    LockReads,
    /// A lock that blocks writes.
    LockWrites,
    /// A lock that blocks neither.
    Lock,
    /// "blocks reads+writes".
    BlocksReads,
    /// "blocks writes".
    BlocksWrites,
    /// "rewrite".
    Rewrite,
    /// "scan".
    Scan,
    /// "new table", locks held since earlier statements.
    Quiet,
    /// A table's size.
    Size,
    /// "predicted" / "observed" before a rehearsed statement's badges.
    Label,
    /// `≠`: the rehearsal disagrees with the prediction.
    Disagree,
}

/// One badge: a piece of the statement's lock facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// Its text.
    pub text: String,
    /// How it looks.
    pub tone: Tone,
}

/// One row of the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewRow {
    /// Who applied the migration and when, in the engine's words (a piece of the sentence).
    Applied(String),
    /// A problem of the file as a whole (empty, still the template), as `lockstep status` says it.
    Problem(String),
    /// A source line (0-based), or a piece of it wrapped at the pane's edge; the most serious
    /// finding starting on it, the most serious one it continues, and what to underline.
    Code {
        /// The line, from 0.
        line: usize,
        /// Which piece of the line (0: its start; the rest continue it on the next rows).
        part: usize,
        /// The piece's characters of the line (`start..end`; `usize::MAX`: to the end).
        span: (usize, usize),
        /// The gutter mark of a finding starting here.
        mark: Option<Severity>,
        /// The gutter bar of a finding that started on an earlier line.
        continued: Option<Severity>,
        /// Ranges to underline.
        underlines: Vec<Underline>,
    },
    /// Lock badges of a statement (one row of them; they wrap).
    Badges(Vec<Chip>),
    /// A row of the migration's rehearsal, in the engine's words and tones.
    Rehearsal(render::Line),
    /// A disagreement between the rehearsal and the analysis under its statement (a piece).
    Disagreement(String),
    /// A note of a finding under its statement.
    Note {
        /// The finding's index in the analysis.
        finding: usize,
        /// What the row says.
        kind: NoteKind,
        /// Its text.
        text: String,
    },
}

/// What the rows are built from, besides the file.
pub struct RowInput<'a> {
    /// The file's text.
    pub text: &'a str,
    /// Its analysis, when done.
    pub analysis: Option<&'a Analysis>,
    /// Columns for notes and badges.
    pub width: usize,
    /// Columns for the source text (longer lines wrap).
    pub code_width: usize,
    /// Size notes of the tables the statements lock (`1.2 GB, 8.1M rows`), by name.
    pub sizes: &'a HashMap<String, String>,
    /// Who applied the migration and when, for an applied one.
    pub applied: Option<&'a str>,
    /// Problems of the file.
    pub problems: &'a [String],
    /// The migration's rehearsal, if it has one.
    pub rehearsal: Option<Found<'a>>,
    /// Whether the file is the DOWN file.
    pub down: bool,
}

/// The rows of a file.
pub fn build_rows(input: &RowInput) -> Vec<PreviewRow> {
    let width = input.width.max(20);
    let mut out: Vec<PreviewRow> = Vec::new();
    if let Some(sentence) = input.applied {
        out.extend(wrap(sentence, width).into_iter().map(PreviewRow::Applied));
    }
    for problem in input.problems {
        for piece in wrap(&format!("⚠ {problem}"), width) {
            out.push(PreviewRow::Problem(piece));
        }
    }
    if let Some(found) = input.rehearsal {
        for line in rehearsal::preview_lines(found, input.down) {
            out.extend(
                rehearsal::wrap_line(&line, width)
                    .into_iter()
                    .map(PreviewRow::Rehearsal),
            );
        }
    }
    // The UP's statements as the rehearsal traced them (when the files are the ones rehearsed).
    let traced = |index: usize| {
        input
            .rehearsal
            .filter(|_| !input.down)
            .and_then(|found| rehearsal::statement(found, index))
    };
    let blank: Vec<bool> = input.text.lines().map(|l| l.trim().is_empty()).collect();
    let mut rows: Vec<PreviewRow> = (0..blank.len().max(1))
        .map(|line| PreviewRow::Code {
            line,
            part: 0,
            span: (0, usize::MAX),
            mark: None,
            continued: None,
            underlines: Vec::new(),
        })
        .collect();
    let Some(analysis) = input.analysis else {
        out.extend(rows);
        return out;
    };
    // Findings grouped by what they are about: a statement, else their own last line; and the
    // rehearsed statements, with or without findings.
    let mut groups: BTreeMap<(usize, Option<usize>), Vec<usize>> = BTreeMap::new();
    let after_statement = |s: &AnalyzedStatement| s.end.line.saturating_sub(1).min(rows.len() - 1);
    for statement in &analysis.statements {
        let shown = match traced(statement.index) {
            Some(traced) => worth_showing(statement, traced),
            None => blocks_existing(statement),
        };
        if shown {
            groups
                .entry((after_statement(statement), Some(statement.index)))
                .or_default();
        }
    }
    for (index, finding) in analysis.findings.iter().enumerate() {
        mark_lines(&mut rows, &blank, finding);
        let statement = finding
            .statement_index
            .and_then(|s| analysis.statements.get(s));
        let last_line = statement
            .map(|s| s.end.line)
            .unwrap_or(finding.end.line)
            .max(finding.start.line);
        let after = last_line.saturating_sub(1).min(rows.len() - 1);
        groups
            .entry((after, statement.map(|s| s.index)))
            .or_default()
            .push(index);
    }
    let mut next = groups.into_iter().peekable();
    let code_width = input.code_width.max(8);
    let mut text_lines = input.text.lines();
    for (line, row) in rows.into_iter().enumerate() {
        let pieces = pieces(text_lines.next().unwrap_or_default(), code_width);
        match row {
            PreviewRow::Code {
                mark,
                continued,
                underlines,
                ..
            } if pieces.len() > 1 => {
                for (part, span) in pieces.into_iter().enumerate() {
                    out.push(PreviewRow::Code {
                        line,
                        part,
                        span,
                        mark: if part == 0 { mark } else { None },
                        continued: if part == 0 { continued } else { None },
                        underlines: underlines.clone(),
                    });
                }
            }
            row => out.push(row),
        }
        while let Some(((after, statement), _)) = next.peek() {
            if *after != line {
                break;
            }
            let statement = statement.and_then(|s| analysis.statements.get(s));
            let Some((_, mut findings)) = next.next() else {
                break;
            };
            // Errors first; within a severity, in file order.
            findings.sort_by_key(|&i| {
                (
                    std::cmp::Reverse(analysis.findings[i].severity),
                    analysis.findings[i].span.start,
                )
            });
            if let Some(statement) = statement {
                let predicted = badges(statement, analysis, input.sizes);
                match traced(statement.index) {
                    Some(traced) => push_rehearsed(&mut out, predicted, traced, width),
                    None => {
                        for chips in wrap_chips(predicted, width) {
                            out.push(PreviewRow::Badges(chips));
                        }
                    }
                }
            }
            for index in findings {
                push_notes(&mut out, index, &analysis.findings[index], width);
            }
        }
    }
    out
}

/// Marks a finding's lines: the gutter mark and underline on its first line; the gutter bar on
/// the following lines that hold text (not on blank ones). A finding within one line is
/// underlined exactly.
fn mark_lines(rows: &mut [PreviewRow], blank: &[bool], finding: &Finding) {
    let (start, end) = (finding.start, finding.end);
    let severity = finding.severity;
    let more = |current: Option<Severity>| Some(current.map_or(severity, |m| m.max(severity)));
    if let Some(PreviewRow::Code {
        mark, underlines, ..
    }) = rows.get_mut(start.line.saturating_sub(1))
    {
        *mark = more(*mark);
        let from = start.column.saturating_sub(1);
        let to = if end.line == start.line {
            end.column.saturating_sub(1)
        } else {
            usize::MAX
        };
        if to > from {
            underlines.push(Underline { from, to, severity });
        }
    }
    for line in start.line + 1..=end.line {
        if blank.get(line.saturating_sub(1)) == Some(&true) {
            continue;
        }
        if let Some(PreviewRow::Code { continued, .. }) = rows.get_mut(line.saturating_sub(1)) {
            *continued = more(*continued);
        }
    }
}

/// Whether a statement blocks reads or writes of a relation that existed before the migration,
/// by a lock of its own or one its transaction holds from an earlier statement: its badges are
/// shown under it even when it has no finding (the lock window is a badge, not a warning).
fn blocks_existing(statement: &AnalyzedStatement) -> bool {
    statement
        .locks
        .iter()
        .any(|lock| !lock.new_relation && blocks(lock))
        || statement.held_before.iter().any(|held| blocks(&held.lock))
}

/// Whether a lock blocks reads or writes of its table.
fn blocks(lock: &LockFact) -> bool {
    lock.blocks_reads || lock.blocks_writes
}

/// The lock badges of a statement: each lock's mode and table, what it blocks, scan or rewrite,
/// the table's size (or "new table"), the trigger or function that takes it, whether it is
/// taken only when rows are written or a branch runs, how many partitions it locks along, and
/// the locks held since earlier statements.
fn badges(
    statement: &AnalyzedStatement,
    analysis: &Analysis,
    sizes: &HashMap<String, String>,
) -> Vec<Chip> {
    let chip = |text: String, tone: Tone| Chip { text, tone };
    let mut chips = Vec::new();
    for lock in statement.locks.iter().filter(|l| l.partition_of.is_none()) {
        chips.push(lock_chip(
            lock.mode,
            &lock.relation,
            (lock.blocks_reads, lock.blocks_writes),
        ));
        match (lock.blocks_reads, lock.blocks_writes) {
            (true, _) => chips.push(chip("blocks reads+writes".into(), Tone::BlocksReads)),
            (false, true) => chips.push(chip("blocks writes".into(), Tone::BlocksWrites)),
            _ => {}
        }
        if lock.rewrite {
            chips.push(chip("rewrite".into(), Tone::Rewrite));
        } else if lock.scan {
            chips.push(chip("scan".into(), Tone::Scan));
        }
        if lock.new_relation {
            chips.push(chip("new table".into(), Tone::Quiet));
        } else if let Some(size) = sizes.get(&lock.relation) {
            chips.push(chip(format!("({size})"), Tone::Size));
        }
        if let Some(via) = &lock.via {
            chips.push(chip(format!("via {via}"), Tone::Quiet));
        }
        if lock.conditional {
            let when = if lock.shape.per_written_row() {
                "if rows are written"
            } else {
                "conditional"
            };
            chips.push(chip(when.into(), Tone::Quiet));
        }
        let partitions = statement
            .locks
            .iter()
            .filter(|l| l.partition_of.as_deref() == Some(lock.relation.as_str()))
            .count();
        if partitions > 0 {
            chips.push(chip(
                format!(
                    "+{}",
                    crate::runner::text::count(partitions, "partition", "partitions")
                ),
                Tone::Quiet,
            ));
        }
    }
    chips.extend(
        held_chips(statement, analysis)
            .into_iter()
            .map(|text| chip(text, Tone::Quiet)),
    );
    chips
}

/// How many held locks are named under a statement before the rest are counted.
const HELD_NAMED: usize = 2;

/// The locks a statement's transaction holds from earlier statements that block reads or
/// writes: the strongest on each table, named with the line that took it (`ACCESS EXCLUSIVE on
/// users held since line 3`), the first [`HELD_NAMED`] of them, the rest counted. A table the
/// statement itself locks as strongly is left to its own badge.
fn held_chips(statement: &AnalyzedStatement, analysis: &Analysis) -> Vec<String> {
    let mut strongest: Vec<&HeldLock> = Vec::new();
    for held in statement.held_before.iter() {
        if !blocks(&held.lock) {
            continue;
        }
        match strongest
            .iter_mut()
            .find(|s| s.lock.relation == held.lock.relation)
        {
            Some(s) if held.lock.mode > s.lock.mode => *s = held,
            Some(_) => {}
            None => strongest.push(held),
        }
    }
    strongest.retain(|held| {
        !statement
            .locks
            .iter()
            .any(|own| own.relation == held.lock.relation && own.mode >= held.lock.mode)
    });
    let line = |held: &HeldLock| {
        analysis
            .statements
            .get(held.since_statement)
            .map_or(0, |s| s.start.line)
    };
    let mut texts: Vec<String> = strongest
        .iter()
        .take(HELD_NAMED)
        .map(|held| {
            format!(
                "{} on {} held since line {}",
                held.lock.mode.sql_name(),
                held.lock.relation,
                line(held)
            )
        })
        .collect();
    let rest = strongest.len().saturating_sub(HELD_NAMED);
    if rest > 0 {
        let tables = if rest == 1 { "table" } else { "tables" };
        texts.push(format!(
            "+{rest} more {tables} locked since earlier statements"
        ));
    }
    texts
}

/// A lock's badge: its mode and target, coloured by what it `blocks` (reads, writes).
fn lock_chip(mode: LockMode, target: &str, blocks: (bool, bool)) -> Chip {
    Chip {
        text: format!("{} on {target}", mode.sql_name()),
        tone: match blocks {
            (true, _) => Tone::LockReads,
            (false, true) => Tone::LockWrites,
            (false, false) => Tone::Lock,
        },
    }
}

/// Whether a rehearsed statement has anything to show: locks predicted or observed, a rewrite,
/// a disagreement.
fn worth_showing(statement: &AnalyzedStatement, traced: &StatementRehearsal) -> bool {
    !statement.locks.is_empty()
        || !traced.observed.is_empty()
        || !traced.rewritten.is_empty()
        || !traced.disagreements.is_empty()
}

/// A rehearsed statement's rows: the predicted badges, the observed ones under them (a
/// disagreement marked `≠`), then each disagreement in the engine's words.
fn push_rehearsed(
    out: &mut Vec<PreviewRow>,
    predicted: Vec<Chip>,
    traced: &StatementRehearsal,
    width: usize,
) {
    let label = |text: &str| Chip {
        text: text.into(),
        tone: Tone::Label,
    };
    let mut first = vec![label("predicted")];
    if predicted.is_empty() {
        first.push(Chip {
            text: "no lock".into(),
            tone: Tone::Quiet,
        });
    }
    first.extend(predicted);
    let mut observed = vec![label("observed ")];
    observed.extend(observed_badges(traced));
    for chips in wrap_chips(first, width)
        .into_iter()
        .chain(wrap_chips(observed, width))
    {
        out.push(PreviewRow::Badges(chips));
    }
    for disagreement in &traced.disagreements {
        for piece in wrap(&format!("≠ {}", disagreement.message), width) {
            out.push(PreviewRow::Disagreement(piece));
        }
    }
}

/// What the rehearsal saw a statement do: each lock's mode and target (what it blocks by its
/// colour), a rewrite, a lock waited for, a predicted lock not taken, and `≠` where the
/// analysis predicted otherwise.
fn observed_badges(traced: &StatementRehearsal) -> Vec<Chip> {
    let chip = |text: String, tone: Tone| Chip { text, tone };
    let disagree = |chips: &mut Vec<Chip>, target: &str, object: bool| {
        if render::disagrees_on(traced, target, object) {
            chips.push(chip("≠".into(), Tone::Disagree));
        }
    };
    let mut chips = Vec::new();
    for lock in &traced.observed {
        chips.push(lock_chip(
            lock.mode,
            &lock.target,
            (lock.mode.blocks_reads(), lock.mode.blocks_writes()),
        ));
        if !lock.object && traced.rewritten.contains(&lock.target) {
            chips.push(chip("rewrite".into(), Tone::Rewrite));
        }
        if !lock.granted {
            chips.push(chip("waited".into(), Tone::Quiet));
        }
        // A weaker lock than predicted, where an earlier statement holds the predicted one.
        if let Some(held) = render::held_on(traced, &lock.target, lock.object) {
            chips.push(chip(held.since_line_text(), Tone::Quiet));
        }
        disagree(&mut chips, &lock.target, lock.object);
    }
    let seen = |target: &str, object: bool| {
        traced
            .observed
            .iter()
            .any(|o| o.object == object && o.target == target)
    };
    for relation in &traced.rewritten {
        if !seen(relation, false) {
            chips.push(chip(format!("rewrite of {relation}"), Tone::Rewrite));
            disagree(&mut chips, relation, false);
        }
    }
    for predicted in &traced.predicted {
        let target = predicted.traced_target();
        if !seen(&target, predicted.object) {
            let held = render::held_on(traced, &target, predicted.object);
            let text = match (traced.sampled, held) {
                (true, _) => format!("no lock seen on {target}"),
                // (The mode held is the predicted one or stronger: the row above says which.)
                (false, Some(held)) => format!("{target} held since line {}", held.since_line),
                (false, None) => format!("no new lock on {target}"),
            };
            chips.push(chip(text, Tone::Quiet));
            disagree(&mut chips, &target, predicted.object);
        }
    }
    if chips.is_empty() {
        chips.push(chip("no lock on an existing table".into(), Tone::Quiet));
    }
    if traced.sampled {
        chips.push(chip("(sampled while it ran)".into(), Tone::Quiet));
    }
    chips
}

/// Lays `chips` out on rows of `width` columns (a chip is never split unless wider than a row).
/// A lock's chips (its mode and table, then what it blocks, its size, whose trigger takes it…)
/// start a new row when they do not all fit after another lock's, so none is read as the next
/// lock's (a label before the first lock keeps it on its row).
fn wrap_chips(chips: Vec<Chip>, width: usize) -> Vec<Vec<Chip>> {
    let len = |chip: &Chip| crate::text::visible::width(&chip.text) + 2;
    // A chip wider than a row is cut at its spaces into chips of its tone, one per row (at 80x24,
    // "+9 locks held since earlier statements" lost its end to the pane's border).
    let chips: Vec<Chip> = chips
        .into_iter()
        .flat_map(|chip| {
            if len(&chip) <= width {
                return vec![chip];
            }
            let tone = chip.tone;
            wrap(&chip.text, width.saturating_sub(2))
                .into_iter()
                .map(|text| Chip { text, tone })
                .collect()
        })
        .collect();
    let starts_group =
        |chip: &Chip| matches!(chip.tone, Tone::LockReads | Tone::LockWrites | Tone::Lock);
    // At each lock's chip, the width of its chips up to the next lock's (summed from the end).
    let mut group_lens = vec![None; chips.len()];
    let mut tail = 0;
    for (i, chip) in chips.iter().enumerate().rev() {
        tail += len(chip);
        if starts_group(chip) {
            group_lens[i] = Some(tail);
            tail = 0;
        }
    }
    let mut rows: Vec<Vec<Chip>> = Vec::new();
    let mut used = 0;
    // Whether the row holds a lock's chips (not only a label), and whether a lock has begun
    // (every chip from there on is some lock's, a wrapped lock's rest included).
    let (mut row_has_lock, mut in_locks) = (false, false);
    for (chip, group) in chips.into_iter().zip(group_lens) {
        let len = len(&chip);
        let needs = match group {
            Some(group) if row_has_lock => group,
            _ => len,
        };
        if used > 0 && used + needs > width {
            used = 0;
            row_has_lock = false;
        }
        in_locks |= group.is_some();
        row_has_lock |= in_locks;
        if used == 0 {
            rows.push(Vec::new());
        }
        used += len;
        if let Some(row) = rows.last_mut() {
            row.push(chip);
        }
    }
    rows
}

fn push_notes(out: &mut Vec<PreviewRow>, index: usize, finding: &Finding, width: usize) {
    let head = format!(
        "{} {} [{}] {}",
        super::super::theme::glyph(finding.severity),
        finding.severity.as_str(),
        finding.rule,
        finding.message
    );
    for (i, piece) in wrap(&head, width).into_iter().enumerate() {
        out.push(PreviewRow::Note {
            finding: index,
            kind: NoteKind::Message { first: i == 0 },
            text: if i == 0 { piece } else { format!("  {piece}") },
        });
    }
    let help = match (&finding.safe_alternative, &finding.fix) {
        (Some(safe), Some(fix)) => {
            Some(format!("→ {safe} · f applies the fix: {}", fix.description))
        }
        (Some(safe), None) => Some(format!("→ {safe}")),
        (None, Some(fix)) => Some(format!("→ f applies the fix: {}", fix.description)),
        (None, None) => None,
    };
    if let Some(help) = help {
        for (i, piece) in wrap(&help, width).into_iter().enumerate() {
            out.push(PreviewRow::Note {
                finding: index,
                kind: NoteKind::Help,
                text: if i == 0 { piece } else { format!("  {piece}") },
            });
        }
    }
}

/// Where a source line wraps at `width` characters: the pieces' character ranges, broken after a
/// space where there is one in the piece's last third, else at the edge.
fn pieces(line: &str, width: usize) -> Vec<(usize, usize)> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width {
        return vec![(0, usize::MAX)];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while chars.len() - start > width {
        let edge = start + width;
        let space = (start + width * 2 / 3..edge)
            .rev()
            .find(|&i| chars[i] == ' ')
            .map(|i| i + 1);
        let end = space.unwrap_or(edge);
        out.push((start, end));
        start = end;
    }
    out.push((start, usize::MAX));
    out
}

/// Splits `text` into pieces of at most `width` characters, at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for word in text.split(' ') {
        let len = word.chars().count();
        if current_len > 0 && current_len + 1 + len > width {
            pieces.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if current_len > 0 {
            current.push(' ');
            current_len += 1;
        }
        // A word longer than a whole line is cut.
        let mut chars = word.chars().peekable();
        while chars.peek().is_some() {
            let room = width - current_len;
            let part: String = chars.by_ref().take(room).collect();
            current_len += part.chars().count();
            current.push_str(&part);
            if chars.peek().is_some() {
                pieces.push(std::mem::take(&mut current));
                current_len = 0;
            }
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The rows of the source lines where findings start (those with a gutter mark), in order.
pub fn finding_rows(rows: &[PreviewRow]) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, PreviewRow::Code { mark: Some(_), .. }))
        .map(|(i, _)| i)
        .collect()
}

/// The findings whose notes are among `rows`, in order.
pub fn findings_in(rows: &[PreviewRow]) -> Vec<usize> {
    let mut found: Vec<usize> = Vec::new();
    for row in rows {
        if let PreviewRow::Note { finding, .. } = row
            && !found.contains(finding)
        {
            found.push(*finding);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisContext, analyze};

    fn rows_of(text: &str) -> Vec<PreviewRow> {
        let analysis = analyze(
            text,
            &AnalysisContext {
                in_transaction: true,
                ..AnalysisContext::default()
            },
        );
        build_rows(&RowInput {
            text,
            analysis: Some(&analysis),
            width: 60,
            code_width: 60,
            sizes: &HashMap::new(),
            applied: None,
            problems: &[],
            rehearsal: None,
            down: false,
        })
    }

    #[test]
    fn a_lock_and_the_chips_that_describe_it_wrap_together() {
        let chip = |text: &str, tone: Tone| Chip {
            text: text.into(),
            tone,
        };
        let chips = vec![
            chip("ROW EXCLUSIVE on stats", Tone::Lock),
            chip("via trigger \"t\" on \"post\"", Tone::Quiet),
            chip("EXCLUSIVE on hot", Tone::LockWrites),
            chip("scan", Tone::Scan),
            chip("via trigger \"t\" on \"post\"", Tone::Quiet),
        ];
        let texts = |rows: Vec<Vec<Chip>>| -> Vec<Vec<String>> {
            rows.into_iter()
                .map(|row| row.into_iter().map(|c| c.text).collect())
                .collect()
        };
        // The second lock's three chips do not fit after the first lock's: they start a row,
        // rather than leaving its mode on the first row and its trigger on the next.
        assert_eq!(
            texts(wrap_chips(chips.clone(), 70)),
            [
                vec!["ROW EXCLUSIVE on stats", "via trigger \"t\" on \"post\""],
                vec!["EXCLUSIVE on hot", "scan", "via trigger \"t\" on \"post\""],
            ]
        );
        // A lock's chips wider than a row wrap chip by chip.
        assert_eq!(texts(wrap_chips(chips, 30)).len(), 4);
        // The next lock does not start on the row where the wrapped lock's rest went (seen at
        // 120x35: "blocks reads+writes  ACCESS EXCLUSIVE on TaskRun" read as one lock).
        let wrapped = vec![
            chip(
                "ACCESS EXCLUSIVE on TaskRun_externalRef_key",
                Tone::LockReads,
            ),
            chip("blocks reads+writes", Tone::Quiet),
            chip("ACCESS EXCLUSIVE on TaskRun", Tone::LockReads),
            chip("blocks reads+writes", Tone::Quiet),
        ];
        assert_eq!(
            texts(wrap_chips(wrapped, 56)),
            [
                vec!["ACCESS EXCLUSIVE on TaskRun_externalRef_key"],
                vec!["blocks reads+writes"],
                vec!["ACCESS EXCLUSIVE on TaskRun", "blocks reads+writes"],
            ]
        );
        // A chip wider than the row is cut at its spaces, nothing of it lost.
        let held = vec![
            chip("ROW EXCLUSIVE on t", Tone::Lock),
            chip("+9 locks held since earlier statements", Tone::Quiet),
        ];
        let rows = texts(wrap_chips(held, 30));
        assert_eq!(
            rows,
            [
                vec!["ROW EXCLUSIVE on t"],
                vec!["+9 locks held since earlier"],
                vec!["statements"],
            ]
        );
        // A label before the first lock still keeps that lock on its row.
        let labelled = vec![
            chip("predicted", Tone::Quiet),
            chip("ACCESS EXCLUSIVE on TaskRun", Tone::LockReads),
            chip("blocks reads+writes", Tone::Quiet),
        ];
        assert_eq!(texts(wrap_chips(labelled, 56)).len(), 2);
        assert_eq!(
            texts(wrap_chips(
                vec![
                    chip("predicted", Tone::Quiet),
                    chip("ACCESS EXCLUSIVE on TaskRun", Tone::LockReads)
                ],
                56
            )),
            [vec!["predicted", "ACCESS EXCLUSIVE on TaskRun"]]
        );
    }

    #[test]
    fn a_rehearsed_lock_an_earlier_statement_holds_names_its_line() {
        let traced = render::held_lock_example();
        let texts: Vec<String> = observed_badges(&traced)
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(
            texts,
            [
                "ROW SHARE on attempt",
                "ACCESS EXCLUSIVE held since line 19",
                // The predicted mode itself: nothing to explain.
                "SHARE ROW EXCLUSIVE on worker_task",
                "run held since line 19",
                "no new lock on worker",
            ]
        );
    }

    /// The badge rows' texts, with the source line each follows.
    fn badge_rows(rows: &[PreviewRow]) -> Vec<(usize, Vec<String>)> {
        let mut line = 0;
        let mut out: Vec<(usize, Vec<String>)> = Vec::new();
        for row in rows {
            match row {
                PreviewRow::Code { line: l, .. } => line = *l,
                PreviewRow::Badges(chips) => {
                    let texts = chips.iter().map(|c| c.text.clone());
                    match out.last_mut() {
                        Some((l, all)) if *l == line => all.extend(texts),
                        _ => out.push((line, texts.collect())),
                    }
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_lock_on_an_existing_table_and_the_lock_window_are_badges_without_a_finding() {
        let text = "SET LOCAL lock_timeout = '2s';\n\
                    ALTER TABLE users ADD COLUMN note text;\n\
                    CREATE TABLE t (id bigint);\n\
                    ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0) NOT VALID;\n";
        let analysis = analyze(
            text,
            &AnalysisContext {
                in_transaction: true,
                ..AnalysisContext::default()
            },
        );
        assert!(
            analysis
                .findings
                .iter()
                .all(|f| f.statement_index != Some(1)
                    && f.statement_index != Some(2)
                    && f.statement_index != Some(3)),
            "the ALTERs and the CREATE have no finding: {:?}",
            analysis.findings
        );
        let own = ["ACCESS EXCLUSIVE on users", "blocks reads+writes"];
        let held = "ACCESS EXCLUSIVE on users held since line 2";
        assert_eq!(
            badge_rows(&rows_of(text)),
            [
                // The first ALTER's own lock.
                (1, own.map(String::from).to_vec()),
                // The CREATE TABLE locks only its new table, in the window of the ALTER's lock.
                (
                    2,
                    [
                        "ACCESS EXCLUSIVE on t",
                        "blocks reads+writes",
                        "new table",
                        held
                    ]
                    .map(String::from)
                    .to_vec()
                ),
                // The second ALTER retakes the lock: its own badge says so, not a held one.
                (3, own.map(String::from).to_vec()),
            ]
        );
    }

    #[test]
    fn held_locks_are_named_strongest_per_table_then_counted() {
        let text = "INSERT INTO a VALUES (1);\n\
                    LOCK TABLE a IN SHARE MODE;\n\
                    LOCK TABLE b IN ACCESS EXCLUSIVE MODE;\n\
                    LOCK TABLE c IN EXCLUSIVE MODE;\n\
                    SELECT 1;\n";
        let badges = badge_rows(&rows_of(text));
        let last = badges.last().expect("the SELECT has badges");
        assert_eq!(last.0, 4, "{badges:?}");
        assert_eq!(
            last.1,
            [
                // a's ROW EXCLUSIVE blocks nothing: its SHARE is the one named.
                "SHARE on a held since line 2",
                "ACCESS EXCLUSIVE on b held since line 3",
                "+1 more table locked since earlier statements",
            ]
        );
    }

    #[test]
    fn statements_on_new_tables_alone_get_no_badge() {
        let badges = badge_rows(&rows_of(
            "CREATE TABLE t (id bigint);\nINSERT INTO t VALUES (1);\n",
        ));
        assert!(badges.is_empty(), "{badges:?}");
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghijk", 8), vec!["abcdefgh", "ijk"]);
        assert_eq!(wrap("", 10), vec![""]);
    }

    #[test]
    fn a_statement_gets_its_badges_once_and_its_errors_first() {
        let rows = rows_of("CREATE INDEX ix\n\n  ON users (email);\nSELECT 1;\n");
        let PreviewRow::Code {
            mark, underlines, ..
        } = &rows[0]
        else {
            panic!("{rows:?}")
        };
        assert_eq!(*mark, Some(Severity::Error));
        assert_eq!(underlines[0].from, 0);
        // The blank line in the statement gets nothing, the next line the gutter bar only.
        assert!(
            matches!(&rows[1], PreviewRow::Code { continued: None, underlines, .. } if underlines.is_empty()),
            "{rows:?}"
        );
        assert!(
            matches!(&rows[2], PreviewRow::Code { continued: Some(_), underlines, .. } if underlines.is_empty()),
            "{rows:?}"
        );
        assert!(matches!(&rows[3], PreviewRow::Badges(_)), "{rows:?}");
        let badges = badge_rows(&rows);
        assert_eq!(badges[0].0, 2, "{badges:?}");
        assert_eq!(
            badges[0]
                .1
                .iter()
                .filter(|c| c.starts_with("SHARE on"))
                .count(),
            1,
            "the statement's badges once: {badges:?}"
        );
        let severities: Vec<&str> = rows
            .iter()
            .filter_map(|r| match r {
                PreviewRow::Note {
                    kind: NoteKind::Message { first: true },
                    text,
                    ..
                } => text.split(' ').nth(1),
                _ => None,
            })
            .collect();
        let mut sorted = severities.clone();
        sorted.sort_by_key(|s| match *s {
            "error" => 0,
            "warning" => 1,
            _ => 2,
        });
        assert_eq!(severities, sorted, "errors first");
        // The SELECT has no finding; it runs while the index build's lock is still held.
        assert_eq!(
            badges.last(),
            Some(&(3, vec!["SHARE on users held since line 1".to_string()]))
        );
        assert_eq!(finding_rows(&rows), vec![0]);
    }
}
