"""The layers of 1-D (sensor window) specs: an input of T samples x C channels is the image (T, 1, C).

Convolutions and pools of such a spec slide along T only (ModelSpec.temporal: kernel k x 1, stride s x 1), which
is Conv1D written as Conv2D, the form TFLite Micro runs. Two kinds exist for these specs alone:
- lstm: Reshape (T, 1, C) -> (T, C), then a Keras LSTM returning its last state (units). Built without unrolling,
  so a batch-1 conversion (convert.batch_one) gives TFLite's one fused UNIDIRECTIONAL_SEQUENCE_LSTM op, which TFLM
  runs (README: the LSTM in TFLite Micro). Costed as TF's profiler counts the same LSTM unrolled (a loop is
  invisible to it): per step 2 x MACs (4 gates x (C + units) x units) for the two MatMuls, plus 12 x units
  (BiasAdd and AddV2 of the gates: 8, the cell update's two Mul and AddV2: 3, the output Mul: 1); sigmoid and
  tanh count 0, as everywhere.
- select: the input channels pads = (first, stop), e.g. one sensor for a late-fusion branch: Permute (T, C, 1),
  Cropping2D along the channels, and Permute back when more than one channel is kept (TRANSPOSE + STRIDED_SLICE).
"""
from __future__ import annotations

from compress.models.formulas import row
from compress.models.spec import Layer, SpecError

LSTM_EXTRA_FLOPS_PER_UNIT = 12  # per step: see above


def sequence_shape(layer: Layer, shape: tuple) -> tuple:
    """Output shape of an lstm or select layer (graph.output_shape)."""
    if len(shape) != 3 or shape[1] != 1:
        raise SpecError(f"layer {layer.name!r}: {layer.kind} needs a (T, 1, C) window, got {shape}")
    t, _, c = shape
    if layer.kind == "lstm":
        if layer.units < 1:
            raise SpecError(f"layer {layer.name!r}: lstm needs at least one unit")
        return (layer.units,)
    if len(layer.pads) != 2 or not 0 <= layer.pads[0] < layer.pads[1] <= c:
        raise SpecError(f"layer {layer.name!r}: select needs pads (first, stop) within its {c} channels")
    return (t, 1, layer.pads[1] - layer.pads[0])


def lstm_cost(name: str, in_shape: tuple, units: int):
    """One LSTM over in_shape = (T, C) returning its last state."""
    steps, features = in_shape
    macs = steps * 4 * (features + units) * units
    flops = 2 * macs + steps * LSTM_EXTRA_FLOPS_PER_UNIT * units
    params = 4 * (features * units + units * units + units)
    return row(name, "lstm", (units,), macs, flops, params, weights=4 * (features + units) * units, channels=4 * units)


def spec_rows(layer: Layer, in_shape: tuple, source: str) -> list:
    """(LayerCost, inputs, output) rows of an lstm or select layer, named as build_layer names its Keras layers."""
    n, (t, _, c) = layer.name, in_shape
    if layer.kind == "lstm":
        return [(row(f"{n}_seq", "reshape", (t, c)), (source,), f"{n}_seq"),
                (lstm_cost(n, (t, c), layer.units), (f"{n}_seq",), n)]
    first, stop = layer.pads
    if stop - first == 1:
        return [(row(f"{n}_t", "transpose", (t, c, 1)), (source,), f"{n}_t"),
                (row(n, "slice", (t, 1, 1)), (f"{n}_t",), n)]
    return [(row(f"{n}_t", "transpose", (t, c, 1)), (source,), f"{n}_t"),
            (row(f"{n}_crop", "slice", (t, stop - first, 1)), (f"{n}_t",), f"{n}_crop"),
            (row(n, "transpose", (t, 1, stop - first)), (f"{n}_crop",), n)]


def build_layer(keras, layer: Layer, x):
    """The Keras layers of an lstm or select spec layer applied to x, a (T, 1, C) tensor."""
    L, n = keras.layers, layer.name
    t, _, c = (int(d) for d in x.shape[1:])
    if layer.kind == "lstm":
        return L.LSTM(layer.units, name=n)(L.Reshape((t, c), name=f"{n}_seq")(x))
    first, stop = layer.pads
    y = L.Permute((1, 3, 2), name=f"{n}_t")(x)
    crop_name = n if stop - first == 1 else f"{n}_crop"
    y = L.Cropping2D(((0, 0), (first, c - stop)), name=crop_name)(y)
    return y if stop - first == 1 else L.Permute((1, 3, 2), name=n)(y)


def keras_handlers(keras) -> dict:
    """keras_io handlers for the Keras layers these kinds build (and a user's own LSTM)."""
    L = keras.layers
    return {L.LSTM: _keras_lstm,
            L.Permute: lambda l, i, o: row(l.name, "transpose", o),
            L.Cropping2D: lambda l, i, o: row(l.name, "slice", o)}


def _keras_lstm(layer, in_shapes, out_shape):
    from compress import CompressError

    plain = (layer.activation.__name__, layer.recurrent_activation.__name__) == ("tanh", "sigmoid")
    if layer.return_sequences or layer.go_backwards or layer.stateful or not layer.use_bias or not plain:
        raise CompressError(f"layer {layer.name!r}: only an LSTM returning its last state with a bias and "
                            "tanh / sigmoid activations is costed")
    return lstm_cost(layer.name, in_shapes[0], layer.units)


def keras_order(nodes: list, outputs) -> list:
    """The rows in the order Keras lists (and the converter runs) a functional model's layers: by decreasing
    longest distance to an output, ties in depth-first post-order from the outputs (tf_keras functional.py)."""
    by_out = {out: (cost, ins, out) for cost, ins, out in nodes}
    post, seen = {}, set()

    def visit(name):
        if name in seen or name not in by_out:
            return
        seen.add(name)
        for source in by_out[name][1]:
            visit(source)
        post[name] = len(post)

    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    for output in outputs:
        visit(output)
    depth = dict.fromkeys(outputs, 0)
    for name in sorted(post, key=post.get, reverse=True):  # consumers before their inputs
        for source in by_out[name][1]:
            depth[source] = max(depth.get(source, 0), depth.get(name, 0) + 1)
    return sorted(nodes, key=lambda node: (-depth.get(node[2], 0), post.get(node[2], 0)))
