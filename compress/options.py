"""Option values: parse-time checks for argparse `type=` and the typed configs built from parsed options.

Kept apart from cli.py (which only declares options) so every check on a value lives in one place.
"""
from __future__ import annotations

import argparse
import math

from compress import CompressError
from compress.config import DEFAULT_BASELINES, DataConfig, EmulatorConfig, ExportConfig, RunConfig, SearchConfig, Targets, TrainConfig


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
    return _number(text, int, "a whole number of classes >= 2", lambda v: v >= 2)


def class_list(text: str) -> str:
    """Comma-separated class names or codes, at least one, none empty."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected class names or codes separated by commas, "
                                         "e.g. happy,sad")
    return ",".join(names)


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
    return _number(text, float, "a finite positive number of FLOPs or 'none'", lambda v: v > 0)


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


# --- the configs, from parsed options ---------------------------------------------------------------

def data_config(args, source: str | None = None) -> DataConfig:
    return DataConfig(source=args.data if source is None else source, positive=args.positive,
                      class_subset=args.class_subset, task=args.task, size=args.size, channels=args.channels, samples=args.samples,
                      balance=args.balance, seed=args.seed, holdout_group=args.holdout_group,
                      subjects=args.subjects, rate_hz=args.rate_hz, window_s=args.window_s, hop_s=args.hop_s,
                      target=args.target, loso=args.loso, tasks=args.tasks, source_rate=args.source_rate)


def targets(args) -> Targets:
    if args.budget_flops is None and args.max_latency_ms is None:
        raise CompressError("--budget-flops none: give --max-latency-ms, the target that then bounds the search")
    return Targets(device=args.device, budget_flops=args.budget_flops, latency_model=args.latency_model,
                   calibration=args.calibration, kernels=args.kernels,
                   latency_s=scaled(args.max_latency_ms, 1e-3, "--max-latency-ms"),
                   ram_bytes=scaled(args.max_ram_kb, 1024, "--max-ram-kb", round),
                   flash_bytes=scaled(args.max_flash_kb, 1024, "--max-flash-kb", round))


def run_config(args) -> RunConfig:
    return RunConfig(
        data=data_config(args), targets=targets(args),
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, baseline_lr=args.baseline_lr,
                          final_epochs=args.final_epochs, distill=args.distill,
                          retrain_baseline=args.retrain_baseline, task_weights=args.task_weights),
        search=SearchConfig(baseline=args.baseline or DEFAULT_BASELINES.get(args.data, "alexnet"), strategy=args.strategy, auc_ratio=args.auc_ratio,
                            max_evals=args.max_evals, max_minutes=args.max_minutes,
                            patience=None if args.patience == 0 else args.patience, finalists=args.finalists,
                            executor=args.executor, workers=args.workers, ray_address=args.ray_address),
        export=ExportConfig(enabled=not args.no_export, qat=args.qat))


def emulator_config(args) -> EmulatorConfig:
    return EmulatorConfig(kernels=args.kernels, tflm_dir=args.tflm_dir, device=getattr(args, "device", "apollo3"),
                          cycles_per_instruction=getattr(args, "cycles_per_instruction", None))
