"""Stage 3, search: the Search built with beta and the executor, run by the chosen strategy."""
from __future__ import annotations

from dataclasses import dataclass

from compress.config import RunConfig


@dataclass(frozen=True)
class SearchOutcome:
    """The finished search session (its journal-backed cache, budgets and leaderboard) and its best goal (None:
    no model met every target with AUC >= beta)."""
    session: object  # compress.search.session.Search
    winner: object | None  # its Evaluation


def search(config: RunConfig, prepared, setup, base, log) -> SearchOutcome:
    """The baseline trained here (stage 2); the candidates where --executor says."""
    from compress.search import executors, strategies
    from compress.search.session import Search

    settings, evaluator = config.search, setup.evaluator
    with executors.make(settings.executor, evaluator, settings.workers, settings.ray_address, log) as executor:
        session = Search(setup.space, evaluator, beta=base.beta, journal=setup.journal, max_evals=settings.max_evals,
                         max_seconds=settings.max_minutes * 60, patience=settings.patience, log=log,
                         executor=executor)
        winner = strategies.run(settings.strategy, session, prepared.baseline, seed=config.data.seed)
    end_status = getattr(log, "end_status", None)
    if end_status is not None:
        end_status()
    return SearchOutcome(session, winner)
