"""Benchmark: the strategies race on the same data, seed and budgets; prints a Markdown table for BENCHMARKS.md.

    python scripts/race.py [--strategies astar,dfs,greedy,random] [--max-evals 60] [--out runs/race] [-- options]

Each strategy runs to its own stop (no time cap) with export, so the int8 test AUC is measured too. A run
folder that exists is resumed, so a killed race continues where it stopped; one that finished (it has
race.json) is only reported. The baseline is trained once, by the first strategy; the others start from a copy
of its journal row and weights (its training is seeded and deterministic, so this is exactly the baseline each
would have trained). "training time" sums the candidates' trainings and excludes the baseline's.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.report.run import load_run  # noqa: E402

HEADERS = ["strategy", "trainings", "to first goal", "training time", "wall time", "result", "final FLOPs",
           "val AUC: search → fine-tuned", "test AUC", "int8 test AUC"]


def race_row(strategy: str, out: Path, wall: float) -> list:
    run = load_run(out)
    summary = run.summary
    final, int8 = summary.final, summary.int8
    auc = lambda m, split: f"{getattr(m, split)['auc']:.4f}" if m and getattr(m, split) else "-"  # noqa: E731
    searched = final.search_val_auc if final else None
    val = f"{searched:.4f} → {auc(final, 'val')}" if searched is not None else auc(final, "val")
    first_goal = next((i for i, row in enumerate(run.rows, 1) if run.status(row) == "goal"), "-")
    training = sum(row.get("train_seconds", 0) for row in run.rows if row["parent"] is not None)
    return [strategy, len(run.rows), first_goal, f"{training:,.0f} s", f"{wall:,.0f} s", summary.status,
            f"{final.flops:,}" if final else "-", val, auc(final, "test"), auc(int8, "test")]


def seed_baseline(first: Path, out: Path, strategy: str) -> None:
    """Start `out` from the baseline `first` trained: its config (strategy changed), journal row and weights."""
    row = (first / "journal.jsonl").read_text().splitlines()[0]
    config = json.loads((first / "config.json").read_text())
    config["search"]["strategy"] = strategy
    (out / "weights").mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (out / "journal.jsonl").write_text(row + "\n")
    key = json.loads(row)["key"]
    shutil.copy(first / "weights" / f"{key}.weights.h5", out / "weights")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default="astar,dfs,greedy,random")
    parser.add_argument("--max-evals", type=int, default=60)
    parser.add_argument("--out", default="runs/race")
    parser.add_argument("extra", nargs="*", help="further `search` options, after --")
    args = parser.parse_args()
    rows, strategies = [], args.strategies.split(",")
    first = Path(args.out) / strategies[0]
    for strategy in strategies:
        out = Path(args.out) / strategy
        if out != first and not out.exists() and (first / "journal.jsonl").exists():
            seed_baseline(first, out, strategy)
        if (out / "race.json").exists() and (out / "summary.json").exists():
            rows.append(race_row(strategy, out, json.loads((out / "race.json").read_text())["wall_seconds"]))
            continue
        command = [sys.executable, "-m", "compress", "search", "--strategy", strategy, "--out", str(out),
                   "--max-evals", str(args.max_evals), "--max-minutes", "100000",
                   *(["--resume"] if (out / "journal.jsonl").exists() else []), *args.extra]
        print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
        start = time.monotonic()
        finished = subprocess.run(command, stdout=subprocess.DEVNULL).returncode in (0, 3)  # 3: no goal
        if finished and (out / "summary.json").exists():
            wall = time.monotonic() - start
            (out / "race.json").write_text(json.dumps({"wall_seconds": round(wall, 1)}) + "\n")
            rows.append(race_row(strategy, out, wall))
    print("| " + " | ".join(HEADERS) + " |")
    print("|" + "---|" * len(HEADERS))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
