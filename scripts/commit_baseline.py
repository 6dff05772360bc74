"""Commit a run's baseline with the code: copy the copy kept by the run (compress.search.baseline_cache) into
models/baselines/, where every later run -- a fresh clone's first included -- finds it before training.

    python scripts/commit_baseline.py runs/default
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.search import baseline_cache  # noqa: E402


def main(run_dir: str) -> int:
    journal = Path(run_dir) / "journal.jsonl"
    if not journal.is_file():
        print(f"{journal}: no such file; give a search run folder", file=sys.stderr)
        return 2
    row = json.loads(journal.read_text().splitlines()[0])
    name = row.get("baseline_cache")
    found = baseline_cache.find(name) if name else None
    if found is None:
        print(f"{journal}: its baseline was not kept (a user's model, or the cache was cleared); run the search "
              "again with --retrain-baseline", file=sys.stderr)
        return 2
    weights, record = found
    baseline_cache.COMMITTED.mkdir(parents=True, exist_ok=True)
    if weights.parent != baseline_cache.COMMITTED:
        for kept in (weights, weights.with_name(f"{name}.json")):  # the weights and the record beside them
            shutil.copyfile(kept, baseline_cache.COMMITTED / kept.name)
    print(f"{baseline_cache.COMMITTED / weights.name}: {record['epochs']} epochs, val AUC {record['val_auc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]) if len(sys.argv) == 2 else print(__doc__) or 2)
