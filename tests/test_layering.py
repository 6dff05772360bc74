"""The package layout of DESIGN.md: who may import whom, no cycles, and modules kept small.

Base modules (`compress` itself: CompressError; `compress.config`: the typed settings; `compress.files`: atomic writes;
`compress.summary`: summary.json as RunSummary;
`compress.validate`: JSON files parsed and checked against a schema) may be imported by all.
Above them: models; data; devices -> models; search and deploy -> models, data, devices; report -> all four
below it and search; stages (the search job's stages) -> all of those; jobs and commands -> everything; options (parsing option values) -> base only; cli -> options, jobs and commands.
"""
import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "compress"
BASE = {"compress", "compress.config", "compress.files", "compress.console", "compress.summary",
        "compress.quality", "compress.validate"}
ALLOWED = {
    "models": set(),
    "data": set(),
    "devices": {"models"},
    "search": {"models", "data", "devices"},
    "deploy": {"models", "data", "devices"},
    "report": {"models", "data", "devices", "search", "deploy"},
    "stages": {"models", "data", "devices", "search", "deploy", "report"},
    "jobs": {"models", "data", "devices", "search", "deploy", "report", "stages"},
    "commands": {"models", "data", "devices", "search", "deploy", "report", "jobs", "stages"},
    "options": set(),
    "cli": {"jobs", "commands", "options"},
    "__main__": {"cli"},
}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every compress module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = _modules()
    return {name for name in found if name in modules}


def _room(module: str) -> str:
    """The package (or top-level module) a compress module belongs to: compress.models.cost -> models."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "compress"


def _edges() -> list[tuple[str, str]]:
    return [(name, imported) for name, path in _modules().items() for imported in _imports(path)]


def test_packages_import_only_what_the_layout_allows():
    wrong = []
    for importer, imported in _edges():
        if imported in BASE:
            continue
        source, target = _room(importer), _room(imported)
        if importer in BASE:
            wrong.append(f"{importer} -> {imported} (base modules import no package)")
        elif source != target and target not in ALLOWED[source]:
            wrong.append(f"{importer} -> {imported}")
    assert not wrong, "imports against DESIGN.md's layout:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles_between_packages():
    graph = {}
    for importer, imported in _edges():
        source, target = _room(importer), _room(imported)
        if source != target and "compress" not in (source, target) and target != "config":
            graph.setdefault(source, set()).add(target)

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in graph.get(start, ()))

    cycles = [room for room in graph if reaches(room, room)]
    assert not cycles, f"packages on an import cycle: {cycles} ({graph})"


def _cycles_inside_packages() -> list[list[str]]:
    """Modules of one package that reach each other through imports (lazy ones too): each such group, sorted."""
    graph = {}
    for importer, imported in _edges():
        if importer != imported and _room(importer) == _room(imported):
            graph.setdefault(importer, set()).add(imported)

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    reached = {module: reach(module) for module in graph}
    groups = {tuple(sorted(m for m in found if module in reached.get(m, ()))) for module, found in reached.items()
              if module in found}
    return sorted(list(group) for group in groups)


def test_no_import_cycles_inside_packages():
    """Inside a package the modules form layers too: no two modules import each other, directly or round a loop."""
    cycles = _cycles_inside_packages()
    assert not cycles, "modules on an import cycle inside a package:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _fake_package(tmp_path, monkeypatch, modules: dict) -> None:
    """A stand-in `compress` package of the given modules (path -> source), each folder with its __init__.py."""
    fake = tmp_path / "compress"
    (fake / "__init__.py").parent.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    for rel, source in modules.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).parent.joinpath("__init__.py").touch()
        (fake / rel).write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)


def test_the_checker_sees_a_cycle_inside_a_package(tmp_path, monkeypatch):
    """The cycle test can fail: two models modules that import each other (one of them lazily) are reported."""
    _fake_package(tmp_path, monkeypatch, {"models/a.py": "from compress.models import b\n",
                                          "models/b.py": "def f():\n    from compress.models.a import g\n",
                                          "models/c.py": "from compress.models import a\n"})  # c: above the cycle
    assert _cycles_inside_packages() == [["compress.models.a", "compress.models.b"]]
    with pytest.raises(AssertionError, match=r"compress\.models\.a <-> compress\.models\.b"):
        test_no_import_cycles_inside_packages()


def test_the_checker_sees_a_forbidden_edge(tmp_path, monkeypatch):
    """The layering test can fail: a models module that imports search is reported."""
    _fake_package(tmp_path, monkeypatch, {"models/bad.py": "def f():\n    from compress.search import x\n",
                                          "search/x.py": ""})
    with pytest.raises(AssertionError, match="compress.models.bad -> compress.search.x"):
        test_packages_import_only_what_the_layout_allows()


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_and_functions_stay_small(name):
    path = _modules()[name]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} has {len(text.splitlines())} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"
