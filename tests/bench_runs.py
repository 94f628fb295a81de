#!/usr/bin/env python3
"""Run the criterion benches several times and print medians with spreads.

BENCHMARKS.md gives every figure as the median of at least three runs with
their spread (min..max), because one run on a shared VM does not reproduce.

Usage:
  python3 tests/bench_runs.py run N [-- CARGO_BENCH_ARGS...]
      Runs `cargo bench -p fusebox-tests CARGO_BENCH_ARGS` N times, one
      after another; after each run copies every benchmark's
      benchmark.json and estimates.json from target/criterion into
      target/bench-runs/run-K/ (the runs of an earlier call are removed
      first). Default args: -- --warm-up-time 0.3 --measurement-time 1
  python3 tests/bench_runs.py table [GROUP_PREFIX ...]
      Prints, per benchmark group, one Markdown table: the median over the
      saved runs of criterion's median ns/op, min..max over the runs, and,
      for each row that is not fusebox's, the ratio of its median to each
      fusebox row's (above 1: fusebox is faster).

Honours CARGO_TARGET_DIR, and BENCH_PACKAGE (default fusebox-tests): the
package to bench, e.g. BENCH_PACKAGE=fusebox-std-default-bench for
fusebox-std with its default features (a package is benched alone, since
cargo unifies features over the packages of one build).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
from glob import glob

target = os.environ.get("CARGO_TARGET_DIR", "target")
runs_dir = os.path.join(target, "bench-runs")
package = os.environ.get("BENCH_PACKAGE", "fusebox-tests")


def save(k):
    dest = os.path.join(runs_dir, f"run-{k}")
    for bench in glob(os.path.join(target, "criterion", "**", "new", "benchmark.json"), recursive=True):
        d = os.path.dirname(bench)
        rel = os.path.relpath(d, os.path.join(target, "criterion"))
        out = os.path.join(dest, rel)
        os.makedirs(out, exist_ok=True)
        for f in ("benchmark.json", "estimates.json"):
            shutil.copy(os.path.join(d, f), out)


def run(n, args):
    shutil.rmtree(runs_dir, ignore_errors=True)
    for k in range(1, n + 1):
        # Results of benches that this run does not reach must not leak in
        # from an older run.
        shutil.rmtree(os.path.join(target, "criterion"), ignore_errors=True)
        print(f"== run {k} of {n}: cargo bench -p {package} {' '.join(args)}", flush=True)
        subprocess.run(["cargo", "bench", "-p", package, *args], check=True)
        save(k)


def load():
    rows = {}
    for bench in glob(os.path.join(runs_dir, "run-*", "**", "benchmark.json"), recursive=True):
        with open(bench) as f:
            meta = json.load(f)
        with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
            est = json.load(f)
        name = meta.get("function_id") or meta.get("value_str") or ""
        if meta.get("value_str") and meta.get("function_id"):
            name = f'{meta["function_id"]}/{meta["value_str"]}'
        rows.setdefault(meta["group_id"], {}).setdefault(name, []).append(
            est["median"]["point_estimate"]
        )
    return rows


def table(prefixes):
    groups = load()
    n_runs = len(glob(os.path.join(runs_dir, "run-*")))
    for group in sorted(groups):
        if prefixes and not any(group.startswith(p) for p in prefixes):
            continue
        rows = sorted(groups[group].items())
        med = {name: statistics.median(v) for name, v in rows}
        ours = [name for name, _ in rows if name.startswith("fusebox")]
        print(f"\n#### {group} (median of {n_runs} runs)\n")
        print("| bench | median ns/op | min..max |" + "".join(f" x {o} |" for o in ours))
        print("|---|---:|---:|" + "---:|" * len(ours))
        for name, v in rows:
            cells = "".join(
                " |" if name.startswith("fusebox") else f" {med[name] / med[o]:.2f} |" for o in ours
            )
            print(f"| {name} | {med[name]:.2f} | {min(v):.2f}..{max(v):.2f} |{cells}")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        args = sys.argv[3:]
        if args[:1] == ["--"]:
            args = args[1:]
        run(int(sys.argv[2]), args or ["--", "--warm-up-time", "0.3", "--measurement-time", "1"])
    elif len(sys.argv) >= 2 and sys.argv[1] == "table":
        table(sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
