"""Quiet by default (no TensorFlow, absl, CUDA or oneDNN lines unless --verbose), the search's progress line, and
`estimate --strict`."""
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from compress import cli
from compress.console import Console

ROOT = Path(__file__).resolve().parents[1]


def _estimate(path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compress", *flags, "estimate", str(path)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_keras_estimate_prints_no_tensorflow_lines_unless_verbose(trained_model, tmp_path):
    """Importing TensorFlow alone writes absl, oneDNN and CUDA lines to file descriptor 2 on this machine."""
    trained_model.save(tmp_path / "m.keras")
    quiet = _estimate(tmp_path / "m.keras")
    assert quiet.returncode == 0 and "all targets pass" in quiet.stdout
    assert quiet.stderr == ""
    verbose = _estimate(tmp_path / "m.keras", "--verbose")
    assert verbose.returncode == 0 and verbose.stdout == quiet.stdout
    assert verbose.stderr.strip(), "TensorFlow printed nothing at all: this test no longer shows the filter works"


def test_estimate_strict_exits_1_when_a_target_fails(capsys):
    assert cli.main(["estimate", "alexnet"]) == 0  # alexnet's 48x48 FLOPs are far above the default budget
    assert cli.main(["estimate", "alexnet", "--strict"]) == 1
    assert cli.main(["estimate", "embedded3", "--strict", "--budget-flops", "1e9"]) == 0
    assert "FAIL" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _search(log, max_evals=5):
    from compress.search.session import Search

    search = Search.__new__(Search)  # only what _progress reads
    search.cache, search.max_evals, search.max_seconds, search.trainings, search.beta = {}, max_evals, 600.0, 0, 0.5
    search.started, search.log, search.order = time.monotonic() - 65, log, []
    return search


def test_progress_shows_count_elapsed_eta_and_best_goal():
    from compress.models import zoo
    from compress.search.journal import Evaluation

    lines = []
    search = _search(lines.append)
    spec = zoo.embedded3((24, 24, 1), 2)
    for i, auc in enumerate((0.9, 0.7), 1):
        ev = Evaluation(f"k{i}", spec, "k0" if i > 1 else None, f"step {i}", i, 1e5, True, {"auc": auc},
                        {"train_seconds": 30})
        search.cache[ev.key], search.trainings = ev, i
        search._progress(ev)
        search.order.append(ev.key)
    assert lines[0].startswith("[1/5] 1m05s elapsed, ETA <= 4m20s, best goal ")  # 65 s an evaluation, 4 to go
    assert lines[1].startswith("[2/5] 1m05s elapsed, ETA <= 1m38s, best goal 0.9000")  # 32.5 s each, 3 to go
    assert "step 2" in lines[1] and "AUC 0.7000" in lines[1]


def test_on_a_terminal_the_status_is_one_live_line_under_the_messages(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    console = Console()
    console.progress("[1/5] 5s elapsed, ETA <= 20s, best goal none yet", "baseline")
    console("    epoch 1: loss 0.6")
    console.progress("[2/5] 9s elapsed, ETA <= 14s, best goal 0.8000", "conv1 filters 32->16")
    console.end_status()
    console("done")
    screen = terminal.getvalue()
    assert screen.count("\r\x1b[K") == 4  # the status is redrawn in place, never scrolled
    assert screen.endswith("[2/5] 9s elapsed, ETA <= 14s, best goal 0.8000\ndone\n")
    assert "[1/5] baseline\n" in screen and "[2/5] conv1 filters 32->16\n" in screen
