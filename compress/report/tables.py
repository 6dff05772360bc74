"""Tables for people and programs: `estimate`'s text tables, the results table of the cs231n study (Shved 2019)
and the device targets."""
from __future__ import annotations

from pathlib import Path

from compress import CompressError, quality
from compress.console import margin, ms, plural
from compress.devices import profiles
from compress.report.doc import Doc, aligned_table
from compress.summary import ModelEntry, RunSummary

COST_HEADERS = ("layer", "kind", "output", "MACs", "FLOPs", "params", "act bytes")


def _cell(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, tuple):
        return "x".join(str(d) for d in value) or "-"
    return str(value)


def format_table(rows, headers) -> str:
    """Rows of values under headers, one padded column each; numeric columns right-aligned."""
    numeric = [any(isinstance(row[i], (int, float)) for row in rows)
               and all(isinstance(row[i], (int, float)) or row[i] == "" for row in rows) for i in range(len(headers))]
    return aligned_table(headers, [[_cell(v) for v in row] for row in rows], numeric)


def cost_table(cost) -> str:
    """Per-layer cost with a totals row."""
    rows = [(l.name, l.kind, l.output_shape, l.macs, l.flops, l.params, l.activation_bytes) for l in cost.layers]
    rows.append(("total", "", "", cost.macs, cost.flops, cost.params, ""))
    return format_table(rows, COST_HEADERS)


def _figure(value: float, unit: str) -> str:
    return ms(value) if unit == "s" else f"{round(value):,} {unit}"


def allowance_note(device) -> str:
    """Why the targets' flash and arena exceed the model's own figures: the runtime allowances, named."""
    return (f"flash and arena targets = the model's own figure + the runtime allowance of {device.name} "
            f"({device.runtime_flash_bytes:,} bytes flash, {device.runtime_ram_bytes:,} bytes RAM: Arduino core, "
            "TFLM interpreter and kernels, stack; compress/devices/profiles.py)")


def targets_table(checks) -> str:
    rows = [(f"{c.name} ({c.note})" if c.note else c.name, _figure(c.figure, c.unit), _figure(c.limit, c.unit),
             margin(c.margin), "PASS" if c.passed else "FAIL") for c in checks]
    return format_table(rows, ("target", "figure", "limit", "margin", "result"))


def kernel_set_lines(cost, device, kernel_sets: dict, budget_flops: float | None) -> list[str]:
    """What the emulated table says per kernel set, and what the FLOPs budget means in time with each."""
    times = ", ".join(f"{ms(s)} with {k}" for k, s in kernel_sets.items())
    basis = "" if device.emulated else f"; {device.latency_basis} on the {device.core}"
    lines = [f"TFLM latency from the instruction table fitted on the emulated Cortex-M4 "
             f"({plural(device.cycles_per_instruction, 'cycle')} per instruction at {device.clock_hz / 1e6:g} MHz"
             f"{basis}): {times}"]
    if budget_flops and cost.flops:
        means = ", ".join(f"{ms(budget_flops * s / cost.flops)} with {k}" for k, s in kernel_sets.items())
        lines.append(f"the FLOPs budget {budget_flops:,.0f} at this model's time per FLOP: {means} "
                     f"(the flops model: {ms(budget_flops / device.flops_per_s)})")
    return lines


def estimate_text(cost, device, checks, latency_model: str, measured_arena_bytes: int | None = None,
                  kernel_sets: dict | None = None, budget_flops: float | None = None) -> str:
    """The `estimate` report: layers, totals, latency and each target with PASS/FAIL."""
    flash_how = "file size" if cost.source == "tflite" else "int8 estimate"
    latency = next((c.figure for c in checks if c.name == "latency"), None)
    lines = [f"model {cost.name} ({cost.source}); device {device.name} ({device.core}, {device.clock_hz / 1e6:g} MHz)",
             "", cost_table(cost), "",
             f"MACs {cost.macs:,}   FLOPs {cost.flops:,}   params {cost.params:,}",
             f"flash {cost.flash_bytes:,} bytes ({flash_how}); arena {cost.arena_bytes:,} bytes "
             f"(estimate: planned activations + TFLM's own allocations)"]
    if measured_arena_bytes is not None:
        lines.append(f"arena measured in the TFLite Micro runtime: {measured_arena_bytes:,} bytes "
                     "(used for the arena target below)")
    if latency is not None:
        basis = f"`emulate` measures it on the {device.core}" if device.emulated else device.latency_basis
        lines.append(f"estimated latency {ms(latency)} on {device.name} (latency model: {latency_model}; {basis})")
    if kernel_sets:
        lines += kernel_set_lines(cost, device, kernel_sets, budget_flops)
    lines += ["", targets_table(checks), allowance_note(device),
              "all targets pass" if all(c.passed for c in checks) else "some targets fail"]
    return "\n".join(lines)


def estimate_dict(cost, device, checks, latency_model: str, measured_arena_bytes: int | None = None,
                  kernel_sets: dict | None = None) -> dict:
    """The same report as one JSON-ready object (emulated_latency_s: the emulated table's, per kernel set)."""
    latency = next((c.figure for c in checks if c.name == "latency"), None)
    return {"model": cost.name, "source": cost.source, "device": device.to_dict(), "latency_model": latency_model,
            "latency_s": latency, "emulated_latency_s": kernel_sets, "measured_arena_bytes": measured_arena_bytes,
            "cost": cost.to_dict(),
            "targets": [c.to_dict() for c in checks],
            "passed": all(c.passed for c in checks)}


def emulated_rows(run) -> list[tuple]:
    """Per op of an emulated run: op, output shape, MACs, instructions, instructions per MAC, share of the total."""
    rows = [(f"{op.index}:{op.op}", op.output_shape, op.macs, op.instructions,
             round(op.instructions / op.macs, 1) if op.macs else "", f"{op.instructions / run.instructions:.1%}")
            for op in run.ops]
    overhead = run.instructions - sum(op.instructions for op in run.ops)
    rows.append(("interpreter (between ops)", "", "", overhead, "", f"{overhead / run.instructions:.1%}"))
    rows.append(("total (Invoke)", "", run.macs, run.instructions, round(run.instructions / max(run.macs, 1), 1),
                 "100.0%"))
    return rows


def emulated_text(run, device, cycles_per_instruction: float) -> str:
    """The `emulate` report: instructions per op, time at the device clock, arena, outputs against TFLite."""
    seconds = run.instructions * cycles_per_instruction / device.clock_hz
    match = {True: "yes, exactly", None: "not compared"}.get(run.outputs_match, (
        f"no: up to {run.max_abs_diff} apart; equal to TFLite's reference kernels: "
        f"{'yes (its optimized ADD rounds differently)' if run.reference_match else 'NO'}"))
    return "\n".join([
        f"{run.model}: TFLite Micro with {run.kernels} kernels on an emulated {run.core} (QEMU {run.machine})", "",
        format_table(emulated_rows(run), ("op", "output", "MACs", "instructions", "instr/MAC", "share")), "",
        f"time on {device.name} at {device.clock_hz / 1e6:g} MHz: {ms(seconds)}, assuming "
        f"{plural(cycles_per_instruction, 'cycle')} per instruction (QEMU counts "
        "instructions, not cycles)",
        f"arena used by TFLM on the {run.core}: {run.arena_bytes:,} bytes",
        f"int8 outputs equal the TFLite interpreter's ({plural(run.samples, 'input')}): {match}"])


def emulated_dict(run, device, cycles_per_instruction: float) -> dict:
    return run.to_dict() | {"device": device.name, "clock_hz": device.clock_hz,
                            "cycles_per_instruction": cycles_per_instruction,
                            "latency_s": run.instructions * cycles_per_instruction / device.clock_hz}


# --- the cs231n study's table, the targets and the deployment -----------------------------------------------

RESULT_HEADERS = ["model", "split", "AUC", "\u0394AUC", "accuracy", "precision", "recall", "FLOPs", "est. runtime"]


def _splits(entry: ModelEntry) -> dict:
    """An entry's metrics by split, where it has them (int8: test only)."""
    return {split: m for split, m in (("val", entry.val), ("test", entry.test)) if m}


def model_rows(name: str, entry: ModelEntry, base_auc: dict) -> list[list]:
    """val and test rows of one model; a multi-task model has one row per task (its `tasks` metrics): K = 1 is
    the model's own metrics under its own name."""
    splits = _splits(entry)
    per_task = ({t: {s: m["tasks"][t] for s, m in splits.items()} for t in next(iter(splits.values()))["tasks"]}
                if any("tasks" in m for m in splits.values()) else {None: splits})
    rows = []
    for task, metrics in per_task.items():
        label, reference = (name, base_auc) if task is None else (f"{name} [{task}]", base_auc.get(task, {}))
        for split, m in metrics.items():
            base = reference.get(split)
            delta = f"{100 * quality.delta(m['auc'], base):+.1f}%" if base else "-"  # above chance
            rows.append([label, split, f"{m['auc']:.4f}", delta, f"{m['accuracy']:.4f}", f"{m['precision']:.4f}",
                         f"{m['recall']:.4f}", f"{entry.flops / 1e6:.3f} M",
                         "-" if entry.latency_s is None else ms(entry.latency_s)])
    return rows


def result_rows(summary: RunSummary) -> list[list]:
    """Baseline, final and (once exported) final int8 rows, val and test, Delta AUC against the baseline."""
    base = summary.baseline
    splits = _splits(base)
    base_auc = {split: m["auc"] for split, m in splits.items()}
    if "tasks" in base.val:  # per task, then per split
        base_auc = {t: {s: m["tasks"][t]["auc"] for s, m in splits.items()} for t in base.val["tasks"]}
    rows = model_rows(f"baseline ({base.name})", base, base_auc)
    for name, entry in (("final", summary.final), ("final int8", summary.int8)):
        if entry:
            rows += model_rows(name, entry, base_auc)
    return rows


def target_rows(targets: list[dict]) -> list[list]:
    return [[f"{t['name']} ({t['note']})" if t.get("note") else t["name"], _figure(t["figure"], t["unit"]),
             _figure(t["limit"], t["unit"]), margin(t["margin"]),
             "PASS" if t["passed"] else "FAIL"] for t in targets]


def results_blocks(doc: Doc, summary: RunSummary, level: int = 2, leaderboard: bool = True) -> None:
    """The cs231n study's baseline-vs-final table, the device targets, the reductions and the measured deployment."""
    rows = result_rows(summary)
    budget = "no FLOPs limit" if summary.budget_flops is None else f"FLOPs <= {summary.budget_flops:,.0f}"
    doc.p(f"Strategy {summary.strategy}: {plural(summary.evaluations, 'model')} evaluated "
          f"({summary.trainings_this_run:,} trained in this run), training time "
          f"{summary.train_seconds_total:.0f} s. Target: {budget} and " + _beta_text(summary) + ".")
    doc.table(RESULT_HEADERS, rows)
    if leaderboard:  # the run report gives it a section of its own
        leaderboard_blocks(doc, summary, level)
    if summary.final:
        doc.h("Device targets", level)
        doc.table(["target", "figure", "limit", "margin", "result"], target_rows(summary.targets))
        if summary.device in profiles.DEVICES:
            doc.p(allowance_note(profiles.DEVICES[summary.device]) + "; the leaderboard's are the model's alone.")
        doc.h("Reductions applied", level)
        if summary.final.reductions:
            doc.items(summary.final.reductions, ordered=True)
        else:
            doc.p("none: the baseline itself meets every target")
    else:
        doc.p("**No model met every target with AUC >= beta.** Closest:")
        doc.items(f"{what.replace('_', ' ')}: " + ("none" if ev is None else
                                                   f"{ev['flops'] / 1e6:.3f} MFLOPs, val AUC {ev['val_auc']:.4f}, "
                                                   f"via {' > '.join(ev['reductions']) or 'baseline'}")
                  for what, ev in (summary.closest or {}).items())
    fw = summary.firmware
    if fw:
        doc.h("Deployment (measured)", level)
        doc.p(f"int8 model {fw.model_bytes:,} bytes; arena measured in the TFLite Micro runtime "
              f"{fw.arena_measured_bytes:,} bytes (sketch reserves {fw.arena_bytes:,}); ops "
              f"{', '.join(fw.ops)}; firmware in `{_run_relative(fw.sketch_dir)}`; TFLM self-test "
              f"{'PASS' if fw.self_test_passed else 'FAIL'}.")
        doc.table(["target", "figure", "limit", "result"],
                  [[f"{c['target']} ({c['what']})" if c.get("what") else c["target"], f"{c['figure']:,} {c['unit']}",
                    f"{c['limit']:,} {c['unit']}", "PASS" if c["passed"] else "FAIL"] for c in fw.checks])
    emulated_block(doc, summary.emulated)
    if summary.stopped:
        doc.p(f"Search stopped early: {summary.stopped}.")


def _beta_text(summary: RunSummary) -> str:
    floors = summary.task_beta
    if not floors:
        return f"val AUC >= beta = 0.5 + {summary.auc_ratio} x (baseline - 0.5) = {summary.beta:.4f}"
    return (f"on every task val AUC >= beta_t = 0.5 + {summary.auc_ratio} x (the baseline's - 0.5) (" +
            ", ".join(f"{t} {b:.4f}" for t, b in floors.items()) + "); the search ranks models by the worst "
            "task's share of the baseline's AUC above chance")


def _run_relative(folder: str) -> str:
    """The firmware folder inside the run folder: older summaries recorded the machine's absolute path."""
    parts = Path(folder).parts
    return "/".join(parts[-2:]) if Path(folder).is_absolute() and len(parts) >= 2 else folder


def emulated_block(doc: Doc, emulated: dict | None) -> None:
    """The int8 winner in TFLM on the emulated core: measured instructions and arena next to the estimates."""
    if not emulated:
        return
    if "skipped" in emulated:
        doc.p(f"Not run on an emulated core: {emulated['skipped']}.")
        return
    e = emulated
    doc.p(f"On an emulated {e.get('core', 'Cortex-M4F')} (TFLite Micro, {e['kernels']} kernels, QEMU "
          f"{e.get('machine', 'mps2-an386')}): "
          f"{e['instructions']:,} instructions per inference (the latency table estimated "
          f"{e['estimated_instructions']:,}), {e['instructions_per_mac']:.1f} per MAC, {ms(e['latency_s'])} "
          f"at {plural(e['cycles_per_instruction'], 'cycle')} per instruction; arena {e['arena_bytes']:,} bytes "
          f"(estimated "
          f"{e['estimated_arena_bytes'] or 0:,}); int8 outputs equal the TFLite interpreter's: "
          f"{'yes' if e['outputs_match'] else 'no'}.")
    doc.table(["op", "MACs", "instructions", "share"],
              [[op["op"], f"{op['macs']:,}", f"{op['instructions']:,}", f"{op['instructions'] / e['instructions']:.1%}"]
               for op in e["ops"]])


def latency_label(device: str) -> str:
    """' (latency estimated, not emulated)' for a device whose core QEMU does not run (its latencies are the cost
    model's alone); '' otherwise, or when the profile cannot be read any more."""
    try:
        found = profiles.get(device)
    except CompressError:
        return ""
    return "" if found.emulated else f" (latency {found.latency_basis})"


def search_markdown(summary: RunSummary, text: bool = False) -> str:
    """The short report of a search from its summary alone; text=True: aligned tables, for the terminal."""
    doc = Doc()
    doc.h(f"Search on {summary.data} for {summary.device}{latency_label(summary.device)}", 1)
    results_blocks(doc, summary)
    return doc.text() if text else doc.markdown()


LEADERBOARD_HEADERS = ["id", "val AUC (search)", "val AUC (fine-tuned)", "FLOPs", "params", "est. latency",
                       "model arena (est.)", "model flash (est.)", "chosen"]


def leaderboard_blocks(doc: Doc, summary: RunSummary, level: int = 2) -> None:
    """The best goals of the search by val AUC; the finalists' AUC after their fine-tune; the winner marked."""
    board = summary.leaderboard
    if not board:
        return
    winner = summary.final.key if summary.final else None
    doc.h("Leaderboard", level)
    doc.table(LEADERBOARD_HEADERS, [
        [r.rank, f"{r.val_auc:.4f}", f"{r.fine_tuned_val_auc:.4f}" if r.fine_tuned_val_auc is not None else "-",
         f"{r.flops / 1e6:.3f} M", f"{r.params:,}", ms(r.latency_s), f"{r.arena_bytes:,} B",
         f"{r.flash_bytes:,} B", "winner" if r.key == winner else ""] for r in board])
    doc.p("Goals ranked by validation AUC in the search; the finalists were fine-tuned and the best of them on "
          "validation data won. Test data chose nothing.")
