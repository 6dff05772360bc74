"""Trainer: build a spec, start it from its parent's weights, fit briefly, and score it by ROC AUC."""
from __future__ import annotations

import os
import time

import numpy as np

from compress.spec import HEAD_NAME, ModelSpec

_TF_CONFIGURED = False


def configure_tensorflow() -> None:
    """Limit TensorFlow to this machine's cores (it would otherwise oversubscribe a 2-core CI box)."""
    global _TF_CONFIGURED
    if _TF_CONFIGURED:
        return
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, cores))
    except RuntimeError:  # TensorFlow already initialised by the caller: keep its settings
        pass
    _TF_CONFIGURED = True


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, positive: int | None = 1) -> dict:
    """ROC AUC (binary: positive-class score; multi-class: macro one-vs-rest), accuracy, precision, recall."""
    from sklearn.metrics import confusion_matrix, precision_score, recall_score, roc_auc_score

    y_true = np.asarray(y_true)
    classes = probs.shape[1]
    pred = probs.argmax(axis=1)
    present = np.unique(y_true)
    if len(present) < 2:
        auc = float("nan")  # undefined on a single-class split; the data loader refuses such sets
    elif classes == 2:
        auc = roc_auc_score(y_true == positive, probs[:, positive])
    else:
        auc = roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(classes)))
    binary = classes == 2
    kwargs = dict(pos_label=positive, average="binary") if binary else dict(average="macro")
    return {
        "auc": float(auc),
        "accuracy": float((pred == y_true).mean()),
        "precision": float(precision_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "recall": float(recall_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "confusion": confusion_matrix(y_true, pred, labels=list(range(classes))).tolist(),
    }


class Trainer:
    """Fits specs on one data set with fixed hyper-parameters; children start from their parent's weights."""

    def __init__(self, data, *, epochs: int = 3, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
                 augment: bool = False, balance: str = "none", patience: int = 2, log=None):
        self.data, self.epochs, self.batch_size, self.lr = data, epochs, batch_size, lr
        self.seed, self.augment, self.balance, self.patience = seed, augment, balance, patience
        self.log = log or (lambda message: None)
        configure_tensorflow()

    def fit(self, spec: ModelSpec, parent=None, parent_spec: ModelSpec | None = None, epochs: int | None = None,
            patience: int | None = None, lr: float | None = None):
        """Train spec (from parent's weights where they fit); returns (model, history) with the best-val-AUC weights."""
        import tf_keras as keras

        from compress import data as data_module

        keras.utils.set_random_seed(self.seed)
        model = spec.build()
        if parent is not None and parent_spec is not None:
            inherit_weights(model, spec, parent, parent_spec)
        model.compile(optimizer=keras.optimizers.Adam(lr or self.lr), loss="sparse_categorical_crossentropy")
        data = self.data.at_input(spec.input_shape)
        rng = np.random.default_rng(self.seed)
        x, y, class_weight = data_module.balance(data.x_train, data.y_train, self.balance, rng)
        x_val, y_val = data.split("val")
        best_auc, best_weights, waited, history = -1.0, model.get_weights(), 0, []
        for epoch in range(epochs or self.epochs):
            start = time.monotonic()
            x_epoch = data_module.augment(x, rng) if self.augment else x
            fit = model.fit(x_epoch, y, batch_size=self.batch_size, epochs=1, verbose=0, shuffle=True,
                            class_weight=class_weight)
            val = self.score(model, split="val", data=data)
            history.append({"epoch": epoch + 1, "loss": float(fit.history["loss"][-1]), "val_auc": val["auc"],
                            "val_accuracy": val["accuracy"], "seconds": round(time.monotonic() - start, 2)})
            self.log(f"    epoch {epoch + 1}: loss {history[-1]['loss']:.4f}  val AUC {val['auc']:.4f}")
            if val["auc"] > best_auc:
                best_auc, best_weights, waited = val["auc"], model.get_weights(), 0
            else:
                waited += 1
                if waited >= (patience or self.patience):
                    break
        model.set_weights(best_weights)
        return model, history

    def score(self, model, split: str = "val", data=None) -> dict:
        data = data or self.data.at_input(model.input_shape[1:])
        x, y = data.split(split)
        probs = model.predict(x, batch_size=256, verbose=0)
        return classification_metrics(y, probs, positive=1 if probs.shape[1] == 2 else None)


# --- weight inheritance -------------------------------------------------------------------------

_PASS_THROUGH = ("relu", "dropout", "maxpool", "avgpool")


def _top_l1(weights: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the `keep` output units (last axis) with the largest L1 norm, in their original order."""
    norms = np.abs(weights).reshape(-1, weights.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _crop_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Centre of a larger kernel, so a shrunk kernel starts from what the parent looked at."""
    start = (kernel.shape[0] - size) // 2
    return kernel[start:start + size, start:start + size]


def _take_conv(parent_w: list, child_shapes: list, channels_in, out_idx=None):
    """Parent conv weights narrowed to the child's shapes: kernel cropped, inputs/outputs picked by index."""
    kernel, rest = parent_w[0], parent_w[1:]
    if kernel.shape[0] != child_shapes[0][0]:
        kernel = _crop_kernel(kernel, child_shapes[0][0])
    if channels_in is not None:
        kernel = kernel[:, :, channels_in, :]
    if out_idx is None:
        out_idx = _top_l1(kernel, child_shapes[0][-1])
    return [kernel[..., out_idx]] + [b[out_idx] for b in rest], out_idx


def inherit_weights(child, child_spec: ModelSpec, parent, parent_spec: ModelSpec) -> int:
    """Copy the parent's weights into every child layer that still corresponds to one; returns layers copied.

    Layers are matched by name. A thinned layer keeps the parent's filters (or units) with the largest L1 norm;
    the layers after it take the matching input channels, so a child starts close to what its parent computed.
    """
    parent_shapes = {layer.name: (i, o) for layer, i, o in parent_spec.shapes()}
    parent_kinds = {layer.name: layer.kind for layer in parent_spec.layers}
    channels = np.arange(child_spec.input_shape[2])  # parent indices of the current tensor's channels, or None
    copied = 0
    for layer, in_shape, out_shape in child_spec.shapes():
        name = layer.name
        same_kind = parent_kinds.get(name, "dense" if name == HEAD_NAME else None) == layer.kind
        if not same_kind:  # a new layer: channels survive only layers that pass them through unchanged
            if layer.kind not in _PASS_THROUGH:
                channels = None
            continue
        p_in = parent_shapes[name][0]
        try:
            channels, n = _inherit_layer(child, parent, layer, in_shape, out_shape, p_in, channels)
        except (ValueError, IndexError):
            channels, n = None, 0
        copied += n
    return copied


def _inherit_layer(child, parent, layer, in_shape, out_shape, p_in, channels):
    kind, name = layer.kind, layer.name
    if kind in _PASS_THROUGH:
        return channels, 0
    if kind == "flatten":
        if channels is None or tuple(in_shape[:2]) != tuple(p_in[:2]):
            return None, 0
        positions = np.arange(in_shape[0] * in_shape[1])[:, None] * p_in[2]
        return (positions + channels[None, :]).reshape(-1), 0
    if kind == "gap":
        return channels, 0
    if kind == "bn":
        if channels is None:
            return None, 0
        child.get_layer(name).set_weights([w[channels] for w in parent.get_layer(name).get_weights()])
        return channels, 1
    if kind == "dense":
        if channels is None:
            return None, 0
        pw = parent.get_layer(name).get_weights()
        kernel = pw[0][channels]
        idx = _top_l1(kernel, out_shape[0])
        child.get_layer(name).set_weights([kernel[:, idx], pw[1][idx]])
        return idx, 1
    if kind in ("conv", "sepconv", "dwconv"):
        return _inherit_conv(child.get_layer(name), parent.get_layer(name), kind, channels)
    if kind == "residual":
        return _inherit_residual(child, parent, name, channels)
    return None, 0


def _inherit_conv(child_layer, parent_layer, kind, channels):
    pw, cw = parent_layer.get_weights(), [w.shape for w in child_layer.get_weights()]
    if channels is None and pw[0].shape[2] != cw[0][2]:
        return None, 0
    if kind == "conv":
        weights, out_idx = _take_conv(pw, cw, channels)
    elif kind == "dwconv":  # (k, k, C, 1): channels follow the input
        kernel = _crop_kernel(pw[0], cw[0][0])
        idx = channels if channels is not None else np.arange(cw[0][2])
        weights, out_idx = [kernel[:, :, idx, :], pw[1][idx]], idx
    else:  # sepconv: depthwise (k,k,C,1), pointwise (1,1,C,F), bias (F,)
        depth = _crop_kernel(pw[0], cw[0][0])
        point = pw[1]
        if channels is not None:
            depth, point = depth[:, :, channels, :], point[:, :, channels, :]
        out_idx = _top_l1(point, cw[1][-1])
        weights = [depth, point[..., out_idx], pw[2][out_idx]]
    child_layer.set_weights(weights)
    return out_idx, 1


def _inherit_residual(child, parent, name, channels):
    get_c, get_p = child.get_layer, parent.get_layer
    conv1 = [w.shape for w in get_c(f"{name}_conv1").get_weights()]
    if channels is None and get_p(f"{name}_conv1").get_weights()[0].shape[2] != conv1[0][2]:
        return None, 0
    w1, mid = _take_conv(get_p(f"{name}_conv1").get_weights(), conv1, channels)
    get_c(f"{name}_conv1").set_weights(w1)
    get_c(f"{name}_bn1").set_weights([w[mid] for w in get_p(f"{name}_bn1").get_weights()])
    conv2 = [w.shape for w in get_c(f"{name}_conv2").get_weights()]
    w2, out = _take_conv(get_p(f"{name}_conv2").get_weights(), conv2, mid)
    get_c(f"{name}_conv2").set_weights(w2)
    get_c(f"{name}_bn2").set_weights([w[out] for w in get_p(f"{name}_bn2").get_weights()])
    proj = [w.shape for w in get_c(f"{name}_proj").get_weights()]
    wp, _ = _take_conv(get_p(f"{name}_proj").get_weights(), proj, channels, out_idx=out)
    get_c(f"{name}_proj").set_weights(wp)
    return out, 5
