"""A search session: every evaluation goes through the cache, the journal and the budgets; strategies call only this.

Budgets are counted from the journal, not from this process: the evaluations done, the training seconds spent
and the evaluations since the best goal last improved are all sums over journal rows in their order. A run
that is killed and resumed replays the journal (re-training nothing), so it reaches the same evaluation with
the same counts and stops exactly where the unkilled run stops.

A candidate whose training raises (compress.search.journal.is_candidate_error) is journaled as failed and counted
like any evaluation; the search goes on. An error of the run itself -- the baseline's, a setting, the disk, memory,
Ctrl-C -- still stops it, once every evaluation already in flight is journaled.
"""
from __future__ import annotations

import time
from typing import Callable

from compress.console import plural
from compress.models.spec import ModelSpec
from compress.search import tasks
from compress.search.journal import (FAILED, Evaluation, Journal, describe_error, evaluation_key, goal_rank,
                                     is_candidate_error, is_goal, rung_of)
from compress.search.space import Space


# What counts as a better goal for --patience: val AUC on a few hundred images moves by more than this from noise
# alone (the standard error of an AUC near 0.75 on 800 images is about 0.017), so smaller gains do not reset it.
MIN_GAIN = 0.005


class BudgetExhausted(Exception):
    """Raised by Search.evaluate when --max-evals, --max-minutes or --patience is used up."""


class Search:
    """Evaluates specs through a cache, the journal and the budgets; strategies call only this."""

    def __init__(self, space: Space, evaluator: Callable, *, beta: float, journal: Journal | None = None,
                 max_evals: int | None = None, max_seconds: float | None = None, patience: int | None = None,
                 log=print, executor=None):
        """beta and the executor are known before the search exists (jobs: the baseline stage works beta out);
        nothing sets them afterwards."""
        self.space, self.evaluator, self.beta, self.journal = space, evaluator, beta, journal
        self.executor = executor  # None: the evaluator, in this process (compress.search.executors: the others)
        self.max_evals, self.max_seconds, self.patience, self.log = max_evals, max_seconds, patience, log
        self.cache: dict[str, Evaluation] = {}  # journal order: the order the evaluations were made in
        self.order: list[str] = []  # keys in the order this run visited them (cached ones included)
        self.trainings = 0  # trained by this process (the rest came from the journal)
        self.started = time.monotonic()
        self.exhausted = ""  # why the search stopped early, if it did
        self.racing = False  # new trunks are racing (compress.search.race): below beta is not yet pruned
        self.reference = None  # multi-task: the baseline's val AUC per task, what every `auc` is relative to
        if journal:
            for row in journal.replay(failed=True):
                ev = self.cache.setdefault(row["key"], Evaluation.from_json(row))
                self.reference = self.reference or (tasks.reference_of(ev.metrics) if ev.parent is None else None)

    def evaluate(self, spec: ModelSpec, parent: Evaluation | None, label: str) -> Evaluation:
        return self.evaluate_many([(spec, parent, label)])[0]

    @property
    def workers(self) -> int:
        """How many evaluations the executor runs at once: the strategies' batch size."""
        return getattr(self.executor, "workers", 1)

    def evaluate_many(self, tasks) -> list[Evaluation]:
        """Evaluate (spec, parent, label) tasks, up to `workers` at once; journal rows in the order they finish.

        Budgets are checked before each dispatch (trainings in flight count toward --max-evals), so with one
        worker this is `evaluate` in a loop: N = 1 trains and journals exactly what the sequential search does.
        --max-minutes and --patience see finished evaluations only: N workers may pass them by N - 1 trainings.
        """
        tasks, stop, errors = list(tasks), [], []
        run = self.executor.run if self.executor else self._inline
        for (spec, parent, label), result in run(self._dispatch(tasks, stop, errors)):
            if not isinstance(result, BaseException):
                self._record(spec, parent, label, *result)
            elif parent is not None and is_candidate_error(result):
                self._fail(spec, parent, label, result)
            else:  # the run's own error: nothing more is sent; what is in flight is journaled first
                errors.append(result)
        if errors or stop:
            raise (errors or stop)[0]
        return [self.cache[evaluation_key(spec, parent)] for spec, parent, _ in tasks]

    def _inline(self, tasks):
        """Executors yield (task, (metrics, extra)) or (task, the exception its evaluation raised)."""
        for spec, parent, label in tasks:
            try:
                result = self.evaluator(spec, parent)
            except Exception as exc:  # noqa: BLE001 - evaluate_many decides: a failed candidate or the run's error
                result = exc
            yield (spec, parent, label), result

    def _dispatch(self, tasks: list, stop: list, errors: list):
        """The tasks still to train, each handed out only while the budgets allow and no error stopped the run;
        cached ones are only visited."""
        sent = set()
        for spec, parent, label in tasks:
            if errors:
                return
            key = evaluation_key(spec, parent)
            if key in self.cache or key in sent:
                self._visit(key)
                continue
            try:
                self._check_budget(in_flight=len(sent - self.cache.keys()))
            except BudgetExhausted as exc:
                stop.append(exc)
                return
            sent.add(key)
            yield spec, parent, label

    def _record(self, spec: ModelSpec, parent: Evaluation | None, label: str, metrics: dict, extra: dict) -> None:
        # multi-task: `auc` becomes the worst task's share of the baseline's AUC on it; one task: metrics as they are
        metrics = tasks.relative(metrics, self.reference if parent else None)
        self.reference = self.reference or tasks.reference_of(metrics)
        self._add(Evaluation(evaluation_key(spec, parent), spec, parent.key if parent else None, label,
                             _depth(spec, parent), self.space.flops(spec), self.space.fits(spec), metrics, extra))

    def _fail(self, spec: ModelSpec, parent: Evaluation, label: str, exc: BaseException) -> None:
        """A candidate whose training raised: a failed row (status and error), never a goal, never expanded."""
        self._add(Evaluation(evaluation_key(spec, parent), spec, parent.key, label, _depth(spec, parent),
                             self.space.flops(spec), self.space.fits(spec), {},
                             {"status": FAILED, "error": describe_error(exc)}))

    def _add(self, ev: Evaluation) -> None:
        self.trainings += 1
        if self.journal:
            self.journal.append(ev.to_json())
        self.cache[ev.key] = ev
        self._progress(ev)
        self._visit(ev.key)

    def _visit(self, key: str) -> None:
        if key in self.cache and key not in self.order:
            self.order.append(key)

    # --- budgets, all counted from the journal -----------------------------------------------------
    @property
    def seconds_used(self) -> float:
        return sum(float(ev.extra.get("train_seconds", 0)) for ev in self.cache.values())

    def since_improvement(self) -> int | None:
        """Evaluations made after the one that last raised the best goal's val AUC by at least MIN_GAIN; None
        before any goal."""
        best, last = None, None
        for i, ev in enumerate(self.cache.values(), 1):
            if self.is_goal(ev) and (best is None or ev.auc >= best + MIN_GAIN):
                best, last = ev.auc, i
        return None if last is None else len(self.cache) - last

    def _check_budget(self, in_flight: int = 0) -> None:
        if self.max_evals is not None and len(self.cache) + in_flight >= self.max_evals:
            self.exhausted = f"--max-evals {self.max_evals} reached"
        elif self.max_seconds is not None and self.seconds_used >= self.max_seconds:
            self.exhausted = f"--max-minutes {self.max_seconds / 60:g} of training reached"
        elif self.patience is not None and (self.since_improvement() or 0) >= self.patience:
            last = plural(self.patience, "evaluation")
            self.exhausted = f"--patience {self.patience}: no better goal in the last {last}"
        if self.exhausted:
            raise BudgetExhausted(self.exhausted)

    def _progress(self, ev: Evaluation) -> None:
        """`[k/max-evals] elapsed, ETA, best goal so far` and the evaluation's own figures; a log with a
        `progress(status, detail)` method (jobs' console) keeps the status on one live line on a terminal."""
        if ev.parent is None:
            verdict = "baseline"
        elif ev.failed:
            verdict = f"FAILED ({ev.extra['error'][:120]})"
        else:
            mark = "GOAL" if self.is_goal(ev) else ("racing" if self.racing else
                                                    "pruned" if ev.auc < self.beta else "kept")
            verdict = f"{'>=' if ev.auc >= self.beta else '< '} \u03b2 {self.beta:.4f}  {mark:<6s}"
        board = self.leaderboard() + ([ev] if self.is_goal(ev) and ev.key not in self.order else [])
        best = max(board, key=lambda e: goal_rank(e.auc, e.flops), default=None)  # this evaluation included
        elapsed = time.monotonic() - self.started
        per_eval = elapsed / max(self.trainings, 1)  # wall time per evaluation this process has made
        left = [per_eval * (self.max_evals - len(self.cache))] if self.max_evals else []
        left += [max(self.max_seconds - self.seconds_used, 0.0)] if self.max_seconds else []  # training seconds
        status = (f"[{len(self.cache)}/{self.max_evals or '-'}] {_clock(elapsed)} elapsed, ETA "
                  f"{'<= ' + _clock(min(left)) if left else 'unknown'}, best goal "
                  f"{f'{best.auc:.4f}' if best else 'none yet'}")
        score = "AUC    -  " if ev.failed else f"AUC {ev.auc:.4f}"
        detail = f"{ev.label:<38s} {ev.flops / 1e6:9.3f} MFLOPs  {score} {verdict}"
        show = getattr(self.log, "progress", None)
        if show is not None:
            show(status, detail)
        else:
            self.log(f"{status}  {detail}")

    def is_goal(self, ev: Evaluation) -> bool:
        return not ev.failed and is_goal(ev.fits, ev.auc, self.beta)

    def evaluations(self) -> list[Evaluation]:
        return [self.cache[k] for k in self.order]

    def failures(self) -> list[Evaluation]:
        """The candidates of this run whose training failed, in the order they were visited."""
        return [ev for ev in self.evaluations() if ev.failed]

    # --- outcome -----------------------------------------------------------------------------------
    def superseded(self) -> set[str]:
        """Evaluations a race promoted (compress.search.race): the same model trained on is what counts."""
        return {ev.parent for ev in self.cache.values() if rung_of(ev)}

    def leaderboard(self, size: int | None = None) -> list[Evaluation]:
        """The best goals evaluated, best first (val AUC, then fewer FLOPs): test data never decides. A model a
        race trained further is listed once, at its last rung."""
        superseded = self.superseded()
        goals = [ev for ev in self.evaluations() if self.is_goal(ev) and ev.key not in superseded]
        return sorted(goals, key=lambda ev: goal_rank(ev.auc, ev.flops), reverse=True)[:size]

    def best_goal(self) -> Evaluation | None:
        board = self.leaderboard(1)
        return board[0] if board else None

    def closest(self) -> dict:
        """When no goal was met: the smallest model that kept AUC >= beta, and the best model that fits."""
        evs = self.evaluations()
        good = [ev for ev in evs if ev.auc >= self.beta]
        fitting = [ev for ev in evs if ev.fits and not ev.failed]
        return {"smallest_above_beta": min(good, key=lambda ev: ev.flops, default=None),
                "best_under_budget": max(fitting, key=lambda ev: ev.auc, default=None)}


def _depth(spec: ModelSpec, parent: Evaluation | None) -> int:
    """Reductions from the baseline: a race's promotion trains the same model on, it is no reduction."""
    if parent is None:
        return 0
    return parent.depth if parent.spec.key == spec.key else parent.depth + 1


def _clock(seconds: float) -> str:
    """1h02m, 3m05s or 42s."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else (f"{rest // 60}m{rest % 60:02d}s" if rest >= 60 else f"{rest}s")
