"""The bench's arms that are not a `compress search` of their own: results read from a search run, the DS-CNN
trained from scratch (optionally distilled from the search's baseline), and each task's label-noise ceiling."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np


def mean_auc(metrics: dict | None) -> float | None:
    """A single-task model's AUC, or a multi-task model's mean over its tasks of each task's own (raw) AUC."""
    if not metrics:
        return None
    per_task = metrics.get("tasks")
    if isinstance(per_task, dict):
        return float(np.mean([m["auc"] for m in per_task.values()]))
    return float(metrics["auc"])


def winner_epochs(run) -> int:
    """Epochs the search's winner received in all: every training on its path from the baseline, plus its fine-tune
    (scripts/from_scratch.py counts the same). A search without a winner: its baseline's epochs plus a fine-tune's,
    the least any winner would have had."""
    if run.summary.final is None:
        return run.baseline["epochs"] + run.settings.train.final_epochs
    return len(run.summary.final.history or []) + sum(row["epochs"] for row in run.lineage(run.winner()))


def search_result(folder: Path, wall_s: float | None, baseline: bool = False) -> dict:
    """The bench row of a finished search run (or, baseline=True, of its baseline)."""
    from compress.report.run import load_run

    run = load_run(folder)
    s = run.summary
    if baseline:
        row = run.baseline
        return {"val_auc": mean_auc(s.baseline.val), "test_auc": mean_auc(s.baseline.test), "flops": s.baseline.flops,
                "instructions": None, "trainings": 1, "epochs": row["epochs"], "wall_s": row["train_seconds"],
                "shipped": "float (the baseline does not fit the device)"}
    exported = run.exported  # export.json, read with the run folder
    emulated = s.emulated or {}
    done = s.final is not None
    return {"val_auc": mean_auc(s.final.val) if done else None,
            "test_auc": mean_auc(exported["metrics"]["int8"]) if exported else None,
            "float_test_auc": mean_auc(s.final.test) if done else None,
            "flops": s.final.flops if done else None, "instructions": emulated.get("instructions"),
            "trainings": s.evaluations, "epochs": winner_epochs(run),
            "wall_s": round(wall_s, 1) if wall_s is not None else None, "status": s.status,
            "reductions": list(s.final.reductions or ()) if done else []}


def _dscnn_spec(config, data):
    from compress.models import zoo
    from compress.models.families import ds_cnn, widest
    from compress.search.space import Costing

    costing = Costing(config.targets)

    def make(width):
        spec = ds_cnn(data.input_shape, data.classes, width)
        return zoo.with_tasks(spec, data.tasks) if data.tasks else spec

    spec = widest(make, costing.fits)
    if spec is None:
        raise SystemExit(f"no DS-CNN passes every target of {config.targets.device}")
    return spec, costing


def _teacher(search_dir: Path, trainer, run):
    """The search's baseline (the teacher every distilled arm of this seed learns from), rebuilt from its weights."""
    from compress.models.keras_build import build_model
    from compress.models.spec import ModelSpec

    spec = ModelSpec.from_dict(run.baseline["spec"])
    model = build_model(spec)
    model.load_weights(search_dir / "weights" / f"{run.baseline['key']}.weights.h5")
    return trainer.teacher_logits(model)


def dscnn_arm(search_dir: Path, folder: Path, *, epochs: int, distill: bool, log) -> dict:
    """The DS-CNN at the widest width that passes every target, from scratch for `epochs` (no early stop, the
    best val epoch kept), distilled from the search's baseline if asked; shipped as int8 and emulated."""
    from compress.data.dataset import load
    from compress.deploy.emulator import emulate_winner
    from compress.deploy.export import export_int8
    from compress.devices import latency, profiles
    from compress.report.run import load_run
    from compress.search.train import Trainer

    run = load_run(search_dir)
    config = run.settings
    data = load(config.data)
    spec, costing = _dscnn_spec(config, data)
    if distill and data.tasks:
        return {"skipped": "distillation is for single-task models", "flops": costing.flops(spec)}
    start = time.monotonic()
    train = dataclasses.replace(config.train, epochs=epochs)
    trainer = Trainer(data, train, config.data, augment=True, patience=epochs, log=log)
    teacher = _teacher(search_dir, trainer, run) if distill else None
    model, history, _ = trainer.fit(spec, teacher_logits=teacher)
    val = trainer.score(model, "val", spec=spec)
    folder.mkdir(parents=True, exist_ok=True)
    report = export_int8(model, data, folder, seed=config.data.seed)
    device = profiles.get(config.targets.device)
    emulated = emulate_winner(folder / "model_int8.tflite", config.targets.kernels, device,
                              latency.cycles_per_instruction(device, config.targets.kernels, None),
                              costing.cost(spec).arena_bytes, log=log)
    (folder / "spec.json").write_text(spec.to_json())
    return {"val_auc": mean_auc(val), "test_auc": mean_auc(report["metrics"]["int8"]),
            "float_test_auc": mean_auc(report["metrics"]["float"]), "flops": costing.flops(spec),
            "instructions": emulated.get("instructions"), "trainings": 1, "epochs": len(history),
            "wall_s": round(time.monotonic() - start, 1), "width": spec.layers[0].units}


def ceiling(task: str, out: Path) -> float | None:
    """The best AUC any model can reach on the generated faces, whose labels are flipped at LABEL_NOISE: a
    perfect score of the true class against the noisy labels, simulated at the task's class priors."""
    if task not in ("faces", "4class"):
        return None
    from sklearn.metrics import roc_auc_score

    from compress.data.faces import LABEL_NOISE

    rng = np.random.default_rng(0)
    n, classes = 200_000, (2 if task == "faces" else 4)
    priors = (0.5, 0.5) if task == "faces" else (0.25,) * 4  # binary: half the faces smile (data/image_data.py)
    true = rng.choice(classes, n, p=priors)
    flip = rng.uniform(size=n) < LABEL_NOISE
    other = (true + rng.integers(1, classes, n)) % classes
    noisy = np.where(flip, other, true)
    scores = np.eye(classes)[true]
    if classes == 2:
        return float(roc_auc_score(noisy, scores[:, 1]))
    return float(roc_auc_score(noisy, scores, multi_class="ovr", average="macro"))
