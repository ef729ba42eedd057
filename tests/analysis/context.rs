//! The context a migration meets: the schema model replayed from the migrations before it (column
//! types, IF [NOT] EXISTS, the table of an index, views and what they read), and which earlier
//! tables are pre-existing or new.

use std::path::PathBuf;

use lockstep::analysis::lint::Chain;
use lockstep::analysis::{Analysis, Catalog, LintOptions, LockMode, Target, lint_files};

fn files(texts: &[&str]) -> Vec<(PathBuf, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (PathBuf::from(format!("{}_m.sql", i + 1)), t.to_string()))
        .collect()
}

/// Lints the texts as migrations 1, 2, … of a project, from its first one, with `chain`.
fn lint(texts: &[&str], chain: Chain) -> Vec<Analysis> {
    let opts = LintOptions {
        session_lock_timeout: true,
        catalog: Catalog::empty_database(),
        chain,
        ..LintOptions::default()
    };
    lint_files(&files(texts), &opts)
        .files
        .into_iter()
        .map(|f| f.analysis)
        .collect()
}

fn history(texts: &[&str]) -> Vec<Analysis> {
    lint(texts, Chain::History)
}

/// The relations a statement locks, with the modes.
fn locks_of(statement: &lockstep::analysis::AnalyzedStatement) -> Vec<(&str, LockMode)> {
    statement
        .locks
        .iter()
        .map(|l| (l.relation.as_str(), l.mode))
        .collect()
}

/// Statement `i`'s locks, sorted by relation.
fn sorted_locks(analysis: &Analysis, i: usize) -> Vec<(&str, LockMode)> {
    let mut locks = locks_of(&analysis.statements[i]);
    locks.sort();
    locks
}

/// Statement `i`'s lock on `relation`.
fn lock_fact(analysis: &Analysis, i: usize, relation: &str) -> lockstep::analysis::LockFact {
    analysis.statements[i]
        .locks
        .iter()
        .find(|l| l.relation == relation)
        .cloned()
        .unwrap_or_else(|| panic!("statement {i} locks no {relation}"))
}

fn rules(analysis: &Analysis) -> Vec<&'static str> {
    analysis.findings.iter().map(|f| f.rule).collect()
}

const USERS: &str = "CREATE TABLE users (id int PRIMARY KEY, name varchar(50), n int, email text);";

#[test]
fn each_migration_meets_the_tables_of_the_ones_before_it_as_pre_existing() {
    let texts = [USERS, "CREATE INDEX users_email ON users (email);"];
    let applied = history(&texts);
    assert!(rules(&applied[1]).contains(&"require-concurrent-index"));
    assert!(!applied[1].statements[0].locks[0].new_relation);
    // In one run (a database's pending migrations), a table created earlier in the run is new.
    let run = lint(
        &texts,
        Chain::Run {
            applied_before: None,
        },
    );
    assert!(rules(&run[1]).is_empty(), "{:?}", rules(&run[1]));
    assert!(run[1].statements[0].locks[0].new_relation);
    // Production has 1; 2 and 3 are one deploy.
    let deploy = lint(
        &[
            USERS,
            "CREATE TABLE orders (id int, user_id int);",
            "CREATE INDEX ix ON orders (user_id);\nCREATE INDEX iy ON users (name);",
        ],
        Chain::Run {
            applied_before: Some(2),
        },
    );
    let third: Vec<(&str, bool)> = deploy[2]
        .statements
        .iter()
        .map(|s| (s.locks[0].relation.as_str(), s.locks[0].new_relation))
        .collect();
    assert_eq!(third, vec![("orders", true), ("users", false)]);
    // The same file created in the same migration is new either way.
    let same = history(&["CREATE TABLE t (id int);\nCREATE INDEX ix ON t (id);"]);
    assert!(rules(&same[0]).is_empty());
}

#[test]
fn column_types_from_earlier_migrations_decide_type_changes() {
    let out = history(&[
        USERS,
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);",
        "ALTER TABLE users ALTER COLUMN name TYPE text;",
        "ALTER TABLE users ALTER COLUMN n TYPE bigint;",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(20);",
        "ALTER TABLE users ADD COLUMN note varchar(10);\nALTER TABLE users ALTER COLUMN note TYPE varchar(30);",
    ]);
    assert!(!rules(&out[1]).contains(&"column-type-rewrite"), "widening");
    assert!(
        !rules(&out[2]).contains(&"column-type-rewrite"),
        "varchar → text"
    );
    assert!(rules(&out[3]).contains(&"column-type-rewrite"));
    assert!(out[3].has_errors(), "int → bigint rewrites");
    assert!(out[3].statements[0].locks[0].rewrite);
    // Name was text after migration 3: text → varchar(20) rewrites.
    assert!(out[4].has_errors(), "{:?}", out[4].findings);
    assert!(!rules(&out[5]).contains(&"column-type-rewrite"));
}

#[test]
fn if_exists_on_absent_objects_and_if_not_exists_on_present_ones_do_nothing() {
    let out = history(&[
        USERS,
        "CREATE TABLE orgs (id int PRIMARY KEY);",
        "DROP TABLE IF EXISTS ghost;\nDROP INDEX IF EXISTS ghost_ix;\nALTER TABLE IF EXISTS ghost ADD COLUMN c int;",
        "CREATE TABLE IF NOT EXISTS users (id int, org int REFERENCES orgs (id));\nCREATE INDEX IF NOT EXISTS users_pkey ON users (id);",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS email text NOT NULL;",
        "DROP TABLE IF EXISTS users;",
    ]);
    for (i, analysis) in out.iter().enumerate().skip(2).take(3) {
        assert!(
            analysis.findings.iter().all(|f| f.rule != "drop-table"
                && f.rule != "require-concurrent-index"
                && f.rule != "add-required-column"),
            "migration {}: {:?}",
            i + 1,
            analysis.findings
        );
    }
    assert!(
        out[2].statements.iter().all(|s| s.locks.is_empty()),
        "nothing to drop, nothing locked"
    );
    assert!(
        out[3].statements[0].locks.is_empty(),
        "users exists: the FK to orgs is not created"
    );
    // The index exists: CREATE INDEX IF NOT EXISTS still takes its SHARE lock, but builds nothing.
    let lock = &out[3].statements[1].locks[0];
    assert_eq!((lock.mode, lock.scan), (LockMode::Share, false));
    assert!(rules(&out[5]).contains(&"drop-table"), "users exists");
    // A single file with nothing before it: the model cannot tell, so it assumes the worst.
    let alone = lint_files(
        &files(&["DROP TABLE IF EXISTS ghost;"]),
        &LintOptions {
            chain: Chain::History,
            ..LintOptions::default()
        },
    );
    assert!(
        alone.files[0]
            .analysis
            .findings
            .iter()
            .any(|f| f.rule == "drop-table")
    );
}

#[test]
fn an_index_is_known_with_its_table() {
    let out = history(&[
        "CREATE TABLE t (id int, a int, CONSTRAINT t_a_key UNIQUE (a));\nCREATE INDEX t_ix ON t (a);",
        "DROP INDEX t_ix;",
        "ALTER INDEX t_a_key RENAME TO t_a_unique;",
        "DROP INDEX t_a_unique;",
        "ALTER TABLE t RENAME TO t2;",
        "DROP INDEX t_pkey_missing_so_unknown;",
    ]);
    let table_lock = |a: &Analysis| {
        a.statements[0]
            .locks
            .iter()
            .find(|l| l.target == Target::Table)
            .map(|l| (l.relation.clone(), l.mode))
    };
    assert_eq!(
        table_lock(&out[1]),
        Some(("t".to_string(), LockMode::AccessExclusive))
    );
    let finding = out[1]
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-index-drop")
        .expect("fires");
    assert_eq!(finding.table.as_deref(), Some("t"));
    assert!(finding.message.contains("\"t\""), "{}", finding.message);
    assert_eq!(
        table_lock(&out[3]),
        Some(("t".to_string(), LockMode::AccessExclusive))
    );
    assert_eq!(table_lock(&out[5]), None);
}

#[test]
fn foreign_keys_lock_the_referenced_table_and_dropping_the_table_locks_it_again() {
    let out = history(&[
        USERS,
        "CREATE TABLE posts (id int, user_id int REFERENCES users (id));",
        "ALTER TABLE posts ADD CONSTRAINT posts_author FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        "DROP TABLE posts;",
    ]);
    let locks = |a: &Analysis| -> Vec<(String, LockMode)> {
        a.statements[0]
            .locks
            .iter()
            .map(|l| (l.relation.clone(), l.mode))
            .collect()
    };
    assert!(locks(&out[1]).contains(&("users".to_string(), LockMode::ShareRowExclusive)));
    assert!(locks(&out[2]).contains(&("users".to_string(), LockMode::ShareRowExclusive)));
    assert!(locks(&out[3]).contains(&("users".to_string(), LockMode::AccessExclusive)));
}

/// A foreign key follows its column and its referenced table through renames: changing the
/// renamed column's type re-creates the key, which locks the renamed referenced table (kratos's
/// migration 98, observed on PostgreSQL 15). The check of a written key is its own lock fact,
/// taken for the columns an INSERT lists.
#[test]
fn a_foreign_key_follows_renames_of_its_column_and_table() {
    let out = history(&[
        USERS,
        "CREATE TABLE posts (id int, user_id int, FOREIGN KEY (user_id) REFERENCES users (id));",
        "ALTER TABLE posts RENAME COLUMN user_id TO author_id;",
        "ALTER TABLE users RENAME TO accounts;",
        "ALTER TABLE posts ALTER COLUMN author_id TYPE bigint;",
        "INSERT INTO posts (id, author_id) VALUES (1, 1);",
        "INSERT INTO posts (id) VALUES (2);",
    ]);
    let fact = |a: &Analysis, relation: &str| {
        a.statements[0]
            .locks
            .iter()
            .find(|l| l.relation == relation)
            .map(|l| (l.mode, l.command))
    };
    assert_eq!(
        fact(&out[4], "accounts").map(|(mode, _)| mode),
        Some(LockMode::AccessExclusive)
    );
    assert_eq!(
        fact(&out[5], "accounts"),
        Some((
            LockMode::RowShare,
            "FOREIGN KEY check of written rows (referenced table)"
        ))
    );
    // A key left out of the INSERT is NULL: nothing to check.
    assert_eq!(fact(&out[6], "accounts"), None);
}

#[test]
fn views_are_not_tables_and_cascade_names_what_it_drops() {
    let out = history(&[
        "CREATE TABLE t (id int);\nCREATE VIEW v AS SELECT id FROM t;\nCREATE MATERIALIZED VIEW m AS SELECT id FROM v;",
        "DROP VIEW v CASCADE;\nUPDATE t SET id = id + 1;",
        "SELECT * FROM m;",
    ]);
    let rules2 = rules(&out[1]);
    assert!(rules2.contains(&"drop-view"), "{rules2:?}");
    assert!(!rules2.contains(&"drop-table"), "{rules2:?}");
    assert!(
        !rules2.contains(&"lock-held-across-statements"),
        "the held lock is on a view: {rules2:?}"
    );
    let drop = out[1]
        .findings
        .iter()
        .find(|f| f.rule == "drop-view")
        .unwrap();
    assert!(
        drop.message.contains("materialized view \"m\""),
        "{}",
        drop.message
    );
    // The view's query reads t: creating it took ACCESS SHARE there (t was new, though).
    let view = &out[0].statements[1];
    assert!(
        view.locks
            .iter()
            .any(|l| l.relation == "t" && l.mode == LockMode::AccessShare)
    );
}

#[test]
fn a_query_that_runs_reads_what_the_views_it_reads_read() {
    let out = history(&[
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);\n\
         CREATE VIEW inner_v AS SELECT a.id FROM a JOIN b USING (id);\n\
         CREATE VIEW outer_v AS SELECT id FROM inner_v WHERE id > (SELECT count(*) FROM c);\n\
         CREATE MATERIALIZED VIEW m AS SELECT id FROM inner_v;\nCREATE TABLE sink (id int);",
        "INSERT INTO sink SELECT id FROM outer_v;\n\
         CREATE VIEW stored AS SELECT id FROM outer_v;\n\
         CREATE TABLE later AS SELECT id FROM outer_v WITH NO DATA;\n\
         REFRESH MATERIALIZED VIEW m;\n\
         COPY (SELECT id FROM inner_v) TO STDOUT;\n\
         COPY sink FROM STDIN;\n\
         COPY sink TO STDOUT;",
    ]);
    let locks = |i: usize| sorted_locks(&out[1], i);
    use LockMode::{AccessExclusive, AccessShare, RowExclusive};
    // The rewriter expands outer_v into inner_v and c, and inner_v into a and b.
    assert_eq!(
        locks(0),
        [
            ("a", AccessShare),
            ("b", AccessShare),
            ("c", AccessShare),
            ("inner_v", AccessShare),
            ("outer_v", AccessShare),
            ("sink", RowExclusive),
        ]
    );
    // A view and a table WITH NO DATA store the query: only the view named is read.
    assert_eq!(locks(1), [("outer_v", AccessShare)]);
    assert!(
        locks(2)
            .iter()
            .all(|(r, _)| !["a", "b", "c", "inner_v"].contains(r)),
        "{:?}",
        locks(2)
    );
    // A refresh runs the materialized view's query.
    assert_eq!(
        locks(3),
        [
            ("a", AccessShare),
            ("b", AccessShare),
            ("inner_v", AccessShare),
            ("m", AccessExclusive),
        ]
    );
    assert_eq!(
        locks(4),
        [
            ("a", AccessShare),
            ("b", AccessShare),
            ("inner_v", AccessShare)
        ]
    );
    assert_eq!(locks(5), [("sink", RowExclusive)]);
    assert_eq!(locks(6), [("sink", AccessShare)]);
}

#[test]
fn a_delete_reaches_the_rows_that_reference_it_through_the_keys_actions() {
    let out = history(&[
        "CREATE TABLE teams (id int PRIMARY KEY, code text UNIQUE);\n\
         CREATE TABLE members (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE);\n\
         CREATE TABLE badges (member_id int REFERENCES members ON DELETE SET NULL);\n\
         CREATE TABLE notes (member_id int, FOREIGN KEY (member_id) REFERENCES members (id));\n\
         CREATE TABLE codes (code text REFERENCES teams (code) ON UPDATE CASCADE);\n\
         CREATE FUNCTION drop_team(t int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM teams WHERE id = t; END $$;\n\
         CREATE FUNCTION recode() RETURNS void LANGUAGE sql AS 'UPDATE teams SET code = ''y''';\n\
         CREATE FUNCTION enlist() RETURNS void LANGUAGE plpgsql AS $$ BEGIN IF now() > '2000-01-01' THEN INSERT INTO members VALUES (1, 1); END IF; END $$;\n\
         CREATE TABLE team_log (team_id int);\n\
         CREATE FUNCTION retire() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM teams WHERE id = NEW.team_id; RETURN NEW; END $$;\n\
         CREATE TRIGGER team_log_retire AFTER INSERT ON team_log FOR EACH ROW EXECUTE FUNCTION retire();",
        "DELETE FROM teams WHERE id = 1;\nDELETE FROM notes;\nUPDATE teams SET code = 'x';\nUPDATE teams SET id = 2;\n\
         DO $$ BEGIN DELETE FROM teams WHERE id = 1; END $$;\n\
         DO $$ BEGIN UPDATE teams SET code = 'x'; END $$;\n\
         DO $$ BEGIN INSERT INTO members VALUES (1, 1); END $$;\n\
         SELECT drop_team(1);\nSELECT recode();\nSELECT enlist();\nINSERT INTO team_log VALUES (1);",
    ]);
    let locks = |i: usize| sorted_locks(&out[1], i);
    use LockMode::{RowExclusive, RowShare};
    // CASCADE deletes members, whose deletion sets badges' key to NULL and looks for notes.
    assert_eq!(
        locks(0),
        [
            ("badges", RowExclusive),
            ("codes", RowShare),
            ("members", RowExclusive),
            ("notes", RowShare),
            ("teams", RowExclusive),
        ]
    );
    assert_eq!(locks(1), [("notes", RowExclusive)]);
    // A key changed: only the keys on that column, with their ON UPDATE action.
    assert_eq!(locks(2), [("codes", RowExclusive), ("teams", RowExclusive)]);
    assert_eq!(locks(3), [("members", RowShare), ("teams", RowExclusive)]);
    // The same written in a DO block; a row it inserts is checked against the table its key
    // references.
    assert_eq!(locks(4), locks(0));
    assert_eq!(locks(5), locks(2));
    assert_eq!(locks(6), [("members", RowExclusive), ("teams", RowShare)]);
    // And in a function the statement calls, or a trigger's it fires: named as whose they are,
    // conditional where the write is (a branch, a row trigger).
    assert_eq!(locks(7), locks(0));
    assert_eq!(locks(8), locks(2));
    assert_eq!(locks(9), locks(6));
    // A foreign key's work is done only for the rows written: conditional, at the top as in a
    // function.
    for i in [0, 4, 7] {
        let members = lock_fact(&out[1], i, "members");
        assert!(members.conditional, "{i}: {members:?}");
    }
    assert!(!lock_fact(&out[1], 0, "teams").conditional);
    assert_eq!(
        lock_fact(&out[1], 7, "members").via.as_deref(),
        Some("function drop_team()")
    );
    assert!(lock_fact(&out[1], 9, "teams").conditional);
    let mut fired = locks(10);
    fired.retain(|(table, _)| *table != "team_log");
    assert_eq!(fired, locks(0));
    let badges = lock_fact(&out[1], 10, "badges");
    assert_eq!(
        (badges.via.as_deref(), badges.conditional),
        (Some("trigger \"team_log_retire\" on \"team_log\""), true)
    );
    let cascades: Vec<&str> = out[1]
        .findings
        .iter()
        .filter(|f| f.rule == "delete-cascades")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(cascades.len(), 4, "{cascades:?}");
    assert!(
        cascades
            .iter()
            .all(|c| c.contains("in 2 tables (members, badges)"))
            && cascades[1].starts_with("this DO block's DELETE on \"teams\"")
            && cascades[2].starts_with("the DELETE on \"teams\" that function drop_team() runs")
            && cascades[3].starts_with(
                "the DELETE on \"teams\" that trigger \"team_log_retire\" on \"team_log\" runs"
            ),
        "{cascades:?}"
    );
}

#[test]
fn a_do_blocks_writes_fire_their_tables_triggers() {
    let out = history(&[
        "CREATE TABLE post (id int PRIMARY KEY, score int, title text);\n\
         CREATE TABLE audit (post_id int);\n\
         CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE audit IN SHARE MODE; RETURN NULL; END $$;\n\
         CREATE TRIGGER post_guard AFTER DELETE ON post EXECUTE FUNCTION guard();\n\
         CREATE TRIGGER post_touch AFTER UPDATE OF score ON post EXECUTE FUNCTION guard();",
        "DO $$ BEGIN DELETE FROM post WHERE id < 0; END $$;\n\
         DO $$ BEGIN IF now() < now() THEN DELETE FROM post; END IF; END $$;\n\
         DO $$ BEGIN UPDATE post SET title = 'x'; END $$;\n\
         DO $$ BEGIN IF now() < now() THEN DELETE FROM post; END IF; DELETE FROM post WHERE id < 0; END $$;\n\
         DO $$ BEGIN UPDATE post SET score = 0; END $$;",
    ]);
    let locks = |i: usize| sorted_locks(&out[1], i);
    let fact = |i: usize, relation: &str| lock_fact(&out[1], i, relation);
    use LockMode::{RowExclusive, Share};
    // A statement-level trigger fires once, rows or not: as for a DELETE written at the top.
    assert_eq!(locks(0), [("audit", Share), ("post", RowExclusive)]);
    assert!(!fact(0, "audit").conditional);
    assert_eq!(
        fact(0, "audit").via.as_deref(),
        Some("trigger \"post_guard\" on \"post\"")
    );
    // In a branch: only if the branch runs.
    assert_eq!(locks(1), [("audit", Share), ("post", RowExclusive)]);
    assert!(fact(1, "audit").conditional);
    // An UPDATE of another column fires no UPDATE OF trigger.
    assert_eq!(locks(2), [("post", RowExclusive)]);
    // Fired in a branch and outside one: surely.
    assert!(!fact(3, "audit").conditional);
    assert_eq!(locks(4), [("audit", Share), ("post", RowExclusive)]);
    let found: Vec<&str> = out[1]
        .findings
        .iter()
        .filter(|f| f.rule == "fires-trigger")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("this DO block's DELETE on \"post\" fires the trigger \"post_guard\"")
            && found[3]
                .starts_with("this DO block's UPDATE on \"post\" fires the trigger \"post_touch\""),
        "{found:?}"
    );
}

#[test]
fn a_statement_takes_the_locks_of_the_trigger_functions_it_fires() {
    let out = history(&[
        "CREATE TABLE post (id int PRIMARY KEY, score int, title text);\n\
         CREATE TABLE audit (post_id int);\n\
         CREATE MATERIALIZED VIEW hot AS SELECT id, score FROM post;\n\
         CREATE FUNCTION refresh_hot() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN\n  REFRESH MATERIALIZED VIEW CONCURRENTLY hot;\n  IF NEW.score > 10 THEN\n    INSERT INTO audit VALUES (NEW.id);\n  END IF;\n  RETURN NEW;\nEND $$;\n\
         CREATE TRIGGER post_hot AFTER INSERT OR UPDATE OF score ON post FOR EACH ROW EXECUTE FUNCTION refresh_hot();\n\
         CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE audit IN SHARE MODE; RETURN NULL; END $$;\n\
         CREATE TRIGGER post_guard AFTER DELETE ON post EXECUTE FUNCTION guard();",
        "UPDATE post SET score = 0;\nUPDATE post SET title = 'x';\nINSERT INTO post (id) VALUES (1);\nDELETE FROM post WHERE id < 0;\nDROP FUNCTION guard() CASCADE;\nDELETE FROM post WHERE id < 0;",
    ]);
    let locks = |i: usize| sorted_locks(&out[1], i);
    use LockMode::{Exclusive, RowExclusive, Share};
    // UPDATE OF score fires post_hot: its function refreshes hot and (in a branch) writes audit.
    assert_eq!(
        locks(0),
        [
            ("audit", RowExclusive),
            ("hot", Exclusive),
            ("post", RowExclusive)
        ]
    );
    let fact = |i: usize, relation: &str| lock_fact(&out[1], i, relation);
    // A row trigger fires only for rows written: its locks are conditional, and say whose.
    assert!(fact(0, "hot").conditional);
    assert_eq!(
        fact(0, "hot").via.as_deref(),
        Some("trigger \"post_hot\" on \"post\"")
    );
    assert!(!fact(0, "post").conditional && fact(0, "post").via.is_none());
    // Another column: not fired. An INSERT fires it too.
    assert_eq!(locks(1), [("post", RowExclusive)]);
    assert_eq!(
        locks(2),
        [
            ("audit", RowExclusive),
            ("hot", Exclusive),
            ("post", RowExclusive)
        ]
    );
    // A statement-level trigger fires once, rows or not.
    assert_eq!(locks(3), [("audit", Share), ("post", RowExclusive)]);
    assert!(!fact(3, "audit").conditional);
    // Its function dropped with its trigger: nothing fired any more.
    assert_eq!(locks(5), [("post", RowExclusive)]);
    let found = super::common::found(&out[1], "fires-trigger");
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0]
            .1
            .contains("fires the trigger \"post_hot\" (FOR EACH ROW)")
            && found[0]
                .1
                .contains("REFRESH MATERIALIZED VIEW CONCURRENTLY hot")
            && found[0].1.contains("EXCLUSIVE lock on \"hot\"")
            && found[0].1.contains("for every row written"),
        "{}",
        found[0].1
    );
    assert!(
        found[2].1.contains("SHARE lock on \"audit\"") && !found[2].1.contains("every row"),
        "{}",
        found[2].1
    );
}

#[test]
fn a_statement_takes_the_locks_of_the_functions_it_calls() {
    let out = history(&[
        "CREATE TABLE post (id int PRIMARY KEY);\nCREATE TABLE tags (id int);\n\
         CREATE FUNCTION retag() RETURNS void LANGUAGE plpgsql AS $$ BEGIN ALTER TABLE tags ADD COLUMN n int; END $$;\n\
         CREATE FUNCTION tag_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tags';\n\
         CREATE PROCEDURE purge() LANGUAGE sql AS $$ DELETE FROM tags $$;",
        "SELECT retag();\nSELECT tag_count() FROM post;\nCALL purge();\nSELECT now();\nDROP FUNCTION retag();\nSELECT retag();\n\
         UPDATE post SET id = tag_count();\nUPDATE post SET id = n FROM tag_count() n;",
    ]);
    let locks = |i: usize| sorted_locks(&out[1], i);
    use LockMode::{AccessExclusive, AccessShare, RowExclusive};
    assert_eq!(locks(0), [("tags", AccessExclusive)]);
    assert_eq!(
        out[1].statements[0].locks[0].via.as_deref(),
        Some("function retag()")
    );
    // Called once per row of post: not at all when it has none.
    assert_eq!(locks(1), [("post", AccessShare), ("tags", AccessShare)]);
    let tags = |i: usize| lock_fact(&out[1], i, "tags");
    assert!(tags(1).conditional && !tags(0).conditional);
    assert_eq!(locks(2), [("tags", RowExclusive)]);
    assert!(locks(3).is_empty());
    // Dropped: its body is no longer known.
    assert!(locks(5).is_empty());
    // An UPDATE's SET runs for each row it updates; a function in its FROM runs once.
    assert_eq!(locks(6), [("post", RowExclusive), ("tags", AccessShare)]);
    assert!(tags(6).conditional && !tags(7).conditional);
    assert_eq!(locks(7), [("post", RowExclusive), ("tags", AccessShare)]);
    let found: Vec<&str> = out[1]
        .findings
        .iter()
        .filter(|f| f.rule == "function-locks")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("calls retag(), which runs `ALTER TABLE tags ADD COLUMN n int`: ACCESS EXCLUSIVE lock on \"tags\""),
        "{}",
        found[0]
    );
}

#[test]
fn functions_run_what_they_call_and_fire_in_turn_and_a_refresh_reads_its_query() {
    let out = history(&[
        "CREATE TABLE post (id int PRIMARY KEY, score int);\n\
         CREATE TABLE stats (n int);\nCREATE TABLE ledger (n int);\n\
         CREATE MATERIALIZED VIEW hot AS SELECT id FROM post JOIN stats ON true;\n\
         CREATE FUNCTION refresh_hot() RETURNS void LANGUAGE plpgsql AS $$ BEGIN REFRESH MATERIALIZED VIEW hot; END $$;\n\
         CREATE FUNCTION count_post() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN\n  UPDATE stats SET n = n + 1;\n  PERFORM refresh_hot();\n  RETURN NULL;\nEND $$;\n\
         CREATE TRIGGER post_count AFTER INSERT ON post EXECUTE FUNCTION count_post();\n\
         CREATE FUNCTION log_stats() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE ledger IN EXCLUSIVE MODE; RETURN NEW; END $$;\n\
         CREATE TRIGGER stats_log BEFORE UPDATE ON stats FOR EACH ROW EXECUTE FUNCTION log_stats();\n\
         CREATE FUNCTION again() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO post VALUES (0, 0); RETURN NULL; END $$;\n\
         CREATE TRIGGER ledger_again AFTER INSERT ON ledger EXECUTE FUNCTION again();",
        "INSERT INTO post VALUES (1, 1);\nDO $$ BEGIN PERFORM refresh_hot(); END $$;\nINSERT INTO ledger VALUES (1);",
    ]);
    use LockMode::{AccessExclusive, Exclusive, RowExclusive};
    // The statement-level trigger runs count_post(), which writes stats (firing stats_log for
    // each row: EXCLUSIVE on ledger, conditional) and calls refresh_hot() (ACCESS EXCLUSIVE on
    // hot, whose query reads post and stats).
    assert_eq!(
        sorted_locks(&out[1], 0),
        [
            ("hot", AccessExclusive),
            ("ledger", Exclusive),
            ("post", RowExclusive),
            ("stats", RowExclusive)
        ]
    );
    let fact = |i: usize, relation: &str| lock_fact(&out[1], i, relation);
    assert!(!fact(0, "hot").conditional);
    assert!(fact(0, "ledger").conditional, "stats_log fires per row");
    assert_eq!(
        fact(0, "ledger").via.as_deref(),
        Some("trigger \"post_count\" on \"post\"")
    );
    // PERFORM in a DO block calls the function: the refresh, and the reads of its query.
    assert_eq!(
        sorted_locks(&out[1], 1),
        [
            ("hot", AccessExclusive),
            ("post", LockMode::AccessShare),
            ("stats", LockMode::AccessShare)
        ]
    );
    assert_eq!(
        fact(1, "post").via.as_deref(),
        Some("function refresh_hot()")
    );
    // A cycle (ledger -> post -> stats -> ledger) is followed once.
    assert_eq!(sorted_locks(&out[1], 2)[0], ("hot", AccessExclusive));
    let found: Vec<&str> = out[1]
        .findings
        .iter()
        .filter(|f| f.rule == "fires-trigger" && f.start.line == 1)
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        found.iter().any(|m| m
            .contains("whose function count_post() runs refresh_hot(), which runs `REFRESH MATERIALIZED VIEW hot`")
            && m.contains("ACCESS EXCLUSIVE lock on \"hot\"")),
        "{found:?}"
    );
}

#[test]
fn a_renamed_trigger_locks_its_table_and_fires_under_its_new_name() {
    let out = history(&[
        "CREATE TABLE post (id int);\nCREATE TABLE audit (id int);\n\
         CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE audit IN SHARE MODE; RETURN NULL; END $$;\n\
         CREATE TRIGGER post_guard AFTER DELETE ON post EXECUTE FUNCTION guard();",
        "ALTER TRIGGER post_guard ON post RENAME TO post_guard_v2;\n\
         DROP TRIGGER IF EXISTS post_guard ON post;\nDELETE FROM post;\n\
         DROP TRIGGER post_guard_v2 ON post;\nDELETE FROM post;",
    ]);
    use LockMode::{AccessExclusive, RowExclusive, Share};
    assert_eq!(sorted_locks(&out[1], 0), [("post", AccessExclusive)]);
    assert!(rules(&out[1]).contains(&"trigger-lock"));
    // The old name is gone: IF EXISTS finds nothing and locks nothing.
    assert!(sorted_locks(&out[1], 1).is_empty());
    assert_eq!(
        sorted_locks(&out[1], 2),
        [("audit", Share), ("post", RowExclusive)]
    );
    assert_eq!(sorted_locks(&out[1], 4), [("post", RowExclusive)]);
}

#[test]
fn an_identifier_longer_than_63_bytes_is_cut_as_the_server_cuts_it() {
    let long = "idx_post_aggregates_featured_community_newest_comment_time_necro";
    assert_eq!(long.len(), 64);
    let out = history(&[
        &format!("CREATE TABLE post (id int);\nCREATE INDEX {long} ON post (id);"),
        &format!("DROP INDEX {};", &long[..63]),
    ]);
    assert_eq!(
        sorted_locks(&out[1], 0),
        [
            (&long[..63], LockMode::AccessExclusive),
            ("post", LockMode::AccessExclusive)
        ]
    );
}

#[test]
fn a_lock_in_a_branch_of_a_do_block_is_conditional() {
    let out = history(&[
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);",
        "DO $$\nBEGIN\n  UPDATE c SET id = id;\n  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'x') THEN\n    ALTER TABLE a ADD COLUMN x int;\n  END IF;\n  FOR i IN 1..3 LOOP\n    INSERT INTO b VALUES (i);\n  END LOOP;\nEND\n$$;",
    ]);
    let conditional = |relation: &str| {
        out[1].statements[0]
            .locks
            .iter()
            .find(|l| l.relation == relation)
            .map(|l| l.conditional)
    };
    assert_eq!(conditional("a"), Some(true));
    assert_eq!(conditional("b"), Some(true));
    assert_eq!(conditional("c"), Some(false));
}

#[test]
fn drop_table_names_the_tables_its_keys_reference_and_what_cascade_drops() {
    let schema = "CREATE TABLE a (id int PRIMARY KEY);\n\
                  CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));\n\
                  CREATE TABLE c (id int PRIMARY KEY, b_id int REFERENCES b (id));\n\
                  CREATE TABLE lone (id int);";
    let out = history(&[
        schema,
        "DROP TABLE b CASCADE;",
        "DROP TABLE c;\nDROP TABLE lone;",
    ]);
    // Without CASCADE, a table another table's key references cannot be dropped; dropped with
    // that table in one statement, it can.
    let fails = history(&[schema, "DROP TABLE b;"]);
    let alone = &fails[1]
        .findings
        .iter()
        .find(|f| f.rule == "drop-table")
        .unwrap()
        .message;
    assert!(
        alone.contains(
            "as written it fails, since the foreign key \"c_b_id_fkey\" of \"c\" depends on it"
        ),
        "{alone}"
    );
    let both = history(&[schema, "DROP TABLE c, b;"]);
    let together: Vec<&str> = both[1]
        .findings
        .iter()
        .filter(|f| f.rule == "drop-table")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(together.len(), 2, "{together:?}");
    assert!(
        together.iter().all(|m| !m.contains("fails")),
        "{together:?}"
    );
    let message = |a: &Analysis, table: &str| {
        a.findings
            .iter()
            .find(|f| f.rule == "drop-table" && f.table.as_deref() == Some(table))
            .map(|f| {
                (
                    f.message.clone(),
                    f.safe_alternative.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_else(|| panic!("no drop-table on {table}: {:?}", a.findings))
    };
    let (b, _) = message(&out[1], "b");
    assert!(
        b.contains("the same lock on \"a\", which its foreign key references"),
        "{b}"
    );
    assert!(
        b.contains("CASCADE also drops the foreign key \"c_b_id_fkey\" of \"c\""),
        "{b}"
    );
    // CASCADE drops c's key: c is locked as the server locks it.
    let c_lock = out[1].statements[0]
        .locks
        .iter()
        .find(|l| l.relation == "c")
        .map(|l| l.mode);
    assert_eq!(c_lock, Some(LockMode::AccessExclusive));
    // After the CASCADE, c has no key left: dropping it locks no other table.
    let (c, c_help) = message(&out[2], "c");
    assert!(!c.contains("same lock on"), "{c}");
    assert!(!c_help.contains("foreign keys"), "{c_help}");
    assert_eq!(
        out[2].statements[0].locks.len(),
        1,
        "{:?}",
        out[2].statements[0].locks
    );
    let (lone, _) = message(&out[2], "lone");
    assert!(!lone.contains("foreign key"), "{lone}");
    // A table the model does not know (no history) may have keys: said as a possibility.
    let unknown = lockstep::analysis::analyze(
        "DROP TABLE somewhere;",
        &lockstep::analysis::AnalysisContext::default(),
    );
    let (generic, _) = message(&unknown, "somewhere");
    assert!(
        generic.contains("each table its foreign keys reference"),
        "{generic}"
    );
}

#[test]
fn a_dropped_column_takes_its_key_along_and_a_table_made_from_a_view_does_not_depend_on_it() {
    // Found on lemmy's migrations: both read as "as written it fails" although they ran.
    let out = history(&[
        "CREATE TABLE a (id int PRIMARY KEY);\n\
         CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a (id));\n\
         CREATE VIEW v AS SELECT id FROM a;\n\
         CREATE TABLE fast AS SELECT * FROM v;",
        "ALTER TABLE c DROP COLUMN a_id;\nDROP TABLE a CASCADE;",
    ]);
    let messages: Vec<&str> = out[1].findings.iter().map(|f| f.message.as_str()).collect();
    let drop = messages
        .iter()
        .find(|m| m.starts_with("DROP TABLE \"a\""))
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(drop.contains("CASCADE also drops view \"v\""), "{drop}");
    assert!(
        !drop.contains("fast"),
        "CREATE TABLE … AS keeps no link: {drop}"
    );
    assert!(
        !drop.contains("foreign key"),
        "c's key went with its column: {drop}"
    );
    // Nothing locks c for the key that is gone.
    assert!(
        out[1].statements[1].locks.iter().all(|l| l.relation != "c"),
        "{:?}",
        out[1].statements[1].locks
    );
}

#[test]
fn what_a_later_file_drops_is_found_where_the_earlier_files_moved_it() {
    // The model's objects by table are kept from file to file: a key and an index follow their
    // table's rename, and a new table under the old name has neither.
    let out = history(&[
        "CREATE TABLE a (id int PRIMARY KEY);\n\
         CREATE TABLE c (id int, a_id int REFERENCES a (id));\n\
         CREATE INDEX a_created ON a (id);",
        "ALTER TABLE a RENAME TO b;\nCREATE TABLE a (id int);",
        "DROP TABLE a;\nDROP INDEX a_created;",
        "DROP TABLE b CASCADE;",
    ]);
    let drop_message = |a: &Analysis, table: &str| {
        a.findings
            .iter()
            .find(|f| f.rule == "drop-table" && f.table.as_deref() == Some(table))
            .map(|f| f.message.clone())
            .unwrap_or_else(|| panic!("no drop-table on {table}: {:?}", a.findings))
    };
    let new_a = drop_message(&out[2], "a");
    assert!(!new_a.contains("c_a_id_fkey"), "{new_a}");
    assert!(!new_a.contains("fails"), "{new_a}");
    assert_eq!(sorted_locks(&out[2], 0), [("a", LockMode::AccessExclusive)]);
    assert_eq!(
        sorted_locks(&out[2], 1),
        [
            ("a_created", LockMode::AccessExclusive),
            ("b", LockMode::AccessExclusive)
        ]
    );
    let b = drop_message(&out[3], "b");
    assert!(
        b.contains("CASCADE also drops the foreign key \"c_a_id_fkey\" of \"c\""),
        "{b}"
    );
    assert!(
        out[3].statements[0].locks.iter().any(|l| l.relation == "c"),
        "{:?}",
        out[3].statements[0].locks
    );
}

#[test]
fn the_lock_window_is_reported_once_per_transaction_naming_the_earlier_statement() {
    let out = history(&[
        USERS,
        "ALTER TABLE users ADD COLUMN c int;\nUPDATE users SET c = 1;\nUPDATE users SET c = 2;",
    ]);
    let window: Vec<_> = out[1]
        .findings
        .iter()
        .filter(|f| f.rule == "lock-held-across-statements")
        .collect();
    assert_eq!(window.len(), 1, "{:?}", out[1].findings);
    assert_eq!(window[0].statement_index, Some(1));
    assert!(
        window[0].message.contains("taken at line 1 (ADD COLUMN)")
            && window[0].message.contains("ACCESS EXCLUSIVE"),
        "{}",
        window[0].message
    );
    assert!(
        window[0]
            .message
            .starts_with("this statement (UPDATE) changes rows of \"users\""),
        "{}",
        window[0].message
    );
    assert_eq!(out[1].statements[1].kind, "UPDATE");
    // The badge stays: every later statement knows the lock is held.
    assert_eq!(out[1].statements[2].held_before.len(), 1);
}

#[test]
fn the_database_catalogue_wins_and_an_empty_table_weighs_less() {
    use lockstep::analysis::{AnalysisContext, Relation, RelationKind, Severity, analyze};
    let mut catalog = Catalog::empty_database();
    let mut users = Relation::of(RelationKind::Table);
    users.rows = Some(0);
    users
        .columns
        .insert("name".to_string(), "character varying(50)".to_string());
    catalog.relations.insert("users".to_string(), users);
    let mut orders = Relation::of(RelationKind::Table);
    orders.rows = Some(1_000_000);
    catalog.relations.insert("orders".to_string(), orders);
    catalog
        .indexes
        .insert("orders_amount".to_string(), "orders".to_string());
    let ctx = AnalysisContext {
        catalog,
        ..AnalysisContext::default()
    };
    let analysis = analyze(
        "CREATE INDEX a ON users (name);\nCREATE INDEX b ON orders (amount);\nALTER TABLE users ALTER COLUMN name TYPE text;\nDROP TABLE IF EXISTS ghost;\nDROP INDEX orders_amount;",
        &ctx,
    );
    let severity = |line: usize| {
        analysis
            .findings
            .iter()
            .find(|f| f.rule == "require-concurrent-index" && f.start.line == line)
            .map(|f| f.severity)
    };
    assert_eq!(severity(1), Some(Severity::Warning), "users is empty");
    assert_eq!(severity(2), Some(Severity::Error));
    // The rows the scan goes through, as the database estimates them; none said for an empty table.
    let lock = &analysis.statements[1].locks[0];
    assert_eq!(
        (lock.relation.as_str(), lock.rows),
        ("orders", Some(1_000_000))
    );
    assert_eq!(
        lock.rows_note().as_deref(),
        Some("about 1.0M rows in the database")
    );
    assert_eq!(analysis.statements[0].locks[0].rows, Some(0));
    assert_eq!(analysis.statements[0].locks[0].rows_note(), None);
    // A brief lock is not weighed by rows.
    assert_eq!(analysis.statements[4].locks[0].rows, None);
    let rules: Vec<&str> = analysis.findings.iter().map(|f| f.rule).collect();
    assert!(!rules.contains(&"column-type-rewrite"), "{rules:?}");
    assert!(!rules.contains(&"drop-table"), "{rules:?}");
    assert!(
        analysis.statements[4]
            .locks
            .iter()
            .any(|l| l.relation == "orders" && l.mode == LockMode::AccessExclusive)
    );
}

/// A table the database has empty is filled by an earlier migration of the run: the index built
/// after it meets rows, so it weighs in full (and no row count is claimed for it).
#[test]
fn rows_written_by_an_earlier_migration_make_the_database_count_unknown() {
    use lockstep::analysis::{Relation, RelationKind, Severity};
    let mut catalog = Catalog::empty_database();
    let mut users = Relation::of(RelationKind::Table);
    users.rows = Some(0);
    catalog.relations.insert("users".to_string(), users);
    let mut orders = Relation::of(RelationKind::Table);
    orders.rows = Some(1_000);
    catalog.relations.insert("orders".to_string(), orders);
    let run = |texts: &[&str]| {
        let opts = LintOptions {
            session_lock_timeout: true,
            catalog: catalog.clone(),
            chain: Chain::Run {
                applied_before: None,
            },
            ..LintOptions::default()
        };
        lint_files(&files(texts), &opts)
            .files
            .into_iter()
            .map(|f| f.analysis)
            .collect::<Vec<_>>()
    };
    let index = "CREATE INDEX users_name ON users (name);";
    let severity = |analysis: &Analysis| {
        analysis
            .findings
            .iter()
            .find(|f| f.rule == "require-concurrent-index")
            .map(|f| f.severity)
    };
    let alone = run(&["SELECT 1;", index]);
    assert_eq!(severity(&alone[1]), Some(Severity::Warning), "still empty");
    let filled = run(&[
        "INSERT INTO users (id, name) SELECT g, 'n' FROM generate_series(1, 10) g;",
        index,
    ]);
    assert_eq!(severity(&filled[1]), Some(Severity::Error), "filled first");
    assert_eq!(filled[1].statements[0].locks[0].rows, None);
    // A table with rows keeps the database's estimate.
    let updated = run(&[
        "UPDATE orders SET id = id;",
        "CREATE INDEX orders_id ON orders (id);",
    ]);
    assert_eq!(updated[1].statements[0].locks[0].rows, Some(1_000));
}

/// Many files, some big enough to be parsed on a worker thread and enough in total for several
/// workers and runs of files: each file still meets exactly the files before it, as it does when
/// it is the last of a lint of fewer files.
#[test]
fn files_parsed_on_workers_meet_their_history_in_order() {
    let mut texts: Vec<String> = vec![USERS.to_string()];
    for i in 0..40 {
        let mut text = format!("ALTER TABLE users ADD COLUMN c{i} int;\n");
        if i % 2 == 0 {
            // Over 1 KiB: parsed on a worker's big stack.
            for j in 0..80 {
                text.push_str(&format!(
                    "CREATE INDEX IF NOT EXISTS ix_{i}_{j} ON users (c{i});\n"
                ));
            }
        }
        text.push_str(&format!(
            "ALTER TABLE users ALTER COLUMN c{i} TYPE bigint;\n"
        ));
        texts.push(text);
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let total: usize = texts.iter().map(|t| t.len()).sum();
    assert!(
        total > 64 * 1024,
        "{total} bytes: enough for several workers"
    );
    let whole = history(&texts);
    assert_eq!(whole.len(), texts.len());
    for n in [2, 5, 13, 28, texts.len()] {
        let prefix = history(&texts[..n]);
        assert_eq!(
            serde_json::to_value(&prefix[n - 1]).unwrap(),
            serde_json::to_value(&whole[n - 1]).unwrap(),
            "migration {n}"
        );
    }
    // The later files know the earlier ones' columns: the type change of an int is a rewrite.
    assert!(
        rules(&whole[40]).contains(&"column-type-rewrite"),
        "{:?}",
        rules(&whole[40])
    );
}

#[test]
fn using_the_column_itself_is_a_plain_type_change_and_timestamptz_names_the_time_zone() {
    // Found on lemmy's `fix-timezones`: `USING published` read as a rewrite.
    let out = history(&[
        "CREATE TABLE t (published timestamp, n int);",
        "ALTER TABLE t ALTER COLUMN published TYPE timestamptz USING published;\n\
         ALTER TABLE t ALTER COLUMN n TYPE bigint USING n;\n\
         ALTER TABLE t ALTER COLUMN n TYPE int USING n + 1;",
    ]);
    let rewrites: Vec<bool> = out[1]
        .statements
        .iter()
        .map(|s| s.locks.iter().any(|l| l.rewrite))
        .collect();
    assert_eq!(rewrites, vec![false, true, true]);
    let note = out[1]
        .findings
        .iter()
        .find(|f| f.statement_index == Some(0) && f.rule == "column-type-rewrite")
        .expect("a note on the timestamptz change");
    assert_eq!(note.severity, lockstep::analysis::Severity::Info);
    assert!(
        note.message.contains("session's TimeZone is UTC"),
        "{}",
        note.message
    );
    assert!(
        note.safe_alternative
            .as_deref()
            .is_some_and(|h| h.contains("SET LOCAL TimeZone = 'UTC'")),
        "{:?}",
        note.safe_alternative
    );
}

#[test]
fn a_utc_session_makes_timestamptz_changes_metadata_only() {
    // lemmy's `fix-timezones` sets the zone first, as the note advises.
    let notes = |change: &str| -> usize {
        let out = history(&["CREATE TABLE t (published timestamp);", change]);
        out[1]
            .findings
            .iter()
            .filter(|f| f.rule == "column-type-rewrite")
            .count()
    };
    let alter = "ALTER TABLE t ALTER COLUMN published TYPE timestamptz;";
    assert_eq!(notes(alter), 1);
    assert_eq!(notes(&format!("SET timezone = 'UTC';\n{alter}")), 0);
    assert_eq!(
        notes(&format!("SET LOCAL TimeZone = 'Etc/UTC';\n{alter}")),
        0
    );
    assert_eq!(
        notes(&format!("SET timezone = 'Europe/Paris';\n{alter}")),
        1
    );
    assert_eq!(
        notes(&format!("SET timezone = 'UTC';\nRESET timezone;\n{alter}")),
        1
    );
}

/// lemmy's `replaceable-schema` drops 31 functions with CASCADE, which drops the triggers that
/// execute them and locks each of their tables ACCESS EXCLUSIVE. The model knows the triggers
/// from the migrations before (a trigger already dropped is gone; a function without CASCADE
/// drops nothing along).
#[test]
fn drop_function_cascade_locks_the_tables_of_the_triggers_it_drops() {
    let setup = "CREATE TABLE s (id int);\nCREATE TABLE u (id int);\nCREATE TABLE w (id int);\n\
        CREATE FUNCTION f1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
        CREATE TRIGGER t1 BEFORE UPDATE ON s FOR EACH ROW EXECUTE PROCEDURE public.f1();\n\
        CREATE TRIGGER t2 BEFORE UPDATE ON u FOR EACH ROW EXECUTE FUNCTION f1();\n\
        CREATE TRIGGER t3 BEFORE UPDATE ON w FOR EACH ROW EXECUTE FUNCTION f1();";
    let runs = history(&[
        setup,
        "DROP TRIGGER t3 ON w;",
        "DROP FUNCTION f1(), other CASCADE;",
    ]);
    let locked = locks_of(&runs[2].statements[0]);
    assert_eq!(
        locked,
        [
            ("s", LockMode::AccessExclusive),
            ("u", LockMode::AccessExclusive)
        ]
    );
    let messages: Vec<&str> = runs[2]
        .findings
        .iter()
        .filter(|f| f.rule == "trigger-lock")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("the trigger \"t1\" on \"s\""),
        "{messages:?}"
    );
    let without = history(&[setup, "DROP FUNCTION f1();"]);
    assert!(without[1].statements[0].locks.is_empty());
}

#[test]
fn a_dropped_procedure_or_routine_runs_nothing_any_more() {
    let setup = "CREATE TABLE orders (id int, n int);\n\
        CREATE PROCEDURE tidy() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM orders WHERE n < 0; END $$;\n\
        CREATE PROCEDURE public.sweep() LANGUAGE sql AS 'DELETE FROM orders';";
    let runs = history(&[
        setup,
        "CALL tidy();\nCALL sweep();",
        "DROP PROCEDURE IF EXISTS tidy();\nDROP ROUTINE public.sweep;\nCALL tidy();\nCALL sweep();",
    ]);
    // Called while they exist, each deletes from orders.
    for i in 0..2 {
        assert_eq!(
            sorted_locks(&runs[1], i),
            [("orders", LockMode::RowExclusive)]
        );
    }
    // Dropped, they are gone from the model: a CALL runs nothing it knows of.
    for i in 2..4 {
        assert!(
            runs[2].statements[i].locks.is_empty(),
            "{:?}",
            runs[2].statements[i].locks
        );
    }
}

#[test]
fn a_renamed_function_is_called_by_its_new_name_and_its_triggers_follow_it() {
    let setup = "CREATE TABLE orders (id int, n int);\n\
        CREATE TABLE audit (id int);\n\
        CREATE FUNCTION tidy() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM orders WHERE n < 0; END $$;\n\
        CREATE FUNCTION app.log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$;\n\
        CREATE TRIGGER logged AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION app.log();";
    let runs = history(&[
        setup,
        "ALTER FUNCTION tidy() RENAME TO sweep;\n\
         SELECT sweep();\n\
         SELECT tidy();\n\
         ALTER FUNCTION app.log() RENAME TO record;\n\
         ALTER ROUTINE app.record SET SCHEMA public;\n\
         INSERT INTO orders VALUES (1, 1);\n\
         SELECT record();",
    ]);
    let run = &runs[1];
    // The body follows the new name; the old name calls nothing known.
    assert_eq!(sorted_locks(run, 1), [("orders", LockMode::RowExclusive)]);
    assert!(
        run.statements[2].locks.is_empty(),
        "{:?}",
        run.statements[2].locks
    );
    // Renamed in its schema, then moved to public: the trigger still runs it.
    let insert: Vec<(&str, LockMode, Option<&str>)> = run.statements[5]
        .locks
        .iter()
        .map(|l| (l.relation.as_str(), l.mode, l.via.as_deref()))
        .collect();
    assert!(
        insert.contains(&(
            "audit",
            LockMode::RowExclusive,
            Some("trigger \"logged\" on \"orders\"")
        )),
        "{insert:?}"
    );
    assert_eq!(sorted_locks(run, 6), [("audit", LockMode::RowExclusive)]);
    assert_eq!(
        (run.statements[3].kind, run.statements[4].kind),
        ("ALTER FUNCTION", "ALTER ROUTINE")
    );
}

#[test]
fn and_chain_begins_the_next_transaction_at_once() {
    let out = history(&[
        "CREATE TABLE t (id int);",
        // In sqlx's transaction: committed early, and the rest still in a transaction.
        "ALTER TABLE t ADD COLUMN c int;\nCOMMIT AND CHAIN;\nALTER TABLE t ADD COLUMN d int;",
        "ALTER TABLE t ADD COLUMN e int;\nROLLBACK AND CHAIN;\nALTER TABLE t ADD COLUMN f int;",
        // In a transaction of the file's own: CONCURRENTLY after the chain is still inside one,
        // and the chained transaction is never committed.
        "-- no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\nCREATE INDEX CONCURRENTLY t_id ON t (id);",
    ]);
    let message = |a: &Analysis, rule: &str| {
        a.findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| f.message.clone())
            .unwrap_or_else(|| panic!("no {rule}: {:?}", a.findings))
    };
    assert!(
        message(&out[1], "transaction-nesting").starts_with(
            "COMMIT AND CHAIN inside the runner's transaction commits the statements before it on their own and begins another transaction"
        )
    );
    assert!(out[1].statements[2].in_transaction);
    assert!(message(&out[2], "transaction-nesting").starts_with(
        "ROLLBACK AND CHAIN inside the runner's transaction undoes every statement before it"
    ));
    assert!(
        out[3]
            .findings
            .iter()
            .any(|f| f.rule == "not-in-transaction-block" && f.start.line == 5),
        "{:?}",
        out[3].findings
    );
    let open = message(&out[3], "uncommitted-transaction");
    assert!(
        open.starts_with("AND CHAIN begins a transaction no COMMIT ends"),
        "{open}"
    );
}

#[test]
fn the_lock_window_names_the_function_that_took_the_lock() {
    let out = history(&[
        "CREATE TABLE orders (id int);\nCREATE TABLE other (id int);\n\
         CREATE PROCEDURE hold() LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE orders IN SHARE MODE; END $$;",
        "CALL hold();\nUPDATE other SET id = id + 1;",
    ]);
    let window = out[1]
        .findings
        .iter()
        .find(|f| f.rule == "lock-held-across-statements")
        .unwrap_or_else(|| panic!("{:?}", out[1].findings));
    assert!(
        window
            .message
            .contains("taken at line 1 (LOCK TABLE, run by function hold())"),
        "{}",
        window.message
    );
}

/// `DROP TRIGGER IF EXISTS` of a trigger the history never created (the idempotent
/// drop-then-create of crates.io's migrations) locks nothing, as on the server
/// (`ground_truth::predicted_locks_and_rewrites_match_the_server`); of one it created, the table
/// ACCESS EXCLUSIVE. Analysed without a history or a database, nothing tells, so each keeps it.
#[test]
fn drop_trigger_if_exists_of_a_trigger_that_is_not_there_locks_nothing() {
    let setup = "CREATE TABLE jobs (id int);\n\
        CREATE FUNCTION notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
        CREATE TRIGGER old_notify AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION notify();";
    let file = "DROP TRIGGER IF EXISTS jobs_notify ON jobs;\n\
        DROP TRIGGER IF EXISTS old_notify ON jobs;\n\
        DROP TRIGGER IF EXISTS jobs_notify ON no_such_table;";
    let runs = history(&[setup, file]);
    let locks: Vec<Vec<(&str, LockMode)>> = runs[1].statements.iter().map(locks_of).collect();
    assert_eq!(
        locks,
        [vec![], vec![("jobs", LockMode::AccessExclusive)], vec![]]
    );
    let lines: Vec<usize> = runs[1]
        .findings
        .iter()
        .filter(|f| f.rule == "trigger-lock")
        .map(|f| f.start.line)
        .collect();
    assert_eq!(lines, [2]);
    let alone = super::common::run(file);
    assert_eq!(
        alone
            .findings
            .iter()
            .filter(|f| f.rule == "trigger-lock")
            .count(),
        3
    );
}

/// `DROP CONSTRAINT c, ADD CONSTRAINT c FOREIGN KEY …` in one statement replaces the key (the
/// server drops in an earlier pass than it adds, whatever the order written), as crates.io's
/// `ensure_crate_id_foreign_keys_cascade` does: the table still references the other one, so
/// dropping it later locks that one too (the server took ACCESS EXCLUSIVE on `crates`).
#[test]
fn a_foreign_key_dropped_and_added_again_in_one_statement_is_still_there() {
    let runs = history(&[
        "CREATE TABLE crates (id int PRIMARY KEY);\n\
         CREATE TABLE downloads (crate_id int);\n\
         ALTER TABLE downloads ADD CONSTRAINT fk_crate FOREIGN KEY (crate_id) REFERENCES crates (id);",
        "ALTER TABLE downloads DROP CONSTRAINT fk_crate, ADD CONSTRAINT fk_crate FOREIGN KEY (crate_id) REFERENCES crates (id) ON DELETE CASCADE;",
        "DROP TABLE downloads;",
    ]);
    let locked = locks_of(&runs[2].statements[0]);
    assert_eq!(
        locked,
        [
            ("downloads", LockMode::AccessExclusive),
            ("crates", LockMode::AccessExclusive)
        ]
    );
}

/// A table rebuilt and swapped in within one transaction keeps its name: DROP TABLE and RENAME
/// TO say which statement gives the name back instead of "breaks running code"; a table renamed
/// earlier in the transaction is dropped under the RENAME's lock, unseen by production; and the
/// copy that read the old table under ACCESS SHARE only is named as losing the writes after it.
#[test]
fn a_table_swapped_in_one_transaction_keeps_its_name() {
    let found = history(&[
        "CREATE TABLE items (id int, name text);\nCREATE TABLE logs (version bigint);",
        "CREATE TABLE items_new (id bigint, name text);\nINSERT INTO items_new SELECT id, name FROM items;\nDROP TABLE items;\nALTER TABLE items_new RENAME TO items;",
        "DO $$ BEGIN ALTER TABLE logs RENAME TO logs_old; CREATE TABLE logs (line text, version bigint); INSERT INTO logs SELECT 'main', version FROM logs_old; DROP TABLE logs_old; END $$;",
    ]);
    let message = |analysis: &Analysis, rule: &str| -> String {
        analysis
            .findings
            .iter()
            .find(|f| f.rule == rule)
            .map(|f| f.message.clone())
            .unwrap_or_else(|| panic!("no {rule} in {:?}", rules(analysis)))
    };
    let rebuild = &found[1];
    assert!(
        message(rebuild, "drop-table")
            .contains("the statement at line 4 gives another table its name"),
        "{}",
        message(rebuild, "drop-table")
    );
    let lost = message(rebuild, "copy-loses-writes");
    assert!(
        lost.contains("after the statement at line 2 copied from it")
            && lost.contains("ACCESS SHARE"),
        "{lost}"
    );
    let lost_help = rebuild
        .findings
        .iter()
        .find(|f| f.rule == "copy-loses-writes")
        .and_then(|f| f.safe_alternative.clone())
        .unwrap_or_default();
    assert!(
        lost_help.contains("LOCK TABLE \"items\" IN EXCLUSIVE MODE before line 2"),
        "{lost_help}"
    );
    let swap = &found[2];
    assert!(
        message(swap, "rename-table")
            .contains("later in this statement gives another table the name \"logs\""),
        "{}",
        message(swap, "rename-table")
    );
    assert_eq!(
        rules(swap)
            .iter()
            .filter(|r| **r == "drop-table" || **r == "copy-loses-writes")
            .count(),
        0,
        "{:?}",
        rules(swap)
    );
    // Without the swap, the drop still breaks running code.
    let plain = history(&["CREATE TABLE t (id int);", "DROP TABLE t;"]);
    assert!(message(&plain[1], "drop-table").contains("breaks code that still uses it"));
}

/// The lock window names the lock held on the table the work is on, when one is held: the
/// reader sees that the scanned table itself stays blocked (documenso's `add_teams` adds columns
/// to "Document" and "Subscription", then indexes "Subscription").
#[test]
fn the_lock_window_names_the_lock_on_the_table_the_work_is_on() {
    let found = history(&[
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);",
        "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;\nCREATE INDEX b_y ON b (y);",
    ]);
    let window = found[1]
        .findings
        .iter()
        .find(|f| f.rule == "lock-held-across-statements")
        .unwrap_or_else(|| panic!("no lock window in {:?}", rules(&found[1])));
    assert!(
        window
            .message
            .contains("lock on \"b\" taken at line 2 (ADD COLUMN)"),
        "{}",
        window.message
    );
    assert_eq!(
        window.safe_alternative.as_deref(),
        Some(
            "run this work in its own migration (or before line 2), so the lock on \"b\" is held only briefly"
        )
    );
}

const EVENTS: &str = "CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL, user_id bigint) PARTITION BY RANGE (created_at);
CREATE TABLE events_2026_11 PARTITION OF events FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE events_2026_12 PARTITION OF events FOR VALUES FROM ('2026-12-01') TO ('2027-01-01') PARTITION BY HASH (id);
CREATE TABLE events_2026_12_h0 PARTITION OF events_2026_12 FOR VALUES WITH (MODULUS 1, REMAINDER 0);";

/// The findings of one rule, as (message, help, whether a fix is offered).
fn findings_of<'a>(analysis: &'a Analysis, rule: &str) -> Vec<(&'a str, &'a str, bool)> {
    analysis
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            (
                f.message.as_str(),
                f.safe_alternative.as_deref().unwrap_or(""),
                f.fix.is_some(),
            )
        })
        .collect()
}

#[test]
fn a_partitioned_table_from_earlier_migrations_locks_its_partitions_and_gets_advice_that_runs() {
    let out = history(&[
        EVENTS,
        // 2: an ALTER and an index build on the partitioned table recurse to every partition.
        "ALTER TABLE events ADD COLUMN kind text;\nCREATE INDEX events_kind ON events (kind);",
        // 3: CONCURRENTLY is refused on a partitioned table; on a partition it is the way.
        "-- no-transaction\nCREATE INDEX CONCURRENTLY events_user ON events (user_id);",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY events_2026_11_user ON events_2026_11 (user_id);",
        // 5: ON ONLY builds nothing; attaching the partition's index is the recipe's next step.
        "CREATE INDEX events_user_idx ON ONLY events (user_id);",
        // 6: NOT VALID is refused on a partitioned table before 18.
        "ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        "ALTER TABLE events ADD CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        // 8: dropping a partition locks the partitioned table; its index cannot go concurrently.
        "DROP TABLE events_2026_11;",
        "-- no-transaction\nDROP INDEX CONCURRENTLY events_kind;",
        // 10: detached, a partition is a table of its own.
        "ALTER TABLE events DETACH PARTITION events_2026_12;\nALTER TABLE events ADD COLUMN note text;",
    ]);
    let every = ["events_2026_11", "events_2026_12", "events_2026_12_h0"];
    let locked = |a: &Analysis, s: usize| -> Vec<(String, LockMode, Option<String>)> {
        a.statements[s]
            .locks
            .iter()
            .map(|l| (l.relation.clone(), l.mode, l.partition_of.clone()))
            .collect()
    };
    let expect = |mode: LockMode, also: &[&str]| -> Vec<(String, LockMode, Option<String>)> {
        std::iter::once(("events".to_string(), mode, None))
            .chain(
                also.iter()
                    .map(|p| (p.to_string(), mode, Some("events".to_string()))),
            )
            .collect()
    };
    assert_eq!(
        locked(&out[1], 0),
        expect(LockMode::AccessExclusive, &every)
    );
    assert_eq!(locked(&out[1], 1), expect(LockMode::Share, &every));
    let index = findings_of(&out[1], "require-concurrent-index");
    assert_eq!(index.len(), 1, "{:?}", out[1].findings);
    let (message, help, fix) = index[0];
    assert!(
        message.ends_with(
            "; it also locks its 3 partitions (\"events_2026_11\", \"events_2026_12\", \"events_2026_12_h0\")"
        ),
        "{message}"
    );
    // The advice names the partitions that hold rows, and no fix adds a CONCURRENTLY that fails.
    assert!(
        help.contains("CREATE INDEX ix ON ONLY \"events\""),
        "{help}"
    );
    assert!(
        help.contains("each partition (\"events_2026_11\", \"events_2026_12_h0\")"),
        "{help}"
    );
    assert!(!fix);

    assert_eq!(
        rules(&out[2]),
        ["fails-on-partitioned-table"],
        "{:?}",
        out[2].findings
    );
    assert!(!rules(&out[3]).contains(&"fails-on-partitioned-table"));
    assert_eq!(locked(&out[4], 0), expect(LockMode::Share, &[]));
    assert!(rules(&out[4]).is_empty(), "{:?}", out[4].findings);

    assert!(rules(&out[5]).contains(&"fails-on-partitioned-table"));
    let key = findings_of(&out[6], "foreign-key-needs-not-valid");
    assert_eq!(key.len(), 1);
    assert!(
        key[0]
            .1
            .contains("NOT VALID is refused on a partitioned table before PostgreSQL 18")
    );
    assert!(!key[0].2, "no fix adds the NOT VALID the server refuses");

    let drop = findings_of(&out[7], "drop-table");
    assert!(
        drop[0]
            .0
            .contains("the same lock on its partitioned table \"events\""),
        "{}",
        drop[0].0
    );
    assert!(
        drop[0]
            .1
            .starts_with("DETACH PARTITION \"events_2026_11\" CONCURRENTLY")
    );
    assert!(locked(&out[7], 0).contains(&("events".to_string(), LockMode::AccessExclusive, None)));
    assert_eq!(
        rules(&out[8]),
        ["fails-on-partitioned-table"],
        "{:?}",
        out[8].findings
    );
    // After the drop and the detach, no partition is left to lock.
    assert_eq!(locked(&out[9], 1), expect(LockMode::AccessExclusive, &[]));
}

#[test]
fn a_default_partition_is_locked_and_scanned_for_each_new_partition_and_bars_a_concurrent_detach() {
    let out = history(&[
        "CREATE TABLE m (id int, at date) PARTITION BY RANGE (at);\nCREATE TABLE m_default PARTITION OF m DEFAULT;\nCREATE TABLE m_2026 PARTITION OF m FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        "CREATE TABLE m_2027 PARTITION OF m FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
        "CREATE TABLE m_2028 (id int, at date);\nALTER TABLE m ATTACH PARTITION m_2028 FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');",
        "-- no-transaction\nALTER TABLE m DETACH PARTITION m_2026 CONCURRENTLY;",
        "ALTER TABLE m DETACH PARTITION m_2028;",
        "DROP TABLE m_2027;",
    ]);
    // Made in the same migration, the default partition is new: nothing to scan.
    assert!(rules(&out[0]).is_empty(), "{:?}", out[0].findings);
    let default_lock = |a: &Analysis, s: usize| {
        a.statements[s]
            .locks
            .iter()
            .find(|l| l.relation == "m_default")
            .map(|l| (l.mode, l.scan, l.partition_of.clone()))
    };
    let scanned = Some((LockMode::AccessExclusive, true, Some("m".to_string())));
    assert_eq!(default_lock(&out[1], 0), scanned);
    assert_eq!(
        rules(&out[1]),
        [
            "default-partition-scan",
            "create-partition-locks-parent",
            "missing-statement-timeout"
        ],
        "{:?}",
        out[1].findings
    );
    let scan = findings_of(&out[1], "default-partition-scan");
    assert!(
        scan[0].1.contains("CHECK constraint to \"m_default\""),
        "{}",
        scan[0].1
    );
    let create = findings_of(&out[1], "create-partition-locks-parent");
    assert!(create[0].1.contains("ATTACH PARTITION"), "{}", create[0].1);
    // ATTACH takes SHARE UPDATE EXCLUSIVE on the partitioned table, but scans the default too.
    assert_eq!(default_lock(&out[2], 1), scanned);
    assert!(rules(&out[2]).contains(&"default-partition-scan"));
    assert!(!rules(&out[2]).contains(&"create-partition-locks-parent"));
    // Beside a default partition, CONCURRENTLY is refused, and no advice or fix offers it.
    assert!(
        rules(&out[3]).contains(&"fails-on-partitioned-table"),
        "{:?}",
        out[3].findings
    );
    // One finding per DETACH, on the partitioned table (not one more for the partition).
    assert_eq!(findings_of(&out[3], "fails-on-partitioned-table").len(), 1);
    let detach = findings_of(&out[4], "require-concurrent-detach");
    assert_eq!(detach.len(), 1, "{:?}", out[4].findings);
    assert!(
        detach[0].0.ends_with("\"m\" (blocks reads and writes) and on the partition it detaches; it also locks its partition \"m_default\""),
        "{}",
        detach[0].0
    );
    assert!(
        detach
            .iter()
            .all(|(_, help, fix)| help.contains("refused") && !fix),
        "{detach:?}"
    );
    let unscanned = Some((LockMode::AccessExclusive, false, Some("m".to_string())));
    assert_eq!(default_lock(&out[4], 0), unscanned);
    let drop = findings_of(&out[5], "drop-table");
    assert!(drop[0].1.starts_with("SET lock_timeout"), "{}", drop[0].1);
    assert_eq!(default_lock(&out[5], 0), unscanned);
}

/// CREATE OR REPLACE VIEW of a view no earlier migration created makes it: its lock is on a new
/// relation and blocks nobody (lemmy's `create_report_tables` was warned of a missing
/// lock_timeout); replacing a view that exists locks it.
#[test]
fn create_or_replace_of_a_view_not_there_creates_it() {
    let opts = LintOptions {
        catalog: Catalog::empty_database(),
        chain: Chain::History,
        ..LintOptions::default()
    };
    let out: Vec<Analysis> = lint_files(
        &files(&[
            "CREATE TABLE t (id int);",
            "CREATE OR REPLACE VIEW v AS SELECT id FROM t;",
            "CREATE OR REPLACE VIEW v AS SELECT id, 1 AS one FROM t;",
        ]),
        &opts,
    )
    .files
    .into_iter()
    .map(|f| f.analysis)
    .collect();
    let created = lock_fact(&out[1], 0, "v");
    assert!(created.new_relation, "{created:?}");
    assert!(
        !out[1]
            .findings
            .iter()
            .any(|f| f.rule == "missing-lock-timeout"),
        "{:?}",
        out[1].findings
    );
    let replaced = lock_fact(&out[2], 0, "v");
    assert!(!replaced.new_relation, "{replaced:?}");
    assert_eq!(replaced.mode, LockMode::AccessExclusive);
}

/// An index dropped in a DO block's branch locks its table only when the branch runs, as it
/// locks the index (supabase/auth's `20240806073726` drops an index only when a re-run left two).
#[test]
fn an_index_dropped_in_a_branch_locks_its_table_only_if_the_branch_runs() {
    let out = history(&[
        "CREATE TABLE factors (id int);\nCREATE UNIQUE INDEX factors_id ON factors (id);\n\
         CREATE INDEX factors_id2 ON factors (id);",
        "DO $$ BEGIN IF now() < now() THEN DROP INDEX factors_id; END IF; END $$;\n\
         DO $$ BEGIN DROP INDEX factors_id2; END $$;",
    ]);
    let branch = lock_fact(&out[1], 0, "factors");
    assert_eq!(branch.mode, LockMode::AccessExclusive);
    assert!(branch.conditional, "{branch:?}");
    assert!(!lock_fact(&out[1], 1, "factors").conditional);
}

/// The write of a data-modifying WITH query does what the same statement written at the top
/// does: its row's keys are checked, a DELETE cascades, its table's triggers fire, each with its
/// own events and columns, not the statement's (documenso's `add_organisations` inserts
/// organisations in a WITH query: the server took ROW SHARE on "User", the owner's key).
#[test]
fn a_with_querys_write_checks_keys_cascades_and_fires_triggers() {
    let out = history(&[
        "CREATE TABLE users (id int PRIMARY KEY);\n\
         CREATE TABLE orgs (id int PRIMARY KEY, owner int REFERENCES users (id));\n\
         CREATE TABLE members (org int REFERENCES orgs (id) ON DELETE CASCADE);\n\
         CREATE TABLE teams (id int, org int, owner int);\n\
         CREATE TABLE audit (x int);\n\
         CREATE FUNCTION log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (1); RETURN NULL; END $$;\n\
         CREATE TRIGGER orgs_log AFTER INSERT ON orgs FOR EACH ROW EXECUTE FUNCTION log();",
        "WITH o AS (INSERT INTO orgs (id, owner) SELECT id, id FROM users RETURNING id) UPDATE teams SET org = o.id FROM o;\n\
         WITH gone AS (DELETE FROM orgs RETURNING id) SELECT count(*) FROM gone;\n\
         WITH o AS (INSERT INTO orgs (id) VALUES (5) RETURNING id) UPDATE teams SET owner = 1;",
    ]);
    use LockMode::{RowExclusive, RowShare};
    assert_eq!(
        sorted_locks(&out[1], 0),
        [
            ("audit", RowExclusive),
            ("orgs", RowExclusive),
            ("teams", RowExclusive),
            ("users", RowShare),
        ]
    );
    let audit = lock_fact(&out[1], 0, "audit");
    assert_eq!(
        (audit.via.as_deref(), audit.conditional),
        (Some("trigger \"orgs_log\" on \"orgs\""), true)
    );
    assert!(lock_fact(&out[1], 0, "users").conditional);
    assert_eq!(
        sorted_locks(&out[1], 1),
        [("members", RowExclusive), ("orgs", RowExclusive)]
    );
    let cascade = out[1]
        .findings
        .iter()
        .find(|f| f.rule == "delete-cascades")
        .map(|f| f.message.clone())
        .unwrap_or_else(|| panic!("{:?}", rules(&out[1])));
    assert!(
        cascade.starts_with("the DELETE on \"orgs\" in this statement's WITH query"),
        "{cascade}"
    );
    // The INSERT leaves the owner NULL; the statement's own UPDATE sets teams' "owner", which
    // is no key of "orgs".
    assert_eq!(
        sorted_locks(&out[1], 2),
        [
            ("audit", RowExclusive),
            ("orgs", RowExclusive),
            ("teams", RowExclusive)
        ]
    );
}

/// A copy back from a table renamed away reads the table the lock was taken on, under its new
/// name: the lock window says both names (authelia's `0002_WebAuthn` renames
/// "totp_configurations" to a backup, creates it again and copies the backup into it).
#[test]
fn the_lock_window_names_a_table_renamed_since_the_lock_by_both_names() {
    let out = history(&[
        "CREATE TABLE totp (id int PRIMARY KEY, secret text);",
        "ALTER TABLE totp DROP CONSTRAINT totp_pkey;\n\
         ALTER TABLE totp RENAME TO totp_backup;\n\
         CREATE TABLE totp (id serial PRIMARY KEY, secret text);\n\
         INSERT INTO totp (id, secret) SELECT id, secret FROM totp_backup;",
    ]);
    let window = out[1]
        .findings
        .iter()
        .find(|f| f.rule == "lock-held-across-statements")
        .unwrap_or_else(|| panic!("{:?}", rules(&out[1])));
    assert!(
        window.message.starts_with(
            "this statement (INSERT) reads \"totp_backup\" (\"totp\" before its RENAME) while the \
             ACCESS EXCLUSIVE lock on \"totp\" taken at line 1 (DROP CONSTRAINT)"
        ),
        "{}",
        window.message
    );
}
