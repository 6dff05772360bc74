#!/usr/bin/env bash
# The committed default model, its sketch, docs/default_run and every figure the documents quote about them,
# regenerated together from one run of `python -m compress search` (README, "The committed example"). The run
# goes to a new runs/default-<time> folder, so no earlier run is overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
out="runs/default-$(date +%Y%m%d-%H%M%S)"
python -m compress search --out "$out"
cp "$out"/{model_int8.tflite,export.json,test_input.npz,best_spec.json} models/
python -m compress firmware models/model_int8.tflite --out firmware/emotion_apollo3
rm -rf docs/default_run && mkdir -p docs/default_run
cp -r "$out"/{report.md,report.html,report_files,journal.jsonl,summary.json,config.json,export.json,best.keras,best_spec.json} \
  docs/default_run/
# the leaderboard goals' weights (the search's and, for the finalists, the fine-tuned ones): `export docs/default_run
# --pick ID` ships any of them
mkdir -p docs/default_run/weights
python -c "
import json, shutil, sys; from pathlib import Path
run, docs = Path(sys.argv[1]), Path('docs/default_run')
for row in json.loads((run / 'summary.json').read_text())['leaderboard']:
    for name in (f\"{row['key']}.weights.h5\", f\"{row['key']}.fine-tuned.weights.h5\"):
        if (run / 'weights' / name).exists():
            shutil.copy(run / 'weights' / name, docs / 'weights' / name)" "$out"
python scripts/committed_figures.py
echo "regenerated from $out"
