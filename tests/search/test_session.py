"""Search sessions and strategies against a fake evaluator: budgets come from the journal, so a run killed and
resumed any number of times ends exactly as the unkilled run; anytime A* keeps improving after its first goal."""
import functools
import math

import pytest

from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.reductions import reductions
from compress.models.widening import widenings
from compress.search.journal import Journal
from compress.search.session import Search
from compress.search.space import Space
from compress.search.strategies import GREEDY_CUT, STRATEGIES, run

BASELINE = zoo.embedded3()


@functools.lru_cache(maxsize=None)
def flops(spec):
    return spec_cost(spec).flops


@functools.lru_cache(maxsize=None)
def children(spec):
    return tuple(reductions(spec, flops=flops))


def space(budget, widen=True):
    fits = lambda s: flops(s) <= budget  # noqa: E731
    widened = lambda s: tuple((l, c) for l, c in widenings(s, BASELINE, flops) if fits(c))  # noqa: E731
    return Space(children, flops, fits, budget, widened if widen else (lambda s: ()))


class Killed(BaseException):
    """Stands for a SIGKILL in the middle of a training: that evaluation never reaches the journal (not an
    Exception: those are the candidate's own failures, journaled as failed)."""


class Fake:
    """AUC rises with log-FLOPs (a wider model is better); one 'second' of training per evaluation."""

    def __init__(self, kill_after=None):
        self.calls, self.kill_after = 0, kill_after

    def __call__(self, spec, parent):
        if self.kill_after is not None and self.calls >= self.kill_after:
            raise Killed
        self.calls += 1
        auc = 0.5 + 0.45 * math.log(flops(spec)) / math.log(flops(BASELINE))
        return {"auc": auc, "accuracy": auc}, {"train_seconds": 1.0}


def search_once(journal, strategy="astar", budget=None, kill_after=None, **budgets):
    budget = budget or flops(BASELINE) / 6
    search = Search(space(budget), Fake(kill_after), beta=0.0, journal=journal, log=lambda m: None, **budgets)
    base = search.evaluate(BASELINE, None, "baseline")
    search.beta = 0.8 * base.auc
    winner = run(strategy, search, BASELINE, seed=3)
    return search, winner


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("budgets", [{"max_evals": 9}, {"max_seconds": 7.0, "max_evals": 50},
                                     {"patience": 3, "max_evals": 50}], ids=["max-evals", "max-minutes", "patience"])
def test_killed_and_resumed_runs_end_exactly_like_the_unkilled_run(tmp_path, strategy, budgets):
    whole, winner = search_once(Journal(tmp_path / "whole.jsonl"), strategy, **budgets)
    path, kills = tmp_path / "killed.jsonl", 0
    while True:  # kill after every second new training, then resume, until the run ends by itself
        try:
            resumed, again = search_once(Journal(path), strategy, kill_after=2, **budgets)
            break
        except Killed:
            kills += 1
    assert kills >= 2, "the budget should not bind before the first kills"
    assert path.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert (again.key if again else None) == (winner.key if winner else None)
    assert resumed.exhausted == whole.exhausted


def test_anytime_astar_keeps_looking_after_its_first_goal_and_widens_goals():
    # At /10 some goals land far enough under the budget that a widening still fits (at /5../8 the AUC-loss cost
    # makes A* take small cuts, so its goals sit just under the budget and have no fitting widening).
    budget = flops(BASELINE) / 10
    search, winner = search_once(None, budget=budget, patience=6, max_evals=60)
    goals = [ev for ev in search.evaluations() if search.is_goal(ev)]
    first = goals[0]
    assert len(goals) > 1 and winner.auc >= first.auc and winner.flops <= budget
    widened = [ev for ev in search.evaluations() if ev.parent and search.is_goal(search.cache[ev.parent])]
    assert widened and all(ev.flops > search.cache[ev.parent].flops for ev in widened)
    assert "patience" in search.exhausted
    assert [ev.auc for ev in search.leaderboard()] == sorted((ev.auc for ev in goals), reverse=True)


def test_without_widening_astar_stops_at_its_first_goal_region():
    budget = flops(BASELINE) / 6
    search = Search(space(budget, widen=False), Fake(), beta=0.0, log=lambda m: None, patience=4)
    search.beta = 0.8 * search.evaluate(BASELINE, None, "baseline").auc
    run("astar", search, BASELINE)
    assert not any(ev.flops > search.cache[ev.parent].flops for ev in search.evaluations() if ev.parent)


def test_greedy_follows_netadapts_rule():
    search, winner = search_once(None, "greedy", max_evals=200)
    budget = flops(BASELINE) / 6
    step = winner
    while step.parent is not None:
        parent = search.cache[step.parent]
        target = max((1 - GREEDY_CUT) * parent.flops, budget)
        siblings = [ev for ev in search.evaluations() if ev.parent == parent.key]
        meeting = [ev for ev in siblings if ev.flops <= target] or siblings
        assert step.flops <= target or len(meeting) == len(siblings)
        assert step.auc == max(ev.auc for ev in meeting)
        step = parent


def test_random_walks_train_fitting_models_from_the_baseline_and_repeat_by_seed():
    search, winner = search_once(None, "random", max_evals=8)
    later = search.evaluations()[1:]
    assert len(later) == 7 and all(ev.fits and ev.parent == search.evaluations()[0].key for ev in later)
    assert all(ev.label.startswith("random walk: ") for ev in later)
    again, _ = search_once(None, "random", max_evals=8)
    assert [ev.key for ev in again.evaluations()] == [ev.key for ev in search.evaluations()]


def test_random_search_resumed_past_its_repeat_limit_ends_like_the_unkilled_run(tmp_path):
    """Walks that end at models the journal already holds are replays on resume, not repeats of this run."""
    from compress.search.strategies import RANDOM_REPEATS

    budgets = {"max_evals": RANDOM_REPEATS + 10}
    whole, winner = search_once(Journal(tmp_path / "whole.jsonl"), "random", **budgets)
    assert whole.trainings > RANDOM_REPEATS + 2, "the journal must outgrow the repeat limit for this to test it"
    path = tmp_path / "killed.jsonl"
    while True:
        try:
            resumed, again = search_once(Journal(path), "random", kill_after=2, **budgets)
            break
        except Killed:
            pass
    assert path.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert again.key == winner.key and resumed.exhausted == whole.exhausted


# --- a candidate whose training raises: journaled as failed, the search goes on -------------------------

class Failing(Fake):
    """Fake, except that training the specs in `bad` raises `error` (after `calls` counts it, as a real one would)."""

    def __init__(self, bad, error=ValueError("NaN loss"), kill_after=None):
        super().__init__(kill_after)
        self.bad, self.error, self.keys = set(bad), error, []

    def __call__(self, spec, parent):
        metrics = super().__call__(spec, parent)
        self.keys.append(spec.key)
        if spec.key in self.bad:
            raise self.error
        return metrics


def failing_search(journal, bad, error=ValueError("NaN loss"), kill_after=None, max_evals=12):
    search = Search(space(flops(BASELINE) / 6), Failing(bad, error, kill_after), beta=0.0, journal=journal,
                    max_evals=max_evals, log=lambda m: None)
    search.beta = 0.8 * search.evaluate(BASELINE, None, "baseline").auc
    return search, run("astar", search, BASELINE)


def rows_of(path):
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def first_candidates(tmp_path):
    """The keys of the candidates a search without failures trains, in order."""
    failing_search(Journal(tmp_path / "clean.jsonl"), ())
    return [r["key"] for r in rows_of(tmp_path / "clean.jsonl")[1:]]


def test_a_failed_candidate_is_journaled_skipped_and_counted(tmp_path, first_candidates):
    bad = first_candidates[0]  # the first child A* trains: on the best path of the clean run
    search, winner = failing_search(Journal(tmp_path / "j.jsonl"), {bad})
    rows = rows_of(tmp_path / "j.jsonl")
    failed = [r for r in rows if r.get("status") == "failed"]
    assert [r["key"] for r in failed] == [bad] and failed[0]["error"] == "ValueError: NaN loss"
    assert "val" not in failed[0] and failed[0]["parent"] == rows[0]["key"] and "spec" in failed[0]
    assert all("status" not in r and "val" in r for r in rows if r["key"] != bad)  # the rows of today
    assert len(rows) == len(search.cache) == 12 and search.exhausted.startswith("--max-evals")  # counted
    assert all(r["parent"] != bad for r in rows)  # never expanded
    assert winner is not None and bad not in [ev.key for ev in search.leaderboard()]  # never a goal
    assert [ev.key for ev in search.failures()] == [bad]
    assert [r["key"] for r in Journal(tmp_path / "j.jsonl").replay()] == [r["key"] for r in rows if r is not failed[0]]


def test_a_resumed_run_replays_a_failed_row_without_training_it_again(tmp_path, first_candidates):
    bad = {first_candidates[0], first_candidates[2]}
    whole, winner = failing_search(Journal(tmp_path / "whole.jsonl"), bad)
    path, kills = tmp_path / "killed.jsonl", 0
    while True:  # killed after every second training, resumed until it ends by itself
        try:
            resumed, again = failing_search(Journal(path), bad, kill_after=2)
            break
        except Killed:
            kills += 1
    assert kills >= 2 and path.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert again.key == winner.key and resumed.exhausted == whole.exhausted
    assert len(resumed.failures()) == len(whole.failures()) == 2
    assert not bad & set(resumed.evaluator.keys)  # the last resume trained neither again
    assert len(resumed.cache) == len(whole.cache) == 12


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), MemoryError(), KeyboardInterrupt(),
                                   __import__("compress").CompressError("a bad setting")])
def test_an_error_outside_the_candidate_still_stops_the_search(tmp_path, first_candidates, error):
    with pytest.raises(type(error)):
        failing_search(Journal(tmp_path / "j.jsonl"), {first_candidates[1]}, error)
    keys = [r["key"] for r in rows_of(tmp_path / "j.jsonl")]
    assert keys == [keys[0], *first_candidates[:1]]  # what finished before it, and nothing failed


def test_a_failing_baseline_still_stops_the_search(tmp_path):
    with pytest.raises(ValueError, match="NaN loss"):
        failing_search(Journal(tmp_path / "j.jsonl"), {BASELINE.key})
    assert not (tmp_path / "j.jsonl").exists()


def test_a_candidate_whose_loss_diverged_is_a_failed_candidate_not_the_end(tmp_path, first_candidates):
    """Trainer.fit raises CandidateError (a CompressError) on a NaN loss: that is the candidate's own failure."""
    from compress import CandidateError

    bad = first_candidates[0]
    error = CandidateError("cand: training diverged: the loss is nan after epoch 1 at learning rate 0.001")
    search, winner = failing_search(Journal(tmp_path / "j.jsonl"), {bad}, error)
    failed = [r for r in rows_of(tmp_path / "j.jsonl") if r.get("status") == "failed"]
    assert [r["key"] for r in failed] == [bad] and failed[0]["error"].startswith("CandidateError: cand: training")
    assert winner is not None and len(search.cache) == 12
