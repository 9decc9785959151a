"""Imports flow one way: api -> models -> forecast. Nothing lower imports anything higher."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"forecast": {"models", "api"}, "models": {"api"}}


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
