"""ModelSpec: a small, hashable description of a network (a chain or a small DAG), costed without Keras, built with it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import re
from dataclasses import dataclass, field

from compress import CompressError
from compress.validate import parse_json

# Layer kinds and what their fields mean. Every layer has a name so that a reduction can be described ("conv3
# filters 384->192") and weights can be inherited layer by layer; the key ignores names (see ModelSpec.key).
CONV_KINDS = ("conv", "dwconv", "sepconv", "residual")
FILTER_KINDS = ("conv", "sepconv", "residual", "lstm")  # convolutions (and LSTMs) with a width of their own
POOL_KINDS = ("maxpool", "avgpool")
FOLLOWER_KINDS = ("bn", "relu", "relu6", "dropout")  # belong to the conv or dense layer before them
# keep the channels of their input, in order (a removal or a thinning upstream passes straight through them)
PASS_THROUGH_KINDS = ("relu", "relu6", "dropout", "identity", "zeropad") + POOL_KINDS
MERGE_KINDS = ("add", "concat")  # the only kinds with several inputs
KINDS = CONV_KINDS + POOL_KINDS + ("bn", "relu", "relu6", "dropout", "flatten", "gap", "gmp", "dense", "add",
                                   "concat", "zeropad", "rescale", "identity", "lstm", "select")
HEAD_NAME = "head"  # the output Dense(classes) + softmax that a spec ends with (head=True)
TASK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")  # a task names layers (head_<task>) and C identifiers
INPUT_NAME = "input"  # what the first layer (and any layer naming it in `inputs`) reads
# Candidates train for a few hundred steps: with Keras' default 0.99 the inference statistics of BN stay near
# their initial values and a well-ranked model (good AUC) still predicts one class for everything.
BN_MOMENTUM = 0.9


class SpecError(CompressError, ValueError):
    """A spec that cannot be a network (shapes collapse, dense on an image, ...)."""


@dataclass(frozen=True)
class Layer:
    kind: str  # one of KINDS
    name: str  # unique within a spec; stable across reductions (for people and for weight matching)
    units: int = 0  # filters (conv, sepconv, residual), units (dense, lstm), depth multiplier (dwconv; 0 = 1)
    kernel: int = 0  # square kernel (convs) or pool size (pools)
    stride: int = 1
    padding: str = "same"  # "same" | "valid"
    rate: float = 0.0  # dropout rate
    inputs: tuple = ()  # names of the layers it reads (INPUT_NAME: the model input); () = the layer listed before
    bias: bool = True  # convs and dense: with a bias vector
    pads: tuple = ()  # zeropad: (top, bottom, left, right); select: (first, stop), the input channels it keeps
    scale: tuple = ()  # rescale: y = x * scale + offset, one value or one per channel
    offset: tuple = ()

    def __post_init__(self):
        where = f"layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"layer {self.name!r}: a layer's name must be a non-empty string")
        for name in ("inputs", "pads", "scale", "offset"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise SpecError(f"{where}: {name} must be a list, not {value!r}")
            object.__setattr__(self, name, tuple(value))
        for name, least in (("units", 0), ("kernel", 0), ("stride", 1)):
            object.__setattr__(self, name, _whole(getattr(self, name), f"{where}: {name}", least))
        object.__setattr__(self, "pads", tuple(_whole(v, f"{where}: pads", 0) for v in self.pads))
        for name in ("scale", "offset"):
            object.__setattr__(self, name, tuple(_real(v, f"{where}: {name}") for v in getattr(self, name)))
        object.__setattr__(self, "rate", _real(self.rate, f"{where}: rate"))
        if not 0 <= self.rate < 1:
            raise SpecError(f"{where}: rate must lie in [0, 1), not {self.rate:g}")
        if not isinstance(self.bias, bool) or not all(isinstance(i, str) for i in self.inputs):
            raise SpecError(f"{where}: bias must be true or false and inputs a list of layer names")
        if self.kind not in KINDS:
            raise SpecError(f"layer {self.name!r}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.padding not in ("same", "valid"):
            raise SpecError(f"layer {self.name!r}: padding must be 'same' or 'valid', not {self.padding!r}")

    def to_dict(self) -> dict:
        defaults = Layer(kind=self.kind, name=self.name)
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("kind", "name") or value != getattr(defaults, f.name):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def head_name(task: str | None = None) -> str:
    """The output layer's name: 'head', or 'head_<task>' for one task of a multi-task spec."""
    return f"{HEAD_NAME}_{task}" if task else HEAD_NAME


def softmax_name(task: str | None = None) -> str:
    """The softmax after a head, the model output Keras names losses and predictions by."""
    return f"softmax_{task}" if task else "softmax"


# The largest value of each whole-number field: far above any model that fits a microcontroller, low enough that
# costing it stays a number (a kernel of 10^30 costed 9.2e60 FLOPs without a word).
MOST = {"units": 1 << 16, "kernel": 4096, "stride": 4096, "pads": 4096, "input_shape": 1 << 22, "classes": 1000,
        "rate_divisor": 1000}


def _whole(value, where: str, least: int) -> int:
    """A JSON whole number in [least, MOST of the field] ("8" or 8.5 or true are not): SpecError naming the field
    otherwise."""
    most = MOST[where.rsplit(": ", 1)[-1]]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not least <= value <= most:
        raise SpecError(f"{where} must be a whole number >= {least} and <= {most}, not {value!r}")
    return int(value)


def _real(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise SpecError(f"{where} must be a finite number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModelSpec:
    input_shape: tuple[int, int, int]  # (height, width, channels)
    classes: int
    layers: tuple[Layer, ...]  # in execution order; the last one feeds the head (or is the output)
    name: str = field(default="", compare=False)  # a label for people; not part of the key
    head: bool = True  # True: a Dense(classes) head follows; False: the last layer already outputs `classes` logits
    # multi-task: one Dense(classes) head per task, named head_<task>, reading the layer heads[i]; () = one head
    tasks: tuple = ()
    heads: tuple = ()
    # a sensor-window spec may read the data at a lower rate: its rate / rate_divisor (the data is re-windowed)
    rate_divisor: int = 1

    def __post_init__(self):
        shape = self.input_shape
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise SpecError(f"spec {self.name!r}: input_shape must be [height, width, channels], not {shape!r}")
        object.__setattr__(self, "input_shape", tuple(_whole(d, f"spec {self.name!r}: input_shape", 1) for d in shape))
        object.__setattr__(self, "classes", _whole(self.classes, f"spec {self.name!r}: classes", 2))
        object.__setattr__(self, "layers", tuple(self.layers))
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or HEAD_NAME in names or INPUT_NAME in names:
            raise SpecError(f"spec {self.name!r}: layer names must be unique and not {HEAD_NAME!r} or "
                            f"{INPUT_NAME!r}: {names}")
        if self.classes < 2:
            raise SpecError(f"spec {self.name!r}: needs at least 2 classes, got {self.classes}")
        self._check_tasks(set(names))
        object.__setattr__(self, "rate_divisor", _whole(self.rate_divisor, f"spec {self.name!r}: rate_divisor", 1))
        if self.rate_divisor > 1 and not self.temporal:
            raise SpecError(f"spec {self.name!r}: rate_divisor is for (T, 1, C) sensor windows, not images")

    def _check_tasks(self, names: set) -> None:
        for attr in ("tasks", "heads"):
            value = getattr(self, attr)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise SpecError(f"spec {self.name!r}: {attr} must be a list of names, not {value!r}")
            object.__setattr__(self, attr, tuple(value))
        if not self.tasks and not self.heads:
            return
        bad = [t for t in self.tasks if not TASK_NAME.fullmatch(t)]
        if bad or len(set(self.tasks)) != len(self.tasks) or len(self.tasks) < 2:
            raise SpecError(f"spec {self.name!r}: tasks must be at least two distinct names of letters, digits and _ "
                            f"(starting with a letter), not {list(self.tasks)}")
        clash = names & {n for t in self.tasks for n in (head_name(t), softmax_name(t))}
        if len(self.heads) != len(self.tasks) or not set(self.heads) <= names or not self.head or clash:
            raise SpecError(f"spec {self.name!r}: a multi-task spec needs head true and one existing layer per task "
                            f"in heads; tasks {list(self.tasks)}, heads {list(self.heads)}")

    # --- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"name": self.name, "input_shape": list(self.input_shape), "classes": self.classes,
               "layers": [layer.to_dict() for layer in self.layers]}
        out |= {"tasks": list(self.tasks), "heads": list(self.heads)} if self.tasks else {}
        out |= {"rate_divisor": self.rate_divisor} if self.rate_divisor > 1 else {}
        return out if self.head else out | {"head": False}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise SpecError("not a model spec: expected an object with input_shape, classes and a list of layers")
        fields = {f.name for f in dataclasses.fields(Layer)}
        for i, layer in enumerate(data["layers"]):
            unknown = sorted(map(repr, set(layer) - fields)) if isinstance(layer, dict) else ["(not an object)"]
            if unknown or "kind" not in layer or "name" not in layer:
                raise SpecError(f"layer {i}: needs kind and name; unknown field(s): {', '.join(unknown) or 'none'}")
        try:
            layers = tuple(Layer(**layer) for layer in data["layers"])
            head = data.get("head", True)
            if not isinstance(head, bool):
                raise SpecError(f"head must be true or false, not {head!r}")
            return cls(data["input_shape"], data["classes"], layers, str(data.get("name", "")), head,
                       data.get("tasks", ()), data.get("heads", ()), data.get("rate_divisor", 1))
        except (KeyError, TypeError) as exc:
            raise SpecError(f"not a model spec: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "spec") -> "ModelSpec":
        """A spec's JSON text; nesting too deep or not JSON is one CompressError naming `where` (the file)."""
        return cls.from_dict(parse_json(text, where))

    @property
    def key(self) -> str:
        """Content hash of the architecture, ignoring every name: the cache and journal key.

        Layers are identified by position and each one's inputs by the positions they read (-1: the model input),
        so the same network reached by two paths (`remove fc6`, `remove fc7`) has one key.
        """
        position = {layer.name: i for i, layer in enumerate(self.layers)} | {INPUT_NAME: -1}
        layers = []
        for layer, sources in zip(self.layers, self.inputs()):
            body = layer.to_dict()
            del body["name"]
            body["inputs"] = [position.get(s, s) for s in sources]
            layers.append(body)
        body = {"input_shape": list(self.input_shape), "classes": self.classes, "head": self.head, "layers": layers}
        if self.tasks:  # single-head specs keep the keys they always had
            body |= {"tasks": list(self.tasks), "heads": [position[h] for h in self.heads]}
        if self.rate_divisor > 1:
            body["rate_divisor"] = self.rate_divisor
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def temporal(self) -> bool:
        """A (T, 1, C) input is a window of T samples x C channels: its convs and pools slide along T only
        (kernel k x 1, stride s x 1), as Conv1D does and as TFLite Micro runs it (models/temporal.py)."""
        return self.input_shape[1] == 1

    def outputs(self) -> list[tuple[str, str]]:
        """(head layer name, the layer it reads) per output: one head reading the last layer, or one per task."""
        if self.tasks:
            return [(head_name(task), source) for task, source in zip(self.tasks, self.heads)]
        return [(HEAD_NAME, self.layers[-1].name if self.layers else INPUT_NAME)]

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def inputs(self) -> list[tuple[str, ...]]:
        """Each layer's input names, resolved: () means the layer listed before (the model input for the first)."""
        previous = [INPUT_NAME] + [layer.name for layer in self.layers[:-1]]
        return [layer.inputs or (prev,) for layer, prev in zip(self.layers, previous)]
