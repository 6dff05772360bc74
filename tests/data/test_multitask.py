"""Multi-task windows: the generator and its cache, windows that never straddle a label change, subject-wise
splits, the one-CSV-per-subject loader and its one-line errors."""
import time
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError
from compress.data import multitask, multitask_synth
from compress.config import DataConfig
from compress.data.multitask import SYNTHETIC_MULTITASK, TASKS
from compress.data.multitask import load_multitask as _load_multitask

SENSORS = ("c1", "c2", "c3")


def load_multitask(source, tasks=None, *, holdout_subject=None, **fields):
    """multitask.load_multitask of a DataConfig: tasks as a sequence or a comma-separated string."""
    tasks = ",".join(tasks) if isinstance(tasks, (tuple, list)) else tasks
    return _load_multitask(DataConfig(source=str(source), tasks=tasks, holdout_group=holdout_subject, **fields))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """A cache of its own per test, and no windows memoised by another test."""
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(multitask, "_PREPARED", {})


# --- the generator ------------------------------------------------------------------------------------------
def _same(a, b) -> bool:
    return (a.subject == b.subject and np.array_equal(a.signals, b.signals)
            and all(np.array_equal(a.labels[t], b.labels[t]) for t in TASKS))


def test_generator_is_deterministic_and_a_subject_depends_only_on_seed_and_index():
    first, again = multitask.generate(2, seed=5, minutes=1), multitask.generate(2, seed=5, minutes=1)
    assert all(_same(a, b) for a, b in zip(first, again))
    more = multitask.generate(3, seed=5, minutes=1)
    assert all(_same(a, b) for a, b in zip(first, more[:2]))  # more subjects extend the set, never reshuffle it
    assert not np.array_equal(multitask.generate(1, seed=6, minutes=1)[0].signals, first[0].signals)
    s = first[0]
    assert s.signals.shape == (60 * 250, len(multitask.CHANNELS)) and s.signals.dtype == np.float32
    assert np.allclose(np.diff(s.times), 1 / 250)
    for task in TASKS:  # 1-9 ratings, constant within episodes of 20-40 s, both classes in every subject
        ratings = s.labels[task]
        assert ratings.min() >= 1 and ratings.max() <= 9
        assert len(np.unique(ratings)) <= 4 and set(np.unique(ratings >= multitask.HIGH_FROM[task])) == {False, True}


def test_default_set_is_fast_skewed_and_each_task_follows_its_channels():
    start = time.monotonic()
    sessions = multitask.generate()
    assert time.monotonic() - start < 12  # 20 subjects x 6 min at 250 Hz: about 3 s here
    for task in TASKS:
        high = np.mean(np.concatenate([s.labels[task] for s in sessions]) >= multitask.HIGH_FROM[task])
        assert 0.2 < high < 0.5, task
    # pooled over subjects (z-scored per subject), high windows sit higher on the task's main channel
    x, y = [], []
    for s in sessions[:10]:
        binary = np.stack([s.labels[t] >= multitask.HIGH_FROM[t] for t in TASKS], 1)
        w, labels, _ = multitask.subject_windows(s, binary, DataConfig(hop_s=5.0))
        x.append(w[:, :, 0, :].mean(axis=1))
        y.append(labels)
    x, y = np.concatenate(x), np.concatenate(y)
    for task, channel in (("arousal", "gsr"), ("dominance", "emg"), ("valence", "eeg")):
        k, c = TASKS.index(task), multitask.CHANNELS.index(channel)
        assert x[y[:, k] == 1, c].mean() > x[y[:, k] == 0, c].mean() + 0.3, (task, channel)


def test_generated_sessions_are_cached_once_and_read_back_unchanged(monkeypatch):
    data = load_multitask(SYNTHETIC_MULTITASK, subjects=3)
    cached = list(Path(multitask.cache_root()).glob(f"{SYNTHETIC_MULTITASK}-*.npz"))
    assert len(cached) == 1
    fresh = multitask.generate(3, seed=0)
    assert all(_same(a, b) for a, b in zip(multitask_synth.cached(3, 0), fresh))

    def no_generation(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(multitask_synth, "generate", no_generation)
    monkeypatch.setattr(multitask, "_PREPARED", {})
    again = load_multitask(SYNTHETIC_MULTITASK, subjects=3)
    assert np.array_equal(again.x_train, data.x_train) and np.array_equal(again.y_test, data.y_test)


# --- the data set ------------------------------------------------------------------------------------------
def test_shapes_dtypes_and_fields():
    data = load_multitask(SYNTHETIC_MULTITASK, subjects=5)
    assert data.input_shape == (20, 1, 8) and data.x_train.dtype == np.float32
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        assert y.shape == (len(x), 3) and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert data.tasks == TASKS and data.class_names == ("low", "high") and data.channel_names == multitask.CHANNELS
    assert not data.augmentable and data.rate_hz == 4.0 and data.subjects == ("S01", "S02", "S03", "S04", "S05")
    assert np.array_equal(data.task_labels("val", "dominance"), data.y_val[:, 1])
    assert data.at_input((20, 1, 8)) is data
    with pytest.raises(CompressError, match="does not fit"):
        data.at_input((40, 1, 8))
    with pytest.raises(CompressError, match="'liking'"):
        data.task_labels("test", "liking")


def test_windows_never_straddle_a_label_change_of_any_task():
    s = multitask.generate(1, seed=2, minutes=2)[0]
    binary = np.stack([s.labels[t] >= multitask.HIGH_FROM[t] for t in TASKS], 1).astype(np.int64)
    windows, labels, starts = multitask.subject_windows(s, binary, DataConfig())
    assert len(starts) > 20 and windows.shape == (len(starts), 20, 1, 8)
    for start, label in zip(starts, labels):
        inside = (s.times >= start / 4.0) & (s.times < (start + 20) / 4.0)
        assert (binary[inside] == label).all()  # every source sample the window averages has its labels
    changes = np.flatnonzero(np.any(np.diff(binary, axis=0) != 0, axis=1)) + 1
    assert len(changes) and not any(s.times[c - 1] >= a / 4.0 and s.times[c] < (a + 20) / 4.0
                                    for c in changes for a in starts)


def test_split_is_subject_wise_deterministic_and_holds_both_classes():
    data = load_multitask(SYNTHETIC_MULTITASK, subjects=10, seed=1)
    parts = {s: set(data.groups[s].tolist()) for s in ("train", "val", "test")}
    assert len(parts["test"]) == 2 and len(parts["val"]) == 1 and len(parts["train"]) == 7
    assert not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"]) and not (parts["val"] &
                                                                                                  parts["test"])
    assert parts["test"] == set(data.test_subjects) and parts["val"] == set(data.val_subjects)
    for split in ("train", "val", "test"):
        assert all(len(np.unique(data.split(split)[1][:, k])) == 2 for k in range(3))
    multitask._PREPARED.clear()
    assert load_multitask(SYNTHETIC_MULTITASK, subjects=10, seed=1).test_subjects == data.test_subjects
    held = load_multitask(SYNTHETIC_MULTITASK, subjects=10, seed=1, holdout_subject="S10")
    assert held.test_subjects == ("S10",) and held.val_subjects == ("S01",) and held.holdout == "S10"
    assert len(held.y_test) == len(multitask._windows(DataConfig(source=SYNTHETIC_MULTITASK, subjects=10, seed=1),
                                                      TASKS)[0]["S10"][1])
    with pytest.raises(CompressError, match="--holdout-subject S99"):
        load_multitask(SYNTHETIC_MULTITASK, subjects=10, seed=1, holdout_subject="S99")


# --- the CSV layout ------------------------------------------------------------------------------------------
def _rows(seconds=60.0, hz=20.0, seed=0, binary=False):
    """A subject at hz: 3 sensors and ratings that change every 20 s (each task both low and high)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * hz)) / hz
    episode = (t // 20).astype(int)
    ratings = {"arousal": np.array([3, 7, 2]), "dominance": np.array([6, 2, 8]), "valence": np.array([2, 4, 6])}
    labels = {k: (v[episode % 3] >= 5).astype(int) if binary else v[episode % 3] for k, v in ratings.items()}
    sensors = rng.normal(size=(len(t), len(SENSORS))) + labels["arousal"][:, None]
    return t, sensors, labels


def _write(path: Path, columns=("time", *SENSORS, *TASKS), seed=0, binary=False, edit=None):
    t, sensors, labels = _rows(seed=seed, binary=binary)
    values = {"time": t, **{c: sensors[:, i] for i, c in enumerate(SENSORS)}, **labels}
    lines = [",".join(columns)] + [",".join(f"{values[c.lower()][i]:.6g}" for c in columns) for i in range(len(t))]
    if edit:
        lines = edit(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    return path


def _folder(root: Path, n=3, **kwargs) -> Path:
    for i in range(n):
        _write(root / f"s{i + 1:02d}.csv", seed=i, **kwargs)
    return root


def test_csv_folder_with_a_time_column_or_a_source_rate(tmp_path):
    root = _folder(tmp_path / "timed")
    assert multitask.is_multitask_source(root)
    data = load_multitask(root, holdout_subject="s02")
    assert data.name == "timed" and data.subjects == ("s01", "s02", "s03") and data.channel_names == SENSORS
    assert data.input_shape == (20, 1, 3) and data.test_subjects == ("s02",) and data.val_subjects == ("s03",)
    assert len(data.y_test) == 3 * ((80 - 20) // 4 + 1)  # 3 runs of 20 s (80 samples at 4 Hz), a window a second
    untimed = _folder(tmp_path / "untimed", columns=(*SENSORS, *TASKS))
    plain = load_multitask(untimed, holdout_subject="s02", source_rate=20.0)
    assert np.allclose(plain.x_test, data.x_test, atol=1e-5) and np.array_equal(plain.y_test, data.y_test)
    binary = load_multitask(_folder(tmp_path / "binary", binary=True), holdout_subject="s02")
    assert np.array_equal(binary.y_test, data.y_test)  # 0/1 columns are taken as already binary
    subset = load_multitask(root, ("Valence", "arousal"), holdout_subject="s02")
    assert subset.tasks == ("valence", "arousal") and np.array_equal(subset.y_test, data.y_test[:, [2, 0]])
    two = _folder(tmp_path / "two", columns=("time", *SENSORS, "valence", "arousal"))
    assert load_multitask(two, None, holdout_subject="s02").tasks == ("arousal", "valence")  # None: what it labels
    shuffled = _write(tmp_path / "mixed" / "s01.csv", columns=("time", "c3", "Arousal", "c1", "valence",
                                                                 "dominance", "c2"))
    for i in (2, 3):
        _write(shuffled.parent / f"s{i:02d}.csv", seed=i - 1)
    mixed = load_multitask(shuffled.parent, holdout_subject="s02")
    assert mixed.channel_names == ("c3", "c1", "c2") and np.allclose(mixed.x_test, data.x_test[..., [2, 0, 1]],
                                                                      atol=1e-5)


def test_is_multitask_source_reads_only_what_it_needs(tmp_path):
    assert multitask.is_multitask_source(SYNTHETIC_MULTITASK)
    assert not multitask.is_multitask_source(tmp_path / "missing")
    (tmp_path / "images" / "happy").mkdir(parents=True)
    assert not multitask.is_multitask_source(tmp_path / "images")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.csv").write_text("time,x,y\n0,1,2\n")
    assert not multitask.is_multitask_source(tmp_path / "other")


def _replace(line: int, column: int, text: str):
    def edit(lines):
        cells = lines[line].split(",")
        cells[column] = text
        return lines[:line] + [",".join(cells)] + lines[line + 1:]
    return edit


BAD = {  # case -> (files to write over the good folder: name -> _write kwargs, load kwargs, message)
    "missing label column": ({"s02.csv": {"columns": ("time", *SENSORS, "arousal", "valence")}}, {},
                             r"s02\.csv: no 'dominance' column \(columns: time, c1, c2, c3, arousal, valence\)"),
    "task not in the file": ({}, {"tasks": ("arousal", "liking")},
                             r"--tasks liking: not a label column of \S*bad/s01\.csv \(labels: arousal, dominance, valence\)"),
    "unsorted timestamps": ({"s02.csv": {"edit": _replace(5, 0, "0.01")}}, {},
                            r"s02\.csv: row 6, column 'time': timestamps out of order \(0\.01 after 0\.15\)"),
    "non-numeric cell": ({"s01.csv": {"edit": _replace(3, 2, "abc")}}, {},
                         r"s01\.csv: row 4, column 'c2': not a number \('abc'\)"),
    "ragged row": ({"s03.csv": {"edit": lambda lines: lines[:7] + ["1,2"] + lines[8:]}}, {},
                   r"s03\.csv: row 8 has 2 fields, the header 7"),
    "window longer than recording": ({}, {"window_s": 100.0},
                                     r"s01\.csv: --window-s 100 is longer than subject s01's recording"),
    "inconsistent sensor columns": ({"s03.csv": {"columns": ("time", "c1", "c2", *TASKS)}}, {},
                                    r"s03\.csv: sensor columns c1,c2 differ from s01\.csv's \(c1,c2,c3\)"),
    "neither time column nor source rate": ({f"s0{i}.csv": {"columns": (*SENSORS, *TASKS)} for i in (1, 2, 3)},
                                            {}, r"s01\.csv: no time column \(time or timestamp\) and no --source"),
    "empty file": ({"s02.csv": {"edit": lambda lines: []}}, {}, r"s02\.csv: empty file"),
    "no data rows": ({"s02.csv": {"edit": lambda lines: lines[:1]}}, {}, r"s02\.csv: a header but no data rows"),
    "no header": ({"s01.csv": {"edit": lambda lines: lines[1:]}}, {}, r"s01\.csv: no header row"),
    "rating off the scale": ({"s03.csv": {"edit": _replace(9, 4, "12")}}, {},
                             r"s03\.csv: row 10, column 'arousal': 12 is neither a 1-9 rating nor a 0/1 label"),
    "fewer than 3 subjects": ({"s03.csv": None}, {}, r"bad: 2 subject CSV file\(s\); a subject-wise split needs"),
    "a split without a class": ({"s02.csv": {"edit": lambda lines: lines[:401]}}, {"holdout_subject": "s02"},
                                r"bad: the test split \(subjects s02\) has only low 'arousal' windows"),
    "bad option": ({}, {"hop_s": 0.0}, r"--hop-s 0: must be positive"),
    "not text": ({"s01.csv": {"edit": lambda lines: ["\udcff\udcfe"] + lines}}, {}, r"s01\.csv: line 1: not UTF-8 text"),
    "repeated task": ({}, {"tasks": "arousal,arousal"}, r"--tasks arousal,arousal: name each task once"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file_or_option(tmp_path, case):
    changes, kwargs, message = BAD[case]
    root = _folder(tmp_path / "bad")
    for name, write in changes.items():
        (root / name).unlink()
        if write is not None:
            _write(root / name, seed=int(name[2]) - 1, **write)
    with pytest.raises(CompressError, match=message) as info:
        load_multitask(root, **kwargs)
    assert "\n" not in str(info.value)


def test_synthetic_options_are_checked():
    with pytest.raises(CompressError, match="--subjects 2: a subject-wise split needs at least 3"):
        load_multitask(SYNTHETIC_MULTITASK, subjects=2)
    with pytest.raises(CompressError, match="synthetic-multitask: --window-s 1000 is longer than subject S01's"):
        load_multitask(SYNTHETIC_MULTITASK, subjects=3, window_s=1000.0)
    with pytest.raises(CompressError, match="--tasks liking: not a label column of synthetic-multitask"):
        load_multitask(SYNTHETIC_MULTITASK, ("liking",), subjects=3)
    with pytest.raises(CompressError, match="nowhere: no such folder"):
        load_multitask("nowhere")
