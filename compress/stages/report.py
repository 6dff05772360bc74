"""Stage 6, report: the run folder's report (markdown and figures), written whatever the earlier stages reached."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reported:
    paths: tuple[Path, ...]


def report(out: Path, data, log) -> Reported:
    from compress.report import run_report

    paths = tuple(run_report.write_run_report(out, data=data))
    log("report: " + ", ".join(str(p) for p in paths))
    return Reported(paths)
