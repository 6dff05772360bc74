"""Multi-task scoring: a beta per task, pruning when any task falls below its own, ranking by the worst ratio."""
import numpy as np
import pytest

from compress import CompressError
from compress.models.spec import Layer, ModelSpec
from compress.search import tasks
from compress.search.journal import Journal
from compress.search.session import Search
from compress.search.space import Space

TASKS = ("arousal", "dominance", "valence")


def per_task(**aucs):
    return {t: {"auc": a, "accuracy": a, "precision": a, "recall": a} for t, a in aucs.items()}


def test_auc_is_the_worst_tasks_share_of_the_baselines():
    base = tasks.worst_raw(per_task(arousal=0.80, dominance=0.70, valence=0.90))
    assert base["auc"] == 0.70 and base["worst_task"] == "dominance"  # before a baseline: the worst raw AUC
    assert tasks.relative(base, None)["auc"] == pytest.approx(1.0)  # the baseline against itself
    reference = tasks.reference_of(base)
    # above chance valence lost 45 % of its AUC, dominance 35 %: valence decides, although its AUC is higher
    child = tasks.relative(tasks.worst_raw(per_task(arousal=0.80, dominance=0.63, valence=0.72)), reference)
    assert child["auc"] == pytest.approx(0.55) and child["worst_task"] == "valence"
    assert child["tasks"]["dominance"]["auc"] == 0.63  # every task's own figures stay
    assert tasks.floors(reference, 0.8) == pytest.approx({"arousal": 0.74, "dominance": 0.66, "valence": 0.82})
    single = {"auc": 0.7}
    assert tasks.relative(single, reference) is single


def test_task_weights_must_match_the_tasks():
    assert tasks.weights_for(None, TASKS) == {"arousal": 1.0, "dominance": 1.0, "valence": 1.0}
    assert tasks.weights_for((1, 2, 0.5), TASKS)["dominance"] == 2.0
    with pytest.raises(CompressError, match="--task-weights 1,2: 2 weight.* for 3 task"):
        tasks.weights_for((1, 2), TASKS)
    with pytest.raises(CompressError, match="not all 0"):
        tasks.weights_for((0, 0, 0), TASKS)


def _spec(units):
    layers = [Layer("dense", "fc", units=units)] + [Layer("dense", f"{t}_fc", units=2, inputs=("fc",)) for t in TASKS]
    return ModelSpec((4, 1, 1), 2, [Layer("flatten", "flatten")] + layers, tasks=TASKS,
                     heads=tuple(f"{t}_fc" for t in TASKS))


class Fake:
    """Per-task AUCs by the width of the trunk: at 4 units valence drops to 0.7 of its baseline AUC."""
    AUCS = {16: (0.80, 0.70, 0.90), 8: (0.78, 0.68, 0.85), 4: (0.79, 0.69, 0.63)}

    def __call__(self, spec, parent):
        aucs = self.AUCS[spec.layers[1].units]
        return tasks.worst_raw(per_task(**dict(zip(TASKS, aucs)))), {"train_seconds": 1.0}


def test_the_search_prunes_on_any_task_and_survives_a_resume(tmp_path):
    space = Space(lambda s: (), lambda s: s.layers[1].units * 100.0, lambda s: True, 1e9, lambda s: ())
    journal = Journal(tmp_path / "journal.jsonl")
    search = Search(space, Fake(), beta=0.0, journal=journal, log=lambda m: None)
    base = search.evaluate(_spec(16), None, "baseline")
    assert base.auc == pytest.approx(1.0) and search.reference == {"arousal": 0.8, "dominance": 0.7, "valence": 0.9}
    search.beta = 0.8
    half = search.evaluate(_spec(8), base, "fc units 16->8")
    quarter = search.evaluate(_spec(4), half, "fc units 8->4")
    assert half.auc == pytest.approx(0.35 / 0.40) and search.is_goal(half)  # valence: shares above chance
    assert quarter.auc == pytest.approx(0.13 / 0.40) and not search.is_goal(quarter)  # valence < its beta
    assert quarter.metrics["worst_task"] == "valence" and min(quarter.metrics["tasks"]["arousal"]["auc"],
                                                                quarter.metrics["tasks"]["dominance"]["auc"]) > 0.6
    resumed = Search(space, Fake(), beta=0.8, journal=Journal(tmp_path / "journal.jsonl"), log=lambda m: None)
    assert resumed.reference == search.reference
    assert resumed.evaluate(_spec(4), half, "again").auc == quarter.auc and resumed.trainings == 0


def test_the_trainer_fits_one_loss_per_task_and_scores_each():
    from dataclasses import dataclass

    from compress.data.dataset import Dataset
    from compress.config import DataConfig, TrainConfig
    from compress.search.train import Trainer

    @dataclass
    class ThreeTasks(Dataset):
        tasks: tuple = TASKS
        augmentable = False

        def at_input(self, shape):
            return self

    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 4, 1, 1)).astype(np.float32)
    y = np.stack([(x[:, k, 0, 0] > 0).astype(np.int64) for k in range(3)], 1)  # task k: the sign of sample k
    data = ThreeTasks("three", ("low", "high"), x[:160], y[:160], x[160:200], y[160:200], x[200:], y[200:])
    trainer = Trainer(data, TrainConfig(epochs=2, batch_size=16, lr=1e-2, task_weights="1,1,0"))
    model, history, _ = trainer.fit(_spec(16))
    scores = trainer.score(model, "test")
    assert set(scores["tasks"]) == set(TASKS) and len(history) >= 1
    assert scores["tasks"]["arousal"]["auc"] > 0.8 and scores["tasks"]["dominance"]["auc"] > 0.8
    assert scores["tasks"]["valence"]["auc"] < 0.75  # its loss weighed nothing: it learned (next to) nothing
    assert scores["auc"] == min(m["auc"] for m in scores["tasks"].values())
    with pytest.raises(CompressError, match="--balance oversample"):
        Trainer(data, settings=DataConfig(balance="oversample"))
