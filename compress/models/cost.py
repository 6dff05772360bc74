"""Analytic cost of a spec (MACs, FLOPs, params, int8 flash, arena) and the CLI's MODEL; formulas: formulas.py."""
from __future__ import annotations

from pathlib import Path

from compress import CompressError
from compress.models.formulas import LayerCost, ModelCost, bn, conv, dense, dwconv, model_cost, pool, prod, row, sepconv
from compress.models.graph import tensor_shapes
from compress.models.spec import softmax_name
from compress.models.temporal import keras_order, spec_rows


def spec_cost(spec) -> ModelCost:
    """Cost of a ModelSpec (a chain or a DAG) from its shapes alone; figures equal keras_cost(build_model(spec))."""
    shapes, nodes = tensor_shapes(spec), []
    for layer, sources in zip(spec.layers, spec.inputs()):
        ins = [shapes[s] for s in sources]
        if layer.kind == "residual":
            _residual(nodes, layer, ins[0], shapes[layer.name], sources[0])
            continue
        if layer.kind in ("lstm", "select"):  # several Keras layers each (models/temporal.py)
            nodes.extend(spec_rows(layer, ins[0], sources[0]))
            continue
        nodes.append((_spec_layer(layer, ins, shapes[layer.name], spec.temporal), tuple(sources), layer.name))
    outputs = []
    for task, (head, last) in zip(spec.tasks or (None,), spec.outputs()):
        if spec.head:
            nodes.append((dense(head, shapes[last], (spec.classes,)), (last,), head))
        else:  # the identity build() names "head" so that the logits have a layer of their own
            nodes.append((row(head, "identity", (spec.classes,)), (last,), head))
        outputs.append(softmax_name(task))
        nodes.append((row(outputs[-1], "softmax", (spec.classes,), flops=5 * spec.classes), (head,), outputs[-1]))
    if spec.temporal:  # branches of a sensor-window spec run stage by stage, as Keras orders them
        nodes = keras_order(nodes, outputs)
    return model_cost(spec.name or "model", "spec", nodes, {"input": prod(spec.input_shape)}, outputs)


def _spec_layer(layer, ins, o, temporal=False) -> LayerCost:
    """temporal: a (T, 1, C) spec, whose windows are k x 1."""
    kind, name, k, bias, i = layer.kind, layer.name, layer.kernel, layer.bias, ins[0]
    kw = 1 if temporal else k
    formulas = {
        "conv": lambda: conv(name, i, o, k, kw, bias),
        "dwconv": lambda: dwconv(name, i, o, k, kw, bias),
        "sepconv": lambda: sepconv(name, i, o, k, kw, bias=bias),
        "dense": lambda: dense(name, i, o, bias),
        "maxpool": lambda: pool(name, kind, o, k, kw),
        "avgpool": lambda: pool(name, kind, o, k, kw),
        "bn": lambda: bn(name, i, fused=len(i) == 3),  # Keras fuses BatchNormalization on 4-D (batch + image)
        "gap": lambda: row(name, "gap", o, flops=prod(i)),
        "add": lambda: row(name, "add", o, flops=(len(ins) - 1) * prod(o)),
        "rescale": lambda: row(name, "rescale", o, flops=2 * prod(o), ops=2),  # Mul, then AddV2 of the offset
        "relu6": lambda: row(name, "relu", o),
    }
    if kind in formulas:
        return formulas[kind]()
    return row(name, kind, o)  # relu, dropout, flatten, gmp (Max), zeropad (Pad), concat, identity: not counted


def _residual(nodes, layer, i, o, x) -> str:
    """The block as build_model makes it, in the same order: conv-bn-relu-conv-bn, 1x1 projection, add, relu."""
    n, k = layer.name, layer.kernel
    rows = [(conv(f"{n}_conv1", i, o, k, k), x), (bn(f"{n}_bn1", o, True), f"{n}_conv1"),
            (row(f"{n}_relu1", "relu", o), f"{n}_bn1"), (conv(f"{n}_conv2", o, o, k, k), f"{n}_relu1"),
            (bn(f"{n}_bn2", o, True), f"{n}_conv2"), (conv(f"{n}_proj", i, o, 1, 1), x),
            (row(f"{n}_add", "add", o, flops=prod(o)), (f"{n}_bn2", f"{n}_proj")),
            (row(f"{n}_relu2", "relu", o), f"{n}_add")]
    # the block's output tensor is known by the block's name: that is what later layers read
    nodes.extend((cost, ins if isinstance(ins, tuple) else (ins,), n if cost.name == f"{n}_relu2" else cost.name)
                 for cost, ins in rows)
    return n


def cost_of(source: str, input_shape=None, classes: int | None = None) -> ModelCost:
    """The CLI's MODEL: a zoo name, spec .json or .onnx (costed without TensorFlow), a .keras/.h5/.hdf5 file or a
    .tflite."""
    from compress.models.safe_load import KERAS_SUFFIXES

    suffix = Path(source).suffix.lower()
    if suffix in KERAS_SUFFIXES + (".tflite", ".onnx"):
        if input_shape is not None or classes is not None:
            raise CompressError(f"{source}: --input-shape and --classes apply to zoo names and spec files only")
        if suffix == ".tflite":
            from compress.models.tflite_io import tflite_cost

            return tflite_cost(source)
        if suffix == ".onnx":  # its spec costs what build_model(spec) does
            from compress.models.onnx_import import import_onnx

            return spec_cost(import_onnx(source)[0])
        from compress.models.keras_io import keras_cost, load_keras

        return keras_cost(load_keras(source))
    from compress.models import zoo

    return spec_cost(zoo.load_spec(source, input_shape, classes))


