//! Ground truth from PostgreSQL itself: run fixture statements on a real server inside a
//! transaction, read `pg_locks` for the session and `pg_class.relfilenode` after each one, and
//! compare with what the analyser predicts.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use lockstep::analysis::{AnalysisContext, LockMode, Target, analyze};
use lockstep::sandbox::Sandbox;
use lockstep::trace::{TraceOptions, trace, trace_autocommit};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The server to test against: `DATABASE_URL`, else one sandbox per test process.
fn server_url(database: Option<&str>) -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return match database {
            Some(db) => {
                let mut parsed = url::Url::parse(&url).expect("DATABASE_URL is a URL");
                parsed.set_path(&format!("/{db}"));
                parsed.to_string()
            }
            None => url,
        };
    }
    let sandbox = SANDBOX.get_or_init(|| {
        Sandbox::start().unwrap_or_else(|e| {
            panic!(
                "the ground-truth tests need PostgreSQL: install the server binaries (initdb, postgres) \
                 or set DATABASE_URL to a database the tests may create databases in.\n{e}"
            )
        })
    });
    match database {
        Some(db) => sandbox.url_for(db),
        None => sandbox.url(),
    }
}

/// A fresh database for one test, with `setup` applied (committed).
async fn fresh_database(setup: &str) -> PgConnection {
    let name = format!(
        "lockstep_gt_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = PgConnection::connect(&server_url(None))
        .await
        .expect("connect to the server");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let mut conn = PgConnection::connect(&server_url(Some(&name)))
        .await
        .expect("connect to the test database");
    sqlx::raw_sql(AssertSqlSafe(setup.to_string()))
        .execute(&mut conn)
        .await
        .expect("apply the setup");
    conn
}

async fn server_major(conn: &mut PgConnection) -> u32 {
    let num: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut *conn)
        .await
        .expect("server version");
    num.parse::<u32>()
        .map(lockstep::analysis::model::version_from_server_num)
        .unwrap_or(15)
}

const SETUP: &str = "
CREATE TABLE users (id int PRIMARY KEY, email text, name varchar(50), n int);
CREATE TABLE orders (id int PRIMARY KEY, user_id int, amount int, note varchar(20));
CREATE INDEX orders_amount ON orders (amount);
INSERT INTO users SELECT g, 'u' || g, 'n', g FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, g, g, 'x' FROM generate_series(1, 50) g;
CREATE MATERIALIZED VIEW user_count AS SELECT count(*) AS n FROM users;
CREATE TYPE mood AS ENUM ('ok');
CREATE TABLE p (id int, k int) PARTITION BY LIST (k);
CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
CREATE TABLE p3 PARTITION OF p FOR VALUES IN (3) PARTITION BY LIST (id);
CREATE TABLE p3a PARTITION OF p3 FOR VALUES IN (1);
CREATE TABLE pdef PARTITION OF p DEFAULT;
CREATE INDEX p_k ON p (k);
INSERT INTO p VALUES (1, 1), (1, 3);
CREATE TABLE p2 (id int, k int);
CREATE TABLE parents (id int PRIMARY KEY);
CREATE TABLE kids (id int, parent_id int);
ALTER TABLE kids ADD CONSTRAINT kids_parent_fk FOREIGN KEY (parent_id) REFERENCES parents (id) NOT VALID;
CREATE VIEW recent AS SELECT id FROM orders;
CREATE VIEW order_ids AS SELECT id FROM orders;
CREATE VIEW recent_users AS SELECT u.id FROM users u JOIN order_ids r ON r.id = u.id;
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE audited (id int);
CREATE TABLE stamped (id int);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER audited_stamp BEFORE UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE TRIGGER stamped_stamp BEFORE UPDATE ON stamped FOR EACH ROW EXECUTE FUNCTION public.stamp();
CREATE TABLE teams (id int PRIMARY KEY);
CREATE TABLE members (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE);
CREATE TABLE badges (member_id int REFERENCES members ON DELETE SET NULL);
CREATE TABLE member_notes (member_id int REFERENCES members);
INSERT INTO teams VALUES (1), (2), (3);
INSERT INTO members VALUES (1, 1), (2, 2);
INSERT INTO badges VALUES (1);
CREATE TABLE scores (id int PRIMARY KEY, score int, note text);
INSERT INTO scores SELECT g, g, 'n' FROM generate_series(1, 5) g;
CREATE TABLE score_log (id int);
CREATE MATERIALIZED VIEW top_scores AS SELECT id, score FROM scores;
CREATE UNIQUE INDEX top_scores_id ON top_scores (id);
CREATE FUNCTION refresh_top() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY top_scores;
  INSERT INTO score_log VALUES (NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER scores_top AFTER UPDATE OF score ON scores FOR EACH ROW EXECUTE FUNCTION refresh_top();
CREATE FUNCTION hold_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN LOCK TABLE score_log IN SHARE MODE; RETURN NULL; END $$;
CREATE TRIGGER scores_purge AFTER DELETE ON scores FOR EACH STATEMENT EXECUTE FUNCTION hold_log();
CREATE FUNCTION tidy_log() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM score_log; ALTER TABLE score_log ADD COLUMN IF NOT EXISTS seen bool; END $$;
CREATE FUNCTION count_log() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM score_log';
CREATE TABLE tallies (n int);
INSERT INTO tallies VALUES (0);
CREATE TABLE tally_log (n int);
CREATE MATERIALIZED VIEW tally_view AS SELECT n FROM tallies JOIN tally_log USING (n);
CREATE FUNCTION refresh_tally() RETURNS void LANGUAGE plpgsql AS $$ BEGIN REFRESH MATERIALIZED VIEW tally_view; END $$;
CREATE FUNCTION log_tally() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO tally_log VALUES (NEW.n); RETURN NEW; END $$;
CREATE TRIGGER tallies_log AFTER UPDATE ON tallies FOR EACH ROW EXECUTE FUNCTION log_tally();
CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$ BEGIN UPDATE tallies SET n = n + 1; PERFORM refresh_tally(); END $$;
CREATE INDEX idx_tallies_by_n_with_a_name_longer_than_postgresql_keeps_for_it ON tallies (n);
CREATE FUNCTION drop_team(t int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM teams WHERE id = t; END $$;
CREATE FUNCTION renumber_team(t int) RETURNS void LANGUAGE sql AS 'UPDATE teams SET id = id + 100 WHERE id = t';
CREATE FUNCTION join_team(m int, t int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN INSERT INTO members VALUES (m, t); END $$;
CREATE TABLE team_log (team_id int);
CREATE FUNCTION retire_team() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM teams WHERE id = NEW.team_id; RETURN NEW; END $$;
CREATE TRIGGER team_log_retire AFTER INSERT ON team_log FOR EACH ROW EXECUTE FUNCTION retire_team();
CREATE TABLE rule_log (id int);
CREATE TABLE q (id int, k int) PARTITION BY LIST (k);
CREATE TABLE q1 PARTITION OF q FOR VALUES IN (1);
CREATE INDEX q_k ON ONLY q (k);
CREATE INDEX q1_k ON q1 (k);
CREATE TABLE typed (c char(10), t timestamp(3), tz timestamptz(3), tm time, iv interval(3));
INSERT INTO typed VALUES ('a', now(), now(), now(), '1 day');
";

/// Groups of statements, each group traced in its own (rolled back) transaction.
const GROUPS: &[&[&str]] = &[
    &["CREATE INDEX ix1 ON users (email)"],
    &[
        "ALTER TABLE users ADD COLUMN c1 int",
        "ALTER TABLE users ADD COLUMN c2 uuid DEFAULT gen_random_uuid()",
        "ALTER TABLE users ADD COLUMN c3 int NOT NULL DEFAULT 0",
        "ALTER TABLE users ALTER COLUMN n TYPE bigint",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(100)",
        "ALTER TABLE users ALTER COLUMN email TYPE text",
    ],
    &["ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)"],
    &[
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
        "ALTER TABLE orders VALIDATE CONSTRAINT fk",
    ],
    &[
        "ALTER TABLE orders ADD CONSTRAINT pos CHECK (amount > 0) NOT VALID",
        "ALTER TABLE orders VALIDATE CONSTRAINT pos",
    ],
    &["ALTER TABLE orders ALTER COLUMN amount SET NOT NULL"],
    &["ALTER TABLE orders ADD CONSTRAINT orders_user_key UNIQUE (user_id)"],
    &["CREATE TRIGGER trg BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION noop()"],
    &["ALTER TABLE orders DISABLE TRIGGER ALL"],
    &["TRUNCATE orders"],
    &["REINDEX TABLE orders"],
    &["LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"],
    &["LOCK TABLE users"],
    &["REFRESH MATERIALIZED VIEW user_count"],
    &["ALTER TABLE p ATTACH PARTITION p2 FOR VALUES IN (2)"],
    &["ALTER TABLE p DETACH PARTITION p1"],
    &["COMMENT ON TABLE users IS 'people'"],
    &["ALTER TABLE users SET (fillfactor = 70)"],
    &["ALTER TABLE users ALTER COLUMN email SET STATISTICS 100"],
    &["ALTER TABLE users RENAME COLUMN email TO mail"],
    &["ALTER TABLE users DROP COLUMN n"],
    &["CLUSTER orders USING orders_pkey"],
    &["UPDATE users SET n = n + 1 WHERE id = 1"],
    &["ALTER TABLE users SET UNLOGGED"],
    &["CREATE TABLE child (id int, user_id int REFERENCES users (id))"],
    &["ALTER TYPE mood ADD VALUE 'meh'"],
    &["ALTER TABLE kids VALIDATE CONSTRAINT kids_parent_fk"],
    &["ALTER TABLE kids DROP CONSTRAINT kids_parent_fk"],
    &["DROP TABLE kids"],
    &["DROP INDEX orders_amount"],
    &["ALTER TABLE orders ALTER COLUMN note TYPE varchar(10)"],
    &["ALTER TABLE orders ALTER COLUMN note TYPE varchar(200)"],
    &["ALTER TABLE users ALTER COLUMN n TYPE numeric"],
    &["CREATE POLICY own ON users FOR SELECT USING (true)"],
    &["CREATE RULE no_insert AS ON INSERT TO orders DO INSTEAD NOTHING"],
    &["CREATE OR REPLACE VIEW recent AS SELECT id FROM orders"],
    // Read locks: a view's query, INSERT … SELECT, UPDATE … FROM, a SQL function body.
    &["CREATE VIEW big_orders AS SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id"],
    &["INSERT INTO orders (id, user_id, amount, note) SELECT id + 100, id, 1, 'y' FROM users"],
    &["UPDATE orders SET amount = u.n FROM users u WHERE u.id = orders.user_id"],
    // A data-modifying CTE writes its own target (langfuse's backfill: an INSERT in a WITH).
    &[
        "WITH made AS (INSERT INTO parents (id) SELECT id + 1000 FROM users RETURNING id) UPDATE orders SET amount = 0 FROM made WHERE orders.id = made.id",
    ],
    &["WITH gone AS (DELETE FROM orders WHERE id > 40 RETURNING id) SELECT count(*) FROM gone"],
    &[
        "CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders $$",
    ],
    // A DO block runs its statements now.
    &["DO $$ BEGIN ALTER TABLE users ADD COLUMN d1 int; END $$"],
    // The queries a DO block evaluates itself: an IF's condition, PERFORM, FOR … IN SELECT.
    &[
        "DO $$ DECLARE r record; BEGIN IF (SELECT count(*) FROM users) > 0 THEN PERFORM 1 FROM orders; END IF; FOR r IN SELECT id FROM parents LOOP NULL; END LOOP; IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'x') THEN NULL; END IF; END $$",
    ],
    // The other table of a foreign key added by ALTER TABLE; dropping a view locks the view only.
    &[
        "ALTER TABLE kids ADD CONSTRAINT kp2 FOREIGN KEY (parent_id) REFERENCES parents (id) NOT VALID",
    ],
    &["DROP VIEW recent"],
    // A CREATE TABLE with a foreign key to an existing table, and IF EXISTS on nothing.
    &["CREATE TABLE grandkids (id int, kid_parent int REFERENCES parents (id))"],
    &["DROP TABLE IF EXISTS no_such_table"],
    &["DROP INDEX IF EXISTS no_such_index"],
    // The foreign-key check of an INSERT; a type change that rebuilds a foreign key.
    &[
        "INSERT INTO parents VALUES (1)",
        "INSERT INTO kids (id, parent_id) VALUES (1, 1)",
    ],
    &["ALTER TABLE kids ALTER COLUMN parent_id TYPE bigint"],
    // DROP … CASCADE drops the foreign keys that reference the table, locking their tables.
    &["DROP TABLE parents CASCADE"],
    // Dropping a column drops its foreign key, which locks the referenced table.
    &["ALTER TABLE kids DROP COLUMN parent_id"],
    // DROP FUNCTION … CASCADE drops the triggers that execute it, locking their tables.
    &["DROP FUNCTION stamp() CASCADE"],
    // DROP TRIGGER IF EXISTS looks the trigger up before it locks the table: one that is not
    // there (or a table that is not) locks nothing.
    &["DROP TRIGGER IF EXISTS no_such_trigger ON stamped"],
    // Deleting referenced rows, or changing a referenced key, reaches the referencing tables:
    // ON DELETE CASCADE deletes members (ROW EXCLUSIVE), whose deletion sets badges' key to NULL
    // (ROW EXCLUSIVE) and looks for member_notes still pointing at them (ROW SHARE); a key
    // changed is looked for in members (NO ACTION, ROW SHARE).
    &["DELETE FROM teams WHERE id = 1"],
    &["UPDATE teams SET id = 30 WHERE id = 3"],
    // The same written in a DO block, and the key check of a row it inserts (ROW SHARE on teams).
    &["DO $$ BEGIN DELETE FROM teams WHERE id = 1; END $$"],
    &["DO $$ BEGIN INSERT INTO members VALUES (5, 2); END $$"],
    // A statement runs the functions of the triggers it fires, which lock what they touch: the
    // row trigger on UPDATE OF score refreshes top_scores (EXCLUSIVE) and writes score_log; an
    // update of another column fires nothing; the statement-level trigger on DELETE fires with
    // no row deleted (SHARE on score_log).
    &["UPDATE scores SET score = score + 1 WHERE id = 1"],
    &["UPDATE scores SET note = 'x' WHERE id = 2"],
    &["DELETE FROM scores WHERE id = 99"],
    // A DO block's writes fire the same triggers.
    &["DO $$ BEGIN UPDATE scores SET score = score + 1 WHERE id = 1; END $$"],
    &["DO $$ BEGIN DELETE FROM scores WHERE id = 99; END $$"],
    // A function's writes do what the same statements do at the top: its DELETE reaches
    // members, badges and member_notes through their keys, its UPDATE of a referenced key looks
    // for members still pointing at it, its INSERT checks the row's key (ROW SHARE on teams),
    // and the same from a trigger's function.
    &["SELECT drop_team(1)"],
    &["SELECT renumber_team(3)"],
    &["SELECT join_team(6, 2)"],
    &["INSERT INTO team_log VALUES (2)"],
    // A data-modifying WITH query does what the same statement written at the top does: its
    // row's key is checked (ROW SHARE on teams), its DELETE reaches the referencing rows, its
    // write fires its table's triggers, each with its own events and columns.
    &["WITH m AS (INSERT INTO members VALUES (7, 3) RETURNING id) SELECT count(*) FROM m"],
    &["WITH t AS (DELETE FROM teams WHERE id = 1 RETURNING id) SELECT count(*) FROM t"],
    &["WITH l AS (INSERT INTO team_log VALUES (2) RETURNING 1) SELECT count(*) FROM l"],
    &[
        "WITH m AS (INSERT INTO members VALUES (8, 2) RETURNING team_id) UPDATE scores SET note = 'y' WHERE id IN (SELECT team_id FROM m)",
    ],
    // A renamed function runs its body under its new name; a trigger runs it whatever its name.
    &[
        "ALTER FUNCTION join_team(int, int) RENAME TO enrol",
        "SELECT enrol(6, 2)",
    ],
    &[
        "ALTER FUNCTION retire_team() RENAME TO retire",
        "INSERT INTO team_log VALUES (2)",
    ],
    // A rule's actions are parsed when it is created: what they write is locked ROW EXCLUSIVE,
    // what they read ACCESS SHARE (a view not expanded: the query is stored).
    &[
        "CREATE RULE log_copy AS ON INSERT TO rule_log DO ALSO INSERT INTO orders (id) VALUES (NEW.id)",
    ],
    &[
        "CREATE RULE log_fan AS ON UPDATE TO rule_log DO INSTEAD (UPDATE orders SET amount = 0 WHERE id = NEW.id; DELETE FROM parents WHERE id = OLD.id)",
    ],
    &["CREATE RULE log_read AS ON INSERT TO rule_log DO ALSO SELECT id FROM recent"],
    // Attaching an index to a partitioned index reads both tables (and locks both indexes).
    &["ALTER INDEX q_k ATTACH PARTITION q1_k"],
    // A locking clause takes ROW SHARE on what it locks, through views too; `OF` names which.
    &["SELECT id FROM orders WHERE id = 1 FOR UPDATE"],
    &["SELECT id FROM recent FOR SHARE"],
    &["SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id FOR UPDATE OF o"],
    &["SELECT id FROM users WHERE id IN (SELECT user_id FROM orders FOR KEY SHARE)"],
    &["WITH x AS (SELECT id FROM users) SELECT id FROM orders JOIN x USING (id) FOR UPDATE"],
    // A function called runs its body: ACCESS EXCLUSIVE on score_log from its ALTER TABLE; an
    // SQL function reads.
    &["SELECT tidy_log()"],
    &["SELECT count_log()"],
    // What a function runs runs in turn: bump() updates tallies (whose row trigger writes
    // tally_log) and calls refresh_tally() (ACCESS EXCLUSIVE on tally_view, reading its query's
    // tables). A trigger renamed locks its table; an index named with more than 63 bytes is
    // the index of its first 63.
    &["SELECT bump()"],
    &["ALTER TRIGGER tallies_log ON tallies RENAME TO tallies_log_v2"],
    &["DROP INDEX idx_tallies_by_n_with_a_name_longer_than_postgresql_keeps_for_it"],
    // A query that runs reads through views: the rewriter expands `recent_users` into `users`
    // and `order_ids`, and `order_ids` into `orders`. A query stored (a view, WITH NO DATA) does not.
    &["SELECT count(*) FROM recent_users"],
    &["INSERT INTO p2 (id) SELECT id FROM recent_users"],
    &["UPDATE p2 SET k = 1 WHERE id IN (SELECT id FROM recent_users)"],
    &["CREATE TABLE snapshot AS SELECT * FROM recent_users"],
    &["CREATE MATERIALIZED VIEW later AS SELECT * FROM recent_users WITH NO DATA"],
    &["CREATE VIEW recent_users_too AS SELECT * FROM recent_users"],
    &["DO $$ BEGIN PERFORM * FROM recent_users; END $$"],
    &[
        "CREATE FUNCTION recent_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM recent_users'",
    ],
    &["DROP TRIGGER IF EXISTS stamped_stamp ON no_such_table"],
    &["DROP TRIGGER IF EXISTS stamped_stamp ON stamped"],
    // Precision and length changes: a longer char(n) pads (a rewrite), a wider time precision
    // does not; the old types as `format_type` writes them (`timestamp(3) without time zone`).
    &["ALTER TABLE typed ALTER COLUMN c TYPE char(12)"],
    &["ALTER TABLE typed ALTER COLUMN c TYPE bpchar"],
    &["ALTER TABLE typed ALTER COLUMN t TYPE timestamp(6)"],
    &["ALTER TABLE typed ALTER COLUMN tz TYPE timestamptz(1)"],
    &["ALTER TABLE typed ALTER COLUMN tm TYPE time(3)"],
    &["ALTER TABLE typed ALTER COLUMN iv TYPE interval"],
    // REINDEX INDEX: SHARE on the index's table while it is rebuilt. A constraint renamed keeps
    // what it is: a foreign key still locks its referenced table when dropped, and a primary
    // key's index is renamed with it.
    &["REINDEX INDEX orders_amount"],
    &[
        "ALTER TABLE kids RENAME CONSTRAINT kids_parent_fk TO kids_parent_key",
        "ALTER TABLE kids DROP CONSTRAINT IF EXISTS kids_parent_key",
    ],
    &[
        "ALTER TABLE users RENAME CONSTRAINT users_pkey TO users_pk",
        "REINDEX INDEX users_pk",
    ],
    // Renaming an index locks the index alone; a sequence owned by a column reads its table.
    &["ALTER INDEX orders_amount RENAME TO orders_amount_idx"],
    // EXECUTE of a constant command locks what the command locks, in a DO block or a function.
    &["DO $$ BEGIN EXECUTE 'DROP INDEX orders_amount'; END $$"],
    &["DO $$ BEGIN EXECUTE 'ALTER TABLE users ' || 'ADD COLUMN c2 int'; END $$"],
    &[
        "CREATE FUNCTION lock_orders() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'LOCK TABLE orders IN SHARE MODE'; END $$",
        "SELECT lock_orders()",
    ],
    &[
        "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT id FROM users FOR UPDATE' LOOP NULL; END LOOP; END $$",
    ],
    &[
        "CREATE SEQUENCE order_numbers",
        "ALTER SEQUENCE order_numbers OWNED BY orders.id",
    ],
    &["CREATE SEQUENCE public.order_codes OWNED BY public.orders.note"],
    // A partitioned table: most commands on it lock each partition too (p1, p3 and p3's own
    // partition p3a); ONLY, and the forms that stay on the table, do not.
    &["ALTER TABLE p ADD COLUMN c int"],
    &["CREATE INDEX pix ON p (id)"],
    &["CREATE INDEX pix_only ON ONLY p (id)"],
    &["ALTER TABLE p ADD CONSTRAINT p_id_check CHECK (id > 0)"],
    &["ALTER TABLE p ALTER COLUMN id SET NOT NULL"],
    &["ALTER TABLE p ALTER COLUMN id SET STATISTICS 100"],
    &["ALTER TABLE p RENAME COLUMN id TO ident"],
    &["ALTER TABLE p ADD CONSTRAINT p_uniq UNIQUE (id, k)"],
    &["ALTER TABLE p ENABLE ROW LEVEL SECURITY"],
    &["CREATE TRIGGER p_trg BEFORE INSERT ON p FOR EACH ROW EXECUTE FUNCTION noop()"],
    &["CREATE TRIGGER p_stmt AFTER INSERT ON p FOR EACH STATEMENT EXECUTE FUNCTION noop()"],
    &["ALTER TABLE p DISABLE TRIGGER ALL"],
    &[
        "CREATE TRIGGER p_trg2 BEFORE INSERT ON p FOR EACH ROW EXECUTE FUNCTION noop()",
        "ALTER TABLE p DISABLE TRIGGER p_trg2",
    ],
    &["TRUNCATE p"],
    &["LOCK TABLE ONLY p"],
    &["LOCK TABLE p IN SHARE MODE"],
    &["DROP INDEX p_k"],
    &["ALTER TABLE p DETACH PARTITION p3"],
    // A new partition is checked against the default partition's rows, under ACCESS EXCLUSIVE.
    &["CREATE TABLE p4 PARTITION OF p FOR VALUES IN (4)"],
    // Dropping a partition locks its partitioned table; dropping that drops every partition.
    &["DROP TABLE p1"],
    &["DROP TABLE p"],
];

/// The partitioned tables `relation` is a partition of: its parent, its parent's parent….
fn partition_chain<'a>(
    catalog: &'a lockstep::analysis::Catalog,
    relation: &'a str,
) -> impl Iterator<Item = &'a str> {
    std::iter::successors(Some(relation), |r| {
        catalog.relations.get(*r)?.partition_of.as_deref()
    })
    .skip(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn predicted_locks_and_rewrites_match_the_server() {
    let mut conn = fresh_database(SETUP).await;
    let major = server_major(&mut conn).await;
    let mut failures = Vec::new();
    let mut compared = 0;
    // The schema as lint reads it from the connected database: columns and types, indexes,
    // constraints, views.
    let catalog = lockstep::schema::read_catalog(&mut conn)
        .await
        .expect("read the catalogue");
    assert_eq!(
        catalog.indexes.get("orders_amount").map(String::as_str),
        Some("orders")
    );
    assert_eq!(
        catalog.relations["users"]
            .columns
            .get("name")
            .map(String::as_str),
        Some("character varying(50)")
    );
    assert!(catalog.relations["recent"].is_view());
    // Partitions with their partitioned tables.
    assert_eq!(catalog.relations["p1"].partition_of.as_deref(), Some("p"));
    assert_eq!(catalog.relations["p3a"].partition_of.as_deref(), Some("p3"));
    assert_eq!(catalog.relations["p2"].partition_of, None);
    assert!(catalog.relations["pdef"].default_partition);
    assert!(!catalog.relations["p1"].default_partition);
    assert!(catalog.relations["recent"].reads.contains("orders"));
    assert!(
        catalog.relations["recent_users"]
            .reads
            .contains("order_ids")
    );
    assert_eq!(
        catalog.constraints["kids_parent_fk"].references.as_deref(),
        Some("parents")
    );
    // Triggers with their events and level, and what their functions lock (from `prosrc`).
    let top = &catalog.relations["scores"].triggers["scores_top"];
    assert_eq!(
        (top.function.as_str(), top.per_row, top.update_of.clone()),
        ("refresh_top", true, vec!["score".to_string()])
    );
    assert_eq!(top.events, [lockstep::analysis::TriggerEvent::Update]);
    let refreshed: Vec<&str> = catalog.functions["refresh_top"]
        .locks
        .iter()
        .map(|l| l.relation.as_str())
        .collect();
    assert_eq!(refreshed, ["top_scores", "score_log"]);
    assert_eq!(
        catalog.functions["bump"].calls,
        [("refresh_tally".to_string(), false)]
    );
    for group in GROUPS {
        let statements: Vec<String> = group.iter().map(|s| s.to_string()).collect();
        let traced = trace(&mut conn, &statements, &TraceOptions::default())
            .await
            .expect("trace");
        assert!(!traced.committed);
        let text: String = group.iter().map(|s| format!("{s};\n")).collect();
        let context = AnalysisContext {
            pg_version: major,
            catalog: catalog.clone(),
            ..AnalysisContext::default()
        };
        let analysis = analyze(&text, &context);
        assert_eq!(analysis.statements.len(), group.len(), "{text}");
        let mut held: BTreeMap<String, Vec<LockMode>> = BTreeMap::new();
        for (stmt, observed) in analysis.statements.iter().zip(&traced.statements) {
            if let Some(error) = &observed.error {
                failures.push(format!("{}: the server refused it: {error}", stmt.text));
                break;
            }
            // Tables and materialized views the analyser predicts locks on (pre-existing only).
            let predicted: BTreeMap<String, (LockMode, bool)> = stmt
                .locks
                .iter()
                .filter(|l| l.target == Target::Table && !l.new_relation)
                .map(|l| (l.relation.clone(), (l.mode, l.rewrite)))
                .collect();
            let seen = observed.strongest_by_relation(&["r", "p", "m", "v"]);
            for (relation, (mode, rewrite)) in &predicted {
                compared += 1;
                let already = held.get(relation).is_some_and(|modes| modes.contains(mode));
                match seen.get(relation) {
                    Some(server) if server == mode => {}
                    Some(server) if already && server < mode => {}
                    None if already => {}
                    other => failures.push(format!(
                        "{}: predicted {mode:?} on {relation}, server took {other:?}",
                        stmt.text
                    )),
                }
                // A partitioned table holds no rows: its partitions are what is rewritten.
                let rewritten = observed.rewritten.contains(relation)
                    || (catalog
                        .relations
                        .get(relation)
                        .is_some_and(|r| r.is_partitioned())
                        && observed.rewritten.iter().any(|r| {
                            partition_chain(&catalog, r).any(|parent| parent == relation)
                        }));
                if rewritten != *rewrite {
                    failures.push(format!(
                        "{}: predicted rewrite={rewrite} of {relation}, server rewrote={rewritten}",
                        stmt.text
                    ));
                }
            }
            for (relation, mode) in &seen {
                // Read locks included: ACCESS SHARE blocks ACCESS EXCLUSIVE and waits behind it
                // (a refresh reads its materialized view's query's tables).
                if !predicted.contains_key(relation) {
                    failures.push(format!(
                        "{}: the server took {mode:?} on {relation}, not predicted",
                        stmt.text
                    ));
                }
            }
            // Object locks (enum types) are predicted as type-object locks, not table locks.
            for fact in stmt.locks.iter().filter(|l| l.target == Target::TypeObject) {
                compared += 1;
                let found = observed.new_locks.iter().any(|l| {
                    l.locktype == "object"
                        && l.lock_mode == Some(fact.mode)
                        && l.object
                            .as_deref()
                            .is_some_and(|o| o.ends_with(&fact.relation))
                });
                if !found {
                    failures.push(format!(
                        "{}: predicted an object lock {:?} on type {}, server: {:?}",
                        stmt.text, fact.mode, fact.relation, observed.new_locks
                    ));
                }
            }
            for (relation, mode) in seen {
                held.entry(relation).or_default().push(mode);
            }
        }
    }
    assert!(compared >= 30, "only {compared} predictions compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_tracer_sees_locks_rewrites_and_errors_and_rolls_back() {
    let mut conn = fresh_database("CREATE TABLE t (id int); INSERT INTO t VALUES (1);").await;
    let statements = vec![
        "SET LOCAL lock_timeout = '3s'".to_string(),
        "ALTER TABLE t ALTER COLUMN id TYPE bigint".to_string(),
        "CREATE TABLE fresh (id int)".to_string(),
        "SELECT * FROM no_such_table".to_string(),
        "SELECT 1".to_string(),
    ];
    let traced = trace(&mut conn, &statements, &TraceOptions::default())
        .await
        .expect("trace");
    assert_eq!(traced.statements.len(), 4, "stops at the failing statement");
    assert_eq!(traced.statements[1].lock_timeout, "3s");
    assert_eq!(traced.statements[1].rewritten, vec!["t".to_string()]);
    let strongest = traced.statements[1].strongest_by_relation(&["r"]);
    assert_eq!(strongest.get("t"), Some(&LockMode::AccessExclusive));
    assert!(
        traced.statements[2]
            .new_locks
            .iter()
            .all(|l| l.relation.as_deref() != Some("fresh")),
        "objects created in the transaction are not reported"
    );
    assert!(traced.statements[3].error.is_some());
    // Rolled back: the type change did not stick.
    let ty: String = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'id'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("read the column type");
    assert_eq!(ty, "integer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrently_statements_are_traced_outside_a_transaction() {
    let setup = "CREATE TABLE t (id int, a int); INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;";
    let mut conn = fresh_database(setup).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await
        .expect("database name");
    let mut monitor = PgConnection::connect(&server_url(Some(&database)))
        .await
        .expect("monitor connection");
    // A session holding SHARE makes CREATE INDEX CONCURRENTLY wait for its SHARE UPDATE EXCLUSIVE,
    // so the monitor sees the request however fast the machine is.
    let mut blocker = PgConnection::connect(&server_url(Some(&database)))
        .await
        .expect("blocker connection");
    sqlx::raw_sql(AssertSqlSafe(
        "BEGIN; LOCK TABLE t IN SHARE MODE;".to_string(),
    ))
    .execute(&mut blocker)
    .await
    .expect("hold SHARE");
    let release = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        sqlx::raw_sql(AssertSqlSafe("COMMIT".to_string()))
            .execute(&mut blocker)
            .await
            .expect("release");
    });
    let statements = vec![
        "CREATE INDEX CONCURRENTLY t_a ON t (a)".to_string(),
        "VACUUM FULL t".to_string(),
    ];
    let traced = trace_autocommit(
        &mut conn,
        &mut monitor,
        &statements,
        std::time::Duration::from_millis(5),
    )
    .await
    .expect("trace");
    release.await.expect("blocker task");
    let cic = &traced.statements[0];
    assert!(cic.error.is_none(), "{:?}", cic.error);
    assert!(
        cic.new_locks
            .iter()
            .any(|l| l.relation.as_deref() == Some("t")
                && l.lock_mode == Some(LockMode::ShareUpdateExclusive)),
        "{:?}",
        cic.new_locks
    );
    assert!(cic.duration_ms >= 300.0, "it waited for the blocker");
    assert_eq!(
        traced.statements[1].rewritten,
        vec!["t".to_string()],
        "VACUUM FULL rewrites"
    );
    // The analyser agrees, and the same statements inside trace() fail as predicted.
    let analysis = analyze(
        "CREATE INDEX CONCURRENTLY t_a2 ON t (a);",
        &AnalysisContext {
            in_transaction: false,
            ..AnalysisContext::default()
        },
    );
    assert_eq!(
        analysis.statements[0].locks[0].mode,
        LockMode::ShareUpdateExclusive
    );
    let inside = trace(
        &mut conn,
        &["CREATE INDEX CONCURRENTLY t_a3 ON t (a)".to_string()],
        &TraceOptions::default(),
    )
    .await
    .expect("trace");
    let error = inside.statements[0].error.clone().unwrap_or_default();
    assert!(error.contains("transaction block"), "{error}");
}

/// Sends `file` to a fresh database as one simple query (as sqlx sends a `-- no-transaction`
/// file, and Prisma and golang-migrate every file): the connection, the server's major version,
/// and whether the server refused the file because a statement cannot run in a transaction block.
async fn sent_as_one_query(i: usize, file: &str) -> (PgConnection, u32, bool) {
    let mut conn = fresh_database(SETUP).await;
    let major = server_major(&mut conn).await;
    let sent = sqlx::raw_sql(AssertSqlSafe(file.to_string()))
        .execute(&mut conn)
        .await;
    let refused = match &sent {
        Ok(_) => false,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("25001") => true,
        Err(e) => panic!("file {i} failed otherwise: {e}\n{file}"),
    };
    (conn, major, refused)
}

/// `-- no-transaction` files as sqlx sends them: the whole file as one query. PostgreSQL runs a
/// query of several statements as one implicit transaction block, so a statement that refuses one
/// fails there unless it is alone. `no-transaction-not-alone` fires exactly on the files that fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_no_transaction_file_sent_as_one_query_fails_exactly_where_the_analysis_says() {
    const FILES: &[&str] = &[
        // quickwit's attempt at a robust build, which sqlx refuses.
        "-- no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS ix;\nCREATE INDEX CONCURRENTLY ix ON users (email);\n",
        "-- no-transaction\nSET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY ix ON users (email);\n",
        "-- no-transaction\nVACUUM orders;\nANALYZE orders;\n",
        "-- no-transaction\nUPDATE users SET n = 7 WHERE id = 1;\nREINDEX TABLE CONCURRENTLY orders;\n",
        // Alone: comments and an empty statement do not count.
        "-- no-transaction\n-- build it\nCREATE INDEX CONCURRENTLY ix ON users (email);;\n-- done\n",
        "-- no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS orders_amount;\n",
        // Several statements, none of which refuses a transaction block.
        "-- no-transaction\nUPDATE users SET n = 1 WHERE id = 1;\nALTER TYPE mood ADD VALUE 'meh';\n",
    ];
    let mut mismatches = Vec::new();
    for (i, file) in FILES.iter().enumerate() {
        let (mut conn, major, refused) = sent_as_one_query(i, file).await;
        let analysis = analyze(
            file,
            &AnalysisContext {
                pg_version: major,
                in_transaction: false,
                ..AnalysisContext::default()
            },
        );
        let flagged: Vec<_> = analysis
            .findings
            .iter()
            .filter(|f| f.rule == "no-transaction-not-alone")
            .collect();
        if flagged.len() != usize::from(refused) {
            mismatches.push(format!(
                "file {i}: the server {} it, the analysis flagged it {} time(s)\n{file}",
                if refused { "refused" } else { "ran" },
                flagged.len()
            ));
        }
        if refused {
            // Nothing of the file is applied: the implicit transaction rolled back as a whole.
            let n: i32 = sqlx::query_scalar("SELECT n FROM users WHERE id = 1")
                .fetch_one(&mut conn)
                .await
                .expect("read users");
            assert_eq!(n, 1, "file {i} left nothing behind");
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Prisma's `migration.sql` as Prisma sends it (the whole file as one simple query, in no
/// transaction of its own): lint reports `not-in-transaction-block` on exactly the files the
/// server refuses (on each statement there that refuses one), and never `transaction-nesting` for
/// a file's own BEGIN/COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_prisma_migration_sent_as_one_query_fails_exactly_where_lint_says() {
    use lockstep::analysis::{LintOptions, lint_files};

    const FILES: &[&str] = &[
        // Alone, with Prisma's comment: no transaction block at all.
        "-- CreateIndex\nCREATE INDEX CONCURRENTLY \"users_email_idx\" ON \"users\"(\"email\");\n",
        // Among other statements: one implicit transaction block.
        "CREATE INDEX CONCURRENTLY ix ON users (email);\nANALYZE users;\n",
        "DROP INDEX CONCURRENTLY IF EXISTS ix;\nCREATE INDEX CONCURRENTLY ix ON users (email);\n",
        // The file's own transaction: fine for DDL, refused for a concurrent build.
        "BEGIN;\nSET LOCAL lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age int;\nCOMMIT;\n",
        "BEGIN;\nCREATE INDEX CONCURRENTLY ix ON users (email);\nCOMMIT;\n",
        // Several statements, none of which refuses a transaction block (since 12, ADD VALUE
        // runs in one).
        "UPDATE users SET n = 2 WHERE id = 1;\nALTER TYPE mood ADD VALUE 'meh';\n",
    ];
    let mut mismatches = Vec::new();
    for (i, file) in FILES.iter().enumerate() {
        let (_conn, major, refused) = sent_as_one_query(i, file).await;
        let path = std::path::PathBuf::from(format!(
            "prisma/migrations/2024010100000{i}_m/migration.sql"
        ));
        let mut options = LintOptions::for_session(major, false, false);
        options.runner_wraps_in_transaction = true;
        let report = lint_files(&[(path, file.to_string())], &options);
        let rules: Vec<&str> = report.files[0]
            .analysis
            .findings
            .iter()
            .map(|f| f.rule)
            .collect();
        let flagged = rules
            .iter()
            .filter(|r| **r == "not-in-transaction-block" || **r == "no-transaction-not-alone")
            .count();
        // (Each statement that refuses the block is flagged: the server stops at the first.)
        if (flagged > 0) != refused || rules.contains(&"transaction-nesting") {
            mismatches.push(format!(
                "file {i}: the server {} it, lint said {rules:?}\n{file}",
                if refused { "refused" } else { "ran" },
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// SET NOT NULL scans the table only when the column may hold NULLs: the server counts the scan
/// in `pg_stat_xact_user_tables.seq_scan`. A column the schema model knows is NOT NULL (a NOT
/// NULL or PRIMARY KEY constraint, from CREATE TABLE, ADD COLUMN, ADD PRIMARY KEY or an earlier
/// SET NOT NULL), or one a validated `CHECK (col IS NOT NULL)` proves, gets no
/// `set-not-null-scan`; the others do, as each statement's scan shows. The same holds when the
/// schema is the catalogue read from the server (the pending migrations of a configured database).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn set_not_null_scans_only_a_column_that_may_hold_nulls() {
    use lockstep::analysis::lint::Chain;
    use lockstep::analysis::{Catalog, LintOptions, lint_files};

    let history = [
        "CREATE TABLE s (a int, b bigserial, c int NOT NULL, d int, e int, f int, g int, j serial, k int GENERATED BY DEFAULT AS IDENTITY, PRIMARY KEY (a, b));",
        "ALTER TABLE s ADD COLUMN h int NOT NULL DEFAULT 0, ADD COLUMN i int GENERATED ALWAYS AS IDENTITY, ADD COLUMN l int;",
        "ALTER TABLE s ALTER COLUMN d SET NOT NULL;",
        "ALTER TABLE s ALTER COLUMN c DROP NOT NULL;",
        "ALTER TABLE s DROP CONSTRAINT s_pkey, ADD CONSTRAINT s_pkey PRIMARY KEY (e, a);",
        // m is proven by a validated CHECK (written as the server writes it back); n's is not
        // validated, so it proves nothing.
        "ALTER TABLE s ADD COLUMN m int, ADD COLUMN n int;",
        "ALTER TABLE s ADD CONSTRAINT m_present CHECK ((m IS NOT NULL)) NOT VALID, ADD CONSTRAINT n_present CHECK (n IS NOT NULL) NOT VALID;",
        "ALTER TABLE s VALIDATE CONSTRAINT m_present;",
    ];
    let columns = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    ];
    let mut conn = fresh_database(&history.join("\n")).await;
    sqlx::raw_sql(AssertSqlSafe(
        "INSERT INTO s (a, b, c, d, e, f, g, l, m, n) SELECT n, n, n, n, n, n, n, n, n, n FROM generate_series(1, 20) n"
            .to_string(),
    ))
    .execute(&mut conn)
    .await
    .expect("fill s");
    // With a connection, the catalogue read from the server knows the same.
    let live = lockstep::schema::read_catalog(&mut conn)
        .await
        .expect("read the catalogue");
    let nullable: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !live.relations["s"].not_null.contains(*c))
        .collect();
    assert_eq!(
        nullable,
        ["c", "f", "g", "l", "m", "n"],
        "the live catalogue"
    );
    let scans = "SELECT coalesce(sum(seq_scan), 0)::bigint FROM pg_stat_xact_user_tables WHERE relname = 's'";
    sqlx::raw_sql(AssertSqlSafe("BEGIN".to_string()))
        .execute(&mut conn)
        .await
        .expect("begin");
    let mut scanned = Vec::new();
    for column in columns {
        let before: i64 = sqlx::query_scalar(AssertSqlSafe(scans.to_string()))
            .fetch_one(&mut conn)
            .await
            .expect("scans before");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE s ALTER COLUMN {column} SET NOT NULL"
        )))
        .execute(&mut conn)
        .await
        .expect("set not null");
        let after: i64 = sqlx::query_scalar(AssertSqlSafe(scans.to_string()))
            .fetch_one(&mut conn)
            .await
            .expect("scans after");
        if after > before {
            scanned.push(column);
        }
    }
    sqlx::raw_sql(AssertSqlSafe("ROLLBACK".to_string()))
        .execute(&mut conn)
        .await
        .expect("rollback");
    // The columns that may hold NULLs: c (its NOT NULL dropped), f, g. The primary key dropped
    // in the last migration leaves its columns NOT NULL, as the server does.
    assert_eq!(
        scanned,
        ["c", "f", "g", "l", "n"],
        "what the server scanned"
    );

    let set_not_null: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER TABLE s ALTER COLUMN {c} SET NOT NULL;"))
        .collect();
    // The columns whose SET NOT NULL the analysis says scans the table: by the rule, and by the
    // statement's lock facts (which `missing-statement-timeout` and the plan read).
    let flagged = |texts: Vec<String>, catalog: Catalog, skip: usize| {
        let files: Vec<(std::path::PathBuf, String)> = texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("{}_m.sql", i + 1).into(), t))
            .collect();
        let report = lint_files(
            &files,
            &LintOptions {
                catalog,
                chain: Chain::History,
                ..LintOptions::default()
            },
        );
        let by_rule: Vec<&str> = report.files[skip..]
            .iter()
            .zip(columns)
            .filter(|(f, _)| {
                f.analysis
                    .findings
                    .iter()
                    .any(|x| x.rule == "set-not-null-scan")
            })
            .map(|(_, c)| c)
            .collect();
        let by_facts: Vec<&str> = report.files[skip..]
            .iter()
            .zip(columns)
            .filter(|(f, _)| f.analysis.statements[0].locks.iter().any(|l| l.scan))
            .map(|(_, c)| c)
            .collect();
        assert_eq!(by_rule, by_facts, "the rule and the lock facts agree");
        by_rule
    };
    let mut texts: Vec<String> = history.iter().map(|s| s.to_string()).collect();
    texts.extend(set_not_null.iter().cloned());
    assert_eq!(
        flagged(texts, Catalog::empty_database(), history.len()),
        scanned,
        "what the analysis flags, from the migrations"
    );
    assert_eq!(
        flagged(set_not_null, live, 0),
        scanned,
        "what the analysis flags, from the live catalogue"
    );
}

/// An index created without a name gets the one the server chooses (`t_lower_idx`,
/// `t_name_idx1`, long names shortened, `t_a_b_key` for an unnamed ADD UNIQUE, `t_pkey`, …):
/// each name read back from `pg_class` is one the
/// analysis knows, so `DROP INDEX` of it names its table (crates.io's
/// `remove_unused_indexes` drops `reserved_crate_names_canon_crate_name_idx`, created unnamed).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_index_created_without_a_name_gets_the_name_the_server_chooses() {
    use lockstep::analysis::lint::Chain;
    use lockstep::analysis::{Catalog, LintOptions, lint_files};

    let long_table = "a_very_long_table_name_that_goes_on_and_on_and_on_forever_x";
    let history = format!(
        "CREATE TABLE r (name text, a int, b int, c int, x text, \"Foo\" text, z int);\n\
         CREATE FUNCTION canon(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower($1) $$;\n\
         CREATE TABLE r_x_idx (id int);\n\
         CREATE UNIQUE INDEX ON r (lower(name) text_ops, name DESC, (a+b), (c::text), public.canon(x), \"Foo\" COLLATE \"C\") INCLUDE (z);\n\
         CREATE INDEX ON r (name);\n\
         CREATE INDEX ON r (name);\n\
         CREATE INDEX ON r ((name));\n\
         CREATE INDEX ON r (a, a);\n\
         CREATE INDEX ON r ((a::text));\n\
         CREATE INDEX ON r (coalesce(a, b));\n\
         CREATE INDEX ON r ((CASE WHEN a > 0 THEN 1 END));\n\
         CREATE INDEX ON r (a) WHERE b > 0;\n\
         CREATE INDEX ON r (x COLLATE \"C\");\n\
         CREATE INDEX ON r (('x'::text));\n\
         CREATE TABLE {long_table} (a_very_long_column_name_that_goes_on_and_on int, b int);\n\
         CREATE INDEX ON {long_table} (a_very_long_column_name_that_goes_on_and_on, b);\n\
         ALTER TABLE r ADD UNIQUE (a, b);\n\
         ALTER TABLE r ADD COLUMN u int UNIQUE, ADD PRIMARY KEY (z);\n"
    );
    let mut conn = fresh_database(&history).await;
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.relname::text, t.relname::text FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' ORDER BY i.oid",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the index names");
    assert_eq!(names.len(), 15, "{names:?}");
    assert!(
        names.iter().any(|(i, _)| i == "r_x_idx1"),
        "a name taken by a table moves on: {names:?}"
    );
    let drops: String = names
        .iter()
        .map(|(index, _)| format!("DROP INDEX \"{index}\";\n"))
        .collect();
    let files: Vec<(std::path::PathBuf, String)> =
        vec![("1_h.sql".into(), history), ("2_d.sql".into(), drops)];
    let report = lint_files(
        &files,
        &LintOptions {
            catalog: Catalog::empty_database(),
            chain: Chain::History,
            ..LintOptions::default()
        },
    );
    let tables: Vec<Option<String>> = report.files[1]
        .analysis
        .statements
        .iter()
        .map(|s| {
            s.locks
                .iter()
                .find(|l| l.target == Target::Table && l.mode == LockMode::AccessExclusive)
                .map(|l| l.relation.clone())
        })
        .collect();
    let expected: Vec<Option<String>> = names.iter().map(|(_, t)| Some(t.clone())).collect();
    assert_eq!(tables, expected, "the tables of {names:?}");
}

/// Changing the type of a column in a foreign key, on either side, drops and re-creates the key:
/// the server takes ACCESS EXCLUSIVE on the other table too, and re-checks every row when either
/// table is rewritten (not for a binary-coercible change). vaultwarden's `fix_attachments`
/// changes `users.uuid`, which six tables reference. For each statement, the other tables the
/// server locks ACCESS EXCLUSIVE and the ones it reads (`pg_stat_xact_user_tables`) are the
/// ones the analysis locks and scans, from the migrations and from the live catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_column_type_change_locks_and_rechecks_the_other_tables_of_its_foreign_keys() {
    use lockstep::analysis::lint::Chain;
    use lockstep::analysis::{Catalog, LintOptions, lint_files};

    let history = [
        "CREATE TABLE u (id int PRIMARY KEY, code char(10) UNIQUE, name varchar(30) UNIQUE, note text);",
        "CREATE TABLE c (id int PRIMARY KEY, uid int REFERENCES u, ucode char(10) REFERENCES u (code), uname varchar(30), FOREIGN KEY (uname) REFERENCES u (name));",
        "CREATE TABLE d (id int PRIMARY KEY, owner int);",
        "ALTER TABLE d ADD CONSTRAINT d_owner FOREIGN KEY (owner) REFERENCES u;",
    ];
    let mut conn = fresh_database(&history.join("\n")).await;
    sqlx::raw_sql(AssertSqlSafe(
        "INSERT INTO u SELECT n, n::text, n::text, 'x' FROM generate_series(1, 20) n;
         INSERT INTO c SELECT n, n, n::text, n::text FROM generate_series(1, 20) n;
         INSERT INTO d SELECT n, n FROM generate_series(1, 20) n;"
            .to_string(),
    ))
    .execute(&mut conn)
    .await
    .expect("fill the tables");
    let live = lockstep::schema::read_catalog(&mut conn)
        .await
        .expect("read the catalogue");
    // (statement, its table)
    let cases = [
        ("ALTER TABLE u ALTER COLUMN id TYPE bigint", "u"),
        ("ALTER TABLE u ALTER COLUMN name TYPE varchar(40)", "u"),
        ("ALTER TABLE u ALTER COLUMN code TYPE char(12)", "u"),
        ("ALTER TABLE u ALTER COLUMN note TYPE varchar(10)", "u"),
        ("ALTER TABLE c ALTER COLUMN uid TYPE bigint", "c"),
        ("ALTER TABLE c ALTER COLUMN uname TYPE text", "c"),
        ("ALTER TABLE d ALTER COLUMN owner TYPE bigint", "d"),
    ];
    let reads = "SELECT coalesce(string_agg(relname || '=' || (seq_scan + coalesce(idx_scan, 0)), ',' ORDER BY relname), '') \
                 FROM pg_stat_xact_user_tables WHERE relname IN ('u', 'c', 'd')";
    let count = |listing: &str, table: &str| -> i64 {
        listing
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{table}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    // Per case: the other tables locked ACCESS EXCLUSIVE, and those among them read.
    let mut server: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (statement, table) in cases {
        sqlx::raw_sql(AssertSqlSafe("BEGIN".to_string()))
            .execute(&mut conn)
            .await
            .expect("begin");
        let before: String = sqlx::query_scalar(AssertSqlSafe(reads.to_string()))
            .fetch_one(&mut conn)
            .await
            .expect("reads before");
        sqlx::raw_sql(AssertSqlSafe(statement.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        let after: String = sqlx::query_scalar(AssertSqlSafe(reads.to_string()))
            .fetch_one(&mut conn)
            .await
            .expect("reads after");
        let locked: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT relation::regclass::text FROM pg_locks WHERE pid = pg_backend_pid() \
             AND locktype = 'relation' AND mode = 'AccessExclusiveLock' \
             AND relation::regclass::text IN ('u', 'c', 'd') AND relation::regclass::text <> '{table}' \
             ORDER BY 1"
        )))
        .fetch_all(&mut conn)
        .await
        .expect("read the locks");
        let read: Vec<String> = locked
            .iter()
            .filter(|t| count(&after, t) > count(&before, t))
            .cloned()
            .collect();
        sqlx::raw_sql(AssertSqlSafe("ROLLBACK".to_string()))
            .execute(&mut conn)
            .await
            .expect("rollback");
        server.push((locked, read));
    }
    let expected = |locked: &[&str], read: &[&str]| {
        (
            locked.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            read.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        server,
        vec![
            expected(&["c", "d"], &["c", "d"]),
            expected(&["c"], &[]),
            expected(&["c"], &["c"]),
            expected(&[], &[]),
            expected(&["u"], &["u"]),
            expected(&["u"], &[]),
            expected(&["u"], &["u"]),
        ],
        "what the server locks and re-checks"
    );

    // The analysis of each statement alone, after the history (from the files) or against the
    // catalogue read from the server.
    let predicted = |history: &[&str], catalog: Catalog| -> Vec<(Vec<String>, Vec<String>)> {
        cases
            .iter()
            .map(|(statement, table)| {
                let files: Vec<(std::path::PathBuf, String)> = history
                    .iter()
                    .chain(std::iter::once(statement))
                    .enumerate()
                    .map(|(i, t)| (format!("{}_m.sql", i + 1).into(), format!("{t};")))
                    .collect();
                let report = lint_files(
                    &files,
                    &LintOptions {
                        catalog: catalog.clone(),
                        chain: Chain::History,
                        ..LintOptions::default()
                    },
                );
                let last = report.files.last().expect("the statement's file");
                let others: Vec<_> = last.analysis.statements[0]
                    .locks
                    .iter()
                    .filter(|l| l.relation != *table && l.mode == LockMode::AccessExclusive)
                    .collect();
                let mut locked: Vec<String> = others.iter().map(|l| l.relation.clone()).collect();
                let mut read: Vec<String> = others
                    .iter()
                    .filter(|l| l.scan)
                    .map(|l| l.relation.clone())
                    .collect();
                locked.sort();
                read.sort();
                (locked, read)
            })
            .collect()
    };
    assert_eq!(
        predicted(&history, Catalog::empty_database()),
        server,
        "from the migrations"
    );
    assert_eq!(predicted(&[], live), server, "from the live catalogue");
}

/// A table copied under ACCESS SHARE, then dropped and replaced in the same transaction, loses
/// what another session writes in between: the server lets the write through and the DROP
/// discards it. With `LOCK TABLE … IN EXCLUSIVE MODE` first, the write waits (here: until its
/// lock_timeout) and nothing is lost. `copy-loses-writes` fires on exactly the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_table_copied_under_access_share_then_dropped_loses_the_writes_in_between() {
    use lockstep::analysis::lint::Chain;
    use lockstep::analysis::{LintOptions, lint_files};

    let history = "CREATE TABLE items (id int PRIMARY KEY, name text);";
    let copy = "CREATE TABLE items_new (id bigint PRIMARY KEY, name text);\n\
                INSERT INTO items_new SELECT id, name FROM items;";
    let swap = "DROP TABLE items;\nALTER TABLE items_new RENAME TO items;";
    for guard in ["", "LOCK TABLE items IN EXCLUSIVE MODE;\n"] {
        let mut a = fresh_database(&format!("{history}\nINSERT INTO items VALUES (1, 'a');")).await;
        let database: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(&mut a)
            .await
            .expect("database name");
        let mut b = PgConnection::connect(&server_url(Some(&database)))
            .await
            .expect("a second session");
        sqlx::raw_sql(AssertSqlSafe(format!("BEGIN;\n{guard}{copy}")))
            .execute(&mut a)
            .await
            .expect("copy");
        // The other session writes while the migration's transaction is open.
        let written = sqlx::raw_sql(AssertSqlSafe(
            "SET lock_timeout = '200ms'; INSERT INTO items VALUES (2, 'b')".to_string(),
        ))
        .execute(&mut b)
        .await;
        sqlx::raw_sql(AssertSqlSafe(format!("{swap}\nCOMMIT;")))
            .execute(&mut a)
            .await
            .expect("swap");
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM items WHERE id = 2")
            .fetch_one(&mut a)
            .await
            .expect("count");
        let lost = written.is_ok() && kept == 0;
        if guard.is_empty() {
            assert!(written.is_ok(), "the write goes through: {written:?}");
            assert!(lost, "the write is lost");
        } else {
            let waited = written
                .as_ref()
                .err()
                .and_then(|e| e.as_database_error())
                .and_then(|e| e.code())
                .is_some_and(|c| c == "55P03");
            assert!(waited, "the write waits for the lock: {written:?}");
            assert!(!lost);
        }
        let files: Vec<(std::path::PathBuf, String)> = vec![
            ("1_init.sql".into(), history.to_string()),
            ("2_swap.sql".into(), format!("{guard}{copy}\n{swap}")),
        ];
        let report = lint_files(
            &files,
            &LintOptions {
                chain: Chain::History,
                ..LintOptions::default()
            },
        );
        let flagged = report.files[1]
            .analysis
            .findings
            .iter()
            .any(|f| f.rule == "copy-loses-writes");
        assert_eq!(flagged, lost, "guard {guard:?}");
    }
}

/// What PostgreSQL refuses on a partitioned table, each statement sent on its own as a migration
/// outside a transaction sends it: `fails-on-partitioned-table` fires, with the live catalogue,
/// exactly on the statements the server refuses, and the recipe its advice gives runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn statements_refused_on_a_partitioned_table_fail_exactly_where_lint_says() {
    const STATEMENTS: &[&str] = &[
        "CREATE INDEX CONCURRENTLY p_id_c ON p (id)",
        "ALTER TABLE p ADD CONSTRAINT p_parent_fk FOREIGN KEY (id) REFERENCES parents (id) NOT VALID",
        "DROP INDEX CONCURRENTLY p_k",
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
        // The advice: the index on the partitioned table alone, then each partition's, attached.
        "CREATE INDEX p_id_only ON ONLY p (id)",
        "CREATE INDEX CONCURRENTLY p1_id ON p1 (id)",
        "ALTER INDEX p_id_only ATTACH PARTITION p1_id",
        "CREATE INDEX CONCURRENTLY p3a_id ON p3a (id)",
        "CREATE INDEX CONCURRENTLY pdef_id ON pdef (id)",
        "ALTER INDEX p_id_only ATTACH PARTITION pdef_id",
        "CREATE INDEX CONCURRENTLY p2_id ON p2 (id)",
        "ALTER TABLE parents ADD CONSTRAINT parents_kid_fk FOREIGN KEY (id) REFERENCES parents (id) NOT VALID",
    ];
    let mut conn = fresh_database(SETUP).await;
    let major = server_major(&mut conn).await;
    let mut mismatches = Vec::new();
    for statement in STATEMENTS {
        let catalog = lockstep::schema::read_catalog(&mut conn)
            .await
            .expect("read the catalogue");
        let analysis = analyze(
            &format!("{statement};\n"),
            &AnalysisContext {
                pg_version: major,
                in_transaction: false,
                catalog,
                ..AnalysisContext::default()
            },
        );
        let flagged = analysis
            .findings
            .iter()
            .any(|f| f.rule == "fails-on-partitioned-table");
        let refused = sqlx::raw_sql(AssertSqlSafe(statement.to_string()))
            .execute(&mut conn)
            .await
            .err();
        let expected = major < 18 || !statement.contains("NOT VALID");
        if flagged != refused.is_some() || (flagged && !expected) {
            mismatches.push(format!(
                "{statement}: lint flagged={flagged}, server refused={refused:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Every partition that holds rows has its index attached: the partitioned index is valid.
    let valid: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'p_id_only'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the index exists");
    assert!(!valid, "p3's index is not attached yet");
    sqlx::raw_sql("CREATE INDEX p3_id ON ONLY p3 (id); ALTER INDEX p3_id ATTACH PARTITION p3a_id; ALTER INDEX p_id_only ATTACH PARTITION p3_id")
        .execute(&mut conn)
        .await
        .expect("attach the sub-partition's index");
    let valid: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'p_id_only'::regclass",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the index exists");
    assert!(valid, "every partition's index is attached");
}

/// The syntax lint says needs a newer server is refused by this one exactly when lint says so,
/// and the rest runs: judged at the test server's own major version.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn syntax_a_server_refuses_fails_exactly_where_lint_says() {
    const STATEMENTS: &[&str] = &[
        "CREATE TABLE nn (a int, b int UNIQUE NULLS NOT DISTINCT)",
        "CREATE UNIQUE INDEX nn_a ON nn (a) NULLS NOT DISTINCT",
        "ALTER TABLE nn ADD CONSTRAINT nn_ab UNIQUE NULLS NOT DISTINCT (a, b)",
        "ALTER TABLE nn ADD CONSTRAINT nn_a_not_null NOT NULL a",
        "ALTER TABLE nn ALTER COLUMN a SET NOT NULL",
        "CREATE OR REPLACE TRIGGER nn_noop BEFORE INSERT ON nn FOR EACH ROW EXECUTE FUNCTION noop()",
        "MERGE INTO nn USING users u ON nn.a = u.id WHEN NOT MATCHED THEN INSERT (a, b) VALUES (u.id, u.id)",
        "INSERT INTO nn (a, b) SELECT id, id FROM users ON CONFLICT DO NOTHING",
    ];
    let mut conn = fresh_database(SETUP).await;
    let major = server_major(&mut conn).await;
    let mut mismatches = Vec::new();
    let mut refusals = 0;
    for statement in STATEMENTS {
        let analysis = analyze(
            &format!("{statement};\n"),
            &AnalysisContext {
                pg_version: major,
                ..AnalysisContext::default()
            },
        );
        let flagged = analysis
            .findings
            .iter()
            .any(|f| f.rule == "needs-newer-server");
        let refused = sqlx::raw_sql(AssertSqlSafe(statement.to_string()))
            .execute(&mut conn)
            .await
            .err();
        let syntax_error = refused
            .as_ref()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "42601");
        refusals += usize::from(flagged);
        if flagged != syntax_error || (refused.is_some() && !flagged) {
            mismatches.push(format!(
                "{statement}: lint flagged={flagged}, server refused={refused:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Below 18 (the tests' PostgreSQL 15), the named NOT NULL constraint is refused.
    assert_eq!(refusals, usize::from(major < 18), "on PostgreSQL {major}");
}
