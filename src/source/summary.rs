//! The directory's problems as lines for a person, the repeated ones summed up.

use std::collections::HashMap;

use super::{MISSING_DOWN, ParsedName, Problem, Severity, parse_file_name};

/// Up to this many `.up.sql` files without their `.down.sql` are each listed on their own; more
/// are one line (a project that never writes DOWN files would get a screenful of one warning).
const MISSING_DOWNS_LISTED: usize = 3;

/// `problems` as `lockstep status` prints them, each with its severity, in the directory's order:
/// one line per problem, except that a problem several files share (one version used by all of
/// them) is one line naming their directory, and the `.up.sql` files without a `.down.sql`, when
/// more than three, are one line naming how many and their versions, where the first of them
/// stood. (`lockstep status --json` keeps every problem on its own.)
pub fn problem_lines(problems: &[Problem]) -> Vec<(Severity, String)> {
    let missing_down = |p: &Problem| p.message.starts_with(MISSING_DOWN);
    let missing: Vec<&Problem> = problems.iter().filter(|p| missing_down(p)).collect();
    let sum_missing = missing.len() > MISSING_DOWNS_LISTED;
    let mut shared: HashMap<(&str, Severity), usize> = HashMap::new();
    for p in problems.iter().filter(|p| p.line.is_none()) {
        *shared.entry((p.message.as_str(), p.severity)).or_default() += 1;
    }
    let mut lines = Vec::with_capacity(problems.len());
    let mut summed = false;
    for problem in problems {
        if sum_missing && missing_down(problem) {
            if !std::mem::replace(&mut summed, true) {
                lines.push((Severity::Warning, missing_downs(&missing)));
            }
            continue;
        }
        let key = (problem.message.as_str(), problem.severity);
        match shared.get_mut(&key) {
            Some(count) if *count > 1 && problem.line.is_none() => {
                // The first of them stands for all, named by their directory.
                *count = 0;
                let mut one = problem.clone();
                if let Some(dir) = problem.path.parent() {
                    one.path = dir.to_path_buf();
                }
                lines.push((problem.severity, one.to_string()));
            }
            Some(0) if problem.line.is_none() => {}
            _ => lines.push((problem.severity, problem.to_string())),
        }
    }
    lines
}

/// Names for a line of text: all of up to four, else the first two and the last
/// (`1, 2, … 9`).
pub fn abbreviated_list(items: &[String]) -> String {
    match items {
        [first, second, .., last] if items.len() > 4 => format!("{first}, {second}, … {last}"),
        all => all.join(", "),
    }
}

/// One warning for every `.up.sql` of `missing` (more than one).
fn missing_downs(missing: &[&Problem]) -> String {
    let versions: Vec<String> = missing
        .iter()
        .map(|p| {
            let name = p.path.file_name().map(|n| n.to_string_lossy());
            match name.as_deref().map(parse_file_name) {
                Some(ParsedName::Migration { version, .. }) => version.to_string(),
                _ => p.path.display().to_string(),
            }
        })
        .collect();
    let listed = abbreviated_list(&versions);
    let dir = missing[0]
        .path
        .parent()
        .map(|d| format!("{}: ", d.display()))
        .unwrap_or_default();
    format!(
        "warning: {dir}{} `.up.sql` files have no matching `.down.sql` (versions {listed}): they \
         apply, but cannot be reverted. `lockstep down` stops at the first of them it meets, while \
         `sqlx migrate revert` skips them and reverts the migration below instead. Add a \
         `.down.sql` beside each one that can be undone (`lockstep status --json` lists them)",
        missing.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn missing(version: i64) -> Problem {
        Problem {
            severity: Severity::Warning,
            path: PathBuf::from(format!("migrations/{version}_step.up.sql")),
            line: None,
            message: format!("{MISSING_DOWN} (version {version}): it applies, …"),
        }
    }

    fn other() -> Problem {
        Problem {
            severity: Severity::Error,
            path: PathBuf::from("migrations/9_x.down.sql"),
            line: None,
            message: "a `.down.sql` with no `.up.sql` (version 9)".to_string(),
        }
    }

    #[test]
    fn a_few_missing_downs_are_listed_each_and_many_are_one_line() {
        let few = vec![missing(1), other(), missing(2), missing(3)];
        let lines = problem_lines(&few);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].1.contains("1_step.up.sql"), "{lines:?}");

        let many = vec![
            missing(1),
            missing(2),
            other(),
            missing(3),
            missing(4),
            missing(5),
        ];
        let lines = problem_lines(&many);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let (severity, summed) = &lines[0];
        assert_eq!(*severity, Severity::Warning);
        assert!(
            summed.starts_with(
                "warning: migrations: 5 `.up.sql` files have no matching `.down.sql` \
                 (versions 1, 2, … 5)"
            ),
            "{summed}"
        );
        assert_eq!(lines[1], (Severity::Error, other().to_string()));
    }

    #[test]
    fn a_problem_many_files_share_is_one_line_for_their_directory() {
        let names: Vec<String> = (1..=18).map(|i| format!("9_index_{i:02}.sql")).collect();
        let message = format!(
            "version 9 is used by 18 migrations ({}); give each its own version",
            abbreviated_list(&names)
        );
        assert!(message.contains("9_index_01.sql, 9_index_02.sql, … 9_index_18.sql"));
        let mut problems: Vec<Problem> = names
            .iter()
            .map(|name| Problem {
                severity: Severity::Error,
                path: PathBuf::from(format!("migrations/{name}")),
                line: None,
                message: message.clone(),
            })
            .collect();
        problems.push(Problem {
            severity: Severity::Ignored,
            path: PathBuf::from("migrations/notes.txt"),
            line: None,
            message: "not a migration".to_string(),
        });
        let lines = problem_lines(&problems);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(lines[0].0, Severity::Error);
        assert!(
            lines[0].1.starts_with("error: migrations: version 9"),
            "{lines:#?}"
        );
        assert!(lines[1].1.contains("notes.txt"), "{lines:#?}");
    }
}
