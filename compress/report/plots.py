"""Figures of a search run (matplotlib, Agg): Pareto plot, search tree, per-layer cost, learning curves,
confusion matrices, saliency maps and run comparison. Each figure function writes one PNG and returns its path."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress import files

# status -> (colour, marker, legend text); the same everywhere so every figure reads alike
STYLE = {"baseline": ("#222222", "s", "baseline"), "pruned": ("#d62728", "x", "pruned (AUC < \u03b2)"),
         "kept": ("#1f77b4", "o", "kept (AUC \u2265 \u03b2, over a target)"),
         "goal": ("#2ca02c", "D", "goal (fits, AUC \u2265 \u03b2)")}
WINNER_COLOUR = "#ff9f1c"
TREE_PLOT_MAX_NODES = 80  # beyond this the tree is only given as text: a taller figure stops being legible


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8})
    return plt


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_with(path, lambda staged: fig.savefig(staged, dpi=130, bbox_inches="tight"))  # all or nothing
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def human(value: float, unit: str = "") -> str:
    """82,700,000 -> '82.7 M'; 5,452 -> '5.45 k'."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def pareto_front(points) -> list[int]:
    """Indices of the (FLOPs, AUC) points no other point beats on both (fewer-or-equal FLOPs, higher AUC)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _front_line(ax, flops, aucs, **style) -> None:
    front = pareto_front(list(zip(flops, aucs)))
    ax.step([flops[i] for i in front], [aucs[i] for i in front], where="post", **style)


def _label(ax, text: str, x: float, y: float, middle: float, left: bool) -> None:
    """A label beside a point, above it in the lower half of the plot and below it in the upper half."""
    dy = 14 if y < middle else -16
    ax.annotate(text, (x, y), xytext=(-14 if left else 14, dy), textcoords="offset points",
                ha="right" if left else "left", va="bottom" if dy > 0 else "top",
                arrowprops=dict(arrowstyle="-", color="#222222", lw=0.8))


# --- the search -----------------------------------------------------------------------------------

def pareto(nodes: list[dict], beta: float, budget_flops: float, path, winner_key=None, final_auc=None,
           winner_label: str = "winner", ylabel: str = "validation ROC AUC") -> Path:
    """Every evaluated candidate as FLOPs (log) vs val AUC; nodes carry key, flops, auc, status."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    nodes = [n for n in nodes if np.isfinite(n["auc"])]  # NaN: a single-class split; nothing to place
    flops, aucs = [n["flops"] for n in nodes], [n["auc"] for n in nodes]
    ax.axvspan(min(flops + [budget_flops]) / 2, budget_flops, ymin=0, ymax=1, color="#2ca02c", alpha=0.06, lw=0)
    _front_line(ax, flops, aucs, color="#888888", lw=1.2, label="Pareto front (val AUC vs FLOPs)")
    for status, (colour, marker, text) in STYLE.items():
        pts = [n for n in nodes if n["status"] == status]
        if pts:
            ax.scatter([n["flops"] for n in pts], [n["auc"] for n in pts], c=colour, marker=marker,
                       s=60 if status == "baseline" else 30, label=f"{text}: {len(pts)}", zorder=3)
    ax.axhline(beta, color="#d62728", ls="--", lw=1, label=f"\u03b2 = {beta:.4f}")
    ax.axvline(budget_flops, color="#2ca02c", ls="--", lw=1, label=f"budget {human(budget_flops, 'FLOPs')}")
    low, high = min(aucs + [beta]), max(aucs + [beta] + ([final_auc] if final_auc is not None else []))
    pad = max(0.02, 0.08 * (high - low))
    ax.set_ylim(low - pad, high + pad)
    base = next((n for n in nodes if n["status"] == "baseline"), None)
    if base:
        _label(ax, "baseline", base["flops"], base["auc"], (low + high) / 2, left=True)
    win = next((n for n in nodes if n["key"] == winner_key), None)
    if win:
        ax.scatter([win["flops"]], [win["auc"]], s=260, marker="*", c=WINNER_COLOUR, edgecolors="k", zorder=4,
                   label=f"{winner_label} (AUC in the search)")
        if final_auc is not None:
            ax.annotate("", (win["flops"], final_auc), xytext=(win["flops"], win["auc"]),
                        arrowprops=dict(arrowstyle="->", color=WINNER_COLOUR, lw=1.5))
            ax.scatter([win["flops"]], [final_auc], s=140, marker="*", facecolors="none", edgecolors="k",
                       zorder=4, label=f"{winner_label} after fine-tune")
        _label(ax, winner_label, win["flops"], win["auc"], (low + high) / 2, left=False)
    ax.set_xscale("log")
    ax.set_xlim(min(flops + [budget_flops]) / 1.6, max(flops) * 1.6)
    ax.set_xlabel("FLOPs per inference (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{len(nodes)} evaluated candidates (shaded: within the FLOPs budget)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path)


def tree_order(nodes: list[dict]) -> list[tuple[dict, int]]:
    """(node, depth) in pre-order, children in evaluation order; a node whose parent is missing is a root."""
    keys = {n["key"] for n in nodes}
    children: dict = {}
    for n in nodes:
        children.setdefault(n["parent"] if n["parent"] in keys else None, []).append(n)
    out, stack = [], [(n, 0) for n in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        out.append((node, depth))
        stack += [(c, depth + 1) for c in reversed(children.get(node["key"], []))]
    return out


def search_tree(nodes: list[dict], path, winner_path=(), winner_label: str = "winner") -> Path:
    """One row per evaluation in tree order, elbow lines from parent to child; nodes carry order, label, flops, auc,
    status, parent; winner_path: the keys from the baseline to the winner, drawn thick."""
    plt = pyplot()
    rows = tree_order(nodes)
    row_of = {n["key"]: (i, d) for i, (n, d) in enumerate(rows)}
    depth = max(d for _, d in rows)
    unit = 0.35  # inches per depth step
    width = (depth + 1) * unit + 5.2
    fig, ax = plt.subplots(figsize=(width, 0.24 * len(rows) + 0.9))
    on_path = set(winner_path)
    for i, (n, d) in enumerate(rows):
        if n["parent"] in row_of:
            pi, pd = row_of[n["parent"]]
            thick = n["key"] in on_path and n["parent"] in on_path
            ax.plot([pd, pd, d], [-pi, -i, -i], color=WINNER_COLOUR if thick else "#999999",
                    lw=2.4 if thick else 0.9, zorder=1)
        colour, marker, _ = STYLE[n["status"]]
        ax.scatter([d], [-i], c=colour, marker=marker, s=28, zorder=3)
        text = f"#{n['order']} {n['label']}   {human(n['flops'], 'FLOPs')}   AUC {n['auc']:.3f}"
        text += {"pruned": "   pruned", "goal": "   goal"}.get(n["status"], "")
        if n["key"] == (winner_path[-1] if winner_path else None):
            text += f"   \u2605 {winner_label}"
        ax.text(d + 0.25, -i, text, va="center", fontsize=8,
                color="#888888" if n["status"] == "pruned" else "#111111",
                fontweight="bold" if n["key"] in on_path else "normal")
    ax.set_xlim(-0.4, depth + 5.2 / unit)
    ax.set_ylim(-len(rows) + 0.4, 0.8)
    ax.axis("off")
    handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=t) for c, m, t in STYLE.values()]
    handles.append(plt.Line2D([], [], color=WINNER_COLOUR, lw=2.4, label=f"path to the {winner_label}"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    ax.set_title("Search tree: #n = order of evaluation; each child is one reduction of its parent", pad=34)
    return save_figure(fig, path)


# --- the models -----------------------------------------------------------------------------------

def compare_runs(runs: list[dict], path) -> Path:
    """runs: name, flops, aucs (every evaluation), budget_flops (None: a latency-bounded run, no FLOPs line); one
    colour and one Pareto front per run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shared = len({r["budget_flops"] for r in runs}) == 1 and runs[0]["budget_flops"] is not None
    for i, run in enumerate(runs):
        colour = colours[i % len(colours)]
        ax.scatter(run["flops"], run["aucs"], s=18, color=colour, alpha=0.55, label=f"{run['name']} "
                   f"({len(run['flops'])} evaluations)")
        _front_line(ax, run["flops"], run["aucs"], color=colour, lw=1.4)
        if not shared and run["budget_flops"] is not None:
            ax.axvline(run["budget_flops"], color=colour, ls=":", lw=1.2,
                       label=f"{run['name']} budget {human(run['budget_flops'], 'FLOPs')}")
    if shared:
        ax.axvline(runs[0]["budget_flops"], color="#555555", ls="--", lw=1,
                   label=f"budget {human(runs[0]['budget_flops'], 'FLOPs')}")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per inference (log scale)")
    ax.set_ylabel("validation ROC AUC")
    ax.set_title("Runs compared: every evaluated candidate, with each run's Pareto front")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path)
