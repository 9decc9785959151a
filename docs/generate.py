"""Rewrite the measured tables of docs/*.md from benchmark results and backtest outputs.

A generated block in a markdown file is

    <!-- begin generated: NAME -->
    ... (replaced as a whole) ...
    <!-- end generated -->

and NAME says where its content comes from:

* ``bench:<module>``: the rows ``make bench`` saved to ``benchmarks/results/<module>.json`` (see
  ``benchmarks/__main__.py``), as markdown tables (one per set of columns), stamped with the UTC date
  and commit of the run.
* ``backtest:<key>``: a ``turnsignal backtest --out DIR`` directory (``summary.csv``,
  ``summary.json``, ``diagnostics.json``) given as ``--backtest key=DIR``: per cut, its training and
  held-out models, reach and stacking weights, then the summary table. Stamped with the date of
  ``summary.json`` and ``--commit`` (default: the current ``HEAD``).
* ``calibration:<key>``: the same directory's PIT-based calibration (summary.json ``calibration``):
  per cut x method x extrapolation bin, n, 50%/90% coverage and the PIT histogram (10 bins).

* ``discrimination:<key>``: the same directory's jump discrimination per cut x method (summary.json
  ``jump_discrimination``: n, jumps over 10 points, Spearman, AUC) and, when the backtest ran it,
  the shuffle test's CRPS and MAE ratios.

* ``smooth:<prefix>``: the backtests given as ``--backtest <prefix>_<smooth choice>=DIR`` (e.g.
  ``olmo_auto``, ``olmo_bpb``), compared per cut in the ``all`` bin and the farthest bin, with the
  choices ``--smooth auto`` made.

Blocks whose source is missing are left exactly as they are; nothing outside a block is touched.

    python -m docs.generate                                     # every bench:* block with a results file
    python -m docs.generate --backtest olmo=bt-olmo/ --commit c7a550b
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = ROOT / "docs"
RESULTS_DIR = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- begin generated: (?P<name>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL)

COLUMN_LABELS = {
    "wall_s": "wall (s)", "compile_s": "compile (s)", "sampling_s": "sampling (s)", "seconds": "seconds",
    "min_ess_per_s": "min ESS / s", "ess_bulk_min": "min bulk ESS", "rhat_max": "max R-hat",
    "mae_pts": "MAE (pts)", "crps_pts": "CRPS (pts)", "cov50": "50% cov.", "cov90": "90% cov.",
    "width50_pts": "50% width (pts)", "width90_pts": "90% width (pts)", "req_per_s": "req/s",
    "p50_ms": "p50 (ms)", "p99_ms": "p99 (ms)", "bare_req_per_s": "bare req/s", "ratio": "project / bare",
    "bare_p50_ms": "bare p50 (ms)", "bare_p99_ms": "bare p99 (ms)",
}
"""Table headers for the row keys of the benchmark modules; other keys are shown as they are."""


# ------------------------------------------------------------------------------------------ blocks
def block_names(text: str) -> list[str]:
    """The names of the generated blocks in ``text``, in order."""
    return [m.group("name") for m in BLOCK.finditer(text)]


def replace_blocks(text: str, contents: Mapping[str, str]) -> str:
    """``text`` with the body of every block named in ``contents`` replaced; everything else unchanged."""
    def swap(match: re.Match) -> str:
        name = match.group("name")
        if name not in contents:
            return match.group(0)
        return f"{match.group(1)}{contents[name].rstrip()}\n{match.group(4)}"

    return BLOCK.sub(swap, text)


def stamp(date: str, commit: str) -> str:
    """The line that opens every generated block."""
    return f"_Measured on {date} at commit {commit}._"


# ------------------------------------------------------------------------------------------ bench
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).replace("|", "\\|")


def _row_groups(rows: list[dict]) -> list[tuple[list[str], list[dict]]]:
    """Consecutive rows whose keys nest (one's keys within the other's) share a table."""
    groups: list[tuple[list[str], list[dict]]] = []
    for row in rows:
        if groups and (set(row) <= set(groups[-1][0]) or set(groups[-1][0]) <= set(row)):
            columns = groups[-1][0] + [k for k in row if k not in groups[-1][0]]
            groups[-1] = (columns, groups[-1][1] + [row])
        else:
            groups.append((list(row), [row]))
    return groups


def markdown_table(columns: list[str], rows: list[dict]) -> str:
    """Rows as a markdown table; columns whose values are all numbers are right-aligned."""
    def numeric(column: str) -> bool:
        values = [r.get(column) for r in rows if r.get(column) is not None]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    lines = ["| " + " | ".join(COLUMN_LABELS.get(c, c) for c in columns) + " |",
             "|" + "|".join("---:" if numeric(c) else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def render_bench(result: Mapping[str, Any]) -> str:
    """A saved ``make bench`` result (``benchmarks/results/<module>.json``) as a block body."""
    tables = [markdown_table(columns, rows) for columns, rows in _row_groups(result["rows"])]
    return "\n\n".join([stamp(result["date"][:10], result["commit"]), *tables])


# ------------------------------------------------------------------------------------------ backtest
def _weights(scenario: Mapping[str, Any], stacked: Mapping[str, Any]) -> str:
    weights = scenario.get("stacking_weights")
    if not weights:
        return ""
    text = ", ".join(f"{form} {w:.2f}" for form, w in weights.items())
    how = stacked.get("weighting")
    if how == "leave_largest_out":
        token = stacked.get("token_discrepancy")
        text += (f" (leave_largest_out; link discrepancy {stacked['link_discrepancy']:.2f} spreads/decade"
                 + (f", {token:.2f} per decade of tokens/param)" if token is not None else ")"))
    elif how:
        text += f" ({how})"
    return f" Stacking weights: {text}."


def render_backtest(out_dir: Path, commit: str) -> str:
    """A ``turnsignal backtest --out`` directory as a block body: per cut, one line and the table."""
    import pandas as pd

    from models.backtest import format_summary_table

    meta = json.loads((out_dir / "summary.json").read_text())
    diagnostics_path = out_dir / "diagnostics.json"
    diagnostics = json.loads(diagnostics_path.read_text()) if diagnostics_path.exists() else {}
    summary = pd.read_csv(out_dir / "summary.csv", keep_default_na=False)
    scenarios = meta["scenarios"]
    date = datetime.fromtimestamp((out_dir / "summary.json").stat().st_mtime, timezone.utc).date().isoformat()
    parts = [stamp(date, commit)]
    for scenario in scenarios:
        label = scenario["label"]
        own = diagnostics.get(label, {}) if len(scenarios) > 1 else diagnostics
        rows = summary[summary["cut"].astype(str) == label] if len(scenarios) > 1 else summary
        parts.append(f"**{label}**: {len(scenario['training_models'])} training models, "
                     f"{len(scenario['heldout_models'])} held-out models, reach {scenario['reach']:.3g}x."
                     + _weights(scenario, own.get("hierarchical_stacked", {})))
        parts.append(format_summary_table(rows.drop(columns="cut")))
    return "\n\n".join(parts)


def render_smooth_comparison(prefix: str, backtests: Mapping[str, Path], commit: str) -> str:
    """Block ``smooth:PREFIX``: the backtests keyed ``PREFIX_<smooth choice>`` (e.g. ``olmo_auto``,
    ``olmo_bpb``) side by side, per cut, the ``all`` bin and the cut's farthest bin, one row per choice;
    then the choice ``auto`` made in each cut (summary.json ``smooth_choice``)."""
    import pandas as pd

    runs = {key[len(prefix) + 1:]: path for key, path in backtests.items() if key.startswith(prefix + "_")}
    rows, choices = [], []
    dates = set()
    for choice, out_dir in runs.items():
        meta = json.loads((out_dir / "summary.json").read_text())
        dates.add(datetime.fromtimestamp((out_dir / "summary.json").stat().st_mtime, timezone.utc).date().isoformat())
        summary = pd.read_csv(out_dir / "summary.csv", keep_default_na=False)
        for scenario in meta["scenarios"]:
            label = scenario["label"]
            own = summary[summary["cut"].astype(str) == label] if "cut" in summary else summary
            for _, row in own[own["ratio_bin"].isin(["all", own["ratio_bin"].iloc[-1]])].iterrows():
                rows.append({"cut": label, "extrapolation": row["ratio_bin"], "smooth": choice, "method": row["method"],
                             "n": int(row["n"]), "MAE (pts)": f"{float(row['mae_points']):.2f}",
                             "CRPS (pts)": f"{float(row['crps_points']):.2f}",
                             "50% cov.": f"{float(row['coverage_50']):.0%}", "90% cov.": f"{float(row['coverage_90']):.0%}",
                             "90% width (pts)": f"{float(row['width_90_points']):.1f}"})
            if scenario.get("smooth_choice"):
                picked: dict[str, list[str]] = {}
                for task, metric in sorted(scenario["smooth_choice"]["choice"].items()):
                    picked.setdefault(metric, []).append(task)
                choices.append(f"- {label}: " + "; ".join(f"{metric} for {', '.join(tasks)}"
                                                          for metric, tasks in sorted(picked.items())))
    order = {name: i for i, name in enumerate(runs)}
    cuts = list(dict.fromkeys(r["cut"] for r in rows))
    rows.sort(key=lambda r: (cuts.index(r["cut"]), r["extrapolation"] != "all", r["method"], order[r["smooth"]]))
    columns = ["cut", "extrapolation", "method", "smooth", "n", "MAE (pts)", "CRPS (pts)", "50% cov.", "90% cov.",
               "90% width (pts)"]
    parts = [stamp(max(dates), commit), markdown_table(columns, rows)]
    if choices:
        parts.append("The choices of `auto` (on each cut's training runs):\n\n" + "\n".join(choices))
    return "\n\n".join(parts)
def render_calibration(out_dir: Path, commit: str) -> str:
    """The ``calibration`` records of a backtest directory's summary.json as a stamped table."""
    meta = json.loads((out_dir / "summary.json").read_text())
    date = datetime.fromtimestamp((out_dir / "summary.json").stat().st_mtime, timezone.utc).date().isoformat()
    lines = ["| cut | method | extrapolation | n | 50% cov. | 90% cov. | PIT histogram (10 bins, 0 to 1) |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in meta.get("calibration", []):
        lines.append(f"| {r['cut']} | {r['method']} | {r['ratio_bin']} | {r['n']} | {100 * r['coverage_50']:.0f}% | "
                     f"{100 * r['coverage_90']:.0f}% | {' '.join(str(c) for c in r['pit_histogram'])} |")
    return "\n\n".join([stamp(date, commit), "\n".join(lines)])


def _fixed(value: Any) -> str:
    return "" if value is None or value != value else f"{value:.2f}"


def render_discrimination(out_dir: Path, commit: str) -> str:
    """Block ``discrimination:KEY``: each scenario's jump discrimination per method, then its shuffle
    test (CRPS and MAE ratios shuffled / real, per permutation) where one ran."""
    meta = json.loads((out_dir / "summary.json").read_text())
    date = datetime.fromtimestamp((out_dir / "summary.json").stat().st_mtime, timezone.utc).date().isoformat()
    rows, shuffles = [], []
    for scenario in meta["scenarios"]:
        for r in scenario.get("jump_discrimination") or []:
            rows.append({"cut": scenario["label"], "method": r["method"], "n": r["n"], "jumped > 10 pts": r["n_jumped"],
                         "jump Spearman": _fixed(r["spearman"]), "jump AUC": _fixed(r["auc"])})
        shuffle = scenario.get("shuffle_test")
        if shuffle:
            shuffles.append({"cut": scenario["label"], "method": shuffle.get("method", ""),
                             "real CRPS (pts)": _fixed(shuffle["crps_real_points"]),
                             "CRPS ratio shuffled / real": " ".join(_fixed(x) for x in shuffle["crps_ratios"]),
                             "MAE ratio shuffled / real": " ".join(_fixed(x) for x in shuffle["mae_ratios"])})
    parts = [stamp(date, commit), markdown_table(["cut", "method", "n", "jumped > 10 pts", "jump Spearman",
                                                  "jump AUC"], rows)]
    if shuffles:
        parts.append(markdown_table(list(shuffles[0]), shuffles))
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------ main
def _backtest_dirs(items: list[str]) -> dict[str, Path]:
    dirs = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise ValueError(f"--backtest takes KEY=DIR, got {item!r}")
        if not (Path(path) / "summary.json").exists():
            raise ValueError(f"--backtest {item}: no summary.json in {path}")
        dirs[key] = Path(path)
    return dirs


def block_contents(names: list[str], results_dir: Path, backtests: Mapping[str, Path], commit: str) -> dict[str, str]:
    """The new body of every block in ``names`` whose source exists."""
    contents = {}
    for name in names:
        kind, _, key = name.partition(":")
        if kind == "bench" and (results_dir / f"{key}.json").exists():
            contents[name] = render_bench(json.loads((results_dir / f"{key}.json").read_text()))
        elif kind == "backtest" and key in backtests:
            contents[name] = render_backtest(backtests[key], commit)
        elif kind == "smooth" and any(k.startswith(key + "_") for k in backtests):
            contents[name] = render_smooth_comparison(key, backtests, commit)
        elif kind == "calibration" and key in backtests:
            contents[name] = render_calibration(backtests[key], commit)
        elif kind == "discrimination" and key in backtests:
            contents[name] = render_discrimination(backtests[key], commit)
    return contents


def generate(docs_dir: Path = DOCS_DIR, results_dir: Path = RESULTS_DIR, backtests: Mapping[str, Path] | None = None,
             commit: str | None = None) -> dict[Path, list[str]]:
    """Rewrite the blocks of every docs_dir/*.md that have a source. Returns {file: blocks rewritten}."""
    if commit is None:
        from benchmarks.__main__ import git_commit

        commit = git_commit()
    written = {}
    for path in sorted(docs_dir.glob("*.md")):
        text = path.read_text()
        contents = block_contents(block_names(text), results_dir, backtests or {}, commit)
        if contents:
            path.write_text(replace_blocks(text, contents))
            written[path] = sorted(contents)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help="folder of the markdown files")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="make bench's saved rows")
    parser.add_argument("--backtest", action="append", default=[], metavar="KEY=DIR",
                        help="a `turnsignal backtest --out` directory for the block backtest:KEY")
    parser.add_argument("--commit", default=None, help="the commit the backtest directories were made on")
    args = parser.parse_args(argv)
    try:
        backtests = _backtest_dirs(args.backtest)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = generate(args.docs, args.results, backtests, args.commit)
    for path, names in written.items():
        print(f"{path}: rewrote {', '.join(names)}")
    if not written:
        print("no generated block had a source; nothing changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
