"""The jobs behind the CLI, end to end, from typed configs: search, train, estimate, export, firmware, report, data."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from compress import CompressError
from compress.config import CONFIG_FILE, DataConfig, ExportConfig, RunConfig, Targets, TrainConfig, read_run_config


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_dir(out: str | None, prefix: str = "") -> Path:
    return Path(out) if out else Path("runs") / (prefix + time.strftime("%Y%m%d-%H%M%S"))


def write_json(path: Path, data) -> None:
    """Write via a temporary file and rename, so a kill or a full disk never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


def _prepare(data_config: DataConfig, baseline_name: str, train: TrainConfig):
    """Data, baseline spec and trainer (augmentation on: both jobs train for real)."""
    from compress.data.dataset import load
    from compress.models.zoo import load_spec
    from compress.search.train import Trainer

    data = load(data_config)
    baseline = load_spec(baseline_name, input_shape=data.input_shape, classes=data.classes)
    if not baseline.is_valid():
        baseline.shapes()  # raises the SpecError that says why
    trainer = Trainer(data, epochs=train.epochs, batch_size=train.batch_size, lr=train.lr, seed=data_config.seed,
                      augment=True, balance=data_config.balance, log=_log)
    return data, baseline, trainer


def _check_resume(out: Path, config: RunConfig, resume: bool) -> None:
    if resume:
        if not (out / "journal.jsonl").exists():
            raise CompressError(f"{out / 'journal.jsonl'}: nothing to resume (start without --resume)")
        old = read_run_config(out)
        changed = config.changes_refused_on_resume(old) if old else {}
        if changed:
            raise CompressError(f"{out / CONFIG_FILE}: --resume with different options {changed}; "
                                "use the original options or a new --out")
    elif (out / "journal.jsonl").exists():
        raise CompressError(f"{out}: holds a run already; add --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG_FILE, config.to_dict())


def search(config: RunConfig, out: str | None = None, resume: bool = False, as_json: bool = False) -> int:
    """The main job: baseline, search, fine-tune, report, then int8 export and firmware."""
    from compress.devices import profiles
    from compress.report import run_report, tables
    from compress.search import strategies
    from compress.search.journal import Journal
    from compress.search.space import Costing
    from compress.search.summary import summarise
    from compress.search.train import Evaluator

    settings = config.search
    if not 0 < settings.auc_ratio <= 1:
        raise CompressError(f"--auc-ratio {settings.auc_ratio}: must be in (0, 1]; beta above the baseline's own AUC "
                            "could never be met")
    device = profiles.get(config.targets.device)
    out = run_dir(out)
    _check_resume(out, config, resume)
    data, baseline, trainer = _prepare(config.data, settings.baseline, config.train)
    costing = Costing(config.targets)
    space = costing.space()
    _check_reachable(space, baseline, config.targets.budget_flops)
    evaluator = Evaluator(trainer, out / "weights", costing, baseline_epochs=config.train.final_epochs,
                          baseline_lr=config.train.baseline_lr)
    journal = Journal(out / "journal.jsonl", log=_log)
    search = strategies.Search(space, evaluator, beta=0.0, journal=journal, max_evals=settings.max_evals,
                               max_seconds=settings.max_minutes * 60, log=_log)
    _log(f"run folder {out}; data {data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
         f"{len(data.y_test)} test, {data.classes} classes")
    _log(f"training baseline {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) for "
         f"{config.train.final_epochs} epochs")
    base = search.evaluate(baseline, None, "baseline")
    search.beta = settings.auc_ratio * base.auc
    _log(f"baseline val AUC {base.auc:.4f}; target beta = {settings.auc_ratio} x {base.auc:.4f} = "
         f"{search.beta:.4f}; budget {config.targets.budget_flops:,.0f} FLOPs on {device.name}; "
         f"strategy {settings.strategy}")
    winner = strategies.run(settings.strategy, search, baseline)
    summary = summarise(config, search, base, winner, evaluator, costing, data, log=_log)
    write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=1, default=str) if as_json else tables.search_markdown(summary))
    try:
        if winner is None:
            _log("no model met every target and AUC >= beta; the closest are listed above")
            return 3
        return _ship(config, out, summary, data) if config.export.enabled else 0
    finally:
        paths = run_report.write_run_report(out, data=data)
        _log("report: " + ", ".join(str(p) for p in paths))


def _check_reachable(space, baseline, budget_flops: float) -> None:
    from compress.search.strategies import smallest_reachable

    smallest, flops = smallest_reachable(space, baseline)
    if flops > budget_flops:
        raise CompressError(f"--budget-flops {budget_flops:g} cannot be met: the smallest model the reductions "
                            f"reach from {baseline.name or 'the baseline'} costs {flops:,.0f} FLOPs")


def _ship(config: RunConfig, out: Path, summary: dict, data) -> int:
    """Export the winner to int8, check it against beta, and generate its Arduino sketch in the run folder."""
    import numpy as np

    from compress.deploy import export, firmware
    from compress.models.keras_io import load_keras

    _log("exporting the winner to int8 TFLite (full-integer PTQ" + (" after QAT)" if config.export.qat else ")"))
    model = load_keras(out / "best.keras")
    try:
        exported = export.export_int8(model, data, out, qat=config.export.qat, beta=summary["beta"],
                                      seed=config.data.seed)
    finally:
        exported_path = out / export.REPORT_FILE
        if exported_path.exists():
            exported_json = json.loads(exported_path.read_text())
            summary["int8"] = {**summary["final"], "val": None, "test": exported_json["metrics"]["int8"],
                               "model_bytes": exported_json["model_bytes"]}
            write_json(out / "summary.json", summary)
    _log(export.summary_text(exported))
    with np.load(out / export.TEST_INPUT_FILE) as sample:
        image, label = sample["x"], int(sample["label"])
    sketch_dir = out / "firmware" / f"model_{config.targets.device}"
    result = firmware.generate_sketch(out / export.MODEL_FILE, sketch_dir, board=config.targets.device,
                                      test_image=image, expected_class=label, class_names=data.class_names,
                                      expected_latency_s=summary["final"]["latency_s"])
    summary["firmware"] = {k: result[k] for k in ("sketch_dir", "model_bytes", "arena_measured_bytes",
                                                  "arena_bytes", "ops", "checks", "passed", "self_test_passed")}
    write_json(out / "summary.json", summary)
    _log(firmware.summary_text(result))
    return 0 if result["passed"] else 1


def train(data_config: DataConfig, baseline_name: str, train_config: TrainConfig, out: str | None = None,
          as_json: bool = False) -> int:
    """Train and score the baseline alone: how good is the model we start from?"""
    from compress.search.space import Costing
    from compress.search.summary import model_entry

    out = run_dir(out, prefix="train-")
    out.mkdir(parents=True, exist_ok=True)
    data, baseline, trainer = _prepare(data_config, baseline_name, train_config)
    costing = Costing(Targets())
    _log(f"training {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) on {data.name} for "
         f"up to {train_config.epochs} epochs")
    model, history = trainer.fit(baseline)
    result = {"baseline": baseline.name, "data": data.name, "history": history,
              **model_entry(costing, baseline, trainer.score(model, "val"), trainer.score(model, "test"))}
    model.save(out / "model.keras")
    write_json(out / "train.json", result)
    if as_json:
        print(json.dumps(result, indent=1))
        return 0
    for split in ("val", "test"):
        m = result[split]
        print(f"{split:>4}: AUC {m['auc']:.4f}  accuracy {m['accuracy']:.4f}  precision {m['precision']:.4f}  "
              f"recall {m['recall']:.4f}")
    print(f"model saved to {out / 'model.keras'}")
    return 0


def estimate(model: str, input_shape: tuple | None, classes: int | None, targets: Targets,
             as_json: bool = False) -> int:
    """Cost of a model and its device targets, without training; a .tflite's arena is measured in TFLM."""
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

        measured_arena = measure_arena_bytes(Path(model).read_bytes())
    checks = check(model_cost, device, targets, targets.latency_model, calibration=calibration,
                   measured_arena_bytes=measured_arena)
    if as_json:
        print(json.dumps(tables.estimate_dict(model_cost, device, checks, targets.latency_model, measured_arena)))
    else:
        print(tables.estimate_text(model_cost, device, checks, targets.latency_model, measured_arena))
    return 0


def export(model_path: str, data_config: DataConfig, settings: ExportConfig, out: str | None = None,
           run_data: bool = True) -> int:
    """int8 export of a Keras model, scored on data_config; with run_data, a run's model (config.json beside it)
    on the run's own data instead. beta: the settings', else the run's (summary.json), else none."""
    from compress.data.dataset import load
    from compress.deploy import export as export_module
    from compress.models.keras_io import load_keras

    path = Path(model_path)
    model = load_keras(path)
    run_config = read_run_config(path.parent)
    if run_data and run_config:
        data_config = run_config.data
    beta = settings.beta
    summary = path.parent / "summary.json"
    if beta is None and summary.exists():
        beta = json.loads(summary.read_text()).get("beta")
    folder = Path(out) if out else path.parent
    report = export_module.export_int8(model, load(data_config), folder, qat=settings.qat, beta=beta,
                                       seed=data_config.seed)
    print(export_module.summary_text(report))
    print(f"wrote {folder / export_module.MODEL_FILE}, {folder / export_module.REPORT_FILE}, "
          f"{folder / export_module.TEST_INPUT_FILE}")
    return 0


def firmware(model_path: str, board: str, out: str | None = None) -> int:
    """Arduino sketch for an int8 .tflite; its test image and class names from the export beside it."""
    import numpy as np

    from compress.deploy import export, firmware as firmware_module
    from compress.deploy.c_arrays import c_identifier
    from compress.devices import latency, profiles
    from compress.models.tflite_io import tflite_cost

    path = Path(model_path)
    if path.suffix != ".tflite":
        raise CompressError(f"{path}: expected an int8 .tflite (make one with `python -m compress export`)")
    if not path.exists():
        raise CompressError(f"{path}: no such file")
    folder = Path(out) if out else Path("firmware") / f"{c_identifier(path.stem)}_{board}"
    image = expected = names = None
    sample = path.parent / export.TEST_INPUT_FILE
    if sample.exists():
        with np.load(sample) as npz:
            image, expected = npz["x"], int(npz["label"])
            names = [str(n) for n in npz["class_names"]] if "class_names" in npz.files else None
    report = path.parent / export.REPORT_FILE
    if names is None and report.exists():
        names = json.loads(report.read_text()).get("class_names")
    estimated = None  # the cost model's latency on the board's device (FLOPs / the device's FLOP/s)
    if board in firmware_module.BOARDS:
        estimated = latency.latency_s(tflite_cost(path), profiles.get(firmware_module.BOARDS[board].device))
    result = firmware_module.generate_sketch(path, folder, board=board, test_image=image, expected_class=expected,
                                             class_names=names, expected_latency_s=estimated)
    print(firmware_module.summary_text(result))
    return 0 if result["passed"] and result["self_test_passed"] else 1


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
    info["contact_sheet"] = str(overview.contact_sheet(ds, Path(out or "runs/data") / f"{stem}_samples.png"))
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
