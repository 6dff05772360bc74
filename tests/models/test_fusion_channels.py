"""fusion_channels (channel-based late fusion, ISWC 2017): dwconv with a depth multiplier, no channel mixing before
the fusion point, its cost and reductions, and its int8 form in the tflite-micro runtime."""
import numpy as np

from compress.models import cost, keras_io, zoo
from compress.models.graph import is_valid, layer_shapes
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec

ODD = (11, 1, 3)


def test_dwconv_depth_multiplier_cost_by_hand_and_keras_layer():
    spec = ModelSpec(ODD, 2, (Layer("dwconv", "d", units=2, kernel=5), Layer("flatten", "f")))
    row = {r.name: r for r in cost.spec_cost(spec).layers}["d"]
    # 5 x 1 depthwise over 11 x 1 x 3, 2 filters per channel, 'same': 11 x 1 x 6 outputs x 5 taps = 330 MACs;
    # FLOPs 2 x 330 + 66 bias adds = 726; params 5 x 1 x 3 x 2 + 6 = 36
    assert (row.output_shape, row.macs, row.flops, row.params) == ((11, 1, 6), 330, 726, 36)
    model = build_model(spec, seed=0)
    assert model.get_layer("d").depth_multiplier == 2 and model.get_layer("d").kernel_size == (5, 1)
    assert model.count_params() == cost.spec_cost(spec).params
    plain = ModelSpec(ODD, 2, (Layer("dwconv", "d", kernel=5), Layer("flatten", "f")))  # units 0: multiplier 1
    assert layer_shapes(plain)[0][2] == (11, 1, 3) and build_model(plain, seed=0).get_layer("d").depth_multiplier == 1


def test_channels_do_not_mix_before_the_fusion_point():
    """Changing input channel j changes only the pooled maps j*32 ... j*32+31 (Keras' depthwise output order)."""
    from tf_keras import Model

    spec = zoo.get("fusion_channels")
    model = build_model(spec, seed=0)
    trunk = Model(model.input, model.get_layer("pool1").output)
    x = np.random.default_rng(0).normal(size=(2, 20, 1, 4)).astype(np.float32)
    base = trunk.predict(x, verbose=0)
    for j in range(4):
        moved = x.copy()
        moved[..., j] += 3.0
        changed = np.abs(trunk.predict(moved, verbose=0) - base).max(axis=(0, 1, 2)) > 0
        assert changed.reshape(4, 32).any(axis=1).tolist() == [c == j for c in range(4)]


def test_reductions_of_fusion_channels_are_valid_and_cost_as_keras_sees_them():
    spec = zoo.get("fusion_channels")
    children = {r.label: r.spec for r in reductions(spec)}
    assert {"fc3 units 128\u219264", "remove dw1", "remove dw2", "dw1 kernel 5\u21923", "dw1 stride 1\u21922",
            "2\u00d72 max-pool after dw2", "flatten \u2192 global average pooling"} <= set(children)
    for label in ("remove dw1", "dw1 kernel 5\u21923", "fc3 units 128\u219264"):
        child = children[label]
        assert child.temporal and is_valid(child)
        model = build_model(child, seed=0)
        ours, theirs = cost.spec_cost(child), keras_io.keras_cost(model)
        assert ours.layers == theirs.layers and ours.params == model.count_params(), label


def test_int8_fusion_channels_runs_in_tflite_micro_like_the_interpreter():
    from compress.deploy import export, tflm
    from compress.models import tflite_io

    model = build_model(zoo.get("fusion_channels"), seed=0)
    x = np.random.default_rng(0).normal(size=(24, 20, 1, 4)).astype(np.float32)
    tflite = export.convert_int8(model, x[:16])
    info = tflite_io.tflite_info(tflite)
    assert info["ops"] == ["DEPTHWISE_CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    q = export.quantize(x[16:], info["input"]["scale"], info["input"]["zero_point"])
    assert np.array_equal(tflm.run_tflm(tflite, q), export.run_tflite(tflite, q))
