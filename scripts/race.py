"""Benchmark: astar, dfs and greedy on the same data, seed and budgets; prints a Markdown table for BENCHMARKS.md.

    python scripts/compare_strategies.py [--max-evals 60] [--max-minutes 30] [-- extra search options]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default="astar,dfs,greedy")
    parser.add_argument("--max-evals", type=int, default=60)
    parser.add_argument("--max-minutes", type=float, default=30)
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("extra", nargs="*", help="further `search` options, after --")
    args = parser.parse_args()
    rows = []
    for strategy in args.strategies.split(","):
        out = Path(args.out) / strategy
        command = [sys.executable, "-m", "compress", "search", "--strategy", strategy, "--out", str(out),
                   "--max-evals", str(args.max_evals), "--max-minutes", str(args.max_minutes), "--no-export",
                   *(["--resume"] if (out / "journal.jsonl").exists() else []), *args.extra]
        print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
        start = time.monotonic()
        subprocess.run(command, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - start
        summary = json.loads((out / "summary.json").read_text())
        final = summary.get("final") or {}
        rows.append([strategy, summary["evaluations"], f"{wall:.0f} s", summary["status"],
                     f"{final['flops'] / 1e6:.3f} M" if final else "-",
                     f"{final['val']['auc']:.4f}" if final else "-", f"{final['test']['auc']:.4f}" if final else "-",
                     f"{summary['baseline']['test']['auc']:.4f}"])
    headers = ["strategy", "trainings", "wall time", "result", "final FLOPs", "val AUC", "test AUC",
               "baseline test AUC"]
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
