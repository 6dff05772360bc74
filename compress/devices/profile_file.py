"""Reading a device profile file (board.json): the schema, checked field by field before anything uses it.

A small checker of its own (no JSON-schema dependency): every problem is one line naming the file and the field.
The schema is README's 'Device profiles as data'; the shipped profiles in compress/devices/builtin/ follow it."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from compress import CompressError, validate
from compress.devices import cores

MAX_FILE_BYTES = 64 * 1024  # a profile is a few hundred bytes; anything larger is not one
GiB = 1024 ** 3
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
# number fields: (whole number?, lowest allowed, lowest included?, highest allowed, required?)
NUMBERS = {
    "clock_hz": (False, 0, False, 2e9, True),  # Hz: > 0, at most 2 GHz
    "flash_bytes": (True, 0, False, GiB, True),  # what a program may occupy
    "ram_bytes": (True, 0, False, GiB, True),  # what a program may use for data
    "runtime_flash_bytes": (True, 0, True, GiB, False),  # flash the program around the model takes
    "runtime_ram_bytes": (True, 0, True, GiB, False),  # RAM the program around the model takes
    "flops_per_s": (False, 0, False, 1e12, False),  # latency model 'flops'
    "cycles_per_instruction": (False, 0, False, 100, False),  # latency model 'emulated' and emulated runs
}
TEXTS = {"name", "title", "core", "kernels", "firmware"}
REQUIRED = ("name", "core", "clock_hz", "flash_bytes", "ram_bytes", "sources")
KERNELS = ("reference", "cmsis-nn")


def read(path, boards: dict) -> dict:
    """The checked fields of a profile file; CompressError (one line: file, field, problem) when it is not one.

    boards: firmware board name -> the profile names it serves (None: any)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CompressError(f"{path}: {path.stat().st_size:,} bytes, not a device profile (at most "
                                f"{MAX_FILE_BYTES:,})")
        text = path.read_bytes()
    except OSError as exc:
        raise CompressError(f"{path}: cannot read the device profile: {exc.strerror or exc}") from None
    return check(validate.parse_json(text, path), str(path), boards)  # UTF-8 (BOM or not), nesting limit, JSON


def check(data, where: str, boards: dict) -> dict:
    """The profile's fields with defaults filled in, each checked; `where` names the file in errors."""
    if not isinstance(data, dict):
        raise CompressError(f"{where}: expected a JSON object of device fields, not {type(data).__name__}")
    unknown = sorted(set(data) - set(NUMBERS) - TEXTS - {"sources"})
    if unknown:
        raise CompressError(f"{where}: unknown field {unknown[0]!r}; fields: {', '.join([*TEXTS, *NUMBERS])}, "
                            "sources")
    for name in REQUIRED:
        if name not in data:
            raise CompressError(f"{where}: missing field {name!r} (required: {', '.join(REQUIRED)})")
    for name, rule in NUMBERS.items():
        if name in data:
            _number(data[name], name, rule, where)
    _texts(data, where, boards)
    _sizes(data, where)
    _sources(data, where)
    return data


def _number(value, name: str, rule: tuple, where: str) -> None:
    whole, low, low_ok, high, _ = rule
    kind = "a whole number" if whole else "a number"
    expected = f"{kind} {'>=' if low_ok else '>'} {low:g} and <= {high:g}"
    good = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value >= low if low_ok else value > low) and value <= high and (not whole or value == int(value))
    if not good:
        raise CompressError(f"{where}: {name}: expected {expected}, got {_shown(value)}")


def _texts(data: dict, where: str, boards: dict) -> None:
    for name in TEXTS & set(data):
        value = data[name]
        if not (isinstance(value, str) or (name == "firmware" and value is None)):
            raise CompressError(f"{where}: {name}: expected a string, got {_shown(value)}")
    if not _NAME.match(data["name"]):
        raise CompressError(f"{where}: name: expected 1-40 letters, digits, '_', '.', '-', got {_shown(data['name'])}")
    if data["core"] not in cores.CORES:
        raise CompressError(f"{where}: core: expected one of {', '.join(cores.CORES)}, got {_shown(data['core'])}")
    if data.get("kernels", "reference") not in KERNELS:
        raise CompressError(f"{where}: kernels: expected one of {', '.join(KERNELS)}, got {_shown(data['kernels'])}")
    board = data.get("firmware")
    if board is not None:
        serves = boards.get(board, ())
        if board not in boards or (serves is not None and data["name"] not in serves):
            any_device = [b for b, s in boards.items() if s is None]
            raise CompressError(f"{where}: firmware: expected null or a board that serves any device "
                                f"({', '.join(any_device)}), got {_shown(board)}")


def _sizes(data: dict, where: str) -> None:
    """The program around the model must leave room for one."""
    for total, runtime in (("flash_bytes", "runtime_flash_bytes"), ("ram_bytes", "runtime_ram_bytes")):
        if data.get(runtime, 0) >= data[total]:
            raise CompressError(f"{where}: {runtime}: {data[runtime]:,} leaves no room for a model in "
                                f"{total} {data[total]:,}")


def _sources(data: dict, where: str) -> None:
    """Every figure in the file says where it comes from (a datasheet, a boards.txt, a measurement)."""
    sources = data["sources"]
    if not isinstance(sources, dict):
        raise CompressError(f"{where}: sources: expected an object of field -> where the figure comes from, got "
                            f"{_shown(sources)}")
    for name, text in sources.items():
        if name not in data or name in ("name", "title", "sources"):
            raise CompressError(f"{where}: sources: {name!r} is not a figure of this profile")
        if not isinstance(text, str) or not text.strip():
            raise CompressError(f"{where}: sources: {name}: expected a non-empty string, got {_shown(text)}")
    missing = [name for name in [*NUMBERS, "core"] if name in data and name not in sources]
    if missing:
        raise CompressError(f"{where}: sources: no source for {missing[0]!r} (every figure names where it comes "
                            "from)")


def _shown(value) -> str:
    """A value as the error line shows it: short, whatever its type or depth."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."

