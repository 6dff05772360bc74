"""Option values: parse-time checks for argparse `type=`, options declared from config fields, and the typed
configs built from parsed options.

Kept apart from cli.py (which only declares options) so every check on a value lives in one place.
"""
from __future__ import annotations

import argparse
import dataclasses
import math

from compress import CompressError
from compress.config import (DEFAULT_BASELINES, LIMITS, DataConfig, EmulatorConfig, ExportConfig, RunConfig,
                             MAX_CLASS_CODE, SearchConfig, Targets, TrainConfig, out_of_range)


def _number(text: str, cast, expected: str, ok) -> float | int:
    """`text` as `cast` if ok(value); else argparse's one-line error (NaN and inf fail every test below)."""
    try:
        value = cast(text)
        good = math.isfinite(value) and ok(value)
    except (TypeError, ValueError, OverflowError):
        good = False
    if not good:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return value


def bounded(name: str):
    """The argparse type of config field `name`'s option: its LIMITS range (in the option's unit), named."""
    whole = isinstance(LIMITS[name][0], int)

    def parse(text: str):
        return _number(text, int if whole else float, out_of_range(name, math.nan, scaled=True),
                       lambda v: out_of_range(name, v, scaled=True) is None)
    parse.__name__ = name
    return parse


def class_code(name: str, text: str) -> None:
    """A class given by its code (digits) must be one a data set can hold: 0..MAX_CLASS_CODE."""
    if name.strip().isdigit() and int(name) > MAX_CLASS_CODE:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a class code in 0..{MAX_CLASS_CODE}, not {name}")


def positive_int(text: str) -> int:
    return _number(text, int, "a whole number >= 1", lambda v: v >= 1)


def count(text: str) -> int:
    """A whole number where 0 has a meaning of its own (--patience 0: never stop for patience)."""
    return _number(text, int, "a whole number >= 0", lambda v: v >= 0)


def positive_float(text: str) -> float:
    return _number(text, float, "a finite number > 0", lambda v: v > 0)


def fraction(text: str) -> float:
    return _number(text, float, "a number in (0, 1]", lambda v: 0 < v <= 1)


def classes(text: str) -> int:
    return _number(text, int, f"a whole number of classes >= 2 and <= {MAX_CLASS_CODE + 1}",
                   lambda v: 2 <= v <= MAX_CLASS_CODE + 1)


def class_list(text: str) -> str:
    """Comma-separated class names or codes, at least one, none empty."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected class names or codes separated by commas, "
                                         "e.g. happy,sad")
    for name in names:
        class_code(name, text)
    return ",".join(names)


def positive_class(text: str) -> str:
    """--positive: a class name or code."""
    class_code(text, text)
    return text.strip()


def name_list(text: str) -> str:
    """Comma-separated names (--tasks arousal,valence), at least one, none empty, none twice."""
    names = [n.strip() for n in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected distinct names separated by commas, e.g. "
                                         "arousal,dominance,valence")
    return ",".join(names)


def weight_list(text: str) -> str:
    """Comma-separated finite weights >= 0 (--task-weights 1,2,1); their count is checked against the tasks."""
    try:
        for part in text.split(","):
            _number(part.strip(), float, "", lambda v: v >= 0)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected weights >= 0 separated by commas, e.g. 1,2,1") from None
    return ",".join(p.strip() for p in text.split(","))


def budget(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    return _number(text, float, f"{out_of_range('budget_flops', math.nan)} or 'none'",
                   lambda v: out_of_range("budget_flops", v) is None)


def scaled(value: float | None, factor: float, option: str, cast=float):
    if value is not None and not value > 0:
        raise CompressError(f"{option} {value:g}: must be positive")
    return None if value is None else cast(value * factor)


def input_shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise CompressError(f"--input-shape {text!r}: expected H,W,C such as 48,48,1")
    return shape


class Parser(argparse.ArgumentParser):
    """argparse with its error as the one line `error: ...` every other failure prints (exit 2)."""

    def error(self, message):
        command = self.prog.replace("python -m compress", "").strip()
        self.exit(2, f"error: {command + ': ' if command else ''}{message} (see --help)\n")


def add_verbose(p: argparse.ArgumentParser, default=False) -> None:
    """--verbose before or after the sub-command (SUPPRESS: a sub-parser keeps the global value)."""
    p.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="show TensorFlow's, absl's and Python's own log lines and warnings")
    subparsers = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    for child in (c for a in subparsers for c in a.choices.values()):
        add_verbose(child, argparse.SUPPRESS)


# --- options from config fields ------------------------------------------------------------------------

def shown(value) -> str:
    """A default as --help shows it: 1e-3 as 0.001, True as on."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add(group, config, name: str, *flags: str, what: str = "", **kwargs) -> argparse.Action:
    """The option of `config`'s field `name`: its default is the field's (config: a config class, or an instance
    whose value is this command's default) and its help the field's. flags: default --name-with-dashes; what:
    fills the help's {what}; kwargs: argparse's (type, choices, action, dest). A `default` of the option's own
    (None: worked out later, e.g. --baseline by the data) leaves the help showing the config's."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    configured = field.default if isinstance(config, type) else getattr(config, name)
    default = kwargs.pop("default", configured)
    text = field.metadata["help"].format(default=shown(configured), what=what)
    action = group.add_argument(*(flags or ["--" + name.replace("_", "-")]), default=default,
                                help=text.replace("%", "%%"), **{"dest": name, **kwargs})
    action.config_field = (config, name)  # tests/test_config.py: every such default is the field's
    return action


# --- the configs, from parsed options ---------------------------------------------------------------

def from_args(config: type, args, **values):
    """A config of every field the parsed options hold under its name, then `values` (those worked out)."""
    given = vars(args)
    return config(**{**{f.name: given[f.name] for f in dataclasses.fields(config) if f.name in given}, **values})


def data_config(args, source: str | None = None) -> DataConfig:
    return from_args(DataConfig, args, source=args.data if source is None else source)


def targets(args) -> Targets:
    if args.budget_flops is None and args.max_latency_ms is None:
        raise CompressError("--budget-flops none: give --max-latency-ms, the target that then bounds the search")
    return from_args(Targets, args, latency_s=scaled(args.max_latency_ms, 1e-3, "--max-latency-ms"),
                     ram_bytes=scaled(args.max_ram_kb, 1024, "--max-ram-kb", round),
                     flash_bytes=scaled(args.max_flash_kb, 1024, "--max-flash-kb", round))


def baseline(args) -> str:
    """--baseline, else the data set's own default (DEFAULT_BASELINES; alexnet for images)."""
    return args.baseline or DEFAULT_BASELINES.get(args.data, SearchConfig.baseline)


def train_config(args) -> TrainConfig:
    return from_args(TrainConfig, args)


def run_config(args) -> RunConfig:
    return RunConfig(data=data_config(args), targets=targets(args), train=train_config(args),
                     search=from_args(SearchConfig, args, baseline=baseline(args),
                                      patience=None if args.patience == 0 else args.patience),
                     export=from_args(ExportConfig, args))


def export_config(args) -> ExportConfig:
    return from_args(ExportConfig, args)


def emulator_config(args) -> EmulatorConfig:
    return from_args(EmulatorConfig, args)
