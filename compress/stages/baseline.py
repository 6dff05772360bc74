"""Stage 2, baseline: the baseline evaluated and journaled (or replayed from journal.jsonl on --resume) and
beta worked out from it, so the search is built knowing beta."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from compress import CompressError, files, quality
from compress.config import RunConfig
from compress.console import plural
from compress.search import baseline_cache, tasks
from compress.search.journal import Evaluation, Journal

MIN_BASELINE_AUC = 0.55  # a baseline at or below this has learned next to nothing: beta would mean nothing
# ... and so has one below this that predicts one class for everything (issue 26: val AUC 0.554, precision and
# recall 0). Above it, one predicted class is a ranking learned with an argmax threshold that is off: after a short
# training BN's inference statistics lag (spec.BN_MOMENTUM); the blob data of tests/test_jobs.py gives val AUC 0.81
# with one class predicted after 2 and after 4 epochs, tests/search/test_baseline_cache.py's 0.66. The firmware
# decides by the Youden threshold on val, not by argmax.
MIN_ONE_CLASS_AUC = 0.6


@dataclass(frozen=True)
class Baseline:
    """The baseline's evaluation (its journal row), beta, and what beta is relative to.
    reference: multi-task, the baseline's val AUC per task (every `auc` is a share of it), else None;
    loso: --loso, its scores over every held-out subject; trained: 1 when this process trained it, 0 when
    replayed; started: time.monotonic() when this session's search began."""
    evaluation: Evaluation
    beta: float
    reference: dict | None
    loso: dict | None
    trained: int
    started: float


def baseline(config: RunConfig, out: Path, prepared, setup, log) -> Baseline:
    """Evaluate (or replay) the baseline, then beta = 0.5 + --auc-ratio x (its val AUC - 0.5) (compress.quality;
    its LOSO mean with --loso; --auc-ratio itself for a multi-task run, whose `auc` is already each task's share of
    the baseline's above-chance AUC)."""
    from compress.devices import profiles

    started = time.monotonic()
    spec, space = prepared.baseline, setup.space
    # a zoo or spec baseline trained before on this data with these settings is scored, not trained again
    name = None if prepared.given is not None else baseline_cache.key(spec, prepared.data, config.train, config.data,
                                                                      prepared.trainer.augment)
    kept = None if name is None or config.train.retrain_baseline else baseline_cache.find(name)
    announce(out, config, prepared, space.flops(spec), log, kept)
    evaluation, trained = evaluate(spec, space, setup.evaluator, setup.journal, name, kept)
    if trained:
        progress(evaluation, config, time.monotonic() - started, log)
    reference = tasks.reference_of(evaluation.metrics)
    check_predicts_classes(evaluation.metrics, config, reference or {"": evaluation.auc})
    loso, relative_to = beta_reference(config, spec, out, prepared.data, evaluation.auc, reference, log)
    beta = quality.floor(relative_to, config.search.auc_ratio) if reference is None else config.search.auc_ratio
    text = (tasks.describe(reference, config.search.auc_ratio) if reference else
            f"baseline val AUC {evaluation.auc:.4f}; target beta = 0.5 + {config.search.auc_ratio} x "
            f"({relative_to:.4f} - 0.5) = {beta:.4f}")
    log(f"{text}; budget {space.budget_flops:,.0f} FLOPs on {profiles.get(config.targets.device).name}; "
        f"strategy {config.search.strategy}")
    return Baseline(evaluation, beta, reference, loso, trained, started)


def evaluate(spec, space, evaluator, journal: Journal, name: str | None = None, kept=None) -> tuple[Evaluation, int]:
    """(the baseline's evaluation, 1 if trained now else 0): its journal row where the journal has one, else
    trained in this process and journaled as the search journals every evaluation (a multi-task baseline's
    `auc` is its own share, 1). name: its key in compress.search.baseline_cache; kept: (weights, record) of the
    copy kept there, scored instead of trained (its row keeps the epochs that copy was trained for)."""
    replayed = next((row for row in Journal(journal.path, log=lambda m: None).replay() if row["key"] == spec.key),
                    None)
    if replayed is not None:
        return Evaluation.from_json(replayed), 0
    weights = evaluator.weights_dir / f"{spec.key}.weights.h5" if name is not None else None
    if kept is not None:  # where the Evaluator scores a trained baseline as given
        files.write_bytes(weights, kept[0].read_bytes())
    metrics, extra = evaluator(spec, None)
    if kept is not None:
        extra = {**extra, "epochs": kept[1]["epochs"], "baseline_from": {"path": str(kept[0]), **kept[1]}}
    elif name is not None:
        baseline_cache.store(name, weights, {"spec": spec.key, "epochs": extra["epochs"],
                                             "train_seconds": extra["train_seconds"], "val_auc": metrics["auc"]})
    if name is not None:
        extra = {**extra, "baseline_cache": name}  # scripts/commit_baseline.py finds the kept copy by it
    ev = Evaluation(spec.key, spec, None, "baseline", 0, space.flops(spec), space.fits(spec),
                    tasks.relative(metrics, None), extra)
    journal.append(ev.to_json())
    return ev, 1


def progress(ev: Evaluation, config: RunConfig, elapsed: float, log) -> None:
    """The search's progress line for its first evaluation, as Search prints every later one."""
    from compress.search.session import _clock

    max_evals, max_seconds = config.search.max_evals, config.search.max_minutes * 60
    left = [elapsed * (max_evals - 1)] if max_evals else []
    left += [max(max_seconds - float(ev.extra.get("train_seconds", 0)), 0.0)] if max_seconds else []
    status = (f"[1/{max_evals or '-'}] {_clock(elapsed)} elapsed, ETA "
              f"{'<= ' + _clock(min(left)) if left else 'unknown'}, best goal none yet")
    detail = f"{ev.label:<38s} {ev.flops / 1e6:9.3f} MFLOPs  AUC {ev.auc:.4f} baseline"
    show = getattr(log, "progress", None)
    show(status, detail) if show is not None else log(f"{status}  {detail}")


def announce(out: Path, config: RunConfig, prepared, flops: float, log, kept=None) -> None:
    """Say what the run holds; a user's trained model (given): its weights go where the Evaluator finds them, to
    be scored as given."""
    data, spec, given = prepared.data, prepared.baseline, prepared.given
    if spec.tasks and config.data.loso:
        raise CompressError("--loso: leave-one-subject-out is for single-task wearable runs; multi-task data "
                            "is split by subjects (--holdout-subject picks the test subject)")
    log(f"run folder {out}; data {data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
        f"{len(data.y_test)} test, {plural(data.classes, 'class', 'classes')}"
        + f", tasks {', '.join(spec.tasks)}" * bool(spec.tasks))
    if given is None and kept is not None:
        log(f"baseline {spec.name} ({flops / 1e6:.2f} MFLOPs): the copy trained before "
            f"({plural(kept[1]['epochs'], 'epoch')}, "
            f"{kept[0]}); --retrain-baseline trains it anew")
        return
    if given is None:
        log(f"training baseline {spec.name} ({flops / 1e6:.2f} MFLOPs) until val AUC stops rising, at most "
            f"{plural(config.train.baseline_epochs, 'epoch')}")
        return
    log(f"scoring the given baseline {spec.name} ({flops / 1e6:.2f} MFLOPs)")
    if not (out / "weights" / f"{spec.key}.weights.h5").exists():
        from compress.search.train import save_model

        save_model(given, out / "weights" / f"{spec.key}.weights.h5", weights_only=True)


def beta_reference(config: RunConfig, spec, out: Path, data, val_auc: float, task_aucs: dict | None,
                   log) -> tuple[dict | None, float]:
    """(LOSO scores or None, the AUC beta is relative to): the baseline's val AUC, or with --loso its mean test
    AUC over every held-out subject (search/loso.py); refused when the baseline learned next to nothing.
    Multi-task (task_aucs, each task's val AUC): `auc` is already a share of the baseline's, so 1 (tasks.py)."""
    if not config.data.loso:
        check_learned(min(task_aucs.values()) if task_aucs else val_auc, config)
        return None, val_auc
    if not data.subjects:
        raise CompressError(f"--loso: {config.data.source} has no subjects; use synthetic-wearables or a "
                            "K-EmoCon-layout folder")
    from compress.search import loso

    scores = loso.baseline_scores(spec, config, out, log=log)
    log(f"baseline LOSO AUC {scores['mean']:.4f} +- {scores['sd']:.4f} over {len(scores['per_subject'])} "
        f"subjects; the search selects on the fold holding out {data.holdout}")
    check_learned(scores["mean"], config)
    return scores, scores["mean"]


def one_class_only(metrics: dict, aucs: dict) -> list[str]:
    """The outputs (task names, or '' for a single one) whose predictions on val are one class for everything (a
    confusion matrix with a single non-empty column: precision and recall 0 for every other class) with a val AUC
    (aucs: by output) below MIN_ONE_CLASS_AUC."""
    tables = {"": metrics.get("confusion")} | {t: m.get("confusion") for t, m in (metrics.get("tasks") or {}).items()}
    return [name for name, table in tables.items() if isinstance(table, list) and table and
            aucs.get(name, 0.0) < MIN_ONE_CLASS_AUC and
            sum(any(row[j] for row in table) for j in range(len(table[0]))) <= 1]


def check_predicts_classes(metrics: dict, config: RunConfig, aucs: dict) -> None:
    """Part of "the baseline learned something": an AUC just above chance is not enough when the model predicts
    one class only (issue 26: val AUC 0.554, precision 0 and recall 0); aucs: val AUC by output ('' or task)."""
    constant = one_class_only(metrics, aucs)
    if constant:
        where = f" (task {', '.join(constant)})" if constant != [""] else ""
        raise CompressError(f"the baseline {config.search.baseline} predicts one class for every validation "
                            f"sample{where} (precision and recall 0 for the others) at val AUC < {MIN_ONE_CLASS_AUC}, "
                            "so it has learned next to nothing; train it better first, e.g. another --baseline-lr (now "
                            f"{config.train.baseline_lr:g}), more --baseline-epochs (now {config.train.baseline_epochs})"
                            ", or --balance class-weight for imbalanced data")


def check_learned(auc: float, config: RunConfig) -> None:
    if not auc > MIN_BASELINE_AUC:
        raise CompressError(f"the baseline {config.search.baseline} reached only val AUC {auc:.4f} (<= "
                            f"{MIN_BASELINE_AUC}), barely above chance (0.5), so a floor relative to it would mean "
                            "nothing; "
                            f"train it better first, e.g. another --baseline-lr (now {config.train.baseline_lr:g}) "
                            f"or more --baseline-epochs (now {config.train.baseline_epochs})")
