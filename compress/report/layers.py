"""The report's per-layer sections: FLOPs and activation bytes of each layer, baseline against the model the report
describes; and that model's latency (emulated where the run emulated it, else the fitted table's estimate) and
flash per layer, the emulator's ops joined to the layers they come from by name."""
from __future__ import annotations

from pathlib import Path

from compress.devices import latency, profiles
from compress.models.cost import spec_cost
from compress.models.formulas import FUSED_KINDS
from compress.models.spec import ModelSpec
from compress.report.doc import Doc, ms
from compress.report.run import Run


def layer_rows(base_spec, other_spec) -> list[tuple]:
    """(layer, flops_base, flops_other, bytes_base, bytes_other) for the ops TFLM runs; None where one lacks it."""
    def table(spec):
        h, w, c = spec.input_shape
        out = {"input": (0, h * w * c)}
        out.update({l.name: (l.flops, l.activation_bytes) for l in spec_cost(spec).layers if l.kind not in FUSED_KINDS})
        return out

    a, b = table(base_spec), table(other_spec)
    names, at = list(a), -1
    for name in b:  # merge: a layer only the other model has goes after its predecessor there
        if name in names:
            at = names.index(name)
        else:
            at += 1
            names.insert(at, name)
    get = lambda t, n, i: t[n][i] if n in t else None  # noqa: E731
    return [(n, get(a, n, 0), get(b, n, 0), get(a, n, 1), get(b, n, 1)) for n in names]


def layer_section(doc: Doc, run: Run, files: Path) -> None:
    from compress.report import model_plots

    win, label = run.focus()
    doc.h("Per-layer cost")
    if win is None:
        doc.p("No candidate has kept AUC >= beta yet: nothing to compare with the baseline.")
        return
    rows = layer_rows(ModelSpec.from_dict(run.baseline["spec"]), ModelSpec.from_dict(win["spec"]))
    doc.image(model_plots.layer_costs(rows, ("baseline", label.split(" (")[0]), files / "layer_cost.png"),
              f"FLOPs and int8 activation bytes per layer, baseline against the {label}; a layer one model lacks is "
              "marked removed (the baseline had it) or inserted (only the other has it)")
    fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
    doc.table(["layer", "baseline FLOPs", f"{label} FLOPs", "baseline act. bytes", f"{label} act. bytes"],
              [[r[0]] + [fmt(v) for v in r[1:]] for r in rows])


def device_layers(spec: ModelSpec, kernels: str, emulated_ops: list | None) -> list[dict] | None:
    """Per layer TFLM runs: its ops, MACs, estimated flash and instructions (fitted table) and, where given, the
    emulated instructions of its ops. The emulator lists ops in execution order, which is the layers' order with
    each layer's ops (latency.op_terms); None when the counts disagree (a model the converter reshaped)."""
    geometry = latency.spec_geometry(spec)
    slots = [(layer, kind, terms) for layer in spec_cost(spec).layers
             for kind, terms in latency.op_terms(layer, geometry.get(layer.name))]
    if emulated_ops is not None and len(emulated_ops) != len(slots):
        return None
    found: dict[str, dict] = {}
    for i, (layer, kind, terms) in enumerate(slots):
        row = found.setdefault(layer.name, {"layer": layer.name, "kind": layer.kind, "ops": [], "macs": layer.macs,
                                            "flash_bytes": layer.flash_bytes, "estimated": 0.0, "emulated": None})
        row["estimated"] += latency.op_instructions(kind, terms, kernels)
        if emulated_ops is not None:
            row["ops"].append(emulated_ops[i]["op"])
            row["emulated"] = (row["emulated"] or 0) + emulated_ops[i]["instructions"]
    return list(found.values())


def device_layer_section(doc: Doc, run: Run) -> None:
    doc.h("Per-layer latency and flash on the device")
    win, label = run.focus()
    if win is None:
        doc.p("No candidate has kept AUC >= beta yet: no model to place on the device.")
        return
    emulated = (run.summary.emulated if run.summary else None) or {}
    measured = "ops" in emulated and run.summary.final is not None and run.summary.final.key == win["key"]
    kernels = emulated.get("kernels") if measured else run.settings.targets.kernels
    device = profiles.get(run.summary.device if run.summary and run.summary.device else run.settings.targets.device)
    cpi = emulated.get("cycles_per_instruction") or latency.cycles_per_instruction(device, kernels)
    rows = device_layers(ModelSpec.from_dict(win["spec"]), kernels, emulated["ops"] if measured else None)
    if rows is None:
        doc.p(f"The emulated run's {len(emulated['ops'])} ops do not line up with the {label}'s layers, so they "
              "cannot be named by layer; the Results section lists them by position.")
        return
    key = "emulated" if measured else "estimated"
    total = emulated["instructions"] if measured else sum(r[key] for r in rows) or 1
    table = [[r["layer"], r["kind"], ", ".join(r["ops"]) or "-", f"{r['macs']:,}", f"{round(r['estimated']):,}"]
             + ([f"{r['emulated']:,}"] if measured else []) + [ms(r[key] * cpi / device.clock_hz),
                                                                f"{r[key] / total:.1%}", f"{r['flash_bytes']:,}"]
             for r in rows]
    if measured:  # Invoke's instructions outside every op
        between = emulated["instructions"] - sum(r["emulated"] for r in rows)
        table.append(["(interpreter, between ops)", "", "", "", "", f"{between:,}", ms(between * cpi / device.clock_hz),
                      f"{between / total:.1%}", ""])
    doc.table(["layer", "kind", "TFLite ops", "MACs", "instructions (estimated)"]
              + (["instructions (emulated)"] if measured else []) + ["latency", "share", "flash bytes (est.)"], table)
    source = (f"measured on the emulated Cortex-M4 (TFLite Micro, {kernels} kernels)" if measured else
              f"estimated with the fitted instruction table ({kernels} kernels): no emulated run of this model")
    doc.p(f"The {label}, layer by layer: latency from the instructions {source}, at {cpi:g} cycle(s) per "
          f"instruction and {device.clock_hz / 1e6:g} MHz; the estimate is the fitted table's "
          "(`compress/devices/latency_table.json`). Flash: the "
          "layer's int8 weights, int32 biases and their share of the flatbuffer, estimated "
          "(`compress/models/formulas.py`).")
