"""Trainer: build a spec, start it from its parent's weights, fit briefly, and score it by ROC AUC."""
from __future__ import annotations

import math
import os
import time
from typing import NamedTuple

import numpy as np

from compress import CandidateError, CompressError, files
from compress.config import DataConfig, TrainConfig
from compress.data.augment import augment, balance
from compress.data.metrics import classification_metrics
from compress.models.keras_build import build_model
from compress.models.spec import HEAD_NAME, ModelSpec, softmax_name
from compress.search import tasks as multitask
from compress.search.inherit import inherit_weights, shares_weights
from compress.search.journal import evaluation_key, rung_of
from compress.search.race import RACE_ETA, rung_epochs

_TF_CONFIGURED = False
LONG_PATIENCE = 4  # epochs without a better val AUC before the baseline or winner stops training
# A candidate that inherits no weights (a family move's new trunk) starts where the baseline did: scored after 3
# epochs it would rank by how little it had learned (DS-CNN on 4class: val 0.64 after 3 epochs from scratch, 0.77
# after 12, 0.85 after 30, where inherited reductions score 0.85 after 3). So new trunks race (compress/search/race.py,
# successive halving) and, as a finalist, a new trunk goes on for SCRATCH_FINAL_FACTOR x --final-epochs.
SCRATCH_FINAL_FACTOR = 4
# Distillation (Hinton et al. 2015): loss = ALPHA * T^2 * KL(teacher_T || student_T) + (1 - ALPHA) * CE.
DISTILL_TEMPERATURE = 4.0
DISTILL_ALPHA = 0.5


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def save_model(model, path, weights_only: bool = False) -> None:
    """A Keras model (or its weights) saved whole or not at all: Keras and h5py fill a scratch copy first."""
    files.write_with(path, model.save_weights if weights_only else model.save, size_hint=8 * model.count_params())


def configure_tensorflow(threads: int | None = None) -> None:
    """Limit TensorFlow to `threads` (default: this machine's cores); it would otherwise oversubscribe a 2-core CI
    box, and parallel workers each get their share of the cores (compress.search.workers)."""
    global _TF_CONFIGURED
    if _TF_CONFIGURED:
        return
    import tensorflow as tf

    threads = cores() if threads is None else threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:  # TensorFlow already initialised by the caller: keep its settings
        pass
    _TF_CONFIGURED = True


class Fit(NamedTuple):
    """What `Trainer.fit` made: the model (best-val-AUC weights), its epochs, and what it inherited per layer."""
    model: object
    history: list
    inherited: dict  # per layer: copied | thinned | factorised | reinitialised (search/inherit.py); {}: from scratch


class Trainer:
    """Fits specs on one data set with fixed hyper-parameters; children start from their parent's weights.

    train: epochs, batch size, learning rate and --task-weights; settings: the data's seed and --balance."""

    def __init__(self, data, train: TrainConfig = TrainConfig(), settings: DataConfig = DataConfig(), *,
                 augment: bool = False, patience: int = 2, log=None):
        epochs, batch_size, lr = train.epochs, train.batch_size, train.lr
        if not (epochs >= 1 and batch_size >= 1 and 0 < lr < float("inf")):  # NaN fails too
            raise CompressError(f"training needs epochs >= 1, batch size >= 1 and a finite learning rate > 0; got "
                                f"{epochs}, {batch_size} and {lr}")
        self.data, self.train, self.settings = data, train, settings
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        # image augmentations only where they apply (wearable windows are not images: augmentable False)
        self.augment = augment and data.augmentable
        self.seed, self.balance, self.patience = settings.seed, settings.balance, patience
        self.tasks = data.tasks  # multi-task data: y has one column per task
        self.task_weights = multitask.weights_for(multitask.parse_weights(train.task_weights), self.tasks)
        if self.tasks and self.balance not in (None, "none"):
            raise CompressError(f"--balance {self.balance}: balances one label; with several tasks (--tasks "
                                f"{','.join(self.tasks)}) use --task-weights and leave --balance none")
        self.log = log or (lambda message: None)
        configure_tensorflow()

    def fit(self, spec: ModelSpec, parent=None, parent_spec: ModelSpec | None = None, epochs: int | None = None,
            patience: int | None = None, lr: float | None = None, teacher_logits: np.ndarray | None = None,
            trained_epochs: int = 0) -> Fit:
        """Train spec (from parent's weights where they fit); returns the model with the best-val-AUC weights, its
        history and what it inherited from the parent.

        teacher_logits (from `teacher_logits`): learn from the teacher's soft outputs as well (distillation).
        trained_epochs: the epochs the parent (the same model, in a race) has had; seeds the shuffles and
        augmentations anew, so training on does not replay the first epochs' draws.
        """
        import tf_keras as keras

        seed = self.seed if not trained_epochs else (self.seed * 1_000_003 + trained_epochs) % 2 ** 31
        keras.utils.set_random_seed(seed)
        model = build_model(spec)
        inherited = {}  # per layer: copied | thinned | factorised | reinitialised (search/inherit.py)
        if parent is not None and parent_spec is not None:
            inherited = inherit_weights(model, spec, parent, parent_spec)
        lr = self.lr if lr is None else lr
        data = self.data_for(spec)
        rng = np.random.default_rng(self.seed)
        x, y, class_weight = balance(data.x_train, data.y_train, self.balance, rng)  # the same draw at every rung
        rng = np.random.default_rng(seed) if trained_epochs else rng
        trained, targets, fit_args = self._compile(keras, model, spec, y, class_weight, lr, teacher_logits)
        best_auc, best_weights, waited, history = -1.0, model.get_weights(), 0, []
        for epoch in range(self.epochs if epochs is None else epochs):
            start = time.monotonic()
            x_epoch = augment(x, rng) if self.augment else x
            fit = trained.fit(x_epoch, targets, batch_size=self.batch_size, epochs=1, verbose=0, shuffle=True,
                              **fit_args)
            loss = float(fit.history["loss"][-1])
            if not math.isfinite(loss):
                raise CandidateError(f"{spec.name or 'the model'}: training diverged: the loss is {loss} after epoch "
                                    f"{epoch + 1} at learning rate {lr:g}; give a lower --lr (--baseline-lr for a "
                                    "baseline trained from scratch)")
            val = self.score(model, split="val", data=data)
            history.append({"epoch": epoch + 1, "loss": loss, "val_auc": val["auc"],
                            "val_accuracy": val["accuracy"], "seconds": round(time.monotonic() - start, 2)})
            self.log(f"    epoch {epoch + 1}: loss {history[-1]['loss']:.4f}  val AUC {val['auc']:.4f}"
                     + (f" (worst task: {val['worst_task']})" if spec.tasks else ""))
            if val["auc"] > best_auc:
                best_auc, best_weights, waited = val["auc"], model.get_weights(), 0
            else:
                waited += 1
                if waited >= (self.patience if patience is None else patience):
                    break
        model.set_weights(best_weights)
        return Fit(model, history, inherited)

    def _compile(self, keras, model, spec: ModelSpec, y, class_weight, lr: float, teacher_logits):
        """(the model to fit, its targets, fit's extra arguments): one loss per task, or the distillation loss on
        the teacher's logits, or plain cross-entropy."""
        trained, targets, fit_args = model, y, {"class_weight": class_weight}
        if spec.tasks:  # one loss per task, summed with --task-weights
            if teacher_logits is not None:
                raise CompressError("distillation is for single-task models; use --no-distill with --tasks")
            targets = self._compile_tasks(keras, model, spec, y, lr)
        elif teacher_logits is None:
            model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
        else:
            trained = _logits_model(keras, model)
            targets = np.concatenate([y[:, None], teacher_logits], 1).astype(np.float32)
            trained.compile(optimizer=keras.optimizers.Adam(lr), loss=distillation_loss)
            fit_args = {"sample_weight": None if class_weight is None else np.array([class_weight[c] for c in y])}
        return trained, targets, fit_args

    def _compile_tasks(self, keras, model, spec: ModelSpec, y: np.ndarray, lr: float) -> dict:
        """One cross-entropy per task's output, weighted by --task-weights; returns each output's labels."""
        outputs = {softmax_name(t): t for t in spec.tasks}
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=dict.fromkeys(outputs, "sparse_categorical_crossentropy"),
                      loss_weights={name: self.task_weights[t] for name, t in outputs.items()})
        return {name: y[:, self._column(t)] for name, t in outputs.items()}

    def teacher_logits(self, teacher) -> np.ndarray:
        """The teacher's logits on the training images, in the order `fit` trains on them (same balancing draw).

        Computed once on the un-augmented images; `fit` pairs them with the augmented ones of each epoch (the
        augmentations keep the label, so the teacher's view of the clean image is a fair target).
        """
        import tf_keras as keras

        x, _, _ = balance(self.data.x_train, self.data.y_train, self.balance, np.random.default_rng(self.seed))
        return _logits_model(keras, teacher).predict(x, batch_size=256, verbose=0)

    def _column(self, task: str) -> int:
        if task not in self.tasks:
            raise CompressError(f"the model predicts task {task!r}, which the data does not label (tasks: "
                                f"{', '.join(self.tasks) or 'one label'})")
        return self.tasks.index(task)

    def data_for(self, spec: ModelSpec):
        """The data as spec's input needs it (smaller images, shorter or slower sensor windows)."""
        return self.data.at_input(spec.input_shape, spec.rate_divisor) if spec.rate_divisor > 1 else \
            self.data.at_input(spec.input_shape)

    def score(self, model, split: str = "val", data=None, spec: ModelSpec | None = None) -> dict:
        """Validation (or test) metrics; a multi-task model's hold every task's under `tasks` and the worst
        task's at the top (compress.search.tasks: the search then makes `auc` relative to the baseline).
        spec: the model's, where its input is read at a lower rate (the model's shape alone cannot say)."""
        if data is None:
            data = self.data_for(spec) if spec is not None else self.data.at_input(model.input_shape[1:])
        x, y = data.split(split)
        probs = model.predict(x, batch_size=256, verbose=0)
        if isinstance(probs, list):
            names = [n.removeprefix(softmax_name() + "_") for n in model.output_names]
            return multitask.worst_raw({t: classification_metrics(y[:, self._column(t)], p, positive=1)
                                        for t, p in zip(names, probs)})
        return classification_metrics(y, probs, positive=1 if probs.shape[1] == 2 else None)


class Evaluator:
    """Trains a candidate from its parent's weights; keeps every trained model's weights on disk for resume."""

    def __init__(self, trainer: Trainer, weights_dir, costing, baseline_epochs: int, baseline_lr: float):
        self.trainer, self.weights_dir, self.costing = trainer, weights_dir, costing
        self.baseline_epochs, self.baseline_lr = baseline_epochs, baseline_lr
        weights_dir.mkdir(parents=True, exist_ok=True)

    def model(self, spec: ModelSpec, key: str | None = None):
        """The trained model of an evaluated spec, rebuilt from its saved weights (key: the evaluation's, where a
        race trained the spec at several rungs)."""
        model = build_model(spec)
        path = self.weights_dir / f"{key or spec.key}.weights.h5"
        if not path.exists():
            raise CompressError(f"{path}: weights of an evaluated model are missing, so this run cannot go on; start "
                                "the search again with another --out (this folder is left as it is)")
        model.load_weights(path)
        return model

    def __call__(self, spec: ModelSpec, parent):
        start = time.monotonic()
        key = evaluation_key(spec, parent)
        given = self.weights_dir / f"{key}.weights.h5"
        promoted = parent is not None and parent.spec.key == spec.key
        fresh = parent is not None and not shares_weights(spec, parent.spec)
        if promoted:  # a race's next rung: the same model trained on from its last rung's weights
            rung = rung_of(parent) + 1
            model, history, inherited = self.trainer.fit(spec, self.model(spec, parent.key), spec,
                                                         epochs=rung_epochs(rung, self.trainer.epochs),
                                                         patience=LONG_PATIENCE,
                                                         trained_epochs=RACE_ETA ** (rung - 1) * self.trainer.epochs)
        elif fresh:  # a new trunk, rung 0 of its race: trained from scratch; the parent's weights are not read
            model, history, inherited = self.trainer.fit(spec, epochs=self.trainer.epochs, patience=LONG_PATIENCE)
        elif parent:
            model, history, inherited = self.trainer.fit(spec, self.model(parent.spec, parent.key), parent.spec)
        elif given.exists():  # a user's trained baseline (jobs saved its weights here): scored as given
            model, history, inherited = self.model(spec), [], {}
        else:  # the baseline sets beta: train it as long as the final model
            model, history, inherited = self.trainer.fit(spec, epochs=self.baseline_epochs, patience=LONG_PATIENCE,
                                                         lr=self.baseline_lr)
        metrics = self.trainer.score(model, "val", spec=spec)
        save_model(model, given, weights_only=True)
        cost = self.costing.cost(spec)
        scratch = fresh or (promoted and bool(parent.extra.get("from_scratch")))
        extra = {"params": cost.params, "arena_bytes": cost.arena_bytes, "flash_bytes": cost.flash_bytes,
                 "epochs": len(history), "train_seconds": round(time.monotonic() - start, 2),
                 "inherited": inherited, **({"from_scratch": True} if scratch else {}),
                 **({"rung": rung} if promoted else {})}
        return metrics, extra


def _logits_model(keras, model):
    """The same layers and weights, ending at the head's logits (before the softmax)."""
    return keras.Model(model.input, model.get_layer(HEAD_NAME).output)


def distillation_loss(y_true, logits):
    """y_true packs [label, teacher logits...]: ALPHA T^2 KL on softened outputs plus (1 - ALPHA) cross-entropy."""
    import tensorflow as tf

    labels, teacher = tf.cast(y_true[:, 0], tf.int32), y_true[:, 1:]
    soft_teacher = tf.nn.softmax(teacher / DISTILL_TEMPERATURE)
    log_soft_student = tf.nn.log_softmax(logits / DISTILL_TEMPERATURE)
    kl = tf.reduce_sum(soft_teacher * (tf.math.log(soft_teacher + 1e-12) - log_soft_student), axis=-1)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return DISTILL_ALPHA * DISTILL_TEMPERATURE ** 2 * kl + (1 - DISTILL_ALPHA) * ce
