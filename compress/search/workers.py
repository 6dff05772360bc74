"""The worker side of the parallel executors: build the evaluator once per worker, then evaluate what comes.

A worker is a spawned process (`--executor processes`) or a Ray actor (`--executor ray`). It rebuilds the driver's
evaluator from a picklable factory and the data set, sent to it once; TensorFlow gets the worker's share of the
cores. Each evaluation loads the parent's weights from the run's weights folder, trains, saves the child's weights
there and returns (metrics, extra). Workers never write the journal: only the driver does (Ray Tune's rule).
"""
from __future__ import annotations

import os
import pickle
import signal
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

from compress import QUIET_ENV
from compress.config import DataConfig, Targets, TrainConfig


@dataclass(frozen=True)
class EvaluatorRecipe:
    """What a worker needs to rebuild the driver's Evaluator around the data set it is sent (the factory)."""
    train: TrainConfig  # the Trainer's settings, the data set excepted
    settings: DataConfig  # its seed and --balance
    augment: bool
    patience: int
    weights_dir: str  # absolute path of the run's weights folder: every worker must see it (shared storage)
    targets: Targets  # for the cost figures in each evaluation's extra
    baseline_epochs: int
    baseline_lr: float

    @classmethod
    def of(cls, evaluator) -> "EvaluatorRecipe":
        trainer = evaluator.trainer
        return cls(trainer.train, trainer.settings, trainer.augment, trainer.patience,
                   str(Path(evaluator.weights_dir).resolve()), evaluator.costing.targets, evaluator.baseline_epochs,
                   evaluator.baseline_lr)

    def __call__(self, data, threads: int):
        from compress.search.space import Costing
        from compress.search.train import Evaluator, Trainer, configure_tensorflow

        if os.environ.get(QUIET_ENV) == "1":  # the driver is quiet: so is this worker (errors go back by pipe)
            silence_stderr()
        configure_tensorflow(threads)  # before the Trainer's own call, which then keeps these settings
        trainer = Trainer(data, self.train, self.settings, augment=self.augment, patience=self.patience)
        return Evaluator(trainer, Path(self.weights_dir), Costing(self.targets), self.baseline_epochs,
                         self.baseline_lr)


def silence_stderr() -> None:
    """TensorFlow's C++ start-up lines and Python warnings of a worker go nowhere; its results and errors travel
    to the driver, which prints them."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    warnings.simplefilter("ignore")


def portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling to the driver, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception becomes text
        return RuntimeError("".join(traceback.format_exception_only(type(exc), exc)).strip())


def process_main(conn, factory, payload, threads: int) -> None:
    """A `processes` worker: evaluate the (spec, parent) pairs the driver sends until it hangs up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops its workers itself
    try:
        evaluator, broken = factory(payload, threads), None
    except Exception as exc:  # noqa: BLE001 - reported with the first task instead of dying unexplained
        evaluator, broken = None, portable(exc)
    while True:
        try:
            spec, parent = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if broken is not None:  # the worker's own error, not the candidate's: it stops the search
            conn.send(("broken", broken))
            continue
        try:
            reply = ("ok", evaluator(spec, parent))
        except Exception as exc:  # noqa: BLE001 - the driver re-raises it
            reply = ("error", portable(exc))
        conn.send(reply)


class RayWorker:
    """A `ray` worker (an actor): the evaluator is built once, from the data set in Ray's object store."""

    def __init__(self, factory, payload, threads: int | None):
        if threads is None:  # on a cluster: the CPUs Ray gave this actor
            import ray

            threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
        self.evaluator = factory(payload, threads)

    def evaluate(self, spec, parent):
        return self.evaluator(spec, parent)
