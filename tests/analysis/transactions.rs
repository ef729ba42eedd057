//! The transaction model: the runner's wrapper, explicit BEGIN/COMMIT, the lock window, timeouts.

use lockstep::analysis::{LockMode, analyze};

use super::common::{ctx, rules, run};

#[test]
fn locks_are_held_until_commit() {
    let analysis = run("ALTER TABLE a ADD COLUMN c int;\nCREATE INDEX i ON b (x);\nSELECT 1;");
    let third = &analysis.statements[2];
    let held: Vec<(&str, LockMode, usize)> = third
        .held_before
        .iter()
        .map(|h| (h.lock.relation.as_str(), h.lock.mode, h.since_statement))
        .collect();
    assert_eq!(
        held,
        vec![
            ("a", LockMode::AccessExclusive, 0),
            ("b", LockMode::Share, 1)
        ]
    );
    assert!(analysis.statements[0].held_before.is_empty());
    assert!(third.in_transaction);
}

#[test]
fn commit_releases_the_lock_window() {
    let analysis = analyze(
        "BEGIN;\nALTER TABLE a ADD COLUMN c int;\nCOMMIT;\nSELECT 1;\nBEGIN;\nSELECT 2;\nROLLBACK;",
        &ctx(15, false),
    );
    assert!(
        !analysis.statements[1]
            .held_before
            .iter()
            .any(|h| h.lock.relation == "a")
    );
    assert_eq!(
        analysis.statements[2].held_before.len(),
        1,
        "COMMIT runs while holding it"
    );
    assert!(analysis.statements[3].held_before.is_empty());
    assert!(!analysis.statements[3].in_transaction);
    assert!(analysis.statements[5].in_transaction);
    assert!(!rules(&analysis).contains(&"transaction-nesting"));
}

#[test]
fn no_transaction_files_release_locks_after_each_statement() {
    let analysis = analyze(
        "ALTER TABLE a ADD COLUMN IF NOT EXISTS c int;\nSELECT 1;",
        &ctx(15, false),
    );
    assert!(analysis.statements[1].held_before.is_empty());
    assert!(!analysis.statements[1].in_transaction);
}

#[test]
fn commit_inside_the_runner_transaction_ends_it() {
    let analysis =
        run("ALTER TABLE a ADD COLUMN c int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON a (c);");
    assert!(rules(&analysis).contains(&"transaction-nesting"));
    assert!(!analysis.statements[2].in_transaction);
    assert!(!rules(&analysis).contains(&"not-in-transaction-block"));
}

#[test]
fn concurrently_in_an_explicit_transaction_has_no_no_transaction_fix() {
    let analysis = analyze(
        "BEGIN;\nCREATE INDEX CONCURRENTLY i ON a (c);\nCOMMIT;",
        &ctx(15, false),
    );
    let f = analysis
        .findings
        .iter()
        .find(|f| f.rule == "not-in-transaction-block")
        .expect("fires");
    assert!(
        f.fix.is_none(),
        "`-- no-transaction` would not help inside an explicit BEGIN"
    );
    let wrapped = run("CREATE INDEX CONCURRENTLY i ON a (c);");
    let f = wrapped
        .findings
        .iter()
        .find(|f| f.rule == "not-in-transaction-block")
        .expect("fires");
    let fixed = f
        .fix
        .as_ref()
        .expect("fix")
        .apply("CREATE INDEX CONCURRENTLY i ON a (c);");
    assert!(fixed.starts_with("-- no-transaction\n"));
}

#[test]
fn timeouts_are_tracked_per_statement() {
    let analysis = run(
        "ALTER TABLE a ADD COLUMN c int;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE a ADD COLUMN d int;\nRESET lock_timeout;\nSELECT 1;",
    );
    let flags: Vec<bool> = analysis.statements.iter().map(|s| s.lock_timeout).collect();
    assert_eq!(flags, vec![false, true, true, false, false]);
}

#[test]
fn session_timeouts_set_by_lockstep_count_as_set() {
    let mut context = ctx(15, true);
    context.session_lock_timeout = true;
    context.session_statement_timeout = true;
    let analysis = analyze("CREATE INDEX i ON a (c);", &context);
    let fired = rules(&analysis);
    assert!(!fired.contains(&"missing-lock-timeout"));
    assert!(!fired.contains(&"missing-statement-timeout"));
    let analysis = analyze("SET lock_timeout = 0;\nCREATE INDEX i ON a (c);", &context);
    assert!(rules(&analysis).contains(&"missing-lock-timeout"));
}

#[test]
fn set_local_ends_with_the_transaction() {
    let analysis = analyze(
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nCOMMIT;\nALTER TABLE a ADD COLUMN IF NOT EXISTS c int;",
        &ctx(15, false),
    );
    assert!(!analysis.statements[3].lock_timeout);
    assert!(rules(&analysis).contains(&"missing-lock-timeout"));
}

#[test]
fn foreign_keys_lock_both_tables_and_the_referenced_table_of_create_table() {
    let analysis = run(
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;",
    );
    let locks: Vec<(&str, LockMode)> = analysis.statements[0]
        .locks
        .iter()
        .map(|l| (l.relation.as_str(), l.mode))
        .collect();
    assert_eq!(
        locks,
        vec![
            ("orders", LockMode::ShareRowExclusive),
            ("users", LockMode::ShareRowExclusive)
        ]
    );
    let old = analyze(
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);",
        &ctx(94, true),
    );
    assert!(
        old.statements[0]
            .locks
            .iter()
            .all(|l| l.mode == LockMode::AccessExclusive)
    );
    let create = run("CREATE TABLE child (id int, u int REFERENCES users (id));");
    let users = create.statements[0]
        .locks
        .iter()
        .find(|l| l.relation == "users")
        .expect("locked");
    assert_eq!(users.mode, LockMode::ShareRowExclusive);
    assert!(!users.new_relation);
    let child = create.statements[0]
        .locks
        .iter()
        .find(|l| l.relation == "child")
        .expect("locked");
    assert!(child.new_relation);
}

#[test]
fn partition_parents_are_locked() {
    let analysis = run("CREATE TABLE p3 PARTITION OF p FOR VALUES IN (3);");
    let parent = analysis.statements[0]
        .locks
        .iter()
        .find(|l| l.relation == "p")
        .expect("parent");
    assert_eq!(parent.mode, LockMode::AccessExclusive);
    let attach = analyze(
        "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES IN (2);",
        &ctx(11, true),
    );
    assert_eq!(
        attach.statements[0].locks[0].mode,
        LockMode::AccessExclusive
    );
    let attach = analyze(
        "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES IN (2);",
        &ctx(12, true),
    );
    assert_eq!(
        attach.statements[0].locks[0].mode,
        LockMode::ShareUpdateExclusive
    );
    assert_eq!(
        attach.statements[0].locks[1].mode,
        LockMode::AccessExclusive
    );
}

#[test]
fn enum_add_value_is_an_object_lock_not_a_table_lock() {
    let analysis = run("ALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';");
    let lock = &analysis.statements[0].locks[0];
    assert_eq!(lock.target, lockstep::analysis::Target::TypeObject);
    assert!(!lock.blocks_reads && !lock.blocks_writes);
}

#[test]
fn non_concurrent_reindex_is_share_on_the_table_not_access_exclusive() {
    let analysis = run("REINDEX TABLE orders;");
    let locks = &analysis.statements[0].locks;
    assert_eq!(locks[0].mode, LockMode::Share);
    assert_eq!(locks[0].target, lockstep::analysis::Target::Table);
    assert_eq!(locks[1].mode, LockMode::AccessExclusive);
    assert_eq!(locks[1].target, lockstep::analysis::Target::IndexesOf);
}

#[test]
fn lock_facts_carry_a_likely_duration() {
    use lockstep::analysis::LikelyDuration;
    let analysis = run(
        "ALTER TABLE a ADD COLUMN c int;\nCREATE INDEX i ON a (c);\nALTER TABLE a ALTER COLUMN c TYPE bigint;\nUPDATE a SET c = 0;",
    );
    let durations: Vec<LikelyDuration> = analysis
        .statements
        .iter()
        .map(|s| s.locks[0].duration)
        .collect();
    assert_eq!(
        durations,
        vec![
            LikelyDuration::Brief,
            LikelyDuration::TableScan,
            LikelyDuration::TableRewrite,
            // A row change is not metadata: it grows with the rows it goes through.
            LikelyDuration::Rows
        ]
    );
}

#[test]
fn a_transactions_statements_share_one_lock_window() {
    // 400 statements, each taking ACCESS EXCLUSIVE on a table an earlier file created: what each
    // starts under is a prefix of one list, so memory and the JSON grow with the statements (a
    // list per statement grew with their square: 2,000 such statements made 478 MB of JSON).
    let n = 400;
    let create: String = (0..n)
        .map(|i| format!("CREATE TABLE t{i} (id int);\n"))
        .collect();
    let alter: String = (0..n)
        .map(|i| format!("ALTER TABLE t{i} ADD COLUMN c int;\n"))
        .collect();
    let files = vec![
        (std::path::PathBuf::from("1_create.sql"), create),
        (std::path::PathBuf::from("2_alter.sql"), alter.clone()),
    ];
    let options = lockstep::analysis::LintOptions {
        chain: lockstep::analysis::lint::Chain::History,
        ..Default::default()
    };
    let report = lockstep::analysis::lint_files(&files, &options);
    let statements = &report.files[1].analysis.statements;
    assert_eq!(statements[n - 1].held_before.len(), n - 1);
    let window = statements[1].held_before.window().expect("held");
    for statement in &statements[1..] {
        assert!(std::sync::Arc::ptr_eq(
            window,
            statement.held_before.window().expect("held")
        ));
    }
    let json = lockstep::analysis::render::json(&report);
    assert!(
        json.len() < 4_000 * 2 * n,
        "{} bytes of JSON for {n} statements",
        json.len()
    );
}
