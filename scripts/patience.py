"""Benchmark: where --patience P would have stopped a finished search, read from its journal (no training).

    python scripts/patience.py runs/X [--values 3,5,8,10,15,20]

Patience only ends a search, never changes its order, so the journal of a run with a larger patience holds
every shorter run as a prefix: for each P this prints the evaluations the run would have made, its training
seconds and the best goal's val AUC and FLOPs at that point (MIN_GAIN as in compress/search/session.py).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.search.journal import is_goal  # noqa: E402
from compress.search.session import MIN_GAIN  # noqa: E402
from compress.summary import read_summary  # noqa: E402


def stop_at(rows: list[dict], beta: float, patience: int) -> int:
    """Number of evaluations a run with this patience makes (Search._check_budget's rule)."""
    best, last = None, None
    for i, row in enumerate(rows, 1):
        if last is not None and i - 1 - last >= patience:
            return i - 1
        if is_goal(row["fits"], row["val"]["auc"], beta) and (best is None or row["val"]["auc"] >= best + MIN_GAIN):
            best, last = row["val"]["auc"], i
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--values", default="3,5,8,10,15,20")
    args = parser.parse_args()
    run = Path(args.run)
    rows = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines() if line.strip()]
    beta = read_summary(run).beta
    print("| --patience | evaluations | training s | best goal val AUC (search) | its FLOPs |")
    print("|---|---|---|---|---|")
    for patience in (int(v) for v in args.values.split(",")):
        n = stop_at(rows, beta, patience)
        goals = [r for r in rows[:n] if is_goal(r["fits"], r["val"]["auc"], beta)]
        best = max(goals, key=lambda r: (r["val"]["auc"], -r["flops"]), default=None)
        seconds = sum(r.get("train_seconds", 0) for r in rows[:n])
        cut = "" if n < len(rows) else " (the whole journal)"
        print(f"| {patience} | {n}{cut} | {seconds:.0f} | {best['val']['auc']:.4f} | {best['flops'] / 1e6:.3f} M |"
              if best else f"| {patience} | {n}{cut} | {seconds:.0f} | - | - |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
