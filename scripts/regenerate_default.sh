#!/usr/bin/env bash
# The committed default model, its sketch, docs/default_run and every figure the documents quote about them,
# regenerated together from one run of `python -m compress search` (README, "The committed example").
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf runs/default
python -m compress search --out runs/default
cp runs/default/{model_int8.tflite,export.json,test_input.npz,best_spec.json} models/
python -m compress firmware models/model_int8.tflite --out firmware/emotion_apollo3
rm -rf docs/default_run && mkdir -p docs/default_run
cp -r runs/default/{report.md,report.html,report_files,journal.jsonl,summary.json,config.json,export.json,best.keras,best_spec.json} \
  docs/default_run/
python scripts/committed_figures.py
