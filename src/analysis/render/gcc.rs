//! `path:line:col: error|warning|note: message [rule]`, one finding per line (hidden characters
//! shown as markers).

use std::io::Write;

use crate::analysis::{LintReport, LintedFile, Severity};
use crate::text::visible;

/// Renders every remaining finding as a gcc-style line.
pub fn gcc(report: &LintReport) -> String {
    let mut out = Vec::new();
    // (Writing to memory cannot fail.)
    let _ = write_gcc(report, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes [`gcc`]'s lines to `out`; a large report's files are rendered on two threads.
pub fn write_gcc(report: &LintReport, mut out: impl Write) -> std::io::Result<()> {
    // A line per finding: worth a second thread from about 0.3 ms of work.
    let worth_a_thread = super::text_bytes(report) >= 128 * 1024;
    super::write_in_order(&report.files, worth_a_thread, &FileLines, &mut out)?;
    out.flush()
}

/// One file's lines.
struct FileLines;

impl super::RenderPart<LintedFile> for FileLines {
    fn render<W: Write>(&self, _: usize, file: &LintedFile, out: &mut W) -> std::io::Result<()> {
        if file.analysis.findings.is_empty() {
            return Ok(());
        }
        let path = file.path.display().to_string();
        let path = visible(&path);
        for f in &file.analysis.findings {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            let message = visible(&f.message).replace('\n', " ");
            writeln!(
                out,
                "{path}:{}:{}: {level}: {message} [{}]",
                f.start.line, f.start.column, f.rule
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::RenderPart;
    use super::*;
    use crate::analysis::{LintOptions, lint_files};

    #[test]
    fn lines_are_the_same_written_on_two_threads() {
        let files: Vec<(std::path::PathBuf, String)> = (1..=40)
            .map(|k| {
                let text = format!(
                    "CREATE INDEX i{k} ON t (x);\n{}",
                    "ALTER TABLE t ADD COLUMN c int DEFAULT random();\n".repeat(k * 5)
                );
                (std::path::PathBuf::from(format!("{k:03}_m.sql")), text)
            })
            .collect();
        let report = lint_files(&files, &LintOptions::default());
        assert!(super::super::text_bytes(&report) >= 128 * 1024);
        let mut one_by_one = Vec::new();
        for (index, file) in report.files.iter().enumerate() {
            FileLines.render(index, file, &mut one_by_one).unwrap();
        }
        let one_by_one = String::from_utf8(one_by_one).unwrap();
        assert!(one_by_one.lines().count() > 40);
        assert_eq!(gcc(&report), one_by_one);
    }
}
