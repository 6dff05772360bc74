"""Every figure README, BENCHMARKS and firmware/README quote about the committed default model matches the files
that hold it (scripts/committed_figures.py; scripts/regenerate_default.sh rewrites them)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("committed_figures", ROOT / "scripts" / "committed_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_quoted_figure_matches_the_committed_files():
    script = load_script()
    values = script.figures()
    quoted = 0
    for name in script.DOCUMENTS:
        text = (ROOT / name).read_text()
        quoted += len(script.MARKED.findall(text))
        _, stale = script.render(text, values)
        assert stale == [], f"{name}: stale figures (run python scripts/committed_figures.py): {stale}"
    assert quoted >= 20  # README, BENCHMARKS and the firmware README all quote the committed model


def test_a_changed_figure_is_caught():
    script = load_script()
    text = "the winner has <!--f:winner_mflops-->9.999<!--/f--> M FLOPs"
    rewritten, stale = script.render(text, script.figures())
    assert stale and "9.999" not in rewritten
