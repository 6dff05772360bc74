"""Stage 5, ship: the winner to int8 (checked against its floor), its firmware, and its run on an emulated
Cortex-M4; summary.json gains `int8` as soon as export.json exists (even when int8 AUC fell below the floor),
then `firmware` and `emulated`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from compress.config import RunConfig
from compress.deploy.export_report import read_report
from compress.search import tasks
from compress.summary import FirmwareEntry, ModelEntry, RunSummary, write_summary


@dataclass(frozen=True)
class Int8:
    entry: ModelEntry  # the final model's figures, test from the int8 .tflite, its size


@dataclass(frozen=True)
class Firmware:
    entry: FirmwareEntry  # sketch folder (run-relative), model and arena bytes, ops, checks, self-test
    passed: bool


@dataclass(frozen=True)
class Emulated:
    record: dict  # instructions, arena, latency measured in TFLM on QEMU next to the estimates; or {'skipped': why}


@dataclass(frozen=True)
class Shipped:
    int8: Int8
    firmware: Firmware
    emulated: Emulated
    summary: RunSummary  # with all three


FIRMWARE_KEYS = ("sketch_dir", "model_bytes", "arena_measured_bytes", "arena_bytes", "ops", "checks", "passed",
                 "self_test_passed")


def ship(config: RunConfig, out: Path, final, data, log) -> Shipped:
    """Export the winner (final.spec, its own windows) to int8, check it against the int8 floor, generate its
    Arduino sketch in the run folder and emulate it."""
    from compress.deploy.export import chance_warning
    from compress.deploy.ship import ship as deploy

    log("exporting the winner to int8 TFLite (full-integer PTQ" + (" after QAT)" if config.export.qat else ")"))
    summary, spec = final.summary, final.spec
    data = data.at_input(spec.input_shape, spec.rate_divisor) if spec.rate_divisor > 1 else data
    int8 = None
    warning = chance_warning(summary.baseline.test)  # the int8 floor below comes from this baseline's test AUC
    if warning:
        log(warning)
    try:
        result = deploy(out, data, beta=summary.int8_floor(), qat=config.export.qat, seed=config.data.seed,
                        device=config.targets.device, expected_latency_s=summary.final.latency_s, log=log)
    finally:  # the int8 figures count even when int8 AUC fell below beta
        int8 = exported(out, summary)
        if int8 is not None:
            summary = replace(summary, int8=int8.entry)
            write_summary(out, summary)
    firmware = Firmware(FirmwareEntry.from_dict({k: result[k] for k in FIRMWARE_KEYS}), bool(result["passed"]))
    emulated = Emulated(emulate(config, out, summary, log))
    summary = replace(summary, firmware=firmware.entry, emulated=emulated.record)
    write_summary(out, summary)
    return Shipped(int8, firmware, emulated, summary)


def exported(out: Path, summary: RunSummary) -> Int8 | None:
    """The int8 entry from export.json, test AUC relative as the baseline's (multi-task); None before export."""
    path = out / "export.json"
    if not path.exists():
        return None
    report = read_report(path)
    test = tasks.relative(report["metrics"]["int8"], tasks.reference_of(summary.baseline.test))
    return Int8(summary.final.int8(test, report["model_bytes"]))


def emulate(config: RunConfig, out: Path, summary: RunSummary, log) -> dict:
    """The int8 winner in TFLM on an emulated Cortex-M4 (toolchain permitting): measured next to estimated."""
    from compress.deploy.emulator import emulate_winner
    from compress.devices import latency, profiles

    device = profiles.get(config.targets.device)
    calibration = latency.load_calibration(config.targets.calibration) if config.targets.calibration else None
    return emulate_winner(out / "model_int8.tflite", config.targets.kernels, device,
                          latency.cycles_per_instruction(device, config.targets.kernels, calibration),
                          summary.final.arena_bytes, log=log)
