//! Renderers and lint_files: rustc-style human text, gcc lines, JSON, exit codes, file chaining.

use std::path::PathBuf;

use lockstep::analysis::{LintOptions, lint_files, render};

fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    list.iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect()
}

#[test]
fn human_output_points_at_the_line() {
    let report = lint_files(
        &files(&[(
            "m/0002_idx.sql",
            "-- add an index\nCREATE INDEX ix ON users (email);\n",
        )]),
        &LintOptions::default(),
    );
    let text = render::human(&report);
    assert!(text.contains("error[require-concurrent-index]"), "{text}");
    assert!(text.contains("--> m/0002_idx.sql:2:1"), "{text}");
    assert!(
        text.contains("2 | CREATE INDEX ix ON users (email);"),
        "{text}"
    );
    assert!(
        text.contains("  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"),
        "{text}"
    );
    assert!(text.contains("= help: CREATE INDEX CONCURRENTLY"), "{text}");
    assert_eq!(render::exit_code(&report), 1);
    // The coloured form is the same text with ANSI styles: the error and its carets in red.
    let colored = render::human_colored(&report);
    assert!(
        colored.contains("\x1b[1m\x1b[31merror[require-concurrent-index]")
            || colored.contains("\x1b[31m\x1b[1merror[require-concurrent-index]")
            || colored.contains("\x1b[1;31merror[require-concurrent-index]"),
        "{colored:?}"
    );
    let mut stripped = Vec::new();
    {
        use std::io::Write;
        let mut plain = anstream::StripStream::new(&mut stripped);
        plain.write_all(colored.as_bytes()).unwrap();
    }
    assert_eq!(String::from_utf8(stripped).unwrap(), text);
}

#[test]
fn gcc_output_is_one_line_per_finding() {
    let report = lint_files(
        &files(&[(
            "a.sql",
            "SET lock_timeout = '1s';\nALTER TABLE t DROP COLUMN c;",
        )]),
        &LintOptions::default(),
    );
    let text = render::gcc(&report);
    assert_eq!(
        text.trim(),
        "a.sql:2:15: warning: DROP COLUMN \"c\" breaks application versions (and ORM column caches) that still use \"t\".\"c\"; it briefly takes an ACCESS EXCLUSIVE lock on \"t\" (blocks reads and writes) [drop-column]"
    );
    assert_eq!(render::exit_code(&report), 0, "warnings alone do not fail");
}

#[test]
fn json_is_a_stable_document() {
    let report = lint_files(
        &files(&[("a.sql", "CREATE INDEX ix ON users (email);")]),
        &LintOptions::default(),
    );
    let value: serde_json::Value =
        serde_json::from_str(&render::json(&report)).expect("valid JSON");
    // The streaming writer (what `lockstep lint --format json` uses) writes the same text.
    let mut streamed = Vec::new();
    render::write_json(&report, &mut streamed).unwrap();
    assert_eq!(String::from_utf8(streamed).unwrap(), render::json(&report));
    assert_eq!(value["format"], render::JSON_FORMAT_VERSION);
    assert_eq!(render::JSON_FORMAT_VERSION, 2);
    assert_eq!(value["summary"]["errors"], 1);
    let finding = &value["files"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "require-concurrent-index")
        .cloned()
        .expect("finding");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["axis"], "lock-hazard");
    assert_eq!(finding["lock"], "Share");
    assert_eq!(finding["start"]["line"], 1);
    assert_eq!(finding["span"]["start"], 0);
    let lock = &value["files"][0]["statements"][0]["locks"][0];
    assert_eq!(lock["relation"], "users");
    assert_eq!(lock["blocks_writes"], true);
    assert_eq!(lock["blocks_reads"], false);
    assert_eq!(lock["scan"], true);
}

#[test]
fn tables_from_earlier_files_are_new_but_down_files_do_not_add_any() {
    let report = lint_files(
        &files(&[
            ("m/0002_index.sql", "CREATE INDEX ix ON widgets (name);"),
            (
                "m/0001_create.sql",
                "CREATE TABLE widgets (id int, name text);",
            ),
            ("m/0001_create.down.sql", "DROP TABLE widgets;"),
            ("m/0003_other.down.sql", "CREATE TABLE gadgets (id int);"),
            ("m/0004_gadgets.sql", "CREATE INDEX g ON gadgets (id);"),
        ]),
        &LintOptions::default(),
    );
    let order: Vec<String> = report
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(
        order,
        vec![
            "m/0001_create.sql",
            "m/0001_create.down.sql",
            "m/0002_index.sql",
            "m/0003_other.down.sql",
            "m/0004_gadgets.sql"
        ]
    );
    let index = &report.files[2];
    assert!(
        index.analysis.findings.is_empty(),
        "{:?}",
        index.analysis.findings
    );
    let gadgets = &report.files[4];
    assert!(
        gadgets
            .analysis
            .findings
            .iter()
            .any(|f| f.rule == "require-concurrent-index")
    );
    assert!(report.files[1].is_down);
}

#[test]
fn a_run_big_enough_to_parse_in_parallel_keeps_the_order_and_the_chain() {
    // Over the size at which files are parsed on several threads (largest first), and one file
    // big enough to be parsed in pieces: the results still come in version order, and each file
    // sees the tables created by the files before it.
    let filler = "UPDATE ledger SET note = 'padding; not a split' WHERE id = 1;\n".repeat(40);
    let mut list: Vec<(String, String)> = (1..=60)
        .rev()
        .map(|k| {
            let text = format!(
                "{filler}CREATE TABLE t{k} (id int);\nCREATE INDEX ix{k} ON t{prev} (id);\n",
                prev = k - 1
            );
            (format!("m/{k:04}_step.sql"), text)
        })
        .collect();
    let big = "UPDATE ledger SET note = 'x' WHERE id = 2;\n".repeat(8_000)
        + "CREATE INDEX big_ix ON t60 (id);\nCREATE INDEX late_ix ON t61 (id);\n";
    list.push(("m/0061_big.sql".to_string(), big));
    let pairs: Vec<(&str, &str)> = list.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let report = lint_files(&files(&pairs), &LintOptions::default());
    let order: Vec<String> = report
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let mut expected: Vec<String> = (1..=60).map(|k| format!("m/{k:04}_step.sql")).collect();
    expected.push("m/0061_big.sql".to_string());
    assert_eq!(order, expected);
    let index_findings = |file: &lockstep::analysis::LintedFile| {
        file.analysis
            .findings
            .iter()
            .filter(|f| f.rule == "require-concurrent-index")
            .map(|f| f.table.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    // t0 exists before the run; every other indexed table was created by an earlier file.
    assert_eq!(index_findings(&report.files[0]), vec!["t0"]);
    for file in &report.files[1..60] {
        assert_eq!(
            index_findings(file),
            Vec::<String>::new(),
            "{}",
            file.path.display()
        );
    }
    assert_eq!(index_findings(&report.files[60]), vec!["t61"]);
}

#[test]
fn no_transaction_marker_switches_the_transaction_off() {
    let report = lint_files(
        &files(&[
            (
                "1_a.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON t (a);",
            ),
            ("2_b.sql", "CREATE INDEX CONCURRENTLY ix2 ON t (b);"),
            (
                "3_c.sql",
                "\n-- no-transaction\nCREATE INDEX CONCURRENTLY ix3 ON t (c);",
            ),
        ]),
        &LintOptions::default(),
    );
    let rules = |i: usize| -> Vec<&str> {
        report.files[i]
            .analysis
            .findings
            .iter()
            .map(|f| f.rule)
            .collect()
    };
    assert!(report.files[0].no_transaction);
    assert!(
        !rules(0).contains(&"not-in-transaction-block"),
        "{:?}",
        rules(0)
    );
    assert!(rules(1).contains(&"not-in-transaction-block"));
    assert!(
        !report.files[2].no_transaction,
        "sqlx only honours the marker at the very start"
    );
    assert!(rules(2).contains(&"not-in-transaction-block"));
}

#[test]
fn fixes_are_mechanical_edits() {
    let text = "CREATE INDEX ix ON users (email);";
    let report = lint_files(&files(&[("1_a.sql", text)]), &LintOptions::default());
    let fix = report.files[0]
        .analysis
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-index")
        .and_then(|f| f.fix.clone())
        .expect("fix");
    assert_eq!(
        fix.apply(text),
        "-- no-transaction\nCREATE INDEX CONCURRENTLY ix ON users (email);"
    );
    let text = "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);";
    let report = lint_files(&files(&[("1_a.sql", text)]), &LintOptions::default());
    let fix = report.files[0]
        .analysis
        .findings
        .iter()
        .find(|f| f.rule == "foreign-key-needs-not-valid")
        .and_then(|f| f.fix.clone())
        .expect("fix");
    assert_eq!(
        fix.apply(text),
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;"
    );
    assert!(fix.description.contains("VALIDATE CONSTRAINT fk"));
    // The fixed text no longer trips the rule.
    let again = lint_files(
        &files(&[("1_a.sql", &fix.apply(text))]),
        &LintOptions::default(),
    );
    assert!(
        !again.files[0]
            .analysis
            .findings
            .iter()
            .any(|f| f.rule == "foreign-key-needs-not-valid")
    );
}

#[test]
fn explain_lists_rules_and_resolves_squawk_names() {
    let all = render::explain(None).expect("list");
    assert!(
        all.contains("require-concurrent-index")
            && all.contains("squawk: require-concurrent-index-creation")
    );
    let one = render::explain(Some("ban-drop-column")).expect("alias resolves");
    assert!(one.starts_with("drop-column"), "{one}");
    assert!(render::explain(Some("nope")).is_none());
}

#[test]
fn validate_in_the_same_transaction_is_moved_out() {
    let text = "ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT pos;\nSELECT 1;\n";
    let report = lint_files(&files(&[("1_a.sql", text)]), &LintOptions::default());
    let fix = report.files[0]
        .analysis
        .findings
        .iter()
        .find(|f| f.rule == "validate-in-same-transaction")
        .and_then(|f| f.fix.clone())
        .expect("fix");
    assert_eq!(
        fix.apply(text),
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0) NOT VALID;\nSELECT 1;\n"
    );
    assert!(
        fix.description
            .contains("ALTER TABLE t VALIDATE CONSTRAINT pos;")
    );
}

/// The published SARIF 2.1.0 schema (OASIS, errata 01), vendored from the SARIF specification's
/// repository.
const SARIF_SCHEMA: &str = include_str!("../sarif/sarif-schema-2.1.0.json");

#[test]
fn sarif_validates_against_the_published_schema() {
    let report = lint_files(
        &files(&[
            (
                "m/0001 create.sql",
                "CREATE TABLE t (id int);\nALTER TABLE t ADD CONSTRAINT c CHECK (id > 0);\n",
            ),
            (
                "m/0002_index.sql",
                "-- builds the index\nCREATE INDEX ix ON users (email);\nALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (o) REFERENCES orgs (id);\nCREATE INDEX iy ON \"us\u{202e}ers\" (email);\n",
            ),
        ]),
        &LintOptions::default(),
    );
    let mut out = Vec::new();
    render::write_sarif(&report, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\\u202e") && !text.contains('\u{202e}'),
        "hidden characters are escaped: {text}"
    );
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(SARIF_SCHEMA).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
    // A deliberately broken log fails, so the validator really checks.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));

    let run = &log["runs"][0];
    assert_eq!(log["version"], "2.1.0");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|r| r["id"] == "require-concurrent-index")
        .unwrap();
    assert!(
        rule["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .contains("CONCURRENTLY")
    );
    assert!(rule["fullDescription"]["text"].as_str().is_some());
    assert!(
        rule["help"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Safe alternative: CREATE INDEX CONCURRENTLY")
    );
    assert_eq!(rule["defaultConfiguration"]["level"], "error");
    let results = run["results"].as_array().unwrap();
    let index = results
        .iter()
        .find(|r| r["ruleId"] == "require-concurrent-index")
        .unwrap();
    assert_eq!(index["level"], "error");
    assert_eq!(
        rules[index["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "require-concurrent-index"
    );
    let region = &index["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        index["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "m/0002_index.sql"
    );
    assert_eq!(region["startLine"], 2);
    assert_eq!(region["startColumn"], 1);
    assert_eq!(region["endLine"], 2);
    assert_eq!(
        region["endColumn"], 34,
        "SARIF's end column is the one after the region"
    );
    // A fix is a SARIF fix: byte regions of the file replaced by new text.
    let fixed = results
        .iter()
        .find(|r| r["ruleId"] == "foreign-key-needs-not-valid")
        .unwrap();
    let change = &fixed["fixes"][0]["artifactChanges"][0];
    assert_eq!(change["artifactLocation"]["uri"], "m/0002_index.sql");
    assert!(
        !change["replacements"].as_array().unwrap().is_empty(),
        "{fixed}"
    );
    // A space in a path is percent-encoded in the URI.
    assert!(
        run["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["location"]["uri"] == "m/0001%20create.sql")
    );
}

#[test]
fn github_annotations_escape_what_the_runner_would_read() {
    assert_eq!(
        render::escape_data("50% done\r\nnext: a, b"),
        "50%25 done%0D%0Anext: a, b"
    );
    assert_eq!(render::escape_property("dir:a,b%\nc"), "dir%3Aa%2Cb%25%0Ac");
    let report = lint_files(
        &files(&[(
            "m/1_a,b:c%.sql",
            "CREATE INDEX ix ON users (email);\nALTER TABLE t DROP COLUMN c;",
        )]),
        &LintOptions::for_session(15, true, true),
    );
    let text = render::github(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one command per finding, then the summary: {text}"
    );
    assert!(
        lines[0].starts_with(
            "::error file=m/1_a%2Cb%3Ac%25.sql,line=1,col=1,endLine=1,endColumn=34,title=lockstep require-concurrent-index (blocks production)::CREATE INDEX"
        ),
        "{text}"
    );
    // The safe alternative follows on an escaped new line; nothing breaks the command's line.
    assert!(lines[0].contains("%0ASafe alternative: "), "{text}");
    assert!(
        lines[1].starts_with("::warning file=m/1_a%2Cb%3Ac%25.sql,line=2,col=15,endLine=2,endColumn=28,title=lockstep drop-column (breaks running code)::"),
        "{text}"
    );
    assert_eq!(lines[2], render::summary_line(&report));
    assert!(lines[2].contains("1 error(s), 1 warning(s)"), "{text}");
}
