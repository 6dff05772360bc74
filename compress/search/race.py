"""Successive halving among new trunks (Jamieson & Talwalkar 2016; the rungs of Hyperband, Li et al. 2018).

A family move's new trunk learns from scratch, so a short training ranks trunks by how fast they start, not by how
good they become, and a long one for each costs more than the rest of the search. So the new trunks a node opens
race: every one trains --epochs (rung 0); the best third (RACE_ETA) by val AUC trains on from its own weights until it
has had RACE_ETA x as many; and so on up to rung RACE_RUNGS - 1. Ten trunks cost 10 x 3 + 4 x 6 + 2 x 18 = 90 epochs at
--epochs 3, against 120 when each trained 12, and the two left have had 27 epochs each instead of 12.

Each rung is a journal row of its own (key `<spec key>@<rung>`, compress.search.journal.evaluation_key) with its own
weights, so a killed race resumes from its rows and promotes exactly as before. A rung goes through
`Search.evaluate_many`, so its trainings run in parallel under --executor/--workers.
"""
from __future__ import annotations

import math

from compress.search.journal import Evaluation, goal_rank
from compress.search.session import Search

RACE_ETA = 3  # the best third of a rung goes on, to 3 x the epochs
RACE_RUNGS = 3  # rungs 0, 1, 2: --epochs, 3 x and 9 x --epochs in all


def rung_epochs(rung: int, epochs: int) -> int:
    """The epochs a rung adds to the last one's: --epochs at rung 0, so rung r has had RACE_ETA^r x in all."""
    return epochs if rung == 0 else (RACE_ETA ** rung - RACE_ETA ** (rung - 1)) * epochs


def promotion_label(ev: Evaluation, rung: int) -> str:
    """The trunk's own label, and the rung it goes on to: 'trunk → DS-CNN k3 width 14 @32×32 (race rung 1)'."""
    return f"{ev.label.split(' (race rung')[0]} (race rung {rung})"


def race(search: Search, entrants: list) -> list[Evaluation]:
    """Race (spec, parent, label) new trunks; returns each trunk's last evaluation, in entry order: a loser as it was
    when it dropped out, a survivor at the top rung."""
    search.racing = True
    try:
        last = {ev.spec.key: ev for ev in search.evaluate_many(entrants)}
        alive = [ev for ev in last.values() if not ev.failed]
        for rung in range(1, RACE_RUNGS):
            ranked = sorted(alive, key=lambda ev: goal_rank(ev.auc, ev.flops), reverse=True)
            promoted = ranked[:math.ceil(len(ranked) / RACE_ETA)]
            if not promoted:
                break
            alive = search.evaluate_many([(ev.spec, ev, promotion_label(ev, rung)) for ev in promoted])
            last.update((ev.spec.key, ev) for ev in alive)
            alive = [ev for ev in alive if not ev.failed]
    finally:
        search.racing = False
    return list(last.values())
