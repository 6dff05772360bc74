"""Sensor-window specs (T, 1, C): k x 1 windows, lstm and select layers, their cost, build, reductions, inheritance."""
import numpy as np
import pytest

from compress.models import cost, keras_io, zoo
from compress.models.graph import is_valid
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec

ODD = (11, 1, 3)  # 11 samples of 3 channels: a swapped dimension cannot hide


def _rows(spec):
    return {row.name: row for row in cost.spec_cost(spec).layers}


def test_conv_and_pool_of_a_window_slide_along_time_only():
    spec = ModelSpec(ODD, 2, (Layer("conv", "c", units=7, kernel=5), Layer("maxpool", "p", kernel=2, stride=2,
                                                                          padding="valid"), Layer("flatten", "f")))
    rows = _rows(spec)
    # conv 5 x 1 over 11 x 1 x 3, 7 filters, 'same': 11 x 1 x 7 outputs x (5 x 1 x 3) = 1,155 MACs;
    # FLOPs 2 x 1,155 + 77 bias adds = 2,387; params 5 x 3 x 7 + 7 = 112
    assert (rows["c"].output_shape, rows["c"].macs, rows["c"].flops, rows["c"].params) == ((11, 1, 7), 1155, 2387, 112)
    # max-pool 2 x 1, stride 2 x 1, valid: 5 x 1 x 7 outputs, 2 compares each = 70 FLOPs (a 2 x 2 pool would not fit)
    assert (rows["p"].output_shape, rows["p"].flops) == ((5, 1, 7), 70)
    model = build_model(spec, seed=0)
    assert model.get_layer("c").kernel_size == (5, 1) and model.get_layer("p").pool_size == (2, 1)
    assert cost.spec_cost(spec).params == model.count_params()


def test_lstm_and_select_cost_by_hand_and_build_as_keras_layers():
    spec = ModelSpec(ODD, 2, (Layer("select", "s", pads=(1, 3)), Layer("lstm", "l", units=6)))
    rows = _rows(spec)
    # select channels 1-2: transpose (11, 3, 1), crop (11, 2, 1), transpose back (11, 1, 2); no FLOPs
    assert [rows[n].output_shape for n in ("s_t", "s_crop", "s")] == [(11, 3, 1), (11, 2, 1), (11, 1, 2)]
    # LSTM over 11 steps of 2 features, 6 units: 11 x 4 x (2 + 6) x 6 = 2,112 MACs; FLOPs 2 x 2,112 + 11 x 12 x 6
    # = 5,016; params 4 x (2 x 6 + 6 x 6 + 6) = 216
    assert (rows["l"].macs, rows["l"].flops, rows["l"].params) == (2112, 5016, 216)
    model = build_model(spec, seed=0)
    x = np.random.default_rng(0).normal(size=(3, *ODD)).astype(np.float32)
    from tf_keras import Model

    picked = Model(model.input, model.get_layer("s").output).predict(x, verbose=0)
    assert np.array_equal(picked, x[:, :, :, 1:3])  # the select keeps exactly channels 1 and 2
    assert not model.get_layer("l").unroll and model.count_params() == cost.spec_cost(spec).params


def test_image_specs_keep_square_windows():
    model = build_model(zoo.get("embedded3"), seed=0)
    assert model.get_layer("conv1").kernel_size == (5, 5) and model.get_layer("pool1").pool_size == (2, 2)


@pytest.mark.parametrize("name, expected", [
    ("fusion_cnn", ["conv1 filters 64\u219232", "remove conv1", "conv1 stride 1\u21922",
                    "2\u00d72 max-pool after conv1", "conv1 kernel 5\u21923", "conv1 \u2192 separable"]),
    ("fusion_late", ["remove branch eda_pool of fusion", "bvp_conv1 filters 32\u219216", "remove bvp_conv2",
                     "bvp_conv1 kernel 5\u21923"]),
    ("lstm", ["lstm units 64\u219232"]),
])
def test_reductions_apply_to_the_sensor_models(name, expected):
    children = {r.label: r.spec for r in reductions(zoo.get(name))}
    assert set(expected) <= set(children)
    for spec in children.values():
        assert spec.temporal and is_valid(spec)


def test_reduced_sensor_models_build_and_cost_as_keras_sees_them():
    for name, label in (("fusion_late", "remove branch eda_pool of fusion"), ("fusion_cnn", "conv2 stride 1\u21922"),
                        ("fusion_cnn", "2\u00d72 max-pool after conv1"), ("lstm", "lstm units 64\u219232")):
        child = {r.label: r.spec for r in reductions(zoo.get(name))}[label]
        model = build_model(child, seed=0)
        ours, theirs = cost.spec_cost(child), keras_io.keras_cost(model)
        assert ours.layers == theirs.layers and ours.params == model.count_params(), (name, label)


def test_children_inherit_thinned_lstm_units_and_untouched_branches():
    from compress.search.inherit import inherit_weights

    parent_spec = zoo.get("lstm")
    parent = build_model(parent_spec, seed=0)
    child_spec = {r.label: r.spec for r in reductions(parent_spec)}["lstm units 64\u219232"]
    child = build_model(child_spec, seed=1)
    status = inherit_weights(child, child_spec, parent, parent_spec)
    assert status["lstm"] == "thinned"
    kernel, recurrent, _ = parent.get_layer("lstm").get_weights()
    new_kernel, new_recurrent, _ = child.get_layer("lstm").get_weights()
    kept = [j for j in range(64) if np.allclose(kernel[:, j], new_kernel[:, 0])]  # input gate of kept unit 0
    assert kept and np.allclose(kernel[:, 64 + kept[0]], new_kernel[:, 32])  # its forget gate comes along
    assert new_recurrent.shape == (32, 128)

    late = zoo.get("fusion_late")
    late_child = {r.label: r.spec for r in reductions(late)}["remove branch eda_pool of fusion"]
    status = inherit_weights(build_model(late_child, seed=1), late_child, build_model(late, seed=0), late)
    assert status["bvp_conv1"] == status["hr_conv2"] == "copied"
    assert status["fc3"] == "thinned"  # the flat features of the removed branch are gone


def test_shrunk_kernel_of_a_window_conv_keeps_the_centre_taps():
    from compress.search.inherit import inherit_weights

    parent_spec = zoo.get("fusion_cnn")
    child_spec = {r.label: r.spec for r in reductions(parent_spec)}["conv2 kernel 5\u21923"]
    parent, child = build_model(parent_spec, seed=0), build_model(child_spec, seed=1)
    status = inherit_weights(child, child_spec, parent, parent_spec)
    assert status["conv2"] == "thinned"
    assert np.array_equal(child.get_layer("conv2").get_weights()[0], parent.get_layer("conv2").get_weights()[0][1:4])
