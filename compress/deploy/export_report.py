"""export.json read back (firmware, the report, a search's ship stage): typed and ranged field by field, so an edited
or damaged file is one line naming it and the field, never a KeyError three modules later."""
from __future__ import annotations

from compress import files, validate as v

_AUC = v.optional(v.number())  # finite; a curve's AUC is in [0, 1] (_CURVE)
_CONFUSION = v.list_of(v.list_of(v.whole(0)))
_SCORES = v.record(optional_fields={"auc": _AUC, "confusion": _CONFUSION,
                                    "tasks": v.mapping(v.record(optional_fields={"auc": _AUC, "confusion": _CONFUSION},
                                                                extra=True))}, extra=True)
_TENSOR = v.record({"dtype": v.text(), "shape": v.list_of(v.whole(0)), "scale": v.number(low=0),
                    "zero_point": v.whole(-(1 << 31), 1 << 31)}, extra=True)
_CURVE = v.record({"label": v.text(), "auc": v.optional(v.number(0, 1)), "fpr": v.list_of(v.number(0, 1)), "tpr": v.list_of(v.number(0, 1))},
                  extra=True)
_POINT = v.record({"rule": v.text(("youden", "argmax", "per-task"))},
                  {"threshold": v.number(0, 1), "threshold_q": v.whole(-128, 127), "positive_name": v.text(),
                   "positive_class": v.whole(0)}, extra=True)
SCHEMA = v.record(
    {},
    {"sha256": v.text(pattern="[0-9a-f]{64}"), "model": v.text(), "model_bytes": v.whole(0), "class_names": v.list_of(v.text()), "tasks": v.list_of(v.text()),
     "input": _TENSOR, "output": _TENSOR, "ops": v.list_of(v.text()), "operating_point": _POINT,
     "metrics": v.record(optional_fields={"float": _SCORES, "int8": _SCORES}, extra=True),
     "roc": v.optional(v.record(optional_fields={"val": v.list_of(_CURVE), "test": v.list_of(_CURVE)}, extra=True)),
     "beta": v.optional(v.one_of(v.number(0, 1), v.mapping(v.number(0, 1)), expected="a number or one per task")),
     "passed": v.optional(v.boolean)}, extra=True)


def read_report(path) -> dict:
    """An export.json, checked; one CompressError line naming the file and the field otherwise."""
    return files.read_json(path, SCHEMA, what="export report (export.json)")
