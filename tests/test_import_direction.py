"""Imports flow one way: api -> models -> forecast. Nothing lower imports anything higher, the three
never import the tooling around them (tests, benchmarks, docs, examples), and no module imports
itself back through others."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLING = {"tests", "benchmarks", "docs", "examples"}
FORBIDDEN = {"forecast": {"models", "api"} | TOOLING, "models": {"api"} | TOOLING, "api": TOOLING}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_top_levels(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "import direction violated:\n" + "\n".join(offenders)


def test_forecast_does_not_import_pymc() -> None:
    """The forecast layer is pure numpy/pandas/scipy: PyMC and PyTensor live in models/."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "forecast").rglob("*.py"))
        if _imported_top_levels(p) & {"pymc", "pytensor", "nutpie"}
    ]
    assert not offenders, offenders


# ----------------------------------------------------------------------------- no import cycles
PACKAGES = ("forecast", "models", "api", *sorted(TOOLING))


def test_the_cycle_check_reads_every_folder_of_python_code() -> None:
    folders = {folder.name for folder in ROOT.iterdir() if folder.is_dir() and not folder.name.startswith(".")
               and folder.name != "build" and next(folder.rglob("*.py"), None) is not None}
    assert folders <= set(PACKAGES), sorted(folders - set(PACKAGES))


def _module_name_under(root: Path, path: Path) -> str:
    """`<root>/api/db/models.py` -> "api.db.models"; a package's `__init__.py` is the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST):
    """Every Import/ImportFrom under `node`, in functions too, but not in `if TYPE_CHECKING:` bodies
    (they never run; their `else:` branch does)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield from _import_nodes(ast.Module(body=[branch], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _imported_modules(path: Path, module: str, known: set[str]) -> set[str]:
    """The project modules that `module` (at `path`) imports. `import a.b.c` and `from a.b import c`
    (c a submodule) import a.b.c; `from a.b import name` (name not a submodule) imports a.b. The
    parent packages that Python initialises on the way are not counted."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:  # `import a.b.function`-style leftovers: the module part
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (module level and lazily), over every folder in PACKAGES."""
    paths = {_module_name_under(ROOT, p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}
    known = set(paths)
    return {module: _imported_modules(path, module, known) for module, path in paths.items()}


def _shortest_cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest path start -> ... -> start (breadth first), or None."""
    previous: dict[str, str] = {}
    frontier, seen = [start], {start}
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in seen:
                    seen.add(target)
                    previous[target] = node
                    following.append(target)
        frontier = following
    return None


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle through each module that is on one, each listed once (starting at its
    alphabetically first module), as a path [a, b, ..., a]."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    for module in sorted(graph):
        cycle = _shortest_cycle_through(graph, module)
        if cycle is not None:
            ring = cycle[:-1]
            first = ring.index(min(ring))
            ring = ring[first:] + ring[:first]
            cycles.setdefault(tuple(ring), [*ring, ring[0]])
    return sorted(cycles.values())


def test_the_cycle_finder_resolves_relative_and_submodule_imports(tmp_path: Path) -> None:
    """On a small made-up package: a relative `from . import b` (b a submodule), a lazy import inside a
    function, a name imported from a package, and an import under `if TYPE_CHECKING:` (not counted)."""
    files = {
        "pkg/__init__.py": "from pkg.c import helper\n",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "def f():\n    import pkg.a.thing\n",
        "pkg/c.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
                     "else:\n    from pkg import helper\n"),
        "pkg/d.py": "from .c import helper\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    paths = {_module_name_under(tmp_path, tmp_path / name): tmp_path / name for name in files}
    graph = {module: _imported_modules(path, module, set(paths)) for module, path in paths.items()}
    assert graph == {"pkg": {"pkg.c"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg"}, "pkg.d": {"pkg.c"}}
    assert import_cycles(graph) == [["pkg", "pkg.c", "pkg"], ["pkg.a", "pkg.b", "pkg.a"]]


def test_no_import_cycles_among_project_modules() -> None:
    """No project module (forecast/, models/, api/ and the tooling) imports itself back through others,
    counting imports inside functions (they run too); only `if TYPE_CHECKING:` imports are left out."""
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
