"""ModelSpec -> tf_keras functional model (TensorFlow loads inside build_model, on demand)."""
from __future__ import annotations

from compress.models.spec import BN_MOMENTUM, HEAD_NAME, INPUT_NAME, Layer, ModelSpec, softmax_name
from compress.models.temporal import build_layer


def build_model(spec: ModelSpec, seed: int | None = None):
    """Layer names match the spec's, so weights can be matched; the head is Dense(classes) (or an identity) + softmax."""
    import tf_keras as keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    tensors = {INPUT_NAME: keras.Input(spec.input_shape, name=INPUT_NAME)}
    x = tensors[INPUT_NAME]
    for layer, sources in zip(spec.layers, spec.inputs()):
        ins = [tensors[s] for s in sources]
        x = tensors[layer.name] = _keras_layer(keras, layer, ins if len(ins) > 1 else ins[0], spec.temporal)
    if spec.tasks:  # one output per task, in the spec's task order
        outputs = [keras.layers.Softmax(name=softmax_name(task))(keras.layers.Dense(spec.classes, name=head)(tensors[s]))
                   for task, (head, s) in zip(spec.tasks, spec.outputs())]
        return keras.Model(tensors[INPUT_NAME], outputs, name=spec.name or "model")
    if spec.head:
        x = keras.layers.Dense(spec.classes, name=HEAD_NAME)(x)
    else:  # the logits come from the last layer; an identity keeps HEAD_NAME the logits' layer for distillation
        x = keras.layers.Activation("linear", name=HEAD_NAME)(x)
    outputs = keras.layers.Softmax(name="softmax")(x)
    return keras.Model(tensors[INPUT_NAME], outputs, name=spec.name or "model")


def _keras_layer(keras, layer: Layer, x, temporal: bool = False):
    """Apply one spec layer to tensor x. Convs carry no activation: Conv -> BN -> ReLU, as tfmot's QAT wants.

    temporal (a (T, 1, C) spec): windows are k x 1 with stride s x 1 (Conv1D as TFLite Micro runs it)."""
    L, n = keras.layers, layer.name
    if layer.kind in ("lstm", "select"):
        return build_layer(keras, layer, x)
    k, s = ((layer.kernel, 1), (layer.stride, 1)) if temporal else (layer.kernel, layer.stride)
    conv_args = dict(kernel_size=k, strides=s, padding=layer.padding, name=n, use_bias=layer.bias)
    simple = {
        "conv": lambda: L.Conv2D(layer.units, **conv_args),
        "dwconv": lambda: L.DepthwiseConv2D(depth_multiplier=max(layer.units, 1), **conv_args),
        "sepconv": lambda: L.SeparableConv2D(layer.units, **conv_args),
        "maxpool": lambda: L.MaxPooling2D(k, s, padding=layer.padding, name=n),
        "avgpool": lambda: L.AveragePooling2D(k, s, padding=layer.padding, name=n),
        "bn": lambda: L.BatchNormalization(momentum=BN_MOMENTUM, name=n),
        "relu": lambda: L.ReLU(name=n),
        "relu6": lambda: L.ReLU(max_value=6.0, name=n),
        "dropout": lambda: L.Dropout(layer.rate, name=n),
        "flatten": lambda: L.Flatten(name=n),
        "gap": lambda: L.GlobalAveragePooling2D(name=n),
        "gmp": lambda: L.GlobalMaxPooling2D(name=n),
        "dense": lambda: L.Dense(layer.units, use_bias=layer.bias, name=n),
        "add": lambda: L.Add(name=n),
        "concat": lambda: L.Concatenate(name=n),
        "zeropad": lambda: L.ZeroPadding2D((tuple(layer.pads[:2]), tuple(layer.pads[2:])), name=n),
        "rescale": lambda: L.Rescaling(_scalar_or_list(layer.scale), _scalar_or_list(layer.offset), name=n),
        "identity": lambda: L.Activation("linear", name=n),
    }
    if layer.kind in simple:
        return simple[layer.kind]()(x)
    return _residual(L, layer, x)


def _scalar_or_list(values: tuple):
    return float(values[0]) if len(values) == 1 else [float(v) for v in values]


def _residual(L, layer: Layer, x):
    """The zoo's whole residual block: conv-bn-relu-conv-bn, a 1x1 projection of the input, add, relu."""
    n, k, s, f = layer.name, layer.kernel, layer.stride, layer.units
    y = L.Conv2D(f, k, strides=s, padding="same", name=f"{n}_conv1")(x)
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{n}_bn1")(y)
    y = L.ReLU(name=f"{n}_relu1")(y)
    y = L.Conv2D(f, k, padding="same", name=f"{n}_conv2")(y)
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{n}_bn2")(y)
    shortcut = L.Conv2D(f, 1, strides=s, padding="same", name=f"{n}_proj")(x)
    y = L.Add(name=f"{n}_add")([y, shortcut])
    return L.ReLU(name=f"{n}_relu2")(y)
