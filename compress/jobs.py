"""The `search` and `train` jobs end to end: data, baseline, search, fine-tune, report, export, firmware."""
from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

from compress import CompressError

LONG_PATIENCE = 4  # epochs without a better val AUC before the baseline or winner stops training


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_dir(out: str | None, prefix: str = "") -> Path:
    return Path(out) if out else Path("runs") / (prefix + time.strftime("%Y%m%d-%H%M%S"))


def write_json(path: Path, data) -> None:
    """Write via a temporary file and rename, so a kill or a full disk never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


class Costing:
    """Cost-only questions about specs, memoised: the search asks them many times per node."""

    def __init__(self, device, targets, latency_model: str, calibration: dict | None = None):
        self.device, self.targets, self.latency_model = device, targets, latency_model
        self.calibration = calibration  # measured cycles per MAC (--calibration), or None for the defaults

    @functools.lru_cache(maxsize=None)
    def cost(self, spec):
        from compress.cost import spec_cost

        return spec_cost(spec)

    def flops(self, spec) -> float:
        return self.cost(spec).flops

    def checks(self, spec, cost=None):
        from compress import devices

        return devices.check(cost or self.cost(spec), self.device, self.targets, latency_model=self.latency_model,
                             calibration=self.calibration)

    def fits(self, spec) -> bool:
        return all(c.passed for c in self.checks(spec))

    @functools.lru_cache(maxsize=None)
    def children(self, spec):
        from compress.reductions import reductions

        return tuple(reductions(spec, flops=self.flops))

    def latency_s(self, spec) -> float:
        from compress import devices

        return devices.latency_s(self.cost(spec), self.device, model=self.latency_model,
                                 calibration=self.calibration)


class TrainingEvaluator:
    """Trains a candidate from its parent's weights; keeps every trained model's weights on disk for resume."""

    def __init__(self, trainer, weights_dir: Path, costing: Costing, baseline_epochs: int, baseline_lr: float):
        self.trainer, self.weights_dir, self.costing = trainer, weights_dir, costing
        self.baseline_epochs, self.baseline_lr = baseline_epochs, baseline_lr
        weights_dir.mkdir(parents=True, exist_ok=True)

    def model(self, spec):
        """The trained model of an evaluated spec, rebuilt from its saved weights."""
        model = spec.build()
        path = self.weights_dir / f"{spec.key}.weights.h5"
        if not path.exists():
            raise CompressError(f"{path}: weights of an evaluated model are missing; re-run without --resume")
        model.load_weights(path)
        return model

    def __call__(self, spec, parent):
        start = time.monotonic()
        parent_model = self.model(parent.spec) if parent else None
        if parent:
            model, history = self.trainer.fit(spec, parent_model, parent.spec)
        else:  # the baseline sets beta: train it as long as the final model
            model, history = self.trainer.fit(spec, epochs=self.baseline_epochs, patience=LONG_PATIENCE,
                                              lr=self.baseline_lr)
        metrics = self.trainer.score(model, "val")
        model.save_weights(self.weights_dir / f"{spec.key}.weights.h5")
        cost = self.costing.cost(spec)
        extra = {"params": cost.params, "arena_bytes": cost.arena_bytes, "flash_bytes": cost.flash_bytes,
                 "epochs": len(history), "train_seconds": round(time.monotonic() - start, 2)}
        return metrics, extra


def _prepare(args):
    """Data, baseline spec and trainer from the CLI options (augmentation on: both jobs train for real)."""
    from compress import data as data_module
    from compress import zoo
    from compress.train import Trainer

    data = data_module.load_from_args(args)
    baseline = zoo.load_spec(args.baseline, input_shape=data.input_shape, classes=data.classes)
    if not baseline.is_valid():
        baseline.shapes()  # raises the SpecError that says why
    trainer = Trainer(data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      augment=True, balance=args.balance, log=_log)
    return data, baseline, trainer


def _check_reachable(space, baseline, budget_flops: float) -> None:
    from compress.search import smallest_reachable

    smallest, flops = smallest_reachable(space, baseline)
    if flops > budget_flops:
        raise CompressError(f"--budget-flops {budget_flops:g} cannot be met: the smallest model the reductions "
                            f"reach from {baseline.name or 'the baseline'} costs {flops:,.0f} FLOPs")


def _config(args) -> dict:
    keep = ("baseline", "data", "positive", "class_subset", "task", "size", "channels", "samples", "balance", "seed",
            "device", "budget_flops", "latency_model", "calibration", "auc_ratio", "strategy", "epochs",
            "batch_size", "lr", "baseline_lr", "final_epochs")
    return {k: getattr(args, k, None) for k in keep}


def _check_resume(out: Path, args) -> None:
    config_path = out / "config.json"
    if args.resume:
        if not (out / "journal.jsonl").exists():
            raise CompressError(f"{out / 'journal.jsonl'}: nothing to resume (start without --resume)")
        if config_path.exists():
            old = json.loads(config_path.read_text())
            changed = {k: (old.get(k), v) for k, v in _config(args).items() if old.get(k) != v}
            if changed:
                raise CompressError(f"{config_path}: --resume with different options {changed}; "
                                    "use the original options or a new --out")
    elif (out / "journal.jsonl").exists():
        raise CompressError(f"{out}: holds a run already; add --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(config_path, _config(args))


def search_command(args) -> int:
    from compress import devices, report, run_report, search as search_module

    if not 0 < args.auc_ratio <= 1:
        raise CompressError(f"--auc-ratio {args.auc_ratio}: must be in (0, 1]; beta above the baseline's own AUC "
                            "could never be met")
    device = devices.get(args.device)
    out = run_dir(args.out)
    _check_resume(out, args)
    data, baseline, trainer = _prepare(args)
    calibration = devices.load_calibration(args.calibration) if args.calibration else None
    costing = Costing(device, devices.Targets(budget_flops=args.budget_flops), args.latency_model, calibration)
    space = search_module.Space(costing.children, costing.flops, costing.fits, args.budget_flops)
    _check_reachable(space, baseline, args.budget_flops)
    evaluator = TrainingEvaluator(trainer, out / "weights", costing, baseline_epochs=args.final_epochs,
                                  baseline_lr=args.baseline_lr)
    journal = search_module.Journal(out / "journal.jsonl", log=_log)
    search = search_module.Search(space, evaluator, beta=0.0, journal=journal, max_evals=args.max_evals,
                                  max_seconds=args.max_minutes * 60, log=_log)
    _log(f"run folder {out}; data {data.name}: {len(data.y_train)} train / {len(data.y_val)} val / "
         f"{len(data.y_test)} test, {data.classes} classes")
    _log(f"training baseline {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) for "
         f"{args.final_epochs} epochs")
    base = search.evaluate(baseline, None, "baseline")
    search.beta = args.auc_ratio * base.auc
    _log(f"baseline val AUC {base.auc:.4f}; target beta = {args.auc_ratio} x {base.auc:.4f} = {search.beta:.4f}; "
         f"budget {args.budget_flops:,.0f} FLOPs on {device.name}; strategy {args.strategy}")
    winner = search_module.run(args.strategy, search, baseline)
    summary = _summarise(args, search, base, winner, evaluator, costing, data)
    write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=1, default=str) if args.json else report.search_markdown(summary))
    try:
        if winner is None:
            _log("no model met every target and AUC >= beta; the closest are listed above")
            return 3
        return 0 if args.no_export else _export(args, out, summary, data)
    finally:
        paths = run_report.write_run_report(out, data=data)
        _log("report: " + ", ".join(str(p) for p in paths))


def _lineage(search, ev) -> list[str]:
    """Reduction labels from the baseline to ev, in the order they were applied."""
    labels = []
    while ev is not None and ev.parent is not None:
        labels.append(ev.label)
        ev = search.cache.get(ev.parent)
    return labels[::-1]


def _model_entry(costing, spec, val: dict, test: dict) -> dict:
    cost = costing.cost(spec)
    return {"key": spec.key, "flops": cost.flops, "macs": cost.macs, "params": cost.params,
            "flash_bytes": cost.flash_bytes, "arena_bytes": cost.arena_bytes,
            "latency_s": costing.latency_s(spec), "val": val, "test": test}


def _summarise(args, search, base, winner, evaluator, costing, data) -> dict:
    out = Path(evaluator.weights_dir).parent
    trainer = evaluator.trainer
    base_model = evaluator.model(base.spec)
    summary = {
        "status": "goal" if winner else "no-goal", "strategy": args.strategy, "device": costing.device.name,
        "budget_flops": args.budget_flops, "auc_ratio": args.auc_ratio, "beta": search.beta,
        "evaluations": len(search.cache), "trainings_this_run": search.trainings,
        "train_seconds_total": round(sum(ev.extra.get("train_seconds", 0) for ev in search.cache.values()), 1),
        "search_seconds_this_run": round(time.monotonic() - search.started, 1), "stopped": search.exhausted,
        "data": data.name, "class_names": list(data.class_names),
        "baseline": {"name": base.spec.name, **_model_entry(costing, base.spec, base.metrics,
                                                             trainer.score(base_model, "test"))},
    }
    if winner is None:
        summary["closest"] = {k: (None if ev is None else {"key": ev.key, "flops": ev.flops, "val_auc": ev.auc,
                                                           "reductions": _lineage(search, ev)})
                              for k, ev in search.closest().items()}
        return summary
    _log(f"fine-tuning the winner ({winner.flops / 1e6:.3f} MFLOPs) for up to {args.final_epochs} epochs")
    model, history = trainer.fit(winner.spec, evaluator.model(winner.spec), winner.spec, epochs=args.final_epochs,
                                 patience=LONG_PATIENCE)
    val, test = trainer.score(model, "val"), trainer.score(model, "test")
    model.save(out / "best.keras")
    (out / "best_spec.json").write_text(winner.spec.to_json())
    summary["final"] = {**_model_entry(costing, winner.spec, val, test), "reductions": _lineage(search, winner),
                        "search_val_auc": winner.auc, "history": history}
    summary["targets"] = [c.to_dict() for c in costing.checks(winner.spec)]
    return summary


def _export(args, out: Path, summary: dict, data) -> int:
    """Export the winner to int8, check it against beta, and generate its Arduino sketch in the run folder."""
    import numpy as np

    from compress import export, firmware
    from compress.cost import load_keras

    _log("exporting the winner to int8 TFLite (full-integer PTQ" + (" after QAT)" if args.qat else ")"))
    model = load_keras(out / "best.keras")
    try:
        exported = export.export_int8(model, data, out, qat=args.qat, beta=summary["beta"], seed=args.seed)
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
    sketch_dir = out / "firmware" / f"model_{args.device}"
    result = firmware.generate_sketch(out / export.MODEL_FILE, sketch_dir, board=args.device, test_image=image,
                                      expected_class=label, class_names=data.class_names,
                                      expected_latency_s=summary["final"]["latency_s"])
    summary["firmware"] = {k: result[k] for k in ("sketch_dir", "model_bytes", "arena_measured_bytes",
                                                  "arena_bytes", "ops", "checks", "passed", "self_test_passed")}
    write_json(out / "summary.json", summary)
    _log(firmware.summary_text(result))
    return 0 if result["passed"] else 1


def train_command(args) -> int:
    """Train and score the baseline alone: how good is the model we start from?"""
    from compress import devices

    out = run_dir(args.out, prefix="train-")
    out.mkdir(parents=True, exist_ok=True)
    data, baseline, trainer = _prepare(args)
    costing = Costing(devices.get("apollo3"), devices.Targets(), "flops")
    _log(f"training {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) on {data.name} for "
         f"up to {args.epochs} epochs")
    model, history = trainer.fit(baseline)
    result = {"baseline": baseline.name, "data": data.name, "history": history,
              **_model_entry(costing, baseline, trainer.score(model, "val"), trainer.score(model, "test"))}
    model.save(out / "model.keras")
    write_json(out / "train.json", result)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for split in ("val", "test"):
            m = result[split]
            print(f"{split:>4}: AUC {m['auc']:.4f}  accuracy {m['accuracy']:.4f}  precision {m['precision']:.4f}  "
                  f"recall {m['recall']:.4f}")
        print(f"model saved to {out / 'model.keras'}")
    return 0
