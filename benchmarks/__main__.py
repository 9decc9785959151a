"""`make bench`: run every benchmarks/bench_*.py module, print its rows as a table and save them.

Each module exposes `TITLE: str` and `run() -> list[dict]` (one dict per table row). Pass module
names (e.g. `python -m benchmarks fit api`) to run a subset. `module:part` runs only that part of a
module whose `run` takes a tuple of part names (e.g. `python -m benchmarks fit:wide`, the wide-table
row of bench_fit without its long OLMo fits and backtests) and saves to `<module>_<part>.json`.

Each module's rows are saved to `benchmarks/results/<module>.json` as `{"module", "title", "date"
(UTC, ISO 8601), "commit" (`git rev-parse --short HEAD`, "-dirty" when tracked files differ from
it), "seconds" (the module's wall time), "rows"}`; `python -m docs.generate` writes them into docs/.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

import benchmarks

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def _modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def _runs(argv: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(module, parts) to run: every selected module whole, then each `module:part` argument's part."""
    whole = [arg for arg in argv if ":" not in arg]
    runs = [(name, ()) for name in _modules(whole)] if whole or not argv else []
    for name, part in (arg.split(":", 1) for arg in argv if ":" in arg):
        runs += [(module, (part,)) for module in _modules([name])]
    return runs


def git_commit(root: Path = ROOT) -> str:
    """The short hash of HEAD in `root`, with "-dirty" when tracked files differ from it; "unknown"
    outside a git checkout."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = git("diff", "--quiet", "HEAD").returncode == 1
    except OSError:  # no git on this machine
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty else "")


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and anything else json cannot write (as its string)."""
    return value.item() if hasattr(value, "item") else str(value)


def save_rows(name: str, title: str, rows: list[dict], seconds: float, results_dir: Path = RESULTS_DIR) -> Path:
    """Write one module's rows, with the UTC date and the commit, to `results_dir/<name>.json`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    record = {"module": name, "title": title, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "commit": git_commit(), "seconds": round(seconds, 1), "rows": rows}
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, default=_plain) + "\n")
    return path


def main(argv: list[str], results_dir: Path = RESULTS_DIR) -> int:
    if {"-h", "--help"} & set(argv):
        print(f"{(__doc__ or '').strip()}\n\nmodules: {', '.join(_modules([]))}")
        return 0
    unknown = [name for name in argv if not _modules([name.split(":", 1)[0]])]
    if unknown:
        print(f"no benchmark module {', '.join(unknown)} (modules: {', '.join(_modules([]))})", file=sys.stderr)
        return 2
    failures = 0
    for name, parts in _runs(argv):
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n## {module.TITLE}  ({name}{':' + ','.join(parts) if parts else ''})", flush=True)
        start = time.perf_counter()
        try:
            rows = module.run(parts) if parts else module.run()
        except Exception:  # a broken benchmark must not hide the others' numbers
            failures += 1
            traceback.print_exc()
            continue
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(pd.DataFrame(rows).to_string(index=False), flush=True)
        seconds = time.perf_counter() - start
        path = save_rows("_".join((name, *parts)), module.TITLE, rows, seconds, results_dir)
        print(f"({seconds:.1f} s; saved to {path})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
