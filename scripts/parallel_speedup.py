"""Parallel evaluation: measured speed-up on this machine, and a paper model of batch A* on a cluster.

    python scripts/parallel_speedup.py time [search options] [--workers 2] [--kinds inline,processes,ray]
    python scripts/parallel_speedup.py model [RUN_DIR] [--nodes 16]

`time` trains the baseline once, then runs the same search (same options, its own copy of the baseline's weights
and journal) on each executor and prints the wall time of the search (worker start-up included and apart),
trainings per minute and the speed-up against inline. Pass --patience 0 so every executor trains exactly
--max-evals models; the summed training seconds then compare the work done.

`model` reads a finished run (default runs/default_new: journal.jsonl and config.json) and prints
  - the time per training (train_seconds of the candidates in the journal);
  - the open list of its A* at each depth, replayed from the journal with the run's own space;
  - batch A* simulated for N = 1..nodes with the journal's AUCs (a node the run never trained gets its parent's
    AUC less the median drop its move caused in the journal, or of all moves): trainings and batches to the first
    goal and to a goal as good as the run's winner, and the extra trainings batch A* spends on nodes the
    sequential search never pops;
  - the expected speed-up on N nodes, one worker each: batches x E[slowest of N trainings] (bootstrapped from the
    journal's times; a batch waits for its slowest) against the sequential trainings x their mean time.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress import quality  # noqa: E402
from compress.cli import build_parser  # noqa: E402
from compress.config import read_run_config  # noqa: E402
from compress.models.spec import ModelSpec  # noqa: E402
from compress.search.executors import Inline, make  # noqa: E402
from compress.search.journal import Evaluation, Journal  # noqa: E402
from compress.search.session import Search  # noqa: E402
from compress.search.space import Costing  # noqa: E402
from compress.search.strategies import move_of, run  # noqa: E402
from compress.stages.baseline import evaluate as evaluate_baseline  # noqa: E402


def quiet(message: str) -> None:
    pass


# --- time: the same search on each executor ---------------------------------------------------------

def prepare(search_argv: list[str]):
    """(config, data, baseline spec, trainer, costing) as `compress search` builds them from the same options."""
    from compress import options
    from compress.data.dataset import load
    from compress.models.zoo import load_spec
    from compress.search.train import Trainer

    config = options.run_config(build_parser().parse_args(["search", *search_argv]))
    data = load(config.data)
    baseline = load_spec(config.search.baseline, input_shape=data.input_shape, classes=data.classes)
    trainer = Trainer(data, config.train, config.data, augment=True)
    return config, data, baseline, trainer, Costing(config.targets)


def timed_search(config, baseline, trainer, costing, seed_dir: Path, out: Path, kind: str, workers: int) -> dict:
    from compress.search.train import Evaluator

    shutil.copytree(seed_dir, out)  # the baseline's weights and its journal row: not trained again
    evaluator = Evaluator(trainer, out / "weights", costing, config.train.final_epochs, config.train.baseline_lr)
    space, journal = costing.space(baseline), Journal(out / "journal.jsonl")
    base, _ = evaluate_baseline(baseline, space, evaluator, journal)  # its journal row
    start = time.monotonic()
    with make(kind, evaluator, workers, config.search.ray_address, log=print) as executor:
        search = Search(space, evaluator, beta=quality.floor(base.auc, config.search.auc_ratio), journal=journal,
                        max_evals=config.search.max_evals, max_seconds=config.search.max_minutes * 60,
                        patience=config.search.patience, log=quiet, executor=executor)
        started = time.monotonic()
        winner = run(config.search.strategy, search, baseline, seed=config.data.seed)
        done = time.monotonic()
    goals = [i for i, ev in enumerate(search.cache.values()) if search.is_goal(ev)]
    return {"executor": f"{kind} x{workers}", "startup_s": started - start, "search_s": done - started,
            "trainings": search.trainings, "train_s": sum(ev.extra.get("train_seconds", 0)
                                                          for ev in list(search.cache.values())[1:]),
            "first_goal": goals[0] if goals else None, "winner_auc": winner.auc if winner else None}


def time_command(args) -> None:
    from compress.search.train import Evaluator

    config, data, baseline, trainer, costing = prepare(args.search)
    root = Path(tempfile.mkdtemp(prefix="speedup-"))
    print(f"data {data.name}: {len(data.y_train)} train; baseline {baseline.name}; strategy "
          f"{config.search.strategy}; max-evals {config.search.max_evals}; folder {root}", flush=True)
    seed = Evaluator(trainer, root / "seed" / "weights", costing, config.train.final_epochs, config.train.baseline_lr)
    evaluate_baseline(baseline, costing.space(baseline), seed, Journal(root / "seed" / "journal.jsonl"))
    results = []
    for kind in args.kinds.split(","):
        workers = 1 if kind == "inline" else args.workers
        try:
            results.append(timed_search(config, baseline, trainer, costing, root / "seed", root / kind, kind,
                                        workers))
        except Exception as exc:  # noqa: BLE001 - e.g. ray not installed: say so, time the rest
            print(f"{kind}: skipped ({exc})", flush=True)
            continue
        print(json.dumps(results[-1]), flush=True)
    base = results[0]
    print(f"\n| executor | start-up s | search s | trainings | trainings/min | summed training s | speed-up "
          f"(search) | speed-up (with start-up) | first goal at | winner val AUC |\n|{'---|' * 10}")
    for r in results:
        rate = r["trainings"] / r["search_s"] * 60
        print(f"| {r['executor']} | {r['startup_s']:.1f} | {r['search_s']:.1f} | {r['trainings']} | {rate:.1f} | "
              f"{r['train_s']:.1f} | {base['search_s'] / r['search_s']:.2f} | "
              f"{(base['startup_s'] + base['search_s']) / (r['startup_s'] + r['search_s']):.2f} | "
              f"{r['first_goal']} | {r['winner_auc'] if r['winner_auc'] is None else round(r['winner_auc'], 4)} |")
    shutil.rmtree(root, ignore_errors=True)


# --- model: a paper model of batch A* from a finished run ---------------------------------------------

def open_list_by_depth(rows: list[dict], space, beta: float) -> dict[int, dict]:
    """Replay the journal's A*: per depth, nodes generated, trained, and the most that waited at once."""
    closed, waiting, stats = set(), {}, {}
    for row in rows:
        closed.add(row["key"])
        waiting.pop(row["key"], None)
        stats.setdefault(row["depth"], {"generated": 0, "trained": 0, "peak_open": 0})["trained"] += 1
        ev = Evaluation.from_json(row)
        if ev.auc < beta:
            continue
        goal = ev.fits
        kids = [c for _, c in space.widenings(ev.spec)] if goal else [c.spec for c in space.children(ev.spec)]
        for child in kids:
            if child.key not in closed and child.key not in waiting:
                waiting[child.key] = row["depth"] + 1
                stats.setdefault(row["depth"] + 1, {"generated": 0, "trained": 0, "peak_open": 0})["generated"] += 1
        for depth in stats:
            stats[depth]["peak_open"] = max(stats[depth]["peak_open"], sum(d == depth for d in waiting.values()))
    return dict(sorted(stats.items()))


class Replay:
    """An evaluator from a journal: its AUC for a node it trained; else the parent's less the median drop the
    node's move caused in the journal (of all moves if the journal never made it; none for a widening)."""

    def __init__(self, rows: list[dict], space):
        self.space, self.auc = space, {r["key"]: r["val"]["auc"] for r in rows}
        by_key, drops = {r["key"]: r for r in rows}, {}
        for r in rows[1:]:
            drops.setdefault(move_of(r["reduction"]), []).append(by_key[r["parent"]]["val"]["auc"] - r["val"]["auc"])
        self.drop = {move: statistics.median(d) for move, d in drops.items()}
        self.any_drop = statistics.median([d for ds in drops.values() for d in ds])
        self.known = 0

    def __call__(self, spec: ModelSpec, parent):
        self.known += spec.key in self.auc
        if spec.key in self.auc:
            return {"auc": self.auc[spec.key]}, {}
        label = next((c.label for c in self.space.children(parent.spec) if c.spec.key == spec.key), None)
        drop = 0.0 if label is None else self.drop.get(move_of(label), self.any_drop)
        return {"auc": parent.auc - drop}, {}


class Reached(Exception):
    """The simulated search found a goal as good as the run's best: nothing more to count."""


class CountingInline(Inline):
    """Inline with N workers' batches, noting how many trainings each batch held; stops once `done()`."""

    def __init__(self, evaluator, workers, done):
        super().__init__(evaluator, workers)
        self.batches, self.done = [], done

    def run(self, tasks):
        if self.done():
            raise Reached
        self.batches.append(0)
        for item in super().run(tasks):
            self.batches[-1] += 1
            yield item


def simulate(rows, config, space, baseline, workers: int, target_auc: float, cap: int) -> dict:
    """Batch A* (the run's strategy and budgets) on the replayed journal: for the first goal and for a goal as good
    as the run's best, (trainings, batch sizes up to it), baseline excluded."""
    replay = Replay(rows, space)
    with tempfile.TemporaryDirectory() as scratch:  # the baseline's row first, as in the run
        journal = Journal(Path(scratch) / "journal.jsonl")
        base, _ = evaluate_baseline(baseline, space, replay, journal)
        done = lambda: any(search.is_goal(ev) and ev.auc >= target_auc - 1e-9 for ev in search.cache.values())  # noqa
        executor = CountingInline(replay, workers, done)
        search = Search(space, replay, beta=quality.floor(base.auc, config.search.auc_ratio), journal=journal, max_evals=cap,
                        log=quiet, executor=executor)  # no patience: count until the run's goal
        try:
            run(config.search.strategy, search, baseline, seed=config.data.seed)
        except Reached:
            pass
    evs, batches, found, done = list(search.cache.values())[1:], [b for b in executor.batches if b], {}, 0
    for b, size in enumerate(batches, 1):
        for ev in evs[done:done + size]:
            done += 1
            if search.is_goal(ev):
                found.setdefault("first_goal", (done, batches[:b]))
                if ev.auc >= target_auc - 1e-9:
                    found.setdefault("run_goal", (done, batches[:b]))
    return {"trainings": len(evs), "from_journal": replay.known, **found}


def expected_batch_seconds(times: np.ndarray, batches: list[int], draws: int = 4000) -> float:
    """A batch lasts as long as its slowest training: E[max of its size] drawn from the journal's times."""
    rng = np.random.default_rng(0)
    slowest = {n: float(rng.choice(times, size=(draws, n)).max(axis=1).mean()) for n in set(batches)}
    return sum(slowest[n] for n in batches)


def model_command(args) -> None:
    run_dir = Path(args.run_dir)
    rows, config = Journal(run_dir / "journal.jsonl").replay(), read_run_config(run_dir)
    baseline = ModelSpec.from_dict(rows[0]["spec"])
    space = Costing(config.targets).space(baseline)
    times = np.array([r["train_seconds"] for r in rows[1:]])
    beta = quality.floor(rows[0]["val"]["auc"], config.search.auc_ratio)
    print(f"{run_dir}: {len(rows)} evaluations; a candidate's training {times.mean():.1f} s mean, "
          f"{np.median(times):.1f} s median, {times.min():.1f}-{times.max():.1f} s (the baseline's "
          f"{rows[0]['train_seconds']:.0f} s, once, before the search)")
    print("\n| depth | children generated | trained | most waiting in the open list at once |\n|---|---|---|---|")
    for depth, s in open_list_by_depth(rows, space, beta).items():
        print(f"| {depth} | {s['generated']} | {s['trained']} | {s['peak_open']} |")
    target = max((r["val"]["auc"] for r in rows if r["fits"] and r["val"]["auc"] >= beta), default=float("inf"))
    seq = simulate(rows, config, space, baseline, 1, target, args.cap)
    print(f"\nsequential A* replayed: {seq['trainings']} trainings, {seq['from_journal']} of them nodes the run "
          f"trained (the others' AUC modelled); the run's best goal: val AUC {target:.4f}")
    print("\n| N | to first goal: trainings | batches | extra | speed-up | to the run's best goal: trainings | "
          "batches | extra | speed-up | efficiency |\n|" + "---|" * 10)
    for n in range(1, args.nodes + 1):
        sim = seq if n == 1 else simulate(rows, config, space, baseline, n, target, args.cap)
        cells = [str(n)]
        for point in ("first_goal", "run_goal"):
            if point not in sim or point not in seq:
                cells += ["-"] * 4
                continue
            (trained, batches), (seq_trained, _) = sim[point], seq[point]
            speed = seq_trained * times.mean() / expected_batch_seconds(times, batches)
            cells += [str(trained), str(len(batches)), f"{trained - seq_trained:+d}", f"{speed:.2f}"]
        cells.append("-" if cells[-1] == "-" else f"{float(cells[-1]) / n:.2f}")
        print("| " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time", help="time the same search inline and on parallel executors")
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--kinds", default="inline,processes,ray")
    m = sub.add_parser("model", help="paper model of batch A* from a finished run")
    m.add_argument("run_dir", nargs="?", default="runs/default_new")
    m.add_argument("--nodes", type=int, default=16)
    m.add_argument("--cap", type=int, default=300, help="most trainings a simulated search may spend (default 300)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "time":
        args.search = rest
        time_command(args)
    elif rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    else:
        model_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
