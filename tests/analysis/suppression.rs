//! Ignore comments: lockstep's and squawk's forms, per statement and per file, unknown names;
//! diesel-guard's `-- safety-assured` blocks.

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

/// The rules and lines of the remaining findings.
fn fired(analysis: &lockstep::analysis::Analysis) -> Vec<(&'static str, usize)> {
    analysis
        .findings
        .iter()
        .map(|f| (f.rule, f.start.line))
        .collect()
}

/// diesel-guard's blocks, as crates.io writes them: every statement starting between
/// `-- safety-assured:start` and `-- safety-assured:end` is exempt from every rule but the
/// review-integrity ones; the statements after the block are not.
#[test]
fn diesel_guards_safety_assured_blocks_cover_the_statements_inside() {
    let analysis = run("SET lock_timeout = '1s';\n\
         -- safety-assured:start\n\
         -- All rows have a username after the backfill: the scan is fast.\n\
         alter table users\n    alter column username set not null;\n\
         ALTER TABLE users DROP COLUMN gh_\u{200B}login;\n\
         -- SAFETY-ASSURED:END\n\
         ALTER TABLE users DROP COLUMN gh_avatar;\n");
    assert_eq!(
        fired(&analysis),
        [("hidden-character", 6), ("drop-column", 8)],
        "inside the block only the hidden character is left; after it, the drop is reported"
    );
    let suppressed: Vec<&str> = analysis.suppressed.iter().map(|f| f.rule).collect();
    for rule in [
        "set-not-null-scan",
        "missing-statement-timeout",
        "drop-column",
    ] {
        assert!(suppressed.contains(&rule), "{rule} in {suppressed:?}");
    }
}

/// A marker that pairs with nothing suppresses nothing and says so, at its own line; a marker
/// after a statement on the same line is not one (diesel-guard reads whole lines).
#[test]
fn unpaired_safety_assured_markers_are_reported_and_suppress_nothing() {
    let analysis = run("-- safety-assured:end\n\
         ALTER TABLE t DROP COLUMN a;\n\
         -- safety-assured:start\n\
         ALTER TABLE t DROP COLUMN b;\n\
         -- safety-assured:start\n\
         ALTER TABLE t DROP COLUMN c;\n");
    let mut found = fired(&analysis);
    found.retain(|(rule, _)| *rule != "missing-lock-timeout");
    assert_eq!(
        found,
        [
            ("unmatched-ignore-block", 1),
            ("drop-column", 2),
            ("unmatched-ignore-block", 3),
            ("drop-column", 4),
            ("unmatched-ignore-block", 5),
            ("drop-column", 6),
        ]
    );
    let messages: Vec<&str> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == "unmatched-ignore-block")
        .map(|f| f.message.as_str())
        .collect();
    assert!(messages[0].contains("closes no block"), "{messages:?}");
    assert!(
        messages[1].contains("has no `-- safety-assured:end`"),
        "{messages:?}"
    );
    assert!(messages[2].contains("do not nest"), "{messages:?}");
    assert!(analysis.suppressed.is_empty(), "{:?}", analysis.suppressed);

    let analysis = run("ALTER TABLE t DROP COLUMN a; -- safety-assured:start\n\
         ALTER TABLE t DROP COLUMN b;\n\
         -- safety-assured:end\n");
    let drops = fired(&analysis)
        .into_iter()
        .filter(|(rule, _)| *rule == "drop-column")
        .count();
    assert_eq!(drops, 2, "{:?}", fired(&analysis));
    assert!(rules(&analysis).contains(&"unmatched-ignore-block"));
}

/// A file large enough to be analysed in pieces keeps a block that spans them.
#[test]
fn a_safety_assured_block_spans_a_large_file() {
    let filler = "INSERT INTO audit (note) VALUES ('a row of filler text for a large file');\n"
        .repeat(5_000);
    assert!(filler.len() > 300 * 1024);
    let text = format!(
        "-- safety-assured:start\n{filler}ALTER TABLE t DROP COLUMN a;\n{filler}-- safety-assured:end\nALTER TABLE t DROP COLUMN b;\n"
    );
    let analysis = run(&text);
    let drops: Vec<usize> = analysis
        .findings
        .iter()
        .filter(|f| f.rule == "drop-column")
        .map(|f| f.start.line)
        .collect();
    assert_eq!(drops, [10_004]);
    assert!(!rules(&analysis).contains(&"unmatched-ignore-block"));
}
