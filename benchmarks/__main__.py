"""`make bench`: run every benchmarks/bench_*.py module and print its rows as a table.

Each module exposes `TITLE: str` and `run() -> list[dict]` (one dict per table row). Pass module
names (e.g. `python -m benchmarks fit api`) to run a subset.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import pandas as pd

import benchmarks


def _modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def main(argv: list[str]) -> int:
    failures = 0
    for name in _modules(argv):
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n## {module.TITLE}  ({name})", flush=True)
        start = time.perf_counter()
        try:
            rows = module.run()
        except Exception:  # a broken benchmark must not hide the others' numbers
            failures += 1
            traceback.print_exc()
            continue
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(pd.DataFrame(rows).to_string(index=False), flush=True)
        print(f"({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
