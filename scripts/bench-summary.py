#!/usr/bin/env python3
"""Median-of-runs table (markdown) from the JSON reports scripts/bench-run.sh writes.
Usage: scripts/bench-summary.py bench-results/sqlite"""
import json, pathlib, statistics, sys

d = pathlib.Path(sys.argv[1])
def load(prefix):
    return [json.loads(p.read_text()) for p in sorted(d.glob(f"{prefix}-[0-9].json"))]

def med(xs):
    return statistics.median(xs) if xs else float("nan")

base = load("baseline")
print("| raw operation | ok/s (median) | runs | p50 ms | p99 ms |")
print("|---|---:|---:|---:|---:|")
for op in ("insert", "select-by-key", "indexed-lookup", "crud-mix"):
    rows = [b["operations"][op] for b in base if op in b["operations"]]
    print(f"| {op} | {med([r['throughput_per_s'] for r in rows]):,.0f} | "
          + " / ".join(f"{r['throughput_per_s']:,.0f}" for r in rows)
          + f" | {med([r['latency_ms']['p50'] for r in rows]):.2f} | {med([r['latency_ms']['p99'] for r in rows]):.2f} |")
print()
print("| scenario | req/s (median) | runs | p50 ms | p95 ms | p99 ms | p99.9 ms | errors | ratio to raw (median) |")
print("|---|---:|---|---:|---:|---:|---:|---:|---|")
for s in ("read", "create", "update", "crud-mix", "search-mix", "transaction"):
    rs = load(s)
    if not rs:
        continue
    t = [r["total"] for r in rs]
    ratios = [r["ratio_to_baseline"]["ratio"] for r in rs if r.get("ratio_to_baseline")]
    rop = rs[0].get("ratio_to_baseline", {}).get("baseline_scenario", "")
    errs = sum(sum(x["errors"].values()) for x in t)
    print(f"| {s} | {med([x['throughput_per_s'] for x in t]):,.0f} | "
          + " / ".join(f"{x['throughput_per_s']:,.0f}" for x in t)
          + f" | {med([x['latency_ms']['p50'] for x in t]):.2f} | {med([x['latency_ms']['p95'] for x in t]):.2f}"
          + f" | {med([x['latency_ms']['p99'] for x in t]):.2f} | {med([x['latency_ms']['p999'] for x in t]):.2f} | {errs} | "
          + (f"{med(ratios):.2g}x {rop}" if ratios else "-") + " |")
c = d / "connections.json"
if c.exists():
    r = json.loads(c.read_text())
    print()
    for k, v in r["notes"].items():
        print(f"- connections: {k}: {v}")
