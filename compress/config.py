"""Typed settings of every job: frozen dataclasses that cli.py fills from its options and config.json stores."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from compress import CompressError
from compress.validate import read_json

CONFIG_FILE = "config.json"  # in a run folder: RunConfig.to_dict()
SYNTHETIC_FACES = "synthetic-faces"
# the baseline a search starts from when --baseline is not given, by generated data set (anything else: alexnet)
DEFAULT_BASELINES = {"synthetic-wearables": "fusion_cnn", "synthetic-multitask": "multitask_cnn"}
DEFAULT_BUDGET_FLOPS = 0.46e6  # Apollo3 at ~0.46 MFLOP/s (Shved 2019) -> about 1 s per inference


def setting(default, help: str):
    """A field with its --help text ('{default}': the option's default, as cli.py shows it); cli.py's options take
    their defaults and help from these fields (compress.options.add), so the two cannot drift."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    source: str = setting(SYNTHETIC_FACES, "'synthetic-faces' (generated), a FER2013 .csv, an image folder "
                          "(root/<class>/*.png or root/{{train,val,test}}/<class>/...), an .npz with x and y; sensor "
                          "windows: 'synthetic-wearables' or a K-EmoCon folder; several tasks: 'synthetic-multitask' "
                          "or a folder of one CSV per subject (README: 'Multi-task models') (default {default})")
    positive: str | None = setting(None, "make the task binary: this class (name or code) against the rest, "
                                         "e.g. --positive happy")
    class_subset: str | None = setting(None, "comma-separated subset of classes to keep")
    task: str = setting("binary", "synthetic-faces only: 'binary' (happy vs not-happy) or '4class' (happy, "
                                  "neutral, sad, surprise) (default {default})")
    size: int = setting(48, "image side in pixels after centre crop and resize (default {default})")
    channels: int = setting(1, "1 = grayscale, 3 = RGB (default {default})")
    samples: int | None = setting(None, "synthetic-faces only: number of images (default 8000, the generator's)")
    balance: str = setting("none", "how to treat class imbalance in training (default {default})")
    seed: int = setting(0, "seed for data, splits, training and int8 calibration (default {default})")
    holdout_group: str | None = setting(None, "leave-one-group-out: the test subject (default: the first)")
    # wearable sources ('synthetic-wearables' or a K-EmoCon-layout folder) only:
    subjects: int | None = setting(None, "generated wearables: subjects (16 synthetic-wearables, 20 "
                                         "synthetic-multitask)")
    rate_hz: float = setting(4.0, "wearables: resample every sensor to this many Hz, rolling mean down, linear "
                                  "interpolation up (default {default})")
    window_s: float = setting(5.0, "wearables: window seconds ({default})")
    hop_s: float = setting(1.0, "wearables: seconds between windows ({default})")
    target: str = setting("arousal", "wearables: label, low (1-3) vs high (4-5) ({default})")
    loso: bool = setting(False, "wearables: leave-one-subject-out mean +- SD AUC over every held-out subject")
    # multi-task sources ('synthetic-multitask' or a folder of one CSV per subject with arousal/dominance/valence):
    tasks: str | None = setting(None, "multi-task data: comma-separated tasks, one head each (default: every "
                                      "task it labels)")
    source_rate: float | None = setting(None, "multi-task CSVs without a time column: their sampling rate in Hz")


@dataclass(frozen=True, kw_only=True)
class Targets:
    device: str = setting("apollo3", "device profile: a built-in name (`estimate --devices` lists them) or the "
                                     "path of a board .json (README: 'Device profiles as data') (default "
                                     "{default})")
    budget_flops: float | None = setting(DEFAULT_BUDGET_FLOPS, "FLOPs per inference allowed (default {default}, "
                                         "~1 s on Apollo3 with reference kernels); 'none': no FLOPs target, the "
                                         "latency target bounds the search")
    latency_s: float | None = setting(None, "latency target (default: FLOPs budget / device FLOP/s)")
    latency_model: str = setting("emulated", "'emulated': per-op instructions fitted to TFLM runs on an emulated "
                                             "Cortex-M4; 'flops': FLOPs / measured device FLOP/s (Shved 2019, "
                                             "cs231n); 'ops': cycles per MAC per op kind (default {default})")
    calibration: str | None = setting(None, "JSON file of figures measured on a board, replacing the default cycle "
                                            "table (README: 'Calibration')")
    kernels: str = setting("cmsis-nn", "TFLM kernel set the latency models and the winner's emulation assume "
                                       "(default {default})")
    ram_bytes: int | None = setting(None, "arena + runtime allowance limit, in KiB on the command line (default: "
                                          "device SRAM)")
    flash_bytes: int | None = setting(None, "model + runtime allowance limit, in KiB on the command line (default: "
                                            "device flash)")


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    kernels: str = setting("cmsis-nn", "TFLM kernel set (default {default})")
    tflm_dir: str | None = setting(None, "folder holding the TFLM trees cortex_m4_cmsis_nn/ and "
                                         "cortex_m4_reference/ (default $COMPRESS_TFLM_DIR, else ../shared/tflm "
                                         "beside the checkout)")
    device: str = setting("apollo3", "device profile whose core is emulated and whose clock turns instructions "
                                     "into time: a built-in name (`estimate --devices` lists them) or the path of "
                                     "a board .json (default {default})")
    cycles_per_instruction: float | None = setting(None, "device cycles per emulated instruction (default: the "
                                                         "calibration's or the device's figure, else 1)")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = setting(3, "epochs per {what} (default {default})")
    batch_size: int = setting(64, "batch size (default {default})")
    lr: float = setting(1e-3, "Adam learning rate for the {what} (default {default})")
    baseline_lr: float = setting(1e-4, "Adam learning rate for training the baseline from scratch (default "
                                       "{default}: AlexNet-scale nets predict a constant after a few steps at 1e-3)")
    final_epochs: int = setting(12, "fine-tune epochs for the winner (default {default})")
    baseline_epochs: int = setting(60, "a baseline trained from scratch trains until val AUC has not risen for 4 "
                                       "epochs, at most this many (default {default}); it is kept for later runs")
    distill: bool = setting(True, "fine-tune the finalists on the baseline's soft outputs too (default {default})")
    retrain_baseline: bool = setting(False, "train the baseline from scratch: a .keras/.h5/.hdf5 one instead of "
                                            "starting from its weights, a zoo or spec one instead of starting from "
                                            "the copy kept by an earlier run or committed under models/baselines")
    task_weights: str | None = setting(None, "multi-task: weight of each task's loss in the sum, in --tasks "
                                             "order, e.g. 1,2,1 (default all 1)")


# the `train` job trains a baseline alone: longer, and at the search's baseline rate
TRAIN_JOB = TrainConfig(epochs=10, lr=1e-4)


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    baseline: str = setting("alexnet", "zoo name (alexnet, fer_cnn, resnet_like, embedded3; sensor windows: "
                                       "fusion_cnn, fusion_late, lstm; several tasks: multitask_cnn), a spec .json, "
                                       "or your trained .keras/.h5/.hdf5 (Keras 2 or 3) or .onnx model (default "
                                       "{default} for images, fusion_cnn for wearables, multitask_cnn for multi-task "
                                       "data)")
    strategy: str = setting("astar", "astar (anytime), dfs (the cs231n study, Shved 2019), greedy (NetAdapt's "
                                     "rule), random (the control) (default {default})")
    auc_ratio: float = setting(0.8, "keep this share of the baseline's val AUC above chance: beta = 0.5 + ratio x "
                                    "(AUC - 0.5) (default {default})")
    max_evals: int = setting(60, "stop after this many trainings, the baseline's included (default {default})")
    max_minutes: float = setting(30.0, "stop after this many minutes of training, summed over the journal and "
                                       "counted over resumes (default {default})")
    patience: int | None = setting(10, "stop after this many evaluations without a better goal (default "
                                       "{default}; 0 = never)")
    families: bool = setting(False, "family moves: also replace the whole trunk with a DS-CNN or inverted-residual "
                                    "stack at each width x resolution pair that fits, trained from scratch (default "
                                    "off until the bench shows it pays: BENCHMARKS.md)")
    finalists: int = setting(3, "fine-tune this many of the best goals; the best on val wins (default {default})")
    executor: str = setting("inline", "where candidates train: inline (in this process), processes (a local "
                                      "pool) or ray (pip install 'compress-mcu[ray]') (default {default})")
    workers: int = setting(1, "evaluations at once, N (default {default}: the sequential search exactly)")
    ray_address: str | None = setting(None, "Ray cluster to join (default $RAY_ADDRESS, else a local one with "
                                             "--workers CPUs)")


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    enabled: bool = setting(True, "int8 export and firmware after the search (--no-export: stop after the "
                                  "report; skip int8 export and firmware)")
    qat: bool = setting(False, "quantization-aware fine-tuning before int8 export")
    beta: float | None = setting(None, "fail when int8 test AUC falls below this (default: from the run)")


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
                raise CompressError(f"{where}: unknown setting(s) {_names(unknown)} under {part.name!r}")
            _check_types(part.default_factory, values, f"{where}: {part.name}")
            _check_ranges(values, f"{where}: {part.name}")
            parts[part.name] = part.default_factory(**values)
        extra = sorted(set(data) - set(parts))
        if extra:
            raise CompressError(f"{where}: unknown section(s) {_names(extra)}")
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


# The sane range of each number a user gives, on the command line or in config.json: field -> (low, high, unit,
# the option's unit in the field's). Floats with low 0 must exceed it. options.py parses options with these and
# RunConfig.from_dict checks config.json against them, so both name the same limit.
MAX_CLASS_CODE = 999  # a class given by its code: a code of 10^9 asked for a 10^9-entry table
LIMITS = {"size": (1, 1024, "pixels", 1), "samples": (1, 200_000, "images", 1), "seed": (0, 2**32 - 1, "", 1),
          "subjects": (1, 1000, "subjects", 1), "rate_hz": (0.0, 1000.0, "Hz", 1), "window_s": (0.0, 3600.0, "s", 1),
          "hop_s": (0.0, 3600.0, "s", 1), "source_rate": (0.0, 1e5, "Hz", 1), "budget_flops": (1.0, 1e15, "FLOPs", 1),
          "latency_s": (0.0, 3600.0, "ms", 1e-3), "ram_bytes": (1024.0, 2.0**34, "KiB", 1024),
          "flash_bytes": (1024.0, 2.0**34, "KiB", 1024), "lr": (0.0, 1.0, "", 1), "baseline_lr": (0.0, 1.0, "", 1),
          "epochs": (1, 10_000, "", 1), "final_epochs": (1, 10_000, "", 1), "baseline_epochs": (1, 10_000, "", 1),
          "batch_size": (1, 65_536, "", 1)}


# The values a field with a fixed set of them may take: cli.py's choices, and what config.json is checked against.
CHOICES = {"task": ("binary", "4class"), "channels": (1, 3), "balance": ("oversample", "class-weight", "none"),
           "target": ("arousal", "valence"), "latency_model": ("emulated", "flops", "ops"),
           "kernels": ("cmsis-nn", "reference"), "strategy": ("astar", "dfs", "greedy", "random"),
           "executor": ("inline", "processes", "ray")}


def out_of_range(name: str, value, scaled: bool = False) -> str | None:
    """None where value (in the option's unit if scaled, else the field's) lies in name's range; else the range,
    as 'a whole number >= 1 and <= 1024 (pixels)'. Whole-number fields have int limits; a float low of 0 is
    exclusive."""
    low, high, unit, scale = LIMITS[name]
    whole = isinstance(low, int)
    low, high = (low / scale, high / scale) if scaled and scale != 1 else (low, high)
    unit = unit if scaled or scale == 1 else ""  # config.json holds bytes and seconds, the option KiB and ms
    try:
        ok = (low < value if low == 0 and not whole else low <= value) and value <= high
        ok = ok and (not whole or value == int(value))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if ok:
        return None
    bound = (f"a whole number >= {low}" if whole else f"a finite number {'>' if low == 0 else '>='} {low:.10g}")
    return f"{bound} and <= {high:.12g}{f' ({unit})' * bool(unit)}"


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


def _check_ranges(values: dict, where: str) -> None:
    for name, value in values.items():
        expected = out_of_range(name, value) if name in LIMITS and value is not None else None
        if expected:
            raise CompressError(f"{where}.{name}: {value!r} is out of range: expected {expected}")
        if name in CHOICES and value not in CHOICES[name]:
            raise CompressError(f"{where}.{name}: expected one of {', '.join(map(repr, CHOICES[name]))}, not "
                                f"{value!r}")


def read_run_config(run_dir) -> RunConfig | None:
    """The RunConfig stored in a run folder, or None when the folder has no config.json."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    data = read_json(path, what="run configuration")  # nesting measured first; one line naming the file
    try:
        return RunConfig.from_dict(data, str(path))
    except (ValueError, TypeError) as exc:
        raise CompressError(f"{path}: not a valid run configuration: {exc}") from None


def _names(keys) -> str:
    """Keys a file named, escaped (json.dumps): a newline or control character in one cannot break the line."""
    return ", ".join(json.dumps(key) for key in keys)
