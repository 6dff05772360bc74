"""Search strategies over reductions: anytime A* (default), the DFS of the cs231n study (Shved 2019), NetAdapt's
greedy rule, random walks.

The strategies see only specs, costs and scores through `Search`, so a fake evaluator tests them without Keras.

A* heuristic. h(n) = log(FLOPs(n) / budget) / log(r(n))   (0 once FLOPs(n) <= budget), where
r(n) = max(4, largest FLOPs(n) / FLOPs(child) over n's children). Why h is admissible: if no single
reduction from n or below divides FLOPs by more than r(n), k reductions divide them by at most r(n)^k, and
reaching the budget needs r(n)^k >= FLOPs(n) / budget, i.e. k >= h. The floor of 4 is there because a
stride 1->2, a 2x2 pool or halved filters can cut a layer and those after it by up to 4x at any later node,
even where n's own children cut less. What is left is an assumption (the big one-off moves -- removing a
layer, a separable conv, global pooling -- do not later become bigger than both), checked by
tests/search/test_strategies.py against breadth-first distances on random specs. DESIGN.md rounds h up; we keep the
fraction (still a lower bound) because whole-number f values tie in large plateaus that A* trains whole.

Weighting. Plain A* (f = g + h) proves its answer needs the fewest reductions by training every node with
f below that answer's: from alexnet that is over 150 trainings (measured with the fake evaluator of the
tests). Each training costs seconds to minutes, so A* here is weighted: f = g + W * h with W = 8, which
returns a path at most W times longer than the shortest and, on the same fake problem, reaches the budget
in 11 trainings from alexnet, 12 from resnet_like and 22 from fer_cnn (W = 4: 13, 23, 93; W = 2: 20, 19,
none in 150). Ties go to the higher parent AUC, then to fewer FLOPs. Nodes are trained when popped, not
when generated, so siblings that A* never reaches cost nothing.

AUC lost is a cost. A path's cost so far is its reductions plus LOSS_WEIGHT x the share of the slack (baseline
AUC - beta) its node has lost: a reduction that keeps AUC costs 1, one that drops AUC to beta costs 1 + 16. With
steps alone (as before) W x h dominates and the search dives through whatever cuts most FLOPs -- strides, pools,
removed first layers -- and lands its goals at AUC just above beta (measured: default run, int8 test AUC 0.75 with
steps alone). Weighed at 2W, a node that lost most of the slack waits behind nodes two heuristic steps further
from the budget that kept their AUC, which is the trade DFS's thinning makes by accident of its move order.

Anytime. A* does not stop at its first goal: a goal's widening moves (compress.models.widening: give a
thinned layer back width, a shrunk kernel size, a raised stride, an inserted pool, input pixels -- only
those that still pass every device target) go to the front of the open list, best-AUC goal first, so the
search spends the slack under the targets; when they run out it goes on with the A* order and widens any
new goal it meets. It ends on --max-evals, --max-minutes or --patience (evaluations without a better goal).

New trunks race. A node's family moves (a whole new trunk, trained from scratch) are not pushed one by one: they
race at once by successive halving (compress/search/race.py), and each trunk's last rung is then pruned, widened
or expanded like any evaluated node.

greedy is NetAdapt's rule (Yang et al. 2018): each step asks for a fixed relative cut (GREEDY_CUT of the
current FLOPs, or down to the budget if that is less), trains every child that meets it, and keeps the one
with the highest AUC. random is the standard NAS control (Li & Talwalkar 2019): random reduction walks from
the baseline until the model fits, each trained from the baseline's weights like any candidate.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random as random_module
import re

from compress import CompressError
from compress.models.spec import ModelSpec
from compress.search.journal import Evaluation
from compress.search.race import race
from compress.search.session import BudgetExhausted, Search
from compress.search.space import Space

STRATEGIES = ("astar", "dfs", "greedy", "random")
HEURISTIC_WEIGHT = 8.0  # W in f = g + W * h; see the module docstring
LOSS_WEIGHT = 2 * HEURISTIC_WEIGHT  # cost of losing the whole slack between the baseline's AUC and beta
MIN_STEP_RATIO = 4.0  # a stride, a pool or halved filters can cut up to ~4x at any later node
GREEDY_CUT = 0.25  # NetAdapt: each greedy step removes at least this share of the current FLOPs
RANDOM_REPEATS = 25  # random search stops after this many walks in a row that end at models already trained


# --- the heuristic ------------------------------------------------------------------------------

def heuristic(space: Space, spec: ModelSpec, children=None) -> float:
    """Lower bound on the reductions still needed to reach the FLOPs budget (see the module docstring)."""
    flops = space.flops(spec)
    if flops <= space.budget_flops:
        return 0
    children = space.children(spec) if children is None else children
    if not children:
        return math.inf
    # family moves (a whole new trunk) reach the budget in one step from anywhere: they are goals, popped at
    # h = 0, and left out here so that h still measures how far the node's own trunk is from the budget
    r_max = max([MIN_STEP_RATIO] + [flops / space.flops(child.spec) for child in children if not child.family])
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

def move_of(label: str) -> str:
    """What a reduction does, whatever the sizes: 'conv3 filters 152->76' and 'conv3 filters 76->38' are one move."""
    return re.sub(r"\d+\u2192\d+", "", label).strip()


def astar(search: Search, baseline: ModelSpec, weight: float = HEURISTIC_WEIGHT,
          loss_weight: float = LOSS_WEIGHT) -> None:
    """Anytime weighted A*: priorities (0, -goal AUC) for widening a goal, (1, f, -parent AUC, FLOPs) for the rest.

    A move whose child was pruned (AUC < beta) is pushed back by `weight` everywhere else in the open list's
    future: one separable first layer that lost too much says the same move elsewhere probably will too.
    """
    space, tie = search.space, itertools.count()
    open_list = [((1, weight * heuristic(space, baseline), 0.0, 0.0), next(tie), baseline, None, "baseline")]
    closed, pruned_moves, base_auc = set(), set(), None
    evaluated = []  # batch best-first: the search.workers best open nodes, trained at once, expanded in order
    while open_list or evaluated:
        if not evaluated:
            batch = []
            while open_list and len(batch) < search.workers:
                priority, _, spec, parent, label = heapq.heappop(open_list)
                if spec.key not in closed and not math.isinf(priority[1]):
                    closed.add(spec.key)
                    batch.append((spec, parent, label))
            evaluated = list(zip(batch, search.evaluate_many(batch)))
            continue
        (spec, parent, label), ev = evaluated.pop(0)
        base_auc = ev.auc if base_auc is None else base_auc
        if ev.failed:
            continue  # its training raised: no score to prune its move on, nothing to expand
        if ev.auc < search.beta:
            pruned_moves.add(move_of(label))
            continue  # pruned: the cs231n study's rule, its reductions can only lose more
        if search.is_goal(ev):
            for child_label, child in space.widenings(spec):
                if child.key not in closed:
                    heapq.heappush(open_list, ((0, -ev.auc, 0.0, 0.0), next(tie), child, ev, child_label))
            continue
        lost = loss_weight * max(0.0, base_auc - ev.auc) / max(base_auc - search.beta, 1e-9)
        children = [child for child in space.children(spec) if child.spec.key not in closed]
        trunks = [(child.spec, ev, child.label) for child in children if child.family]
        closed.update(trunk.key for trunk, _, _ in trunks)
        evaluated += [((trunk.spec, None, trunk.label), trunk) for trunk in race(search, trunks)]
        for child in children:
            if child.family:
                continue  # raced above
            f = (ev.depth + 1 + lost + weight * heuristic(space, child.spec)
                 + weight * (move_of(child.label) in pruned_moves))
            heapq.heappush(open_list, ((1, f, -ev.auc, space.flops(child.spec)), next(tie), child.spec, ev,
                                       child.label))


def dfs(search: Search, baseline: ModelSpec) -> None:
    """The cs231n study's Algorithm 1: recurse into the reductions in order; stop at the first goal."""
    visited = set()

    def visit(spec, parent, label) -> bool:
        if spec.key in visited:
            return False
        visited.add(spec.key)
        ev = search.evaluate(spec, parent, label)
        if ev.failed or ev.auc < search.beta:
            return False
        if search.is_goal(ev):
            return True
        return any(visit(child.spec, ev, child.label) for child in search.space.children(spec))

    visit(baseline, None, "baseline")


def greedy(search: Search, baseline: ModelSpec, cut: float = GREEDY_CUT) -> None:
    """NetAdapt's rule: train every child that cuts at least `cut` of the FLOPs; keep the best AUC."""
    space = search.space
    ev = search.evaluate(baseline, None, "baseline")
    while not search.is_goal(ev):
        children = space.children(ev.spec)
        if not children:
            return
        target = max((1 - cut) * ev.flops, space.budget_flops)
        meeting = [c for c in children if space.flops(c.spec) <= target]
        meeting = meeting or [min(children, key=lambda c: space.flops(c.spec))]
        scored = search.evaluate_many([(c.spec, ev, c.label) for c in meeting])  # siblings: in parallel
        good = [child for child in scored if not child.failed and child.auc >= search.beta]
        if not good:
            return
        ev = max(good, key=lambda child: (child.auc, -child.flops))


def random_walks(search: Search, baseline: ModelSpec, seed: int = 0) -> None:
    """Random reduction walks from the baseline until the model fits, each trained from the baseline's weights."""
    space, rng = search.space, random_module.Random(seed)
    base = search.evaluate(baseline, None, "baseline")
    repeats = 0
    while repeats < RANDOM_REPEATS:
        walks = {}  # search.workers walks drawn, then trained at once
        while len(walks) < search.workers and repeats < RANDOM_REPEATS:
            spec, labels = baseline, []
            while not space.fits(spec):
                children = space.children(spec)
                if not children:
                    break
                step = rng.choice(children)
                spec, labels = step.spec, labels + [step.label]
            # a repeat of this run's own walks; a journal row not yet visited is a replay after --resume, not one
            seen = spec.key in search.order or spec.key in walks
            repeats = repeats + 1 if seen or not space.fits(spec) else 0
            if space.fits(spec) and spec.key not in walks:
                walks[spec.key] = (spec, base, f"random walk: {' > '.join(labels)}")
        search.evaluate_many(list(walks.values()))


def run(strategy: str, search: Search, baseline: ModelSpec, seed: int = 0) -> Evaluation | None:
    """Run a strategy until it stops or a budget runs out; returns the best goal evaluated."""
    if strategy not in STRATEGIES:
        raise CompressError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    try:
        if strategy == "random":
            random_walks(search, baseline, seed)
        else:
            {"astar": astar, "dfs": dfs, "greedy": greedy}[strategy](search, baseline)
    except BudgetExhausted:
        search.log(f"search stopped: {search.exhausted}")
    return search.best_goal()
