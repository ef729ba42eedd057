#!/usr/bin/env bash
# Crash consistency of lockstep `up`, measured with the shared reliability harness
# (../shared/tools/reliability/crash.sh, see its README): 30 trials on the generated 200-migration
# set (5 of them `-- no-transaction`), each `kill -9` at a random moment, then
#   * the harness's verdict per trial: "consistent" (exactly the first k migrations applied) or
#     "partial-notx" (a -- no-transaction migration left in between, which lockstep records with
#     success = false), never "inconsistent";
#   * `lockstep status --check` on the crashed database (it must not exit 0 on a partial one);
#   * RECOVER=1: the harness re-runs `lockstep up`. On a recorded partial migration `up` refuses by
#     design, and the harness cannot call `lockstep resolve`, so
#   * benches/crash-recover.py then recovers those trials as a user would: it reads
#     `lockstep status --json`, drops the INVALID index it names, runs `lockstep resolve V
#     --applied` when every segment is known to be done or `--rolled-back` when none is, runs
#     `lockstep up`, and checks the database equals sqlx-cli's full apply (schema, row counts, so
#     no statement ran twice; complete history; no INVALID index).
#
# Needs: Python 3, psql/pg_dump 15, sqlx-cli at ~/.cargo/bin/sqlx, the PostgreSQL 15 server
# binaries (a scratch server is started on 127.0.0.1:$PORT unless BASE_URL is set).
#
#   benches/crash-consistency.sh                      # release build, 30 trials
#   LOCKSTEP=target/debug/lockstep TRIALS=10 benches/crash-consistency.sh
#   SET=no-tx BOUNDARIES=1 benches/crash-consistency.sh   # a kill at every statement boundary
#
# SET=no-tx uses a small set instead of the 200 (7 migrations, 4 `-- no-transaction` of every
# shape sqlx can run too: CREATE INDEX CONCURRENTLY, a multi-statement body, DROP INDEX
# CONCURRENTLY, CREATE UNIQUE INDEX CONCURRENTLY), so that a boundary sweep is short and most of
# its kills land in or around a no-transaction migration. Any other harness variable (BOUNDARIES,
# STRIDE, SOURCE, SEED, KILL_SPREAD, ...) is passed through.
#
# Env: LOCKSTEP (binary; default: cargo build --release), TRIALS (30), SET, PORT (55433), BASE_URL,
# RELIABILITY_DIR (../shared/tools/reliability), OUT (a fresh /tmp directory), SEED,
# BUDGET_SECONDS (1800: no trial starts later).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL=${RELIABILITY_DIR:-$ROOT/../shared/tools/reliability}
PORT=${PORT:-55433}
TRIALS=${TRIALS:-30}
OUT=${OUT:-$(mktemp -d /tmp/lockstep-crash.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"

if [ -z "${LOCKSTEP:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    LOCKSTEP=$ROOT/target/release/lockstep
fi
LOCKSTEP=$(readlink -f "$LOCKSTEP")

if [ -z "${BASE_URL:-}" ]; then
    PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
    as_server_user() {
        if [ "$(id -u)" = 0 ]; then su nobody -s /bin/sh -c "$*"; else sh -c "$*"; fi
    }
    mkdir -p "$OUT/pg"
    if [ "$(id -u)" = 0 ]; then chown nobody "$OUT/pg"; fi
    as_server_user "$PGBIN/initdb -D $OUT/pg/data -U postgres --auth=trust >$OUT/pg/initdb.log 2>&1"
    as_server_user "$PGBIN/pg_ctl -D $OUT/pg/data -l $OUT/pg/server.log -w \
        -o \"-p $PORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c max_connections=100\" start >/dev/null"
    trap 'as_server_user "$PGBIN/pg_ctl -D $OUT/pg/data -m fast stop" >/dev/null 2>&1 || true' EXIT
    export BASE_URL=postgres://postgres@127.0.0.1:$PORT
fi

# A debug build runs the set in ~12 s instead of ~4 s: let all trials start.
if [ "${SET:-}" = no-tx ]; then
    set_dir=$OUT/no-tx-set
    mkdir -p "$set_dir"
    w() { printf '%s\n' "$2" >"$set_dir/$1"; }
    w 1_items.sql "CREATE TABLE items (id bigint PRIMARY KEY, kind text NOT NULL, n int NOT NULL);
INSERT INTO items SELECT g, 'k' || (g % 50), g % 7 FROM generate_series(1, 100000) AS g;"
    w 2_items_kind.sql "-- no-transaction
CREATE INDEX CONCURRENTLY items_kind ON items (kind);"
    w 3_multi.sql "-- no-transaction
INSERT INTO items SELECT g, 'm', 0 FROM generate_series(100001, 120000) AS g;
UPDATE items SET n = n + 1 WHERE id % 3 = 0;
ALTER TABLE items ADD COLUMN note text;"
    w 4_backfill.sql "UPDATE items SET note = 'x' WHERE id % 5 = 0;
CREATE TABLE audit (id bigserial PRIMARY KEY, what text);
INSERT INTO audit (what) SELECT 'a' || g FROM generate_series(1, 1000) AS g;"
    w 5_drop_kind.sql "-- no-transaction
DROP INDEX CONCURRENTLY items_kind;"
    w 6_items_id_n.sql "-- no-transaction
CREATE UNIQUE INDEX CONCURRENTLY items_id_n ON items (id, n);"
    w 7_c7.sql "ALTER TABLE items ADD COLUMN c7 int DEFAULT 7;"
    export SOURCE=$set_dir
fi

export KEEP_DBS=1 REL_WORK_DIR=$OUT/work QUIET=${QUIET:-0} BUDGET_SECONDS=${BUDGET_SECONDS:-1800}
echo "lockstep: $LOCKSTEP; outputs in $OUT" >&2
# The harness's run id is its process id: the crashed databases are rel_crash_<pid>_<trial>.
# --no-audit: the harness compares the whole schema with sqlx-cli's apply, in which lockstep's
# own audit schema cannot appear. The audit under kill -9 has tests of its own
# (tests/engine/audit.rs: a killed run reads as interrupted, never as succeeded).
RUNNER_UP="$LOCKSTEP --no-audit up --source {src}" \
RUNNER_STATUS="$LOCKSTEP status --check --source {src}" \
RECOVER=1 TRIALS=$TRIALS JSON_OUT=$OUT/crash.json \
    "$REL/crash.sh" >"$OUT/crash.log" 2>"$OUT/crash.err" &
run=$!
status=0
wait $run || status=$?
cat "$OUT/crash.log"
python3 "$ROOT/benches/crash-recover.py" --lockstep "$LOCKSTEP" --run "$run" \
    --json "$OUT/crash.json" --reliability "$REL" | tee "$OUT/recover.log"
exit $status
