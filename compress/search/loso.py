"""Leave-one-subject-out evaluation of a spec on wearable data: mean +- SD test AUC over held-out subjects.

Each fold trains the architecture from scratch (Keras' initialisers, the same seed, epochs and learning rate for
every spec) on the other subjects, stops on its validation subjects and scores the held-out subject's windows.
Baseline and winner go through the same recipe, so their difference is the architecture's alone. A search
selects on one fold (the first subject held out); with --loso it reports full LOSO for both at the end.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from compress import files, validate as v
from compress.config import RunConfig
from compress.search.train import LONG_PATIENCE, Trainer


def fold_scores(spec, config: RunConfig, log=print) -> dict:
    """{'per_subject': {subject: test AUC}, 'mean', 'sd' (sample SD, ddof 1), 'seconds'} over every subject."""
    from compress.data.dataset import load
    from compress.data.wearable_data import subjects

    start, per_subject = time.monotonic(), {}
    train = config.train
    for subject in subjects(config.data):
        data = load(dataclasses.replace(config.data, holdout_group=subject))
        trainer = Trainer(data, dataclasses.replace(train, epochs=train.final_epochs, lr=train.baseline_lr),
                          config.data)
        model = trainer.fit(spec, patience=LONG_PATIENCE).model
        per_subject[subject] = trainer.score(model, "test", spec=spec)["auc"]
        log(f"    LOSO {spec.name or 'model'} held out {subject}: test AUC {per_subject[subject]:.4f}")
    aucs = np.array(list(per_subject.values()))
    return {"per_subject": per_subject, "mean": float(aucs.mean()), "sd": float(aucs.std(ddof=1)),
            "seconds": round(time.monotonic() - start, 1)}


BASELINE_FILE = "loso_baseline.json"
_SCORES = v.record({"key": v.text(), "per_subject": v.mapping(v.number(0, 1)), "mean": v.number(0, 1),
                    "sd": v.optional(v.number(low=0))}, extra=True)


def read_scores(path) -> dict:
    """loso_baseline.json, checked (one line naming the file and the field: delete it and it is computed again)."""
    return files.read_json(path, _SCORES, what="LOSO scores file (delete it to compute them again)")


def baseline_scores(spec, config: RunConfig, out: Path, log=print) -> dict:
    """The baseline's LOSO scores, kept in loso_baseline.json so a resumed run does not train them again."""
    path = Path(out) / BASELINE_FILE
    if path.exists():
        stored = read_scores(path)
        if stored.get("key") == spec.key:
            return stored
    log(f"leave-one-subject-out: training the baseline {spec.name} on every fold")
    scores = {"key": spec.key, **fold_scores(spec, config, log)}
    files.write_json(path, scores)
    return scores


def summary(config: RunConfig, base_scores: dict, winner_spec, holdout: str, log=print) -> dict:
    """summary.json's 'loso' entry: the baseline's and (with a winner) the winner's scores over every subject."""
    entry = {"selection": f"the search selected on one fold: {holdout} held out (its validation subjects pick "
                          "epochs and candidates); the scores below are full LOSO",
             "recipe": f"each fold from scratch: up to {config.train.final_epochs} epochs at Adam "
                       f"{config.train.baseline_lr:g}, best validation epoch",
             "baseline": base_scores}
    if winner_spec is not None:
        log("leave-one-subject-out: training the winner's architecture on every fold")
        entry["winner"] = {"key": winner_spec.key, **fold_scores(winner_spec, config, log)}
    return entry


def markdown(entry: dict) -> str:
    """The LOSO lines printed under the search table."""
    lines = ["", "## Leave-one-subject-out", "", entry["selection"] + "; " + entry["recipe"] + ".", "",
             "| model | mean AUC | SD | subjects |", "|---|---|---|---|"]
    for name in ("baseline", "winner"):
        if name in entry:
            s = entry[name]
            lines.append(f"| {name} | {s['mean']:.4f} | {s['sd']:.4f} | {len(s['per_subject'])} |")
    return "\n".join(lines)
