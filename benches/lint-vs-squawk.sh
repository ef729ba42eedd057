#!/usr/bin/env bash
# Compare `lockstep lint` with squawk-cli on the same migration files (wall time, one process run
# over all files, best and median of N runs).
#
#   benches/lint-vs-squawk.sh [RUNS] [DIR_WITH_SQL_FILES]
#
# Without a directory it generates a corpus: 300 small migrations (~2 KB each) and one 1 MB file.
# Three pairings: JSON vs JSON, gcc vs gcc, and each tool's default human output (lockstep human vs
# squawk tty). lockstep is run as `target/release/lockstep lint --pg-version 15 FILES --format F`
# (--pg-version, so no database is consulted).
# squawk-cli is installed from PyPI (`pip install squawk-cli`) when missing; its real binary is used
# (not a pyenv shim) so interpreter start-up is not counted against it.
set -euo pipefail

RUNS="${1:-7}"
DIR="${2:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

# --- squawk ---------------------------------------------------------------------------------
if ! command -v squawk >/dev/null 2>&1; then
    echo "installing squawk-cli from PyPI…" >&2
    python3 -m pip install --quiet squawk-cli
fi
SQUAWK="$(command -v squawk)"
if command -v pyenv >/dev/null 2>&1 && pyenv which squawk >/dev/null 2>&1; then
    SQUAWK="$(pyenv which squawk)"
fi
echo "squawk: $SQUAWK ($("$SQUAWK" --version))"

# --- lockstep -------------------------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet --bin lockstep)
LOCKSTEP=(env -u DATABASE_URL "$TARGET/release/lockstep" lint --pg-version 15)
echo "lockstep: ${LOCKSTEP[*]}"

# --- corpus ---------------------------------------------------------------------------------
if [[ -z "$DIR" ]]; then
    DIR="$(mktemp -d)"
    trap 'rm -rf "$DIR"' EXIT
    python3 - "$DIR" <<'PY'
import os, sys
out = sys.argv[1]
stmts = [
    "CREATE TABLE IF NOT EXISTS t{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
    "CREATE INDEX idx_{i} ON users (email, created_at) WHERE deleted_at IS NULL;",
    "ALTER TABLE orders ADD COLUMN c{i} uuid DEFAULT gen_random_uuid(), ALTER COLUMN amount TYPE bigint;",
    "-- squawk-ignore ban-drop-column\nALTER TABLE orders DROP COLUMN old_{i};",
    "ALTER TABLE orders ADD CONSTRAINT fk_{i} FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk_{i};",
    "UPDATE orders SET note = 'backfill; not a split' WHERE id BETWEEN {i} AND {i} + 1000;",
    "SET LOCAL lock_timeout = '2s';",
    "CREATE FUNCTION f_{i}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := 1; RETURN NEW; END $$;",
    "INSERT INTO audit (id, payload) VALUES ({i}, '{\"k\": \"v\"}'::jsonb);",
]
def migration(size, start):
    parts, n, i = [], 0, start
    while n < size:
        s = stmts[i % len(stmts)].replace("{i}", str(i))
        parts.append(s); n += len(s) + 1; i += 1
    return "\n".join(parts) + "\n"
for k in range(300):
    with open(os.path.join(out, f"{20240101000000 + k}_m{k}.sql"), "w") as f:
        f.write(migration(2000, k * 100))
with open(os.path.join(out, "29990101000000_big.sql"), "w") as f:
    f.write(migration(1 << 20, 0))
PY
fi
mapfile -t FILES < <(find "$DIR" -name '*.sql' | sort)
BYTES=$(cat "${FILES[@]}" | wc -c)
echo "corpus: ${#FILES[@]} files, $BYTES bytes in $DIR"

# --- timing ---------------------------------------------------------------------------------
# Milliseconds one run of the command takes (output discarded).
once() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}

# "best median" of a list of milliseconds.
stats() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)]}'
}

# The same output style on both sides: JSON, gcc one-liners, and each tool's default human output.
# The two tools' runs alternate, so a slow spell of a shared machine hits both alike.
for pair in "json json" "gcc gcc" "human tty"; do
    read -r ours theirs <<<"$pair"
    L=() S=()
    for _ in $(seq "$RUNS"); do
        L+=("$(once "${LOCKSTEP[@]}" --format "$ours" "${FILES[@]}")")
        S+=("$(once "$SQUAWK" --reporter "$theirs" "${FILES[@]}")")
    done
    read -r L_BEST L_MED < <(stats "${L[@]}")
    read -r S_BEST S_MED < <(stats "${S[@]}")
    echo "== lockstep --format $ours vs squawk --reporter $theirs"
    echo "   lockstep: best ${L_BEST} ms, median ${L_MED} ms"
    echo "   squawk:   best ${S_BEST} ms, median ${S_MED} ms"
    awk -v l="$L_MED" -v s="$S_MED" 'BEGIN { if (l > 0) printf "   speed-up (median): %.1fx (target: at least 2x)\n", s / l }'
done

# --- peak memory ----------------------------------------------------------------------------
# Maximum resident set size of one run each (GNU time's %M, in KiB), JSON output.
peak() {
    local f
    f="$(mktemp)"
    /usr/bin/time -f '%M' -o "$f" "$@" >/dev/null 2>&1 || true
    tail -1 "$f"
    rm -f "$f"
}
if [[ -x /usr/bin/time ]]; then
    L_KB="$(peak "${LOCKSTEP[@]}" --format json "${FILES[@]}")"
    S_KB="$(peak "$SQUAWK" --reporter json "${FILES[@]}")"
    echo "== peak memory (JSON output)"
    echo "   lockstep: ${L_KB} KiB, squawk: ${S_KB} KiB"
    awk -v l="$L_KB" -v s="$S_KB" 'BEGIN { if (s > 0) printf "   lockstep / squawk: %.2fx (target: at most 2x)\n", l / s }'
else
    echo "== peak memory: /usr/bin/time (GNU time) is not installed; skipped"
fi
