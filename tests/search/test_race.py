"""New trunks race by successive halving: a fake evaluator whose ranking changes with training shows who is promoted,
what each rung's row is called, that a model is listed once, and that a killed race resumes to the same end."""
import json

from compress.models.reductions import Reduction
from compress.models.spec import Layer, ModelSpec
from compress.search.journal import Journal
from compress.search.race import RACE_ETA, RACE_RUNGS, race, rung_epochs
from compress.search.session import BudgetExhausted, Search
from compress.search.space import Space
from compress.search.strategies import run


def trunk(width: int) -> ModelSpec:
    layers = (Layer("conv", "stem", units=width, kernel=3, stride=2), Layer("relu", "stem_relu"),
              Layer("gap", "pool"))
    return ModelSpec((16, 16, 1), 2, layers, name=f"trunk{width}")


BASELINE = ModelSpec((16, 16, 1), 2, (Layer("conv", "conv1", units=64, kernel=5), Layer("relu", "relu1"),
                                      Layer("flatten", "flatten")), name="big")
WIDTHS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12)


class RungEvaluator:
    """Wide trunks start slow and end best: at rung 0 the narrow ones lead, at the last rung the wide ones do."""

    def __init__(self):
        self.calls = []

    def __call__(self, spec, parent):
        rung = parent.extra.get("rung", 0) + 1 if parent is not None and parent.spec.key == spec.key else 0
        self.calls.append((spec.name, rung))
        width = spec.layers[0].units if spec.name != "big" else 20
        auc = 0.9 if spec.name == "big" else 0.6 + 0.01 * width * rung + 0.002 * (20 - width)
        extra = {"train_seconds": 0.0, **({"rung": rung} if rung else {})}
        return {"auc": auc, "accuracy": auc}, extra


def space():
    children = lambda spec: [Reduction(f"trunk \u2192 width {w}", trunk(w), family=True) for w in WIDTHS] \
        if spec.name == "big" else []
    return Space(children, lambda spec: 1e3 if spec.name != "big" else 1e6, lambda spec: spec.name != "big", 1e4)


def new_search(evaluator, journal=None, **kwargs):
    return Search(space(), evaluator, beta=0.5, journal=journal, log=lambda m: None, **kwargs)


def test_rungs_add_epochs_so_rung_r_has_eta_to_the_r_times_the_first():
    assert [sum(rung_epochs(r, 3) for r in range(rung + 1)) for rung in range(RACE_RUNGS)] == \
        [3 * RACE_ETA ** rung for rung in range(RACE_RUNGS)]


def test_the_best_third_of_each_rung_goes_on_and_each_model_is_listed_once():
    evaluator = RungEvaluator()
    search = new_search(evaluator)
    base = search.evaluate(BASELINE, None, "baseline")
    last = race(search, [(trunk(w), base, f"trunk \u2192 width {w}") for w in WIDTHS])
    per_rung = [sorted(int(name[5:]) for name, r in evaluator.calls if r == rung and name != "big") for rung in range(RACE_RUNGS)]
    assert per_rung == [list(WIDTHS), [3, 4, 5, 6], [5, 6]]  # 10, then ceil(10/3) = 4, then ceil(4/3) = 2
    assert len(last) == len(WIDTHS) and [ev.spec.name for ev in last] == [f"trunk{w}" for w in WIDTHS]
    keys = {ev.spec.name: ev.key for ev in last}
    assert keys["trunk6"] == f"{trunk(6).key}@2" and keys["trunk4"] == f"{trunk(4).key}@1"
    assert keys["trunk12"] == trunk(12).key
    board = search.leaderboard()
    assert len({ev.spec.key for ev in board}) == len(board) == len(WIDTHS)  # each model once, at its last rung
    assert board[0].key == f"{trunk(6).key}@2"  # the widest survivor, best after the longest training
    promoted = search.cache[f"{trunk(6).key}@2"]
    assert promoted.depth == search.cache[trunk(6).key].depth  # training on is no reduction


def test_astar_races_the_new_trunks_a_node_opens():
    evaluator = RungEvaluator()
    search = new_search(evaluator)
    winner = run("astar", search, BASELINE)
    assert sum(r == 0 for _, r in evaluator.calls) == len(WIDTHS) + 1  # the baseline and each trunk once
    assert winner.key == f"{trunk(6).key}@2"


def test_a_killed_race_resumes_to_the_same_journal(tmp_path):
    whole = Journal(tmp_path / "whole.jsonl", log=lambda m: None)
    run("astar", new_search(RungEvaluator(), whole), BASELINE)
    cut = Journal(tmp_path / "cut.jsonl", log=lambda m: None)
    try:
        run("astar", new_search(RungEvaluator(), cut, max_evals=13), BASELINE)  # stops inside rung 1
    except BudgetExhausted:
        pass
    assert len(cut.replay(failed=True)) == 13
    again = RungEvaluator()
    run("astar", new_search(again, cut), BASELINE)
    assert len(again.calls) == len(whole.replay(failed=True)) - 13  # nothing trained twice
    rows = lambda path: [json.loads(line) for line in path.read_text().splitlines()]
    assert rows(tmp_path / "cut.jsonl") == rows(tmp_path / "whole.jsonl")


def test_progress_says_racing_not_pruned_while_the_race_runs():
    lines = []
    search = Search(space(), RungEvaluator(), beta=0.8, log=lines.append)
    run("astar", search, BASELINE)
    trunks = [line for line in lines if "trunk" in line]
    assert trunks and all("racing" in line for line in trunks) and not any("pruned" in line for line in trunks)
    assert any("trunk \u2192 width 6 (race rung 2)" in line for line in trunks)
