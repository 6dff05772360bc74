"""The report's device view of the search: every candidate's val AUC against its latency, arena and flash, beside
the FLOPs Pareto plot, each against the model's share of the device's limit."""
from __future__ import annotations

import math
from pathlib import Path

from compress import CompressError
from compress.devices import latency
from compress.models.spec import ModelSpec
from compress.report.doc import Doc, ms
from compress.report.run import Run
from compress.search.space import Costing


def candidate_points(run: Run, nodes: list[dict], costing: Costing) -> list[dict]:
    """The search tree's nodes with latency_ms (the run's latency model), arena_bytes and flash_bytes."""
    rows = {r["key"]: r for r in run.rows}
    points = []
    for n in nodes:
        row, spec = rows[n["key"]], ModelSpec.from_dict(rows[n["key"]]["spec"])
        cost = costing.cost(spec)
        points.append({**n, "latency_ms": costing.latency_s(spec) * 1e3,
                       "arena_bytes": row.get("arena_bytes", cost.arena_bytes),
                       "flash_bytes": row.get("flash_bytes", cost.flash_bytes)})
    return points


def _limits(costing: Costing) -> dict:
    """The model's own share of each limit: the device's (or the run's) limit less the runtime allowance."""
    t, device = costing.targets, costing.device
    limit_s = latency.latency_limit_s(t, device, costing.calibration)
    return {"latency_ms": None if math.isinf(limit_s) else limit_s * 1e3,
            "arena_bytes": (t.ram_bytes if t.ram_bytes is not None else device.ram_bytes) - device.runtime_ram_bytes,
            "flash_bytes": (t.flash_bytes if t.flash_bytes is not None else device.flash_bytes)
            - device.runtime_flash_bytes}


def candidates_section(doc: Doc, run: Run, nodes: list[dict], files: Path) -> None:
    from compress.report import candidate_plots

    doc.h("Latency, arena and flash of every candidate")
    try:
        costing = Costing(run.settings.targets)
        points = candidate_points(run, nodes, costing)
    except (CompressError, OSError, ValueError, KeyError) as exc:
        doc.p(f"Not drawn: {str(exc).splitlines()[0]}")
        return
    win = run.focus()[0]
    winner = next((p for p in points if win and p["key"] == win["key"]), None)
    emulated = (run.summary.emulated if run.summary else None) or {}
    final = run.summary.final if run.summary else None
    measured = emulated.get("latency_s") if final and win and final.key == win["key"] else None
    how = "emulator-fitted table" if costing.targets.latency_model == "emulated" else costing.targets.latency_model
    doc.image(candidate_plots.candidates(points, run.beta, _limits(costing), files / "candidates.png", winner,
                                         measured * 1e3 if measured else None, "estimated"),
              "Every evaluated candidate: validation AUC against estimated latency, tensor arena and flash, with "
              "beta and the model's share of each device limit")
    text = (f"Latency is **estimated** for every candidate ({how} model, {costing.targets.kernels} kernels on "
            f"{costing.device.name}); only the winner ran on the emulated Cortex-M4")
    text += f", where it took {ms(measured)} (the + mark)." if measured else " (not yet, in this run)."
    doc.p(text + " Arena and flash are the model's own estimates; the dashed limits are the device's less the "
                 "runtime allowances, so a point left of a line fits that limit.")
