"""The multi-task CSV layout: one file per subject (file stem = subject id), a time column or a fixed rate, sensor
columns and 1-9 self-ratings per sample (compress/data/multitask.py documents the layout and the label rule)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.data import sensor_csv
from compress.data.multitask_synth import CHANNELS, HIGH_FROM, SYNTHETIC_MULTITASK, TASKS, Session

TIME_COLUMNS = ("time", "timestamp")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def _table(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(header, values (rows, columns), the file line of every row) of a CSV with a header row; blank lines skipped."""
    rows = sensor_csv.rows(path)
    if len(rows) < 2:
        raise CompressError(f"{path}: {'empty file' if not rows else 'a header but no data rows'} (expected a "
                            "header row and one row per sample)")
    header = [h.strip() for h in rows[0][1]]
    if np.isfinite([_number(h) for h in header]).all():
        raise CompressError(f"{path}: no header row (the first row holds numbers; name the columns, e.g. "
                            f"time,{','.join(CHANNELS)},{','.join(TASKS)})")
    if len({h.lower() for h in header}) < len(header):
        raise CompressError(f"{path}: a column name repeats (ignoring case): {', '.join(header)}")
    lines, body = np.array([n for n, _ in rows[1:]]), [r for _, r in rows[1:]]
    for line, row in zip(lines, body):
        if len(row) != len(header):
            raise CompressError(f"{path}: row {line} has {len(row)} fields, the header {len(header)}")
    try:
        values = np.array(body, dtype=float)  # fast; the slow cell-by-cell pass only finds the bad cell
    except ValueError:
        values = np.array([[_number(c) for c in r] for r in body])
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        (i, j), cell = bad[0], body[bad[0][0]][bad[0][1]].strip()
        raise CompressError(f"{path}: row {lines[i]}, column '{header[j]}': not a number ({cell!r})")
    return header, values, lines


def read_subject(path: Path, tasks: tuple, source_rate: float | None) -> tuple[Session, list[str]]:
    """One subject's CSV: (session with the requested tasks' label columns, its sensor column names)."""
    header, values, lines = _table(path)
    lowered = [h.lower() for h in header]
    for task in tasks:
        if task not in lowered:
            raise CompressError(f"{path}: no '{task}' column (columns: {', '.join(header)})")
    time_col = next((lowered.index(c) for c in TIME_COLUMNS if c in lowered), None)
    if time_col is not None:
        times = values[:, time_col]
        sensor_csv.timestamps(path, times, lines, header[time_col])
    elif source_rate is None:
        raise CompressError(f"{path}: no time column ({' or '.join(TIME_COLUMNS)}) and no --source-rate; give one")
    else:
        times = np.arange(len(values)) / source_rate
    sensors = [i for i, h in enumerate(lowered) if i != time_col and h not in TASKS]
    if not sensors:
        raise CompressError(f"{path}: no sensor columns (columns: {', '.join(header)})")
    labels = {t: values[:, lowered.index(t)] for t in tasks}
    for task, v in labels.items():
        bad = np.flatnonzero(~((v == 0) | ((v >= 1) & (v <= 9))))
        if len(bad):
            raise CompressError(f"{path}: row {lines[bad[0]]}, column '{task}': {v[bad[0]]:g} is neither a 1-9 "
                                "rating nor a 0/1 label")
    return (Session(path.stem, times - times[0], values[:, sensors].astype(np.float32), labels, str(path)),
            [header[i] for i in sensors])


def csv_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".csv") if root.is_dir() else []


def read_folder(root, tasks: tuple = TASKS, source_rate: float | None = None) -> tuple[list[Session], tuple]:
    """(every subject's session in name order, the sensor column names in the first file's order)."""
    paths = csv_files(Path(root))
    if len(paths) < 3:
        raise CompressError(f"{root}: {len(paths)} subject CSV file(s); a subject-wise split needs at least 3")
    sessions, first = [], None
    for path in paths:
        session, names = read_subject(path, tasks, source_rate)
        first, lowered = first or names, [n.lower() for n in names]
        if sorted(lowered) != sorted(n.lower() for n in first):
            raise CompressError(f"{path}: sensor columns {','.join(names)} differ from {paths[0].name}'s "
                                f"({','.join(first)})")
        session.signals = session.signals[:, [lowered.index(n.lower()) for n in first]]
        sessions.append(session)
    return sessions, tuple(first)


def binary_labels(sessions: list[Session], task: str) -> list[np.ndarray]:
    """Per session, the task's 0/1 label per sample: as given when every file holds 0/1 only, else ratings >=
    HIGH_FROM are high (and a 0 among ratings is an error)."""
    if all(set(np.unique(s.labels[task])) <= {0.0, 1.0} for s in sessions):
        return [s.labels[task].astype(np.int64) for s in sessions]
    for s in sessions:
        if np.any(s.labels[task] == 0):
            raise CompressError(f"{s.source}: '{task}' holds 0, yet other files give it 1-9 ratings")
    return [(s.labels[task] >= HIGH_FROM[task]).astype(np.int64) for s in sessions]


def is_multitask_source(source) -> bool:
    """The synthetic name, or a folder whose first CSV names any task column (reads that header only)."""
    if source == SYNTHETIC_MULTITASK:
        return True
    try:
        paths = csv_files(Path(source))
        return bool(paths) and any(h.lower() in TASKS for h in header(paths[0]))
    except (OSError, TypeError):
        return False


def header(path: Path) -> list[str]:
    """The first row, or nothing where the file is no text CSV (_table then says so, naming it)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [h.strip() for h in next(csv.reader(f), [])]
    except (UnicodeDecodeError, csv.Error):
        return []
