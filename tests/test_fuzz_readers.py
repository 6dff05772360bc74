"""Property-based tests (Hypothesis) of every reader of a hand-editable file (issue 26, Deliver 2).

Each test starts from a valid file of its kind, then replaces one field anywhere in it by a generated value (a
wrong type, 0, a negative, 1e308, NaN, infinity, 5e-324, 10^30, a deep nesting), deletes it or adds an unknown
one. Whatever comes out, the reader either succeeds (and what it returns can be used) or raises the project's
CompressError with one line; any other exception fails the test.
"""
import io
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from compress import CompressError

ROOT = Path(__file__).resolve().parents[1]
# 60 examples per reader keep the suite short; COMPRESS_FUZZ_EXAMPLES=1000 for a longer hunt
FAST = settings(max_examples=int(os.environ.get("COMPRESS_FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=list(HealthCheck))
EXTREMES = [0, -1, 1, 0.0, -0.0, 1e308, -1e308, 5e-324, 10**30, float("nan"), float("inf"), float("-inf"), True,
            False, None, "", "3", "false", [], {}, [1, 2, 3]]
SCALARS = st.one_of(st.sampled_from(EXTREMES), st.integers(), st.floats(), st.text(max_size=6), st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                              max_size=3),
                      max_leaves=8)


def nested(depth: int) -> str:
    """A stand-in for a list nested `depth` deep: dumps() writes the brackets (json.dumps itself would recurse)."""
    return f"<nested {depth}>"


def dumps(doc) -> str:
    """JSON text of doc (NaN and infinity as Python writes them), each nested() stand-in as its brackets."""
    text = json.dumps(doc)
    for depth in (50, 101, 3000):
        text = text.replace(f'"<nested {depth}>"', "[" * depth + "1" + "]" * depth)
    return text


def paths(doc, prefix=()) -> list[tuple]:
    """Every place in a JSON document: each key of each object and each index of each list."""
    found = [prefix]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        found += paths(value, prefix + (key,))
    return found


@st.composite
def edited(draw, doc):
    """doc with one place replaced by a generated value (or a deep nesting), deleted, or given an unknown key."""
    doc = json.loads(json.dumps(doc))
    path = draw(st.sampled_from(paths(doc)))
    how = draw(st.sampled_from(["replace", "replace", "nest", "delete", "extra"]))
    value = nested(draw(st.sampled_from([50, 101, 3000]))) if how == "nest" else draw(VALUES)
    if not path:
        return value if how in ("replace", "nest") else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if how == "delete":
        del parent[path[-1]]
    elif how == "extra" and isinstance(parent, dict):
        parent["unknown_field"] = value
    else:
        parent[path[-1]] = value
    return doc


def assert_one_line_or_success(call):
    """call()'s value, or None when it raised CompressError with a one-line message; anything else propagates."""
    try:
        return call()
    except CompressError as exc:
        assert len(str(exc).splitlines()) == 1 and str(exc).strip(), repr(str(exc))
        return None


def write(tmp_path, name: str, doc) -> Path:
    path = tmp_path / name
    path.write_text(dumps(doc))
    return path


# --- the readers -----------------------------------------------------------------------------------------------

@FAST
@given(st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b"[" * 200 + b),
                 st.integers(1, 5000).map(lambda n: "{\"a\":" * n)))
def test_any_text_parses_or_is_one_line(text):
    from compress.validate import parse_json

    assert_one_line_or_success(lambda: parse_json(text, "file.json"))


CALIBRATION = {"cycles": {"cmsis-nn": {"conv": 3.2, "per_op": 0}}, "flops_per_s": 5e5,
               "cycles_per_instruction": {"cmsis-nn": 1.3}}


@FAST
@given(edited(CALIBRATION))
def test_calibration(tmp_path_factory, doc):
    from compress.devices import latency, profiles
    from compress.models import zoo
    from compress.models.cost import spec_cost

    path = write(tmp_path_factory.mktemp("cal"), "cal.json", doc)
    found = assert_one_line_or_success(lambda: latency.load_calibration(path))
    if found is not None:  # what it accepted gives a finite, non-negative latency in every model
        cost = spec_cost(zoo.embedded3((24, 24, 1), 2))
        for model in ("flops", "ops", "emulated"):
            seconds = latency.latency_s(cost, profiles.get("apollo3"), model, calibration=found)
            assert math.isfinite(seconds) and seconds >= 0, (model, seconds)


def _spec() -> dict:
    from compress.models import zoo

    return zoo.embedded3((24, 24, 1), 2).to_dict()


@FAST
@given(st.data())
def test_spec(data):
    from compress.models.cost import spec_cost
    from compress.models.spec import ModelSpec

    doc = data.draw(edited(_spec()))
    spec = assert_one_line_or_success(lambda: ModelSpec.from_json(dumps(doc), "spec.json"))
    if spec is not None:
        cost = assert_one_line_or_success(lambda: spec_cost(spec))  # shapes may still collapse: SpecError, one line
        assert cost is None or math.isfinite(cost.flops)


@FAST
@given(st.data())
def test_run_config(tmp_path_factory, data):
    from compress.config import CONFIG_FILE, RunConfig, read_run_config

    folder = tmp_path_factory.mktemp("run")
    write(folder, CONFIG_FILE, data.draw(edited(RunConfig().to_dict())))
    assert_one_line_or_success(lambda: read_run_config(folder))


def _row() -> dict:
    return {"key": "abc", "parent": None, "reduction": "baseline", "depth": 0, "flops": 1234.0, "fits": True,
            "val": {"auc": 0.8, "accuracy": 0.7, "confusion": [[3, 1], [1, 3]]}, "params": 10, "spec": _spec()}


@FAST
@given(st.data())
def test_journal_row(tmp_path_factory, data):
    from compress.search.journal import Evaluation, Journal

    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    path.write_text(json.dumps(_row()) + "\n" + dumps(data.draw(edited(_row()))) + "\n")
    warnings = []
    rows = Journal(path, log=warnings.append).replay(failed=True)
    assert len(rows) + len(warnings) == 2 and all(len(w.splitlines()) == 1 for w in warnings)
    for row in rows:  # what replay keeps, the search and the report can use
        Evaluation.from_json(row)
        assert row.get("status") == "failed" or math.isfinite(row["val"]["auc"])


@FAST
@given(st.data())
def test_summary(tmp_path_factory, data):
    from compress.summary import read_summary

    folder = tmp_path_factory.mktemp("summary")
    doc = json.loads((ROOT / "docs" / "default_run" / "summary.json").read_text())
    write(folder, "summary.json", data.draw(edited(doc)))
    summary = assert_one_line_or_success(lambda: read_summary(folder))
    if summary is not None:
        summary.to_dict()
        assert_one_line_or_success(summary.int8_floor)


@FAST
@given(st.data())
def test_export_report(tmp_path_factory, data):
    from compress.deploy.export_report import read_report

    doc = json.loads((ROOT / "models" / "export.json").read_text())
    path = write(tmp_path_factory.mktemp("export"), "export.json", data.draw(edited(doc)))
    assert_one_line_or_success(lambda: read_report(path))


@FAST
@given(st.data())
def test_loso_scores(tmp_path_factory, data):
    from compress.search.loso import read_scores

    doc = {"key": "abc", "per_subject": {"s1": 0.7, "s2": 0.6}, "mean": 0.65, "sd": 0.07, "seconds": 3.0}
    path = write(tmp_path_factory.mktemp("loso"), "loso_baseline.json", data.draw(edited(doc)))
    assert_one_line_or_success(lambda: read_scores(path))


@FAST
@given(st.data())
def test_device_profile(tmp_path_factory, data):
    from compress.devices import latency, profiles
    from compress.models import zoo
    from compress.models.cost import spec_cost

    doc = data.draw(edited(json.loads((profiles.PROFILES_DIR / "apollo3.json").read_text())))
    path = write(tmp_path_factory.mktemp("profile"), "device.json", doc)
    device = assert_one_line_or_success(lambda: profiles.from_file(path))
    if device is not None:  # what it accepted gives a finite latency
        seconds = latency.latency_s(spec_cost(zoo.embedded3((24, 24, 1), 2)), device, "flops")
        assert math.isfinite(seconds) and seconds >= 0


ARRAYS = st.one_of(
    st.sampled_from([np.zeros((1, 4, 4, 1), np.float32), np.full((4,), np.nan), np.array([np.inf]), np.array(["a"]),
                     np.zeros((0,)), np.array(-1), np.array(10**18), np.array([1.5]), np.zeros((2, 2), np.int8)]),
    st.integers(-3, 300).map(np.array))


@FAST
@given(st.dictionaries(st.sampled_from(["x", "label", "index", "class_names", "tasks", "correct", "predicted"]),
                       ARRAYS, max_size=7))
def test_test_input_npz(tmp_path_factory, arrays):
    from compress.deploy.test_input import read_test_input

    path = tmp_path_factory.mktemp("npz") / "test_input.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    found = assert_one_line_or_success(lambda: read_test_input(path))
    if found is not None:
        found.expected  # noqa: B018  (what firmware reads)


@FAST
@given(st.one_of(VALUES.map(json.dumps), st.integers(90, 4000).map(lambda n: "[" * n + "]" * n)))
def test_keras_model_config(tmp_path_factory, config_text):
    from compress.models.safe_load import read_config

    path = tmp_path_factory.mktemp("keras") / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", config_text)
        archive.writestr("metadata.json", config_text)
    assert_one_line_or_success(lambda: read_config(path))


@pytest.mark.parametrize("kind", ["calibration", "spec", "config", "summary", "export", "keras"])
def test_deep_nesting_is_refused_before_json_recurses(kind, tmp_path):
    """100,000 brackets would make json.loads raise RecursionError; every reader refuses them in one line."""
    from compress.config import read_run_config
    from compress.deploy.export_report import read_report
    from compress.devices.latency import load_calibration
    from compress.models.safe_load import read_config
    from compress.models.zoo import load_spec
    from compress.summary import read_summary

    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    names = {"calibration": "cal.json", "spec": "spec.json", "config": "config.json", "summary": "summary.json",
             "export": "export.json", "keras": "model.keras"}
    path = tmp_path / names[kind]
    if kind == "keras":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", deep)
    else:
        path.write_text(deep)
    call = {"calibration": lambda: load_calibration(path), "spec": lambda: load_spec(str(path)),
            "config": lambda: read_run_config(tmp_path), "summary": lambda: read_summary(tmp_path),
            "export": lambda: read_report(path), "keras": lambda: read_config(path)}[kind]
    with pytest.raises(CompressError, match=rf"{names[kind]}.*nested deeper than 100 levels"):
        call()
