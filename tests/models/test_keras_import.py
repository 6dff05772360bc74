"""Keras -> spec: round trip (same outputs once weights are copied), graph-aware reductions, names out of the key."""
import random

import numpy as np
import pytest

from compress import CompressError
from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.graph import is_valid, layer_shapes
from compress.models.keras_build import build_model
from compress.models.keras_import import import_keras, set_weights
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec
from tests.models.third_party import BUILDERS, logits_resnet, mini_xception, trained


@pytest.fixture(scope="module")
def models():
    return {build.__name__: trained(build) for build in BUILDERS}


@pytest.mark.parametrize("name", [b.__name__ for b in BUILDERS])
def test_round_trip_gives_the_original_outputs(models, name):
    import tensorflow as tf

    model, x = models[name]
    spec, weights = import_keras(model)
    rebuilt = build_model(spec)
    set_weights(rebuilt, weights)
    expected = model.predict(x, verbose=0)
    if name == "logits_resnet":  # logits out: the spec adds the softmax a classifier needs
        expected = tf.nn.softmax(expected).numpy()
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    assert rebuilt.count_params() == spec_cost(spec).params


def test_headless_and_headed_imports():
    spec, weights = import_keras(mini_xception())
    assert not spec.head and spec.layers[-1].kind == "gap" and "head" not in weights
    spec, weights = import_keras(logits_resnet())
    assert spec.head and "head" in weights and spec.classes == 5
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("build", BUILDERS)
def test_random_reduction_chains_of_imported_graphs_stay_valid_and_shrink(build):
    spec, _ = import_keras(build())
    rng = random.Random(build.__name__)
    for _ in range(25):
        current, flops = spec, spec_cost(spec).flops
        for _ in range(rng.randrange(1, 8)):
            options = reductions(current)
            if not options:
                break
            current = rng.choice(options).spec
            assert is_valid(current) and spec_cost(current).flops < flops
            flops = spec_cost(current).flops
    assert build_model(current).count_params() == spec_cost(current).params


def test_graph_moves_thin_add_inputs_together_and_remove_blocks_and_branches():
    spec, _ = import_keras(mini_xception())
    labels = [r.label for r in reductions(spec)]
    together = [label for label in labels if "+" in label and "filters" in label]
    assert together  # the separable path and the 1x1 shortcut of a block are thinned as one
    assert any(label.startswith("remove block") for label in labels)
    assert any(label.startswith("remove branch") for label in labels)
    for r in reductions(spec):  # the class conv keeps its width: it outputs the classes
        assert r.spec.classes == 3 and layer_shapes(r.spec)[-1][2] == (3,)


def test_key_ignores_layer_names():
    a = ModelSpec((8, 8, 1), 2, (Layer("conv", "a", units=4, kernel=3), Layer("gap", "g")))
    b = ModelSpec((8, 8, 1), 2, (Layer("conv", "b", units=4, kernel=3), Layer("gap", "pool")))
    assert a.key == b.key and a.replace(classes=3).key != a.key
    alexnet = zoo.alexnet()
    by_label = {r.label: r.spec for r in reductions(alexnet, flops=lambda s: spec_cost(s).flops)}
    from compress.models import graph

    without_fc6 = graph.remove(alexnet, {"fc6", "fc6_relu", "fc6_drop"}, {"fc6_drop": "flatten"})
    without_fc7 = graph.remove(alexnet, {"fc7", "fc7_relu", "fc7_drop"}, {"fc7_drop": "fc6_drop"})
    assert without_fc6.key == without_fc7.key == by_label["remove fc6"].key


def test_dag_keys_ignore_names_but_not_wiring():
    base = [Layer("conv", "c1", units=4, kernel=3), Layer("conv", "c2", units=4, kernel=3),
            Layer("add", "sum", inputs=("c1", "c2")), Layer("gap", "g")]
    renamed = [Layer("conv", "x", units=4, kernel=3), Layer("conv", "y", units=4, kernel=3),
               Layer("add", "z", inputs=("x", "y")), Layer("gap", "w")]
    rewired = base[:2] + [Layer("add", "sum", inputs=("c2", "c1")), base[3]]
    key = ModelSpec((8, 8, 4), 2, tuple(base)).key
    assert ModelSpec((8, 8, 4), 2, tuple(renamed)).key == key
    assert ModelSpec((8, 8, 4), 2, tuple(rewired)).key != key


def test_unsupported_layers_are_all_named_in_one_line():
    import tf_keras as keras

    L = keras.layers
    x = keras.Input((8, 8, 1))
    y = L.LeakyReLU(name="leaky")(L.Conv2D(4, 3, dilation_rate=2, name="dilated")(x))
    model = keras.Model(x, L.Dense(2, activation="softmax")(L.Flatten()(y)))
    with pytest.raises(CompressError) as info:
        import_keras(model, "user.h5")
    message = str(info.value)
    assert "\n" not in message and "dilated (Conv2D" in message and "leaky (LeakyReLU)" in message
    assert "Supported: Conv2D" in message
