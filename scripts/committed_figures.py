"""The figures README.md, BENCHMARKS.md and firmware/README.md quote about the committed default model, written
from the files that hold them, so that no quoted figure can go stale.

In those documents a quoted figure sits between markers, `<!--f:NAME-->0.363<!--/f-->`, and this script rewrites
every such value from docs/default_run/summary.json, models/export.json, models/best_spec.json and
firmware/emotion_apollo3/firmware.json. `--check` changes nothing and exits 1 naming every stale figure
(tests/test_committed_figures.py runs it). scripts/regenerate_default.sh runs it last.

    python scripts/committed_figures.py [--check]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOCUMENTS = ("README.md", "BENCHMARKS.md", "firmware/README.md")
MARKED = re.compile(r"<!--f:([a-z0-9_]+)-->(.*?)<!--/f-->")


def figures(root: Path = ROOT) -> dict[str, str]:
    """Every quotable figure by name, formatted as the documents print it."""
    from compress.console import ms
    from compress.models.cost import spec_cost
    from compress.models.spec import ModelSpec

    summary = json.loads((root / "docs/default_run/summary.json").read_text())
    export = json.loads((root / "models/export.json").read_text())
    firmware = json.loads((root / "firmware/emotion_apollo3/firmware.json").read_text())
    spec = ModelSpec.from_json((root / "models/best_spec.json").read_text())
    final, base, point = summary["final"], summary["baseline"], export["operating_point"]
    three = "{:.3f}".format
    return {
        "winner_mflops": three(final["flops"] / 1e6), "winner_params": f"{final['params']:,}",
        "winner_val_auc": three(final["val"]["auc"]), "int8_test_auc": three(export["metrics"]["int8"]["auc"]),
        "baseline_val_auc": three(base["val"]["auc"]), "baseline_test_auc": three(base["test"]["auc"]),
        "beta": three(summary["beta"]), "evaluations": str(summary["evaluations"]),
        "reductions": "; ".join(final["reductions"]),
        "model_bytes": f"{firmware['model_bytes']:,}", "sha8": firmware["sha256"][:8],
        "arena_measured": f"{firmware['arena_measured_bytes']:,}", "arena_reserved": f"{firmware['arena_bytes']:,}",
        "arena_estimated": f"{spec_cost(spec).arena_bytes:,}", "latency_ms": ms(firmware["expected_latency_s"]),
        "instructions": f"{summary['emulated']['instructions']:,}",
        "threshold": three(point["threshold"]), "threshold_q": str(point["threshold_q"]),
        "val_tpr": three(point["val"]["tpr"]), "val_fpr": three(point["val"]["fpr"]),
        "test_tpr": three(point["test"]["tpr"]), "test_fpr": three(point["test"]["fpr"]),
        "argmax_test_tpr": three(point["argmax"]["test"]["tpr"]),
        "argmax_test_fpr": three(point["argmax"]["test"]["fpr"]),
    }


def render(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """(text with every marked figure rewritten, 'NAME: old -> new' for each that changed)."""
    changed = []

    def rewrite(match):
        name, old = match.group(1), match.group(2)
        if name not in values:
            raise SystemExit(f"unknown figure {name!r}; known: {', '.join(sorted(values))}")
        if old != values[name]:
            changed.append(f"{name}: {old} -> {values[name]}")
        return f"<!--f:{name}-->{values[name]}<!--/f-->"

    return MARKED.sub(rewrite, text), changed


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    values, stale = figures(), []
    for name in DOCUMENTS:
        path = ROOT / name
        text, changed = render(path.read_text(), values)
        stale += [f"{name}: {c}" for c in changed]
        if changed and not check:
            path.write_text(text)
    for line in stale:
        print(line, file=sys.stderr if check else sys.stdout)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
