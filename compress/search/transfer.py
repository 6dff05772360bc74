"""A user's trained Keras model as the search's baseline: import it, fit the data to it, give it a new head if needed.

Transfer learning when the model's classes differ from the task's (a 7-class FER2013 model used for happy vs
rest): the trunk keeps its weights, a fresh classifier (the head, or the class layer of a headless model) is
trained with the trunk frozen, then everything is fine-tuned briefly at a tenth of the learning rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from compress import CompressError
from compress.console import plural
from compress.models.graph import class_layer
from compress.models.keras_build import build_model
from compress.models.spec import HEAD_NAME, ModelSpec

FINE_TUNE_LR_FACTOR = 0.1  # the whole network after the new head has learned: small steps keep the trunk's features


@dataclass
class Imported:
    source: str  # the user's file
    spec: ModelSpec
    weights: dict  # spec layer name -> weight arrays, as build_model(spec) wants them


def is_model_file(source: str) -> bool:
    """A user's trained model (.keras/.h5/.hdf5 or .onnx), not a zoo name or a spec .json."""
    from pathlib import Path

    from compress.models.keras_io import MODEL_SUFFIXES

    return Path(source).suffix.lower() in MODEL_SUFFIXES


def import_baseline(source: str) -> Imported:
    """Load (safely) and import a .keras/.h5/.hdf5 (Keras 2 or 3) or .onnx model; one-line CompressError if it
    cannot be searched."""
    from compress.models.keras_import import import_keras
    from compress.models.safe_load import load_keras

    if source.lower().endswith(".onnx"):
        from compress.models.onnx_import import import_onnx

        return Imported(source, *import_onnx(source))

    spec, weights = import_keras(load_keras(source), source)
    return Imported(source, spec, weights)


def fit_data(data_config, spec: ModelSpec, log):
    """The data config that centre-crops and resizes the images to the model's input (and converts gray/RGB)."""
    h, w, c = spec.input_shape
    if h != w:
        raise CompressError(f"{spec.name or 'model'}: input {h}x{w}x{c} is not square; the data pipeline makes "
                            "square images (centre crop and resize)")
    if c not in (1, 3):
        raise CompressError(f"{spec.name or 'model'}: input has {c} channels; images convert to 1 (gray) or 3 (RGB) "
                            "only")
    if (h, c) != (data_config.size, data_config.channels):
        log(f"the model expects {h}x{w}x{c}: images are centre-cropped and resized to {h}x{w}, "
            f"{'gray' if c == 1 else 'RGB'} (data options asked for {data_config.size}x{data_config.size}x"
            f"{data_config.channels})")
    return replace(data_config, size=h, channels=c)


def new_head_spec(spec: ModelSpec, classes: int) -> tuple[ModelSpec, set[str]]:
    """spec for `classes` classes, and the names of the layers that start fresh (the new classifier)."""
    if spec.head:
        return spec.replace(classes=classes), {HEAD_NAME}
    name = class_layer(spec)
    layers = tuple(replace(layer, units=classes) if layer.name == name else layer for layer in spec.layers)
    after = {layer.name for layer in spec.layers[spec.index(name):]}
    return spec.replace(classes=classes, layers=layers), after | {HEAD_NAME}


def prepare(imported: Imported, data, trainer, log, retrain: bool = False):
    """(baseline spec, its Keras model or None to train from scratch, the `baseline_preparation` record)."""
    spec, record = imported.spec, {"source": imported.source, "model_classes": imported.spec.classes,
                                   "task_classes": data.classes, "input_shape": list(imported.spec.input_shape)}
    if retrain:
        log(f"--retrain-baseline: {imported.source} is trained from scratch (its architecture only)")
        spec = new_head_spec(spec, data.classes)[0] if spec.classes != data.classes else spec
        return spec, None, record | {"retrained": True, "new_head": False}
    if spec.classes == data.classes:
        model = build_model(spec)
        _set(model, imported.weights, set())
        log(f"baseline {imported.source}: its own trained weights, scored as given (no retraining)")
        return spec, model, record | {"retrained": False, "new_head": False}
    child, fresh = new_head_spec(spec, data.classes)
    model = build_model(child, seed=trainer.seed)
    _set(model, imported.weights, fresh)
    log(f"baseline {imported.source} has {spec.classes} classes, the task {data.classes}: a new head "
        f"({', '.join(sorted(fresh))}) is trained on the frozen trunk, then everything is fine-tuned")
    phases = _transfer(model, fresh, data.at_input(child.input_shape), trainer, log)
    return child, model, record | {"retrained": False, "new_head": True, "fresh_layers": sorted(fresh),
                                   "phases": phases}


def _set(model, weights: dict, skip: set) -> None:
    for name, values in weights.items():
        if name not in skip:
            model.get_layer(name).set_weights(values)


def _transfer(model, fresh: set, data, trainer, log) -> list[dict]:
    """Head on the frozen trunk, then all layers at a smaller learning rate; returns what each phase did."""
    import tf_keras as keras

    phases, steps_per_epoch = [], math.ceil(len(data.y_train) / trainer.batch_size)
    plan = [("new head, trunk frozen", trainer.lr, False), ("fine-tune all layers", trainer.lr * FINE_TUNE_LR_FACTOR,
                                                              True)]
    for what, lr, train_all in plan:
        for layer in model.layers:
            layer.trainable = train_all or layer.name in fresh
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
        history = model.fit(data.x_train, data.y_train, batch_size=trainer.batch_size, epochs=trainer.epochs,
                            verbose=0, shuffle=True)
        val = trainer.score(model, "val", data=data)
        phases.append({"phase": what, "epochs": trainer.epochs, "steps": trainer.epochs * steps_per_epoch,
                       "lr": lr, "loss": round(float(history.history["loss"][-1]), 4), "val_auc": val["auc"]})
        steps = plural(trainer.epochs * steps_per_epoch, "step")
        log(f"  {what}: {plural(trainer.epochs, 'epoch')}, {steps} at lr {lr:g}: "
            f"loss {phases[-1]['loss']:.4f}, val AUC {val['auc']:.4f}")
    for layer in model.layers:
        layer.trainable = True
    return phases


def predictions_equal(a, b, x: np.ndarray, atol: float = 1e-5) -> bool:
    """Whether two models give the same outputs on x (within atol): the round trip's check."""
    return bool(np.allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), atol=atol))
