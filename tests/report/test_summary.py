"""RunSummary, the one reader and writer of summary.json: old files read, new ones keep today's keys and values."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compress import CompressError
from compress.summary import SCHEMA_VERSION, ModelEntry, RunSummary, read_summary, write_summary

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "default_run"


def test_the_committed_summary_writes_back_the_same_keys_and_values_and_reads_without_a_version_as_0(tmp_path):
    found = json.loads((COMMITTED / "summary.json").read_text())
    assert found["schema_version"] == SCHEMA_VERSION
    old = tmp_path / "old"  # the same file as a run before schema versions wrote it
    old.mkdir()
    (old / "summary.json").write_text(json.dumps({k: v for k, v in found.items() if k != "schema_version"}))
    summary = read_summary(old)
    assert summary.schema_version == 0
    assert summary.final.reductions and summary.int8.model_bytes == found["int8"]["model_bytes"]
    assert summary.baseline.name == found["baseline"]["name"] and summary.int8.val is None
    write_summary(tmp_path, dataclasses.replace(summary, schema_version=SCHEMA_VERSION))
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == found and list(written) == list(found)  # the same keys, in the same order
    for name in ("baseline", "final", "int8"):
        assert list(written[name]) == list(found[name]), name


def test_a_summary_is_frozen_and_its_int8_entry_comes_from_the_final_one():
    summary = read_summary(COMMITTED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.beta = 0.5
    entry = summary.final.int8({"auc": 0.7}, 1234)
    assert entry.val is None and entry.model_bytes == 1234 and entry.key == summary.final.key
    assert list(entry.to_dict())[-1] == "model_bytes"


def test_the_int8_floor_is_the_floor_of_the_baselines_test_auc_per_task_where_there_are_tasks():
    base = ModelEntry("k", 1.0, 1, 1, 1, 1, None, {"auc": 0.9}, {"auc": 0.8})
    assert RunSummary(auc_ratio=0.5, beta=0.45, baseline=base).int8_floor() == pytest.approx(0.65)  # 0.5 + 0.5 x (0.8 - 0.5)
    tasks = {"a": {"auc": 0.8}, "b": {"auc": 0.6}}
    multi = dataclasses.replace(base, test={"auc": 1.0, "tasks": tasks})
    assert RunSummary(auc_ratio=0.5, baseline=multi).int8_floor() == pytest.approx({"a": 0.65, "b": 0.55})
    assert RunSummary(beta=0.7).int8_floor() == 0.7  # no baseline figures: its beta


def test_no_summary_reads_as_none_and_a_broken_one_raises(tmp_path):
    assert read_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(CompressError, match=r"summary.json: expected an object, got \[1, 2\]"):
        read_summary(tmp_path)


def test_reading_a_summary_imports_no_tensorflow():
    code = ("import sys, compress.summary as s; s.read_summary(sys.argv[1]); "
            "print(any('tensorflow' in m for m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code, str(COMMITTED)], capture_output=True, text=True, cwd=ROOT,
                           env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert found.stdout.strip() == "False", found.stderr
