"""Executors: a process pool and a local Ray cluster give the inline journal with one worker, reach goals with two,
retry a worker killed mid-evaluation, and report one that dies twice; first with a fake evaluator, then for real."""
import functools
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from compress import CompressError
from compress.models import zoo
from compress.models.cost import spec_cost
from compress.models.reductions import reductions
from compress.search import executors
from compress.search.journal import Journal
from compress.search.session import Search
from compress.search.space import Space
from compress.search.strategies import run
from compress.search.train import cores

BASELINE = zoo.embedded3()
KINDS = ["processes", "ray"]


@functools.lru_cache(maxsize=None)
def flops(spec):
    return spec_cost(spec).flops


@functools.lru_cache(maxsize=None)
def children(spec):
    return tuple(reductions(spec, flops=flops))


def space(budget):
    return Space(children, flops, lambda s: flops(s) <= budget, budget)


class Fake:
    """AUC rises with log-FLOPs. Killed (SIGKILL, mid-evaluation) once per file `<key>.<n>` in `deaths`; with
    `seconds`, it sleeps and says where and when it ran, so a test can see two evaluations overlap."""

    def __init__(self, deaths=None, seconds=0.0, threads=None, fail=()):
        self.deaths, self.seconds, self.threads, self.fail = deaths, seconds, threads, fail

    def __call__(self, spec, parent):
        if spec.key in self.fail:
            raise ValueError(f"NaN loss in {spec.key}")
        marks = sorted(Path(self.deaths).glob(f"{spec.key}.*")) if self.deaths else []
        if marks:
            marks[0].unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        start = time.monotonic()
        time.sleep(self.seconds)
        auc = 0.5 + 0.45 * math.log(flops(spec)) / math.log(flops(BASELINE))
        where = {"pid": os.getpid(), "start": start, "end": time.monotonic(), "threads": self.threads}
        return {"auc": auc, "accuracy": auc}, {"train_seconds": 1.0, **(where if self.seconds else {})}


class FakeFactory:
    """What a worker builds its evaluator with: the fake, told its TensorFlow thread share."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __call__(self, payload, threads):
        return Fake(threads=threads, **self.kwargs)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster with 2 CPUs for the module (starting one takes ~8 s); executors join it."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'compress-mcu[ray]'")
    path = os.pathsep.join(os.path.abspath(p or ".") for p in sys.path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def make_pool(request, kind):
    """(factory, workers) -> an executor of this kind (a Ray one joins the module's cluster)."""
    if kind == "ray":
        request.getfixturevalue("ray_cluster")
        return lambda factory, workers: executors.Ray(factory, None, workers, log=lambda m: None)
    return lambda factory, workers: executors.Processes(factory, None, workers, log=lambda m: None)


@pytest.fixture(params=KINDS)
def pool(request):
    return make_pool(request, request.param)


def fake_search(journal=None, executor=None, strategy="astar", cut=6, **budgets):
    """A search whose goals need a FLOPs cut by `cut` (6: the first goal is the 11th training, 2: the 2nd to 4th)."""
    budgets = {"max_evals": 12, "patience": 4, **budgets}
    search = Search(space(flops(BASELINE) / cut), Fake(), beta=0.0, journal=journal, log=lambda m: None, **budgets)
    search.beta = 0.8 * search.evaluate(BASELINE, None, "baseline").auc
    search.executor = executor
    return search, run(strategy, search, BASELINE, seed=3)


@pytest.fixture(scope="module")
def inline_journal(tmp_path_factory):
    path = tmp_path_factory.mktemp("inline") / "journal.jsonl"
    _, winner = fake_search(Journal(path))
    return path.read_text(), winner.key


def test_one_worker_journals_exactly_what_inline_does(tmp_path, pool, inline_journal):
    with pool(FakeFactory(), 1) as executor:
        _, winner = fake_search(Journal(tmp_path / "j.jsonl"), executor)
    assert ((tmp_path / "j.jsonl").read_text(), winner.key) == inline_journal


@pytest.mark.parametrize("kind, strategy", [("processes", "astar"), ("processes", "greedy"),
                                            ("processes", "random"), ("ray", "astar")])
def test_two_workers_evaluate_at_once_and_reach_a_goal(tmp_path, request, kind, strategy):
    with make_pool(request, kind)(FakeFactory(seconds=0.3), 2) as executor:
        search, winner = fake_search(Journal(tmp_path / "j.jsonl"), executor, strategy, cut=2, max_evals=7,
                                     patience=None)
    assert winner is not None and winner.flops <= search.space.budget_flops and winner.auc >= search.beta
    rows = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert len(rows) == 7 == len({r["key"] for r in rows})  # --max-evals holds with trainings in flight
    assert all(r["parent"] in {p["key"] for p in rows[:i]} for i, r in enumerate(rows) if i)  # parents first
    workers = rows[1:]  # the baseline trained in this process
    assert len({r["pid"] for r in workers}) == 2
    assert all(2 * r["threads"] <= max(2, cores()) for r in workers)  # 2 workers x their threads <= the cores
    assert any(a["start"] < b["end"] and b["start"] < a["end"] for a in workers for b in workers if a is not b)


def test_a_worker_killed_mid_evaluation_is_retried(tmp_path, pool, inline_journal):
    victim = json.loads(inline_journal[0].splitlines()[3])["key"]  # the third candidate A* trains
    (tmp_path / f"{victim}.1").touch()
    with pool(FakeFactory(deaths=tmp_path), 1) as executor:
        _, winner = fake_search(Journal(tmp_path / "j.jsonl"), executor)
    assert not (tmp_path / f"{victim}.1").exists(), "the worker was never killed"
    assert ((tmp_path / "j.jsonl").read_text(), winner.key) == inline_journal


def test_a_worker_that_dies_twice_is_one_error_line_after_its_batch(tmp_path, pool, inline_journal):
    victim = json.loads(inline_journal[0].splitlines()[1])["key"]  # the best first child: in the first batch
    for n in (1, 2):
        (tmp_path / f"{victim}.{n}").touch()
    with pool(FakeFactory(deaths=tmp_path), 2) as executor:
        with pytest.raises(CompressError, match="died twice") as caught:
            fake_search(Journal(tmp_path / "j.jsonl"), executor)
    assert "\n" not in str(caught.value) and "--resume" in str(caught.value)
    keys = [json.loads(line)["key"] for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert victim not in keys and len(keys) >= 2  # its batch-mate was journaled before the error


def test_a_batch_abandoned_midway_leaves_no_stale_reply_behind():
    a, b, c, d = BASELINE, *(child.spec for child in children(BASELINE)[:3])
    with executors.Processes(FakeFactory(seconds=0.5), None, 2) as executor:
        batch = executor.run([(a, None, "a"), (b, None, "b")])
        next(batch)
        batch.close()  # as when the driver fails while recording a's result: b is still training
        done = {task[2]: metrics["auc"] for task, (metrics, _) in executor.run([(c, None, "c"), (d, None, "d")])}
    assert done == {label: Fake()(spec, None)[0]["auc"] for label, spec in (("c", c), ("d", d))}


def test_a_candidate_that_fails_in_a_worker_is_journaled_as_inline_does(tmp_path, pool, inline_journal):
    victim = json.loads(inline_journal[0].splitlines()[2])["key"]
    fake_search(Journal(tmp_path / "inline.jsonl"), executors.Inline(Fake(fail={victim})))
    with pool(FakeFactory(fail={victim}), 1) as executor:
        search, _ = fake_search(Journal(tmp_path / "j.jsonl"), executor)
    rows = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert (tmp_path / "j.jsonl").read_text() == (tmp_path / "inline.jsonl").read_text()
    failed = [(r["key"], r["error"]) for r in rows if r.get("status") == "failed"]
    assert failed == [(victim, f"ValueError: NaN loss in {victim}")]
    assert len(rows) == len(search.cache) and search.failures()[0].key == victim


class Broken:
    """A factory that fails in the worker."""

    def __call__(self, payload, threads):
        raise ValueError("no data here")


def test_an_exception_in_a_worker_is_raised_in_the_driver():
    with executors.Processes(Broken(), None, 1) as executor, pytest.raises(ValueError, match="no data here"):
        list(executor.run([(BASELINE, None, "baseline")]))


def test_executor_options_are_checked_before_anything_trains(monkeypatch, tmp_path, capsys):
    from compress.cli import main

    with pytest.raises(CompressError, match="--executor processes or ray"):
        executors.check("inline", 2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main(["search", "--executor", "ray", "--workers", "2", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --executor ray") and "pip install 'compress-mcu[ray]'" in err[0]
    assert not (tmp_path / "run" / "journal.jsonl").exists()  # nothing trained
    assert executors.threads_per_worker(2, available=2) == 1 and executors.threads_per_worker(3, available=16) == 5


# --- for real: a tiny search on 24x24 blob images -------------------------------------------------

REAL_BASELINE = zoo.embedded3((24, 24, 1), 2)


def real_evaluator(blob_data, out):
    from compress.config import Targets, TrainConfig
    from compress.search.space import Costing
    from compress.search.train import Evaluator, Trainer

    trainer = Trainer(blob_data, TrainConfig(epochs=1, batch_size=32), augment=True)
    return Evaluator(trainer, out / "weights", Costing(Targets(budget_flops=70000), families=False),
                     baseline_epochs=2,
                     baseline_lr=3e-3)


@pytest.fixture(scope="module")
def trained_baseline(blob_data, tmp_path_factory):
    """The baseline's weights, trained once: every run below scores it as given (as for a user's model)."""
    evaluator = real_evaluator(blob_data, tmp_path_factory.mktemp("baseline"))
    evaluator(REAL_BASELINE, None)
    return (evaluator.weights_dir / f"{REAL_BASELINE.key}.weights.h5").read_bytes()


def real_search(blob_data, weights: bytes, out, kind="inline", workers=1):
    """Baseline plus 2 candidates by A*, the candidates on `kind`: (journal rows less their timing, winner)."""
    evaluator = real_evaluator(blob_data, out)
    (out / "weights" / f"{REAL_BASELINE.key}.weights.h5").write_bytes(weights)
    search = Search(evaluator.costing.space(REAL_BASELINE), evaluator, beta=0.0, journal=Journal(out / "j.jsonl"),
                    max_evals=3, log=lambda m: None)
    search.beta = 0.8 * search.evaluate(REAL_BASELINE, None, "baseline").auc
    with executors.make(kind, evaluator, workers, log=lambda m: None) as executor:
        search.executor = executor
        winner = run("astar", search, REAL_BASELINE)
    rows = [json.loads(line) for line in (out / "j.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows], winner


@pytest.fixture(scope="module")
def real_inline(blob_data, trained_baseline, tmp_path_factory):
    return real_search(blob_data, trained_baseline, tmp_path_factory.mktemp("real-inline"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_real_search_with_one_worker_matches_inline(tmp_path, request, blob_data, trained_baseline, real_inline,
                                                      kind):
    if kind == "ray":
        request.getfixturevalue("ray_cluster")
    rows, winner = real_search(blob_data, trained_baseline, tmp_path, kind, 1)
    assert len(rows) == 3 and rows == real_inline[0] and winner.key == real_inline[1].key
    assert all((tmp_path / "weights" / f"{r['key']}.weights.h5").exists() for r in rows)  # saved by the worker


def test_a_real_search_with_two_ray_workers_reaches_a_goal(tmp_path, ray_cluster, blob_data, trained_baseline):
    rows, winner = real_search(blob_data, trained_baseline, tmp_path, "ray", 2)
    assert winner is not None and winner.flops <= 70000
    assert len(rows) == 3 and all(r["parent"] == rows[0]["key"] for r in rows[1:])  # one batch of two children


def test_the_search_command_with_two_worker_processes_reaches_a_goal(tmp_path, capfd):
    """The whole `compress search` on 300 blob images, its 2 candidates trained at once in 2 processes, whose
    TensorFlow start-up lines stay out of the user's terminal (no --verbose)."""
    import numpy as np
    from conftest import blob_images

    from compress.cli import main

    x, y = blob_images(300)
    np.savez(tmp_path / "blobs.npz", x=np.round(x[..., 0] * 255).astype(np.uint8), y=y)
    out = tmp_path / "run"
    argv = ["search", "--data", str(tmp_path / "blobs.npz"), "--size", "24", "--baseline", "embedded3", "--epochs",
            "1", "--final-epochs", "2", "--baseline-epochs", "2", "--baseline-lr", "3e-3", "--batch-size", "32", "--budget-flops", "70000",
            "--max-evals", "3", "--patience", "0", "--finalists", "1", "--no-export", "--no-families", "--out", str(out),
            "--executor", "processes", "--workers", "2"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert summary["status"] == "goal" and summary["final"]["flops"] <= 70000
    assert len(rows) == 3 and all(r["parent"] == rows[0]["key"] for r in rows[1:])
    assert json.loads((out / "config.json").read_text())["search"]["workers"] == 2
    # absl lines carry their process id: this (driver) process is not silenced under pytest's capture, the
    # workers must be
    absl = [line.split() for line in capfd.readouterr().err.splitlines() if line[:1] in "IWE" and "]" in line]
    assert not [words for words in absl if len(words) > 2 and words[2].isdigit() and int(words[2]) != os.getpid()]


def test_a_run_may_resume_on_another_executor():
    from compress.config import RunConfig, SearchConfig

    parallel = RunConfig(search=SearchConfig(executor="ray", workers=16, ray_address="auto"))
    assert parallel.changes_refused_on_resume(RunConfig()) == {}
