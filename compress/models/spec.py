"""ModelSpec: a small, hashable description of a network that can be costed without Keras and built with it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from compress import CompressError

# Layer kinds and what their fields mean. Every kind keeps its own name so that
# a reduction can be described ("conv3 filters 384->192") and weights can be
# inherited layer by layer between a parent and its child.
CONV_KINDS = ("conv", "dwconv", "sepconv", "residual")
FILTER_KINDS = ("conv", "sepconv", "residual")  # convolutions with a width (filters) of their own
POOL_KINDS = ("maxpool", "avgpool")
FOLLOWER_KINDS = ("bn", "relu", "dropout")  # belong to the conv or dense layer before them
PASS_THROUGH_KINDS = ("relu", "dropout") + POOL_KINDS  # keep the channels of their input, in order
KINDS = CONV_KINDS + POOL_KINDS + ("bn", "relu", "dropout", "flatten", "gap", "dense")
HEAD_NAME = "head"  # the output Dense(classes) + softmax that every spec ends with
# Candidates train for a few hundred steps: with Keras' default 0.99 the inference statistics of BN stay near
# their initial values and a well-ranked model (good AUC) still predicts one class for everything.
BN_MOMENTUM = 0.9


class SpecError(CompressError, ValueError):
    """A spec that cannot be a network (shapes collapse, dense on an image, ...)."""


@dataclass(frozen=True)
class Layer:
    kind: str  # one of KINDS
    name: str  # unique within a spec; stable across reductions
    units: int = 0  # filters (conv, sepconv, residual) or units (dense)
    kernel: int = 0  # square kernel (convs) or pool size (pools)
    stride: int = 1
    padding: str = "same"  # "same" | "valid"
    rate: float = 0.0  # dropout rate

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SpecError(f"layer {self.name!r}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.padding not in ("same", "valid"):
            raise SpecError(f"layer {self.name!r}: padding must be 'same' or 'valid', not {self.padding!r}")

    def to_dict(self) -> dict:
        defaults = Layer(kind=self.kind, name=self.name)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name in ("kind", "name") or getattr(self, f.name) != getattr(defaults, f.name)}


def _spatial(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


@dataclass(frozen=True)
class ModelSpec:
    input_shape: tuple[int, int, int]  # (height, width, channels)
    classes: int
    layers: tuple[Layer, ...]
    name: str = field(default="", compare=False)  # a label for people; not part of the key

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or HEAD_NAME in names:
            raise SpecError(f"spec {self.name!r}: layer names must be unique and not {HEAD_NAME!r}: {names}")
        if self.classes < 2:
            raise SpecError(f"spec {self.name!r}: needs at least 2 classes, got {self.classes}")

    # --- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape), "classes": self.classes,
                "layers": [layer.to_dict() for layer in self.layers]}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        try:
            layers = tuple(Layer(**layer) for layer in data["layers"])
            return cls(tuple(data["input_shape"]), int(data["classes"]), layers, data.get("name", ""))
        except (KeyError, TypeError) as exc:
            raise SpecError(f"not a model spec: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        return cls.from_dict(json.loads(text))

    @property
    def key(self) -> str:
        """Content hash of the architecture (not its name): the cache and journal key."""
        body = self.to_dict()
        del body["name"]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    # --- shapes ---------------------------------------------------------------------------
    def shapes(self) -> list[tuple[Layer, tuple, tuple]]:
        """(layer, input shape, output shape) for every layer, head last; raises SpecError if invalid."""
        shape: tuple = self.input_shape
        out = []
        for layer in self.layers:
            new = _output_shape(layer, shape)
            out.append((layer, shape, new))
            shape = new
        if len(shape) != 1:
            raise SpecError(f"spec {self.name!r}: the head needs a flat input; add flatten or gap (got {shape})")
        head = Layer("dense", HEAD_NAME, units=self.classes)
        out.append((head, shape, (self.classes,)))
        return out

    def is_valid(self) -> bool:
        try:
            self.shapes()
        except SpecError:
            return False
        return True

    # --- Keras ----------------------------------------------------------------------------
    def build(self, seed: int | None = None):
        """A tf_keras functional model; layer names match the spec's so weights can be matched."""
        import tf_keras as keras

        if seed is not None:
            keras.utils.set_random_seed(seed)
        x = inputs = keras.Input(self.input_shape, name="input")
        for layer in self.layers:
            x = _keras_layer(keras, layer, x)
        x = keras.layers.Dense(self.classes, name=HEAD_NAME)(x)
        outputs = keras.layers.Softmax(name="softmax")(x)
        return keras.Model(inputs, outputs, name=self.name or "model")


def _output_shape(layer: Layer, shape: tuple) -> tuple:
    kind = layer.kind
    if kind in ("bn", "relu", "dropout"):
        return shape
    if kind == "dense":
        if layer.units < 1:
            raise SpecError(f"layer {layer.name!r}: needs at least one unit")
        if len(shape) != 1:
            raise SpecError(f"layer {layer.name!r}: dense needs a flat input, got {shape}")
        return (layer.units,)
    if len(shape) != 3:
        raise SpecError(f"layer {layer.name!r}: {kind} needs an image input, got {shape}")
    h, w, c = shape
    if kind == "flatten":
        return (h * w * c,)
    if kind == "gap":
        return (c,)
    stride = layer.stride
    padding = "same" if kind == "residual" else layer.padding
    if padding == "valid" and (layer.kernel > h or layer.kernel > w):
        raise SpecError(f"layer {layer.name!r}: kernel {layer.kernel} larger than its {h}x{w} input")
    if layer.kernel < 1 or stride < 1:
        raise SpecError(f"layer {layer.name!r}: kernel and stride must be >= 1")
    oh, ow = _spatial(h, layer.kernel, stride, padding), _spatial(w, layer.kernel, stride, padding)
    if oh < 1 or ow < 1:
        raise SpecError(f"layer {layer.name!r}: output would be {oh}x{ow}")
    if kind in POOL_KINDS or kind == "dwconv":
        return (oh, ow, c)
    if layer.units < 1:
        raise SpecError(f"layer {layer.name!r}: needs at least one filter")
    return (oh, ow, layer.units)


def _keras_layer(keras, layer: Layer, x):
    """Apply one spec layer to tensor x. Convs carry no activation: Conv -> BN -> ReLU, as tfmot's QAT wants."""
    L, n = keras.layers, layer.name
    conv_args = dict(kernel_size=layer.kernel, strides=layer.stride, padding=layer.padding, name=n)
    if layer.kind == "conv":
        return L.Conv2D(layer.units, **conv_args)(x)
    if layer.kind == "dwconv":
        return L.DepthwiseConv2D(**conv_args)(x)
    if layer.kind == "sepconv":
        return L.SeparableConv2D(layer.units, **conv_args)(x)
    if layer.kind == "residual":
        k, s, f = layer.kernel, layer.stride, layer.units
        y = L.Conv2D(f, k, strides=s, padding="same", name=f"{n}_conv1")(x)
        y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{n}_bn1")(y)
        y = L.ReLU(name=f"{n}_relu1")(y)
        y = L.Conv2D(f, k, padding="same", name=f"{n}_conv2")(y)
        y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{n}_bn2")(y)
        shortcut = L.Conv2D(f, 1, strides=s, padding="same", name=f"{n}_proj")(x)
        y = L.Add(name=f"{n}_add")([y, shortcut])
        return L.ReLU(name=f"{n}_relu2")(y)
    if layer.kind == "maxpool":
        return L.MaxPooling2D(layer.kernel, layer.stride, padding=layer.padding, name=n)(x)
    if layer.kind == "avgpool":
        return L.AveragePooling2D(layer.kernel, layer.stride, padding=layer.padding, name=n)(x)
    if layer.kind == "bn":
        return L.BatchNormalization(momentum=BN_MOMENTUM, name=n)(x)
    if layer.kind == "relu":
        return L.ReLU(name=n)(x)
    if layer.kind == "dropout":
        return L.Dropout(layer.rate, name=n)(x)
    if layer.kind == "flatten":
        return L.Flatten(name=n)(x)
    if layer.kind == "gap":
        return L.GlobalAveragePooling2D(name=n)(x)
    return L.Dense(layer.units, name=n)(x)
