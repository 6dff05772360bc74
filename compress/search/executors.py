"""Where a search's evaluations run: in this process (`inline`), on a local process pool, or on a Ray cluster.

An executor takes a batch of (spec, parent evaluation, label) tasks -- an iterable it draws from only when a
worker is free, so the session checks its budgets before each dispatch -- and yields (task, (metrics, extra)), or
(task, the exception its evaluator raised), in the order they complete; the driver journals each as it comes (a
failed candidate as a failed row, compress.search.session). A worker that dies mid-evaluation is replaced and the
evaluation retried once (on Ray by Ray's own actor restarts); a second death is raised once the rest of the batch
is back, so every finished evaluation reaches the journal first.

The strategies batch what their rules allow (compress.search.strategies): A* the N best open nodes, greedy every
child that meets its cut, random N walks. dfs stays sequential -- it recurses into a child's whole subtree before
it looks at the next sibling, so nothing is left to train alongside -- and keeps one worker busy.
"""
from __future__ import annotations

import collections
import importlib.util
import os
import signal
import sys

from compress import CompressError
from compress.search.train import cores
from compress.search.workers import EvaluatorRecipe, RayWorker, process_main

EXECUTORS = ("inline", "processes", "ray")
RAY_HINT = "pip install 'compress-mcu[ray]'"


class WorkerDied(CompressError):
    """An evaluation whose worker died on it twice: reported as one line, after the rest of its batch."""

    def __init__(self, label: str, how: str):
        super().__init__(f"evaluating {label!r}: its worker died twice ({how}); every evaluation that finished is "
                         "in the journal and --resume continues from it")


def check(kind: str, workers: int) -> None:
    """Refuse a bad --executor / --workers before anything trains."""
    if kind not in EXECUTORS:
        raise CompressError(f"--executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise CompressError(f"--workers {workers}: must be at least 1")
    if kind == "inline" and workers > 1:
        raise CompressError(f"--workers {workers}: inline evaluates one at a time; add --executor processes or ray")
    if kind == "ray" and importlib.util.find_spec("ray") is None:
        raise CompressError(f"--executor ray: Ray is not installed; {RAY_HINT}")


def threads_per_worker(workers: int, available: int | None = None) -> int:
    """TensorFlow threads for each of `workers` on one machine: workers x threads never exceeds its cores."""
    return max(1, (available or cores()) // workers)


def make(kind: str, evaluator, workers: int = 1, address: str | None = None, log=print):
    """The executor for --executor/--workers/--ray-address around the driver's evaluator."""
    check(kind, workers)
    if kind == "inline":
        return Inline(evaluator)
    factory, data = EvaluatorRecipe.of(evaluator), evaluator.trainer.data
    local = kind == "processes" or not (address or os.environ.get("RAY_ADDRESS"))
    if local and workers > cores():
        log(f"warning: {workers} workers on {cores()} cores: one TensorFlow thread each, sharing the cores")
    if kind == "processes":
        return Processes(factory, data, workers, log=log)
    return Ray(factory, data, workers, address, log=log)


class _Executor:
    workers = 1

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Inline(_Executor):
    """Today's search: each evaluation in this process, one after the other. With workers > 1 the strategies
    batch as they would for N workers, still one at a time: a simulation of batch best-first (scripts/)."""

    def __init__(self, evaluator, workers: int = 1):
        self.evaluator, self.workers = evaluator, workers

    def run(self, tasks):
        for task in tasks:
            try:
                result = self.evaluator(task[0], task[1])
            except Exception as exc:  # noqa: BLE001 - the session decides: a failed candidate or the run's error
                result = exc
            yield task, result


def _how(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class _Slot:
    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn


class Processes(_Executor):
    """`workers` spawned processes on this machine (spawn, not fork: TensorFlow's threads do not survive a fork).

    Each gets the data set once, when it starts, and builds its evaluator once."""

    def __init__(self, factory, payload, workers: int, threads: int | None = None, log=print):
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.factory, self.payload, self.workers, self.log = factory, payload, workers, log
        self.threads = threads or threads_per_worker(workers)
        self.slots = [self._start() for _ in range(workers)]

    def _start(self) -> _Slot:
        ours, theirs = self.context.Pipe()
        proc = self.context.Process(target=process_main, args=(theirs, self.factory, self.payload, self.threads),
                                    daemon=True, name="compress-worker")
        proc.start()
        theirs.close()
        return _Slot(proc, ours)

    def _restart(self, i: int) -> None:
        slot = self.slots[i]
        slot.conn.close()
        if slot.proc.is_alive():
            slot.proc.kill()
        slot.proc.join()
        self.slots[i] = self._start()

    def _send(self, i: int, task) -> None:
        if not self.slots[i].proc.is_alive():  # died while idle: nothing of ours was lost, replace it
            self._restart(i)
        try:
            self.slots[i].conn.send((task[0], task[1]))
        except OSError:  # died between the check and the send
            self._restart(i)
            self.slots[i].conn.send((task[0], task[1]))

    def _receive(self, i: int) -> tuple:
        slot = self.slots[i]
        try:
            if slot.conn.poll():
                return slot.conn.recv()
        except (EOFError, OSError):
            pass
        slot.proc.join(timeout=10)
        return "died", _how(slot.proc.exitcode)

    def run(self, tasks):
        tasks, retries, busy, failures = iter(tasks), collections.deque(), {}, []
        try:
            yield from self._run(tasks, retries, busy, failures)
        finally:  # abandoned mid-batch (an error in the driver): stop what is in flight, its reply is not wanted
            for i in busy:
                self.slots[i].proc.kill()
                self.slots[i].proc.join()
        if failures:
            raise failures[0]

    def _run(self, tasks, retries, busy: dict, failures: list):
        from multiprocessing.connection import wait

        while True:
            for i in range(self.workers):
                item = None if i in busy else (retries.popleft() if retries else (next(tasks, None), 1))
                if item is not None and item[0] is not None:
                    self._send(i, item[0])
                    busy[i] = item
            if not busy:
                break
            ready = set(wait([s for i in busy for s in (self.slots[i].conn, self.slots[i].proc.sentinel)]))
            for i in [i for i in busy if {self.slots[i].conn, self.slots[i].proc.sentinel} & ready]:
                (task, attempt), (kind, value) = busy.pop(i), self._receive(i)
                if kind in ("ok", "error"):  # an error: the exception the evaluator raised, for the session
                    yield task, value
                elif kind == "broken":  # the worker could not build its evaluator: the run's error
                    failures.append(value)
                else:
                    self._restart(i)
                    if attempt == 1:
                        self.log(f"a worker died ({value}) evaluating {task[2]!r}; retrying it once")
                        retries.append((task, 2))
                    else:
                        failures.append(WorkerDied(task[2], value))

    def close(self) -> None:
        for slot in self.slots:  # an idle worker exits when the driver hangs up
            slot.conn.close()
        for slot in self.slots:
            slot.proc.join(timeout=5)
            if slot.proc.is_alive():  # still training (Ctrl-C, an error elsewhere): its result is not wanted
                slot.proc.kill()
                slot.proc.join()


def _ray():
    try:
        import ray
    except ImportError:
        raise CompressError(f"--executor ray: Ray is not installed; {RAY_HINT}") from None
    return ray


class Ray(_Executor):
    """`workers` Ray actors on the cluster at `address` (or $RAY_ADDRESS), else on a local one with that many CPUs.

    The data set goes into the object store once; an actor that dies is restarted by Ray and its task retried once.
    On a cluster the run folder (weights/) must be on storage every node sees, and compress installed on each.
    """

    def __init__(self, factory, payload, workers: int, address: str | None = None, log=print):
        ray = _ray()
        self.workers, self.log = workers, log
        address = address or os.environ.get("RAY_ADDRESS")
        self.started = not ray.is_initialized()
        if self.started and address:
            ray.init(address=address)
        elif self.started:  # workers import compress (and, in tests, the test modules) as this process does
            path = os.pathsep.join(os.path.abspath(p or ".") for p in sys.path)
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,  # errors come back as results
                     runtime_env={"env_vars": {"PYTHONPATH": path}})
        cpus = ray.cluster_resources().get("CPU", workers)
        if cpus < workers:
            log(f"warning: the Ray cluster has {cpus:g} CPUs for {workers} workers; some will wait for a CPU")
        threads = threads_per_worker(workers) if self.started and not address else None  # None: the actor's CPUs
        actor = ray.remote(RayWorker).options(num_cpus=max(1, int(cpus // workers)), max_restarts=-1,
                                              max_task_retries=1)
        self.data = ray.put(payload)  # once; every actor (and every restart of one) reads it from here
        self.actors = [actor.remote(factory, self.data, threads) for _ in range(workers)]

    def run(self, tasks):
        ray = _ray()
        tasks, idle, flying, failures = iter(tasks), list(self.actors), {}, []
        while True:
            while idle:
                task = next(tasks, None)
                if task is None:
                    break
                actor = idle.pop(0)
                flying[actor.evaluate.remote(task[0], task[1])] = (task, actor)
            if not flying:
                break
            [ref], _ = ray.wait(list(flying), num_returns=1)
            task, actor = flying.pop(ref)
            idle.append(actor)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # died, was restarted, died again on the retry
                failures.append(WorkerDied(task[2], f"{type(exc).__name__}"))
                continue
            except ray.exceptions.RayTaskError as exc:  # the evaluator raised: the session decides what it means
                result = exc.cause if isinstance(exc.cause, BaseException) else exc
            yield task, result
        if failures:
            raise failures[0]

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        if self.started:
            ray.shutdown()
