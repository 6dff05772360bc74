"""Wearable sources as a Dataset: generated or K-EmoCon recordings -> windows -> a leave-one-subject-out split.

A window of T samples x C channels is an image of shape (T, 1, C): the zoo's 1-D models are 2-D networks whose
windows slide along the height only (see ModelSpec's temporal rule), which is also how TFLite Micro runs them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np

from compress import CompressError, files
from compress.config import DataConfig
from compress.console import note
from compress.data import wearables
from compress.data.base import Dataset, cache_path, cache_root
from compress.data.images import SPLITS
from compress.data.kemocon import is_kemocon, read_kemocon
from compress.data.signals import CHANNELS, TARGETS, Recording, subject_windows, windows_at

_PREPARED: dict = {}  # in-process memo: the folds of a LOSO run re-split the same windows


def is_signal_source(source) -> bool:
    return source == wearables.SYNTHETIC_WEARABLES or (source is not None and is_kemocon(source))


@dataclass
class SignalDataset(Dataset):
    """Windows (N, T, 1, C), z-scored per subject; the splits are subjects (test: the held-out one)."""
    channel_names: tuple = CHANNELS
    subjects: tuple = ()  # every subject, in order: the LOSO folds
    holdout: str = ""  # the test subject; val is the next one in order
    rate_hz: float = 4.0
    augmentable: ClassVar[bool] = False  # the image augmentations (warps, blur, clipping to [0, 1]) do not apply

    def at_input(self, input_shape, rate_divisor: int = 1) -> "Dataset":
        return windows_at(self, input_shape, rate_divisor)


def _count(config: DataConfig) -> int:
    """--subjects, or the generator's default."""
    return config.subjects or wearables.SUBJECTS


def _cache_path(config: DataConfig, cache_dir) -> Path:
    params = dict(generator=wearables.fingerprint(), subjects=_count(config), seed=config.seed)
    return cache_path(wearables.SYNTHETIC_WEARABLES, params, cache_dir)


def _synthetic(config: DataConfig, cache_dir) -> list[Recording]:
    """Generated recordings, cached as one .npz per parameter set (the windows are cut from them per run)."""
    path = _cache_path(config, cache_dir)
    if path.exists():
        with np.load(path) as f:
            return [_unpack(f, i) for i in range(int(f["subjects"]))]
    note(f"generating {_count(config)} subjects' synthetic wearable recordings of {wearables.MINUTES:g} minutes "
         f"(first run with these settings only; cached in {path})")
    recs = wearables.generate(_count(config), config.seed)
    arrays = {"subjects": np.array(len(recs))}
    for i, rec in enumerate(recs):
        arrays |= {f"{i}_{c}_{p}": a for c, pair in rec.signals.items() for p, a in zip("tv", pair)}
        arrays |= {f"{i}_report": rec.report_s, f"{i}_arousal": rec.arousal, f"{i}_valence": rec.valence,
                   f"{i}_subject": np.array(rec.subject)}
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_with(path, lambda staged: np.savez(staged, **arrays))  # all or nothing, ENOSPC as one line
    return recs


def _unpack(f, i: int) -> Recording:
    signals = {c: (f[f"{i}_{c}_t"], f[f"{i}_{c}_v"]) for c in CHANNELS}
    return Recording(str(f[f"{i}_subject"]), signals, f[f"{i}_report"], f[f"{i}_arousal"], f[f"{i}_valence"])


def recordings(config: DataConfig, cache_dir=None) -> list[Recording]:
    if config.source == wearables.SYNTHETIC_WEARABLES:
        if _count(config) < 3:
            raise CompressError(f"--subjects {_count(config)}: leave-one-subject-out needs at least 3")
        return _synthetic(config, cache_dir)
    return read_kemocon(config.source)


def _check(config: DataConfig) -> None:
    if config.target not in TARGETS:
        raise CompressError(f"--target {config.target!r}: choose {' or '.join(TARGETS)}")
    for name, value in (("--rate", config.rate_hz), ("--window-s", config.window_s), ("--hop-s", config.hop_s)):
        if not value > 0:
            raise CompressError(f"{name} {value:g}: must be positive")


def windows(config: DataConfig, cache_dir=None) -> dict:
    """subject -> (windows, labels) for every subject, memoised per preparation setting."""
    _check(config)
    key = (config.source, _count(config), config.seed, config.rate_hz, config.window_s, config.hop_s, config.target,
           str(cache_root(cache_dir)), json.dumps(wearables.fingerprint()))
    if key not in _PREPARED:
        name = Path(config.source).name if config.source != wearables.SYNTHETIC_WEARABLES else config.source
        _PREPARED[key] = {rec.subject: subject_windows(rec, config, name) for rec in recordings(config, cache_dir)}
    return _PREPARED[key]


def subjects(config: DataConfig, cache_dir=None) -> list[str]:
    return list(windows(config, cache_dir))


def subject_split(groups: np.ndarray, names: list, holdout: str) -> np.ndarray:
    """Per window 0/1/2: test = the held-out subject, val = the next N // 5 subjects (at least one) in order.

    Several validation subjects make the validation AUC (which picks epochs and, in a search, candidates) less
    the verdict of one person: subjects differ far more than windows of one subject do.
    """
    i, n_val = names.index(holdout), max(1, len(names) // 5)
    val = [names[(i + k) % len(names)] for k in range(1, n_val + 1)]
    return np.where(groups == holdout, 2, np.where(np.isin(groups, val), 1, 0))


def load_signals(config: DataConfig, cache_dir=None) -> SignalDataset:
    """Train / val / test windows: test = the held-out subject (default: the first), val = the next ones."""
    per_subject = windows(config, cache_dir)
    names = list(per_subject)
    holdout = names[0] if config.holdout_group is None else str(config.holdout_group)
    if holdout not in names:
        raise CompressError(f"--holdout-subject {holdout}: no such subject (subjects: {', '.join(names)})")
    x = np.concatenate([per_subject[s][0] for s in names])
    y = np.concatenate([per_subject[s][1] for s in names])
    groups = np.concatenate([[s] * len(per_subject[s][1]) for s in names])
    split = subject_split(groups, names, holdout)
    rng = np.random.default_rng([config.seed, 2])
    parts = {}
    for i, s in enumerate(SPLITS):
        idx = np.flatnonzero(split == i)
        idx = rng.permutation(idx) if s == "train" else idx  # val and test keep time order (plots, streaming)
        parts[f"x_{s}"], parts[f"y_{s}"] = x[idx], y[idx]
    level = ("low", "high")
    name = config.source if config.source == wearables.SYNTHETIC_WEARABLES else Path(config.source).name
    return SignalDataset(name, tuple(f"{lv}-{config.target}" for lv in level), **parts, subjects=tuple(names),
                         holdout=holdout, rate_hz=config.rate_hz)
