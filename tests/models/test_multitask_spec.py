"""Multi-task specs: one trunk, one head per task; costed, built, reduced and keyed like single-head specs."""
import json
from pathlib import Path

import numpy as np
import pytest

from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.graph import is_valid
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec, SpecError, softmax_name

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("arousal", "dominance", "valence")


def tiny(tasks=TASKS, head_units=4):
    layers = [Layer("conv", "conv1", units=4, kernel=3), Layer("relu", "relu1"),
              Layer("maxpool", "pool1", kernel=2, stride=2, padding="valid"), Layer("flatten", "flatten"),
              Layer("dense", "fc", units=8), Layer("relu", "fc_relu")]
    for t in tasks:
        layers += [Layer("dense", f"{t}_fc", units=head_units, inputs=("fc_relu",)), Layer("relu", f"{t}_relu")]
    return ModelSpec((8, 1, 3), 2, layers, name="tiny", tasks=tasks, heads=tuple(f"{t}_relu" for t in tasks))


def test_single_head_keys_are_what_they_were():
    """Adding tasks to the spec left every single-head key alone: the committed default run's journal still
    keys each of its specs as it did (a changed key would retrain everything on --resume)."""
    rows = [json.loads(line) for line in (ROOT / "docs" / "default_run" / "journal.jsonl").read_text().splitlines()]
    assert len(rows) > 10
    for row in rows:
        spec = ModelSpec.from_dict(row["spec"])
        assert spec.key == row["key"] and "tasks" not in spec.to_dict()


def test_round_trip_and_key_include_the_tasks():
    spec = tiny()
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.key == spec.key
    assert tiny(("arousal", "valence", "dominance")).key != spec.key  # the outputs' order is part of the model
    assert spec.outputs() == [("head_arousal", "arousal_relu"), ("head_dominance", "dominance_relu"),
                              ("head_valence", "valence_relu")]


@pytest.mark.parametrize("change, words", [
    (dict(heads=("arousal_relu",)), "one existing layer per task"),
    (dict(heads=("arousal_relu", "nope", "valence_relu")), "one existing layer per task"),
    (dict(tasks=("arousal", "arousal", "valence")), "distinct"),
    (dict(tasks=("arousal", "dominance", "val ence")), "letters"),
    (dict(head=False), "head true"),
])
def test_a_malformed_multitask_spec_says_why(change, words):
    with pytest.raises(SpecError, match=words):
        tiny().replace(**change)


def test_cost_counts_every_head_and_matches_keras():
    from compress.models.keras_io import keras_cost

    spec = zoo.get("multitask_cnn")
    single = zoo.fusion_cnn(input_shape=spec.input_shape)
    cost, built = spec_cost(spec), build_model(spec)
    assert [o.name.split("/")[0] for o in built.outputs] == [softmax_name(t) for t in TASKS]
    measured = keras_cost(built)
    assert (cost.flops, cost.params) == (measured.flops, measured.params)
    assert cost.params == built.count_params()
    heads = [layer for layer in cost.layers if layer.name.startswith("head_")]
    assert len(heads) == 3 and all(h.macs == 32 * 2 for h in heads)
    assert spec_cost(single).flops < cost.flops


def test_reductions_keep_every_head_wired():
    spec = tiny()
    children = {r.label: r.spec for r in reductions(spec)}
    assert all(is_valid(child) and len(child.outputs()) == 3 for child in children.values())
    removed = children["remove arousal_fc"]
    assert removed.heads == ("fc_relu", "dominance_relu", "valence_relu")  # the head reads the trunk now
    thinned = children["valence_fc units 4\u21922"]
    assert [thinned.layers[thinned.index(f"{t}_fc")].units for t in TASKS] == [4, 4, 2]  # one head shrinks
    assert any(label.startswith("conv1 filters") for label in children)


def test_any_single_head_baseline_takes_one_head_per_task():
    spec = zoo.get("fusion_cnn", input_shape=(20, 1, 8), tasks=("arousal", "valence"))
    assert spec.tasks == ("arousal", "valence") and spec.heads == ("fc4_drop", "fc4_drop")
    assert is_valid(spec) and len(build_model(spec).outputs) == 2
    assert zoo.get("multitask_cnn", tasks=("valence", "arousal")).tasks == ("valence", "arousal")


def test_inherited_heads_compute_what_the_parent_did():
    """A child that removes nothing from a task keeps that task's output exactly, before any training."""
    from compress.search.inherit import inherit_weights

    parent_spec = tiny()
    child_spec = next(r.spec for r in reductions(parent_spec) if r.label == "valence_fc units 4\u21922")
    parent, child = build_model(parent_spec, seed=1), build_model(child_spec, seed=2)
    status = inherit_weights(child, child_spec, parent, parent_spec)
    assert status["head_arousal"] == "copied" and status["valence_fc"] == "thinned"
    x = np.random.default_rng(0).normal(size=(5, 8, 1, 3)).astype(np.float32)
    for k in (0, 1):  # arousal and dominance are untouched by the reduction
        np.testing.assert_allclose(child.predict(x, verbose=0)[k], parent.predict(x, verbose=0)[k], atol=1e-6)
