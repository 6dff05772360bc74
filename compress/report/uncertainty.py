"""How sure the AUCs are: each with its 95 % bootstrap interval and sample count, a warning where a split is small,
and the int8 check's verdict with a warning where the baseline it is measured against is no better than chance."""
from __future__ import annotations

from compress.data.metrics import AUC_RESAMPLES, FEW_SAMPLES, includes_chance
from compress.report.doc import Doc
from compress.report.run import Run

METHOD = (f"95 % intervals: percentile bootstrap, {AUC_RESAMPLES:,} resamples drawn within each class, seed 0 "
          "(`compress/data/metrics.py`, `auc_interval`)")


def interval(metrics: dict | None) -> list[float] | None:
    """A metrics dict's recorded AUC interval; None where none was recorded (or its `auc` is a multi-task share)."""
    if not metrics or "tasks" in metrics:
        return None
    found = metrics.get("auc_ci")
    return list(found) if found else None


def samples(metrics: dict | None) -> int | None:
    """How many samples a metrics dict was computed on (its confusion matrix's total)."""
    if not metrics or not metrics.get("confusion"):
        return None
    return int(sum(sum(row) for row in metrics["confusion"]))


def auc_text(auc: float, metrics: dict | None) -> str:
    """'0.8746 [0.851, 0.897]', or the AUC alone where no interval was recorded."""
    ci = interval(metrics)
    return f"{auc:.4f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _per_task(name: str, split: str, metrics: dict | None) -> list[tuple]:
    """(model, split, metrics) rows: one, or one per task of a multi-task model."""
    if not metrics:
        return []
    if "tasks" in metrics:
        return [(f"{name} [{task}]", split, m) for task, m in metrics["tasks"].items()]
    return [(name, split, metrics)]


def _entries(run: Run) -> list[tuple]:
    s = run.summary
    if not s:
        win, label = run.focus()
        base = run.baseline
        found = _per_task("baseline", "val", base["val"])
        return found + (_per_task(label, "val", win["val"]) if win else [])
    found = [row for split in ("val", "test") for row in _per_task("baseline", split, s.baseline.val if split == "val"
                                                                      else s.baseline.test)]
    if s.final:
        found += _per_task("final", "val", s.final.val) + _per_task("final", "test", s.final.test)
    if s.int8:
        found += _per_task("final int8", "test", s.int8.test)
    return found


def intervals_section(doc: Doc, run: Run) -> None:
    doc.h("AUC intervals and sample sizes")
    rows, small, missing = [], set(), 0
    for name, split, m in _entries(run):
        ci, n = interval(m), samples(m)
        missing += ci is None
        if n is not None and n < FEW_SAMPLES:
            small.add(f"{split} ({n})")
        rows.append([name, split, f"{m['auc']:.4f}", f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "not recorded",
                     "-" if n is None else f"{n:,}"])
    doc.table(["model", "split", "AUC", "95 % interval", "samples"], rows)
    doc.p(METHOD + "." + (" Intervals marked not recorded: the run's files predate them; a new `search` (or "
                          "`export`) records them." if missing else ""))
    if small:
        doc.p(f"**Warning: small split**: {', '.join(sorted(small))} has fewer than {FEW_SAMPLES} samples, so its "
              "AUC is uncertain to a few hundredths or more; read the intervals, not the fourth decimal.")
    _int8_check(doc, run)


def _int8_check(doc: Doc, run: Run) -> None:
    """The int8 model against its floor (from the baseline's test AUC), and whether that floor means anything."""
    exported = run.exported or {}
    if exported.get("passed") is None:
        return
    base_test = run.summary.baseline.test if run.summary else None
    chance = [name for name, _, m in _per_task("baseline", "test", base_test) if includes_chance(m)]
    verdict = "PASS" if exported["passed"] else "FAIL"
    doc.p(f"int8 test AUC against its floor (0.5 + AUC ratio x (the baseline's test AUC - 0.5)): **{verdict}**.")
    if chance:
        doc.p(f"**Warning: the baseline is not distinguishable from chance on test**: the 95 % interval of "
              f"{', '.join(chance)}'s test AUC includes 0.5, so a floor derived from it tests nothing and this "
              f"{verdict} says little; more test data or a better baseline first.")
