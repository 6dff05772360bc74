"""Trainer: metrics, weight inheritance (kept filters equal the parent's) and a short deterministic fit."""
import numpy as np
import pytest

from compress.data.dataset import Dataset
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec
from compress.data.metrics import classification_metrics
from compress.models.graph import layer_shapes
from compress.models.keras_build import build_model
from compress.search.inherit import inherit_weights
from compress.config import TrainConfig
from compress.search.train import Trainer


def blobs(n, side=16, seed=0):
    """Bright blob top-left (class 1) or bottom-right (class 0): learnable in one epoch."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0.3, 0.1, (n, side, side, 1)).astype("float32")
    half = side // 2
    for i, label in enumerate(y):
        if label:
            x[i, :half, :half] += 0.5
        else:
            x[i, half:, half:] += 0.5
    return np.clip(x, 0, 1), y.astype("int64")


@pytest.fixture(scope="module")
def tiny_data():
    parts = [blobs(n, seed=s) for n, s in ((192, 1), (64, 2), (64, 3))]
    return Dataset("blobs", ("dark", "bright"), *parts[0], *parts[1], *parts[2])


def net():
    return ModelSpec((16, 16, 1), 2, (
        Layer("conv", "conv1", units=8, kernel=5), Layer("bn", "bn1"), Layer("relu", "relu1"),
        Layer("maxpool", "pool1", kernel=2, stride=2, padding="valid"),
        Layer("conv", "conv2", units=6, kernel=3), Layer("relu", "relu2"),
        Layer("flatten", "flatten"), Layer("dense", "fc", units=8), Layer("relu", "fc_relu")), name="net")


def test_metrics_binary_and_multiclass_by_hand():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = classification_metrics(np.array([0, 1, 1, 0]), probs)
    # positive scores 0.1, 0.8, 0.4, 0.7 -> pairs (pos, neg): (0.8>0.1, 0.8>0.7, 0.4>0.1, 0.4<0.7) -> AUC 3/4
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["confusion"] == [[1, 1], [1, 1]]
    three = classification_metrics(np.array([0, 1, 2]), np.eye(3))
    assert three["auc"] == 1.0 and three["accuracy"] == 1.0


def test_multiclass_auc_takes_int8_scores_that_do_not_sum_to_one():
    """A dequantized int8 softmax is off by 1/256 steps; it must score like sklearn's macro one-vs-rest."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    probs = rng.dirichlet(np.ones(4), size=40) + np.eye(4)[y] * 0.3
    probs /= probs.sum(axis=1, keepdims=True)
    expected = roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert classification_metrics(y, probs)["auc"] == pytest.approx(expected)
    int8 = np.round(probs * 256) / 256  # rows now sum to 1 +- a few steps: sklearn refuses them
    assert not np.allclose(int8.sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        roc_auc_score(y, int8, multi_class="ovr", average="macro")
    assert classification_metrics(y, int8)["auc"] == pytest.approx(expected, abs=0.02)


def test_children_keep_the_parents_strongest_filters():
    parent_spec = net()
    parent = build_model(parent_spec, seed=0)
    child_spec = next(r.spec for r in reductions(parent_spec) if r.label == "conv1 filters 8\u21924")
    child = build_model(child_spec, seed=1)
    status = inherit_weights(child, child_spec, parent, parent_spec)
    assert status == {"conv1": "thinned", "bn1": "thinned", "conv2": "thinned", "fc": "copied", "head": "copied"}
    kernel, bias = parent.get_layer("conv1").get_weights()
    keep = np.sort(np.argsort(-np.abs(kernel).sum(axis=(0, 1, 2)))[:4])
    np.testing.assert_array_equal(child.get_layer("conv1").get_weights()[0], kernel[..., keep])
    np.testing.assert_array_equal(child.get_layer("bn1").get_weights()[0],
                                  parent.get_layer("bn1").get_weights()[0][keep])
    # conv2 now reads only the kept channels; its own filters are all still there.
    np.testing.assert_array_equal(child.get_layer("conv2").get_weights()[0],
                                  parent.get_layer("conv2").get_weights()[0][:, :, keep, :])
    np.testing.assert_array_equal(child.get_layer("head").get_weights()[0], parent.get_layer("head").get_weights()[0])


def test_thinned_conv_before_flatten_maps_dense_rows():
    parent_spec = net()
    parent = build_model(parent_spec, seed=0)
    child_spec = next(r.spec for r in reductions(parent_spec) if r.label == "conv2 filters 6\u21923")
    child = build_model(child_spec, seed=1)
    inherit_weights(child, child_spec, parent, parent_spec)
    keep = np.sort(np.argsort(-np.abs(parent.get_layer("conv2").get_weights()[0]).sum(axis=(0, 1, 2)))[:3])
    rows = (np.arange(8 * 8)[:, None] * 6 + keep[None, :]).reshape(-1)
    np.testing.assert_array_equal(child.get_layer("fc").get_weights()[0], parent.get_layer("fc").get_weights()[0][rows])


def test_an_inherited_child_predicts_like_its_parent_when_nothing_changed_shape():
    parent_spec = net()
    parent = build_model(parent_spec, seed=0)
    child_spec = next(r.spec for r in reductions(parent_spec) if r.label == "conv2 stride 1\u21922")
    assert layer_shapes(child_spec)[5][2] != layer_shapes(parent_spec)[5][2]  # flatten input changed: fc restarts
    x = blobs(4)[0]
    same = build_model(parent_spec, seed=3)
    inherit_weights(same, parent_spec, parent, parent_spec)
    np.testing.assert_allclose(same.predict(x, verbose=0), parent.predict(x, verbose=0), atol=1e-6)


def test_fit_learns_and_is_deterministic(tiny_data):
    trainer = Trainer(tiny_data, TrainConfig(epochs=2, batch_size=32))
    model_a, history, _ = trainer.fit(net())
    auc_a = trainer.score(model_a, "val")["auc"]
    model_b = trainer.fit(net()).model
    assert auc_a > 0.8
    assert len(history) >= 1 and {"loss", "val_auc"} <= set(history[0])
    np.testing.assert_allclose(model_a.get_weights()[0], model_b.get_weights()[0], atol=1e-6)


def test_fit_returns_what_the_child_inherited(tiny_data):
    from compress.search.inherit import STATUSES

    trainer = Trainer(tiny_data, TrainConfig(epochs=1, batch_size=32))
    parent = trainer.fit(net())
    assert parent.inherited == {}  # from scratch
    child_spec = next(r.spec for r in reductions(net()) if r.label == "conv2 stride 1\u21922")
    child = trainer.fit(child_spec, parent.model, net())
    assert child.inherited["conv1"] == "copied" and set(child.inherited.values()) <= set(STATUSES)
    assert not hasattr(trainer, "inherited")


def test_resolution_reduction_trains_on_resized_data(tiny_data):
    spec = net().replace(input_shape=(12, 12, 1))
    trainer = Trainer(tiny_data, TrainConfig(epochs=1, batch_size=32))
    model = trainer.fit(spec).model
    assert model.input_shape[1:] == (12, 12, 1)
    assert 0.0 <= trainer.score(model, "test")["auc"] <= 1.0


def test_distillation_loss_is_hintons_formula_by_hand():
    import tensorflow as tf

    from compress.search.train import DISTILL_ALPHA, DISTILL_TEMPERATURE, distillation_loss

    teacher, student, label = np.array([2.0, -1.0]), np.array([0.5, 0.3]), 1
    soft = lambda z: np.exp(z / DISTILL_TEMPERATURE) / np.exp(z / DISTILL_TEMPERATURE).sum()  # noqa: E731
    p, q = soft(teacher), soft(student)
    kl = float(np.sum(p * np.log(p / q)))
    ce = float(-np.log(np.exp(student[label]) / np.exp(student).sum()))
    expected = DISTILL_ALPHA * DISTILL_TEMPERATURE ** 2 * kl + (1 - DISTILL_ALPHA) * ce
    y_true = tf.constant([[label, *teacher]], tf.float32)
    got = float(distillation_loss(y_true, tf.constant([student], tf.float32))[0])
    assert got == pytest.approx(expected, rel=1e-5)


def test_a_student_learns_from_a_teachers_logits(tiny_data):
    spec = ModelSpec((16, 16, 1), 2, (Layer("conv", "c1", units=4, kernel=3), Layer("relu", "r1"),
                                       Layer("flatten", "flat")))
    trainer = Trainer(tiny_data, TrainConfig(epochs=2, lr=1e-2))
    teacher = trainer.fit(spec).model
    logits = trainer.teacher_logits(teacher)
    assert logits.shape == (len(tiny_data.y_train), 2)
    student, history, _ = trainer.fit(spec, epochs=2, teacher_logits=logits)
    assert len(history) == 2 and np.isfinite(history[-1]["loss"])
    assert trainer.score(student)["auc"] > 0.6


def test_training_on_draws_new_shuffles_and_keeps_the_first_rung_reproducible(tiny_data):
    """A race's later rung (trained_epochs > 0) must not replay the first epochs' shuffles; rung 0 stays as it was."""
    trainer = Trainer(tiny_data, TrainConfig(epochs=1, batch_size=32))
    start = trainer.fit(net(), epochs=1).model
    on = [trainer.fit(net(), start, net(), epochs=1, patience=1, trained_epochs=t).history[0]["loss"] for t in (0, 0, 1)]
    assert on[0] == on[1] and on[2] != on[0]
