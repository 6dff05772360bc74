"""The report's float-vs-int8 section: per output of the model (one per task), both models' test figures and how
often the int8 model picks the float model's class, from export.json."""
from __future__ import annotations

from compress.report.doc import Doc
from compress.report.uncertainty import auc_text


def _outputs(metrics: dict) -> list[tuple[str, dict, dict, dict]]:
    """(output, float figures, int8 figures, {auc_drop, agreement}) per output of the model."""
    if "per_task" in metrics:  # multi-task: one output per task
        return [(task, metrics["float"]["tasks"][task], metrics["int8"]["tasks"][task], figures)
                for task, figures in metrics["per_task"].items()]
    return [("the model's output", metrics["float"], metrics["int8"],
             {"auc_drop": metrics.get("auc_drop"), "agreement": metrics.get("agreement")})]


def int8_section(doc: Doc, exported: dict | None) -> None:
    doc.h("Float vs int8 agreement")
    metrics = (exported or {}).get("metrics") or {}
    if not (metrics.get("float") and metrics.get("int8")):
        doc.p("No float-vs-int8 figures: they come from `export.json`, written when the winner is exported to int8.")
        return
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    rows = [[name, auc_text(f["auc"], f) if f["auc"] is not None else "-",
             auc_text(q["auc"], q) if q["auc"] is not None else "-", fmt(d["auc_drop"], "+.4f"),
             fmt(f["accuracy"], ".4f"), fmt(q["accuracy"], ".4f"), fmt(d["agreement"], ".2%")]
            for name, f, q, d in _outputs(metrics)]
    doc.table(["output", "float AUC [95 % CI]", "int8 AUC [95 % CI]", "AUC drop", "float accuracy", "int8 accuracy",
               "same class"], rows)
    count = f"{metrics['samples']:,} samples" if isinstance(metrics.get("samples"), int) else "sample count not recorded"
    doc.p(f"On the {metrics.get('split', 'test')} split ({count}). **same class**: the "
          "share of samples on which the int8 model's highest score is the float model's (argmax agreement); AUC "
          "drop = float - int8.")
