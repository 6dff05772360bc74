"""Every hand-editable file (spec, calibration, config.json, journal rows, summary.json, export.json, a device
profile, the config inside a .keras) is parsed here: its nesting is measured before json.loads can recurse, then a
small schema checks types, ranges and fields. Any fault is one CompressError line naming the file and the field,
`runs/x/config.json: search.epochs: expected a whole number >= 1, got "3"`.

Base module: no TensorFlow, nothing above compress's base.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path

from compress import CompressError

MAX_DEPTH = 100  # deeper than any file we write (a Keras config nests ~20); json.loads recurses per level
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)  # strings skipped whole (an open one to the end)


class Invalid(ValueError):
    """A value that does not fit its schema: `path` (e.g. 'search.epochs') and what was expected."""

    def __init__(self, path: str, expected: str, value=None, shown: bool = True, said: str | None = None):
        self.path = path
        said = said or f"expected {expected}" + (f", got {_show(value)}" if shown else "")
        super().__init__(f"{path}: {said}" if path else said)


def _show(value) -> str:
    """A value as the error line shows it: JSON-like, escaped (a newline in it cannot break the line), short."""
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, without parsing it (brackets inside strings do not count)."""
    deepest = level = 0
    for token in _TOKENS.finditer(text):
        char = token.group()[0]
        if char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def parse_json(text, where) -> object:
    """JSON text (str or UTF-8 bytes, a byte-order mark allowed) as Python values; one CompressError line naming
    `where` when it is not UTF-8, nested deeper than MAX_DEPTH or not JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CompressError(f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    text = text.removeprefix("\ufeff")
    if depth(text) > MAX_DEPTH:
        raise CompressError(f"{where}: nested deeper than {MAX_DEPTH} levels; not a file compress writes or reads")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError; a number too long to convert
        raise CompressError(f"{where}: not valid JSON ({exc})") from None


def read_json(path, schema=None, what: str = "JSON file") -> object:
    """A JSON file checked against `schema` (see below): its value, or one CompressError line naming the file (and
    the field)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CompressError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CompressError(f"{path}: a folder, not a {what}") from None
    except OSError as exc:
        raise CompressError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return checked(parse_json(data, path), schema, path)


def checked(value, schema, where) -> object:
    """value, checked against schema (None: anything); one CompressError line naming `where` and the field."""
    if schema is None:
        return value
    try:
        return schema(value, "")
    except Invalid as exc:
        raise CompressError(f"{where}: {exc}" if where else str(exc)) from None


# --- schemas: each is a function (value, path) -> value that raises Invalid -------------------------------------

def _join(path: str, key) -> str:
    """'a.b[2]'; a key that is not a plain name is quoted (and so escaped) as JSON."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    return f"{path}.{key}" if path else key


def whole(low: int | None = None, high: int | None = None):
    """A JSON integer (true, 3.0 and "3" are not) within [low, high]."""
    expected = "a whole number" + (f" >= {low}" if low is not None else "") + (f" and <= {high}" if high else "")

    def check(value, path):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
                (low is not None and value < low) or (high is not None and value > high):
            raise Invalid(path, expected, value)
        return int(value)
    return check


def number(low: float | None = None, high: float | None = None, above: float | None = None):
    """A finite JSON number (not a bool, NaN or infinity) >= low (or > above) and <= high."""
    parts = [f">= {low:g}" if low is not None else "", f"> {above:g}" if above is not None else "",
             f"<= {high:g}" if high is not None else ""]
    expected = " and ".join(["a finite number"] + [p for p in parts if p]).replace("number and", "number")

    def check(value, path):
        ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
        ok = ok and (low is None or value >= low) and (above is None or value > above) and \
            (high is None or value <= high)
        if not ok:
            raise Invalid(path, expected, value)
        return value
    return check


def text(choices=None, pattern: str | None = None):
    """A JSON string, one of `choices` or matching `pattern` where given."""
    expected = f"one of {', '.join(map(repr, choices))}" if choices else "a string"

    def check(value, path):
        if not isinstance(value, str) or (choices and value not in choices) or \
                (pattern and not re.fullmatch(pattern, value)):
            raise Invalid(path, expected, value)
        return value
    return check


def boolean(value, path):
    """true or false (not "false", not 0)."""
    if not isinstance(value, bool):
        raise Invalid(path, "true or false", value)
    return value


def anything(value, path):
    return value


def optional(schema):
    """null or schema."""
    return lambda value, path: None if value is None else schema(value, path)


def one_of(*schemas, expected: str):
    """The first schema the value fits."""
    def check(value, path):
        for schema in schemas:
            try:
                return schema(value, path)
            except Invalid:
                continue
        raise Invalid(path, expected, value)
    return check


def list_of(item, low: int = 0, high: int | None = None):
    """A JSON list of low..high items, each checked by `item`."""
    def check(value, path):
        if not isinstance(value, list) or len(value) < low or (high is not None and len(value) > high):
            size = f" of {low} to {high} items" if high is not None else (f" of at least {low} items" if low else "")
            raise Invalid(path, "a list" + size, value, shown=not isinstance(value, list))
        return [item(v, _join(path, i)) for i, v in enumerate(value)]
    return check


def mapping(values, keys=None):
    """A JSON object of any keys (or only `keys`), each value checked by `values`."""
    def check(value, path):
        if not isinstance(value, dict):
            raise Invalid(path, "an object", value)
        unknown = sorted(set(value) - set(keys)) if keys is not None else []
        if unknown:
            raise Invalid(_join(path, unknown[0]), "", said=f"unknown key (known: {', '.join(keys)})")
        return {k: values(v, _join(path, k)) for k, v in value.items()}
    return check


def record(required: dict | None = None, optional_fields: dict | None = None, extra: bool = False):
    """A JSON object with the `required` fields and any of the `optional_fields` (name -> schema); other fields
    are refused unless extra (then kept unchecked)."""
    required, optional_fields = required or {}, optional_fields or {}

    def check(value, path):
        if not isinstance(value, dict):
            raise Invalid(path, "an object", value)
        missing = [k for k in required if k not in value]
        if missing:
            raise Invalid(_join(path, missing[0]), "", said="missing")
        unknown = sorted(k for k in value if k not in required and k not in optional_fields)
        if unknown and not extra:
            known = ", ".join([*required, *optional_fields])
            raise Invalid(_join(path, str(unknown[0])), "", said="unknown field" + f" (known: {known})" * bool(known))
        out = dict(value)
        for name, schema in (required | optional_fields).items():
            if name in value:
                out[name] = schema(value[name], _join(path, name))
        return out
    return check
