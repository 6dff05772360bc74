"""A run folder read back: its configuration, journal rows in evaluation order, summary and export report."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from compress import CompressError, quality
from compress.config import CONFIG_FILE, RunConfig, read_run_config
from compress.deploy.export import REPORT_FILE
from compress.deploy.export_report import read_report
from compress.models.spec import ModelSpec
from compress.search.journal import Journal, goal_rank, is_goal
from compress.search.space import Costing
from compress.summary import RunSummary, read_summary


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _read_export(path: Path) -> dict | None:
    """export.json, or None where there is none or it is damaged (the report is drawn without it, saying so)."""
    if not path.exists():
        return None
    try:
        return read_report(path)
    except CompressError as exc:
        _warn(f"warning: {exc}; the report leaves it out")
        return None


@dataclass
class Run:
    """A run folder: config, journal rows in evaluation order, and summary / export.json once finished."""
    path: Path
    config: RunConfig | None  # None: the folder has no config.json
    rows: list[dict]
    summary: RunSummary | None  # None: the run has no summary.json yet
    exported: dict | None
    _data: list = field(default_factory=list, repr=False)

    @property
    def settings(self) -> RunConfig:
        """The run's configuration, or the defaults where its folder has none."""
        return self.config or RunConfig()

    @property
    def baseline(self) -> dict:
        return next((r for r in self.rows if r["parent"] is None), self.rows[0])

    @property
    def beta(self) -> float:
        """The summary's (as the search stored it); for a run without one, the floor of the baseline's val AUC."""
        if self.summary:
            return float(self.summary.beta)
        return quality.floor(self.baseline["val"]["auc"], self.settings.search.auc_ratio)

    def status(self, row: dict) -> str:
        if row["parent"] is None:
            return "baseline"
        if row["val"]["auc"] < self.beta:
            return "pruned"  # the cs231n study's rule (Shved 2019): the search never expands it
        return "goal" if is_goal(row["fits"], row["val"]["auc"], self.beta) else "kept"

    def row(self, key) -> dict | None:
        return next((r for r in self.rows if r["key"] == key), None)

    def winner(self) -> dict | None:
        """The summary's final model; in a run without a summary, the best goal so far (as Search.best_goal)."""
        if self.summary:
            return self.row(self.summary.final.key if self.summary.final else None)
        goals = [r for r in self.rows if is_goal(r["fits"], r["val"]["auc"], self.beta)]
        return max(goals, key=lambda r: goal_rank(r["val"]["auc"], r["flops"]), default=None)

    def focus(self) -> tuple[dict | None, str]:
        """The model the per-model sections describe, and what to call it."""
        win = self.winner()
        if win:
            return win, "winner" if self.summary else "winner so far"
        good = [r for r in self.rows if r["parent"] is not None and r["val"]["auc"] >= self.beta]
        return min(good, key=lambda r: r["flops"], default=None), "closest (fewest FLOPs with AUC >= beta)"

    def lineage(self, row: dict | None) -> list[dict]:
        chain = []
        while row is not None and row not in chain:
            chain.append(row)
            row = self.row(row["parent"])
        return chain[::-1]

    def data(self):
        """The run's data set, reloaded from config.json (cached on disk by compress.data)."""
        if not self._data:
            from compress.data.dataset import load

            if self.config is None:
                raise CompressError(f"{self.path / CONFIG_FILE}: missing, so the run's data set is unknown")
            self._data.append(load(self.config.data))
        return self._data[0]

    def class_names(self, classes: int) -> list[str]:
        if self.summary and self.summary.class_names:
            return list(self.summary.class_names)
        if self.exported and self.exported.get("class_names"):
            return list(self.exported["class_names"])
        try:
            return list(self.data().class_names)
        except (CompressError, OSError, ValueError):
            return [f"class {i}" for i in range(classes)]


def load_run(run_dir) -> Run:
    path = Path(run_dir)
    if not path.is_dir():
        raise CompressError(f"{path}: no such run folder")
    journal = path / "journal.jsonl"
    if not journal.exists():
        raise CompressError(f"{journal}: no journal; not a search run folder, or its search has not evaluated "
                            "anything yet")
    rows = Journal(journal, log=_warn).replay()
    if not rows:
        raise CompressError(f"{journal}: no evaluation recorded yet")
    return Run(path, read_run_config(path), rows, _read_summary(path), _read_export(path / REPORT_FILE))


def _read_summary(path: Path) -> RunSummary | None:
    try:
        return read_summary(path)
    except CompressError as exc:  # damaged or edited by hand: the report is drawn from the journal instead
        _warn(f"warning: {exc}; the report leaves it out")
        return None


def estimates(run: Run, row: dict) -> tuple[float, list[dict]]:
    """Latency and target checks of a journal row, as the search computed them (for runs without a summary)."""
    costing, spec = Costing(run.settings.targets), ModelSpec.from_dict(row["spec"])
    return costing.latency_s(spec), [c.to_dict() for c in costing.checks(spec)]


def search_nodes(run: Run) -> list[dict]:
    return [{"key": r["key"], "parent": r["parent"], "order": i, "flops": r["flops"], "auc": r["val"]["auc"],
             "status": run.status(r),
             "label": r["reduction"] if r["parent"] else f"baseline ({r['spec'].get('name') or 'model'})"}
            for i, r in enumerate(run.rows, 1)]




def saved_model(run: Run, key: str):
    """(Keras model, what it is) of a journal row: the fine-tuned winner (`best.keras`), a finalist's weights after its
    fine-tune, or the weights the search trained; one line naming the missing file otherwise."""
    from compress.search.summary import fine_tuned_weights

    best = run.path / "best.keras"
    if run.summary and run.summary.final and run.summary.final.key == key and best.exists():
        from compress.models.keras_io import load_keras

        return load_keras(best), "the fine-tuned winner (`best.keras`)"
    tuned = fine_tuned_weights(run.path / "weights", key)
    weights = tuned if tuned.exists() else run.path / "weights" / f"{key}.weights.h5"
    if not weights.exists():
        raise CompressError(f"{weights}: missing")
    from compress.models.keras_build import build_model

    model = build_model(ModelSpec.from_dict(run.row(key)["spec"]))
    model.load_weights(weights)
    how = "after its fine-tune" if weights == tuned else "as the search trained them, not fine-tuned"
    return model, f"`weights/{weights.name}` ({how})"


def picked(run_dir, pick: int):
    """(Keras model, what it is) of the leaderboard's goal `pick` (the id the terminal and the report print)."""
    run = load_run(run_dir)
    board = run.summary.leaderboard if run.summary else ()
    if not board:
        raise CompressError(f"{run.path}: no leaderboard to pick from (summary.json is missing or lists no goal)")
    row = next((r for r in board if r.rank == pick), None)
    if row is None:
        raise CompressError(f"--pick {pick}: the leaderboard of {run.path} has ids 1 to {len(board)}")
    try:
        return saved_model(run, row.key)
    except CompressError as exc:
        raise CompressError(f"--pick {pick}: the weights of goal {pick} are not kept in {run.path} ({exc})") from None
