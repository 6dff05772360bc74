"""The main jobs end to end, from typed configs: search (baseline, search, fine-tune, report, deploy) and train."""
from __future__ import annotations

import json
import time
from pathlib import Path

from compress import CompressError, files
from compress.console import Console, plural
from compress.config import DataConfig, RunConfig, Targets, TrainConfig
from compress.stages import baseline as baseline_stage, finalise, prepare, report, search as search_stage, ship
from compress.summary import RunSummary, read_summary


_log = Console()
RESUME_HINT = "; every evaluation in its journal is kept for --resume"


def run_dir(out: str | None, prefix: str = "") -> Path:
    return Path(out) if out else Path("runs") / (prefix + time.strftime("%Y%m%d-%H%M%S"))


def write_json(path: Path, data) -> None:
    """Write via a temporary file and rename, so a kill or a full disk never leaves half a file."""
    files.write_json(path, data)


def search(config: RunConfig, out: str | None = None, resume: bool = False, as_json: bool = False) -> int:
    """The main job: baseline, search, fine-tune, report, then int8 export and firmware; one process per run
    folder (a second one on the same --out is refused with the holder's pid)."""
    from compress.search.lock import RunLock

    prepare.check_auc_ratio(config)
    out = run_dir(out)
    before = files.snapshot(out)
    try:
        with RunLock(out):
            return _search(config, out, resume, as_json)
    except CompressError as exc:  # one line that also says what the run folder holds now
        raise CompressError(f"{exc}; {files.left_behind(out, before, more=RESUME_HINT)}") from None
    except OSError as exc:  # a full disk or a permission: the path, and what is left
        raise CompressError(f"{exc.filename or out}: {exc.strerror or exc}; "
                            f"{files.left_behind(out, before, more=RESUME_HINT)}") from None
    finally:
        _log.end_status()


def _search(config: RunConfig, out: Path, resume: bool, as_json: bool) -> int:
    """The stages in order: prepare -> baseline -> search -> finalise -> ship -> report (each a frozen result)."""
    prepare.check_options(config)
    prepare.check_resume(out, config, resume)
    prepared = prepare.prepare(config.data, config.search.baseline, config.train, _log)
    prepare.check_data(config, prepared.data)
    setup = prepare.set_up(config, out, prepared, _log)
    prepare.write_config(out, config)
    base = baseline_stage.baseline(config, out, prepared, setup, _log)
    outcome = search_stage.search(config, prepared, setup, base, _log)
    final = finalise.finalise(config, out, prepared, setup, outcome, base, _log)
    try:
        if outcome.winner is None:
            _log("no model met every target and AUC >= beta; the closest are listed below")
            return 3
        return _ship(config, out, final, prepared.data) if config.export.enabled else 0
    finally:  # the results once, as far as the run got (the int8 row once exported), even when shipping failed
        print(_summary_text(read_summary(out) or final.summary, as_json))
        report.report(out, prepared.data, _log)


def _summary_text(summary: RunSummary, as_json: bool) -> str:
    from compress.report import tables

    if as_json:
        return json.dumps(summary.to_dict(), indent=1, default=str)
    return tables.search_markdown(summary, True) + _loso_md(summary)


def _loso_md(summary: RunSummary) -> str:
    from compress.search import loso

    return "\n" + loso.markdown(summary.loso) if summary.loso else ""


def _ship(config: RunConfig, out: Path, final, data) -> int:
    """Ship the winner: int8 export, firmware and emulation; 1 when its firmware fails a device check."""
    shipped = ship.ship(config, out, final, data, _log)
    return 0 if shipped.firmware.passed else 1


def train(data_config: DataConfig, baseline_name: str, train_config: TrainConfig, out: str | None = None,
          as_json: bool = False) -> int:
    """Train and score the baseline alone: how good is the model we start from?"""
    from compress.search.space import Costing
    from compress.search.summary import model_entry
    from compress.search.train import save_model

    out = run_dir(out, prefix="train-")
    out.mkdir(parents=True, exist_ok=True)
    prepared = prepare.prepare(data_config, baseline_name, train_config, _log)
    data, baseline, trainer, given = prepared.data, prepared.baseline, prepared.trainer, prepared.given
    costing = Costing(Targets())
    _log(f"training {baseline.name} ({costing.flops(baseline) / 1e6:.2f} MFLOPs) on {data.name} for "
         f"up to {plural(train_config.epochs, 'epoch')}")
    model, history, _ = trainer.fit(baseline, given, baseline if given is not None else None)  # a user's: further
    result = {"baseline": baseline.name, "data": data.name, "history": history,
              "baseline_preparation": prepared.preparation,
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
