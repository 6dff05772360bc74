"""Search strategies over reductions: A* (default), seed 001's DFS and a NetAdapt-like greedy.

The strategies see only specs, costs and scores through `Search`, so a fake evaluator tests them without Keras.

A* heuristic. h(n) = log(FLOPs(n) / budget) / log(r(n))   (0 once FLOPs(n) <= budget), where
r(n) = max(4, largest FLOPs(n) / FLOPs(child) over n's children). Why h is admissible: if no single
reduction from n or below divides FLOPs by more than r(n), k reductions divide them by at most r(n)^k, and
reaching the budget needs r(n)^k >= FLOPs(n) / budget, i.e. k >= h. The floor of 4 is there because a
stride 1->2, a 2x2 pool or halved filters can cut a layer and those after it by up to 4x at any later node,
even where n's own children cut less. What is left is an assumption (the big one-off moves -- removing a
layer, a separable conv, global pooling -- do not later become bigger than both), checked by
tests/test_search.py against breadth-first distances on random specs. DESIGN.md rounds h up; we keep the
fraction (still a lower bound) because whole-number f values tie in large plateaus that A* trains whole.

Weighting. Plain A* (f = g + h) proves its answer needs the fewest reductions by training every node with
f below that answer's: from alexnet that is over 150 trainings (measured with the fake evaluator of the
tests). Each training costs seconds to minutes, so A* here is weighted: f = g + W * h with W = 8, which
returns a path at most W times longer than the shortest and, on the same fake problem, reaches the budget
in 11 trainings from alexnet, 12 from resnet_like and 22 from fer_cnn (W = 4: 13, 23, 93; W = 2: 20, 19,
none in 150). Ties go to the higher parent AUC, then to fewer FLOPs. Nodes are trained when popped, not
when generated, so siblings that A* never reaches cost nothing.
"""
from __future__ import annotations

import heapq
import itertools
import math
import time
from typing import Callable

from compress import CompressError
from compress.models.spec import ModelSpec
from compress.search.journal import Evaluation, Journal, goal_rank, is_goal
from compress.search.space import Space

STRATEGIES = ("astar", "dfs", "greedy")
HEURISTIC_WEIGHT = 8.0  # W in f = g + W * h; see the module docstring
MIN_STEP_RATIO = 4.0  # a stride, a pool or halved filters can cut up to ~4x at any later node


class BudgetExhausted(Exception):
    """Raised by Search.evaluate when --max-evals or --max-minutes is used up."""


class Search:
    """Evaluates specs through a cache, the journal and the budgets; strategies call only this."""

    def __init__(self, space: Space, evaluator: Callable, beta: float, journal: Journal | None = None,
                 max_evals: int | None = None, max_seconds: float | None = None, log=print):
        self.space, self.evaluator, self.beta, self.journal = space, evaluator, beta, journal
        self.max_evals, self.max_seconds, self.log = max_evals, max_seconds, log
        self.cache: dict[str, Evaluation] = {}
        self.order: list[str] = []  # keys in order of evaluation (cached ones included)
        self.trainings = 0
        self.started = time.monotonic()
        self.exhausted = ""  # why the search stopped early, if it did
        if journal:
            for row in journal.replay():
                self.cache[row["key"]] = Evaluation.from_json(row)

    def evaluate(self, spec: ModelSpec, parent: Evaluation | None, label: str) -> Evaluation:
        key = spec.key
        if key in self.cache:
            ev = self.cache[key]
        else:
            self._check_budget()
            metrics, extra = self.evaluator(spec, parent)
            depth = parent.depth + 1 if parent else 0
            ev = Evaluation(key, spec, parent.key if parent else None, label, depth, self.space.flops(spec),
                            self.space.fits(spec), metrics, extra)
            self.trainings += 1
            if self.journal:
                self.journal.append(ev.to_json())
            self.cache[key] = ev
            self._progress(ev)
        if key not in self.order:
            self.order.append(key)
        return ev

    def _check_budget(self) -> None:
        if self.max_evals is not None and self.trainings >= self.max_evals:
            self.exhausted = f"--max-evals {self.max_evals} reached"
        elif self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            self.exhausted = f"--max-minutes {self.max_seconds / 60:g} reached"
        if self.exhausted:
            raise BudgetExhausted(self.exhausted)

    def _progress(self, ev: Evaluation) -> None:
        elapsed = time.monotonic() - self.started
        if ev.parent is None:
            verdict = "baseline"
        else:
            mark = "GOAL" if self.is_goal(ev) else ("pruned" if ev.auc < self.beta else "kept")
            verdict = f"{'>=' if ev.auc >= self.beta else '< '} \u03b2 {self.beta:.4f}  {mark:<6s}"
        self.log(f"[{self.trainings:3d}] {ev.label:<38s} {ev.flops / 1e6:9.3f} MFLOPs  AUC {ev.auc:.4f} "
                 f"{verdict} {elapsed:6.0f} s")

    def is_goal(self, ev: Evaluation) -> bool:
        return is_goal(ev.fits, ev.auc, self.beta)

    def evaluations(self) -> list[Evaluation]:
        return [self.cache[k] for k in self.order]

    # --- outcome -----------------------------------------------------------------------------
    def best_goal(self) -> Evaluation | None:
        goals = [ev for ev in self.evaluations() if self.is_goal(ev)]
        return max(goals, key=lambda ev: goal_rank(ev.auc, ev.flops), default=None)

    def closest(self) -> dict:
        """When no goal was met: the smallest model that kept AUC >= beta, and the best model that fits."""
        evs = self.evaluations()
        good = [ev for ev in evs if ev.auc >= self.beta]
        fitting = [ev for ev in evs if ev.fits]
        return {"smallest_above_beta": min(good, key=lambda ev: ev.flops, default=None),
                "best_under_budget": max(fitting, key=lambda ev: ev.auc, default=None)}


# --- the heuristic ------------------------------------------------------------------------------

def heuristic(space: Space, spec: ModelSpec, children=None) -> float:
    """Lower bound on the reductions still needed to reach the FLOPs budget (see the module docstring)."""
    flops = space.flops(spec)
    if flops <= space.budget_flops:
        return 0
    children = space.children(spec) if children is None else children
    if not children:
        return math.inf
    r_max = max([MIN_STEP_RATIO] + [flops / space.flops(child.spec) for child in children])
    return math.log(flops / space.budget_flops) / math.log(r_max)


def smallest_reachable(space: Space, spec: ModelSpec, max_steps: int = 500) -> tuple[ModelSpec, float]:
    """Follow the largest FLOPs cut each step: a cheap check that the budget is reachable at all."""
    for _ in range(max_steps):
        children = space.children(spec)
        if not children or space.flops(spec) <= space.budget_flops:
            break
        spec = min(children, key=lambda c: space.flops(c.spec)).spec
    return spec, space.flops(spec)


# --- strategies ---------------------------------------------------------------------------------

def astar(search: Search, baseline: ModelSpec, weight: float = HEURISTIC_WEIGHT) -> None:
    space, tie = search.space, itertools.count()
    open_list = [(weight * heuristic(space, baseline), 0.0, 0.0, next(tie), baseline, None, "baseline")]
    closed = set()
    while open_list:
        f, _, _, _, spec, parent, label = heapq.heappop(open_list)
        if spec.key in closed or math.isinf(f):
            continue
        closed.add(spec.key)
        ev = search.evaluate(spec, parent, label)
        if ev.auc < search.beta:
            continue  # pruned: seed 001's rule, its reductions can only lose more
        if search.is_goal(ev):
            return
        children = space.children(spec)
        for child in children:
            if child.spec.key in closed:
                continue
            h = heuristic(space, child.spec)
            heapq.heappush(open_list, (ev.depth + 1 + weight * h, -ev.auc, space.flops(child.spec), next(tie),
                                       child.spec, ev, child.label))


def dfs(search: Search, baseline: ModelSpec) -> None:
    """Seed 001's Algorithm 1: recurse into the reductions in order; stop at the first goal."""
    visited = set()

    def visit(spec, parent, label) -> bool:
        if spec.key in visited:
            return False
        visited.add(spec.key)
        ev = search.evaluate(spec, parent, label)
        if ev.auc < search.beta:
            return False
        if search.is_goal(ev):
            return True
        return any(visit(child.spec, ev, child.label) for child in search.space.children(spec))

    visit(baseline, None, "baseline")


def greedy(search: Search, baseline: ModelSpec) -> None:
    """NetAdapt-like: train every child, move to the one losing the least AUC per FLOP removed."""
    ev = search.evaluate(baseline, None, "baseline")
    while not search.is_goal(ev):
        scored = [search.evaluate(c.spec, ev, c.label) for c in search.space.children(ev.spec)]
        good = [child for child in scored if child.auc >= search.beta]
        if not good:
            return
        ev = min(good, key=lambda child: (ev.auc - child.auc) / max(ev.flops - child.flops, 1e-9))


def run(strategy: str, search: Search, baseline: ModelSpec) -> Evaluation | None:
    """Run a strategy until it finds a goal or a budget runs out; returns the best goal evaluated."""
    if strategy not in STRATEGIES:
        raise CompressError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    try:
        {"astar": astar, "dfs": dfs, "greedy": greedy}[strategy](search, baseline)
    except BudgetExhausted:
        search.log(f"search stopped: {search.exhausted}")
    return search.best_goal()
