"""Typed settings of every job: frozen dataclasses that cli.py fills from its options and config.json stores."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from compress import CompressError

CONFIG_FILE = "config.json"  # in a run folder: RunConfig.to_dict()
SYNTHETIC_FACES = "synthetic-faces"
# the baseline a search starts from when --baseline is not given, by generated data set (anything else: alexnet)
DEFAULT_BASELINES = {"synthetic-wearables": "fusion_cnn", "synthetic-multitask": "multitask_cnn"}
DEFAULT_BUDGET_FLOPS = 0.46e6  # Apollo3 at ~0.46 MFLOP/s (Shved 2019) -> about 1 s per inference


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    source: str = SYNTHETIC_FACES  # 'synthetic-faces', a FER2013 .csv, an image folder or an .npz
    positive: str | None = None  # binary task: this class (name or code) against the rest
    class_subset: str | None = None  # comma-separated classes to keep
    task: str = "binary"  # synthetic-faces only: 'binary' (happy vs not-happy) or '4class'
    size: int = 48  # image side in pixels after centre crop and resize
    channels: int = 1  # 1 = grayscale, 3 = RGB
    samples: int | None = None  # synthetic-faces only: number of images (None: the generator's default)
    balance: str = "none"  # class imbalance in training: 'oversample', 'class-weight' or 'none'
    seed: int = 0  # data, splits, training and int8 calibration
    holdout_group: str | None = None  # leave-one-group-out: this group (subject) is the test split
    # wearable sources ('synthetic-wearables' or a K-EmoCon-layout folder) only:
    subjects: int | None = None  # generated wearables: subjects (None: 16 synthetic-wearables, 20 synthetic-multitask)
    rate_hz: float = 4.0  # every sensor resampled to this rate (rolling mean down, linear interpolation up)
    window_s: float = 5.0  # window length in seconds
    hop_s: float = 1.0  # seconds between window starts
    target: str = "arousal"  # 'arousal' or 'valence': low (1-3) vs high (4-5)
    loso: bool = False  # leave-one-subject-out: report mean +- SD AUC over every held-out subject
    # multi-task sources ('synthetic-multitask' or a folder of one CSV per subject with arousal/dominance/valence):
    tasks: str | None = None  # comma-separated tasks, one head each (None: every task the data labels)
    source_rate: float | None = None  # Hz of CSVs without a time column


@dataclass(frozen=True, kw_only=True)
class Targets:
    device: str = "apollo3"  # device profile (compress.devices): clock, flash, SRAM
    budget_flops: float | None = DEFAULT_BUDGET_FLOPS  # FLOPs per inference; None: no FLOPs target
    latency_s: float | None = None  # seconds per inference; None: the time the FLOPs budget takes on the device
    latency_model: str = "emulated"  # 'emulated': fitted TFLM instructions; 'flops': FLOPs / FLOP/s; 'ops': per MAC
    calibration: str | None = None  # JSON file of measured figures replacing the default cycle table
    kernels: str = "cmsis-nn"  # TFLM kernel set for the 'ops'/'emulated' latency and the emulated winner
    ram_bytes: int | None = None  # limit for arena + runtime allowance; None: the device's SRAM
    flash_bytes: int | None = None  # limit for model + runtime allowance; None: the device's flash


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    kernels: str = "cmsis-nn"  # TFLM kernel set: 'cmsis-nn' or 'reference'
    tflm_dir: str | None = None  # folder of the TFLM trees; None: $COMPRESS_TFLM_DIR, else ../shared/tflm
    device: str = "apollo3"  # device profile whose clock turns instructions into time
    cycles_per_instruction: float | None = None  # None: the calibration's or the device's figure (else 1.0)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 3  # per candidate (the `train` job: for the baseline)
    batch_size: int = 64
    lr: float = 1e-3  # Adam, for candidates and the winner's fine-tune (the `train` job: the baseline)
    baseline_lr: float = 1e-4  # Adam, for the search's baseline trained from scratch
    final_epochs: int = 12  # for the search's baseline and the winner's fine-tune
    distill: bool = True  # the fine-tunes after the search learn from the baseline's soft outputs too
    retrain_baseline: bool = False  # a Keras-file baseline: train its architecture from scratch, not its weights
    task_weights: str | None = None  # multi-task: comma-separated weight per task of the summed loss (None: all 1)


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    baseline: str = "alexnet"  # zoo name or spec .json
    strategy: str = "astar"  # astar, dfs, greedy or random
    auc_ratio: float = 0.8  # beta = auc_ratio x the baseline's val AUC
    max_evals: int = 60  # evaluations (trainings), the baseline's included
    max_minutes: float = 30.0  # training time, summed over the journal
    patience: int | None = 10  # stop after this many evaluations without a better goal (None: never)
    finalists: int = 3  # the best goals fine-tuned after the search; the winner is the best of them on val
    executor: str = "inline"  # where candidates train: 'inline' (this process), 'processes' or 'ray'
    workers: int = 1  # evaluations at once (batch best-first); 1: the sequential search exactly
    ray_address: str | None = None  # Ray cluster to join; None: $RAY_ADDRESS, else a local one with `workers` CPUs


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    enabled: bool = True  # False: the search stops after its report (no int8 model, no firmware)
    qat: bool = False  # quantization-aware fine-tuning before the int8 conversion
    beta: float | None = None  # `export`: fail when int8 test AUC falls below this (None: the run's beta)


# What may change between a run and its --resume: how long it searches and what happens after the search.
RESUMABLE_CHANGES = {"search": ("max_evals", "max_minutes", "patience", "finalists", "executor", "workers",
                                "ray_address"), "train": ("distill",),
                     "export": ("enabled", "qat", "beta")}


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything that defines a search run; config.json in its folder is this, serialised."""
    data: DataConfig = field(default_factory=DataConfig)
    targets: Targets = field(default_factory=Targets)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = CONFIG_FILE) -> "RunConfig":
        if not isinstance(data, dict):
            raise CompressError(f"{where}: expected a JSON object")
        parts = {}
        for part in dataclasses.fields(cls):
            values = data.get(part.name, {})
            known = {f.name for f in dataclasses.fields(part.default_factory)}
            unknown = sorted(set(values) - known) if isinstance(values, dict) else [part.name]
            if unknown:
                raise CompressError(f"{where}: unknown setting(s) {', '.join(unknown)} under {part.name!r}")
            _check_types(part.default_factory, values, f"{where}: {part.name}")
            parts[part.name] = part.default_factory(**values)
        extra = sorted(set(data) - set(parts))
        if extra:
            raise CompressError(f"{where}: unknown section(s) {', '.join(extra)}")
        return cls(**parts)

    def changes_refused_on_resume(self, old: "RunConfig") -> dict:
        """{'section.field': (old, new)} for every setting a resumed run may not change."""
        changed = {}
        for section, new_part in self.to_dict().items():
            old_part = old.to_dict()[section]
            for name, value in new_part.items():
                if old_part[name] != value and name not in RESUMABLE_CHANGES.get(section, ()):
                    changed[f"{section}.{name}"] = (old_part[name], value)
        return changed


_JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "None": (type(None),)}


def _check_types(section, values: dict, where: str) -> None:
    """Each value of a section has its field's type ("units": "8" or epochs 2.5 is one line, not a crash later)."""
    for f in dataclasses.fields(section):
        if f.name not in values:
            continue
        value, kinds = values[f.name], str(f.type).replace(" ", "").split("|")
        allowed = tuple(t for k in kinds for t in _JSON_TYPES.get(k, (object,)))
        if not isinstance(value, allowed) or (isinstance(value, bool) and "bool" not in kinds):
            raise CompressError(f"{where}.{f.name}: expected {' or '.join(kinds)}, not {value!r}")


def read_run_config(run_dir) -> RunConfig | None:
    """The RunConfig stored in a run folder, or None when the folder has no config.json."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        return RunConfig.from_dict(json.loads(path.read_text()), str(path))
    except (ValueError, TypeError) as exc:
        raise CompressError(f"{path}: not a valid run configuration: {exc}") from None
