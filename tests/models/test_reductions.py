"""Reductions: every move is valid, labelled, and strictly lowers FLOPs, along random chains from every baseline."""
import random

import pytest

from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.graph import is_valid
from compress.models.keras_build import build_model
from compress.models.reductions import reductions


def labels(spec):
    return [r.label for r in reductions(spec)]


def test_alexnet_offers_every_kind_of_move():
    found = " | ".join(labels(zoo.alexnet()))
    for expected in ["conv3 filters 152\u219276", "fc6 units 512\u2192256", "remove conv3", "remove fc6",
                     "conv2 stride 1\u21922", "2\u00d72 max-pool after conv3", "conv1 kernel 11\u21927",
                     "conv2 \u2192 separable", "flatten \u2192 global average pooling", "input 48\u219240"]:
        assert expected in found


def test_residual_blocks_can_be_thinned_and_removed():
    found = labels(zoo.resnet_like())
    assert "res2 filters 96\u219248" in found and "remove res2" in found


def test_reductions_keep_names_and_do_not_touch_the_parent():
    parent = zoo.alexnet()
    before = parent.to_json()
    for r in reductions(parent):
        assert r.spec.name == parent.name and r.spec.key != parent.key
    assert parent.to_json() == before


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_random_chains_stay_valid_and_strictly_shrink(name):
    rng = random.Random(name)
    baseline = zoo.get(name)
    for _ in range(12):  # 12 random chains per model: at most ~15 s each here (25 took up to 30 s)
        spec, flops = baseline, spec_cost(baseline).flops
        for _ in range(rng.randrange(1, 12)):
            options = reductions(spec)
            if not options:
                break
            spec = rng.choice(options).spec
            child_flops = spec_cost(spec).flops
            assert is_valid(spec)
            assert child_flops < flops
            flops = child_flops


def test_some_reduced_specs_build_in_keras_with_the_params_the_cost_model_expects():
    rng = random.Random(1)
    for name in ("alexnet", "resnet_like"):
        spec = zoo.get(name)
        for _ in range(6):
            spec = rng.choice(reductions(spec)).spec
        assert build_model(spec).count_params() == spec_cost(spec).params
