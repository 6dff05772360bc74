"""Every kind of data set declares what it is (tasks, subjects, holdout, augmentable, rate_hz, channel_names,
at_input), so no caller sniffs with getattr/hasattr; and the modules of compress/data import one another without
a cycle (an import inside a function counts too)."""
import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from compress.config import DataConfig
from compress.data import dataset, multitask, wearable_data, wearables
from compress.data.base import Dataset, cache_key, cache_path

DATA = Path(__file__).resolve().parents[2] / "compress" / "data"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(wearable_data, "_PREPARED", {})
    monkeypatch.setattr(multitask, "_PREPARED", {})


def _fer(path):
    rows = [f"{e},{' '.join([str(e * 30 + k)] * 48 * 48)},{usage}" for e in range(7)
            for k, usage in enumerate(("Training",) * 4 + ("PublicTest", "PrivateTest"))]
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


def _folder(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (20, 30), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _npz(path):
    np.savez(path, x=np.random.default_rng(1).integers(0, 255, (40, 12, 12), dtype=np.uint8),
             y=np.array(["no", "yes"] * 20))
    return path


def _multitask_csvs(root):
    """3 subjects at 10 Hz, 3 sensors, ratings that change every 20 s."""
    root.mkdir()
    for i in range(3):
        t = np.arange(600) / 10.0
        episode = (t // 20).astype(int) % 3
        labels = [np.array(r)[episode] for r in ((3, 7, 2), (6, 2, 8), (2, 4, 6))]
        sensors = np.random.default_rng(i).normal(size=(len(t), 3)) + labels[0][:, None]
        rows = [",".join(f"{v:.6g}" for v in (t[j], *sensors[j], *(lab[j] for lab in labels))) for j in range(len(t))]
        (root / f"s{i + 1}.csv").write_text("time,c1,c2,c3,arousal,dominance,valence\n" + "\n".join(rows) + "\n")
    return root


def _kinds(tmp_path) -> dict:
    return {"faces": DataConfig(samples=60, size=16), "4class": DataConfig(samples=80, size=16, task="4class"),
            "folder": DataConfig(source=str(_folder(tmp_path / "imgs")), size=12),
            "npz": DataConfig(source=str(_npz(tmp_path / "d.npz")), size=12),
            "fer": DataConfig(source=str(_fer(tmp_path / "fer.csv")), size=16),
            "wearables": DataConfig(source=wearables.SYNTHETIC_WEARABLES, subjects=3),
            "multitask": DataConfig(source=str(_multitask_csvs(tmp_path / "mt")))}


def test_every_kind_declares_what_it_is(tmp_path):
    for kind, config in _kinds(tmp_path).items():
        data = dataset.load(config)
        windows = kind in ("wearables", "multitask")
        assert isinstance(data, Dataset), kind
        assert isinstance(data.tasks, tuple) and bool(data.tasks) == (kind == "multitask"), kind
        assert isinstance(data.subjects, tuple) and bool(data.subjects) == windows, kind
        assert isinstance(data.holdout, str) and bool(data.holdout) == (kind == "wearables"), kind
        assert data.augmentable is (not windows), kind
        assert (data.rate_hz is not None) == windows and data.rate_hz in (None, 4.0), kind
        assert isinstance(data.channel_names, tuple) and len(data.channel_names) == windows * data.input_shape[-1]
        assert data.at_input(data.input_shape) is data, kind
        shape = (data.input_shape[0] // 2, 1 if windows else data.input_shape[0] // 2, data.input_shape[2])
        smaller = data.at_input(shape)
        assert smaller.input_shape == shape and smaller.augmentable == data.augmentable, kind
        assert (smaller.rate_hz, smaller.tasks, smaller.subjects) == (data.rate_hz, data.tasks, data.subjects) \
            or not windows, kind


def test_one_cache_key_names_every_generated_file(tmp_path):
    assert cache_key({"b": 1, "a": [2]}) == cache_key({"a": [2], "b": 1}) and len(cache_key({})) == 16
    assert cache_path("k", {"a": 1}, tmp_path) == tmp_path / f"k-{cache_key({'a': 1})}.npz"


def _imports(path: Path) -> set:
    """The compress.data modules a module imports anywhere in it (in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "compress.data":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("compress.data."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("compress.data.")}
    return found - {path.stem}


def test_no_import_cycle_inside_compress_data():
    graph = {p.stem: _imports(p) for p in DATA.glob("*.py")}
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(path + [module])}"
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
