//! Review integrity: the `hidden-character` rule at the right line and column for each class
//! (escape sequences, bidi override, zero-width joiner, C1 control) and each place (string
//! literal, comment, identifier, dollar-quoted body, bare), ignore comments, mixed-script
//! identifiers, and `lockstep lint` in every format: markers for people, exact text in JSON.

use assert_cmd::Command;

use super::common::run;

/// Line 2: ESC in a literal (OSC 52 and cursor movement); line 3: a bidi override in a comment;
/// line 4: a zero-width joiner in an identifier; line 5: a C1 CSI in a dollar-quoted body.
const TEXT: &str = "CREATE TABLE t (v text);\nINSERT INTO t VALUES ('ok', '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A');\n/* admin \u{202e} */ SELECT 1;\nSELECT us\u{200d}er FROM t;\nDO $$ BEGIN RAISE NOTICE '\u{9b}2J'; END $$;\n";

/// (line, column, message fragment) of every hidden-character finding of [`TEXT`].
fn hidden(text: &str) -> Vec<(usize, usize, String)> {
    run(text)
        .findings
        .iter()
        .filter(|f| f.rule == "hidden-character")
        .map(|f| (f.start.line, f.start.column, f.message.clone()))
        .collect()
}

#[test]
fn each_class_is_found_at_its_line_and_column_and_place() {
    let found = hidden(TEXT);
    let at: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        at,
        [(2, 30), (2, 45), (3, 10), (4, 10), (5, 27)],
        "{found:#?}"
    );
    let message = |i: usize| found[i].2.as_str();
    assert!(message(0).starts_with("control character U+001B ESCAPE in a string literal"));
    assert!(
        message(1).contains("U+0007 BELL, U+001B ESCAPE"),
        "{}",
        message(1)
    );
    assert!(
        message(2).starts_with("bidirectional control U+202E RIGHT-TO-LEFT OVERRIDE in a comment")
    );
    assert!(
        message(3).starts_with("invisible character U+200D ZERO WIDTH JOINER in an identifier")
    );
    assert!(message(4).contains("U+009B CONTROL SEQUENCE INTRODUCER in a dollar-quoted body"));
    // Every one is an error on the review-integrity axis.
    let analysis = run(TEXT);
    for f in analysis
        .findings
        .iter()
        .filter(|f| f.rule == "hidden-character")
    {
        assert_eq!(f.severity, lockstep::analysis::Severity::Error);
        assert_eq!(f.axis, lockstep::analysis::Axis::ReviewIntegrity);
    }
    // Outside any token the character is named too, with a fix that deletes it.
    let bare = run("SELECT 1;\u{1b}[2J\n");
    let f = bare
        .findings
        .iter()
        .find(|f| f.rule == "hidden-character")
        .expect("found");
    assert_eq!((f.start.line, f.start.column), (1, 10));
    assert!(
        f.message.contains("outside any literal or comment"),
        "{}",
        f.message
    );
    assert_eq!(
        f.fix.as_ref().unwrap().apply("SELECT 1;\u{1b}[2J\n"),
        "SELECT 1;[2J\n"
    );
}

#[test]
fn only_an_ignore_comment_naming_the_rule_hides_it() {
    let text = "-- lockstep-ignore-file\nSELECT '\u{202e}';\n";
    assert_eq!(hidden(text).len(), 1, "a blanket file directive does not");
    let text = "-- squawk-ignore\nSELECT '\u{202e}';\n";
    assert_eq!(
        hidden(text).len(),
        1,
        "a blanket statement directive does not"
    );
    let text = "-- lockstep-ignore hidden-character\nSELECT '\u{202e}';\n";
    assert!(hidden(text).is_empty(), "naming the rule does");
    assert_eq!(run(text).suppressed.len(), 1);
}

#[test]
fn odd_spaces_warn_in_literals_and_fail_in_code() {
    let found = run("SELECT 'a\u{a0}b';\nSELECT\u{a0}1;\n");
    let severities: Vec<_> = found
        .findings
        .iter()
        .filter(|f| f.rule == "hidden-character")
        .map(|f| (f.start.line, f.severity))
        .collect();
    use lockstep::analysis::Severity::*;
    assert_eq!(severities, [(1, Warning), (2, Error)]);
}

#[test]
fn mixed_script_identifiers_get_a_note() {
    let analysis = run("ALTER TABLE p\u{430}yments ADD COLUMN c int;\n");
    let f = analysis
        .findings
        .iter()
        .find(|f| f.rule == "mixed-script-identifier")
        .expect("a note");
    assert_eq!(f.severity, lockstep::analysis::Severity::Info);
    assert_eq!((f.start.line, f.start.column), (1, 13));
    assert!(f.message.contains("Latin, Cyrillic"), "{}", f.message);
}

fn lint(format: &str, dir: &std::path::Path) -> std::process::Output {
    Command::cargo_bin("lockstep")
        .unwrap()
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .args(["lint", "--format", format, "1_evil.sql"])
        .output()
        .unwrap()
}

fn assert_raw_free(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for c in ['\u{1b}', '\u{7}', '\u{202e}', '\u{200d}', '\u{9b}'] {
        assert!(!text.contains(c), "{c:?} is in the output raw:\n{text:?}");
    }
}

#[test]
fn lint_shows_markers_for_people_and_exact_text_in_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_evil.sql"), TEXT).unwrap();

    let human = lint("human", dir.path());
    assert_eq!(human.status.code(), Some(1), "an error-level finding");
    assert_raw_free(&human.stdout);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("error[hidden-character]"), "{text}");
    assert!(text.contains("--> 1_evil.sql:2:30"), "{text}");
    let source = "2 | INSERT INTO t VALUES ('ok', '␛]52;c;ZXZpbA==␇␛[5A');";
    assert!(text.contains(source), "{text}");
    // The caret stands under the marker, counted in columns as shown.
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| *l == source).unwrap();
    let caret = lines[at + 1].find('^').unwrap();
    assert_eq!(caret, source.find('␛').unwrap());
    assert!(
        text.contains("3 | /* admin \\u{202E} */ SELECT 1;"),
        "{text}"
    );
    let line4 = "4 | SELECT us\\u{200D}er FROM t;";
    let at = lines.iter().position(|l| *l == line4).expect("line 4");
    let underline = lines[at + 1];
    assert_eq!(underline.find('^'), line4.find('\\'));
    assert_eq!(
        underline.matches('^').count(),
        8,
        "the width of \\u{{200D}}"
    );

    let gcc = lint("gcc", dir.path());
    assert_raw_free(&gcc.stdout);
    let text = String::from_utf8(gcc.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("1_evil.sql:4:10: error: invisible character U+200D")),
        "{text}"
    );

    let json = lint("json", dir.path());
    assert_raw_free(&json.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let statements = doc["files"][0]["statements"].as_array().unwrap();
    assert_eq!(
        statements[1]["text"], "INSERT INTO t VALUES ('ok', '\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[5A')",
        "the exact text"
    );
    let findings = doc["files"][0]["findings"].as_array().unwrap();
    let bidi = findings
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("U+202E"))
        .unwrap();
    assert_eq!(bidi["start"]["line"], 3);
    assert_eq!(bidi["start"]["column"], 10);
    assert_eq!(bidi["axis"], "review-integrity");
}
