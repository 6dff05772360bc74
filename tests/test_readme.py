"""README for a newcomer: the two commands first, then a quick start; every contents link lands on a heading; the
architecture names every module; no project issue numbers or origin jargon; the glossary defines the terms."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (hyphens kept), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_two_commands_come_first_then_the_quick_start():
    lines = README.splitlines()
    assert lines[2] == "```sh" and lines[5] == "```"
    assert all(line.startswith("python -m pip install") for line in lines[3:5])
    assert next(line for line in lines[6:] if line.startswith("## ")) == "## Quick start"
    quick = _section("Quick start")
    for needed in ("Python 3.11", "venv", "disk", "2 idle cores", "TFLM", "--tflm-dir"):
        assert needed in quick, needed


def test_every_internal_link_lands_on_a_heading():
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", README, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links and not links - anchors, sorted(links - anchors)
    contents = _section("Contents")
    headings = re.findall(r"^## (.+)$", README, re.M)
    missing = [h for h in headings if h != "Contents" and f"(#{_anchor(h)})" not in contents]
    assert not missing, f"not in the contents: {missing}"


def test_the_architecture_names_every_module():
    architecture = _section("Architecture")
    modules = [p for p in (ROOT / "compress").rglob("*.py") if p.stem not in ("__init__", "__main__")]
    missing = sorted(str(p.relative_to(ROOT)) for p in modules if f"{p.stem}.py" not in architecture)
    assert not missing, f"README's Architecture does not name {missing}"


def test_no_project_issue_numbers_or_origin_jargon():
    own_issues = [m for m in re.findall(r"([\w-]+ )?\b[Ii]ssues? #?\d+", README)
                  if m.strip() not in ("tflite-micro", "tensorflow")]  # other projects' trackers are citations
    assert not own_issues, own_issues
    assert not re.search(r"(?<![\w-])#\d+\b", README)
    assert not re.search(r"\bseed 0\d\d\b", README, re.I)
    assert 'Shved, "Towards Embedded Emotion Recognition"' in README


def test_the_glossary_defines_the_jargon():
    glossary = _section("Glossary")
    terms = re.findall(r"^- \*\*(.+?)\*\*", glossary, re.M)
    defined = " ".join(terms)
    for term in ("AUC", "β", "FLOPs", "arena", "int8", "TFLM", "mps2-an386", "A*", "anytime", "goal",
                 "leaderboard", "reduction", "Youden's J", "LOSO", "runtime allowance"):
        assert term in defined, term
