"""Multi-task windows: one study of 8 sensors at 250 Hz with arousal, dominance and valence labels, as a Dataset.

Sources: 'synthetic-multitask' (multitask_synth.py) or a folder with one CSV per subject (file stem = subject id):

    root/<subject>.csv   time,eeg,eog,gsr,temp,ppg,emg,resp,ecg,arousal,dominance,valence   (a header row)

- time: a column `time` or `timestamp` in seconds, strictly increasing (it wins over --source-rate); without one
  every file is sampled at `source_rate` Hz. Column names are matched ignoring case. The sensor columns are all
  the others except the label columns, the same set in every file (their order may differ: the first file's is
  used), so one model input fits every subject.
- labels (arousal, dominance, valence): per sample, a 1-9 self-rating (DEAP-style); high = rating >=
  HIGH_FROM[task] (5, DEAP's midpoint, for each). A task whose column holds only 0 and 1 in every file is taken as
  already binary (decided over the whole folder, so a subject rated high throughout is not read as a rating of 1).
- preparation (signals.py's own steps): every channel resampled to `rate_hz` (rolling mean down, linear up), the
  labels too (a sample is -1 where its interval mixes labels); windows of `window_s` every `hop_s` inside runs
  where every requested task's label is constant, so no window straddles a change of any task, nor a subject;
  per-subject, per-channel z-scores from the subject's own recording.
- split, subject-wise: test = round(test_fraction x subjects) subjects (at least one) drawn with the seed, or the
  `holdout_group` (--holdout-subject) alone; validation = a fifth of the others (at least one; drawn with the seed
  too, or the next ones in name order after the held-out subject): with 20 subjects 4 test, 3 val, 13 train.
  Several validation subjects make the validation AUC less the verdict of one person. Every split must hold both
  classes of every task, else no AUC is defined for that head.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.config import DataConfig
from compress.data.base import Dataset, cache_root
from compress.data.images import SPLITS
from compress.data.multitask_synth import (  # noqa: F401 - generate is part of this module's API
    CHANNELS, HIGH_FROM, SUBJECTS, SYNTHETIC_MULTITASK, TASKS, Session, cached, fingerprint, generate)
from compress.data.multitask_csv import (  # noqa: F401 - TIME_COLUMNS, is_multitask_source: this API
    TIME_COLUMNS, binary_labels, csv_files, header, is_multitask_source, read_folder)
from compress.data.signals import check_window_memory, resample, window_starts, windows_at, zscore

CLASS_NAMES = ("low", "high")
_PREPARED: dict = {}  # in-process memo: the folds of a LOSO run re-split the same windows


@dataclass
class MultiTaskDataset(Dataset):
    """Windows (N, T, 1, C) z-scored per subject; y (N, K): column k = task k, 0 low / 1 high."""
    tasks: tuple = TASKS
    channel_names: tuple = CHANNELS
    subjects: tuple = ()  # every subject, in order
    test_subjects: tuple = ()
    val_subjects: tuple = ()
    holdout: str = ""  # the test subject when one was held out
    rate_hz: float = 4.0
    groups: dict = field(default_factory=dict, repr=False, compare=False)  # split -> subject of every window
    augmentable: ClassVar[bool] = False  # the image augmentations do not apply

    def at_input(self, input_shape, rate_divisor: int = 1) -> "Dataset":
        return windows_at(self, input_shape, rate_divisor)

    def task_labels(self, split: str, task: str) -> np.ndarray:
        """The 1-D labels of one task in one split."""
        if task not in self.tasks:
            raise CompressError(f"task {task!r}: not among this data's tasks ({', '.join(self.tasks)})")
        return self.split(split)[1][:, self.tasks.index(task)]

    def task_counts(self) -> dict:
        """split -> task -> {low: n, high: n}."""
        return {s: {t: {c: int(np.sum(self.task_labels(s, t) == i)) for i, c in enumerate(self.class_names)}
                    for t in self.tasks} for s in SPLITS}


# --- windows, splits, the data set ----------------------------------------------------------------------------

def _labels_at(times: np.ndarray, labels: np.ndarray, rate: float, n: int) -> np.ndarray:
    """0/1 labels on the output grid, resampled as the signals are; -1 where an interval mixes both."""
    r = resample(times, labels.astype(float), rate, n)
    return np.where((r == 0) | (r == 1), r, -1).astype(np.int64)


def subject_windows(session: Session, labels: np.ndarray,
                    config: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows (N, T, 1, C) float32, labels (N, K) int64, starts (N,) on the rate grid) of one subject, as config
    asks (rate_hz, window_s, hop_s); labels (n, K) are its 0/1 labels per source sample."""
    rate, window_s, hop_s = float(config.rate_hz), float(config.window_s), float(config.hop_s)
    length, hop = round(window_s * rate), round(hop_s * rate)
    if length < 1 or hop < 1:
        raise CompressError(f"{session.source}: --window-s {window_s:g} and --hop-s {hop_s:g} at --rate {rate:g} "
                            "Hz must each span at least one sample")
    t = session.times - session.times[0]
    duration = float(t[-1])
    n = int(np.floor(duration * rate + 1e-9)) + 1
    if length > n:
        raise CompressError(f"{session.source}: --window-s {window_s:g} is longer than subject {session.subject}'s "
                            f"recording ({duration:.1f} s)")
    check_window_memory(session.source, session.subject, n, length, hop, session.signals.shape[1])
    signal = zscore(np.stack([resample(t, column, rate, n) for column in session.signals.T], axis=1))
    per_sample = np.stack([_labels_at(t, column, rate, n) for column in labels.T], axis=1)
    code = np.where((per_sample >= 0).all(axis=1), per_sample @ (2 ** np.arange(labels.shape[1])), -1)
    starts = window_starts(code, length, hop)
    windows = signal[starts[:, None] + np.arange(length)[None, :]]
    return windows[:, :, None, :], per_sample[starts], starts


def split_subjects(names: list, seed: int, test_fraction: float = 0.2, holdout=None) -> tuple[list, list, list]:
    """(train, val, test) subjects: test = the holdout, or round(test_fraction x n) (at least 1) drawn with the
    seed; val = a fifth of the rest (at least one): the next in order after the holdout, else drawn too."""
    if holdout is not None:
        i = names.index(holdout)
        rest = [names[(i + k) % len(names)] for k in range(1, len(names))]
        test = [holdout]
    else:
        order = np.random.default_rng([seed, 3]).permutation(len(names))
        n_test = max(1, round(test_fraction * len(names)))
        test, rest = [names[i] for i in order[:n_test]], [names[i] for i in order[n_test:]]
    val = rest[:max(1, len(rest) // 5)]
    train = [s for s in names if s not in test and s not in val]
    if not train:
        raise CompressError(f"--test-fraction {test_fraction:g}: leaves no training subject of {len(names)}")
    return train, sorted(val), sorted(test)


def _check(config: DataConfig, test_fraction: float) -> tuple:
    """The tasks (--tasks; none given: every task column of the first file), after checking every option."""
    source = str(config.source)
    paths = [] if source == SYNTHETIC_MULTITASK else csv_files(Path(source))
    labelled = [h for h in (header(paths[0]) if paths else TASKS) if h.lower() in TASKS]
    tasks = config.tasks.split(",") if config.tasks else [t for t in TASKS if t in {h.lower() for h in labelled}]
    tasks = tuple(t.strip().lower() for t in (tasks or TASKS) if t.strip())
    if not tasks or len(set(tasks)) < len(tasks):
        raise CompressError(f"--tasks {','.join(tasks)}: name each task once (of {', '.join(TASKS)})")
    for name, value in (("--rate", config.rate_hz), ("--window-s", config.window_s), ("--hop-s", config.hop_s),
                        ("--source-rate", 1.0 if config.source_rate is None else config.source_rate)):
        if not value > 0:
            raise CompressError(f"{name} {value:g}: must be positive")
    if not 0 < test_fraction < 1:
        raise CompressError(f"--test-fraction {test_fraction:g}: must be between 0 and 1")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise CompressError(f"--tasks {unknown[0]}: not a label column of {paths[0] if paths else source} "
                            f"(labels: {', '.join(labelled) or 'none'})")
    return tasks


def _subjects(config: DataConfig) -> int:
    """--subjects, or the generator's default."""
    return int(config.subjects or SUBJECTS)


def _windows(config: DataConfig, tasks: tuple, cache_dir=None) -> tuple[dict, tuple]:
    """(subject -> (windows, labels), channel names), memoised per preparation setting."""
    source = str(config.source)
    stamp = [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in csv_files(Path(source))] \
        if source != SYNTHETIC_MULTITASK else json.dumps(fingerprint())
    key = (source, tasks, float(config.rate_hz), float(config.window_s), float(config.hop_s), _subjects(config),
           int(config.seed), config.source_rate, str(cache_root(cache_dir)), str(stamp))
    if key not in _PREPARED:
        if source == SYNTHETIC_MULTITASK:
            if _subjects(config) < 3:
                raise CompressError(f"--subjects {_subjects(config)}: a subject-wise split needs at least 3")
            sessions, channels = cached(_subjects(config), int(config.seed), cache_dir), CHANNELS
        else:
            sessions, channels = read_folder(source, tasks, config.source_rate)
        labels = [np.stack(per, axis=1) for per in zip(*(binary_labels(sessions, t) for t in tasks))]
        _PREPARED[key] = ({s.subject: subject_windows(s, y, config)[:2]
                           for s, y in zip(sessions, labels)}, channels)
    return _PREPARED[key]


def load_multitask(config: DataConfig, *, test_fraction: float = 0.2, cache_dir=None) -> MultiTaskDataset:
    """Train / val / test windows of config.tasks (a subset of TASKS in the order of the heads; none given: every
    task the first file labels), split subject-wise (config.holdout_group: the one test subject)."""
    source, seed = str(config.source), int(config.seed)
    if source != SYNTHETIC_MULTITASK and not Path(source).is_dir():
        raise CompressError(f"{source}: no such folder (and not '{SYNTHETIC_MULTITASK}')")
    tasks = _check(config, test_fraction)
    per_subject, channels = _windows(config, tasks, cache_dir)
    names = list(per_subject)
    holdout = None if config.holdout_group is None else str(config.holdout_group)
    if holdout is not None and holdout not in names:
        raise CompressError(f"--holdout-subject {holdout}: no such subject (subjects: {', '.join(names)})")
    split_names = dict(zip(SPLITS, split_subjects(names, seed, test_fraction, holdout)))
    name = source if source == SYNTHETIC_MULTITASK else Path(source).name
    rng, parts, groups = np.random.default_rng([seed, 2]), {}, {}
    for s in SPLITS:
        who = [n for n in names if n in split_names[s]]
        x = np.concatenate([per_subject[n][0] for n in who])
        y = np.concatenate([per_subject[n][1] for n in who])
        g = np.concatenate([[n] * len(per_subject[n][1]) for n in who])
        for k, task in enumerate(tasks):
            if len(np.unique(y[:, k])) < 2:
                only = "no" if not len(y) else ("only high" if y[0, k] else "only low")
                raise CompressError(f"{name}: the {s} split (subjects {', '.join(who)}) has {only} '{task}' "
                                    "windows: its AUC is undefined (try another --seed or --holdout-subject)")
        idx = rng.permutation(len(y)) if s == "train" else np.arange(len(y))  # val, test keep time order
        parts[f"x_{s}"], parts[f"y_{s}"], groups[s] = x[idx], y[idx].astype(np.int64), g[idx]
    return MultiTaskDataset(name, CLASS_NAMES, **parts, tasks=tasks, channel_names=tuple(channels),
                            subjects=tuple(names), test_subjects=tuple(split_names["test"]),
                            val_subjects=tuple(split_names["val"]), holdout=holdout or "",
                            rate_hz=float(config.rate_hz), groups=groups)
