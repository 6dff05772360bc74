"""ONNX in: graphs built with onnx.helper (no torch), imported into specs with weights (NCHW -> NHWC), and equal
to onnxruntime's outputs on the same inputs."""
import numpy as np
import pytest

from compress import CompressError

onnx = pytest.importorskip("onnx", reason="ONNX import needs the extra: pip install 'compress-mcu[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="ONNX import needs the extra: pip install 'compress-mcu[onnx]'")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(0)


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array, np.float32 if np.asarray(array).dtype.kind == "f" else np.int64),
                                   name)


def _w(*shape, scale=0.3):
    return RNG.normal(0, scale, shape).astype(np.float32)


def _save(path, nodes, inits, input_shape, classes):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_shape])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def plain_cnn(path):
    """Conv-BN-Relu-MaxPool, a stride-2 conv with PyTorch's symmetric pads, Clip(0, 6), Reshape, Gemm, Softmax."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="/conv1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], name="/bn1/BatchNormalization", epsilon=1e-5),
        n("Relu", ["bn"], ["r1"], name="/Relu"),
        n("MaxPool", ["r1"], ["p1"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p1", "w2", "b2"], ["c2"], name="/conv2/Conv", kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1]),
        n("Constant", [], ["hi"], name="/Constant", value_float=6.0),  # torch writes some constants as nodes
        n("Constant", [], ["shape"], name="/Constant_1", value=numpy_helper.from_array(np.array([-1, 128]), "s")),
        n("Clip", ["c2", "lo", "hi"], ["r2"], name="/Clip"),
        n("Reshape", ["r2", "shape"], ["f"], name="/Reshape"),
        n("Gemm", ["f", "w3", "b3"], ["logits"], name="/fc/Gemm", transB=1),
        n("Softmax", ["logits"], ["y"], name="/Softmax", axis=1),
    ]
    inits = [_const("w1", _w(6, 3, 3, 3)), _const("b1", _w(6)), _const("g", 1 + _w(6)), _const("be", _w(6)),
             _const("m", _w(6)), _const("v", np.abs(1 + _w(6)) * [1, 1, 1, 1, 1, 1e-4]), _const("w2", _w(8, 6, 3, 3)),
             _const("b2", _w(8)), _const("lo", np.float32(0)), _const("w3", _w(5, 128, scale=0.1)), _const("b3", _w(5))]
    return _save(path, nodes, inits, [3, 16, 16], 5)


def branchy(path):
    """Conv-Relu, a depthwise conv added back to its input, a concat with a 1x1 conv, AveragePool counting its
    padding, GlobalAveragePool, Flatten, MatMul + Add (the bias): logits out."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1"], ["c1"], name="stem", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        n("Relu", ["c1"], ["r1"], name="stem_relu"),
        n("Conv", ["r1", "wd", "bd"], ["d"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
        n("Add", ["r1", "d"], ["a"], name="residual"),
        n("Conv", ["a", "wp", "bp"], ["pw"], name="pw", kernel_shape=[1, 1]),
        n("Concat", ["a", "pw"], ["cat"], name="cat", axis=1),
        n("AveragePool", ["cat"], ["ap"], name="avg", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
        n("GlobalAveragePool", ["ap"], ["gap"], name="gap"),
        n("Flatten", ["gap"], ["flat"], name="flat"),
        n("MatMul", ["flat", "wf"], ["mm"], name="fc"),
        n("Add", ["mm", "bf"], ["y"], name="fc_bias"),
    ]
    inits = [_const("w1", _w(4, 1, 3, 3)), _const("wd", _w(4, 1, 3, 3)), _const("bd", _w(4)),
             _const("wp", _w(6, 4, 1, 1)), _const("bp", _w(6)), _const("wf", _w(10, 3)), _const("bf", _w(3))]
    return _save(path, nodes, inits, [1, 12, 12], 3)


def _ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("make", [plain_cnn, branchy])
def test_onnx_import_equals_onnxruntime(tmp_path, make):
    import tensorflow as tf

    from compress.models.keras_io import load_model_file
    from compress.models.onnx_import import import_onnx

    path = make(tmp_path / f"{make.__name__}.onnx")
    spec, _ = import_onnx(path)
    c, h, w = spec.input_shape[2], *spec.input_shape[:2]
    x = RNG.normal(0, 1, (4, c, h, w)).astype(np.float32)
    expected = _ort(path, x)
    if make is branchy:  # logits out: the spec adds the softmax a classifier needs
        expected = tf.nn.softmax(expected).numpy()
    got = load_model_file(path).predict(x.transpose(0, 2, 3, 1), verbose=0)
    assert np.max(np.abs(got - expected)) <= 1e-4
    assert spec.head  # the final biased Gemm / MatMul + Add becomes the spec's head


def test_onnx_files_cost_and_import_as_a_baseline(tmp_path):
    from compress.models.cost import cost_of
    from compress.search import transfer

    path = str(branchy(tmp_path / "m.onnx"))
    assert transfer.is_model_file(path)
    imported = transfer.import_baseline(path)
    assert imported.spec.input_shape == (12, 12, 1) and imported.spec.classes == 3
    kinds = [layer.kind for layer in imported.spec.layers]
    assert kinds[:4] == ["conv", "relu", "dwconv", "add"] and kinds[kinds.index("avgpool") - 1] == "zeropad"
    assert cost_of(path).params == 4 * 9 + 4 * 9 + 4 + 6 * 4 + 6 + 10 * 3 + 3


@pytest.mark.parametrize("change, message", [
    ("sigmoid", r"node 'act' \(Sigmoid\): op Sigmoid is not supported"),
    ("grouped", r"node 'stem' \(Conv\): grouped convolution \(group 2\)"),
])
def test_what_onnx_import_refuses_is_one_line_naming_the_node(tmp_path, change, message):
    from compress.models.onnx_import import import_onnx

    n = helper.make_node
    group = 2 if change == "grouped" else 1
    nodes = [n("Conv", ["x", "w"], ["c"], name="stem", kernel_shape=[1, 1], group=group),
             n("Sigmoid" if change == "sigmoid" else "Relu", ["c"], ["s"], name="act"),
             n("GlobalAveragePool", ["s"], ["g"], name="gap"), n("Flatten", ["g"], ["f"], name="flat"),
             n("Gemm", ["f", "wf", "bf"], ["y"], name="fc")]
    inits = [_const("w", _w(4, 2 // group, 1, 1)), _const("wf", _w(4, 2)), _const("bf", _w(2))]
    path = _save(tmp_path / "bad.onnx", nodes, inits, [2, 8, 8], 2)
    with pytest.raises(CompressError, match=message) as info:
        import_onnx(path)
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_onnx_is_one_line(tmp_path):
    from compress.models.onnx_import import import_onnx

    (tmp_path / "notes.onnx").write_text("hello")
    with pytest.raises(CompressError, match="not a readable ONNX model"):
        import_onnx(tmp_path / "notes.onnx")
