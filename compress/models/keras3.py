"""Keras 3 files (.keras zip or .h5) rebuilt as tf_keras models, without Keras 3 deserialising anything.

The config is JSON that safe_load.py has read and checked; here each layer must also be one of LAYERS. The
tf_keras layer is made from our own table (never from a module or class the file names), from the config's
plain fields only (initializers, regularizers, constraints and dtype policies are dropped: inference needs the
weights alone), wired as the config's nodes say, and given the weights read with h5py: `layers/*/vars/<i>` in
model.weights.h5 inside a .keras zip (each `vars` group names its layer), `model_weights/<layer>` in an .h5.
"""
from __future__ import annotations

import io
import inspect
import zipfile

from compress import CompressError
from compress.validate import parse_json

LAYERS = ("InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "ReLU",
          "Activation", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
          "Flatten", "Dropout", "Dense", "Add", "Concatenate", "ZeroPadding2D", "Rescaling", "Normalization", "Softmax",
          "Reshape")
DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
MODELS = ("Sequential", "Functional", "Model")


def saved_by_keras3(path, config: dict) -> bool:
    """metadata.json's (a .keras zip) or the HDF5 attribute's keras_version; else the Keras 3 InputLayer field."""
    version = None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" in archive.namelist():
                try:
                    version = parse_json(archive.read("metadata.json"), f"{path}: metadata.json").get("keras_version")
                except (CompressError, AttributeError):
                    version = None
    else:
        import h5py

        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version")
    if isinstance(version, bytes):
        version = version.decode(errors="replace")
    if isinstance(version, str) and version[:1].isdigit():
        return version.split(".")[0] == "3"
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    return isinstance(layers, list) and any(isinstance(item, dict) and isinstance(item.get("config"), dict) and
                                            "batch_shape" in item["config"] for item in layers)


def _layer_items(config: dict, path) -> list:
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if config.get("class_name") not in MODELS or not isinstance(layers, list):
        raise CompressError(f"{path}: not a Keras model (its config has no Sequential or functional layer list)")
    if not all(isinstance(item, dict) for item in layers):
        raise CompressError(f"{path}: not a Keras model (a layer of its config is not an object)")
    return layers


def check_layers(config: dict, path, activations: frozenset) -> None:
    """Refuse (one line naming the layer) any layer that is not one of LAYERS or whose activation is not one of
    Keras' own, before anything is built."""
    for item in _layer_items(config, path):
        kind, fields = item.get("class_name"), item.get("config")
        name = fields.get("name") if isinstance(fields, dict) else item.get("name")
        if kind not in LAYERS or not isinstance(fields, dict):
            raise CompressError(f"{path}: refused: layer {name!r} is a {kind}, which a Keras 3 file may not bring "
                                f"in (supported: {', '.join(LAYERS[1:])})")
        activation = _activation(fields.get("activation", "linear"))
        if activation not in activations:
            raise CompressError(f"{path}: refused: layer {name!r} names activation {activation!r}, which is not one "
                                "of Keras' activations")


def _activation(value):
    """A config's activation: "relu", or {"module": "keras.activations", "class_name": "function", "config": "relu"}."""
    return value.get("config") if isinstance(value, dict) else value


def rebuild(path, config: dict):
    """The tf_keras model that the Keras 3 file describes, with its weights; CompressError (one line) if not."""
    import tf_keras as keras

    items = _layer_items(config, path)
    name = str((config.get("config") or {}).get("name") or "model")
    try:
        if config["class_name"] == "Sequential":
            model = _sequential(keras, items, config["config"], name)
        else:
            model = _functional(keras, items, config["config"], name, path)
        _set_weights(model, read_weights(path), path)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CompressError(f"{path}: cannot rebuild the Keras 3 model: {first}") from None
    return model


def _input(keras, item_config: dict, name=None):
    shape = item_config.get("batch_shape") or item_config.get("batch_input_shape")
    return keras.Input(batch_shape=tuple(shape), name=name or item_config.get("name"))


def _sequential(keras, items, config: dict, name: str):
    layers = [_layer(keras, item) for item in items if item["class_name"] != "InputLayer"]
    first = [item for item in items if item["class_name"] == "InputLayer"]
    x = _input(keras, first[0]["config"]) if first else keras.Input(batch_shape=tuple(config["build_input_shape"]))
    return keras.Sequential([x, *layers], name=name)


def _functional(keras, items, config: dict, name: str, path):
    tensors = {}
    for item in items:
        layer_name = item.get("name") or item["config"]["name"]
        if item["class_name"] == "InputLayer":
            tensors[layer_name] = _input(keras, item["config"], layer_name)
            continue
        nodes = item.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise CompressError(f"{path}: layer {layer_name!r} is called {len(nodes)} times; only layers called "
                                "once (not shared) are supported")
        args = nodes[0]["args"]
        ins = _tensors(args[0], tensors, path, layer_name)
        tensors[layer_name] = _layer(keras, item)(ins)
    inputs = [_ref(r, tensors, path, name) for r in _refs(config["input_layers"])]
    outputs = [_ref(r, tensors, path, name) for r in _refs(config["output_layers"])]
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs,
                       name=name)


def _refs(value) -> list:
    """input_layers / output_layers: one [name, node, index] or a list of them."""
    return [value] if value and isinstance(value[0], str) else list(value)


def _ref(ref, tensors, path, where):
    if ref[0] not in tensors or ref[1:] not in ([0, 0], (0, 0)):
        raise CompressError(f"{path}: {where} reads {ref!r}, which is not a single-output layer before it")
    return tensors[ref[0]]


def _tensors(arg, tensors, path, where):
    """A node's first argument: one __keras_tensor__ or a list of them (Add, Concatenate)."""
    if isinstance(arg, list):
        return [_tensors(a, tensors, path, where) for a in arg]
    if not isinstance(arg, dict) or arg.get("class_name") != "__keras_tensor__":
        raise CompressError(f"{path}: layer {where!r} has an input that is not a tensor")
    return _ref(arg["config"]["keras_history"], tensors, path, where)


def _layer(keras, item: dict):
    """The tf_keras layer of our own table, from the config's plain fields that its constructor names."""
    cls = getattr(keras.layers, item["class_name"])  # a name from LAYERS: check_layers has refused the rest
    config = item["config"]
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs", "dtype"}
    kept = {k: v for k, v in config.items() if k in names and not k.endswith(DROPPED_SUFFIXES)}
    if "activation" in kept:
        kept["activation"] = _activation(kept["activation"])
    return cls(name=config["name"], **kept)


def read_weights(path) -> dict:
    """Layer name -> its arrays, in the order the layer holds them (trainable first, as get_weights gives)."""
    import h5py

    if not zipfile.is_zipfile(path):
        with h5py.File(path, "r") as f:
            group = f["model_weights"]
            return {name: [group[name][w][()] for w in _strings(group[name].attrs.get("weight_names", []))]
                    for name in group if name != "top_level_model_weights"}
    with zipfile.ZipFile(path) as archive:
        if "model.weights.h5" not in archive.namelist():
            raise CompressError(f"{path}: a .keras zip without model.weights.h5")
        data = io.BytesIO(archive.read("model.weights.h5"))
    found = {}
    with h5py.File(data, "r") as f:
        for group in (f["layers"].values() if "layers" in f else []):
            variables = group.get("vars")
            if variables is None:
                continue
            name = _strings([variables.attrs.get("name", "")])[0]
            found[name] = [variables[str(i)][()] for i in range(len(variables))]
    return found


def _strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _set_weights(model, weights: dict, path) -> None:
    for layer in model.layers:
        expected = layer.get_weights()
        values = weights.get(layer.name, [])
        if len(values) != len(expected) or any(v.shape != e.shape for v, e in zip(values, expected)):
            got = [tuple(v.shape) for v in values]
            raise CompressError(f"{path}: layer {layer.name!r}: the file holds weights {got}, the layer needs "
                                f"{[tuple(e.shape) for e in expected]}")
        if values:
            layer.set_weights(values)
