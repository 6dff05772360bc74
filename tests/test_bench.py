"""scripts/bench.py at tiny size: every arm runs to its end, bench.json has its schema, and a second call resumes."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_report  # noqa: E402

TINY = ["--size", "24", "--baseline", "embedded3", "--epochs", "1", "--final-epochs", "2", "--baseline-epochs", "2",
        "--baseline-lr", "3e-3", "--budget-flops", "60000", "--max-evals", "6", "--batch-size", "32",
        "--patience", "2", "--finalists", "1"]


def test_interval_is_the_student_t_interval():
    cell = bench_report.interval([0.8, 0.9, 1.0])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert cell["mean"] == pytest.approx(0.9) and cell["high"] - cell["mean"] == pytest.approx(half)
    assert bench_report.interval([0.7])["low"] is None and bench_report.interval([])["mean"] is None


def _blobs(folder: Path) -> list[str]:
    """300 blob images (learnable in a couple of epochs, unlike 300 tiny faces) in place of the task's data."""
    import numpy as np
    from conftest import blob_images

    x, y = blob_images(300)
    np.savez(folder / "blobs.npz", x=np.round(x[..., 0] * 255).astype(np.uint8), y=y)
    return ["--data", str(folder / "blobs.npz")]


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--tasks", "faces", "--seeds", "1",
               "--out", str(out), "--", *TINY, *_blobs(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_quick_bench_writes_its_schema(quick_bench):
    out, printed = quick_bench
    bench = json.loads((out / "bench.json").read_text())
    assert bench["schema"] == bench_report.SCHEMA and set(bench["tasks"]) == {"faces"}
    task = bench["tasks"]["faces"]
    assert task["seeds"] == [0] and 0.85 < task["ceiling"] < 0.95
    assert set(task["arms"]) == set(bench_report.ARMS)
    for arm, entry in task["arms"].items():
        assert [run["seed"] for run in entry["runs"]] == [0], arm
        assert set(entry["summary"]) == set(bench_report.FIGURES)
        for run in entry["runs"]:
            assert set(bench_report.FIGURES) <= set(run) and run["code"], (arm, run)
    search, random = task["arms"]["search"]["runs"], task["arms"]["random"]["runs"]
    assert [r["trainings"] for r in random] == [r["trainings"] for r in search]  # the same trainings
    dscnn = task["arms"]["dscnn"]["runs"]
    assert all(d["flops"] <= 60000 and d["epochs"] == s["epochs"] for d, s in zip(dscnn, search))
    assert all(0 <= r["test_auc"] <= 1 for arm in ("dscnn", "dscnn+kd") for r in task["arms"][arm]["runs"])
    assert all(r["status"] == "no-goal" if r["test_auc"] is None else 0 <= r["test_auc"] <= 1 for r in search)
    assert "| faces | search |" in printed and "| faces | dscnn | 1/1 |" in printed and (out / "bench.png").stat().st_size > 0


def test_a_finished_bench_is_read_back_not_rerun(quick_bench):
    out, _ = quick_bench
    before = (out / "faces" / "seed0" / "search" / "journal.jsonl").read_text()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--tasks", "faces",
                           "--seeds", "1", "--out", str(out), "--", *TINY, *_blobs(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "search exited" not in proc.stdout
    assert (out / "faces" / "seed0" / "search" / "journal.jsonl").read_text() == before
