//! Ignore comments: lockstep's and squawk's forms, per statement and per file, unknown names.

use super::common::{rules, run};

#[test]
fn lockstep_ignore_covers_the_next_statement_only() {
    let analysis = run(
        "SET lock_timeout = '1s';\n-- lockstep-ignore require-concurrent-index, missing-statement-timeout\nCREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y);",
    );
    let fired: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == "require-concurrent-index")
        .map(|f| f.statement_index)
        .collect();
    assert_eq!(
        fired,
        vec![Some(2)],
        "only the second index is still reported"
    );
    assert!(
        analysis
            .suppressed
            .iter()
            .any(|f| f.rule == "require-concurrent-index" && f.statement_index == Some(1))
    );
}

#[test]
fn squawk_names_are_accepted() {
    let analysis = run("-- squawk-ignore ban-drop-column\nALTER TABLE t DROP COLUMN c;");
    assert!(!rules(&analysis).contains(&"drop-column"));
    assert!(
        rules(&analysis).contains(&"missing-lock-timeout"),
        "other rules still fire"
    );
    let analysis = run("-- squawk-ignore require-timeout-settings\nALTER TABLE t DROP COLUMN c;");
    assert!(!rules(&analysis).contains(&"missing-lock-timeout"));
}

#[test]
fn block_comments_and_trailing_reasons_work() {
    let analysis = run("/* squawk-ignore ban-drop-table */\nDROP TABLE t;");
    assert!(!rules(&analysis).contains(&"drop-table"));
    let analysis =
        run("-- lockstep-ignore drop-table -- replaced by t2 last release\nDROP TABLE t;");
    assert!(!rules(&analysis).contains(&"drop-table"));
    assert!(!rules(&analysis).contains(&"unknown-rule-in-ignore"));
}

#[test]
fn a_trailing_comment_covers_its_own_line() {
    let analysis = run("DROP TABLE t; -- lockstep-ignore drop-table\n");
    assert!(
        !rules(&analysis).contains(&"drop-table"),
        "{:?}",
        rules(&analysis)
    );
}

#[test]
fn file_wide_ignores() {
    let analysis = run(
        "-- squawk-ignore-file ban-drop-table\nDROP TABLE a;\nDROP TABLE b;\nALTER TABLE c DROP COLUMN d;",
    );
    let fired = rules(&analysis);
    assert!(!fired.contains(&"drop-table"));
    assert!(fired.contains(&"drop-column"));
    let analysis = run("-- lockstep-ignore-file\nDROP TABLE a;\nCREATE INDEX i ON b (c);");
    assert!(analysis.findings.is_empty(), "{:?}", rules(&analysis));
    assert!(analysis.suppressed.len() >= 3);
}

#[test]
fn unknown_names_are_reported_and_known_ones_still_apply() {
    let analysis = run("-- squawk-ignore ban-drop-table, no-such-rule\nDROP TABLE t;");
    let unknown: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == "unknown-rule-in-ignore")
        .collect();
    assert_eq!(unknown.len(), 1);
    assert!(unknown[0].message.contains("no-such-rule"));
    assert_eq!(unknown[0].start.line, 1);
    assert!(!rules(&analysis).contains(&"drop-table"));
}

#[test]
fn ignore_comments_are_not_file_wide_by_accident() {
    // eugene's static lint applies a comment to the whole file; lockstep scopes it.
    let analysis = run("-- lockstep-ignore drop-table\nDROP TABLE a;\nSELECT 1;\nDROP TABLE b;");
    let dropped: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == "drop-table")
        .filter_map(|f| f.table.clone())
        .collect();
    assert_eq!(dropped, vec!["b".to_string()]);
}

#[test]
fn comments_that_merely_look_alike_are_not_directives() {
    let analysis = run("-- lockstep-ignored drop-table\nDROP TABLE a;");
    assert!(rules(&analysis).contains(&"drop-table"));
}
