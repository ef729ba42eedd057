#!/usr/bin/env bash
# compare-sqlx.sh: wall-time comparison of `lockstep up` against `sqlx migrate run`
# (sqlx-cli 0.9), plus the latency of `lockstep status --json` on a large history.
#
# Part 1 (target: lockstep <= 1.2x sqlx). A generated 33-migration reversible set
#   (create tables, add columns, indexes, PL/pgSQL trigger functions; each with a
#   matching .down.sql) is applied to a fresh database by each tool (by default one
#   lockstep has run on before, see UP_DATABASE), ROUNDS times, alternating which tool
#   goes first. lockstep runs as a user runs it: audited, with its health check after. Reports the median wall time per tool
#   and the ratio lockstep/sqlx. Each run is checked to have recorded all 33 rows
#   in _sqlx_migrations, so a tool that does nothing cannot win.
# Part 3 (target: lockstep peak RSS <= 2x sqlx's). One MEMORY_MB migration of multi-row
#   INSERTs applied by each tool; maximum resident set size from /usr/bin/time.
# Part 4 (target: rehearsing <= 4x up). The same 33-migration set, from an empty database:
#   `lockstep up` on a fresh database, and `lockstep rehearse --json` with a fresh, empty
#   database configured and its scratch database on the same server (--scratch-server): each
#   UP traced, its DOWN, the UP again, a catalogue snapshot after each. ROUNDS rounds,
#   alternating which goes first; medians. The target compares `up`'s wall time with the
#   rehearsal proper (the copy and the migrations, from the report's `timings`); the ratio of
#   the whole command (creating and dropping the scratch database included: a DROP DATABASE
#   forces a checkpoint) is reported beside it. Each rehearsal must report every round trip
#   good. Also reported, without a target: `rehearse --all` on the same server, and `rehearse`
#   on its own throwaway PostgreSQL (what it does by default; its start included).
# Part 2 (target: < 150 ms). `lockstep status --json` on a directory of 10,000
#   tiny simple migrations whose 10,000 rows are already in _sqlx_migrations with
#   their real SHA-384 checksums (sqlx itself confirms they count as applied).
#   Median of STATUS_RUNS runs after one warm-up run.
#
# Run from anywhere:   benches/compare-sqlx.sh
# What it does for you:
#   - installs sqlx-cli 0.9 with `cargo install` if `sqlx` 0.9 is not on PATH;
#   - builds lockstep with `cargo build --release` (target/release/lockstep);
#   - uses $DATABASE_URL if set (it needs CREATE DATABASE rights there; it creates and
#     drops databases named lsbench_*), otherwise starts a throwaway PostgreSQL on a
#     free 127.0.0.1 port (as user `nobody` when run as root), removed on exit.
# Knobs (environment):
#   ROUNDS=5              part-1 rounds            STATUS_RUNS=10        part-2 runs
#   STATUS_MIGRATIONS=10000                        RUN_TIMEOUT=300       seconds per tool run
#   TARGET_RATIO=1.2      STATUS_TARGET_MS=150     PARTS=up,status,memory,rehearse which parts
#   REHEARSE_TARGET_RATIO=4                        part 4: rehearse / up
#   MEMORY_MB=50          MEMORY_TARGET_RATIO=2.0  part 3: the large migration, peak RSS target
#   UP_DATABASE=used      part 1 on a database lockstep has run on before (its audit schema
#                         exists, as after the first run on any database); `new`: a database
#                         nothing has touched, so lockstep's first run also creates the audit
#                         schema (a one-time cost of about 25-40 ms on a 2-core VM)
#   UP_SOURCE=dir         part 1 on this migrations directory (e.g. a real project's) instead
#                         of the generated set
#   LOCKSTEP_BIN=path     use this binary, skip the build
#   SQLX_BIN=path         use this sqlx-cli binary
#   PG_BINDIR=dir         PostgreSQL server binaries for the throwaway server
#   PG_OPTS='-c fsync=off'  extra server options for the throwaway server (default: none;
#                         commit fsyncs dominate both tools' times on slow or shared disks)
# Uses hyperfine for the timing when it is installed, `date +%s%N` otherwise.
# Exit status: 0 all targets met; 1 a target missed; 2 setup failure or a tool failed.

set -euo pipefail

ROUNDS=${ROUNDS:-5}
STATUS_RUNS=${STATUS_RUNS:-10}
STATUS_MIGRATIONS=${STATUS_MIGRATIONS:-10000}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
TARGET_RATIO=${TARGET_RATIO:-1.2}
STATUS_TARGET_MS=${STATUS_TARGET_MS:-150}
PARTS=${PARTS:-up,status,memory,rehearse}
UP_DATABASE=${UP_DATABASE:-used}
REHEARSE_TARGET_RATIO=${REHEARSE_TARGET_RATIO:-4}
MEMORY_MB=${MEMORY_MB:-50}
MEMORY_TARGET_RATIO=${MEMORY_TARGET_RATIO:-2.0}
UP_MIGRATIONS=33
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $STATUS_RUNS =~ ^[1-9][0-9]*$ ]] \
    || { echo "ROUNDS and STATUS_RUNS must be positive integers" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lockstep-bench.XXXXXX")
PG_DIR=""
PG_USER_CMD=()
ADMIN_URL=""

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 2; }
has() { command -v "$1" >/dev/null 2>&1; }
part_enabled() { [[ ",$PARTS," == *",$1,"* ]]; }

# ---------------------------------------------------------------- cleanup
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local rc=$?
    set +e
    if [[ -n $ADMIN_URL && -z $PG_DIR ]]; then
        # Databases this run created on a server we do not own.
        local db
        for db in $(psql -X -At -d "$ADMIN_URL" -c \
                "SELECT datname FROM pg_database WHERE datname LIKE 'lsbench\_$$\_%'" 2>/dev/null); do
            psql -X -q -d "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1
        done
    fi
    if [[ -n $PG_DIR ]]; then
        "${PG_USER_CMD[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
        rm -rf "$PG_DIR"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# Replace the database name of a postgres:// URL, keeping user, host and ?params.
url_with_db() {
    local url=$1 db=$2 query=""
    if [[ $url == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
    local scheme=${url%%://*} rest=${url#*://}
    local authority=${rest%%/*}
    printf '%s://%s/%s%s' "$scheme" "$authority" "$db" "$query"
}

# Fresh empty database; sets DB_URL.
fresh_db() {
    local name=$1
    psql -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_URL" -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$name\"" -c "CREATE DATABASE \"$name\"" >/dev/null \
        || die "could not create database $name"
    DB_URL=$(url_with_db "$ADMIN_URL" "$name")
}

drop_db() {
    psql -X -q -d "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null 2>&1 || true
}

median() { # numbers on stdin, one per line
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2];
        else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

now_ns() { date +%s%N; }

# time_cmd OUTFILE CMD...: runs CMD once (stdin from /dev/null, output to OUTFILE.out/.err),
# prints the wall time in ms. Returns CMD's exit status.
time_cmd() {
    local out=$1; shift
    local rc=0
    if [[ $USE_HYPERFINE == 1 ]]; then
        # -N: no intermediate shell; one run, so the caller controls ordering.
        hyperfine -N --runs 1 --show-output --export-csv "$out.csv" \
            --command-name run -- "$(printf '%q ' timeout "$RUN_TIMEOUT" "$@")" \
            >"$out.out" 2>"$out.err" </dev/null || rc=$?
        if [[ $rc -ne 0 ]]; then return "$rc"; fi
        # CSV: command,mean,stddev,median,user,system,min,max (seconds)
        awk -F, 'NR == 2 { printf "%.1f\n", $2 * 1000 }' "$out.csv"
    else
        local t0 t1
        t0=$(now_ns)
        timeout "$RUN_TIMEOUT" "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
        t1=$(now_ns)
        if [[ $rc -ne 0 ]]; then return "$rc"; fi
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) / 1e6 }'
    fi
}

show_failure() { # message outfile-prefix
    printf '[bench] ERROR: %s. Its output:\n' "$1" >&2
    sed 's/^/    | /' "$2.out" "$2.err" 2>/dev/null | tail -n 40 >&2
}

# ---------------------------------------------------------------- tools
USE_HYPERFINE=0
if has hyperfine; then USE_HYPERFINE=1; fi

# apt-get install for root on Debian-like systems, when something basic is missing.
apt_install() {
    if [[ $(id -u) == 0 ]] && has apt-get; then
        log "installing $* with apt-get"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        return 1
    fi
}

has psql || apt_install postgresql-client || true
has psql || die "psql is required (install the PostgreSQL client)"
has sha384sum || die "sha384sum (coreutils) is required"
has cargo || [[ -n ${LOCKSTEP_BIN:-} && -n ${SQLX_BIN:-} ]] || die "cargo is required (https://rustup.rs)"

is_sqlx_09() { "$1" --version 2>/dev/null | grep -Eq '^sqlx-cli 0\.9\.'; }

SQLX=""
if ! part_enabled up && ! part_enabled status && ! part_enabled memory; then
    log "sqlx-cli is not needed for PARTS=$PARTS"
elif [[ -n ${SQLX_BIN:-} ]]; then
    SQLX=$SQLX_BIN
elif has sqlx && is_sqlx_09 sqlx; then
    SQLX=$(command -v sqlx)
elif [[ -x $HOME/.cargo/bin/sqlx ]] && is_sqlx_09 "$HOME/.cargo/bin/sqlx"; then
    SQLX=$HOME/.cargo/bin/sqlx
else
    # shellcheck disable=SC2054  # "postgres,rustls" is one argument
    install_args=(install sqlx-cli --version '^0.9' --no-default-features
                  --features postgres,rustls --locked)
    if has sqlx; then
        # A different sqlx-cli is installed: leave it alone, install 0.9 privately.
        root=$REPO/target/bench-tools
        log "sqlx on PATH is '$(sqlx --version 2>&1 | head -n1)'; installing sqlx-cli 0.9 into $root"
        cargo "${install_args[@]}" --root "$root" >&2 || die "cargo install sqlx-cli failed"
        SQLX=$root/bin/sqlx
    else
        log "sqlx not found; installing sqlx-cli 0.9 (takes a few minutes)"
        cargo "${install_args[@]}" >&2 || die "cargo install sqlx-cli failed"
        SQLX=$(command -v sqlx || echo "$HOME/.cargo/bin/sqlx")
    fi
fi
[[ -z $SQLX ]] || is_sqlx_09 "$SQLX" || die "$SQLX is not sqlx-cli 0.9 ($("$SQLX" --version 2>&1 | head -n1))"

# lockstep: a build or start-up failure does not stop the sqlx half; the script
# still reports what it measured and exits 2 at the end.
LOCKSTEP_ERROR=""
if [[ -n ${LOCKSTEP_BIN:-} ]]; then
    LOCKSTEP=$LOCKSTEP_BIN
else
    log "building lockstep (cargo build --release)"
    if (cd "$REPO" && cargo build --release >&2); then
        target_dir=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
            | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
        LOCKSTEP=${target_dir:-$REPO/target}/release/lockstep
    else
        LOCKSTEP=""
        LOCKSTEP_ERROR="cargo build --release failed (see the compiler output above)"
    fi
fi
if [[ -z $LOCKSTEP_ERROR ]]; then
    if [[ ! -x $LOCKSTEP ]]; then
        LOCKSTEP_ERROR="lockstep binary not found or not executable: $LOCKSTEP"
    elif ! "$LOCKSTEP" --help >"$WORK/lockstep-help" 2>&1 </dev/null; then
        LOCKSTEP_ERROR="'$LOCKSTEP --help' failed: $(head -c 300 "$WORK/lockstep-help")"
    fi
fi
if [[ -n $LOCKSTEP_ERROR ]]; then
    log "ERROR: $LOCKSTEP_ERROR"
    log "continuing with the sqlx half only; the comparison will be incomplete"
fi

# ---------------------------------------------------------------- database
find_pg_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then echo "$PG_BINDIR"; return; fi
    if has pg_config && [[ -x $(pg_config --bindir)/initdb ]]; then pg_config --bindir; return; fi
    local d
    # shellcheck disable=SC2012  # fixed, well-formed paths
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x $d/initdb ]] && { echo "$d"; return; }
    done
    return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -n ${DATABASE_URL:-} ]]; then
    ADMIN_URL=$(url_with_db "$DATABASE_URL" postgres)
    psql -X -q -d "$ADMIN_URL" -c 'SELECT 1' >/dev/null \
        || die "cannot connect to the 'postgres' database of \$DATABASE_URL"
    log "using the server of \$DATABASE_URL"
else
    PG_BINDIR=$(find_pg_bindir) || { apt_install postgresql && PG_BINDIR=$(find_pg_bindir); } \
        || die "no PostgreSQL server found: set DATABASE_URL, PG_BINDIR, or install postgresql"
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lockstep-bench-pg.XXXXXX")
    if [[ $(id -u) == 0 ]]; then
        # PostgreSQL refuses to run as root.
        chown nobody "$PG_DIR"
        has runuser || die "running as root needs runuser (util-linux) to start PostgreSQL as nobody"
        PG_USER_CMD=(runuser -u nobody --)
    else
        PG_USER_CMD=(env)
    fi
    "${PG_USER_CMD[@]}" "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
        --no-sync >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    started=0
    for attempt in 1 2 3; do
        port=$((20000 + RANDOM % 20000))
        while port_in_use "$port"; do port=$((port + 1)); done
        log "starting a throwaway PostgreSQL ($PG_BINDIR) on 127.0.0.1:$port"
        if "${PG_USER_CMD[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -w -l "$PG_DIR/log" \
                -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 ${PG_OPTS:-}" start >/dev/null; then
            started=1; break
        fi
        log "PostgreSQL did not start (attempt $attempt); server log:"; tail -n 5 "$PG_DIR/log" >&2
    done
    [[ $started == 1 ]] || die "PostgreSQL did not start"
    ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi
SERVER_VERSION=$(psql -X -At -d "$ADMIN_URL" -c 'SHOW server_version')

# ---------------------------------------------------------------- part 1 data
# 33 reversible migrations: 11 tables x (create table; add columns + index; trigger function).
gen_up_set() {
    local dir=$1 i=0 k e prev
    local entities=(accounts projects documents comments tags attachments invoices payments
                    webhooks audit_events api_keys)
    mkdir -p "$dir"
    for k in "${!entities[@]}"; do
        e=${entities[$k]}
        prev=${entities[$((k > 0 ? k - 1 : 0))]}
        # 1. create table (each table after the first references the previous one)
        i=$((i + 1)); local v=$((20260301100000 + i))
        {
            echo "-- Create $e."
            echo "CREATE TABLE $e ("
            echo "    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            ((k > 0)) && echo "    parent_id   bigint REFERENCES $prev (id),"
            echo "    name        text        NOT NULL,"
            echo "    created_at  timestamptz NOT NULL DEFAULT now(),"
            echo "    updated_at  timestamptz NOT NULL DEFAULT now()"
            echo ");"
        } >"$dir/${v}_create_${e}.up.sql"
        echo "DROP TABLE $e;" >"$dir/${v}_create_${e}.down.sql"
        # 2. add columns with constant defaults, and an index
        i=$((i + 1)); v=$((20260301100000 + i))
        cat >"$dir/${v}_add_${e}_status.up.sql" <<SQL
-- Lifecycle status and free-form metadata; constant defaults, no rewrite.
ALTER TABLE $e
    ADD COLUMN status text NOT NULL DEFAULT 'active',
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
CREATE INDEX ${e}_status_idx ON $e (status, created_at);
COMMENT ON COLUMN $e.status IS 'active; suspended; deleted';
SQL
        cat >"$dir/${v}_add_${e}_status.down.sql" <<SQL
DROP INDEX ${e}_status_idx;
ALTER TABLE $e DROP COLUMN metadata, DROP COLUMN status;
SQL
        # 3. updated_at trigger function
        i=$((i + 1)); v=$((20260301100000 + i))
        cat >"$dir/${v}_touch_${e}.up.sql" <<SQL
CREATE FUNCTION ${e}_touch() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
\$\$;
CREATE TRIGGER ${e}_touch BEFORE UPDATE ON $e
    FOR EACH ROW EXECUTE FUNCTION ${e}_touch();
SQL
        cat >"$dir/${v}_touch_${e}.down.sql" <<SQL
DROP TRIGGER ${e}_touch ON $e;
DROP FUNCTION ${e}_touch();
SQL
    done
    [[ $i == "$UP_MIGRATIONS" ]] || die "generated $i migrations, expected $UP_MIGRATIONS"
}

applied_count() { # url
    psql -X -At -d "$1" -c "SELECT count(*) FROM _sqlx_migrations WHERE success" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- part 1
UP_STATUS=skipped; UP_LINE=""; UP_ERROR=""
SQLX_TIMES=(); LS_TIMES=(); PAIR_RATIOS=()
run_up_tool() { # tool round -> sets RUN_MS; returns non-zero if the tool failed
    local tool=$1 round=$2 db rc=0 n
    db="lsbench_$$_${round}_${tool}"
    fresh_db "$db"
    if [[ $UP_DATABASE == used && -n $LOCKSTEP && -z $LOCKSTEP_ERROR ]]; then
        # A database lockstep has run on before: its audit schema (and an empty
        # _sqlx_migrations) exist, for both tools.
        mkdir -p "$WORK/no-migrations"
        "$LOCKSTEP" up --no-check --source "$WORK/no-migrations" --database-url "$DB_URL" \
            >/dev/null 2>&1 </dev/null || die "could not prepare $db with lockstep's audit schema"
    fi
    RUN_MS=""
    if [[ $tool == sqlx ]]; then
        RUN_MS=$(time_cmd "$WORK/run-$db" "$SQLX" migrate run --source "$UP_DIR" --database-url "$DB_URL") || rc=$?
    else
        RUN_MS=$(time_cmd "$WORK/run-$db" "$LOCKSTEP" up --source "$UP_DIR" --database-url "$DB_URL") || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
        show_failure "$tool (round $round) failed with exit status $rc" "$WORK/run-$db"
        drop_db "$db"; return 1
    fi
    n=$(applied_count "$DB_URL")
    drop_db "$db"
    if [[ $n != "$UP_MIGRATIONS" ]]; then
        show_failure "$tool (round $round) exited 0 but _sqlx_migrations has $n of $UP_MIGRATIONS rows" \
            "$WORK/run-$db"
        return 1
    fi
}

# migration_set SUBDIR: sets SET_DIR and SET_COUNT to UP_SOURCE (a real project's migrations)
# or to the generated set, written to $WORK/SUBDIR.
migration_set() {
    if [[ -n ${UP_SOURCE:-} ]]; then
        SET_DIR=$UP_SOURCE
        SET_COUNT=$(find "$SET_DIR" -maxdepth 1 -name '*.sql' ! -name '*.down.sql' | wc -l)
    else
        SET_DIR=$WORK/$1
        gen_up_set "$SET_DIR"
        SET_COUNT=$UP_MIGRATIONS
    fi
}

if part_enabled up; then
    migration_set up-migrations
    UP_DIR=$SET_DIR
    UP_MIGRATIONS=$SET_COUNT
    log "part 1: on a $([[ $UP_DATABASE == used ]] && echo 'database lockstep has run on before' || echo 'new database') (UP_DATABASE=$UP_DATABASE)"
    log "part 1: $UP_MIGRATIONS migrations, $ROUNDS rounds, timer: $([[ $USE_HYPERFINE == 1 ]] && echo hyperfine || echo 'date +%s%N')"
    # Warm-up (untimed): page cache, dynamic loader, server catalog caches.
    run_up_tool sqlx warm || die "sqlx migrate run failed on the generated set"
    if [[ -z $LOCKSTEP_ERROR ]]; then
        run_up_tool lockstep warm || UP_ERROR="lockstep up failed (output above)"
    fi
    printf '%-6s %-9s %10s %12s\n' round first sqlx_ms lockstep_ms
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then order=(sqlx lockstep); else order=(lockstep sqlx); fi
        s_ms="-"; l_ms="-"
        for tool in "${order[@]}"; do
            if [[ $tool == sqlx ]]; then
                run_up_tool sqlx "$r" || die "sqlx migrate run failed"
                s_ms=$RUN_MS; SQLX_TIMES+=("$s_ms")
            elif [[ -z $LOCKSTEP_ERROR && -z $UP_ERROR ]]; then
                if run_up_tool lockstep "$r"; then
                    l_ms=$RUN_MS; LS_TIMES+=("$l_ms")
                else
                    UP_ERROR="lockstep up failed (output above)"
                fi
            fi
        done
        printf '%-6s %-9s %10s %12s\n' "$r" "${order[0]}" "$s_ms" "$l_ms"
        if [[ $s_ms != - && $l_ms != - ]]; then
            PAIR_RATIOS+=("$(awk -v a="$l_ms" -v b="$s_ms" 'BEGIN { printf "%.3f", a / b }')")
        fi
    done
    SQLX_MED=$(printf '%s\n' "${SQLX_TIMES[@]}" | median)
    UP_ERROR=${LOCKSTEP_ERROR:-$UP_ERROR}
    if [[ -z $UP_ERROR && ${#LS_TIMES[@]} -gt 0 ]]; then
        LS_MED=$(printf '%s\n' "${LS_TIMES[@]}" | median)
        RATIO=$(awk -v a="$LS_MED" -v b="$SQLX_MED" 'BEGIN { printf "%.3f", a / b }')
        if awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN { exit !(r <= t) }'; then UP_STATUS=PASS; else UP_STATUS=FAIL; fi
        PAIR_MED=$(printf '%s\n' "${PAIR_RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END {
            printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        UP_LINE="up: sqlx median ${SQLX_MED} ms, lockstep median ${LS_MED} ms, ratio ${RATIO} (target <= ${TARGET_RATIO}): ${UP_STATUS}"
        UP_LINE+=$'\n'"    (median of the per-round lockstep/sqlx ratios, less sensitive to drift: ${PAIR_MED})"
    else
        UP_STATUS=ERROR
        UP_LINE="up: sqlx median ${SQLX_MED} ms, lockstep: not measured (${UP_ERROR})"
    fi
fi

# ---------------------------------------------------------------- part 2
STATUS_STATUS=skipped; STATUS_LINE=""; STATUS_ERROR=""
if part_enabled status; then
    S_DIR=$WORK/status-migrations
    mkdir -p "$S_DIR"
    log "part 2: generating $STATUS_MIGRATIONS simple migrations and their _sqlx_migrations rows"
    # Simple (non-reversible) migrations, versions 1..N zero-padded, e.g. 00042_step_00042.sql
    awk -v n="$STATUS_MIGRATIONS" -v d="$S_DIR" 'BEGIN {
        for (i = 1; i <= n; i++) {
            f = sprintf("%s/%05d_step_%05d.sql", d, i, i)
            printf "SELECT %d;\n", i > f
            close(f)
        } }'
    # COPY rows: version, description ("step 00042"), success, checksum (bytea hex), execution_time (ns)
    (cd "$S_DIR" && sha384sum -- *.sql) | awk '{
        file = $2; sub(/^\*/, "", file)
        split(file, p, "_"); v = p[1] + 0
        desc = file; sub(/^[0-9]+_/, "", desc); sub(/\.sql$/, "", desc); gsub(/_/, " ", desc)
        printf "%d\t%s\tt\t\\\\x%s\t%d\n", v, desc, $1, 1000000 + v }' >"$WORK/history.tsv"
    [[ $(wc -l <"$WORK/history.tsv") == "$STATUS_MIGRATIONS" ]] || die "checksum generation failed"
    fresh_db "lsbench_$$_status"
    S_URL=$DB_URL
    # Same definition sqlx 0.9 creates (sqlx-postgres migrate.rs).
    psql -X -q -v ON_ERROR_STOP=1 -d "$S_URL" >/dev/null <<SQL || die "could not load _sqlx_migrations"
CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
);
\copy _sqlx_migrations (version, description, success, checksum, execution_time) FROM '$WORK/history.tsv'
ANALYZE _sqlx_migrations;
SQL
    # Sanity: sqlx must agree every migration is applied with a matching checksum
    # (it refuses with "previously applied but has been modified" otherwise).
    "$SQLX" migrate run --source "$S_DIR" --database-url "$S_URL" >"$WORK/sqlx-check.out" 2>&1 \
        || { cat "$WORK/sqlx-check.out" >&2; die "sqlx rejected the generated history"; }
    [[ $(applied_count "$S_URL") == "$STATUS_MIGRATIONS" ]] || die "unexpected _sqlx_migrations row count"

    if [[ -n $LOCKSTEP_ERROR ]]; then
        STATUS_STATUS=ERROR
        STATUS_LINE="status --json: not measured (${LOCKSTEP_ERROR})"
    else
        log "part 2: lockstep status --json, 1 warm-up + $STATUS_RUNS runs"
        ST_TIMES=()
        status_cmd=("$LOCKSTEP" status --json --source "$S_DIR" --database-url "$S_URL")
        # Warm-up, untimed and run directly, so its stdout can be checked for output.
        rc=0
        timeout "$RUN_TIMEOUT" "${status_cmd[@]}" >"$WORK/status-0.out" 2>"$WORK/status-0.err" </dev/null || rc=$?
        if [[ $rc -ne 0 ]]; then
            show_failure "lockstep status --json failed with exit status $rc" "$WORK/status-0"
            STATUS_ERROR="lockstep status --json failed (output above)"
        elif [[ ! -s $WORK/status-0.out ]]; then
            show_failure "lockstep status --json exited 0 but printed nothing on stdout" "$WORK/status-0"
            STATUS_ERROR="lockstep status --json printed nothing"
        fi
        for ((r = 1; r <= STATUS_RUNS && ${#STATUS_ERROR} == 0; r++)); do
            rc=0
            ms=$(time_cmd "$WORK/status-$r" "${status_cmd[@]}") || rc=$?
            if [[ $rc -ne 0 ]]; then
                show_failure "lockstep status --json failed with exit status $rc" "$WORK/status-$r"
                STATUS_ERROR="lockstep status --json failed (output above)"
            else
                ST_TIMES+=("$ms")
            fi
        done
        if [[ -z $STATUS_ERROR ]]; then
            ST_MED=$(printf '%s\n' "${ST_TIMES[@]}" | median)
            if awk -v m="$ST_MED" -v t="$STATUS_TARGET_MS" 'BEGIN { exit !(m < t) }'; then STATUS_STATUS=PASS; else STATUS_STATUS=FAIL; fi
            STATUS_LINE="status --json on $STATUS_MIGRATIONS migrations: median ${ST_MED} ms over $STATUS_RUNS runs (target < ${STATUS_TARGET_MS} ms): ${STATUS_STATUS}"
        else
            STATUS_STATUS=ERROR
            STATUS_LINE="status --json: not measured (${STATUS_ERROR})"
        fi
    fi
    drop_db "lsbench_$$_status"
fi

# ---------------------------------------------------------------- part 3
# Peak memory (maximum resident set size, /usr/bin/time) of applying one large migration:
# MEMORY_MB of multi-row INSERTs (1,000 rows per statement), each tool on a fresh database.
MEMORY_STATUS=skipped; MEMORY_LINE=""
if part_enabled memory; then
    [[ -x /usr/bin/time ]] || die "part 3 needs GNU time (/usr/bin/time; Debian: apt-get install time)"
    M_DIR=$WORK/memory-migrations
    mkdir -p "$M_DIR"
    log "part 3: generating a ${MEMORY_MB} MB migration"
    awk -v mb="$MEMORY_MB" 'BEGIN {
        print "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL);"
        target = mb * 1024 * 1024; size = 0; id = 0
        while (size < target) {
            line = "INSERT INTO big (id, payload) VALUES"
            for (r = 0; r < 1000; r++) {
                id++
                row = sprintf("%s\n  (%d, '\''payload %d: lorem ipsum dolor sit amet, consectetur adipiscing elit'\'')", (r ? "," : ""), id, id)
                line = line row
            }
            line = line ";"
            print line
            size += length(line) + 1
        } }' >"$M_DIR/20260401000000_big_seed.sql"
    M_BYTES=$(stat -c %s "$M_DIR/20260401000000_big_seed.sql")
    peak_kb() { # tool -> prints max RSS in KB
        local tool=$1 db="lsbench_$$_mem_$1" rc=0
        fresh_db "$db"
        if [[ $tool == sqlx ]]; then
            /usr/bin/time -f '%M' -o "$WORK/mem-$tool" timeout "$RUN_TIMEOUT" \
                "$SQLX" migrate run --source "$M_DIR" --database-url "$DB_URL" >"$WORK/mem-$tool.out" 2>&1 || rc=$?
        else
            /usr/bin/time -f '%M' -o "$WORK/mem-$tool" timeout "$RUN_TIMEOUT" \
                "$LOCKSTEP" up --source "$M_DIR" --database-url "$DB_URL" >"$WORK/mem-$tool.out" 2>&1 || rc=$?
        fi
        [[ $rc == 0 && $(applied_count "$DB_URL") == 1 ]] \
            || { show_failure "$tool failed on the ${MEMORY_MB} MB migration (rc $rc)" "$WORK/mem-$tool"; drop_db "$db"; return 1; }
        drop_db "$db"
        tail -n1 "$WORK/mem-$tool"
    }
    S_KB=$(peak_kb sqlx) || die "sqlx migrate run failed on the large migration"
    if L_KB=$(peak_kb lockstep); then
        M_RATIO=$(awk -v a="$L_KB" -v b="$S_KB" 'BEGIN { printf "%.2f", a / b }')
        if awk -v r="$M_RATIO" -v t="$MEMORY_TARGET_RATIO" 'BEGIN { exit !(r <= t) }'; then MEMORY_STATUS=PASS; else MEMORY_STATUS=FAIL; fi
        MEMORY_LINE="memory, one $((M_BYTES / 1048576)) MB migration: sqlx peak RSS $((S_KB / 1024)) MB, lockstep $((L_KB / 1024)) MB, ratio ${M_RATIO} (target <= ${MEMORY_TARGET_RATIO}): ${MEMORY_STATUS}"
    else
        MEMORY_STATUS=ERROR
        MEMORY_LINE="memory: lockstep failed on the large migration (output above)"
    fi
fi

# ---------------------------------------------------------------- part 4
REHEARSE_STATUS=skipped; REHEARSE_LINE=""
# rehearse_run MODE ROUND: times one run on a fresh empty database; sets RUN_MS.
rehearse_run() {
    local mode=$1 round=$2 db rc=0
    db="lsbench_$$_r${round}_${mode}"
    fresh_db "$db"
    RUN_MS=""
    case $mode in
        up) RUN_MS=$(time_cmd "$WORK/r-$db" "$LOCKSTEP" up --source "$R_DIR" --database-url "$DB_URL") || rc=$? ;;
        same) RUN_MS=$(time_cmd "$WORK/r-$db" "$LOCKSTEP" rehearse --json --source "$R_DIR" \
                  --database-url "$DB_URL" --scratch-server "$ADMIN_URL") || rc=$? ;;
        all) RUN_MS=$(time_cmd "$WORK/r-$db" "$LOCKSTEP" rehearse --json --all --source "$R_DIR" \
                  --database-url "$DB_URL" --scratch-server "$ADMIN_URL") || rc=$? ;;
        sandbox) RUN_MS=$(time_cmd "$WORK/r-$db" env -u LOCKSTEP_SCRATCH_SERVER "$LOCKSTEP" rehearse \
                     --json --source "$R_DIR" --database-url "$DB_URL") || rc=$? ;;
    esac
    drop_db "$db"
    PROPER_MS=""
    if [[ $mode == up ]]; then
        [[ $rc == 0 ]] || { show_failure "lockstep up failed (rc $rc)" "$WORK/r-$db"; return 1; }
        return 0
    fi
    # 3: only disagreements with the static analysis; the run still counts. Every migration's
    # UP, DOWN and UP again must be "ok".
    local ok
    ok=$(grep -c '"outcome": "ok"' "$WORK/r-$db.out" || true)
    if [[ $rc != 0 && $rc != 3 ]] || [[ $ok != $((3 * R_MIGRATIONS)) ]]; then
        show_failure "lockstep rehearse ($mode) did not report $R_MIGRATIONS good round trips (rc $rc, $ok phases ok)" "$WORK/r-$db"
        return 1
    fi
    PROPER_MS=$(awk -F'[:,]' '/"copy_ms"|"migrations_ms"/ { sum += $2; n++ } END { if (n == 2) printf "%.1f", sum }' "$WORK/r-$db.out")
    if [[ -z $PROPER_MS ]]; then
        show_failure "lockstep rehearse ($mode) printed no timings" "$WORK/r-$db"
        return 1
    fi
}

if part_enabled rehearse; then
    if [[ -n $LOCKSTEP_ERROR ]]; then
        REHEARSE_STATUS=ERROR
        REHEARSE_LINE="rehearse: not measured (${LOCKSTEP_ERROR})"
    else
        migration_set rehearse-migrations
        R_DIR=$SET_DIR
        R_MIGRATIONS=$SET_COUNT
        log "part 4: rehearse vs up on $R_MIGRATIONS migrations, $ROUNDS rounds"
        R_ERROR=""
        rehearse_run up warm && rehearse_run same warm || R_ERROR="a warm-up run failed (output above)"
        R_UP=(); R_SAME=(); R_PROPER=(); R_ALL=(); R_SANDBOX=()
        printf '%-6s %8s %12s %10s %8s %12s\n' round up_ms rehearse_ms proper_ms all_ms sandbox_ms
        for ((r = 1; r <= ROUNDS && ${#R_ERROR} == 0; r++)); do
            if ((r % 2)); then order=(up same all sandbox); else order=(sandbox all same up); fi
            declare -A ms=()
            for mode in "${order[@]}"; do
                rehearse_run "$mode" "$r" || { R_ERROR="lockstep $mode failed (output above)"; break; }
                ms[$mode]=$RUN_MS
                [[ $mode == same ]] && ms[proper]=$PROPER_MS
            done
            [[ -n $R_ERROR ]] && break
            R_UP+=("${ms[up]}"); R_SAME+=("${ms[same]}"); R_PROPER+=("${ms[proper]}")
            R_ALL+=("${ms[all]}"); R_SANDBOX+=("${ms[sandbox]}")
            printf '%-6s %8s %12s %10s %8s %12s\n' "$r" "${ms[up]}" "${ms[same]}" "${ms[proper]}" \
                "${ms[all]}" "${ms[sandbox]}"
            unset ms
        done
        if [[ -z $R_ERROR ]]; then
            ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
            UP_M=$(printf '%s\n' "${R_UP[@]}" | median)
            SAME_M=$(printf '%s\n' "${R_SAME[@]}" | median)
            PROPER_M=$(printf '%s\n' "${R_PROPER[@]}" | median)
            ALL_M=$(printf '%s\n' "${R_ALL[@]}" | median)
            SANDBOX_M=$(printf '%s\n' "${R_SANDBOX[@]}" | median)
            R_RATIO=$(ratio "$PROPER_M" "$UP_M")
            if awk -v r="$R_RATIO" -v t="$REHEARSE_TARGET_RATIO" 'BEGIN { exit !(r <= t) }'; then REHEARSE_STATUS=PASS; else REHEARSE_STATUS=FAIL; fi
            REHEARSE_LINE="rehearse, $R_MIGRATIONS migrations from empty: up median ${UP_M} ms, rehearsing them (copy + migrations) median ${PROPER_M} ms, ratio ${R_RATIO} (target <= ${REHEARSE_TARGET_RATIO}): ${REHEARSE_STATUS}"
            REHEARSE_LINE+=$'\n'"    whole command, scratch database created and dropped on the same server: median ${SAME_M} ms (ratio $(ratio "$SAME_M" "$UP_M"))"
            REHEARSE_LINE+=$'\n'"    no target: rehearse --all median ${ALL_M} ms (ratio $(ratio "$ALL_M" "$UP_M")); rehearse on its own throwaway PostgreSQL median ${SANDBOX_M} ms (ratio $(ratio "$SANDBOX_M" "$UP_M"), its start included)"
        else
            REHEARSE_STATUS=ERROR
            REHEARSE_LINE="rehearse: not measured (${R_ERROR})"
        fi
    fi
fi

# ---------------------------------------------------------------- report
echo
echo "== lockstep vs sqlx-cli =="
echo "server:   PostgreSQL $SERVER_VERSION"
[[ -n $SQLX ]] && echo "sqlx:     $("$SQLX" --version 2>&1 | head -n1) ($SQLX)"
if [[ -n ${LOCKSTEP:-} && -x ${LOCKSTEP:-/nonexistent} ]]; then
    v=$("$LOCKSTEP" --version 2>/dev/null </dev/null | head -n1 || true)
    echo "lockstep: ${v:-version unknown} ($LOCKSTEP)"
else
    echo "lockstep: unavailable"
fi
echo "timer:    $([[ $USE_HYPERFINE == 1 ]] && echo hyperfine || echo 'date +%s%N'); cores: $(nproc 2>/dev/null || echo '?')"
[[ -n $UP_LINE ]] && echo "$UP_LINE"
[[ -n $STATUS_LINE ]] && echo "$STATUS_LINE"
[[ -n $MEMORY_LINE ]] && echo "$MEMORY_LINE"
[[ -n $REHEARSE_LINE ]] && echo "$REHEARSE_LINE"

if [[ $MEMORY_STATUS == ERROR ]]; then
    echo "ERROR: lockstep could not be measured on the large migration" >&2
    exit 2
fi
if [[ $MEMORY_STATUS == FAIL ]]; then exit 1; fi
if [[ $REHEARSE_STATUS == ERROR ]]; then
    echo "ERROR: lockstep rehearse could not be measured" >&2
    exit 2
fi
if [[ $REHEARSE_STATUS == FAIL ]]; then exit 1; fi
if [[ $UP_STATUS == ERROR || $STATUS_STATUS == ERROR ]]; then
    echo "ERROR: lockstep could not be measured: ${LOCKSTEP_ERROR:-${UP_ERROR:-$STATUS_ERROR}}" >&2
    exit 2
fi
if [[ $UP_STATUS == FAIL || $STATUS_STATUS == FAIL ]]; then exit 1; fi
exit 0
