//! The new-migration editor: a description and the UP and DOWN bodies (ratatui-textarea for the
//! editing; drawn highlighted, with line numbers), analysed as they are typed, with the findings
//! wrapped under them. Esc on a changed draft asks whether to save, discard or keep editing.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::{CursorMove, TextArea};

use super::event::Effect;
use super::theme::{DIM, dialog, glyph, key_hint, severity_color, wrapped, wrapped_height};
use crate::analysis::policy::RulePolicy;
use crate::analysis::{LintOptions, Severity, lint_each};

/// Which field has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The description (one line).
    Description,
    /// The UP body.
    Up,
    /// The DOWN body.
    Down,
}

/// What a key did to the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorOutcome {
    /// Still editing.
    Editing,
    /// Still editing, and the UP or DOWN body changed: analyse [`Editor::draft`] again.
    Changed,
    /// The user gave up (an unchanged draft, or "discard").
    Cancelled,
    /// Save these files.
    Save {
        /// The description.
        description: String,
        /// The UP body.
        up: String,
        /// The DOWN body.
        down: String,
    },
}

/// The editor's state.
#[derive(Debug, Clone)]
pub struct Editor {
    /// The description.
    pub description: TextArea<'static>,
    /// The UP body.
    pub up: TextArea<'static>,
    /// The DOWN body.
    pub down: TextArea<'static>,
    /// The focused field.
    pub field: Field,
    /// Why the last save was refused.
    pub error: Option<String>,
    /// The findings of the UP and DOWN bodies as typed: severity, line, `[rule] message`.
    pub findings: Vec<EditorFinding>,
    /// The last draft handed out for analysis (older results are dropped).
    generation: u64,
    /// Esc on a changed draft: asking save / discard / keep editing.
    pub asking: bool,
    /// The bodies as they were opened, to tell a changed draft.
    initial: (String, String),
    /// Highlighted UP and DOWN bodies: the key of the text they are for, and the lines.
    highlighted: [Option<(Vec<u8>, Vec<Line<'static>>)>; 2],
}

/// The bodies as typed, to be analysed off the UI thread ([`analyse_draft`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Which draft (the editor keeps only the latest one's findings).
    pub generation: u64,
    /// The UP body.
    pub up: String,
    /// The DOWN body.
    pub down: String,
}

/// A finding in a body being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorFinding {
    /// How serious.
    pub severity: Severity,
    /// In the DOWN body (else UP).
    pub down: bool,
    /// Its line in the body.
    pub line: usize,
    /// `[rule] message`.
    pub text: String,
}

/// Bodies larger than this are not analysed on every key (they are when saved and listed), so
/// typing into a huge body does not queue an analysis of it per key.
const LIVE_ANALYSIS_LIMIT: usize = 64 * 1024;

impl Editor {
    /// An editor pre-filled from sqlx's templates.
    pub fn new() -> Editor {
        let mut description = TextArea::default();
        description.set_placeholder_text("what the migration does, e.g. add orders table");
        let mut up = TextArea::new(vec![
            "-- Add up migration script here".into(),
            String::new(),
        ]);
        let mut down = TextArea::new(vec![
            "-- Add down migration script here".into(),
            String::new(),
        ]);
        // Start typing below the template's comment.
        up.move_cursor(CursorMove::Bottom);
        down.move_cursor(CursorMove::Bottom);
        let mut editor = Editor {
            description,
            up,
            down,
            field: Field::Description,
            error: None,
            findings: Vec::new(),
            generation: 0,
            asking: false,
            initial: (String::new(), String::new()),
            highlighted: [None, None],
        };
        editor.initial = (editor.up_text(), editor.down_text());
        editor.restyle();
        editor
    }

    /// Whether anything was typed since the editor opened.
    pub fn changed(&self) -> bool {
        !self.description.is_empty() || (self.up_text(), self.down_text()) != self.initial
    }

    /// Highlighting of the bodies as they are now, unless done.
    pub fn want_highlight(&self) -> Vec<Effect> {
        [self.up_text(), self.down_text()]
            .into_iter()
            .zip(&self.highlighted)
            .filter_map(|(text, done)| {
                let key = draft_key(&text);
                (done.as_ref().map(|(k, _)| k) != Some(&key))
                    .then_some(Effect::Highlight { key, text })
            })
            .collect()
    }

    /// Takes highlighted lines, when they are for one of the bodies as it is now; returns
    /// whether they were.
    pub fn highlighted(&mut self, key: &[u8], lines: &[Line<'static>]) -> bool {
        let mut taken = false;
        for (i, text) in [self.up_text(), self.down_text()].into_iter().enumerate() {
            if draft_key(&text) == key {
                self.highlighted[i] = Some((key.to_vec(), lines.to_vec()));
                taken = true;
            }
        }
        taken
    }

    /// The UP body as text.
    pub fn up_text(&self) -> String {
        self.up.lines().join("\n")
    }

    /// The DOWN body as text.
    pub fn down_text(&self) -> String {
        self.down.lines().join("\n")
    }

    /// Handles a key: Tab / Shift-Tab move between fields, Ctrl-S saves, Esc cancels.
    pub fn key(&mut self, key: KeyEvent) -> EditorOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.asking {
            self.asking = false;
            return match key.code {
                KeyCode::Char('s') => self.save(),
                KeyCode::Char('d') => EditorOutcome::Cancelled,
                _ => EditorOutcome::Editing,
            };
        }
        match key.code {
            KeyCode::Esc if self.changed() => {
                self.asking = true;
                return EditorOutcome::Editing;
            }
            KeyCode::Esc => return EditorOutcome::Cancelled,
            KeyCode::Char('s') if ctrl => return self.save(),
            KeyCode::Tab => self.field = next(self.field, true),
            KeyCode::BackTab => self.field = next(self.field, false),
            KeyCode::Enter if self.field == Field::Description => self.field = Field::Up,
            _ => {
                let area = match self.field {
                    Field::Description => &mut self.description,
                    Field::Up => &mut self.up,
                    Field::Down => &mut self.down,
                };
                let changed = area.input(key) && self.field != Field::Description;
                self.error = None;
                self.restyle();
                return if changed {
                    EditorOutcome::Changed
                } else {
                    EditorOutcome::Editing
                };
            }
        }
        self.restyle();
        EditorOutcome::Editing
    }

    /// Saves, unless the description is missing.
    fn save(&mut self) -> EditorOutcome {
        let description = self.description.lines().join(" ").trim().to_string();
        if description.is_empty() {
            self.error = Some("write a description first".into());
            self.field = Field::Description;
            self.restyle();
            return EditorOutcome::Editing;
        }
        EditorOutcome::Save {
            description,
            up: format!("{}\n", self.up_text().trim_end()),
            down: format!("{}\n", self.down_text().trim_end()),
        }
    }

    /// The bodies as they are now, to analyse; findings of earlier drafts are dropped from now on.
    pub fn draft(&mut self) -> Draft {
        self.generation += 1;
        Draft {
            generation: self.generation,
            up: self.up_text(),
            down: self.down_text(),
        }
    }

    /// Shows the findings of draft `generation`, unless a newer draft was handed out since.
    pub fn analysed(&mut self, generation: u64, findings: Vec<EditorFinding>) {
        if generation == self.generation {
            self.findings = findings;
        }
    }

    fn restyle(&mut self) {
        for (field, area, title) in [
            (Field::Description, &mut self.description, " Description "),
            (Field::Up, &mut self.up, " UP (.up.sql) "),
            (Field::Down, &mut self.down, " DOWN (.down.sql) "),
        ] {
            let focused = field == self.field;
            let color = if focused {
                Color::Green
            } else {
                Color::DarkGray
            };
            area.set_block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(Style::default().fg(color))
                    .title(title),
            );
            if field != Field::Description {
                area.set_line_number_style(DIM);
            }
            area.set_cursor_style(if focused {
                Style::default().bg(Color::White).fg(Color::Black)
            } else {
                Style::default()
            });
        }
    }
}

impl Editor {
    /// Draws the editor over `area`: the description, the UP and DOWN bodies side by side
    /// (highlighted, with line numbers), the findings wrapped under them, and the keys — or the
    /// question when Esc was pressed on a changed draft.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        let rect = super::layout::large_dialog_rect((area.width, area.height)).intersection(area);
        frame.render_widget(Clear, rect);
        let block = dialog(Line::raw(" New migration (reversible) "), Color::Cyan);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let findings: Vec<Line<'static>> = self
            .findings
            .iter()
            .map(|f| {
                super::visible::line(
                    &format!(
                        "{} {} line {}: {}",
                        glyph(f.severity),
                        if f.down { "DOWN" } else { "UP" },
                        f.line,
                        f.text
                    ),
                    Style::default().fg(severity_color(f.severity)),
                )
            })
            .collect();
        let findings_rows =
            wrapped_height(&findings, inner.width).min(usize::from(inner.height / 3)) as u16;
        let [description, bodies, notes, footer] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(findings_rows),
            Constraint::Length(1),
        ])
        .areas(inner);
        let [up, down] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bodies);
        super::visible::draw_text_area(frame, &self.description, description);
        for (i, (area, rect)) in [(&self.up, up), (&self.down, down)].into_iter().enumerate() {
            let lines = self.highlighted[i]
                .as_ref()
                .map(|(_, lines)| lines.as_slice());
            super::visible::draw_code_area(frame, area, rect, lines);
        }
        frame.render_widget(wrapped(findings), notes);
        let footer_line = if self.asking {
            let mut spans = vec![Span::styled(
                "The draft has changes: ",
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            )];
            spans.extend(key_hint("s", "save"));
            spans.push(Span::raw(" · "));
            spans.extend(key_hint("d", "discard"));
            spans.push(Span::raw(" · "));
            spans.extend(key_hint("any other key", "keep editing"));
            Line::from(spans)
        } else if let Some(error) = &self.error {
            super::visible::line(error, Style::default().fg(Color::Red))
        } else {
            let mut spans = vec![Span::styled("analysed as you type · ", DIM)];
            spans.extend(key_hint("Tab", "next field"));
            spans.push(Span::raw(" · "));
            spans.extend(key_hint("Ctrl-S", "save as sqlx files"));
            spans.push(Span::raw(" · "));
            spans.extend(key_hint("Esc", "close"));
            Line::from(spans)
        };
        frame.render_widget(Paragraph::new(footer_line), footer);
    }
}

/// The highlight cache key of a draft body (apart from files' checksums, which are longer).
fn draft_key(text: &str) -> Vec<u8> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let mut key = b"draft:".to_vec();
    key.extend(hasher.finish().to_be_bytes());
    key
}

impl Default for Editor {
    fn default() -> Editor {
        Editor::new()
    }
}

fn next(field: Field, forward: bool) -> Field {
    match (field, forward) {
        (Field::Description, true) | (Field::Down, false) => Field::Up,
        (Field::Up, true) | (Field::Description, false) => Field::Down,
        (Field::Down, true) | (Field::Up, false) => Field::Description,
    }
}

/// Analyses a draft's bodies as lockstep would run the new migration (each body on its own, in a
/// transaction unless it starts with `-- no-transaction`), for the findings under the editor,
/// under the project's rule `policy` (as every finding the dashboard shows). Runs off the UI
/// thread.
pub fn analyse_draft(
    draft: &Draft,
    options: &LintOptions,
    policy: &RulePolicy,
) -> Vec<EditorFinding> {
    let files: Vec<(PathBuf, String)> = [("new.up.sql", &draft.up), ("new.down.sql", &draft.down)]
        .into_iter()
        .filter(|(_, text)| text.len() <= LIVE_ANALYSIS_LIMIT)
        .map(|(name, text)| (PathBuf::from(name), text.clone()))
        .collect();
    let mut report = lint_each(&files, options);
    policy.apply(&mut report);
    report
        .files
        .into_iter()
        .flat_map(|file| {
            let down = file.is_down;
            file.analysis
                .findings
                .into_iter()
                .map(move |f| EditorFinding {
                    severity: f.severity,
                    down,
                    line: f.start.line,
                    text: format!("[{}] {}", f.rule, f.message),
                })
        })
        .collect()
}
