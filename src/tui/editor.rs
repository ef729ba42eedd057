//! The new-migration editor: a description and the UP and DOWN bodies, in ratatui-textarea.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::{CursorMove, TextArea};

use std::path::PathBuf;

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
    /// The user gave up.
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
        };
        editor.restyle();
        editor
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
        match key.code {
            KeyCode::Esc => return EditorOutcome::Cancelled,
            KeyCode::Char('s') if ctrl => {
                let description = self.description.lines().join(" ").trim().to_string();
                if description.is_empty() {
                    self.error = Some("write a description first".into());
                    self.field = Field::Description;
                    self.restyle();
                    return EditorOutcome::Editing;
                }
                return EditorOutcome::Save {
                    description,
                    up: format!("{}\n", self.up_text().trim_end()),
                    down: format!("{}\n", self.down_text().trim_end()),
                };
            }
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
            area.set_cursor_style(if focused {
                Style::default().bg(Color::White).fg(Color::Black)
            } else {
                Style::default()
            });
        }
    }
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
/// transaction unless it starts with `-- no-transaction`), for the findings under the editor.
/// Runs off the UI thread.
pub fn analyse_draft(draft: &Draft, options: &LintOptions) -> Vec<EditorFinding> {
    let files: Vec<(PathBuf, String)> = [("new.up.sql", &draft.up), ("new.down.sql", &draft.down)]
        .into_iter()
        .filter(|(_, text)| text.len() <= LIVE_ANALYSIS_LIMIT)
        .map(|(name, text)| (PathBuf::from(name), text.clone()))
        .collect();
    lint_each(&files, options)
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
