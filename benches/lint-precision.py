#!/usr/bin/env python3
"""How far `lockstep lint` agrees with what PostgreSQL really locks, per corpus of real migrations.

    benches/lint-precision.py --oracle-dir ORACLE_OUT [--lockstep BIN] [--each] NAME=MIGRATIONS_DIR ...

Each NAME=DIR is a corpus in sqlx's layout whose ground truth the lock oracle
(`shared/tools/lock-oracle/oracle.py --out ORACLE_OUT … NAME`) has recorded in ORACLE_OUT/NAME.jsonl:
per statement, the locks it took on relations that existed before its migration, and the rewrites.
This script fetches nothing and writes nothing: it runs `lockstep lint --format json` over DIR (as one
directory, the way a reviewer runs it; `--each` lints every file on its own instead) and prints:

- recall: of the *dangerous* statements (SHARE or stronger on a pre-existing table — relkind r, p or
  m — or a rewrite of one), the share a lock-hazard finding points at;
- precision: of the statements a lock-hazard finding points at, the share that are dangerous
  (lock-hazard = lockstep's `lock-hazard` axis; `--without-timeouts` leaves out the two timeout
  rules; lint runs with `--lock-timeout 0`, a session that sets none, unless told otherwise);
- held lock confirmed: of the flagged statements that are not dangerous themselves, those flagged
  only for a lock their transaction holds from an earlier statement (`lock-held-across-statements`,
  `validate-in-same-transaction`) where the server did hold that lock, on that table, at least as
  strong (the oracle's `tx_held_strong`); and the precision counting them as correct;
- lock modes: of every (statement, pre-existing table) pair the server locked, read locks included,
  the share where lockstep's predicted mode is the same; and how many modes lockstep predicts on a
  table the server did not lock at all (in brackets: how many of those lockstep marks conditional,
  taken only when a row is written or a branch runs — a row trigger's, a DO block's IF).

Only the migrations before the first one the server refused are scored (the oracle's
`NAME.meta.json` says which): from there on, its schema is not the one every earlier migration
leaves, which lockstep analyses against.

Findings are matched to oracle statements by file and position (line and column, so that several
statements on one line are told apart), as the oracle's score.py does by line.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

DANGEROUS = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
TABLES = {"r", "p", "m"}
TIMEOUT_RULES = {"missing-lock-timeout", "missing-statement-timeout"}
# Findings about a lock the transaction holds from an earlier statement, not the statement's own.
HELD_RULES = {"lock-held-across-statements", "validate-in-same-transaction"}
# lockstep's LockMode names (JSON) → pg_locks names
MODES = {
    "AccessShare": "AccessShareLock",
    "RowShare": "RowShareLock",
    "RowExclusive": "RowExclusiveLock",
    "ShareUpdateExclusive": "ShareUpdateExclusiveLock",
    "Share": "ShareLock",
    "ShareRowExclusive": "ShareRowExclusiveLock",
    "Exclusive": "ExclusiveLock",
    "AccessExclusive": "AccessExclusiveLock",
}


def relation_name(quoted: str) -> str:
    """`public."User"` → `User`, `auth.users` → `auth.users` (lockstep's folded spelling)."""
    parts, cur, quoted_part, i = [], "", False, 0
    while i < len(quoted):
        ch = quoted[i]
        if ch == '"':
            if quoted_part and quoted[i + 1 : i + 2] == '"':
                cur += '"'
                i += 2
                continue
            quoted_part = not quoted_part
        elif ch == "." and not quoted_part:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    if len(parts) > 1 and parts[0] == "public":
        parts = parts[1:]
    return ".".join(parts)


def lint(lockstep: str, folder: Path, each: bool, pg: str, lock_timeout: str) -> list[dict]:
    """lockstep's JSON `files` for the folder (one run, or one run per file)."""
    base = [lockstep, "--lock-timeout", lock_timeout, "lint", "--format", "json", "--pg-version", pg]
    runs = [[str(folder)]] if not each else [[str(f)] for f in sorted(folder.glob("*.sql"))]
    files = []
    for paths in runs:
        p = subprocess.run(base + paths, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        if p.returncode not in (0, 1):
            sys.exit(f"lockstep failed ({p.returncode}) on {paths[0]}: {p.stderr[:500]}")
        files += json.loads(p.stdout)["files"]
    return files


def applied(oracle: Path) -> tuple[set[str] | None, str | None]:
    """The migrations before the first one the server refused (`None`: all, or no meta file), and
    that one. From the refused one on, the server's schema is not the one lockstep models (every
    earlier migration applied): the refused one rolled back, and the later ones meet its absence."""
    meta = oracle.with_suffix(".meta.json")
    if not meta.exists():
        return None, None
    kept: set[str] = set()
    for m in json.loads(meta.read_text()).get("migrations", []):
        if m.get("error"):
            return kept, m["migration"]
        kept.add(m["migration"])
    return None, None


def score(name: str, oracle: Path, files: list[dict], with_timeouts: bool) -> dict:
    recs = [json.loads(line) for line in open(oracle)]
    kept, refused = applied(oracle)
    stmts = {
        (r["migration"], r["stmt_index"]): r
        for r in recs
        if r["stmt_index"] > 0 and r.get("tx_mode") != "tx_control" and r.get("executed", True) and not r.get("error")
        and (kept is None or r["migration"] in kept)
    }
    by_file: dict[str, list[dict]] = defaultdict(list)
    for r in stmts.values():
        by_file[r["migration"]].append(r)
    for v in by_file.values():
        v.sort(key=lambda r: (r["start_line"], r["start_col"]))

    def start(r):
        return (r["start_line"], r["start_col"])

    def at(mig: str, pos: tuple[int, int]):
        """The oracle statement of `mig` holding the position (line, column), else the next one."""
        rs = by_file.get(mig, [])
        for r in rs:
            if start(r) <= pos <= (r["end_line"], r["end_col"]):
                return r
        return next((r for r in rs if start(r) > pos), None)

    def position(p: dict) -> tuple[int, int]:
        return (p["line"], p["column"])

    def dangerous(r):
        return any(l["mode"] in DANGEROUS and l["relkind"] in TABLES for l in r["locks"]) or any(
            x["relkind"] in TABLES for x in r["rewrites"]
        )

    dang = {k for k, r in stmts.items() if dangerous(r)}
    flagged: dict[tuple, set[str]] = defaultdict(set)
    # What a finding about a lock held from an earlier statement names: (table, mode).
    held_claims: dict[tuple, list] = defaultdict(list)
    predicted: dict[tuple, dict[str, str]] = defaultdict(dict)
    new_in: dict[tuple, set[str]] = defaultdict(set)
    conditional_in: dict[tuple, set[str]] = defaultdict(set)
    for f in files:
        mig = Path(f["path"]).name
        for finding in f["findings"]:
            rule = finding["rule"]
            if finding["axis"] != "lock-hazard" or (rule in TIMEOUT_RULES and not with_timeouts):
                continue
            r = at(mig, position(finding["start"]))
            if r is not None:
                flagged[(mig, r["stmt_index"])].add(rule)
                if rule in HELD_RULES:
                    held_claims[(mig, r["stmt_index"])].append((finding.get("table"), finding.get("lock")))
        for s in f["statements"]:
            # the oracle statement that starts inside this one
            for r in by_file.get(mig, []):
                if position(s["start"]) <= start(r) <= position(s["end"]):
                    for lock in s["locks"]:
                        if lock["target"] == "table":
                            predicted[(mig, r["stmt_index"])][lock["relation"]] = MODES[lock["mode"]]
                            if lock["new_relation"]:
                                new_in[(mig, r["stmt_index"])].add(lock["relation"])
                            if lock.get("conditional"):
                                conditional_in[(mig, r["stmt_index"])].add(lock["relation"])
                    break
    hit = set(flagged)
    tp = hit & dang

    def held_confirmed(k) -> bool:
        """A statement flagged only for a lock its transaction holds from an earlier statement,
        whose every such finding names a lock the server held there (the oracle's
        `tx_held_strong`, a dangerous lock on a pre-existing table) at least as strong."""
        if flagged[k] - HELD_RULES or not held_claims[k]:
            return False
        held = {}
        for h in stmts[k].get("tx_held_strong", []):
            rel = relation_name(h["relation"])
            held[rel] = max(held.get(rel, h["mode"]), h["mode"], key=MODE_RANK.get)
        return all(
            table is not None and mode in MODES and relation_name(table) in held
            and MODE_RANK[held[relation_name(table)]] >= MODE_RANK[MODES[mode]]
            for table, mode in held_claims[k]
        )

    confirmed = {k for k in hit - dang if held_confirmed(k)}
    per_rule_fp: Counter = Counter()
    fp_examples: list[str] = []
    for k in sorted(hit - dang - confirmed):
        per_rule_fp.update(flagged[k])
        fp_examples.append(f"{k[0]}:{stmts[k]['start_line']} {sorted(flagged[k])} {stmts[k]['text_head'][:80]}")
    missed_examples = [f"{k[0]}:{stmts[k]['start_line']} {stmts[k]['text_head'][:80]}" for k in sorted(dang - hit)]
    missed = Counter(stmts[k]["kind"].split("[")[0] + "[" + ",".join(stmts[k]["subcommands"][:1]) + "]" for k in dang - hit)

    pairs = agree = 0
    wrong: Counter = Counter()
    wrong_examples: dict[str, list[str]] = {}
    extra = 0
    extra_conditional = 0
    for k, r in stmts.items():
        seen = {}
        for l in r["locks"]:
            if l["relkind"] in TABLES:
                rel = relation_name(l["relation"])
                if rel not in seen or MODE_RANK[l["mode"]] > MODE_RANK[seen[rel]]:
                    seen[rel] = l["mode"]
        guess = predicted.get(k, {})
        for rel, mode in seen.items():
            pairs += 1
            if guess.get(rel) == mode:
                agree += 1
            else:
                label = f"{r['kind'].split('[')[0]}: server {mode}, lockstep {guess.get(rel, 'none')}"
                wrong[label] += 1
                wrong_examples.setdefault(label, []).append(f"{k[0]}:{r['start_line']} {rel}: {r['text_head'][:80]}")
        # Predictions on a pre-existing relation the server did not lock (lockstep's own "new"
        # relations left out, and only relations the oracle saw as pre-existing somewhere).
        extras = [rel for rel in guess if rel not in seen and rel in KNOWN[name] and rel not in new_in[k]]
        extra += len(extras)
        # … of which taken only when rows are written or a branch runs (a row trigger's, a
        # foreign key's check, an IF in a DO block): on the oracle's empty tables, often not.
        extra_conditional += sum(1 for rel in extras if rel in conditional_in[k])
    return {
        "corpus": name,
        "refused": refused,
        "statements": len(stmts),
        "dangerous": len(dang),
        "flagged": len(hit),
        "true_positives": len(tp),
        "precision": len(tp) / len(hit) if hit else None,
        "held_confirmed": len(confirmed),
        "recall": len(tp) / len(dang) if dang else None,
        "false_positive_rules": dict(per_rule_fp.most_common()),
        "false_positive_examples": fp_examples[:20],
        "missed_examples": missed_examples[:20],
        "missed_by_kind": dict(missed.most_common(12)),
        "mode_pairs": pairs,
        "mode_agree": agree,
        "mode_agreement": agree / pairs if pairs else None,
        "mode_extra_predictions": extra,
        "mode_extra_conditional": extra_conditional,
        "mode_disagreements": dict(wrong.most_common(12)),
        "mode_disagreement_examples": {label: wrong_examples[label][:3] for label, _ in wrong.most_common(12)},
    }


MODE_RANK = {m: i for i, m in enumerate(MODES.values())}
KNOWN: dict[str, set[str]] = {}


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+", metavar="NAME=MIGRATIONS_DIR")
    ap.add_argument("--oracle-dir", type=Path, required=True, help="the lock oracle's --out folder")
    ap.add_argument("--lockstep", default=str(Path(__file__).resolve().parent.parent / "target/release/lockstep"))
    ap.add_argument("--each", action="store_true", help="lint every file on its own (no directory context)")
    ap.add_argument("--pg-version", default="15")
    ap.add_argument("--lock-timeout", default="0", help="lockstep's session lock_timeout (default 0: none set, as with most runners)")
    ap.add_argument("--without-timeouts", action="store_true", help="leave missing-lock-timeout / missing-statement-timeout out of the lock-hazard findings")
    ap.add_argument("--json", type=Path, help="write the full result here")
    ap.add_argument("--details", action="store_true", help="print false positives, misses and mode disagreements")
    a = ap.parse_args()
    results = []
    for spec in a.corpora:
        name, _, folder = spec.partition("=")
        oracle = a.oracle_dir / f"{name}.jsonl"
        KNOWN[name] = {
            relation_name(l["relation"]) for line in open(oracle) for l in json.loads(line)["locks"] if l["relkind"] in TABLES
        }
        files = lint(a.lockstep, Path(folder), a.each, a.pg_version, a.lock_timeout)
        results.append(score(name, oracle, files, not a.without_timeouts))
    tot = {k: sum(r[k] for r in results) for k in ("statements", "dangerous", "flagged", "true_positives", "held_confirmed", "mode_pairs", "mode_agree", "mode_extra_predictions", "mode_extra_conditional")}
    tot["corpus"] = "all"
    tot["precision"] = tot["true_positives"] / tot["flagged"] if tot["flagged"] else None
    tot["recall"] = tot["true_positives"] / tot["dangerous"] if tot["dangerous"] else None
    for r in results + [tot]:
        r["precision_held"] = (r["true_positives"] + r["held_confirmed"]) / r["flagged"] if r["flagged"] else None
    tot["mode_agreement"] = tot["mode_agree"] / tot["mode_pairs"] if tot["mode_pairs"] else None
    print(f"lockstep lint {'file by file' if a.each else 'per directory'} vs. the lock oracle")
    print("| corpus | statements | dangerous | flagged | TP | precision | held lock confirmed | precision, held locks counted | recall | lock pairs | modes agree | extra predictions (conditional) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results + [tot]:
        print(
            f"| {r['corpus']} | {r['statements']} | {r['dangerous']} | {r['flagged']} | {r['true_positives']} | "
            f"{pct(r['precision'])} | {r['held_confirmed']} | {pct(r['precision_held'])} | {pct(r['recall'])} | {r['mode_pairs']} | {r['mode_agree']} ({pct(r['mode_agreement'])}) | "
            f"{r['mode_extra_predictions']} ({r['mode_extra_conditional']}) |"
        )
    for r in results:
        if r["refused"]:
            print(f"{r['corpus']}: scored up to {r['refused']}, the first migration the server refused (it and the later ones left out)")
    if a.details:
        for r in results:
            print(f"\n{r['corpus']}: false positives by rule {r['false_positive_rules']}")
            print(f"{r['corpus']}: missed by kind {r['missed_by_kind']}")
            for e in r["false_positive_examples"] + r["missed_examples"]:
                print(f"  {e}")
            print(f"{r['corpus']}: mode disagreements {json.dumps(r['mode_disagreements'], indent=1)}")
            for label, examples in r["mode_disagreement_examples"].items():
                print(f"  {label}:")
                for e in examples:
                    print(f"    {e}")
    if a.json:
        a.json.write_text(json.dumps({"corpora": results, "total": tot}, indent=1))


if __name__ == "__main__":
    main()
