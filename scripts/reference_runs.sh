#!/usr/bin/env bash
# Four reduced searches that exercise every stage (binary and 4-class images, wearables with --loso, three tasks),
# for checking that a change of structure changes no result: run them on the code before and after the change and
# compare the folders with scripts/compare_runs.py.
#   usage: bash scripts/reference_runs.sh CODE_DIR OUT_DIR      (about 5-15 minutes on 2 cores)
set -u
code=$(cd "$1" && pwd); out=$2; mkdir -p "$out"; out=$(cd "$out" && pwd); cd "$code"
export TF_USE_LEGACY_KERAS=1 PYTHONPATH="$code"
run() { name=$1; shift; start=$(date +%s); python -m compress search --out "$out/$name" "$@" > "$out/$name.log" 2>&1; echo "$name rc=$? $(( $(date +%s) - start ))s" >> "$out/status"; }
IMG="--samples 2000 --size 32 --baseline embedded3 --epochs 1 --final-epochs 3 --baseline-lr 3e-3 --budget-flops 40000 --max-evals 10 --finalists 2 --patience 4"
run default $IMG
run 4class --task 4class $IMG
run loso --data synthetic-wearables --loso --subjects 5 --max-evals 6 --final-epochs 3 --finalists 2 --baseline-lr 1e-3 --budget-flops 1.1e6
run multitask --data synthetic-multitask --subjects 8 --max-evals 6 --final-epochs 3 --finalists 2 --budget-flops 1.1e6 --baseline-lr 1e-3
echo done >> "$out/status"
