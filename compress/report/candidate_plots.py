"""Figures of what the device sees: every candidate's val AUC against latency, arena and flash, and the memory
budget of the model the report describes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress.report.plots import STYLE, WINNER_COLOUR, pyplot, save_figure

# candidate fields drawn on the x axes: (field, axis label, limit key)
AXES = (("latency_ms", "latency per inference, ms (log)", "latency_ms"),
        ("arena_bytes", "model's tensor arena, bytes (log)", "arena_bytes"),
        ("flash_bytes", "model's flash, bytes (log)", "flash_bytes"))


def candidates(nodes: list[dict], beta: float, limits: dict, path, winner: dict | None = None,
               measured_ms: float | None = None, latency_label: str = "estimated") -> Path:
    """nodes: status, auc and the AXES fields; limits: the model's share of each device limit (None: no line);
    winner: the winner's node, starred; measured_ms: its latency as emulated, drawn beside the estimate."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    nodes = [n for n in nodes if np.isfinite(n["auc"])]
    for ax, (field, label, limit_key) in zip(axes, AXES):
        for status, (colour, marker, text) in STYLE.items():
            pts = [n for n in nodes if n["status"] == status and n.get(field)]
            if pts:
                ax.scatter([n[field] for n in pts], [n["auc"] for n in pts], c=colour, marker=marker,
                           s=50 if status == "baseline" else 24, label=text, zorder=3)
        if winner and winner.get(field):
            ax.scatter([winner[field]], [winner["auc"]], s=220, marker="*", c=WINNER_COLOUR, edgecolors="k",
                       zorder=4, label="winner")
        if field == "latency_ms" and winner and measured_ms:
            ax.scatter([measured_ms], [winner["auc"]], s=90, marker="P", c="#9467bd", edgecolors="k", zorder=5,
                       label="winner, emulated (measured)")
        if limits.get(limit_key):
            ax.axvline(limits[limit_key], color="#2ca02c", ls="--", lw=1, label="limit (model's share)")
        ax.axhline(beta, color="#d62728", ls="--", lw=1, label="\u03b2")
        ax.set_xscale("log")
        ax.set_xlabel(label.replace("latency", f"{latency_label} latency", 1))
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("validation ROC AUC")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False,
               bbox_to_anchor=(0.5, -0.08))
    fig.suptitle("Every candidate against what the device limits")
    fig.tight_layout()
    return save_figure(fig, path)


def memory(budgets: dict, device: str, path) -> Path:
    """budgets: {memory: (model bytes, runtime allowance bytes, limit bytes)}; one bar per memory, as % of its limit."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.9 * len(budgets) + 1.2))
    names = list(budgets)
    for i, name in enumerate(names):
        own, allowance, limit = budgets[name]
        parts = (("model", own, WINNER_COLOUR), ("runtime allowance", allowance, "#7f7f7f"),
                 ("free", max(limit - own - allowance, 0), "#e8f5e9"))
        left = 0.0
        for j, (label, size, colour) in enumerate(parts):
            share = 100 * size / limit
            ax.barh(i, share, left=left, color=colour, edgecolor="#444444", label=label if i == 0 else None)
            if share > 6:
                ax.text(left + share / 2, i, f"{size:,} B", ha="center", va="center", fontsize=8)
            left += share
    ax.axvline(100, color="#d62728", lw=1.2)
    ax.set_yticks(range(len(names)), [f"{n}\n(limit {budgets[n][2]:,} B)" for n in names])
    ax.set_xlabel(f"share of {device}'s limit, %")
    ax.set_xlim(0, max(105, max(100 * (o + a) / lim for o, a, lim in budgets.values()) + 5))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)
