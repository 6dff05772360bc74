"""A K-EmoCon-layout folder: one sub-folder per participant with E4, Polar and self-report CSV files.

    root/<participant>/BVP.csv          timestamp,value   E4 blood volume pulse, 64 Hz
    root/<participant>/EDA.csv          timestamp,value   E4 electrodermal activity (uS), 4 Hz
    root/<participant>/TEMP.csv         timestamp,value   E4 skin temperature (degC), 4 Hz
    root/<participant>/HR.csv           timestamp,value   Polar H10 heart rate (bpm), 1 Hz
    root/<participant>/annotations.csv  seconds,arousal,valence[,...]   self-reports 1-5, one every 5 s

K-EmoCon's own names (E4_BVP.csv, ..., Polar_HR.csv) are accepted too. Timestamps are UNIX milliseconds (K-EmoCon's
unit) and must increase; other columns are ignored. Time zero is the moment every sensor is recording (the latest
first timestamp of the four); a report at `seconds = s` covers [s - 5, s) from there, as K-EmoCon's 5-s reports
cover the 5 s before them.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.data.signals import CHANNELS, Recording

FILES = {"bvp": ("BVP.csv", "E4_BVP.csv"), "eda": ("EDA.csv", "E4_EDA.csv"), "temp": ("TEMP.csv", "E4_TEMP.csv"),
         "hr": ("HR.csv", "Polar_HR.csv", "E4_HR.csv")}
ANNOTATIONS = "annotations.csv"
MS = 1e-3  # timestamps are milliseconds


def is_kemocon(path) -> bool:
    """A folder with a sub-folder that holds any of the sensor or annotation files (an image folder holds none)."""
    path = Path(path)
    names = {n for options in FILES.values() for n in options} | {ANNOTATIONS}
    return path.is_dir() and any(d.is_dir() and any((d / n).exists() for n in names) for d in path.iterdir())


def _find(folder: Path, options: tuple[str, ...]) -> Path:
    for name in options:
        if (folder / name).exists():
            return folder / name
    raise CompressError(f"{folder}: missing {options[0]} (participant folders need "
                        f"{', '.join(f[0] for f in FILES.values())} and {ANNOTATIONS})")


def _columns(path: Path, wanted: tuple[str, ...]) -> list[np.ndarray]:
    """The named columns of a CSV with a header row, as float arrays."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    missing = [w for w in wanted if w not in header]
    if missing or len(rows) < 2:
        raise CompressError(f"{path}: expected a header with {','.join(wanted)} and at least one row")
    try:
        return [np.array([float(r[header.index(w)]) for r in rows[1:] if r], float) for w in wanted]
    except (ValueError, IndexError) as exc:
        raise CompressError(f"{path}: not a number in columns {','.join(wanted)}: {exc}") from None


def _increasing(path: Path, t: np.ndarray) -> None:
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        raise CompressError(f"{path}: timestamps out of order at data row {bad[0] + 2} "
                            f"({t[bad[0]]:.0f} then {t[bad[0] + 1]:.0f})")


def read_participant(folder: Path) -> Recording:
    raw = {}
    for channel in CHANNELS:
        path = _find(folder, FILES[channel])
        t, v = _columns(path, ("timestamp", "value"))
        _increasing(path, t)
        raw[channel] = (t * MS, v)
    path = folder / ANNOTATIONS
    if not path.exists():
        _find(folder, (ANNOTATIONS,))
    seconds, arousal, valence = _columns(path, ("seconds", "arousal", "valence"))
    _increasing(path, seconds)
    if np.any((arousal < 1) | (arousal > 5) | (valence < 1) | (valence > 5)):
        raise CompressError(f"{path}: arousal and valence must be on the 1-5 scale")
    start = max(t[0] for t, _ in raw.values())
    signals = {c: (t - start, v) for c, (t, v) in raw.items()}
    return Recording(folder.name, signals, seconds, arousal.astype(np.int64), valence.astype(np.int64))


def read_kemocon(root) -> list[Recording]:
    """Every participant folder under root, in name order."""
    folders = sorted(d for d in Path(root).iterdir() if d.is_dir())
    if len(folders) < 3:
        raise CompressError(f"{root}: {len(folders)} participant folder(s); leave-one-subject-out needs at least 3")
    return [read_participant(d) for d in folders]
