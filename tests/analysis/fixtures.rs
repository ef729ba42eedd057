//! Every rule with SQL that must fire it and SQL that must not, including version cut-offs and
//! new-table exemptions.

use lockstep::analysis::{Severity, analyze, rules::RULES};

use super::common::{ctx, rules};

struct Case {
    sql: &'static str,
    pg: u32,
    in_tx: bool,
    fire: &'static [&'static str],
    quiet: &'static [&'static str],
}

const fn case(
    sql: &'static str,
    fire: &'static [&'static str],
    quiet: &'static [&'static str],
) -> Case {
    Case {
        sql,
        pg: 15,
        in_tx: true,
        fire,
        quiet,
    }
}

const fn at(
    pg: u32,
    sql: &'static str,
    fire: &'static [&'static str],
    quiet: &'static [&'static str],
) -> Case {
    Case {
        sql,
        pg,
        in_tx: true,
        fire,
        quiet,
    }
}

const fn no_tx(
    sql: &'static str,
    fire: &'static [&'static str],
    quiet: &'static [&'static str],
) -> Case {
    Case {
        sql,
        pg: 15,
        in_tx: false,
        fire,
        quiet,
    }
}

const CASES: &[Case] = &[
    // 1. non-concurrent index
    case(
        "CREATE INDEX ix ON users (email);",
        &["require-concurrent-index"],
        &[],
    ),
    case(
        "CREATE UNIQUE INDEX ix ON public.users (email) WHERE deleted_at IS NULL;",
        &["require-concurrent-index"],
        &[],
    ),
    // A concurrent build: IF NOT EXISTS keeps an INVALID leftover; DROP … IF EXISTS first is
    // robust; a build alone in its migration needs nothing.
    no_tx(
        "CREATE INDEX CONCURRENTLY ix ON users (email);",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON users (email);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix2 ON users (name);",
        &["prefer-robust-statements"],
        &[],
    ),
    no_tx(
        "DROP INDEX CONCURRENTLY IF EXISTS ix;\nCREATE INDEX CONCURRENTLY ix ON users (email);\nDROP INDEX CONCURRENTLY IF EXISTS ix2;\nCREATE INDEX CONCURRENTLY ix2 ON users (name);",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON users (email);",
        &[],
        &[
            "require-concurrent-index",
            "not-in-transaction-block",
            "prefer-robust-statements",
        ],
    ),
    case(
        "CREATE TABLE users (id int, email text);\nCREATE INDEX ix ON users (email);",
        &[],
        &["require-concurrent-index", "missing-lock-timeout"],
    ),
    case(
        "CREATE TABLE \"Users\" (id int);\nCREATE INDEX ix ON \"Users\" (id);",
        &[],
        &["require-concurrent-index"],
    ),
    case(
        "CREATE TABLE s.t (id int);\nCREATE INDEX ix ON t (id);",
        &["require-concurrent-index"],
        &[],
    ),
    case(
        "CREATE TABLE public.t (id int);\nCREATE INDEX ix ON t (id);",
        &[],
        &["require-concurrent-index"],
    ),
    // 2. drop index
    case("DROP INDEX ix;", &["require-concurrent-index-drop"], &[]),
    no_tx(
        "DROP INDEX CONCURRENTLY IF EXISTS ix;",
        &[],
        &["require-concurrent-index-drop", "prefer-robust-statements"],
    ),
    case(
        "CREATE TABLE t (id int);\nCREATE INDEX ix ON t (id);\nDROP INDEX ix;",
        &[],
        &["require-concurrent-index-drop"],
    ),
    // 3. not in a transaction block
    case(
        "CREATE INDEX CONCURRENTLY ix ON users (email);",
        &["not-in-transaction-block"],
        &["require-concurrent-index"],
    ),
    case(
        "DROP INDEX CONCURRENTLY ix;",
        &["not-in-transaction-block"],
        &[],
    ),
    case(
        "REINDEX INDEX CONCURRENTLY ix;",
        &["not-in-transaction-block"],
        &["require-concurrent-reindex"],
    ),
    case("VACUUM users;", &["not-in-transaction-block"], &[]),
    case(
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;",
        &["not-in-transaction-block"],
        &["require-concurrent-detach"],
    ),
    at(
        11,
        "ALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';",
        &["not-in-transaction-block"],
        &[],
    ),
    at(
        12,
        "ALTER TYPE mood ADD VALUE 'meh' AFTER 'ok';",
        &[],
        &["not-in-transaction-block", "enum-value-ordering"],
    ),
    no_tx(
        "BEGIN;\nCREATE INDEX CONCURRENTLY ix ON users (email);\nCOMMIT;",
        &["not-in-transaction-block"],
        &[],
    ),
    no_tx("VACUUM users;", &[], &["not-in-transaction-block"]),
    // sqlx sends a `-- no-transaction` file as one query: one implicit transaction.
    no_tx(
        "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY ix ON users (email);",
        &["no-transaction-not-alone"],
        &["not-in-transaction-block"],
    ),
    no_tx(
        "-- build it\nCREATE INDEX CONCURRENTLY ix ON users (email);;\n-- done\n",
        &[],
        &["no-transaction-not-alone"],
    ),
    no_tx(
        "UPDATE users SET n = 1;\nALTER TYPE mood ADD VALUE 'meh';",
        &[],
        &["no-transaction-not-alone"],
    ),
    Case {
        sql: "UPDATE users SET n = 1;\nALTER TYPE mood ADD VALUE 'meh';",
        pg: 11,
        in_tx: false,
        fire: &["no-transaction-not-alone"],
        quiet: &[],
    },
    case(
        "CREATE INDEX CONCURRENTLY ix ON users (email);\nSELECT 1;",
        &["not-in-transaction-block"],
        &["no-transaction-not-alone"],
    ),
    // 4. reindex
    case("REINDEX TABLE users;", &["require-concurrent-reindex"], &[]),
    case(
        "REINDEX INDEX users_email;",
        &["require-concurrent-reindex"],
        &[],
    ),
    no_tx(
        "REINDEX TABLE CONCURRENTLY users;",
        &[],
        &["require-concurrent-reindex"],
    ),
    // 5. volatile default (version-gated)
    case(
        "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
        &["volatile-default-rewrite"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT clock_timestamp();",
        &["volatile-default-rewrite"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now();",
        &[],
        &["volatile-default-rewrite"],
    ),
    case(
        "ALTER TABLE t ADD COLUMN flag boolean NOT NULL DEFAULT true;",
        &[],
        &["volatile-default-rewrite", "add-required-column"],
    ),
    case(
        "ALTER TABLE t ADD COLUMN n int DEFAULT 0;",
        &[],
        &["volatile-default-rewrite"],
    ),
    at(
        10,
        "ALTER TABLE t ADD COLUMN flag boolean DEFAULT true;",
        &["volatile-default-rewrite"],
        &[],
    ),
    at(
        11,
        "ALTER TABLE t ADD COLUMN flag boolean DEFAULT true;",
        &[],
        &["volatile-default-rewrite"],
    ),
    case(
        "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
        &[],
        &["volatile-default-rewrite"],
    ),
    // 6. rewriting column kinds
    case(
        "ALTER TABLE t ADD COLUMN id bigserial;",
        &["column-fill-rewrite"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN id int GENERATED ALWAYS AS IDENTITY;",
        &["column-fill-rewrite"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED;",
        &["column-fill-rewrite"],
        &[],
    ),
    at(
        18,
        "ALTER TABLE t ADD COLUMN total int GENERATED ALWAYS AS (a + b) VIRTUAL;",
        &[],
        &["column-fill-rewrite"],
    ),
    at(
        18,
        "ALTER TABLE t ADD COLUMN total int GENERATED ALWAYS AS (a + b);",
        &[],
        &["column-fill-rewrite"],
    ),
    case(
        "ALTER TABLE t ADD COLUMN note text;",
        &[],
        &["column-fill-rewrite", "volatile-default-rewrite"],
    ),
    // 7. SET NOT NULL
    case(
        "ALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &["set-not-null-scan"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &["check-needs-not-valid"],
        &["set-not-null-scan"],
    ),
    at(
        11,
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &["set-not-null-scan"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &["set-not-null-scan"],
        &["check-needs-not-valid"],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (other IS NOT NULL);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &["set-not-null-scan"],
        &[],
    ),
    case(
        "CREATE TABLE t (c int);\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
        &[],
        &["set-not-null-scan"],
    ),
    // 8. required column
    case(
        "ALTER TABLE t ADD COLUMN c int NOT NULL;",
        &["add-required-column"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;",
        &[],
        &["add-required-column"],
    ),
    case(
        "ALTER TABLE t ADD COLUMN c int;",
        &[],
        &["add-required-column"],
    ),
    // 9. CHECK without NOT VALID
    case(
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (amount > 0);",
        &["check-needs-not-valid"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (amount > 0) NOT VALID;",
        &[],
        &["check-needs-not-valid"],
    ),
    case(
        "CREATE TABLE t (amount int);\nALTER TABLE t ADD CONSTRAINT pos CHECK (amount > 0);",
        &[],
        &["check-needs-not-valid"],
    ),
    // 10. foreign keys
    case(
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);",
        &["foreign-key-needs-not-valid"],
        &[],
    ),
    case(
        "ALTER TABLE orders ADD COLUMN user_id int REFERENCES users (id);",
        &["foreign-key-needs-not-valid"],
        &[],
    ),
    case(
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        &[],
        &["foreign-key-needs-not-valid"],
    ),
    case(
        "CREATE TABLE orders (id int, user_id int REFERENCES users (id));",
        &["missing-lock-timeout"],
        &["foreign-key-needs-not-valid"],
    ),
    // 11. VALIDATE in the same transaction
    case(
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT pos;",
        &["validate-in-same-transaction"],
        &[],
    ),
    case(
        "ALTER TABLE t VALIDATE CONSTRAINT pos;",
        &[],
        &["validate-in-same-transaction", "missing-lock-timeout"],
    ),
    no_tx(
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT pos;",
        &[],
        &["validate-in-same-transaction"],
    ),
    // 12 / 13. index-building constraints
    case(
        "ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);",
        &["unique-constraint-builds-index"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD COLUMN code text UNIQUE;",
        &["unique-constraint-builds-index"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX t_email_idx;",
        &[],
        &["unique-constraint-builds-index"],
    ),
    case(
        "ALTER TABLE t ADD PRIMARY KEY (id);",
        &["primary-key-builds-index"],
        &["unique-constraint-builds-index"],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX t_id_idx;",
        &[],
        &["primary-key-builds-index"],
    ),
    case(
        "CREATE TABLE t (id int);\nALTER TABLE t ADD PRIMARY KEY (id);",
        &[],
        &["primary-key-builds-index"],
    ),
    // 14. exclusion
    case(
        "ALTER TABLE booking ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
        &["exclusion-constraint"],
        &[],
    ),
    case(
        "CREATE TABLE booking (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));",
        &[],
        &["exclusion-constraint"],
    ),
    // 15. column type
    case(
        "ALTER TABLE t ALTER COLUMN id TYPE bigint;",
        &["column-type-rewrite"],
        &[],
    ),
    case(
        "ALTER TABLE t ALTER COLUMN note TYPE text USING note::text;",
        &["column-type-rewrite"],
        &[],
    ),
    // 17. timeouts
    case(
        "ALTER TABLE t ADD COLUMN c int;",
        &["missing-lock-timeout"],
        &["missing-statement-timeout"],
    ),
    case(
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c int;",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "SET LOCAL lock_timeout TO '2s';\nALTER TABLE t ADD COLUMN c int;",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "SELECT set_config('lock_timeout', '2s', true);\nALTER TABLE t ADD COLUMN c int;",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "SET lock_timeout = '2s';\nRESET lock_timeout;\nALTER TABLE t ADD COLUMN c int;",
        &["missing-lock-timeout"],
        &[],
    ),
    case(
        "SET lock_timeout = 0;\nALTER TABLE t ADD COLUMN c int;",
        &["missing-lock-timeout"],
        &[],
    ),
    case(
        "SET lock_timeout = '2s';\nRESET ALL;\nALTER TABLE t ADD COLUMN c int;",
        &["missing-lock-timeout"],
        &[],
    ),
    no_tx(
        "SET LOCAL lock_timeout = '2s';\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;",
        &["missing-lock-timeout"],
        &[],
    ),
    case(
        "SET lock_timeout = '2s';\nCREATE INDEX ix ON t (a);",
        &["missing-statement-timeout"],
        &["missing-lock-timeout"],
    ),
    case(
        "SET lock_timeout = '2s';\nSET statement_timeout = '5min';\nCREATE INDEX ix ON t (a);",
        &[],
        &["missing-statement-timeout"],
    ),
    case(
        "ALTER TABLE t VALIDATE CONSTRAINT c;",
        &[],
        &["missing-lock-timeout"],
    ),
    case("SELECT * FROM t;", &[], &["missing-lock-timeout"]),
    // 18. lock window
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nUPDATE a SET c = 1;",
        &["lock-held-across-statements"],
        &[],
    ),
    // Brief statements one after the other: the lock window is a badge, not a warning.
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nALTER TABLE b ADD COLUMN c int;",
        &[],
        &["lock-held-across-statements"],
    ),
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nINSERT INTO a (c) VALUES (1);",
        &[],
        &["lock-held-across-statements"],
    ),
    case(
        "SET lock_timeout = '1s';\nSET statement_timeout = '1min';\nALTER TABLE a ADD COLUMN c int;\nCREATE INDEX ix ON b (x);",
        &["lock-held-across-statements", "require-concurrent-index"],
        &[],
    ),
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nINSERT INTO a (c) SELECT x FROM b;",
        &["lock-held-across-statements"],
        &[],
    ),
    case(
        "SET lock_timeout = '1s';\nCREATE TABLE fresh (id int);\nUPDATE fresh SET id = 1;",
        &[],
        &["lock-held-across-statements"],
    ),
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nSELECT backfill_a();",
        &[],
        &["lock-held-across-statements"],
    ),
    no_tx(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN IF NOT EXISTS c int;\nUPDATE a SET c = 1;",
        &[],
        &["lock-held-across-statements"],
    ),
    case(
        "SET lock_timeout = '1s';\nALTER TABLE a ADD COLUMN c int;\nCOMMENT ON TABLE x IS 'y';",
        &[],
        &["lock-held-across-statements"],
    ),
    // 20. detach partition (14+)
    case(
        "ALTER TABLE p DETACH PARTITION p1;",
        &["require-concurrent-detach"],
        &[],
    ),
    // 22. vacuum full / cluster
    no_tx("VACUUM FULL users;", &["vacuum-full-or-cluster"], &[]),
    no_tx(
        "VACUUM (FULL, ANALYZE) users;",
        &["vacuum-full-or-cluster"],
        &[],
    ),
    case(
        "CLUSTER users USING users_pkey;",
        &["vacuum-full-or-cluster"],
        &[],
    ),
    no_tx("VACUUM (ANALYZE) users;", &[], &["vacuum-full-or-cluster"]),
    // 23. refresh
    case(
        "REFRESH MATERIALIZED VIEW stats;",
        &["refresh-materialized-view"],
        &[],
    ),
    case(
        "REFRESH MATERIALIZED VIEW CONCURRENTLY stats;",
        &[],
        &["refresh-materialized-view"],
    ),
    // 24. truncate cascade
    case("TRUNCATE users CASCADE;", &["truncate-cascade"], &[]),
    case("TRUNCATE users;", &[], &["truncate-cascade"]),
    // 25. domains
    case(
        "CREATE DOMAIN pos AS int CHECK (VALUE > 0);",
        &["domain-constraint"],
        &[],
    ),
    case(
        "ALTER DOMAIN pos ADD CONSTRAINT big CHECK (VALUE > 10);",
        &["domain-constraint"],
        &[],
    ),
    case(
        "ALTER DOMAIN pos ADD CONSTRAINT big CHECK (VALUE > 10) NOT VALID;",
        &[],
        &["domain-constraint"],
    ),
    case("CREATE DOMAIN email AS text;", &[], &["domain-constraint"]),
    // 26. enum values
    case(
        "ALTER TYPE mood ADD VALUE 'meh';",
        &["enum-value-ordering"],
        &["missing-lock-timeout", "not-in-transaction-block"],
    ),
    // 27 / 28 / 32 / 33. compatibility
    case("ALTER TABLE t DROP COLUMN legacy;", &["drop-column"], &[]),
    case("DROP TABLE legacy;", &["drop-table"], &[]),
    case("DROP VIEW legacy_view;", &["drop-view"], &["drop-table"]),
    case(
        "DROP MATERIALIZED VIEW stats;",
        &["drop-table"],
        &["drop-view"],
    ),
    case(
        "CREATE VIEW v AS SELECT 1;\nDROP VIEW v;",
        &[],
        &["drop-view", "drop-table"],
    ),
    // Read locks, function bodies and DO blocks do not warn by themselves.
    case(
        "CREATE VIEW v AS SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id;",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "CREATE FUNCTION n() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM users $$;",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "DO $$ BEGIN ALTER TABLE users ADD COLUMN c int; END $$;",
        &["missing-lock-timeout"],
        &[],
    ),
    case(
        "CREATE TABLE tmp (id int);\nDROP TABLE tmp;",
        &[],
        &["drop-table"],
    ),
    case(
        "ALTER TABLE t RENAME COLUMN a TO b;",
        &["rename-column"],
        &["rename-table"],
    ),
    case(
        "ALTER TABLE t RENAME TO t2;",
        &["rename-table"],
        &["rename-column"],
    ),
    case(
        "ALTER TABLE t RENAME CONSTRAINT a TO b;",
        &[],
        &["rename-table", "rename-column"],
    ),
    // A table rebuilt and swapped in the same transaction: the name stays; rows written after
    // the copy read the old table are lost unless a lock that blocks writes came first.
    case(
        "CREATE TABLE items_new (id bigint);
INSERT INTO items_new SELECT id FROM items;
DROP TABLE items;
ALTER TABLE items_new RENAME TO items;",
        &["copy-loses-writes", "drop-table"],
        &[],
    ),
    case(
        "LOCK TABLE items IN EXCLUSIVE MODE;
CREATE TABLE items_new (id bigint);
INSERT INTO items_new SELECT id FROM items;
DROP TABLE items;
ALTER TABLE items_new RENAME TO items;",
        &["drop-table"],
        &["copy-loses-writes"],
    ),
    no_tx(
        "CREATE TABLE items_new (id bigint);
INSERT INTO items_new SELECT id FROM items;
DROP TABLE items;",
        &["drop-table"],
        &["copy-loses-writes"],
    ),
    // RENAME, CREATE, copy, DROP (river's migration 005, in a DO block): the dropped table got
    // its name in this transaction, under the RENAME's ACCESS EXCLUSIVE lock.
    case(
        "ALTER TABLE logs RENAME TO logs_old;
CREATE TABLE logs (line text, version bigint);
INSERT INTO logs SELECT 'main', version FROM logs_old;
DROP TABLE logs_old;",
        &["rename-table", "lock-held-across-statements"],
        &["drop-table", "copy-loses-writes"],
    ),
    case(
        "DO $$ BEGIN ALTER TABLE logs RENAME TO logs_old; CREATE TABLE logs (line text, version bigint); INSERT INTO logs SELECT 'main', version FROM logs_old; DROP TABLE logs_old; END $$;",
        &["rename-table"],
        &["drop-table", "copy-loses-writes"],
    ),
    // A table the same DO block created earlier is new: indexing it blocks nobody (river 005's
    // DOWN); the index of a table it did not create still does.
    case(
        "DO $$ BEGIN CREATE TABLE logs2 (version bigint); CREATE INDEX ON logs2 (version); END $$;",
        &[],
        &["require-concurrent-index"],
    ),
    case(
        "DO $$ BEGIN CREATE INDEX ON logs (version); CREATE TABLE logs2 (version bigint); END $$;",
        &["require-concurrent-index"],
        &[],
    ),
    // SQL a DO block builds at run time is not in the text (a rewrite, here); a DO block without
    // EXECUTE, or a function that only defines one, runs none now.
    case(
        "DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN c int DEFAULT random()', 'users'); END $$;",
        &["dynamic-sql"],
        &[],
    ),
    case(
        "DO $$ BEGIN IF true THEN UPDATE users SET email = lower(email); END IF; END $$;",
        &[],
        &["dynamic-sql"],
    ),
    case(
        "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'TRUNCATE ' || t; END $$;",
        &[],
        &["dynamic-sql"],
    ),
    // A function runs what it builds when a statement calls it, or a trigger fires it.
    case(
        "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'TRUNCATE ' || t; END $$;\nSELECT f('users');",
        &["dynamic-sql"],
        &[],
    ),
    case(
        "CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('DELETE FROM %I', TG_ARGV[0]); RETURN NEW; END $$;\n\
         CREATE TRIGGER tg AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION g('logs');\n\
         INSERT INTO users (email) VALUES ('a');",
        &["dynamic-sql"],
        &[],
    ),
    case(
        "DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE format('SELECT * FROM %I', 'users') LOOP NULL; END LOOP; END $$;",
        &["dynamic-sql"],
        &[],
    ),
    // A command written as a constant is followed like the block's own statements.
    case(
        "DO $$ BEGIN EXECUTE 'CREATE INDEX ON logs ' || '(version)'; END $$;",
        &["require-concurrent-index"],
        &["dynamic-sql"],
    ),
    case(
        "CREATE FUNCTION h() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'LOCK TABLE users'; END $$;\nSELECT h();",
        &["function-locks"],
        &["dynamic-sql"],
    ),
    // 48 / 49. transaction shape
    case(
        "BEGIN;\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;",
        &["transaction-nesting"],
        &["uncommitted-transaction"],
    ),
    no_tx(
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;",
        &[],
        &[
            "transaction-nesting",
            "uncommitted-transaction",
            "missing-lock-timeout",
        ],
    ),
    no_tx("BEGIN;\nBEGIN;\nCOMMIT;", &["transaction-nesting"], &[]),
    no_tx("BEGIN;\nSELECT 1;", &["uncommitted-transaction"], &[]),
    no_tx(
        "START TRANSACTION;\nSELECT 1;\nROLLBACK;",
        &[],
        &["uncommitted-transaction"],
    ),
    // 50. robustness outside a transaction: only a statement something could fail after
    no_tx(
        "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);",
        &["prefer-robust-statements"],
        &[],
    ),
    no_tx(
        "-- a failure leaves nothing behind\nCREATE TABLE t (id int);",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "CREATE TABLE IF NOT EXISTS t (id int);",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "SET lock_timeout = '1s';\nDROP TABLE IF EXISTS t;",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c int;",
        &[],
        &["prefer-robust-statements"],
    ),
    no_tx(
        "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN c int;\nALTER TABLE t ADD COLUMN d int;",
        &["prefer-robust-statements"],
        &[],
    ),
    case(
        "CREATE TABLE t (id int);",
        &[],
        &["prefer-robust-statements"],
    ),
    // lockstep-only rules
    case(
        "ALTER TABLE t SET TABLESPACE fast;",
        &["table-rewrite"],
        &[],
    ),
    case("ALTER TABLE t SET UNLOGGED;", &["table-rewrite"], &[]),
    case(
        "ALTER TABLE t SET (fillfactor = 70);",
        &[],
        &["table-rewrite", "missing-lock-timeout"],
    ),
    case(
        "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
        &["trigger-lock"],
        &[],
    ),
    case("ALTER TABLE t DISABLE TRIGGER trg;", &["trigger-lock"], &[]),
    case("LOCK TABLE t;", &["lock-table"], &[]),
    case(
        "LOCK TABLE t IN ACCESS SHARE MODE;",
        &[],
        &["lock-table", "missing-lock-timeout"],
    ),
    case("CREATE TABLE (;", &["syntax-error"], &[]),
    // quickwit's DOWN: the server rejects it (42601) before taking a lock, so nothing it would
    // lock or drop is reported from the parser's recovery (a column named "column").
    case(
        "ALTER TABLE users DROP IF EXISTS COLUMN email;\nDROP INDEX ix;",
        &["syntax-error", "require-concurrent-index-drop"],
        &["drop-column"],
    ),
    // The file as a whole: never written, or a marker sqlx does not see.
    case(
        "-- Add migration script here\n",
        &["unwritten-migration"],
        &[],
    ),
    case("", &[], &["unwritten-migration"]),
    case("-- a no-op on purpose\n", &[], &["unwritten-migration"]),
    case(
        "-- add a value\n-- no-transaction\nALTER TYPE mood ADD VALUE 'meh';",
        &["misplaced-no-transaction"],
        &[],
    ),
    case(
        "-- no-transaction\nALTER TYPE mood ADD VALUE 'meh';",
        &[],
        &["misplaced-no-transaction"],
    ),
    case(
        "CREATE POLICY own ON users FOR SELECT USING (true);",
        &["missing-lock-timeout"],
        &[],
    ),
    case(
        "CREATE TABLE users (id int);\nCREATE POLICY own ON users FOR SELECT USING (true);",
        &[],
        &["missing-lock-timeout"],
    ),
    case(
        "CREATE OR REPLACE VIEW v AS SELECT 1;",
        &["missing-lock-timeout"],
        &[],
    ),
    case("CREATE VIEW v AS SELECT 1;", &[], &["missing-lock-timeout"]),
    // review integrity
    case(
        "INSERT INTO t VALUES ('\u{1b}[8m');\nDROP TABLE important;",
        &["hidden-character"],
        &[],
    ),
    case(
        "SELECT 'access' /* \u{202e} \u{2066} */;",
        &["hidden-character"],
        &[],
    ),
    case(
        "SELECT 'plain é ünïcödé', \"données\";\r\n",
        &[],
        &["hidden-character", "mixed-script-identifier"],
    ),
    case(
        "SELECT * FROM p\u{430}yments;",
        &["mixed-script-identifier"],
        &["hidden-character"],
    ),
    // What PostgreSQL refuses on a partitioned table, new or not: the migration fails there.
    no_tx(
        "CREATE TABLE p (id int, k int) PARTITION BY LIST (k);\nCREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);\nCREATE INDEX CONCURRENTLY p_id ON p (id);",
        &["fails-on-partitioned-table"],
        &[],
    ),
    no_tx(
        "CREATE TABLE p (id int, k int) PARTITION BY LIST (k);\nCREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);\nCREATE INDEX CONCURRENTLY p1_id ON p1 (id);",
        &[],
        &["fails-on-partitioned-table"],
    ),
    case(
        "CREATE TABLE u (id int PRIMARY KEY);\nCREATE TABLE p (id int, k int, u int) PARTITION BY LIST (k);\nALTER TABLE p ADD CONSTRAINT p_u FOREIGN KEY (u) REFERENCES u (id) NOT VALID;",
        &["fails-on-partitioned-table"],
        &[],
    ),
    at(
        18,
        "CREATE TABLE u (id int PRIMARY KEY);\nCREATE TABLE p (id int, k int, u int) PARTITION BY LIST (k);\nALTER TABLE p ADD CONSTRAINT p_u FOREIGN KEY (u) REFERENCES u (id) NOT VALID;",
        &[],
        &["fails-on-partitioned-table"],
    ),
    no_tx(
        "CREATE TABLE p (id int, k int) PARTITION BY LIST (k);\nCREATE INDEX p_id ON p (id);\nDROP INDEX CONCURRENTLY p_id;",
        &["fails-on-partitioned-table"],
        &[],
    ),
    case(
        "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
        &["create-partition-locks-parent"],
        &[],
    ),
    at(
        11,
        "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
        &[],
        &["create-partition-locks-parent"],
    ),
    // A table created in the same migration holds no rows to cascade from.
    case(
        "CREATE TABLE t (id int PRIMARY KEY);\nCREATE TABLE c (t_id int REFERENCES t ON DELETE CASCADE);\nDELETE FROM t WHERE id = 1;",
        &[],
        &["delete-cascades"],
    ),
    // Syntax the target server refuses.
    at(
        14,
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING;",
        &["needs-newer-server"],
        &[],
    ),
    case(
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING;",
        &[],
        &["needs-newer-server"],
    ),
    at(
        14,
        "CREATE UNIQUE INDEX t_a ON t (a) NULLS NOT DISTINCT;",
        &["needs-newer-server"],
        &[],
    ),
    at(
        14,
        "CREATE TABLE t (a int, UNIQUE NULLS NOT DISTINCT (a));",
        &["needs-newer-server"],
        &[],
    ),
    case(
        "ALTER TABLE t ADD CONSTRAINT t_a_not_null NOT NULL a;",
        &["needs-newer-server", "set-not-null-scan"],
        &[],
    ),
    at(
        18,
        "ALTER TABLE t ADD CONSTRAINT t_a_not_null NOT NULL a;",
        &["set-not-null-scan"],
        &["needs-newer-server"],
    ),
    at(
        13,
        "CREATE OR REPLACE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
        &["needs-newer-server"],
        &[],
    ),
    at(
        14,
        "CREATE OR REPLACE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
        &[],
        &["needs-newer-server"],
    ),
    // diesel-guard's blocks: a paired one suppresses, an unpaired marker is reported.
    case(
        "-- safety-assured:start\nDROP TABLE t;\n-- safety-assured:end\n",
        &[],
        &["drop-table", "unmatched-ignore-block"],
    ),
    case(
        "-- safety-assured:start\nDROP TABLE t;\n",
        &["unmatched-ignore-block", "drop-table"],
        &[],
    ),
];

#[test]
fn every_fixture_fires_what_it_must_and_nothing_it_must_not() {
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let analysis = analyze(case.sql, &ctx(case.pg, case.in_tx));
        let fired = rules(&analysis);
        for rule in case.fire {
            if !fired.contains(rule) {
                failures.push(format!(
                    "#{i} pg{} tx={}: {rule} did not fire on {:?}; fired {fired:?}",
                    case.pg, case.in_tx, case.sql
                ));
            }
        }
        for rule in case.quiet {
            if fired.contains(rule) {
                failures.push(format!(
                    "#{i} pg{} tx={}: {rule} fired on {:?}",
                    case.pg, case.in_tx, case.sql
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_registered_rule_has_a_firing_fixture() {
    let fired: Vec<&str> = CASES.iter().flat_map(|c| c.fire.iter().copied()).collect();
    let missing: Vec<_> = RULES
        .iter()
        .map(|r| r.name)
        .filter(|name| !fired.contains(name) && *name != "unknown-rule-in-ignore")
        // Fires on a git history, not on SQL: `cli::changed_since_lints_only_what_the_branch_changed`.
        .filter(|name| *name != "modified-applied-migration")
        // Needs a default partition from an earlier migration: `context::a_default_partition_…`.
        .filter(|name| *name != "default-partition-scan")
        // Needs a referenced table from an earlier migration: `context::a_delete_reaches_…`.
        .filter(|name| *name != "delete-cascades")
        // Needs a trigger on a table from an earlier migration: `context::a_statement_takes_…`.
        .filter(|name| *name != "fires-trigger")
        // Needs a function from an earlier migration: `context::a_statement_takes_…_it_calls`.
        .filter(|name| *name != "function-locks")
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a firing fixture: {missing:?}"
    );
}

#[test]
fn findings_name_the_table_and_the_lock() {
    let analysis = super::common::run("CREATE INDEX ix ON users (email);");
    let f = analysis
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-index")
        .expect("fires");
    assert_eq!(f.table.as_deref(), Some("users"));
    assert_eq!(f.lock, Some(lockstep::analysis::LockMode::Share));
    assert!(
        f.message.contains("SHARE") && f.message.contains("users"),
        "{}",
        f.message
    );
    assert!(f.message.contains("blocks writes"), "{}", f.message);
    assert!(
        !f.message.contains("blocks reads"),
        "SHARE does not block reads: {}",
        f.message
    );
    assert!(
        f.safe_alternative
            .as_deref()
            .unwrap_or("")
            .contains("CONCURRENTLY")
    );
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn check_and_unique_messages_say_reads_are_blocked_too() {
    // The reference's §6: squawk and eugene say these only "block writes".
    for sql in [
        "ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0);",
        "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);",
    ] {
        let analysis = super::common::run(sql);
        let f = analysis
            .findings
            .iter()
            .find(|f| {
                f.rule == "check-needs-not-valid" || f.rule == "unique-constraint-builds-index"
            })
            .expect("fires");
        assert!(
            f.message.contains("blocks reads and writes"),
            "{}",
            f.message
        );
    }
}

#[test]
fn binary_coercible_type_changes_are_not_errors() {
    // Unknown old type: a note, no rewrite predicted.
    let analysis = super::common::run("ALTER TABLE t ALTER COLUMN name TYPE varchar(200);");
    let f = analysis
        .findings
        .iter()
        .find(|f| f.rule == "column-type-rewrite")
        .expect("still mentioned");
    assert_eq!(f.severity, Severity::Info);
    assert!(!analysis.statements[0].locks[0].rewrite);
    let hard = super::common::run("ALTER TABLE t ALTER COLUMN id TYPE bigint;");
    assert!(hard.statements[0].locks[0].rewrite);
    assert!(hard.has_errors());
    // Known old types decide.
    let mut known = ctx(15, true);
    let mut t = lockstep::analysis::Relation::of(lockstep::analysis::RelationKind::Table);
    t.columns
        .insert("name".to_string(), "varchar(50)".to_string());
    t.columns
        .insert("code".to_string(), "varchar(50)".to_string());
    known.catalog.relations.insert("t".to_string(), t);
    let widen = analyze("ALTER TABLE t ALTER COLUMN name TYPE varchar(200);", &known);
    assert!(
        !rules(&widen).contains(&"column-type-rewrite"),
        "{:?}",
        rules(&widen)
    );
    let narrow = analyze("ALTER TABLE t ALTER COLUMN code TYPE varchar(10);", &known);
    let f = narrow
        .findings
        .iter()
        .find(|f| f.rule == "column-type-rewrite")
        .expect("fires");
    assert_eq!(f.severity, Severity::Error);
    assert!(narrow.statements[0].locks[0].rewrite);
}

#[test]
fn new_tables_from_earlier_migrations_are_exempt() {
    let mut context = ctx(15, true);
    context.new_tables.insert("users".to_string());
    let analysis = analyze(
        "CREATE INDEX ix ON users (email);\nALTER TABLE users ADD COLUMN n int NOT NULL;",
        &context,
    );
    assert!(analysis.findings.is_empty(), "{:?}", rules(&analysis));
    assert!(analysis.statements[0].locks[0].new_relation);
}

#[test]
fn syntax_errors_do_not_stop_the_analysis() {
    let analysis = super::common::run("CREATE TABLE (;\nCREATE INDEX ix ON users (email);");
    let fired = rules(&analysis);
    assert!(fired.contains(&"syntax-error"), "{fired:?}");
    assert!(fired.contains(&"require-concurrent-index"), "{fired:?}");
    assert_eq!(analysis.syntax_errors[0].start.line, 1);
}

#[test]
fn a_statement_reports_its_first_syntax_error_and_counts_the_rest() {
    // A template placeholder left in (supabase/auth's `{{ index .Options "Namespace" }}`): the
    // parser's recovery finds an error at nearly every token after it.
    let text = "ALTER TABLE {{index .Options \"Namespace\" }}.flow_state\n\
                ADD COLUMN IF NOT EXISTS method text NOT NULL;\n\
                CREATE INDEX ix ON users (email);\n\
                ALTER TABLE t DROP CONSTRAINT t_pkey\n\
                ALTER TABLE t ALTER COLUMN d TYPE timestamp;\n";
    let analysis = super::common::run(text);
    let errors = super::common::found(&analysis, "syntax-error");
    // One per broken statement, where PostgreSQL would stop; all of them stay in syntax_errors.
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 1);
    assert!(
        errors[0]
            .1
            .starts_with("syntax error: expected table relation name (and ")
            && errors[0].1.ends_with(" more in this statement after it)"),
        "{errors:?}"
    );
    // A missing semicolon runs the statement on into the next line.
    assert_eq!(errors[1].0, 4, "{errors:?}");
    assert!(
        analysis.syntax_errors.len() > 10,
        "{:?}",
        analysis.syntax_errors
    );
    // The statement between them is analysed as usual.
    assert!(rules(&analysis).contains(&"require-concurrent-index"));
}

#[test]
fn version_specific_advice() {
    let pg14 = analyze("CREATE INDEX ix ON users (email);", &ctx(14, true));
    let f = pg14
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-index")
        .expect("fires");
    assert!(f.message.contains("14.0–14.3"), "{}", f.message);
    let pg15 = analyze("CREATE INDEX ix ON users (email);", &ctx(15, true));
    let f = pg15
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-index")
        .expect("fires");
    assert!(!f.message.contains("14.0"));
    let timeout = |pg| {
        analyze("ALTER TABLE t ADD COLUMN c int;", &ctx(pg, true))
            .findings
            .into_iter()
            .find(|f| f.rule == "missing-lock-timeout")
            .and_then(|f| f.safe_alternative)
            .unwrap_or_default()
    };
    assert!(timeout(17).contains("transaction_timeout"));
    assert!(!timeout(16).contains("transaction_timeout"));
    let not_null = |pg| {
        analyze("ALTER TABLE t ALTER COLUMN c SET NOT NULL;", &ctx(pg, true))
            .findings
            .into_iter()
            .find(|f| f.rule == "set-not-null-scan")
            .and_then(|f| f.safe_alternative)
            .unwrap_or_default()
    };
    assert!(not_null(18).contains("NOT NULL col NOT VALID"));
    assert!(!not_null(17).contains("NOT NULL col NOT VALID"));
    let reindex = analyze("REINDEX TABLE t;", &ctx(11, true));
    let f = reindex
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-reindex")
        .expect("fires");
    assert!(f.fix.is_none(), "no REINDEX CONCURRENTLY before 12");
    let detach = analyze("ALTER TABLE p DETACH PARTITION p1;", &ctx(13, true));
    let f = detach
        .findings
        .iter()
        .find(|f| f.rule == "require-concurrent-detach")
        .expect("fires");
    assert_eq!(
        f.severity,
        Severity::Warning,
        "no CONCURRENTLY form before 14"
    );
    assert!(f.fix.is_none());
}
