"""A user's Keras model: cost it layer by layer with the same formulas as a spec (loading: safe_load.py)."""
from __future__ import annotations

from compress import CompressError
from compress.models.formulas import (ACTIVATION_FLOPS, LayerCost, ModelCost, bn, conv, dense, dwconv, model_cost, pool,
                                      prod, row, sepconv)
from compress.models.safe_load import KERAS_SUFFIXES, load_keras  # noqa: F401  (the one loader, re-exported)

MODEL_SUFFIXES = KERAS_SUFFIXES + (".onnx",)  # the trained models a user may bring


def load_model_file(path):
    """A tf_keras model of a user's file: a .keras/.h5/.hdf5 (Keras 2 or 3, safe_load.py), or an .onnx imported
    into a spec (onnx_import.py) and built with its weights."""
    if str(path).lower().endswith(".onnx"):
        from compress.models.keras_build import build_model
        from compress.models.keras_import import set_weights
        from compress.models.onnx_import import import_onnx

        spec, weights = import_onnx(path)
        model = build_model(spec)
        set_weights(model, weights)
        return model
    return load_keras(path)


def keras_cost(model) -> ModelCost:
    """Cost of a built tf_keras model (Sequential or functional); CompressError for a layer we cannot cost."""
    import tf_keras as keras

    from compress.models.temporal import keras_handlers

    handlers = _keras_handlers(keras) | keras_handlers(keras)
    nodes = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        handler = handlers.get(type(layer))
        if handler is None:
            raise CompressError(f"layer {layer.name!r}: cannot cost a {type(layer).__name__} layer "
                                f"(supported: {', '.join(sorted(c.__name__ for c in handlers))})")
        ins, out = _keras_io(layer)
        in_shapes = [_fixed_shape(layer, t) for t in ins]
        nodes.append((handler(layer, in_shapes, _fixed_shape(layer, out)), tuple(id(t) for t in ins), id(out)))
    inputs = {id(t): prod(_fixed_shape(model, t)) for t in model.inputs}
    return model_cost(model.name, "keras", nodes, inputs, [id(t) for t in model.outputs])


def _keras_io(layer):
    try:
        ins, out = layer.input, layer.output
    except (AttributeError, RuntimeError, ValueError) as exc:  # unbuilt, or shared by several calls
        raise CompressError(f"layer {layer.name!r}: cannot read its inputs and output: {exc}") from None
    return (list(ins) if isinstance(ins, (list, tuple)) else [ins]), out


def _fixed_shape(layer, tensor) -> tuple:
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise CompressError(f"layer {layer.name!r}: shape {shape} is not fixed; cost needs a fixed input size")
    return shape


def _keras_handlers(keras) -> dict:
    L = keras.layers
    return {
        L.Conv2D: lambda l, i, o: conv(l.name, i[0], o, *_conv_kernel(l), l.use_bias, _act(l)),
        L.DepthwiseConv2D: lambda l, i, o: dwconv(l.name, i[0], o, *_conv_kernel(l), l.use_bias, _act(l)),
        L.SeparableConv2D: lambda l, i, o: sepconv(l.name, i[0], o, *_conv_kernel(l), l.depth_multiplier,
                                                    l.use_bias, _act(l)),
        L.Dense: lambda l, i, o: dense(l.name, i[0], o, l.use_bias, _act(l)),
        L.MaxPooling2D: lambda l, i, o: pool(l.name, "maxpool", o, *l.pool_size),
        L.AveragePooling2D: lambda l, i, o: pool(l.name, "avgpool", o, *l.pool_size),
        L.GlobalAveragePooling2D: lambda l, i, o: row(l.name, "gap", o, flops=prod(i[0])),
        L.BatchNormalization: _keras_bn,
        L.ReLU: _keras_relu,
        L.Activation: _keras_activation,
        L.Softmax: lambda l, i, o: row(l.name, "softmax", o, flops=5 * prod(o)),
        L.Add: lambda l, i, o: row(l.name, "add", o, flops=(len(i) - 1) * prod(o)),
        L.Dropout: lambda l, i, o: row(l.name, "dropout", o),
        L.Flatten: lambda l, i, o: row(l.name, "flatten", o),
        L.Reshape: lambda l, i, o: row(l.name, "reshape", o),
        L.Concatenate: lambda l, i, o: row(l.name, "concat", o),
        L.GlobalMaxPooling2D: lambda l, i, o: row(l.name, "gmp", o),  # Max: no profiler statistic
        L.ZeroPadding2D: lambda l, i, o: row(l.name, "zeropad", o),  # Pad: none either
        L.Rescaling: lambda l, i, o: row(l.name, "rescale", o, flops=2 * prod(o), ops=2),  # Mul, AddV2
        L.Normalization: _keras_normalization,
    }


def _conv_kernel(layer) -> tuple[int, int]:
    """Kernel size; dilated, grouped and channels-first convolutions are refused (the profiler sees other ops)."""
    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1:
        raise CompressError(f"layer {layer.name!r}: only channels-last, undilated, ungrouped convolutions are costed")
    return tuple(layer.kernel_size)


def _act(layer) -> int:
    """FLOPs per output element of a layer's own activation (Conv2D(activation=...), Dense, Activation)."""
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name not in ACTIVATION_FLOPS:
        raise CompressError(f"layer {layer.name!r}: cannot cost activation {name!r} "
                            f"(supported: {', '.join(ACTIVATION_FLOPS)})")
    return ACTIVATION_FLOPS[name]


def _keras_activation(layer, i, o) -> LayerCost:
    name = getattr(layer.activation, "__name__", "")
    kind = {"relu": "relu", "relu6": "relu", "linear": "identity", "softmax": "softmax"}.get(name, name)
    return row(layer.name, kind, o, flops=_act(layer) * prod(o))


def _keras_bn(layer, i, o) -> LayerCost:
    if layer.axis not in ([len(o)], [-1]):
        raise CompressError(f"layer {layer.name!r}: BatchNormalization is costed on the last axis only")
    return bn(layer.name, o, bool(getattr(layer, "fused", False)), layer.scale, layer.center)


def _keras_relu(layer, i, o) -> LayerCost:
    """Mirrors tf_keras backend.relu: plain, relu6 and leaky are single uncounted ops; the rest adds elementwise ops."""
    n, slope, top, thr = prod(o), float(layer.negative_slope), layer.max_value, float(layer.threshold)
    if slope and top is None and not thr:
        return row(layer.name, "leaky_relu", o)
    flops = (3 + bool(thr)) * n if slope else 0  # negative part: Neg (+ AddV2 threshold), then Mul and Sub
    flops += 2 * n if thr else 0  # x * (x > threshold): Greater and Mul
    flops += 2 * n if top is not None and (thr or float(top) != 6.0) else 0  # clip_by_value: Minimum and Maximum
    plain = not slope and not thr and top in (None, 6.0)
    return row(layer.name, "relu" if plain else "relu_custom", o, flops=flops)


def _keras_normalization(layer, i, o) -> LayerCost:
    """(x - mean) / maximum(sqrt(variance), eps): Sub and RealDiv per element, Maximum per channel (Sqrt: none)."""
    channels = prod(layer.variance.shape)
    return row(layer.name, "rescale", o, flops=2 * prod(o) + channels, ops=2)
