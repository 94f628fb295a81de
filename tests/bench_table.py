#!/usr/bin/env python3
"""Print criterion results as Markdown tables with ratios.

Usage: python3 tests/bench_table.py GROUP_PREFIX [GROUP_PREFIX ...]

Reads target/criterion/*/*/new/{benchmark,estimates}.json (the last run),
prints one table per benchmark group: median ns/op, and for every row that is
not fusebox's, its ratio to each fusebox row (alternative / fusebox: above 1
means fusebox is faster).
"""
import json
import os
import sys
from glob import glob

root = os.environ.get("CARGO_TARGET_DIR", "target")
prefixes = sys.argv[1:] or [""]
groups = {}
for bench in glob(os.path.join(root, "criterion", "*", "*", "new", "benchmark.json")):
    with open(bench) as f:
        meta = json.load(f)
    group = meta["group_id"]
    if not any(group.startswith(p) for p in prefixes):
        continue
    with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
        est = json.load(f)
    name = meta.get("function_id") or meta.get("value_str") or ""
    if meta.get("value_str") and meta.get("function_id"):
        name = f'{meta["function_id"]}/{meta["value_str"]}'
    groups.setdefault(group, []).append((name, est["median"]["point_estimate"]))

for group in sorted(groups):
    rows = sorted(groups[group])
    ours = [(n, t) for n, t in rows if n.startswith("fusebox")]
    print(f"\n#### {group}\n")
    head = "| bench | median ns/op |" + "".join(f" x {n} |" for n, _ in ours)
    print(head)
    print("|---|---:|" + "---:|" * len(ours))
    for name, t in rows:
        cells = "".join(
            " |" if name.startswith("fusebox") else f" {t / o:.1f} |" for _, o in ours
        )
        print(f"| {name} | {t:.2f} |{cells}")
