"""cost.py against hand-derived figures at odd shapes, TF's profiler, count_params() and converted .tflite files."""
import subprocess
import sys

import pytest

from compress import CompressError
from compress.models import cost
from compress.models import keras_io
from compress.models import tflite_io
from compress.models import zoo
from compress.models.keras_build import build_model
from compress.models.spec import Layer, ModelSpec

ODD = (11, 13, 3)  # odd, unequal sides and channels: a swapped dimension cannot hide


def _unrolled(model):
    """The same model with every LSTM unrolled: the profiler does not look inside a while loop (temporal.py)."""
    import tf_keras as keras

    if not any(isinstance(layer, keras.layers.LSTM) for layer in model.layers):
        return model

    def clone(layer):
        config = layer.get_config() | ({"unroll": True} if isinstance(layer, keras.layers.LSTM) else {})
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def profiler_flops(model) -> int:
    """FLOPs as DESIGN.md defines them: tf.compat.v1.profiler on the frozen inference graph for one input."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model = _unrolled(model)

    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    graph = convert_variables_to_constants_v2(
        tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


@pytest.fixture(scope="module")
def zoo_models():
    """Each zoo baseline built once: name -> (spec, Keras model)."""
    out = {}
    for name in zoo.ZOO:
        spec = zoo.get(name)
        out[name] = (spec, build_model(spec, seed=0))
    return out


def _odd_sequential():
    import tf_keras as keras

    L = keras.layers
    return keras.Sequential([
        keras.Input(ODD), L.Conv2D(19, 3, strides=2, padding="valid", activation="relu"), L.BatchNormalization(),
        L.ReLU(max_value=5.0), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
        L.SeparableConv2D(7, (3, 5), padding="same"), L.MaxPooling2D(2), L.AveragePooling2D((2, 1)), L.Flatten(),
        L.Dense(13, activation="swish"), L.BatchNormalization(), L.Dropout(0.3), L.Dense(3), L.Softmax()],
        name="odd_sequential")


def _odd_functional():
    import tf_keras as keras

    L = keras.layers
    x = keras.Input(ODD)
    a = L.Conv2D(19, 1)(x)
    b = L.Conv2D(19, 3, padding="same", use_bias=False)(x)
    y = L.Concatenate()([L.Add()([a, b, a]), b])
    y = L.GlobalAveragePooling2D()(L.Activation("hard_sigmoid")(y))
    y = L.Flatten()(L.Dense(5)(L.Reshape((2, 19))(y)))
    return keras.Model(x, L.Activation("softmax")(y), name="odd_functional")


# --- hand-derived figures, one layer kind at a time (spec_cost: no TensorFlow involved) -----------------------------
def _row(layer, input_shape=ODD):
    spec = ModelSpec(input_shape, 3, (layer, Layer("flatten", "f")))
    return cost.spec_cost(spec).layers[0]


@pytest.mark.parametrize("layer, shape, macs, flops, params", [
    # same padding: 11x13 pixels x 19 filters = 2,717 outputs, each 3x3x3 = 27 MACs -> 73,359 MACs;
    # FLOPs = 2 x MACs + 2,717 bias adds = 149,435; params = 27 x 19 + 19 = 532
    (Layer("conv", "x", units=19, kernel=3), (11, 13, 19), 73_359, 149_435, 532),
    # valid, stride 2: (11-3)//2+1 = 5 by (13-3)//2+1 = 6; 5x6x19 = 570 outputs x 27 = 15,390 MACs;
    # FLOPs = 30,780 + 570 = 31,350
    (Layer("conv", "x", units=19, kernel=3, stride=2, padding="valid"), (5, 6, 19), 15_390, 31_350, 532),
    # depthwise 3x3, stride 2, valid: 5x6x3 = 90 outputs x 9 = 810 MACs; FLOPs = 1,620 + 90; params = 27 + 3
    (Layer("dwconv", "x", kernel=3, stride=2, padding="valid"), (5, 6, 3), 810, 1_710, 30),
    # separable, same: depthwise 143 px x 3 ch x 9 = 3,861 + pointwise 143 x 3 x 19 = 8,151 -> 12,012 MACs;
    # FLOPs = 24,024 + 2,717 bias; params = 27 + 57 + 19 = 103
    (Layer("sepconv", "x", units=19, kernel=3), (11, 13, 19), 12_012, 26_741, 103),
    # max pool 2, stride 2, valid: 5x6x3 = 90 outputs, 4 compares each = 360 FLOPs (the profiler's count)
    (Layer("maxpool", "x", kernel=2, stride=2, padding="valid"), (5, 6, 3), 0, 360, 0),
    # avg pool 3, stride 2, same: ceil(11/2) = 6 by ceil(13/2) = 7 -> 126 outputs x 9 = 1,134 FLOPs
    (Layer("avgpool", "x", kernel=3, stride=2, padding="same"), (6, 7, 3), 0, 1_134, 0),
    # batch norm on an image: one fused kernel, which the profiler does not count; gamma, beta, mean, var = 4 x 3
    (Layer("bn", "x"), ODD, 0, 0, 12),
    (Layer("relu", "x"), ODD, 0, 0, 0),
    (Layer("dropout", "x", rate=0.5), ODD, 0, 0, 0),
])
def test_layer_kinds_hand_derived(layer, shape, macs, flops, params):
    row = _row(layer)
    assert (row.output_shape, row.macs, row.flops, row.params) == (shape, macs, flops, params)
    assert row.activation_bytes == shape[0] * shape[1] * shape[2]  # int8: one byte per element


def test_gap_dense_and_head_hand_derived():
    spec = ModelSpec(ODD, 3, (Layer("gap", "g"), Layer("dense", "d", units=7)))
    gap, dense, head, softmax = cost.spec_cost(spec).layers
    assert (gap.output_shape, gap.flops) == ((3,), 429)  # Mean: one FLOP per input element, 11 x 13 x 3
    assert (dense.macs, dense.flops, dense.params) == (21, 49, 28)  # 3 x 7 MACs; 2 x 21 + 7 bias; 21 + 7
    assert (head.macs, head.flops, head.params) == (21, 45, 24)  # 7 x 3; 2 x 21 + 3; 21 + 3
    assert softmax.flops == 15  # the profiler counts 5 per element


def test_residual_block_hand_derived():
    # stride 2, same: 6 x 7 pixels x 19 = 798 outputs per tensor
    spec = ModelSpec(ODD, 3, (Layer("residual", "r", units=19, kernel=3, stride=2), Layer("gap", "g")))
    rows = {row.name: row for row in cost.spec_cost(spec).layers}
    assert [name for name in rows][:8] == ["r_conv1", "r_bn1", "r_relu1", "r_conv2", "r_bn2", "r_proj", "r_add",
                                           "r_relu2"]
    assert rows["r_conv1"].macs == 21_546  # 42 px x 19 x 27
    assert rows["r_conv2"].macs == 136_458  # 42 px x 19 x (3 x 3 x 19)
    assert rows["r_proj"].macs == 2_394  # 42 px x 19 x 3
    assert rows["r_add"].flops == 798
    block = [row for name, row in rows.items() if name.startswith("r_")]
    assert sum(r.flops for r in block) == 323_988  # 2 x 160,398 MACs + 3 x 798 bias adds + 798 adds
    assert sum(r.params for r in block) == 4_028  # 532 + 76 + 3,268 + 76 + 76


def test_keras_only_kinds_hand_derived():
    import tf_keras as keras

    L = keras.layers
    x = keras.Input(ODD)
    flat = L.Flatten(name="flat")(x)
    outputs = [L.BatchNormalization(name="bn_flat")(flat), L.ReLU(max_value=5.0, name="relu5")(flat),
               L.Activation("hard_sigmoid", name="hsig")(flat), L.Dense(7, name="dense_img")(x),
               L.Add(name="add3")([x, x, x]), L.Softmax(name="soft")(flat)]
    rows = {row.name: row for row in keras_io.keras_cost(keras.Model(x, outputs)).layers}
    # BN on a flat tensor, 429 features: add eps, rsqrt (2), x gamma, x mean, beta - : 6 x 429; x inv, + : 2 x 429
    assert (rows["bn_flat"].flops, rows["bn_flat"].params) == (3_432, 1_716)
    assert rows["relu5"].flops == 858  # clip_by_value: Minimum and Maximum on 429 elements
    assert rows["hsig"].flops == 1_716  # mul, add, min, max per element
    # Dense on an image acts per pixel: 143 px x 7 x 3 = 3,003 MACs; 2 x 3,003 + 1,001 bias adds
    assert (rows["dense_img"].output_shape, rows["dense_img"].macs, rows["dense_img"].flops) == ((11, 13, 7), 3_003,
                                                                                                   7_007)
    assert rows["add3"].flops == 858  # two adds of 429 elements
    assert rows["soft"].flops == 2_145  # 5 x 429


# --- arena: the liveness rule -------------------------------------------------------------------------------------
def test_arena_chain_counts_input_and_output_of_the_worst_op():
    spec = ModelSpec(ODD, 3, (Layer("conv", "c", units=19, kernel=3), Layer("relu", "r"),
                              Layer("maxpool", "p", kernel=2, stride=2, padding="valid"), Layer("flatten", "f")))
    # each tensor padded to 16 bytes as TFLM's planner does: 429 -> 432, 2,717 -> 2,720, 570 -> 576
    # conv: 432 in + 2,720 out = 3,152; relu in place; pool: 2,720 + 576 = 3,296 (the peak); flatten 576 + 576
    assert cost.spec_cost(spec).planned_bytes == 3_296


def test_arena_keeps_the_residual_shortcut_alive():
    spec = ModelSpec(ODD, 3, (Layer("residual", "r", units=19, kernel=3, stride=2), Layer("gap", "g")))
    # tensors padded to 16 bytes: x 429 -> 432, each conv output 798 -> 800. x has two readers (conv1, the
    # projection), so TFLM keeps it one op longer, through the add: add reads conv2's and the projection's outputs
    # and writes its own while x is still live: 3 x 800 + 432 = 2,832 (the peak)
    assert cost.spec_cost(spec).planned_bytes == 2_832


# --- against TensorFlow: profiler, count_params, the built model --------------------------------------------------
@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_flops_match_profiler_and_params_match_keras(zoo_models, name):
    spec, model = zoo_models[name]
    ours, theirs = keras_io.keras_cost(model), profiler_flops(model)
    assert abs(ours.flops - theirs) <= 0.01 * theirs
    assert ours.params == model.count_params()
    assert cost.spec_cost(spec).params == model.count_params()


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_spec_cost_equals_keras_cost(zoo_models, name):
    spec, model = zoo_models[name]
    from_spec, from_keras = cost.spec_cost(spec), keras_io.keras_cost(model)
    assert from_spec.layers == from_keras.layers
    for field in ("macs", "flops", "params", "flash_bytes", "arena_bytes"):
        assert getattr(from_spec, field) == getattr(from_keras, field), field


@pytest.mark.parametrize("build", [_odd_sequential, _odd_functional])
def test_odd_models_match_profiler_and_count_params(build):
    model = build()
    ours, theirs = keras_io.keras_cost(model), profiler_flops(model)
    assert theirs > 0 and abs(ours.flops - theirs) <= 0.01 * theirs
    assert ours.params == model.count_params()


def test_alexnet_flops_near_seed_001():
    assert 70e6 <= cost.spec_cost(zoo.get("alexnet")).flops <= 90e6  # seed 001's baseline: 82.7 M


def test_spec_cost_does_not_import_tensorflow():
    code = ("import sys; from compress.models import cost, zoo; cost.spec_cost(zoo.get('resnet_like')); "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- files ------------------------------------------------------------------------------------------------------
def test_saved_keras_and_h5_give_the_zoo_figures(zoo_models, tmp_path):
    for name, suffix in (("resnet_like", ".keras"), ("embedded3", ".h5")):
        path = tmp_path / f"{name}{suffix}"
        zoo_models[name][1].save(path)
        from_file, from_zoo = cost.cost_of(str(path)), cost.cost_of(name)
        assert from_file.layers == from_zoo.layers
        assert (from_file.flops, from_file.params, from_file.arena_bytes) == (from_zoo.flops, from_zoo.params,
                                                                              from_zoo.arena_bytes)


def _convert(model, path, int8=False):
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        shape = (1, *model.input_shape[1:])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([np.random.rand(*shape).astype("float32")] for _ in range(4))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def test_tflite_macs_match_keras(zoo_models, tmp_path):
    for model in (zoo_models["embedded3"][1], _odd_functional(), _odd_sequential()):
        keras_figures = keras_io.keras_cost(model)
        lite = tflite_io.tflite_cost(_convert(model, tmp_path / f"{model.name}.tflite"))
        assert abs(lite.macs - keras_figures.macs) <= 0.01 * keras_figures.macs
        assert lite.flash_bytes == (tmp_path / f"{model.name}.tflite").stat().st_size


def test_tflite_int8_arena_and_flash_agree_with_the_estimate(zoo_models, tmp_path):
    model = zoo_models["embedded3"][1]
    estimate = keras_io.keras_cost(model)
    lite = tflite_io.tflite_cost(_convert(model, tmp_path / "e3_int8.tflite", int8=True))
    assert lite.arena_bytes == estimate.arena_bytes  # BN and ReLU fused, dropout gone: the same live tensors
    assert abs(estimate.flash_bytes - lite.flash_bytes) <= 0.05 * lite.flash_bytes
    assert [row.name for row in lite.layers][:2] == ["0:conv1", "1:pool1"]


# --- errors ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ["conv1d", "gru"])
def test_unsupported_layer_names_layer_and_class(make):
    import tf_keras as keras

    L = keras.layers
    x = keras.Input((16, 3))
    y = L.Conv1D(4, 3, name="odd_one")(x) if make == "conv1d" else L.GRU(4, name="odd_one")(x)
    with pytest.raises(CompressError, match=r"odd_one.*(Conv1D|GRU)"):
        keras_io.keras_cost(keras.Model(x, L.Flatten()(y)))


def test_unreadable_files_raise_compress_error(tmp_path):
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    (tmp_path / "junk.tflite").write_bytes(b"not a model either")
    for path in ("missing.keras", tmp_path / "junk.keras", "missing.tflite", tmp_path / "junk.tflite"):
        with pytest.raises(CompressError):
            cost.cost_of(str(path))


def test_load_keras_refuses_python_lambdas(tmp_path):
    import tf_keras as keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Dense(2)])
    model.save(tmp_path / "lambda.h5")
    with pytest.raises(CompressError, match="Lambda"):
        keras_io.load_keras(tmp_path / "lambda.h5")


# --- third-party Keras models and the specs imported from them ------------------------------------------------------
@pytest.mark.parametrize("name", ["mini_xception", "sequential_cnn", "logits_resnet"])
def test_third_party_models_and_their_imported_specs_match_the_profiler(name):
    from compress.models.keras_import import import_keras
    from tests.models import third_party

    model = getattr(third_party, name)()
    ours, theirs = keras_io.keras_cost(model), profiler_flops(model)
    assert ours.flops == theirs and ours.params == model.count_params()
    spec, _ = import_keras(model)
    built = build_model(spec)
    from_spec = cost.spec_cost(spec)
    assert from_spec.flops == profiler_flops(built) == keras_io.keras_cost(built).flops
    assert from_spec.params == built.count_params() == keras_io.keras_cost(built).params
    assert from_spec.macs == ours.macs  # the same convolutions and dense layers, whatever the wrapping
