"""Option values: parse-time checks for argparse `type=` and the typed configs built from parsed options.

Kept apart from cli.py (which only declares options) so every check on a value lives in one place.
"""
from __future__ import annotations

import argparse

from compress import CompressError
from compress.config import DataConfig, EmulatorConfig, ExportConfig, RunConfig, SearchConfig, Targets, TrainConfig


def budget(text: str) -> float | None:
    try:
        value = None if text.strip().lower() == "none" else float(text)
    except ValueError:
        value = 0.0
    if value is not None and not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of FLOPs or 'none'")
    return value


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


# --- the configs, from parsed options ---------------------------------------------------------------

def data_config(args, source: str | None = None) -> DataConfig:
    return DataConfig(source=source or args.data, positive=args.positive, class_subset=args.class_subset,
                      task=args.task, size=args.size, channels=args.channels, samples=args.samples,
                      balance=args.balance, seed=args.seed)


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
                          retrain_baseline=args.retrain_baseline),
        search=SearchConfig(baseline=args.baseline, strategy=args.strategy, auc_ratio=args.auc_ratio,
                            max_evals=args.max_evals, max_minutes=args.max_minutes,
                            patience=args.patience or None, finalists=args.finalists),
        export=ExportConfig(enabled=not args.no_export, qat=args.qat))


def emulator_config(args) -> EmulatorConfig:
    return EmulatorConfig(kernels=args.kernels, tflm_dir=args.tflm_dir, device=getattr(args, "device", "apollo3"),
                          cycles_per_instruction=getattr(args, "cycles_per_instruction", None))
