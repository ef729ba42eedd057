//! The `:` command line: `:up`, `:up V`, `:to V`, `:down N`, `:down-to V`, `:redo`, `:q`.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::text::{Line, Span};

use super::theme::DIM;
use crate::runner::Operation;

/// The line being typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// What is typed so far.
    pub text: String,
}

/// What a key did to the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandAction {
    /// Still typing.
    Open,
    /// Closed.
    Cancel,
    /// Enter: carry out the line.
    Run(String),
}

/// What a command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run an operation (after the confirmation).
    Operation(Operation),
    /// Quit.
    Quit,
}

impl CommandLine {
    /// Handles a key.
    pub fn key(&mut self, key: &KeyEvent) -> CommandAction {
        match key.code {
            KeyCode::Esc => CommandAction::Cancel,
            KeyCode::Enter => CommandAction::Run(std::mem::take(&mut self.text)),
            KeyCode::Backspace => {
                self.text.pop();
                CommandAction::Open
            }
            KeyCode::Char(c) => {
                self.text.push(c);
                CommandAction::Open
            }
            _ => CommandAction::Open,
        }
    }

    /// The hint row while typing.
    pub fn line(&self) -> Line<'static> {
        super::visible::visible_line(Line::from(vec![
            Span::raw(format!(":{}█", self.text)),
            Span::styled(
                "  Enter run · Esc cancel · :up :up V :down N :down-to V :redo :q",
                DIM,
            ),
        ]))
    }
}

/// Parses a command line, or says why not.
pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let version = |v: &str| v.parse::<i64>().map_err(|_| format!("not a version: {v}"));
    Ok(Command::Operation(match words.as_slice() {
        ["up"] => Operation::Up { to: None },
        ["up", v] | ["to", v] => Operation::Up {
            to: Some(version(v)?),
        },
        ["down"] => Operation::DownSteps { steps: 1 },
        ["down", n] => Operation::DownSteps {
            steps: n.parse().map_err(|_| format!("not a number: {n}"))?,
        },
        ["down-to", v] => Operation::DownTo { to: version(v)? },
        ["redo"] => Operation::Redo,
        ["q"] | ["quit"] => return Ok(Command::Quit),
        _ => {
            return Err(format!(
                "unknown command `:{line}` (try :up, :down 2, :to V, :redo)"
            ));
        }
    }))
}
