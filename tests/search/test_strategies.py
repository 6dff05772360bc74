"""Strategies against a fake evaluator: no TensorFlow, milliseconds per search."""
import functools
import json
import math
import random

import pytest

from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.reductions import reductions
from compress.search.journal import Journal
from compress.search.space import Space
from compress.search.session import Search
from compress.search.strategies import heuristic, run, smallest_reachable
from compress.models.spec import Layer, ModelSpec


@functools.lru_cache(maxsize=None)
def flops(spec):
    return spec_cost(spec).flops


@functools.lru_cache(maxsize=None)
def children(spec):
    return tuple(reductions(spec, flops=flops))


def make_space(budget):
    return Space(children, flops, lambda s: flops(s) <= budget, budget)


def small_net(side=24, widths=(8, 16)):
    layers = []
    for i, w in enumerate(widths, 1):
        layers += [Layer("conv", f"conv{i}", units=w, kernel=3), Layer("relu", f"relu{i}"),
                   Layer("maxpool", f"pool{i}", kernel=2, stride=2, padding="valid")]
    return ModelSpec((side, side, 1), 2, tuple(layers) + (Layer("flatten", "flatten"),), name="small")


class FakeEvaluator:
    """AUC falls with log-FLOPs and collapses when a net has fewer than two convolutions."""

    def __init__(self, baseline):
        self.base = math.log(flops(baseline))
        self.calls = []

    def __call__(self, spec, parent):
        self.calls.append(spec.key)
        convs = sum(layer.kind in ("conv", "sepconv", "dwconv", "residual") for layer in spec.layers)
        auc = 0.55 if convs < 2 else 0.5 + 0.45 * math.log(flops(spec)) / self.base
        return {"auc": auc, "accuracy": auc}, {"train_seconds": 0.0}


def search_for(baseline, budget, strategy="astar", beta_ratio=0.8, space=None, **kwargs):
    evaluator = FakeEvaluator(baseline)
    kwargs.setdefault("patience", 5)
    search = Search(space or make_space(budget), evaluator, beta=0.0, log=lambda m: None, **kwargs)
    base = search.evaluate(baseline, None, "baseline")
    search.beta = beta_ratio * base.auc
    return search, run(strategy, search, baseline), evaluator


@pytest.mark.parametrize("strategy", ["astar", "dfs", "greedy", "random"])
def test_every_strategy_reaches_the_goal_and_respects_beta(strategy):
    baseline = zoo.embedded3()
    budget = flops(baseline) / 6
    search, winner, _ = search_for(baseline, budget, strategy)
    assert winner is not None
    assert winner.flops <= budget and winner.auc >= search.beta
    # Pruned nodes (AUC < beta) are never expanded: no evaluation has a pruned parent.
    for ev in search.evaluations():
        if ev.parent is not None:
            assert search.cache[ev.parent].auc >= search.beta


def test_astar_reaches_the_default_budget_from_alexnet_within_few_trainings():
    baseline = zoo.alexnet()
    search, winner, evaluator = search_for(baseline, 0.46e6)
    assert winner is not None and winner.flops <= 0.46e6
    assert len(evaluator.calls) == search.trainings < 60


def test_max_evals_stops_the_search_and_says_why():
    search, winner, evaluator = search_for(zoo.alexnet(), 0.46e6, max_evals=3)
    assert winner is None
    assert len(evaluator.calls) == 3
    assert "max-evals" in search.exhausted


def test_no_goal_reports_the_closest_models():
    search, winner, _ = search_for(zoo.embedded3(), flops(zoo.embedded3()) / 1e4, beta_ratio=0.99)
    assert winner is None
    closest = search.closest()
    assert closest["smallest_above_beta"] is not None
    assert closest["smallest_above_beta"].auc >= search.beta


def _true_distance(space, spec, limit):
    """Breadth-first number of reductions to the FLOPs budget, or None beyond `limit`."""
    frontier, seen = [spec], {spec.key}
    for depth in range(limit + 1):
        if any(space.flops(s) <= space.budget_flops for s in frontier):
            return depth
        nxt = []
        for s in frontier:
            for c in space.children(s):
                if c.spec.key not in seen:
                    seen.add(c.spec.key)
                    nxt.append(c.spec)
        frontier = nxt
    return None


def test_heuristic_never_overestimates_on_random_specs():
    rng = random.Random(0)
    checked = 0
    for _ in range(40):
        spec = small_net(side=rng.choice([16, 24]), widths=tuple(rng.choice([4, 6, 8]) for _ in range(2)))
        for _ in range(rng.randrange(3)):
            options = children(spec)
            spec = rng.choice(options).spec if options else spec
        space = make_space(flops(spec) / rng.choice([2, 5, 20]))
        distance = _true_distance(space, spec, limit=3)
        if distance is not None:
            assert heuristic(space, spec) <= distance, spec.to_json()
            checked += 1
    assert checked >= 20


def test_smallest_reachable_exposes_an_impossible_budget():
    space = make_space(1.0)
    _, smallest = smallest_reachable(space, zoo.embedded3())
    assert smallest > 1.0


# --- journal ------------------------------------------------------------------------------------

def test_resume_replays_the_journal_and_retrains_nothing(tmp_path):
    baseline, budget = zoo.embedded3(), flops(zoo.embedded3()) / 6
    first, winner, _ = search_for(baseline, budget, journal=Journal(tmp_path / "j.jsonl"))
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == first.trainings
    second, again, evaluator = search_for(baseline, budget, journal=Journal(tmp_path / "j.jsonl"))
    assert evaluator.calls == [] and second.trainings == 0
    assert again.key == winner.key
    assert (tmp_path / "j.jsonl").read_text().splitlines() == lines


def test_a_corrupt_journal_line_is_reported_and_never_truncated(tmp_path):
    path = tmp_path / "j.jsonl"
    baseline, budget = zoo.embedded3(), flops(zoo.embedded3()) / 6
    search_for(baseline, budget, journal=Journal(path))
    good = path.read_text().splitlines()
    path.write_text("\n".join([good[0], "{not json", *good[1:]]) + '\n{"key": "half-writ')  # a kill mid-write
    messages = []
    journal = Journal(path, log=messages.append)
    rows = journal.replay()
    assert len(rows) == len(good)
    assert any("line 2" in m for m in messages) and any(f"line {len(good) + 2}" in m for m in messages)
    journal.append(json.loads(good[0]))
    text = path.read_text()
    assert text.startswith(good[0]) and '{"key": "half-writ\n' in text
    assert len(Journal(path, log=lambda m: None).replay()) == len(good) + 1
