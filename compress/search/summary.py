"""The outcome of a search as summary.json: the leaderboard, its finalists fine-tuned, the winner on val and test."""
from __future__ import annotations

import time
from dataclasses import replace

from compress import files
from compress.config import RunConfig
from compress.console import plural
from compress.summary import LeaderboardRow, ModelEntry, RunSummary
from compress.search import tasks
from compress.search.train import LONG_PATIENCE, SCRATCH_FINAL_FACTOR, save_model

LEADERBOARD_SIZE = 10  # goals listed in summary.json and the report


def fine_tuned_weights(weights_dir, key: str):
    """Where a finalist's weights after its fine-tune are kept (weights/<key>.weights.h5 holds the search's), so
    `export RUN --pick ID` can deploy any finalist as fine-tuned as the winner."""
    return weights_dir / f"{key}.fine-tuned.weights.h5"


def lineage(search, ev) -> list[str]:
    """Reduction labels from the baseline to ev, in the order they were applied."""
    labels = []
    while ev is not None and ev.parent is not None:
        labels.append(ev.label)
        ev = search.cache.get(ev.parent)
    return labels[::-1]


def model_entry(costing, spec, val: dict, test: dict) -> dict:
    cost = costing.cost(spec)
    return {"key": spec.key, "flops": cost.flops, "macs": cost.macs, "params": cost.params,
            "flash_bytes": cost.flash_bytes, "arena_bytes": cost.arena_bytes,
            "latency_s": costing.latency_s(spec), "val": val, "test": test}


def leaderboard(search, costing) -> list[LeaderboardRow]:
    """The best goals by val AUC in the search, with their cost figures."""
    rows = []
    for rank, ev in enumerate(search.leaderboard(LEADERBOARD_SIZE), 1):
        cost = costing.cost(ev.spec)
        rows.append(LeaderboardRow(rank, ev.key, ev.auc, cost.flops, cost.params, costing.latency_s(ev.spec),
                                   cost.arena_bytes, cost.flash_bytes, tuple(lineage(search, ev))))
    return rows


def summarise(config: RunConfig, search, base, winner, evaluator, costing, data, log=print) -> RunSummary:
    """summary.json; with goals, fine-tune the finalists, keep the best on val as best.keras, score it on test.
    base: the baseline stage's result (its evaluation, whether this process trained it, when the search began)."""
    trainer = evaluator.trainer
    base_model = evaluator.model(base.evaluation.spec)
    base_test = tasks.relative(trainer.score(base_model, "test"), None)  # multi-task: every `auc` relative
    summary = RunSummary(
        status="goal" if winner else "no-goal", strategy=config.search.strategy,
        device=costing.device.name, budget_flops=config.targets.budget_flops,
        auc_ratio=config.search.auc_ratio, beta=search.beta,
        evaluations=len(search.cache), trainings_this_run=base.trained + search.trainings,
        train_seconds_total=round(search.seconds_used, 1),
        search_seconds_this_run=round(time.monotonic() - base.started, 1), stopped=search.exhausted,
        data=data.name, class_names=tuple(data.class_names),
        baseline=ModelEntry(name=base.evaluation.spec.name,
                            **model_entry(costing, base.evaluation.spec, base.evaluation.metrics, base_test)),
        leaderboard=tuple(leaderboard(search, costing)))
    if winner is None:
        return replace(summary, closest={k: (None if ev is None else {"key": ev.key, "flops": ev.flops,
                                                                      "val_auc": ev.auc,
                                                                      "reductions": lineage(search, ev)})
                                         for k, ev in search.closest().items()})
    return _final(config, search, summary, evaluator, costing, data, base_model, base_test, log)


def _final(config: RunConfig, search, summary: RunSummary, evaluator, costing, data, base_model, base_test,
           log) -> RunSummary:
    """The finalists fine-tuned; the best on val saved (best.keras, best_spec.json) and scored on test."""
    out = evaluator.weights_dir.parent
    reference = search.reference  # multi-task: the baseline's val AUC per task; None for one task
    model, final, tuned = _fine_tune_finalists(config, search, evaluator, base_model, log)
    board = tuple(replace(row, fine_tuned_val_auc=tuned[row.key]) if row.key in tuned else row
                  for row in summary.leaderboard)
    save_model(model, out / "best.keras")
    files.write_text(out / "best_spec.json", final["spec"].to_json())
    ev = final["evaluation"]
    test = tasks.relative(evaluator.trainer.score(model, "test", spec=ev.spec), tasks.reference_of(base_test))
    window = None
    if ev.spec.temporal and data.rate_hz is not None:  # what a device must feed the winner: its own window
        rate = data.rate_hz / ev.spec.rate_divisor
        window = {"samples": ev.spec.input_shape[0], "rate_hz": rate, "seconds": ev.spec.input_shape[0] / rate}
    entry = ModelEntry(**model_entry(costing, ev.spec, final["val"], test), reductions=tuple(lineage(search, ev)),
                       search_val_auc=ev.auc, history=final["history"], distilled=final["distilled"], window=window)
    return replace(summary, leaderboard=board, tasks=tuple(reference or ()),
                   task_beta=tasks.floors(reference, config.search.auc_ratio) if reference else None,
                   final=entry, targets=tuple(c.to_dict() for c in costing.checks(ev.spec)))


def finalists(search, count: int) -> list:
    """The best `count` goals, and the best goal trained from scratch (a family move's new trunk) if none of them
    is: in the search it had more epochs than the others' 3 but far fewer than the baseline the others inherit
    from, so its rank there understates it (compress/search/race.py)."""
    chosen = search.leaderboard(min(count, LEADERBOARD_SIZE))
    fresh = [ev for ev in search.leaderboard() if ev.extra.get("from_scratch")]
    if fresh and not any(ev.extra.get("from_scratch") for ev in chosen):
        chosen.append(fresh[0])
    return chosen


def _fine_tune_finalists(config: RunConfig, search, evaluator, base_model, log):
    """Fine-tune the finalists (distilled from the baseline unless turned off or the finalist already scores above
    it); the best on val wins. A trunk trained from scratch goes on for SCRATCH_FINAL_FACTOR x --final-epochs.
    (model, what it is, {key: each finalist's val AUC after its fine-tune})."""
    trainer = evaluator.trainer
    distill = config.train.distill and not search.reference  # distillation is single-task (train.py)
    if config.train.distill and not distill:
        log("the fine-tune does not distill: distillation is for single-task models")
    teacher = trainer.teacher_logits(base_model) if distill else None
    teacher_auc = next(ev.auc for ev in search.cache.values() if ev.parent is None)
    best, tuned = None, {}
    for rank, ev in enumerate(finalists(search, config.search.finalists), 1):
        # a student already above its teacher on val only learns the teacher's mistakes (4class, seed 0: a new
        # trunk at val 0.869 fell to 0.862 distilled from a baseline at 0.810)
        learns = teacher if teacher is not None and ev.auc < teacher_auc else None
        how = "with distillation from the baseline" if learns is not None else "without distillation" + (
            f" (it scores above the baseline's val AUC {teacher_auc:.4f})" if teacher is not None else "")
        scratch = bool(ev.extra.get("from_scratch"))
        epochs = config.train.final_epochs * (SCRATCH_FINAL_FACTOR if scratch else 1)
        log(f"fine-tuning finalist {rank} ({ev.flops / 1e6:.3f} MFLOPs, val AUC {ev.auc:.4f} in the search"
            f"{', a new trunk' if scratch else ''}) for up to {plural(epochs, 'epoch')} {how}")
        model, history, _ = trainer.fit(ev.spec, evaluator.model(ev.spec, ev.key), ev.spec, epochs=epochs,
                                     patience=LONG_PATIENCE, teacher_logits=learns)
        save_model(model, fine_tuned_weights(evaluator.weights_dir, ev.key), weights_only=True)
        val = tasks.relative(trainer.score(model, "val", spec=ev.spec), search.reference)
        tuned[ev.key] = val["auc"]
        if best is None or val["auc"] > best[1]["val"]["auc"]:
            best = (model, {"spec": ev.spec, "evaluation": ev, "val": val, "history": history,
                            "distilled": learns is not None})
    share = " (the worst task's share of the baseline's)" if search.reference else ""
    log(f"winner: finalist with val AUC {best[1]['val']['auc']:.4f}{share} after its fine-tune")
    return (*best, tuned)
