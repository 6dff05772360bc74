"""Stage 1, prepare: the checks that need no training, then the data, the baseline spec and the trainer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compress import CompressError, files
from compress.config import CONFIG_FILE, DataConfig, RunConfig, TrainConfig, read_run_config


@dataclass(frozen=True)
class Prepared:
    """What every later stage starts from. given: a user's trained model (.keras/.h5/.hdf5/.onnx) or None;
    preparation: how that model was fitted to the data (summary.json's `baseline_preparation`) or None."""
    data: object
    baseline: object  # ModelSpec
    trainer: object
    given: object | None = None
    preparation: dict | None = None


def prepare(data_config: DataConfig, baseline_name: str, train: TrainConfig, log) -> Prepared:
    """Data, baseline spec and trainer (augmentation on: both jobs train for real); a user's .keras/.h5/.hdf5/.onnx
    comes with its weights."""
    from compress.data.dataset import load
    from compress.models.zoo import load_spec
    from compress.models.graph import is_valid, layer_shapes
    from compress.search import transfer
    from compress.search.train import Trainer

    imported = transfer.import_baseline(baseline_name) if transfer.is_model_file(baseline_name) else None
    if imported:
        data_config = transfer.fit_data(data_config, imported.spec, log)
    data = load(data_config)
    task_names = data.tasks  # multi-task data: one head per task
    trainer = Trainer(data, train, data_config, augment=True, log=log)
    if imported and task_names:
        raise CompressError(f"{baseline_name}: a .keras/.h5/.hdf5/.onnx baseline learns one label; for several "
                            "tasks start from multitask_cnn or a spec .json with one head per task")
    if imported:
        baseline, model, record = transfer.prepare(imported, data, trainer, log, retrain=train.retrain_baseline)
        return Prepared(data, baseline, trainer, model, record)
    baseline = load_spec(baseline_name, input_shape=data.input_shape, classes=data.classes, tasks=task_names)
    if not is_valid(baseline):
        layer_shapes(baseline)  # raises the SpecError that says why
    return Prepared(data, baseline, trainer)


def check_auc_ratio(config: RunConfig) -> None:
    if not 0 < config.search.auc_ratio <= 1:
        raise CompressError(f"--auc-ratio {config.search.auc_ratio}: must be in (0, 1]; beta above the baseline's "
                            "own AUC could never be met")


@dataclass(frozen=True)
class Setup:
    """The search's collaborators: costs on the device, the reachable space, the evaluator (trains and scores a
    spec, weights in out/weights) and journal.jsonl."""
    costing: object
    space: object
    evaluator: object
    journal: object


def set_up(config: RunConfig, out: Path, prepared: Prepared, log) -> Setup:
    """Refuses a budget no reduction reaches, before any training."""
    from compress.search.journal import Journal
    from compress.search.space import Costing
    from compress.search.train import Evaluator

    costing = Costing(config.targets, families=config.search.families)
    space = costing.space(prepared.baseline)
    check_reachable(space, prepared.baseline, space.budget_flops)
    evaluator = Evaluator(prepared.trainer, out / "weights", costing, baseline_epochs=config.train.baseline_epochs,
                          baseline_lr=config.train.baseline_lr)
    return Setup(costing, space, evaluator, Journal(out / "journal.jsonl", log=log))


def check_options(config: RunConfig) -> None:
    """Refuse what no training can fix, before any: a device no board supports, an executor that cannot run,
    options that would be ignored."""
    from compress.devices import profiles
    from compress.search import executors

    if config.export.qat and not config.export.enabled:
        raise CompressError("--qat with --no-export: quantization-aware training is part of the int8 export that "
                            "--no-export skips; drop one of the two")

    profiles.board_for(config.targets.device)  # a search must target a device some firmware board supports
    profiles.get(config.targets.device)
    executors.check(config.search.executor, config.search.workers)


def check_resume(out: Path, config: RunConfig, resume: bool) -> None:
    """--resume needs a journal and config.json with the options it was made with; a new run needs a folder without
    a journal. Writes nothing: config.json is written once everything is checked (write_config)."""
    if resume:
        if not (out / "journal.jsonl").exists():
            raise CompressError(f"{out / 'journal.jsonl'}: nothing to resume (start without --resume)")
        old = read_run_config(out)
        if old is None:
            raise CompressError(f"{out / CONFIG_FILE}: missing, so --resume cannot tell whether these options are "
                                "the run's; restore it, or start a new run with another --out")
        changed = config.changes_refused_on_resume(old)
        if changed:
            raise CompressError(f"{out / CONFIG_FILE}: --resume with different options {changed}; "
                                "use the original options or a new --out")
    elif (out / "journal.jsonl").exists():
        raise CompressError(f"{out}: holds a run already; add --resume to continue it or choose another --out")


def write_config(out: Path, config: RunConfig) -> None:
    """config.json, once the options, the data and the baseline have all been checked: a search refused before
    training leaves an existing --out as it was."""
    out.mkdir(parents=True, exist_ok=True)
    files.write_json(out / CONFIG_FILE, config.to_dict())


def check_data(config: RunConfig, data) -> None:
    """Options the data cannot honour, refused before the baseline trains: --tasks on data with one label,
    --loso on data without subjects or with several tasks."""
    if config.data.tasks and not data.tasks:
        raise CompressError(f"--tasks {config.data.tasks}: {data.name} has one label, not several tasks; --tasks is "
                            "for multi-task data (synthetic-multitask or a folder of per-subject CSVs)")
    if config.data.loso and (not data.subjects or data.tasks):
        raise CompressError("--loso: leave-one-subject-out is for single-task wearable runs; multi-task data is split "
                            "by subjects (--holdout-subject picks the test subject)" if data.tasks else
                            f"--loso: {data.name} has no subjects; use synthetic-wearables or a K-EmoCon-layout folder")


def check_reachable(space, baseline, budget_flops: float) -> None:
    from compress.search.strategies import smallest_reachable

    smallest, flops = smallest_reachable(space, baseline)
    if flops > budget_flops:
        raise CompressError(f"--budget-flops {budget_flops:g} cannot be met: the smallest model the reductions "
                            f"reach from {baseline.name or 'the baseline'} costs {flops:,.0f} FLOPs")
