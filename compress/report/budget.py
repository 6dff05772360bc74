"""The report's memory budget: flash and RAM of the model the report describes, each split into the model's own part
and the runtime allowance (compress/devices/profiles.py), against the device's limits."""
from __future__ import annotations

from pathlib import Path

from compress.devices import profiles
from compress.report.doc import Doc
from compress.report.run import Run

RUNTIME = "Arduino core, Serial, the TFLM interpreter and kernels, TFLM's own allocations, stack"


def _model_parts(run: Run) -> tuple[tuple[int, str], tuple[int, str]] | None:
    """((model flash bytes, where from), (arena bytes, where from)): measured where the run measured them."""
    s, win = run.summary, run.focus()[0]
    fw, exported = (s.firmware if s else None), run.exported or {}
    if fw:
        flash = (fw.model_bytes, "the int8 `.tflite`, measured")
        return flash, (fw.arena_bytes, f"the sketch's tensor arena (measured in TFLite Micro: "
                                        f"{fw.arena_measured_bytes:,} bytes, plus a margin)")
    entry = s.final if s and s.final else None
    if entry is None and win is None:
        return None
    flash_est, arena_est = (entry.flash_bytes, entry.arena_bytes) if entry else (win["flash_bytes"], win["arena_bytes"])
    flash = ((exported["model_bytes"], "the int8 `.tflite`, measured") if exported.get("model_bytes")
             else (flash_est, "int8 model, estimated"))
    return flash, (arena_est, "tensor arena, estimated (no firmware step yet)")


def _limits(run: Run):
    targets = run.settings.targets
    device = profiles.get(run.summary.device if run.summary and run.summary.device else targets.device)
    flash = targets.flash_bytes if targets.flash_bytes is not None else device.flash_bytes
    ram = targets.ram_bytes if targets.ram_bytes is not None else device.ram_bytes
    return device, flash, ram


def memory_section(doc: Doc, run: Run, files: Path) -> None:
    from compress.report import candidate_plots

    doc.h("Memory budget on the device")
    parts = _model_parts(run)
    if parts is None:
        doc.p("No model to place on the device yet: no candidate has kept AUC >= beta.")
        return
    device, flash_limit, ram_limit = _limits(run)
    (flash, flash_what), (arena, arena_what) = parts
    budgets = {"flash": (flash, device.runtime_flash_bytes, flash_limit),
               "RAM": (arena, device.runtime_ram_bytes, ram_limit)}
    rows = []
    for memory, (own, allowance, limit) in budgets.items():
        what = flash_what if memory == "flash" else arena_what
        rows += [[memory, f"model: {what}", f"{own:,}", f"{own / limit:.1%}"],
                 [memory, f"runtime allowance (`RUNTIME_{'FLASH' if memory == 'flash' else 'RAM'}_BYTES`)",
                  f"{allowance:,}", f"{allowance / limit:.1%}"],
                 [memory, "**total**", f"**{own + allowance:,}**", f"{(own + allowance) / limit:.1%}"],
                 [memory, f"limit of {device.name}", f"{limit:,}", "100.0%"],
                 [memory, "free", f"{limit - own - allowance:,}", f"{(limit - own - allowance) / limit:.1%}"]]
    doc.image(candidate_plots.memory(budgets, device.name, files / "memory.png"),
              f"Flash and RAM of the {run.focus()[1]} on {device.name}: the model's part, the runtime allowance and "
              "what is left")
    doc.table(["memory", "part", "bytes", "share of the limit"], rows)
    doc.p(f"The runtime allowances ({device.runtime_flash_bytes:,} bytes of flash, {device.runtime_ram_bytes:,} "
          f"bytes of RAM) stand for what the program around the model takes: {RUNTIME}. They are assumptions from "
          "`compress/devices/profiles.py`, not measurements, and every flash and arena target adds them to the "
          "model's own figure; that is why the targets' figures exceed the leaderboard's.")
