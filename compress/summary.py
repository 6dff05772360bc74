"""summary.json as one typed record: `RunSummary` is its only reader and writer, so a figure is added in one place.

A search run writes it once per stage that changes it (search, int8, firmware); the report, compare, the
commands and the scripts read its fields. Files from before `schema_version` (docs/default_run) read as version 0.
Base module: no TensorFlow, nothing above compress's base.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from compress import files, quality

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class ModelEntry:
    """One model's figures: the baseline (with its name), the final model (with how it got there) and its int8
    export (val None, test from the int8 model, model_bytes). val/test: metrics as the journal has them."""
    key: str
    flops: float
    macs: int
    params: int
    flash_bytes: int
    arena_bytes: int
    latency_s: float | None
    val: dict | None
    test: dict | None
    name: str | None = None  # the baseline's
    reductions: tuple[str, ...] | None = None  # final and int8: from the baseline to it
    search_val_auc: float | None = None
    history: object = None  # the fine-tune's per-epoch figures
    distilled: bool | None = None
    window: dict | None = None  # a temporal winner: what a device must feed it
    model_bytes: int | None = None  # int8: the .tflite's size

    def to_dict(self) -> dict:
        """Today's keys in today's order: `name` first where set, `val` always (null for int8), the rest if set."""
        out = {"name": self.name} if self.name is not None else {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and (value is not None or f.name in ("val", "test", "latency_s")):
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, entry: dict | None) -> "ModelEntry | None":
        if not entry:
            return None
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in entry.items() if k in known}
        if given.get("reductions") is not None:
            given["reductions"] = tuple(given["reductions"])
        return cls(**{**{f.name: None for f in fields(cls)}, **given})

    def int8(self, test: dict, model_bytes: int) -> "ModelEntry":
        """This (final) model's int8 entry: no val figures, test from the int8 model."""
        return replace(self, val=None, test=test, model_bytes=model_bytes)


def _plain(value):
    """A field's JSON form: records as dicts, tuples as lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _known(cls, entry: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in names}


@dataclass(frozen=True)
class LeaderboardRow:
    """One of the best goals of the search by val AUC, with its cost figures; a finalist also with its val AUC
    after the fine-tune."""
    rank: int
    key: str
    val_auc: float
    flops: float
    params: int
    latency_s: float
    arena_bytes: int
    flash_bytes: int
    reductions: tuple[str, ...]
    fine_tuned_val_auc: float | None = None  # finalists only

    def to_dict(self) -> dict:
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        if self.fine_tuned_val_auc is None:
            del out["fine_tuned_val_auc"]
        return out

    @classmethod
    def from_dict(cls, row: dict) -> "LeaderboardRow":
        return cls(**{**{f.name: None for f in fields(cls)}, **_known(cls, row)})


@dataclass(frozen=True)
class FirmwareEntry:
    """The winner's firmware as generated and checked: its folder (run-relative), int8 model size, the arena
    measured in the TFLite Micro runtime and the one the sketch reserves, its ops, device checks and self-test."""
    sketch_dir: str
    model_bytes: int
    arena_measured_bytes: int
    arena_bytes: int
    ops: tuple[str, ...]
    checks: tuple[dict, ...]
    passed: bool
    self_test_passed: bool

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, entry: dict | None) -> "FirmwareEntry | None":
        return cls(**{**{f.name: None for f in fields(cls)}, **_known(cls, entry)}) if entry else None


@dataclass(frozen=True)
class RunSummary:
    """A search run's outcome, filled stage by stage (compress.stages): the search's figures, baseline and
    leaderboard (and `closest` without a goal); finalise's `final`, `targets`, per-task `tasks`/`task_beta`, `loso`
    and `baseline_preparation`; ship's `int8`, `firmware` and `emulated`. The records other modules produce
    (closest, targets, loso, emulated) are kept as they were written."""
    status: str = "unfinished"
    strategy: str | None = None
    device: str | None = None
    budget_flops: float | None = None
    auc_ratio: float | None = None
    beta: float | None = None
    evaluations: int | None = None
    trainings_this_run: int | None = None
    train_seconds_total: float | None = None
    search_seconds_this_run: float | None = None
    stopped: str = ""
    data: str | None = None
    class_names: tuple[str, ...] = ()
    baseline: ModelEntry | None = None
    leaderboard: tuple[LeaderboardRow, ...] = ()
    closest: dict | None = None  # no goal: the smallest above beta, the best under budget
    tasks: tuple[str, ...] = ()  # multi-task with a winner
    task_beta: dict | None = None
    final: ModelEntry | None = None
    targets: tuple[dict, ...] | None = None
    loso: dict | None = None
    baseline_preparation: dict | None = None
    int8: ModelEntry | None = None
    firmware: FirmwareEntry | None = None
    emulated: dict | None = None
    schema_version: int = SCHEMA_VERSION

    CORE = ("status", "strategy", "device", "budget_flops", "auc_ratio", "beta", "evaluations", "trainings_this_run",
            "train_seconds_total", "search_seconds_this_run", "stopped", "data", "class_names", "baseline",
            "leaderboard")

    def to_dict(self) -> dict:
        """summary.json: the schema version, the core keys, then each later key only where it is set."""
        out = {"schema_version": self.schema_version}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "schema_version" or (f.name not in self.CORE and value in (None, ())):
                continue
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, found: dict) -> "RunSummary":
        """A summary.json's object; one without `schema_version` is version 0 (the same keys, written before it)."""
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in found.items() if k in known}
        for name in ("baseline", "final", "int8"):
            given[name] = ModelEntry.from_dict(given.get(name))
        for name in ("class_names", "tasks"):
            given[name] = tuple(given.get(name) or ())
        given["leaderboard"] = tuple(LeaderboardRow.from_dict(row) for row in given.get("leaderboard") or ())
        given["firmware"] = FirmwareEntry.from_dict(given.get("firmware"))
        if given.get("targets") is not None:
            given["targets"] = tuple(given["targets"])
        return cls(**{**given, "schema_version": int(found.get("schema_version", 0))})

    def int8_floor(self):
        """What the int8 model's test AUC must keep: the floor (compress.quality) of the baseline's *test* AUC (per task for a
        multi-task run; beta is a val figure, and val and test can differ by more than the slack on a few
        subjects); a summary without the baseline's test figures: beta."""
        test = (self.baseline.test if self.baseline else None) or {}
        if "tasks" in test:
            return {t: quality.floor(m["auc"], self.auc_ratio) for t, m in test["tasks"].items()}
        return quality.floor(test["auc"], self.auc_ratio) if "auc" in test else self.beta


def write_summary(run_dir, summary: RunSummary) -> Path:
    """Write run_dir/summary.json atomically (a kill never leaves half of it)."""
    return files.write_json(Path(run_dir) / SUMMARY_FILE, summary.to_dict())


def _schema():
    """What summary.json may hold: the fields the report, compare and export read, typed and ranged; the records
    other modules write (closest, targets, loso, emulated, ...) as objects; unknown fields (a newer version) kept."""
    from compress import validate as v

    # AUCs finite: a multi-task run's are shares of the baseline's (compress.search.tasks), below 0 or above 1
    size, auc, share = v.whole(0), v.number(), v.optional(v.number(low=0, high=1))
    metrics = v.optional(v.record(optional_fields={"auc": auc, "tasks": v.mapping(v.record({"auc": auc}, extra=True))},
                                  extra=True))
    entry = v.record(optional_fields={
        "key": v.text(), "name": v.optional(v.text()), "flops": v.number(low=0), "macs": size, "params": size,
        "flash_bytes": size, "arena_bytes": size, "latency_s": v.optional(v.number(low=0)), "val": metrics,
        "test": metrics, "reductions": v.optional(v.list_of(v.text())), "search_val_auc": v.optional(auc),
        "model_bytes": v.optional(size), "window": v.optional(v.record(extra=True))}, extra=True)
    row = v.record({"rank": v.whole(1), "key": v.text(), "val_auc": auc, "flops": v.number(low=0), "params": size,
                    "latency_s": v.number(low=0), "arena_bytes": size, "flash_bytes": size,
                    "reductions": v.list_of(v.text())}, {"fine_tuned_val_auc": v.optional(auc)}, extra=True)
    records = {name: v.optional(v.record(extra=True))
               for name in ("closest", "task_beta", "loso", "baseline_preparation", "firmware", "emulated")}
    return v.record(optional_fields=records | {
        "schema_version": v.whole(0, SCHEMA_VERSION), "status": v.text(), "beta": share, "auc_ratio": share,
        "budget_flops": v.optional(v.number(low=0)), "evaluations": v.optional(size), "stopped": v.text(),
        "class_names": v.optional(v.list_of(v.text())), "tasks": v.optional(v.list_of(v.text())),
        "baseline": v.optional(entry), "final": v.optional(entry), "int8": v.optional(entry),
        "leaderboard": v.optional(v.list_of(row)), "targets": v.optional(v.list_of(v.record(extra=True)))},
        extra=True)


def read_summary(run_dir) -> RunSummary | None:
    """run_dir/summary.json, or None where the run has none yet; one CompressError line naming the file and the
    field where it is not a summary (compress.validate)."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    return RunSummary.from_dict(files.read_json(path, _schema(), what="run summary"))
