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

The two tools' runs alternate (lockstep, squawk, lockstep, …), so a slow spell of a shared machine
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


def run_once(cmd: list[str], env: dict[str, str], rss_file: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and max RSS (KiB) of one run of `cmd`.

    The RSS comes from GNU time's report on its own child: a process started straight from this
    Python process would count Python's memory in its max RSS (Linux keeps the high-water mark of
    the process image an exec replaces). Wall and CPU time are this process's own measures (CPU:
    the rusage of the finished child, which includes what it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen([GNU_TIME, "-f", "%M %x", "-o", rss_file, *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = 0
    rss, code = Path(rss_file).read_text().split()[-2:]
    if code not in ("0", "1"):
        sys.exit(f"{cmd[0]} failed with exit code {code}: {' '.join(cmd[:6])} …")
    return wall, usage.ru_utime + usage.ru_stime, int(rss)


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
            samples: dict[str, list[tuple[float, float, int]]] = {tool: [] for tool in commands}
            with tempfile.NamedTemporaryFile(prefix="lint-corpora-") as rss:
                for cmd in commands.values():  # warm-up: file cache, binaries
                    run_once(cmd, env, rss.name)
                for _ in range(args.runs):
                    for tool, cmd in commands.items():
                        samples[tool].append(run_once(cmd, env, rss.name))
            med = {
                tool: tuple(statistics.median(s[i] for s in runs) for i in range(3))
                for tool, runs in samples.items()
            }
            rows.append((name, len(files), size, fmt, med))
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
