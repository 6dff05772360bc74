"""A user's Keras model (Sequential or functional) -> ModelSpec plus its weights, so it can be searched and rebuilt.

Supported: Conv2D, DepthwiseConv2D, SeparableConv2D (depth multiplier 1), BatchNormalization, ReLU / Activation
(relu, relu6, linear), MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Dropout,
Dense, Add, Concatenate, ZeroPadding2D, Rescaling / Normalization, and softmax or logits at the output. A final
Dense with a bias becomes the spec's head; otherwise (a conv + global pooling classifier) the spec has no head.
"""
from __future__ import annotations

import numpy as np

from compress import CompressError
from compress.models.graph import compact, layer_shapes
from compress.models.spec import HEAD_NAME, INPUT_NAME, Layer, ModelSpec, SpecError

SUPPORTED = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "ReLU", "Activation",
             "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dropout",
             "Dense", "Add", "Concatenate", "ZeroPadding2D", "Rescaling", "Normalization", "Softmax")
SPEC_BN_EPSILON = 1e-3  # Keras' default, which build_model(spec) uses; another epsilon is folded into the variance
ACTIVATIONS = {"relu": "relu", "relu6": "relu6", "linear": None}
SOFTMAX = "\0softmax:"  # marks a tensor as softmax(name): allowed only as the model's output


class _Unsupported(Exception):
    """One layer the import cannot represent; collected so that the user hears about all of them at once."""


def import_keras(model, source: str = "model") -> tuple[ModelSpec, dict]:
    """(spec, weights by spec layer name) of a built tf_keras model; CompressError (one line) if it cannot be."""
    if len(model.inputs) != 1:
        raise CompressError(f"{source}: has {len(model.inputs)} inputs; only single-input image models are supported")
    if len(model.outputs) != 1:
        raise CompressError(f"{source}: has {len(model.outputs)} outputs; a classifier has one")
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise CompressError(f"{source}: input shape {shape} is not a fixed height x width x channels image")
    out_shape = tuple(model.outputs[0].shape[1:])
    if len(out_shape) != 1 or out_shape[0] < 2:
        raise CompressError(f"{source}: its output {out_shape} is not a classifier (needs one score per class, "
                            ">= 2 classes, softmax or logits)")
    layers, weights, names, problems = [], {}, {id(model.inputs[0]): INPUT_NAME}, []
    for layer in _ordered(model, source):
        try:
            _import_layer(layer, names, layers, weights)
        except _Unsupported as exc:
            problems.append(f"{layer.name} ({type(layer).__name__}{': ' + str(exc) if str(exc) else ''})")
            names[id(layer.output)] = "?"  # keep walking: the user hears of every unsupported layer at once
    if problems:
        raise CompressError(f"{source}: unsupported layers: {'; '.join(problems)}. Supported: {', '.join(SUPPORTED)}")
    return finish_spec(model.name, out_shape, source, shape, layers, weights, names[id(model.outputs[0])])


def set_weights(keras_model, weights: dict) -> None:
    """Load imported weights into build_model(spec)'s model (layer names are the spec's)."""
    for name, values in weights.items():
        keras_model.get_layer(name).set_weights(values)


def _ordered(model, source):
    """Model layers (InputLayer excluded) in an order where every layer comes after the layers it reads."""
    import tf_keras as keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            raise CompressError(f"{source}: layer {layer.name!r} is a nested model; save the model flat "
                                "(its layers directly in one Sequential or functional model)")
        if len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise CompressError(f"{source}: layer {layer.name!r} is shared (called more than once); not supported")
        out.append(layer)
    return out


def _tensors(layer):
    ins = layer.input
    return (list(ins) if isinstance(ins, (list, tuple)) else [ins]), layer.output


def spec_name(name: str, layers: list) -> str:
    taken = {l.name for l in layers} | {INPUT_NAME, HEAD_NAME}
    while name in taken:
        name += "_"
    return name


def _import_layer(layer, names: dict, layers: list, weights: dict) -> None:
    ins, out = _tensors(layer)
    sources = tuple(names[id(t)] for t in ins)
    if any(s.startswith(SOFTMAX) for s in sources):
        raise _Unsupported("reads a softmax; softmax is supported at the output only")
    made = _convert(layer, spec_name(layer.name, layers))
    if made is None:  # identity (linear activation, a no-op): readers read its input
        names[id(out)] = sources[0]
        return
    main, values, activation = made
    if main["kind"] == "softmax":
        names[id(out)] = SOFTMAX + sources[0]
        return
    layers.append(Layer(**main, inputs=sources))
    if values is not None:
        weights[main["name"]] = values
    if activation == "softmax":
        names[id(out)] = SOFTMAX + main["name"]
        return
    if activation:
        act = Layer(activation, spec_name(f"{main['name']}_{activation}", layers), inputs=(main["name"],))
        layers.append(act)
    names[id(out)] = layers[-1].name


def _square(layer, value, what) -> int:
    value = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if value[0] != value[1]:
        raise _Unsupported(f"non-square {what} {value}")
    return int(value[0])


def _activation(layer) -> str | None:
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name == "softmax":
        return "softmax"
    if name not in ACTIVATIONS:
        raise _Unsupported(f"activation {name!r}")
    return ACTIVATIONS[name]


def _conv_fields(layer, name) -> dict:
    if layer.data_format != "channels_last" or _square(layer, layer.dilation_rate, "dilation") != 1:
        raise _Unsupported("only channels-last, undilated convolutions")
    if getattr(layer, "groups", 1) != 1 or getattr(layer, "depth_multiplier", 1) != 1:
        raise _Unsupported("grouped convolutions and depth multipliers other than 1")
    return dict(name=name, kernel=_square(layer, layer.kernel_size, "kernel"),
                stride=_square(layer, layer.strides, "strides"), padding=layer.padding, bias=layer.use_bias)


def _convert(layer, name):
    """(Layer fields, weights or None, activation kind or None) for one Keras layer; None for an identity."""
    kind = type(layer).__name__
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise _Unsupported("")
    return handler(layer, name)


def _weighted(kind, units_attr=None):
    def convert(layer, name):
        fields = dict(name=name, bias=layer.use_bias) if kind == "dense" else _conv_fields(layer, name)
        if units_attr:
            fields["units"] = int(getattr(layer, units_attr))
        return {"kind": kind, **fields}, layer.get_weights(), _activation(layer)
    return convert


def _bn(layer, name):
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    if axis not in (-1, [-1], [len(layer.input_shape) - 1], len(layer.input_shape) - 1):
        raise _Unsupported(f"axis {layer.axis}: only the channels (last) axis")
    values = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in layer.weights}
    mean, var = values["moving_mean"], values["moving_variance"]
    gamma = values.get("gamma", np.ones_like(mean))
    beta = values.get("beta", np.zeros_like(mean))
    var = np.maximum(var + float(layer.epsilon) - SPEC_BN_EPSILON, 0.0)  # same 1/sqrt(var + eps) as the file's
    return {"kind": "bn", "name": name}, [gamma, beta, mean, var], None


def _relu(layer, name):
    top = None if layer.max_value is None else float(layer.max_value)
    if float(layer.negative_slope) or float(layer.threshold) or top not in (None, 6.0):
        raise _Unsupported("only plain ReLU and ReLU6")
    return {"kind": "relu" if top is None else "relu6", "name": name}, None, None


def _activation_layer(layer, name):
    act = _activation(layer)
    if act is None:
        return None
    return {"kind": "softmax" if act == "softmax" else act, "name": name}, None, None


def _pool(kind):
    def convert(layer, name):
        if layer.data_format != "channels_last":
            raise _Unsupported("only channels-last pooling")
        return ({"kind": kind, "name": name, "kernel": _square(layer, layer.pool_size, "pool size"),
                 "stride": _square(layer, layer.strides, "strides"), "padding": layer.padding}, None, None)
    return convert


def _global(kind):
    def convert(layer, name):
        if getattr(layer, "keepdims", False) or layer.data_format != "channels_last":
            raise _Unsupported("only channels-last pooling without keepdims")
        return {"kind": kind, "name": name}, None, None
    return convert


def _concat(layer, name):
    if layer.axis not in (-1, 3):
        raise _Unsupported(f"axis {layer.axis}: only the channels (last) axis")
    return {"kind": "concat", "name": name}, None, None


def _zeropad(layer, name):
    (top, bottom), (left, right) = layer.padding
    return {"kind": "zeropad", "name": name, "pads": (int(top), int(bottom), int(left), int(right))}, None, None


def _rescaling(layer, name):
    scale, offset = np.ravel(np.asarray(layer.scale, float)), np.ravel(np.asarray(layer.offset, float))
    return {"kind": "rescale", "name": name, "scale": tuple(scale), "offset": tuple(offset)}, None, None


def _normalization(layer, name):
    """(x - mean) / max(sqrt(var), eps) == x * scale + offset with scale = 1 / max(sqrt(var), eps)."""
    if getattr(layer, "invert", False):
        raise _Unsupported("inverted normalization")
    import tf_keras as keras

    scale = 1.0 / np.maximum(np.sqrt(np.ravel(layer.variance.numpy())), keras.backend.epsilon())
    offset = -np.ravel(layer.mean.numpy()) * scale
    return {"kind": "rescale", "name": name, "scale": tuple(map(float, scale)),
            "offset": tuple(map(float, offset))}, None, None


def _simple(kind):
    return lambda layer, name: ({"kind": kind, "name": name}, None, None)


_HANDLERS = {
    "Conv2D": _weighted("conv", "filters"), "DepthwiseConv2D": _weighted("dwconv"),
    "SeparableConv2D": _weighted("sepconv", "filters"), "Dense": _weighted("dense", "units"),
    "BatchNormalization": _bn, "ReLU": _relu, "Activation": _activation_layer,
    "Softmax": lambda layer, name: ({"kind": "softmax", "name": name}, None, None),
    "MaxPooling2D": _pool("maxpool"), "AveragePooling2D": _pool("avgpool"),
    "GlobalAveragePooling2D": _global("gap"), "GlobalMaxPooling2D": _global("gmp"),
    "Flatten": _simple("flatten"), "Add": _simple("add"), "Concatenate": _concat, "ZeroPadding2D": _zeropad,
    "Dropout": lambda layer, name: ({"kind": "dropout", "name": name, "rate": float(layer.rate)}, None, None),
    "Rescaling": _rescaling, "Normalization": _normalization,
}


def finish_spec(name, shape, source, input_shape, layers, weights, output) -> tuple[ModelSpec, dict]:
    """Drop a final softmax, make a final biased Dense the head, and check that what is left is a classifier.
    shape: the model's output shape (no batch); output: the spec name (SOFTMAX-marked or not) that computes it."""
    softmax = output.startswith(SOFTMAX)
    output = output[len(SOFTMAX):] if softmax else output
    if output == INPUT_NAME or not layers or layers[-1].name != output:
        raise CompressError(f"{source}: its output is not a classifier (no layer computes class scores last)")
    last, shape = layers[-1], tuple(shape)
    head = last.kind == "dense" and last.bias and sum(output in l.inputs for l in layers) == 0
    if head:
        layers = layers[:-1]
        weights = dict(weights)
        weights[HEAD_NAME] = weights.pop(last.name)
    try:
        spec = compact(ModelSpec(input_shape, shape[0], (), name=name, head=head), layers)
        layer_shapes(spec)
    except SpecError as exc:
        raise CompressError(f"{source}: {exc}") from None
    return spec, weights
