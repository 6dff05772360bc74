"""Stage 4, finalise: the finalists fine-tuned, the winner saved and scored on test, --loso scores; summary.json."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from compress.config import RunConfig
from compress.summary import RunSummary, write_summary


@dataclass(frozen=True)
class Final:
    """The run's summary once the search is done, and the winner's spec (best_spec.json; None without a winner)."""
    summary: RunSummary
    spec: object | None


def finalise(config: RunConfig, out: Path, prepared, setup, outcome, base, log) -> Final:
    from compress.models.spec import ModelSpec
    from compress.search.summary import summarise

    summary = summarise(config, outcome.session, base, outcome.winner, setup.evaluator, setup.costing, prepared.data,
                        log=log)
    spec = ModelSpec.from_json((out / "best_spec.json").read_bytes(), str(out / "best_spec.json")) if summary.final else None
    if base.loso:  # --loso: the baseline's and the winner's scores over every held-out subject
        from compress.search import loso

        summary = replace(summary, loso=loso.summary(config, base.loso, spec, prepared.data.holdout, log=log))
    if prepared.preparation:  # a user's model: how it began
        summary = replace(summary, baseline_preparation=prepared.preparation)
    write_summary(out, summary)
    return Final(summary, spec)
