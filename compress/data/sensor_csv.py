"""Sensor CSV files read as strictly as images: UTF-8 text (a byte-order mark, as Excel writes, is accepted; any
other encoding is named), every value a finite number, timestamps finite, increasing and within a day of each
other. Each problem is one CompressError naming the file, the row (the file's own line number) and the column."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from compress import CompressError

MAX_SPAN_S = 24 * 3600.0  # one recording: a day at most (a timestamp 10^13 ms away would ask for 298 GiB)


def rows(path: Path) -> list[tuple[int, list[str]]]:
    """(file line, fields) of every non-blank row, the header included."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CompressError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CompressError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}; Latin-1 or "
                            "another encoding?): save it as UTF-8") from None
    if "\x00" in text:
        raise CompressError(f"{path}: holds NUL bytes: not a text CSV file (UTF-16? save it as UTF-8)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise CompressError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None


def finite(path: Path, values: np.ndarray, lines, header: list[str]) -> None:
    """Every cell of values (rows, columns) finite; else the first NaN or infinity, by row and column."""
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, j = bad[0]
        raise CompressError(f"{path}: row {lines[i]}, column '{header[j]}': {values[i, j]:g} is not a finite number "
                            "(NaN and infinity are refused)")


def timestamps(path: Path, t: np.ndarray, lines, column: str, unit_s: float = 1.0) -> None:
    """Timestamps (in units of unit_s seconds) finite, strictly increasing and spanning at most MAX_SPAN_S."""
    finite(path, np.asarray(t, float)[:, None], lines, [column])
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        raise CompressError(f"{path}: row {lines[bad[0] + 1]}, column '{column}': timestamps out of order "
                            f"({t[bad[0] + 1]:.15g} after {t[bad[0]]:.15g})")
    if len(t) and (t[-1] - t[0]) * unit_s > MAX_SPAN_S:
        jump = int(np.argmax(np.diff(t))) if len(t) > 1 else 0
        raise CompressError(f"{path}: row {lines[jump + 1]}, column '{column}': {t[jump + 1]:.15g} lies "
                            f"{(t[jump + 1] - t[0]) * unit_s:.3g} s after the first timestamp; a recording may "
                            f"span at most {MAX_SPAN_S / 3600:g} hours")
