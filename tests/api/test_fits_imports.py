"""The fits slice (api/domain/fits/) has no import cycle: no chain of imports, module-level or lazy
(inside a function) or under TYPE_CHECKING, leads from one of its modules back to itself, also not
through other modules of api/. The queue gets `execute_fit` from the worker as an argument instead.
And the one declaration of the fit options (models.config) stays light: the CLI reads it at start."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLICE = "api.domain.fits"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The api modules `path` imports anywhere in its body (`from pkg import module` counts as the module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in (ROOT / "api").rglob("*.py")}
    return {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}


def _cycle_through(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """An import chain start -> ... -> start, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, chain = stack.pop()
        for imported in graph[module]:
            if imported == start:
                return chain + [start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, chain + [imported]))
    return None


def test_the_fits_slice_has_no_import_cycle() -> None:
    graph = _graph()
    fits = sorted(name for name in graph if name.startswith(SLICE + "."))
    assert {f"{SLICE}.{name}" for name in ("queue", "worker", "repository", "service", "routes", "schemas")} <= set(fits)
    cycles = [" -> ".join(chain) for name in fits if (chain := _cycle_through(name, graph))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_old_module_paths_are_gone() -> None:
    for old in ("api/fit_queue.py", "api/worker.py", "api/db/fits.py"):
        assert not (ROOT / old).exists(), old


def test_the_fit_options_import_without_pandas_numpy_or_pymc() -> None:
    code = ("import sys, models.config; heavy = {'pandas', 'numpy', 'pymc', 'pytensor'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
