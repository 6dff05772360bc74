"""The bench's figures: mean and 95 % t-interval per task x arm, the Markdown table and the AUC-vs-FLOPs plot.

bench.json (schema "compress-bench/1"):
    {"schema": "compress-bench/1", "code": <git commit the rows ran on>, "tasks": {task: {"ceiling": float|null,
     "seeds": [int], "arms": {arm: {"runs": [row, ...], "summary": {figure: {"mean", "low", "high", "n"}}}}}}}
    row: {"seed", "val_auc", "test_auc", "flops", "instructions", "trainings", "epochs", "wall_s", "code", ...}
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

SCHEMA = "compress-bench/1"
FIGURES = ("val_auc", "test_auc", "flops", "instructions", "trainings", "epochs", "wall_s")
ARMS = ("search", "dscnn", "dscnn+kd", "random", "baseline")


def interval(values) -> dict:
    """Mean and the 95 % Student-t interval of the mean; one value gives no interval (low = high = None)."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not values:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(values)}


def summarise(runs: list[dict]) -> dict:
    return {figure: interval([run.get(figure) for run in runs]) for figure in FIGURES}


def _auc(cell: dict) -> str:
    if cell["mean"] is None:
        return "—"
    if cell["low"] is None:
        return f"{cell['mean']:.3f} (1 seed)"
    return f"{cell['mean']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}]"


def _number(cell: dict, scale: float = 1.0, digits: int = 0) -> str:
    return "—" if cell["mean"] is None else f"{cell['mean'] / scale:,.{digits}f}"


def markdown(bench: dict) -> str:
    """One row per task x arm: test and val AUC with 95 % intervals, then the means of the cost figures. A search
    that met no goal ships nothing: `results / seeds` says how many seeds have a shipped model."""
    lines = ["| task | arm | results / seeds | int8 test AUC [95 % CI] | val AUC [95 % CI] | MFLOPs | emulated M instr. | "
             "trainings | epochs | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for task, entry in bench["tasks"].items():
        for arm in ARMS:
            if arm not in entry["arms"]:
                continue
            s = entry["arms"][arm]["summary"]
            runs = len(entry["arms"][arm]["runs"])
            lines.append(f"| {task} | {arm} | {s['test_auc']['n']}/{runs} | {_auc(s['test_auc'])} | {_auc(s['val_auc'])} | "
                         f"{_number(s['flops'], 1e6, 3)} | {_number(s['instructions'], 1e6, 2)} | "
                         f"{_number(s['trainings'])} | {_number(s['epochs'])} | {_number(s['wall_s'])} |")
    ceilings = [f"{task} {entry['ceiling']:.3f}" for task, entry in bench["tasks"].items() if entry.get("ceiling")]
    if ceilings:
        lines += ["", "AUC ceiling from label noise: " + ", ".join(ceilings) + "."]
    return "\n".join(lines)


def plot(bench: dict, path) -> None:
    """Test AUC against FLOPs, one panel per task, the 95 % interval as a vertical bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(bench["tasks"])
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.2 * max(len(tasks), 1), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        entry = bench["tasks"][task]
        for arm in ARMS:
            if arm not in entry["arms"]:
                continue
            s = entry["arms"][arm]["summary"]
            auc, flops = s["test_auc"], s["flops"]
            if auc["mean"] is None or flops["mean"] is None:
                continue
            err = None if auc["low"] is None else [[auc["mean"] - auc["low"]], [auc["high"] - auc["mean"]]]
            ax.errorbar([flops["mean"]], [auc["mean"]], yerr=err, fmt="o", capsize=4, label=arm)
        if entry.get("ceiling"):
            ax.axhline(entry["ceiling"], color="grey", linestyle=":", label="label-noise ceiling")
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("FLOPs per inference")
        ax.set_ylabel("int8 test AUC")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
