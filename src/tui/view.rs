//! Drawing: every frame is a pure function of [`App`]. Each component draws itself into the
//! rectangle the layout gives it; this puts them together.

use ratatui::Frame;
use ratatui::widgets::Paragraph;

use super::app::{App, Bottom, Overlay, Pane};
use super::layout::too_small;
use super::status_bar::{self, BACKGROUND, Hint, hint};
use super::theme::wrapped;

pub use super::run::lock_sample_lines;
pub use super::theme::{clock, severity_color, state_look};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if too_small(area) {
        frame.render_widget(Paragraph::new("lockstep: terminal too small"), area);
        return;
    }
    let areas = app.areas();
    let data = &app.data;
    let selected = app.selected_version();
    let running = app.run.running().and_then(|r| r.version);
    app.list.draw(
        frame,
        areas.migrations,
        data,
        running,
        app.focus == Pane::Migrations,
    );
    app.preview.draw(
        frame,
        areas.preview,
        data,
        selected,
        app.focus == Pane::Preview,
    );
    let bottom_focused = app.focus == Pane::Bottom;
    match app.bottom {
        Bottom::Inspect => {
            super::inspect::draw(frame, areas.bottom, &app.inspect, bottom_focused, app.now)
        }
        Bottom::Run => app
            .run
            .draw(frame, areas.bottom, app.now, bottom_focused, data.read_only),
        Bottom::History => app.history.draw(frame, areas.bottom, bottom_focused),
    }
    frame.render_widget(
        wrapped(status_bar::lines(
            data,
            app.message.as_deref(),
            areas.status.width,
        ))
        .style(BACKGROUND),
        areas.status,
    );
    match &app.overlay {
        Overlay::Filter(filter) => filter.draw(frame, areas.hints),
        Overlay::Command(line) => frame.render_widget(Paragraph::new(line.line()), areas.hints),
        _ => frame.render_widget(
            Paragraph::new(status_bar::hint_line(&hints(app), areas.hints.width)),
            areas.hints,
        ),
    }
    match &app.overlay {
        Overlay::Help(help) => help.draw(frame, area),
        Overlay::Confirm(confirm) => confirm.draw(frame, area, &data.database, data.remote),
        Overlay::Question(question) => question.draw(frame, area),
        Overlay::Editor(editor) => editor.draw(frame, area),
        Overlay::Resolve(dialog) => dialog.draw(frame, area),
        Overlay::Fix(dialog) => dialog.draw(frame, area),
        Overlay::Health(health) => health.draw(frame, area),
        Overlay::None | Overlay::Filter(_) | Overlay::Command(_) => {}
    }
}

/// The keys of the focused pane, most useful first; read-only leaves out those that write.
fn hints(app: &App) -> Vec<Hint> {
    let writes = !app.data.read_only;
    let mut hints: Vec<Hint> = Vec::new();
    if app.run.running().is_some() || app.run.rehearsing().is_some() {
        hints.push(hint("c", "cancel"));
    }
    match (app.focus, app.bottom) {
        (Pane::Migrations, _) => {
            hints.push(hint("j/k", "move"));
            hints.push(hint("Enter", "open"));
            if writes {
                hints.push(hint("a", "apply to"));
            }
            hints.push(hint("R", "rehearse"));
            if writes {
                hints.extend([hint("b", "roll back to"), hint("A", "all")]);
            }
            hints.extend([hint("u/d", "UP/DOWN"), hint("/", "filter")]);
            if writes {
                hints.extend([
                    hint("n", "new"),
                    hint("B", "last"),
                    hint("r", "redo"),
                    hint(":", "cmd"),
                ]);
            }
            hints.push(hint("H", "health"));
        }
        (Pane::Preview, _) => {
            hints.extend([hint("j/k", "scroll"), hint("] [", "next/prev finding")]);
            if writes {
                hints.push(hint("f", "fix"));
            }
            hints.push(hint("u/d", "UP/DOWN"));
        }
        (Pane::Bottom, Bottom::Run) => {
            hints.extend([hint("j/k", "scroll log"), hint("4-7", "inspect, history")]);
        }
        (Pane::Bottom, Bottom::History) => {
            hints.extend([
                hint("j/k", "scroll"),
                hint("Ctrl-r", "read again"),
                hint("3", "run"),
            ]);
        }
        (Pane::Bottom, Bottom::Inspect) => {
            hints.extend(app.inspect.hint_items(writes));
        }
    }
    hints.push(hint("h/l", "pane"));
    hints
}
