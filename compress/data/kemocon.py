"""A K-EmoCon-layout folder: one sub-folder per participant with E4, Polar and self-report CSV files.

    root/<participant>/BVP.csv          timestamp,value   E4 blood volume pulse, 64 Hz
    root/<participant>/EDA.csv          timestamp,value   E4 electrodermal activity (uS), 4 Hz
    root/<participant>/TEMP.csv         timestamp,value   E4 skin temperature (degC), 4 Hz
    root/<participant>/HR.csv           timestamp,value   Polar H10 heart rate (bpm), 1 Hz
    root/<participant>/annotations.csv  seconds,arousal,valence[,...]   self-reports 1-5, one every 5 s

K-EmoCon's own names (E4_BVP.csv, ..., Polar_HR.csv) are accepted too. Timestamps are UNIX milliseconds (K-EmoCon's
unit) and must increase, within a day; values and ratings must be finite (sensor_csv); other columns are
ignored. Time zero is the moment every sensor is recording (the latest first timestamp of the four); a report at
`seconds = s` covers [s - 5, s) from there, as K-EmoCon's 5-s reports cover the 5 s before them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress import CompressError
from compress.data import sensor_csv
from compress.data.signals import CHANNELS, Recording

FILES = {"bvp": ("BVP.csv", "E4_BVP.csv"), "eda": ("EDA.csv", "E4_EDA.csv"), "temp": ("TEMP.csv", "E4_TEMP.csv"),
         "hr": ("HR.csv", "Polar_HR.csv", "E4_HR.csv")}
ANNOTATIONS = "annotations.csv"
MS = 1e-3  # timestamps are milliseconds


def is_kemocon(path) -> bool:
    """A folder with a sub-folder that holds any of the sensor or annotation files (an image folder holds none)."""
    path = Path(path)
    names = {n for options in FILES.values() for n in options} | {ANNOTATIONS}
    return path.is_dir() and any(_holds(d, names) for d in path.iterdir())


def _holds(folder: Path, names: set) -> bool:
    """folder holds any of names; an unreadable folder holds none (the image reader then names it, not E4_HR.csv)."""
    try:
        return folder.is_dir() and any((folder / n).exists() for n in names)
    except OSError:
        return False


def _find(folder: Path, options: tuple[str, ...]) -> Path:
    for name in options:
        if (folder / name).exists():
            return folder / name
    raise CompressError(f"{folder}: missing {options[0]} (participant folders need "
                        f"{', '.join(f[0] for f in FILES.values())} and {ANNOTATIONS})")


def _columns(path: Path, wanted: tuple[str, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """(the named columns of a CSV with a header row, as finite float arrays; the file line of every row)."""
    table = sensor_csv.rows(path)
    header = [h.strip().lower() for h in table[0][1]] if table else []
    missing = [w for w in wanted if w not in header]
    if missing or len(table) < 2:
        raise CompressError(f"{path}: expected a header with {','.join(wanted)} and at least one row")
    lines = np.array([n for n, _ in table[1:]])
    at = [header.index(w) for w in wanted]
    try:
        values = np.array([[float(r[i]) for i in at] for _, r in table[1:]], float).reshape(-1, len(wanted))
    except (ValueError, IndexError):
        line, row = next((n, r) for n, r in table[1:] if not _numbers(r, at))
        raise CompressError(f"{path}: row {line}: not a number in columns {','.join(wanted)} "
                            f"({','.join(row)[:60]!r})") from None
    sensor_csv.finite(path, values, lines, list(wanted))
    return list(values.T), lines


def _numbers(row: list[str], at: list[int]) -> bool:
    try:
        [float(row[i]) for i in at]
    except (ValueError, IndexError):
        return False
    return True


def _ratings(path: Path, lines, **scales) -> None:
    for name, v in scales.items():
        bad = np.flatnonzero((v < 1) | (v > 5) | (v != np.round(v)))
        if len(bad):
            raise CompressError(f"{path}: row {lines[bad[0]]}, column '{name}': {v[bad[0]]:g} is not a rating "
                                "on the 1-5 scale (arousal and valence must be whole numbers 1-5)")


def read_participant(folder: Path) -> Recording:
    raw = {}
    for channel in CHANNELS:
        path = _find(folder, FILES[channel])
        (t, v), lines = _columns(path, ("timestamp", "value"))
        sensor_csv.timestamps(path, t, lines, "timestamp", unit_s=MS)
        raw[channel] = (t * MS, v)
    path = folder / ANNOTATIONS
    if not path.exists():
        _find(folder, (ANNOTATIONS,))
    (seconds, arousal, valence), lines = _columns(path, ("seconds", "arousal", "valence"))
    sensor_csv.timestamps(path, np.concatenate([[0.0], seconds]), np.concatenate([[lines[0]], lines]), "seconds")
    _ratings(path, lines, arousal=arousal, valence=valence)
    start = max(t[0] for t, _ in raw.values())
    if min(t[-1] for t, _ in raw.values()) <= start:
        firsts = ", ".join(f"{c} {t[0] / MS:.15g}" for c, (t, _) in raw.items())
        raise CompressError(f"{folder}: the sensors never record at the same time (first timestamps in ms: "
                            f"{firsts})")
    signals = {c: (t - start, v) for c, (t, v) in raw.items()}
    return Recording(folder.name, signals, seconds, arousal.astype(np.int64), valence.astype(np.int64))


def read_kemocon(root) -> list[Recording]:
    """Every participant folder under root, in name order."""
    folders = sorted(d for d in Path(root).iterdir() if d.is_dir())
    if len(folders) < 3:
        raise CompressError(f"{root}: {len(folders)} participant folder(s); leave-one-subject-out needs at least 3")
    return [read_participant(d) for d in folders]
