"""journal.jsonl (one line per finished evaluation, never rewritten), its rows, and the one goal rule.

A candidate whose training raised is a row too (keras-tuner's failed trial): `"status": "failed"` and the error
instead of `val`. It counts as an evaluation (--max-evals, --resume replays it) but is never a goal nor expanded.
"""
from __future__ import annotations

import errno
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from compress import CandidateError, CompressError
from compress import validate as v
from compress.models.spec import ModelSpec
from compress.validate import checked, parse_json


FAILED = "failed"  # a row's status when its candidate's training raised


def is_candidate_error(exc: BaseException) -> bool:
    """An error of the candidate's own training (journaled as failed; the search goes on), not of the run: a bad
    setting (CompressError), the disk or run folder (OSError), memory and Ctrl-C still stop the search. A
    CandidateError (a diverged loss) is the candidate's own."""
    if isinstance(exc, CandidateError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, (CompressError, OSError, MemoryError))


def describe_error(exc: BaseException) -> str:
    """The one line a failed row keeps: 'ValueError: what it said'."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def evaluation_key(spec: ModelSpec, parent: "Evaluation | None") -> str:
    """A journal row's key: the spec's, except where a race (compress.search.race) trains its parent's model on
    for a later rung: then `<spec key>@<rung>`, so each rung is its own row and its own weights file."""
    if parent is not None and parent.spec.key == spec.key:
        return f"{spec.key}@{rung_of(parent) + 1}"
    return spec.key


def rung_of(ev: "Evaluation") -> int:
    """The race rung an evaluation trained at: 0 for every evaluation but a race's promotions."""
    return int(ev.extra.get("rung", 0))


def is_goal(fits: bool, auc: float, beta: float) -> bool:
    """A goal passes every device target (cost only) and keeps validation AUC >= beta."""
    return bool(fits) and auc >= beta


def goal_rank(auc: float, flops: float) -> tuple:
    """How goals are ordered, best last: higher val AUC, then fewer FLOPs. Test data never decides."""
    return auc, -flops


@dataclass
class Evaluation:
    key: str
    spec: ModelSpec
    parent: str | None
    label: str
    depth: int
    flops: float
    fits: bool  # every device target passes (cost only)
    metrics: dict  # validation metrics: auc, accuracy, precision, recall, confusion
    extra: dict = field(default_factory=dict)  # params, arena_bytes, train_seconds, ...

    @property
    def failed(self) -> bool:
        """Its training raised: no metrics, and below every beta."""
        return self.extra.get("status") == FAILED

    @property
    def auc(self) -> float:
        return -math.inf if self.failed else float(self.metrics["auc"])

    def to_json(self) -> dict:
        val = {} if self.failed else {"val": self.metrics}
        return {"key": self.key, "parent": self.parent, "reduction": self.label, "depth": self.depth,
                "flops": self.flops, "fits": self.fits, **val, **self.extra, "spec": self.spec.to_dict()}

    @classmethod
    def from_json(cls, row: dict) -> "Evaluation":
        known = {"key", "parent", "reduction", "depth", "flops", "fits", "val", "spec"}
        metrics = {} if row.get("status") == FAILED else row["val"]
        return cls(row["key"], ModelSpec.from_dict(row["spec"]), row["parent"], row["reduction"], row["depth"],
                   row["flops"], row["fits"], metrics, {k: v for k, v in row.items() if k not in known})


_METRICS = v.record({"auc": v.number()}, extra=True)  # multi-task: a share of the baseline's, may pass 1 or 0
_ROW = v.record({"key": v.text(), "parent": v.optional(v.text()), "reduction": v.text(), "depth": v.whole(0),
                 "flops": v.number(low=0), "fits": v.boolean, "spec": v.record(extra=True)}, {"val": _METRICS},
                extra=True)


def check_row(row, where: str) -> dict:
    """A journal row as Evaluation.to_json writes it (a spec that is a network; a finite val AUC unless the
    candidate failed); one CompressError line naming `where` and the field otherwise."""
    row = checked(row, _ROW, where)
    if row.get("status") != FAILED and "val" not in row:
        checked(row, v.record({"val": _METRICS}, extra=True), where)
    try:
        ModelSpec.from_dict(row["spec"])
    except CompressError as exc:
        raise CompressError(f"{where}: spec: {exc}" if where else f"spec: {exc}") from None
    return row


class Journal:
    """journal.jsonl: one line per finished evaluation, flushed and fsynced at once; never rewritten."""

    def __init__(self, path: Path, log: Callable[[str], None] = print):
        self.path, self.log = Path(path), log

    def replay(self, failed: bool = False) -> list[dict]:
        """The rows in order; failed: with the failed candidates' rows too (the search's count), else the
        evaluations that have scores only (what reports read)."""
        if not self.path.exists():
            return []
        rows = []
        for number, line in enumerate(self.path.read_bytes().decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = check_row(parse_json(line, "the line"), "")
                if failed or row.get("status") != FAILED:
                    rows.append(row)
            except CompressError as exc:
                self.log(f"warning: {self.path} line {number} is corrupt ({exc}); ignored, that evaluation will "
                         "be redone")
        return rows

    def append(self, row: dict) -> None:
        """One whole line or nothing: a failed or short write (a full disk) is cut back off the file, so the
        earlier rows stay readable; a kill can still leave half a line, which replay skips and the next append
        starts after."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(row) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and not self._ends_with_newline():
                line = b"\n" + line
            try:
                done = 0
                while done < len(line):
                    done += os.write(fd, line[done:])
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, size)
                if exc.errno == errno.ENOSPC:
                    raise CompressError(f"{self.path}: no space left on the device; the journal keeps every "
                                        "evaluation before this one: free some space and add --resume") from None
                raise
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
