"""The main jobs end to end, from typed configs: search (baseline, search, fine-tune, report, deploy) and train."""
from __future__ import annotations

import json
import time
from pathlib import Path

from compress import CompressError, files
from compress.console import Console
from compress.config import CONFIG_FILE, DataConfig, RunConfig, Targets, TrainConfig, read_run_config
from compress.models.graph import is_valid, layer_shapes
from compress.search import tasks


_log = Console()


def run_dir(out: str | None, prefix: str = "") -> Path:
    return Path(out) if out else Path("runs") / (prefix + time.strftime("%Y%m%d-%H%M%S"))


def write_json(path: Path, data) -> None:
    """Write via a temporary file and rename, so a kill or a full disk never leaves half a file."""
    files.write_json(path, data)


def _prepare(data_config: DataConfig, baseline_name: str, train: TrainConfig):
    """Data, baseline spec, trainer (augmentation on: both jobs train for real) and (the baseline's trained Keras
    model or None, its `baseline_preparation` record or None): a user's .keras/.h5/.hdf5 comes with its weights."""
    from compress.data.dataset import load
    from compress.models.zoo import load_spec
    from compress.search import transfer
    from compress.search.train import Trainer

    imported = transfer.import_baseline(baseline_name) if transfer.is_keras_file(baseline_name) else None
    if imported:
        data_config = transfer.fit_data(data_config, imported.spec, _log)
    data = load(data_config)
    task_names = tuple(getattr(data, "tasks", ()))  # multi-task data: one head per task
    trainer = Trainer(data, train, data_config, augment=True, log=_log)
    if imported and task_names:
        raise CompressError(f"{baseline_name}: a .keras/.h5/.hdf5 baseline learns one label; for several tasks "
                            "start from multitask_cnn or a spec .json with one head per task")
    if imported:
        baseline, model, record = transfer.prepare(imported, data, trainer, _log, retrain=train.retrain_baseline)
        return data, baseline, trainer, (model, record)
    baseline = load_spec(baseline_name, input_shape=data.input_shape, classes=data.classes, tasks=task_names)
    if not is_valid(baseline):
        layer_shapes(baseline)  # raises the SpecError that says why
    return data, baseline, trainer, (None, None)


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
    """The main job: baseline, search, fine-tune, report, then int8 export and firmware; one process per run
    folder (a second one on the same --out is refused with the holder's pid)."""
    from compress.search.lock import RunLock

    if not 0 < config.search.auc_ratio <= 1:
        raise CompressError(f"--auc-ratio {config.search.auc_ratio}: must be in (0, 1]; beta above the baseline's "
                            "own AUC could never be met")
    out = run_dir(out)
    try:
        with RunLock(out):
            return _search(config, out, resume, as_json)
    finally:
        _log.end_status()


def _search(config: RunConfig, out: Path, resume: bool, as_json: bool) -> int:
    from compress.devices import profiles
    from compress.report import run_report, tables
    from compress.search import executors, strategies
    from compress.search.journal import Journal
    from compress.search.session import Search
    from compress.search.space import Costing
    from compress.search.summary import summarise
    from compress.search.train import Evaluator

    settings = config.search
    _check_deployable_device(config)
    device = profiles.get(config.targets.device)
    executors.check(settings.executor, settings.workers)
    _check_resume(out, config, resume)
    data, baseline, trainer, (given, preparation) = _prepare(config.data, settings.baseline, config.train)
    costing = Costing(config.targets)
    space = costing.space(baseline)
    _check_reachable(space, baseline, space.budget_flops)
    evaluator = Evaluator(trainer, out / "weights", costing, baseline_epochs=config.train.final_epochs,
                          baseline_lr=config.train.baseline_lr)
    journal = Journal(out / "journal.jsonl", log=_log)
    search = Search(space, evaluator, beta=0.0, journal=journal, max_evals=settings.max_evals,
                    max_seconds=settings.max_minutes * 60, patience=settings.patience, log=_log)
    _start_baseline(out, config, data, baseline, given, costing.flops(baseline))
    base = search.evaluate(baseline, None, "baseline")
    base_loso, reference = _beta_reference(config, baseline, out, data, base.auc, search.reference)
    search.beta = settings.auc_ratio * reference
    beta_text = (tasks.describe(search.reference, settings.auc_ratio) if search.reference else
                 f"baseline val AUC {base.auc:.4f}; target beta = {settings.auc_ratio} x {reference:.4f} = {search.beta:.4f}")
    _log(f"{beta_text}; budget {space.budget_flops:,.0f} FLOPs on {device.name}; strategy {settings.strategy}")
    with executors.make(settings.executor, evaluator, settings.workers, settings.ray_address, _log) as executor:
        search.executor = executor  # the baseline trained here; the candidates where --executor says
        winner = strategies.run(settings.strategy, search, baseline, seed=config.data.seed)
    _log.end_status()
    summary = summarise(config, search, base, winner, evaluator, costing, data, log=_log)
    _add_loso(summary, config, base_loso, out, data)
    summary.update({"baseline_preparation": preparation} if preparation else {})  # a user's model: how it began
    write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=1, default=str) if as_json else tables.search_markdown(summary, True) + _loso_md(summary))
    try:
        if winner is None:
            _log("no model met every target and AUC >= beta; the closest are listed above")
            return 3
        return _ship(config, out, summary, data, as_json) if config.export.enabled else 0
    finally:
        paths = run_report.write_run_report(out, data=data)
        _log("report: " + ", ".join(str(p) for p in paths))


def _start_baseline(out: Path, config: RunConfig, data, baseline, given, flops: float) -> None:
    """Say what the run holds; a user's trained model (given): its weights go where the Evaluator finds them, to be
    scored as given."""
    if baseline.tasks and config.data.loso:
        raise CompressError("--loso: leave-one-subject-out is for single-task wearable runs; multi-task data "
                            "is split by subjects (--holdout-subject picks the test subject)")
    _log(f"run folder {out}; data {data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
         f"{len(data.y_test)} test, {data.classes} classes" + f", tasks {', '.join(baseline.tasks)}" * bool(baseline.tasks))
    epochs = config.train.final_epochs
    if given is None:
        _log(f"training baseline {baseline.name} ({flops / 1e6:.2f} MFLOPs) for {epochs} epochs")
        return
    _log(f"scoring the given baseline {baseline.name} ({flops / 1e6:.2f} MFLOPs)")
    if not (out / "weights" / f"{baseline.key}.weights.h5").exists():
        from compress.search.train import save_model

        save_model(given, out / "weights" / f"{baseline.key}.weights.h5", weights_only=True)


def _beta_reference(config: RunConfig, baseline, out: Path, data, val_auc: float,
                    task_aucs: dict | None = None) -> tuple[dict | None, float]:
    """(LOSO scores or None, the AUC beta is relative to): the baseline's val AUC, or with --loso its mean test
    AUC over every held-out subject (search/loso.py); refused when the baseline learned next to nothing.
    Multi-task (task_aucs, each task's val AUC): `auc` is already a share of the baseline's, so 1 (tasks.py)."""
    if not config.data.loso:
        _check_baseline_learned(min(task_aucs.values()) if task_aucs else val_auc, config)
        return None, val_auc
    if not hasattr(data, "subjects"):
        raise CompressError(f"--loso: {config.data.source} has no subjects; use synthetic-wearables or a "
                            "K-EmoCon-layout folder")
    from compress.search import loso

    scores = loso.baseline_scores(baseline, config, out, log=_log)
    _log(f"baseline LOSO AUC {scores['mean']:.4f} +- {scores['sd']:.4f} over {len(scores['per_subject'])} "
         f"subjects; the search selects on the fold holding out {data.holdout}")
    _check_baseline_learned(scores["mean"], config)
    return scores, scores["mean"]


def _add_loso(summary: dict, config: RunConfig, base_scores: dict | None, out: Path, data) -> None:
    """--loso: summary['loso'], the baseline's and the winner's scores over every held-out subject."""
    if base_scores:
        from compress.models.spec import ModelSpec
        from compress.search import loso

        final = ModelSpec.from_json((out / "best_spec.json").read_text()) if "final" in summary else None
        summary["loso"] = loso.summary(config, base_scores, final, data.holdout, log=_log)


def _loso_md(summary: dict) -> str:
    from compress.search import loso

    return "\n" + loso.markdown(summary["loso"]) if "loso" in summary else ""


MIN_BASELINE_AUC = 0.55  # a baseline at or below this has learned next to nothing: beta would mean nothing


def _check_baseline_learned(auc: float, config: RunConfig) -> None:
    if not auc > MIN_BASELINE_AUC:
        raise CompressError(f"the baseline {config.search.baseline} reached only val AUC {auc:.4f} (<= "
                            f"{MIN_BASELINE_AUC}), so beta = {config.search.auc_ratio} x AUC would accept anything; "
                            f"train it better first, e.g. another --baseline-lr (now {config.train.baseline_lr:g}) "
                            f"or more --final-epochs (now {config.train.final_epochs})")


def _check_deployable_device(config: RunConfig) -> None:
    """A search must target a device some firmware board supports (profiles.DEVICE_BOARDS): say so before training."""
    from compress.devices import profiles

    profiles.board_for(config.targets.device)


def _check_reachable(space, baseline, budget_flops: float) -> None:
    from compress.search.strategies import smallest_reachable

    smallest, flops = smallest_reachable(space, baseline)
    if flops > budget_flops:
        raise CompressError(f"--budget-flops {budget_flops:g} cannot be met: the smallest model the reductions "
                            f"reach from {baseline.name or 'the baseline'} costs {flops:,.0f} FLOPs")


def _ship(config: RunConfig, out: Path, summary: dict, data, as_json: bool = False) -> int:
    """Export the winner to int8, check it against beta, generate its Arduino sketch in the run folder, and
    (unless --json) show the results table again, now with the int8 row."""
    from compress.deploy.ship import ship
    from compress.models.spec import ModelSpec
    from compress.report import tables

    _log("exporting the winner to int8 TFLite (full-integer PTQ" + (" after QAT)" if config.export.qat else ")"))
    spec = ModelSpec.from_json((out / "best_spec.json").read_text())
    data = data.at_input(spec.input_shape, spec.rate_divisor) if spec.rate_divisor > 1 else data  # its windows
    try:
        result = ship(out, data, beta=tasks.int8_floor(summary), qat=config.export.qat,
                      seed=config.data.seed,
                      device=config.targets.device, expected_latency_s=summary["final"]["latency_s"], log=_log)
    finally:  # the int8 figures count even when int8 AUC fell below beta
        exported = out / "export.json"
        if exported.exists():
            report = json.loads(exported.read_text())
            test = tasks.relative(report["metrics"]["int8"], tasks.reference_of(summary["baseline"]["test"]))
            summary["int8"] = {**summary["final"], "val": None, "test": test,
                               "model_bytes": report["model_bytes"]}
            write_json(out / "summary.json", summary)
    summary["firmware"] = {k: result[k] for k in ("sketch_dir", "model_bytes", "arena_measured_bytes",
                                                  "arena_bytes", "ops", "checks", "passed", "self_test_passed")}
    summary["emulated"] = _emulate_winner(config, out, summary)
    write_json(out / "summary.json", summary)
    print("" if as_json else "\n" + tables.final_results_text(summary))
    return 0 if result["passed"] else 1


def _emulate_winner(config: RunConfig, out: Path, summary: dict) -> dict:
    """The int8 winner in TFLM on an emulated Cortex-M4 (toolchain permitting): measured next to estimated."""
    from compress.deploy.emulator import emulate_winner
    from compress.devices import latency, profiles

    device = profiles.get(config.targets.device)
    calibration = latency.load_calibration(config.targets.calibration) if config.targets.calibration else None
    return emulate_winner(out / "model_int8.tflite", config.targets.kernels, device,
                          latency.cycles_per_instruction(device, config.targets.kernels, calibration),
                          summary["final"].get("arena_bytes"), log=_log)


def train(data_config: DataConfig, baseline_name: str, train_config: TrainConfig, out: str | None = None,
          as_json: bool = False) -> int:
    """Train and score the baseline alone: how good is the model we start from?"""
    from compress.search.space import Costing
    from compress.search.summary import model_entry
    from compress.search.train import save_model

    out = run_dir(out, prefix="train-")
    out.mkdir(parents=True, exist_ok=True)
    data, baseline, trainer, (given, preparation) = _prepare(data_config, baseline_name, train_config)
    costing = Costing(Targets())
    _log(f"training {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) on {data.name} for "
         f"up to {train_config.epochs} epochs")
    model, history, _ = trainer.fit(baseline, given, baseline if given is not None else None)  # a user's: further
    result = {"baseline": baseline.name, "data": data.name, "history": history, "baseline_preparation": preparation,
              **model_entry(costing, baseline, trainer.score(model, "val"), trainer.score(model, "test"))}
    save_model(model, out / "model.keras")
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
