#!/usr/bin/env python3
"""`lockstep lint` against squawk-cli on corpora of real migrations: wall time, CPU time and peak memory.

    benches/lint-corpora.py [--runs N] [--lockstep BIN] [--squawk BIN] [--formats gcc,json] [--dir] [NAME=]DIR ...

Each DIR holds a corpus's migration files (`*.sql`, sqlx's layout). This script fetches and installs
nothing and writes nothing: it runs both tools on the same files, one process per run, output
discarded, and prints per corpus and format the medians over N runs (default 15) of

- wall time (targets: lockstep at least 2x faster than squawk, for gcc and for JSON),
- CPU time (user + system, all threads),
- peak resident memory (the process's max RSS as GNU time reports it; target: lockstep at most 2x
  squawk's).

A last row per format is each tool's start-up: one file of one statement.

Wall and CPU time are measured on processes started straight from this script (`posix_spawn`,
`wait4`); the peak memory on separate runs under GNU time. The two tools' runs alternate (lockstep, squawk, lockstep, …), so a slow spell of a shared machine
hits both alike. lockstep runs as `BIN lint --pg-version 15 --format F FILES` without DATABASE_URL
(so no database is asked), or with `--dir` as `BIN lint --pg-version 15 --format F DIR` (as one
lints a migrations directory); squawk as `squawk --reporter F FILES`. The default squawk is the real
binary behind a pyenv shim, when there is one (so interpreter start-up is not counted against it).
The analysis-to-parser CPU ratio of the same corpora comes from `cargo bench --bench analyze -- DIR ...`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def default_squawk() -> str | None:
    if shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "which", "squawk"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return shutil.which("squawk")


GNU_TIME = "/usr/bin/time"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of one run of `cmd`, started
    straight from here with `posix_spawn` (no wrapper process whose own start would be counted,
    which added about 3 ms to both tools and so shrank the ratio) and reaped with `wait4`."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd[0]} failed with exit code {code}: {' '.join(cmd[:6])} …")
    return wall, usage.ru_utime + usage.ru_stime


def peak_rss(cmd: list[str], env: dict[str, str], rss_file: str) -> int:
    """Max RSS (KiB) of one run of `cmd`, from GNU time's report on its own child: a process
    started straight from this Python process would count Python's memory in its max RSS (Linux
    keeps the high-water mark of the process image an exec replaces)."""
    code = subprocess.run([GNU_TIME, "-f", "%M %x", "-o", rss_file, *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
    rss, code = Path(rss_file).read_text().split()[-2:]
    if code not in ("0", "1"):
        sys.exit(f"{cmd[0]} failed with exit code {code}: {' '.join(cmd[:6])} …")
    return int(rss)


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, tuple[float, float, int]]:
    """Median wall seconds, CPU seconds and peak RSS per tool over `runs` rounds; within a round the
    tools take turns (timed runs, then the memory runs), so a slow spell hits both alike."""
    samples: dict[str, list[tuple[float, float, int]]] = {tool: [] for tool in commands}
    with tempfile.NamedTemporaryFile(prefix="lint-corpora-") as rss:
        for cmd in commands.values():  # warm-up: file cache, binaries
            timed(cmd, env)
        for _ in range(runs):
            times = {tool: timed(cmd, env) for tool, cmd in commands.items()}
            for tool, cmd in commands.items():
                samples[tool].append((*times[tool], peak_rss(cmd, env, rss.name)))
    return {
        tool: tuple(statistics.median(s[i] for s in got) for i in range(3))
        for tool, got in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+", metavar="[NAME=]DIR")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lockstep", default=str(Path(__file__).resolve().parent.parent / "target/release/lockstep"))
    parser.add_argument("--squawk", default=default_squawk())
    parser.add_argument("--formats", default="gcc,json")
    parser.add_argument("--dir", action="store_true", help="give lockstep the directory, not its files")
    args = parser.parse_args()
    if not args.squawk:
        sys.exit("squawk-cli not found: install it (`pip install squawk-cli` or `npm install -g squawk-cli`) or pass --squawk")
    if not Path(GNU_TIME).is_file():
        sys.exit(f"{GNU_TIME} (GNU time) is needed for the peak memory: apt-get install time")
    if not Path(args.lockstep).is_file():
        sys.exit(f"{args.lockstep} not found: `cargo build --release` first, or pass --lockstep")
    version = subprocess.run([args.squawk, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"lockstep: {args.lockstep}")
    print(f"squawk:   {args.squawk} ({version})")
    print(f"runs: {args.runs} per tool, format and corpus (alternating); medians shown; load average at start: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    rows = []
    for spec in args.corpora:
        name, _, folder = spec.rpartition("=")
        folder = Path(folder)
        name = name or folder.name
        files = sorted(str(p) for p in folder.glob("*.sql"))
        if not files:
            sys.exit(f"{folder}: no *.sql files")
        size = sum(Path(f).stat().st_size for f in files)
        for fmt in args.formats.split(","):
            commands = {
                "lockstep": [args.lockstep, "lint", "--pg-version", "15", "--format", fmt,
                             *([str(folder)] if args.dir else files)],
                "squawk": [args.squawk, "--reporter", fmt, *files],
            }
            med = measure(commands, env, args.runs)
            rows.append((name, len(files), size, fmt, med))
    # What each tool costs before any work: one file of one statement. No tool with the same
    # grammar can lint a corpus faster than this plus the grammar's parse and validation of it.
    with tempfile.TemporaryDirectory(prefix="lint-corpora-") as scratch:
        one = Path(scratch) / "20240101000000_one.sql"
        one.write_text("SELECT 1;\n")
        for fmt in args.formats.split(","):
            commands = {
                "lockstep": [args.lockstep, "lint", "--pg-version", "15", "--format", fmt, str(one)],
                "squawk": [args.squawk, "--reporter", fmt, str(one)],
            }
            rows.append(("start-up (one statement)", 1, one.stat().st_size, fmt, measure(commands, env, args.runs)))
    print()
    print("| corpus | files | bytes | format | lockstep wall ms | squawk wall ms | speed-up (target ≥ 2x) "
          "| lockstep CPU ms | squawk CPU ms | lockstep peak RSS KiB | squawk peak RSS KiB | memory ratio (target ≤ 2x) |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, count, size, fmt, med in rows:
        (lw, lc, lr), (sw, sc, sr) = med["lockstep"], med["squawk"]
        print(f"| {name} | {count} | {size} | {fmt} | {lw * 1e3:.1f} | {sw * 1e3:.1f} | {sw / lw:.2f}x "
              f"| {lc * 1e3:.1f} | {sc * 1e3:.1f} | {lr:.0f} | {sr:.0f} | {lr / sr:.2f}x |")


if __name__ == "__main__":
    main()
