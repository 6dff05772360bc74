"""The bench: the default search against the strong simple alternatives, per task and seed, with 95 % intervals.

    python scripts/bench.py                       # every task x arm x seed (hours on 2 cores; resumable)
    python scripts/bench.py --quick               # one task, 2 seeds, short trainings (minutes)
    python scripts/bench.py --tasks 4class --seeds 5 --out runs/bench

One folder per task x seed x arm under --out (task/seed<k>/<arm>/); an arm that finished holds result.json and
is never run again, a search killed halfway resumes from its journal. The arms of one seed share the data, its
splits and the teacher (the search's baseline):
- search:   `python -m compress search` with the default strategy and settings;
- dscnn:    the textbook DS-CNN (models/families.py) at the data's input size, the widest that passes every
            device target, trained from scratch for as many epochs as the search's winner received in all
            (baseline + every training on its path + fine-tune), the best val epoch kept;
- dscnn+kd: the same, distilled from the search's baseline (single-task data only);
- random:   random reduction walks with as many trainings as the search made, from the same trained baseline;
- baseline: the search's baseline itself (float: it does not fit the device, so it is never shipped).
Every shipped model is scored as int8 (test AUC of the int8 .tflite); test data chooses nothing.
Writes bench.json (schema in scripts/bench_report.py), bench.md and bench.png under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_report  # noqa: E402
from compress import files, quiet  # noqa: E402

# task: (search options, seeds by default). `wearables` uses the documented wearable recipe (BENCHMARKS.md).
TASKS = {
    "faces": ([], 3),
    "4class": (["--task", "4class"], 5),
    "wearables": (["--data", "synthetic-wearables", "--loso", "--baseline-lr", "1e-3"], 3),
    "multitask": (["--data", "synthetic-multitask", "--baseline-lr", "1e-3"], 3),
    "digits": (["--data", "{digits}"], 3),  # scikit-learn's 8x8 handwritten digits, shipped in its wheel
}
# --quick: 1,500 images at 32x32 and resnet_like as the baseline (its BN lets it learn at Adam 1e-3 in 5 epochs,
# where AlexNet needs 1e-4 for 12 or more), 8 trainings: minutes on 2 cores, a smoke test of the protocol, not a verdict.
QUICK = ["--samples", "1500", "--size", "32", "--baseline", "resnet_like", "--baseline-lr", "1e-3", "--final-epochs",
         "5", "--epochs", "1", "--max-evals", "8", "--patience", "4", "--finalists", "2"]
RESULT = "result.json"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "compress"], capture_output=True,
                               text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def digits_npz(out: Path) -> Path:
    """scikit-learn's digits (1,797 real 8x8 scans, 10 classes) as an .npz the loader reads."""
    path = out / "digits.npz"
    if not path.exists():
        from sklearn.datasets import load_digits

        import numpy as np

        digits = load_digits()
        x = np.round(digits.images * (255 / 16)).astype(np.uint8)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x, y=digits.target.astype(np.int64))
    return path


def search_options(task: str, seed: int, args) -> list[str]:
    options = [str(digits_npz(Path(args.out))) if o == "{digits}" else o for o in TASKS[task][0]]
    return options + ["--seed", str(seed), "--device", args.device] + (QUICK if args.quick else []) + args.extra


def run_search(folder: Path, options: list[str], log) -> float:
    """`compress search` into folder (resumed if it began), its output in folder.log; returns wall seconds."""
    resume = ["--resume"] if (folder / "journal.jsonl").exists() else []
    start = time.monotonic()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(str(folder) + ".log", "a") as out:
        code = subprocess.run([sys.executable, "-m", "compress", "search", *options, "--out", str(folder), *resume],
                              cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0 and not (folder / "summary.json").exists():  # a failed int8 check or no goal is a result
        raise SystemExit(f"{folder}: compress search exited {code} before its summary; see {folder}.log")
    log(f"  {folder}: search exited {code}")
    return time.monotonic() - start


def seed_random(search_dir: Path, folder: Path, trainings: int) -> list[str]:
    """A random run that starts from the search's trained baseline: its config (strategy random, the search's
    trainings, no patience), the baseline's journal row, weights and LOSO scores. Returns the options to add."""
    options = ["--strategy", "random", "--max-evals", str(trainings), "--patience", "0"]
    if (folder / "journal.jsonl").exists():
        return options
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((search_dir / "config.json").read_text())
    config["search"].update(strategy="random", max_evals=trainings, patience=None)
    files.write_json(folder / "config.json", config)
    first = (search_dir / "journal.jsonl").read_text().splitlines()[0]
    key = json.loads(first)["key"]
    (folder / "weights").mkdir(exist_ok=True)
    shutil.copy(search_dir / "weights" / f"{key}.weights.h5", folder / "weights" / f"{key}.weights.h5")
    if (search_dir / "loso_baseline.json").exists():
        shutil.copy(search_dir / "loso_baseline.json", folder / "loso_baseline.json")
    (folder / "journal.jsonl").write_text(first + "\n")
    return options


def run_arm(task: str, seed: int, arm: str, args, log) -> dict:
    """One arm of one seed to its end: result.json in its folder (read back when it is there already)."""
    from bench_arms import dscnn_arm, search_result

    base = Path(args.out) / task / f"seed{seed}"
    folder = base / arm
    if (folder / RESULT).exists():
        return json.loads((folder / RESULT).read_text())
    options = search_options(task, seed, args)
    if arm in ("search", "baseline"):
        search_dir = base / "search"
        wall = None if (search_dir / RESULT).exists() else run_search(search_dir, options, log)
        result = search_result(search_dir, wall, baseline=arm == "baseline")
    elif arm == "random":
        trainings = run_arm(task, seed, "search", args, log)["trainings"]
        extra = seed_random(base / "search", folder, trainings)
        result = search_result(folder, run_search(folder, options + extra, log))
    else:
        searched = run_arm(task, seed, "search", args, log)
        result = dscnn_arm(base / "search", folder, epochs=searched["epochs"], distill=arm == "dscnn+kd", log=log)
    result.update(seed=seed, arm=arm, task=task, code=git_commit())
    folder.mkdir(parents=True, exist_ok=True)
    files.write_json(folder / RESULT, result)
    return result


def run_all(args, seeds_for, log) -> None:
    for task in args.tasks:
        for seed in seeds_for(task):
            for arm in args.arms:
                log(f"{task} seed {seed}: {arm}")
                run_arm(task, seed, arm, args, log)


def collect(args, seeds_for) -> dict:
    from bench_arms import ceiling

    bench = {"schema": bench_report.SCHEMA, "code": git_commit(), "tasks": {}}
    for task in args.tasks:
        runs = {arm: [] for arm in args.arms}
        for seed in seeds_for(task):
            for arm in args.arms:
                path = Path(args.out) / task / f"seed{seed}" / arm / RESULT
                if path.exists():
                    runs[arm].append(json.loads(path.read_text()))
        bench["tasks"][task] = {"ceiling": ceiling(task, Path(args.out)), "seeds": list(seeds_for(task)),
                                "arms": {arm: {"runs": rows, "summary": bench_report.summarise(rows)}
                                         for arm, rows in runs.items() if rows}}
    return bench


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench", help="the bench's folder (default runs/bench)")
    parser.add_argument("--tasks", default=None, help=f"comma-separated, of {', '.join(TASKS)} (default: all)")
    parser.add_argument("--arms", default=",".join(bench_report.ARMS), help="comma-separated arms (default: all)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per task (default 3; 5 for 4class)")
    parser.add_argument("--device", default="apollo3", help="device profile whose targets every arm must pass")
    parser.add_argument("--quick", action="store_true", help="4class, 2 seeds, short trainings: minutes, not hours")
    parser.add_argument("--report-only", action="store_true", help="collect what has finished; run nothing")
    parser.add_argument("extra", nargs="*", help="after --: more `compress search` options for every run")
    args = parser.parse_args(argv)
    args.tasks = args.tasks.split(",") if args.tasks else (["4class"] if args.quick else list(TASKS))
    args.arms = args.arms.split(",")
    unknown = [t for t in args.tasks if t not in TASKS] + [a for a in args.arms if a not in bench_report.ARMS]
    if unknown:
        parser.error(f"unknown task or arm: {', '.join(unknown)}")

    def seeds_for(task: str) -> range:
        return range(args.seeds or (2 if args.quick else TASKS[task][1]))

    def log(message: str) -> None:
        print(message, flush=True)

    if not args.report_only:
        with quiet():  # TensorFlow's own notices, as the CLI keeps them out of the terminal
            run_all(args, seeds_for, log)
    bench = collect(args, seeds_for)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files.write_json(out / "bench.json", bench)
    table = bench_report.markdown(bench)
    files.write_text(out / "bench.md", table + "\n")
    bench_report.plot(bench, out / "bench.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
