"""The outcome of a search as summary.json: baseline and winner on val and test, after the winner's fine-tune."""
from __future__ import annotations

import time

from compress.config import RunConfig
from compress.search.train import LONG_PATIENCE


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


def summarise(config: RunConfig, search, base, winner, evaluator, costing, data, log=print) -> dict:
    """summary.json; with a winner, fine-tune it, save best.keras and best_spec.json, and score it on test."""
    out = evaluator.weights_dir.parent
    trainer = evaluator.trainer
    base_model = evaluator.model(base.spec)
    summary = {
        "status": "goal" if winner else "no-goal", "strategy": config.search.strategy,
        "device": costing.device.name, "budget_flops": config.targets.budget_flops,
        "auc_ratio": config.search.auc_ratio, "beta": search.beta,
        "evaluations": len(search.cache), "trainings_this_run": search.trainings,
        "train_seconds_total": round(sum(ev.extra.get("train_seconds", 0) for ev in search.cache.values()), 1),
        "search_seconds_this_run": round(time.monotonic() - search.started, 1), "stopped": search.exhausted,
        "data": data.name, "class_names": list(data.class_names),
        "baseline": {"name": base.spec.name, **model_entry(costing, base.spec, base.metrics,
                                                            trainer.score(base_model, "test"))},
    }
    if winner is None:
        summary["closest"] = {k: (None if ev is None else {"key": ev.key, "flops": ev.flops, "val_auc": ev.auc,
                                                           "reductions": lineage(search, ev)})
                              for k, ev in search.closest().items()}
        return summary
    final_epochs = config.train.final_epochs
    log(f"fine-tuning the winner ({winner.flops / 1e6:.3f} MFLOPs) for up to {final_epochs} epochs")
    model, history = trainer.fit(winner.spec, evaluator.model(winner.spec), winner.spec, epochs=final_epochs,
                                 patience=LONG_PATIENCE)
    val, test = trainer.score(model, "val"), trainer.score(model, "test")
    model.save(out / "best.keras")
    (out / "best_spec.json").write_text(winner.spec.to_json())
    summary["final"] = {**model_entry(costing, winner.spec, val, test), "reductions": lineage(search, winner),
                        "search_val_auc": winner.auc, "history": history}
    summary["targets"] = [c.to_dict() for c in costing.checks(winner.spec)]
    return summary
