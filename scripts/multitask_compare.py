"""Benchmark: one three-headed winner against three single-task winners, each from its own search, same budget.

    python scripts/multitask_compare.py [--out runs/multitask_compare] [--tasks arousal,dominance,valence]
                                        [-- further search options, e.g. --max-evals 40]

Runs `search --data synthetic-multitask` once with every task (one model, one head per task) and once per task
alone (the same trunk with one head), with the same data, seed, device targets and search budgets, each to its own
stop with export. A run folder that exists is resumed. Prints a Markdown table for BENCHMARKS.md: FLOPs and params
of each winner (the single-task ones also summed: what three models on one device cost), and each task's float and
int8 test AUC against the baseline's.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.summary import read_summary  # noqa: E402


def run(out: Path, tasks: str, extra: list[str]) -> float:
    """Seconds the search took (0 when its folder held a finished run already)."""
    if (out / "summary.json").exists():
        return 0.0
    command = [sys.executable, "-m", "compress", "search", "--data", "synthetic-multitask", "--tasks", tasks,
               "--out", str(out), *extra] + (["--resume"] if (out / "journal.jsonl").exists() else [])
    print("$", " ".join(command), flush=True)
    start = time.monotonic()
    subprocess.run(command, check=False)
    return time.monotonic() - start


def task_aucs(entry, split: str, task: str) -> float | None:
    """A task's AUC in a summary entry (a ModelEntry or None): from `tasks` of a multi-task model, else its own."""
    metrics = getattr(entry, split) if entry else None
    if not metrics:
        return None
    return metrics["tasks"][task]["auc"] if "tasks" in metrics else metrics["auc"]


def rows(out: Path, tasks: list[str]) -> list[list[str]]:
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    table, singles = [], {"flops": 0.0, "params": 0, "evals": 0}
    for name, folder, covered in [("three-headed", out / "all", tasks)] + [(f"{t} only", out / t, [t]) for t in tasks]:
        summary = read_summary(folder)
        final, int8, base = summary.final, summary.int8, summary.baseline
        cells = []
        for t in tasks:
            if t in covered:
                cells.append(f"{fmt(task_aucs(final, 'test', t))} / {fmt(task_aucs(int8, 'test', t))} "
                             f"(base {fmt(task_aucs(base, 'test', t))})")
            else:
                cells.append("")
        flops, params = (final.flops, final.params) if final else (0, 0)
        table.append([name, f"{flops / 1e6:.3f} M", f"{params:,}", str(summary.evaluations), summary.status, *cells])
        if name != "three-headed":
            singles["flops"] += flops
            singles["params"] += params
            singles["evals"] += summary.evaluations
    table.append(["three single-task models together", f"{singles['flops'] / 1e6:.3f} M", f"{singles['params']:,}",
                  str(singles["evals"]), "", *[""] * len(tasks)])
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/multitask_compare")
    parser.add_argument("--tasks", default="arousal,dominance,valence")
    parser.add_argument("extra", nargs="*", help="further `search` options, after --")
    args = parser.parse_args()
    out, tasks = Path(args.out), args.tasks.split(",")
    walls = {"all": run(out / "all", args.tasks, args.extra)}
    for task in tasks:
        walls[task] = run(out / task, task, args.extra)
    headers = ["model", "FLOPs", "params", "trainings", "result"] + [f"{t} test AUC float / int8" for t in tasks]
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows(out, tasks):
        print("| " + " | ".join(row) + " |")
    print("\nwall time per search (s, 0 = already finished):", {k: round(v) for k, v in walls.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
