"""Multi-task scores: one AUC per task, and the one number the search ranks and prunes on.

A multi-task model has one floor per task, beta_t = 0.5 + --auc-ratio x (the baseline's AUC on task t - 0.5)
(compress.quality: measured above chance), and is pruned when any task falls below its floor. Each task's share
of the baseline's above-chance AUC turns those K rules into one: the worst task's share >= --auc-ratio. So a
multi-task evaluation's `auc` is that worst share (1.0 for the baseline itself) and beta is --auc-ratio; the raw AUC of every task stays in `tasks`. Every rule of the
single-task search (pruning, goals, the leaderboard, --patience, A*'s AUC-loss cost) then applies unchanged.
"""
from __future__ import annotations

from compress import CompressError, quality


def is_multitask(metrics: dict) -> bool:
    return "tasks" in metrics


def worst_raw(per_task: dict) -> dict:
    """A multi-task model's metrics before any baseline is known: the worst task's own figures, `tasks` all of
    them (the trainer picks epochs on this worst raw AUC)."""
    worst = min(per_task, key=lambda t: per_task[t]["auc"])
    return {**per_task[worst], "worst_task": worst, "tasks": per_task}


def relative(metrics: dict, reference: dict[str, float] | None) -> dict:
    """metrics with `auc` = the worst task's share of the baseline's above-chance AUC on that task; reference None:
    these are the baseline's own metrics (every share 1). Single-task metrics come back unchanged."""
    if not is_multitask(metrics):
        return metrics
    per_task = metrics["tasks"]
    reference = reference or {t: m["auc"] for t, m in per_task.items()}
    ratios = {t: quality.share(per_task[t]["auc"], reference[t]) for t in per_task}
    worst = min(ratios, key=ratios.get)
    own = {k: v for k, v in per_task[worst].items() if k != "auc_ci"}  # an interval of the raw AUC, not of the share
    return {**own, "auc": ratios[worst], "worst_task": worst, "tasks": per_task,
            "ratios": {t: round(r, 6) for t, r in ratios.items()}}


def reference_of(metrics: dict) -> dict[str, float] | None:
    """The per-task AUCs a baseline's metrics set as everyone's reference (None for a single task)."""
    return {t: m["auc"] for t, m in metrics["tasks"].items()} if is_multitask(metrics) else None


def floors(reference: dict[str, float], auc_ratio: float) -> dict[str, float]:
    """beta_t per task."""
    return {t: quality.floor(auc, auc_ratio) for t, auc in reference.items()}


def parse_weights(text: str | None) -> tuple | None:
    """--task-weights as given ('1,2,1', checked by options.weight_list) as numbers; None: not given."""
    return tuple(float(w) for w in text.split(",")) if text else None


def weights_for(weights: tuple | None, tasks: tuple) -> dict[str, float]:
    """--task-weights (one per task, in --tasks order) as {task: weight}; None: every task 1."""
    if weights is None:
        return dict.fromkeys(tasks, 1.0)
    given = ",".join(f"{w:g}" for w in weights)
    if not tasks:
        raise CompressError(f"--task-weights {given}: the data has one label; task weights are for multi-task data")
    if len(weights) != len(tasks):
        raise CompressError(f"--task-weights {given}: {len(weights)} weight(s) for {len(tasks)} task(s) "
                            f"({','.join(tasks)}); give one per task, in the same order")
    if not all(0 <= w < float("inf") for w in weights) or not any(weights):
        raise CompressError(f"--task-weights {given}: weights must be finite, >= 0 and not all 0")
    return dict(zip(tasks, (float(w) for w in weights)))


def describe(reference: dict[str, float], auc_ratio: float) -> str:
    """The baseline's line of a multi-task search: each task's val AUC and floor."""
    per_task = ", ".join(f"{t} {auc:.4f} (beta {quality.floor(auc, auc_ratio):.4f})" for t, auc in reference.items())
    return (f"baseline val AUC per task: {per_task}; a candidate is pruned when any task falls below its beta "
            f"(worst task's share of the baseline's AUC above chance < {auc_ratio})")

