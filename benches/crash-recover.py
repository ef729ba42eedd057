#!/usr/bin/env python3
"""Recover crash.sh's trials as a user would, after a run with KEEP_DBS=1 and RECOVER=1.

The harness's RECOVER mode re-runs `lockstep up` on each crashed database. Where a
`-- no-transaction` migration was left partial, `up` refuses by design (its row says
success = false) and the harness cannot call `lockstep resolve`. For each such trial this script:

1. reads `lockstep status --json` and takes the one partial version,
2. decides from what lockstep knows: every segment committed or completed -> `--applied`;
   nothing committed and the segment it stopped in took no effect, rolled back or left an
   INVALID index -> drop the INVALID indexes lockstep names, then `--rolled-back`; anything else
   needs a person (counted as not recovered),
3. runs `lockstep resolve`, then `lockstep up`,
4. checks the database equals sqlx-cli's full apply: schema, every table's row count (a
   statement applied twice would show), the complete history with success = true, no INVALID
   index.

Then it drops every database of the harness run (rel_crash_<run>_*).
"""

import argparse
import json
import os
import subprocess
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lockstep", required=True, help="the lockstep binary")
    p.add_argument("--run", required=True, help="the harness's run id (its process id)")
    p.add_argument("--json", required=True, help="crash.sh's JSON_OUT file")
    p.add_argument("--reliability", required=True, help="the reliability harness directory")
    args = p.parse_args()
    sys.path.insert(0, os.path.join(args.reliability, "lib"))
    import relcommon as rc  # noqa: E402 - found through --reliability

    with open(args.json) as f:
        data = json.load(f)
    src = data["source"]
    trials = data["trials"]

    def lockstep(db, *words):
        env = dict(os.environ, DATABASE_URL=rc.db_url(db))
        # --no-audit: compared with sqlx-cli's apply, whose schema has no lockstep audit.
        return subprocess.run([args.lockstep, "--source", src, "--no-audit", *words], capture_output=True,
                              text=True, env=env, timeout=600)

    ref = rc.create_db(f"rel_crash_{args.run}_fullref")
    try:
        rc.sqlx_cli_apply(src, ref)
        full = rc.snapshot(ref)
    finally:
        rc.drop_db(ref, force=True)
    versions = [v for v, *_ in full["sqlx"]]

    by_rerun, by_resolve, failed = 0, 0, []
    for t in trials:
        db = f"rel_crash_{args.run}_{t['trial']}"
        if t["recover"]["ok"]:
            by_rerun += 1
            continue
        status = lockstep(db, "status", "--json")
        doc = json.loads(status.stdout)
        partial = [v for v in doc["versions"] if v["state"] in ("partial", "failed")]
        if len(partial) != 1:
            failed.append((t, f"{len(partial)} unfinished versions; re-run: {t['recover']['problems']}"))
            continue
        v = partial[0]
        u = v["unfinished"]
        outcomes = [s["outcome"] for s in u["segments"]]
        committed = u["progress"].get("committed")
        if all(o in ("committed", "completed") for o in outcomes):
            resolution = "--applied"
        elif committed == 0 and all(o in ("rolled_back", "no_effect", "left_invalid", "not_run")
                                    for o in outcomes):
            resolution = "--rolled-back"
        else:
            failed.append((t, f"needs a person: {v['version']} segments {outcomes}"))
            continue
        for index, _table in u["invalid_indexes"]:
            rc.psql(db, f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"')
        resolved = lockstep(db, "resolve", str(v["version"]), resolution)
        up = lockstep(db, "up")
        problems = []
        if resolved.returncode != 0:
            problems.append(f"resolve rc={resolved.returncode}: {resolved.stderr.strip()[-300:]}")
        if up.returncode != 0:
            problems.append(f"up rc={up.returncode}: {up.stderr.strip()[-300:]}")
        snap = rc.snapshot(db)
        problems += rc.diff_snapshots(snap, full)
        if [r[0] for r in snap["sqlx"]] != versions or not all(r[2] for r in snap["sqlx"]):
            problems.append("history incomplete")
        if snap["invalid"]:
            problems.append(f"INVALID indexes {snap['invalid']}")
        how = f"{v['version']} {', '.join(outcomes)} -> resolve {resolution}"
        if problems:
            failed.append((t, how + ": " + "; ".join(problems)[:400]))
        else:
            by_resolve += 1
            print(f"trial {t['trial']:3d} ({t['verdict']}): {how}, then up: equals the full reference")

    for name in rc.psql(rc.ADMIN_DB, "SELECT datname FROM pg_database WHERE datname LIKE "
                        + rc.qlit(f"rel_crash_{args.run}_%")):
        rc.drop_db(name[0], force=True)
    for t, why in failed:
        print(f"NOT RECOVERED trial {t['trial']} ({t['verdict']}): {why}")
    n = len(trials)
    print(f"crash-recover-by-hand: ok {by_rerun + by_resolve}/{n} "
          f"(re-run alone {by_rerun}, after resolve {by_resolve}), not recovered {len(failed)}",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
