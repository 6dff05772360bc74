"""The small commands behind the CLI, from typed configs: estimate, export, emulate, firmware, report, data."""
from __future__ import annotations

import json
import math
from pathlib import Path

from compress import CompressError, files
from compress.config import DataConfig, EmulatorConfig, ExportConfig, Targets, read_run_config
from compress.devices.profiles import BOARDS

FIRMWARE_BOARDS = tuple(BOARDS)  # the boards `firmware --board` takes (compress.devices.profiles)
FIRMWARE_CAMERAS = ("hm01b0",)  # the cameras `firmware --camera` takes (compress.deploy.camera.CAMERAS)


def estimate(model: str, input_shape: tuple | None, classes: int | None, targets: Targets,
             as_json: bool = False, strict: bool = False) -> int:
    """Cost of a model and its device targets, without training; a .tflite's arena is measured in TFLM.
    strict: exit status 1 when a target fails, so a script or CI job can gate on it."""
    if model is None:
        raise CompressError("estimate: give a MODEL to cost (or --devices to list the device profiles)")
    from compress.devices import latency, profiles
    from compress.devices.targets import check
    from compress.models.cost import cost_of
    from compress.report import tables

    device = profiles.get(targets.device)
    calibration = latency.load_calibration(targets.calibration) if targets.calibration else None
    model_cost = cost_of(model, input_shape, classes)
    measured_arena = None
    if model.endswith(".tflite"):  # a real flatbuffer: measure its arena in the TFLite Micro runtime
        from compress.deploy.tflm import measure_arena_bytes

        measured_arena = measure_arena_bytes(Path(model).read_bytes(), where=model)  # in a child: a crash is a line
    geometry = latency.geometry_of(model, input_shape, classes)  # kernel sizes for the emulated table
    checks = check(model_cost, device, targets, targets.latency_model, calibration=calibration,
                   measured_arena_bytes=measured_arena, geometry=geometry)
    kernel_sets = latency.per_kernel_set(model_cost, device, calibration, geometry)
    if as_json:
        print(json.dumps(tables.estimate_dict(model_cost, device, checks, targets.latency_model, measured_arena,
                                              kernel_sets)))
    else:
        print(tables.estimate_text(model_cost, device, checks, targets.latency_model, measured_arena, kernel_sets,
                                   targets.budget_flops))
    return 1 if strict and not all(c.passed for c in checks) else 0


def devices(as_json: bool = False) -> int:
    """`estimate --devices`: the built-in device profiles, and whether each core is emulated."""
    from compress.devices import profiles
    from compress.report.tables import format_table

    found = list(profiles.DEVICES.values())
    if as_json:
        print(json.dumps([d.to_dict() for d in found]))
        return 0
    rows = [(d.name, d.core, f"{d.clock_hz / 1e6:g}", f"{d.flash_bytes / 1024:,.0f}", f"{d.ram_bytes / 1024:,.0f}",
             d.latency_basis, d.firmware or "none", d.title) for d in found]
    print(format_table(rows, ("device", "core", "MHz", "flash KiB", "RAM KiB", "latency", "firmware", "part")))
    print(f"each a JSON file in {profiles.PROFILES_DIR}, every figure with its source; --device also takes the "
          "path of your own board .json (README: 'Device profiles as data')")
    return 0


def export(model_path: str, data_config: DataConfig, settings: ExportConfig, out: str | None = None,
           run_data: bool = True, pick: int | None = None) -> int:
    """int8 export of a Keras model, scored on data_config; with run_data, a run's model (config.json beside it)
    on the run's own data instead. beta: the settings', else the run's (summary.json), else none. pick: model_path
    is a run folder, and its leaderboard goal `pick` is exported (to RUN/pick-<pick> unless `out`)."""
    from compress.data.dataset import load
    from compress.deploy import export as export_module

    path = Path(model_path)
    model, run_dir = _model_to_export(path, pick)
    run_config = read_run_config(run_dir)
    if run_data and run_config:
        data_config = run_config.data
    beta = settings.beta
    summary = run_dir / "summary.json"
    if beta is None and summary.exists():
        beta = _run_beta(summary)
        _warn_of_a_floor_at_chance(summary)
    folder = Path(out) if out else (run_dir / f"pick-{pick}" if pick is not None else path.parent)
    data = load(data_config)
    _check_model_fits_data(path, model, data)
    report = export_module.export_int8(model, data, folder, qat=settings.qat, beta=beta, seed=data_config.seed)
    print(export_module.summary_text(report))
    print(f"wrote {folder / export_module.MODEL_FILE}, {folder / export_module.REPORT_FILE}, "
          f"{folder / export_module.TEST_INPUT_FILE}")
    return 0


def _model_to_export(path: Path, pick: int | None):
    """(Keras model, the run folder its config and summary are read from): MODEL itself, or a run's goal `pick`."""
    if pick is None:
        from compress.models.keras_io import load_model_file

        return load_model_file(path), path.parent
    from compress.report.run import picked

    if not path.is_dir():
        raise CompressError(f"{path}: --pick takes a run folder (one with summary.json), not a model file")
    model, which = picked(path, pick)
    print(f"leaderboard goal {pick} of {path}: {which}")
    return model, path


def firmware(model_path: str, board: str, out: str | None = None, emulated: EmulatorConfig | None = None,
             device: str | None = None, camera: str | None = None) -> int:
    """Arduino sketch for an int8 .tflite; its test image and class names from the export beside it. With
    `emulated`, the sketch itself is compiled for Cortex-M4 and run in QEMU, and its serial output printed.
    With `camera`, the sketch reads that camera (compress.deploy.camera) and lights an LED for the smile."""
    from compress.deploy import export, firmware as firmware_module
    from compress.deploy.c_arrays import c_identifier
    from compress.devices import latency, profiles
    from compress.deploy.test_input import check_fits, read_test_input
    from compress.deploy.tflm import check_runs
    from compress.models.tflite_io import read, tflite_cost, tflite_info

    path = Path(model_path)
    if path.suffix != ".tflite":
        raise CompressError(f"{path}: expected an int8 .tflite (make one with `python -m compress export`)")
    if not path.exists():
        raise CompressError(f"{path}: no such file")
    read(path)  # its structure, checked in Python first
    check_runs(path)  # then TFLite Micro on it, in a child process: a crash there is one line naming the file
    suffix = f"_{camera}" if camera else ""  # a camera sketch beside the board's self-test sketch
    folder = Path(out) if out else Path("firmware") / f"{c_identifier(path.stem)}_{board}{suffix}"
    image = expected = names = tasks = None
    sample, info = path.parent / export.TEST_INPUT_FILE, tflite_info(path.read_bytes(), str(path))
    if sample.exists():
        found = read_test_input(sample)
        check_fits(sample, found, info)
        image, expected = found.x, found.expected
        names = list(found.class_names) if found.class_names is not None else None
        tasks = list(found.tasks) if found.tasks is not None else None
    report = path.parent / export.REPORT_FILE
    if names is None and report.exists():
        names = _class_names(report, math.prod(info["output"]["shape"][1:]))
    estimated = None  # the default latency model's estimate on the board's device (emulated TFLM, CMSIS-NN)
    if board in firmware_module.BOARDS:
        device = device or firmware_module.BOARDS[board].device
        estimated = latency.latency_s(tflite_cost(path), profiles.get(device),
                                      "emulated", "cmsis-nn", geometry=latency.tflite_geometry(path))
    config = firmware_module.SketchConfig(board=board, device=device, test_image=image, expected_class=expected,
                                          class_names=names, expected_latency_s=estimated, tasks=tasks,
                                          camera=camera)
    result = firmware_module.generate_sketch(path, folder, config)
    print(firmware_module.summary_text(result))
    passed = result["passed"] and result["self_test_passed"]
    if emulated is not None:
        passed = _emulate_firmware(folder, path, result, emulated) and passed
    return 0 if passed else 1


def _emulate_firmware(folder: Path, path: Path, result: dict, emulated: EmulatorConfig) -> bool:
    """Run the written firmware in QEMU and print what it did: the self-test, or for a camera sketch every test
    frame's LED against the host's decision. True when it did what the host expects."""
    from compress.devices import profiles

    target = profiles.get(result["device"])
    clock_mhz = target.clock_hz / 1e6
    if result.get("camera"):
        from compress.deploy import camera_emulator

        rows, ran, labels = camera_emulator.emulate(folder, path, emulated.kernels, emulated.tflm_dir, clock_mhz)
        print(camera_emulator.verdict_text(rows, ran, result["class_names"], labels))
        return all(row["agrees"] for row in rows)
    from compress.deploy.sketch_emulator import run_sketch, verdict_text

    ran = run_sketch(folder, emulated.kernels, emulated.tflm_dir, clock_mhz, core=target.core)
    print(verdict_text(ran))
    return ran["passed"]


def emulate(model: str, settings: EmulatorConfig, inputs: str | None = None, as_json: bool = False) -> int:
    """An int8 .tflite in TFLite Micro on an emulated Cortex-M4: instructions per op, arena, outputs vs TFLite."""
    from compress.deploy.emulator import emulate as run_emulated
    from compress.devices import latency, profiles
    from compress.report import tables

    device = profiles.get(settings.device)
    cpi = settings.cycles_per_instruction
    cpi = latency.cycles_per_instruction(device, settings.kernels) if cpi is None else cpi
    run = run_emulated(model, settings.kernels, inputs, settings.tflm_dir, core=device.core)
    print(json.dumps(tables.emulated_dict(run, device, cpi)) if as_json else tables.emulated_text(run, device, cpi))
    return 0 if run.agrees else 1


def report(run_dir: str, formats: tuple[str, ...], compare: list[str]) -> int:
    from compress.report import compare as compare_module, run_report

    for path in run_report.write_run_report(run_dir, formats, compare=compare):
        print(path)
    if compare:
        print(compare_module.compare_markdown([run_dir, *compare]))
    return 0


def data_inspect(data_config: DataConfig, out: str | None = None, as_json: bool = False) -> int:
    """Class counts, splits, image size, imbalance and a contact sheet of a data set."""
    from compress.config import SYNTHETIC_FACES
    from compress.data import overview
    from compress.data.dataset import load

    ds = load(data_config)
    info = overview.summary(ds)
    source = data_config.source
    stem = Path(source).stem if source != SYNTHETIC_FACES else SYNTHETIC_FACES
    info["contact_sheet"] = (str(overview.contact_sheet(ds, Path(out or "runs/data") / f"{stem}_samples.png"))
                             if ds.input_shape[1] > 1 else "none (sensor windows are not images; a search's report "
                             "draws a window of each class)")
    print(json.dumps(info, indent=1) if as_json else overview.summary_text(info))
    return 0


def data_generate(data_config: DataConfig, out: str) -> int:
    """Write a data set (the generated faces, typically) as an image folder."""
    from compress.data import overview
    from compress.data.dataset import load

    ds = load(data_config)
    n = overview.write_folder(ds, out)
    print(f"wrote {n} images of {ds.name} ({', '.join(ds.class_names)}) to {out}/{{train,val,test}}/<class>/")
    return 0


# --- files a model brings along (written by export or a run; read back with one clear line if broken) -------

def _run_beta(summary: Path) -> float | dict | None:
    """The run's int8 floor (RunSummary.int8_floor: the floor of the baseline's test AUC, per task for a
    multi-task run); a summary without them (written by hand, not a run's): its beta."""
    from compress.summary import RunSummary

    found = files.read_json(summary)
    if isinstance(found, dict) and isinstance(found.get("baseline"), dict) and "auc_ratio" in found:
        try:
            return RunSummary.from_dict(found).int8_floor()
        except (KeyError, TypeError, AttributeError, ValueError):
            raise CompressError(f"{summary}: the baseline's test AUC is unreadable; fix the file or give --beta") \
                from None
    beta = found.get("beta") if isinstance(found, dict) else "(the file is not a JSON object)"
    if beta is not None and not (isinstance(beta, (int, float)) and 0 < beta <= 1):
        raise CompressError(f"{summary}: 'beta' must be a number in (0, 1], not {beta!r}; fix the file or give "
                            "--beta")
    return beta


def _warn_of_a_floor_at_chance(summary: Path) -> None:
    """The int8 floor comes from the run's baseline: say so when that baseline's test AUC is no better than a coin."""
    from compress.deploy.export import chance_warning
    from compress.summary import read_summary

    try:
        found = read_summary(summary.parent)
    except (CompressError, ValueError, TypeError, KeyError, AttributeError):
        return  # _run_beta has judged the file already
    warning = chance_warning(found.baseline.test) if found and found.baseline else None
    if warning:
        print(warning)


def _class_names(report: Path, classes: int | None = None) -> list[str] | None:
    from compress.deploy.export_report import read_report

    names = read_report(report).get("class_names")
    if names is not None and classes is not None and len(names) != classes:
        raise CompressError(f"{report}: it names {len(names)} classes for a model with {classes} outputs; it belongs "
                            "to another model: export this one again or delete it")
    return names


def _check_model_fits_data(path: Path, model, data) -> None:
    """A model must output one score per class of the data it is scored on (2 outputs for 7 classes cannot); a
    multi-task model (a list of output shapes) one such output per task of the data (its `tasks`)."""
    shape = model.output_shape
    tasks = data.tasks
    heads = shape if isinstance(shape, list) else [shape]
    if len(heads) != max(len(tasks), 1):
        what = f"{len(tasks)} tasks ({', '.join(tasks)})" if tasks else "one task"
        raise CompressError(f"{path}: the model has {len(heads)} output(s) but the data {data.name} has {what}; a "
                            "multi-task model has one output per task of its data")
    outputs = [head[-1] if isinstance(head, tuple) else None for head in heads]
    wrong = [n for n in outputs if n != data.classes]
    if wrong:
        raise CompressError(f"{path}: the model has {wrong[0]} outputs but the data {data.name} has {data.classes} "
                            f"classes ({', '.join(data.class_names)}); choose them with --positive or --classes")
