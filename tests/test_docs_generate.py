"""docs/generate.py rewrites only the marked blocks of docs/*.md, from `make bench`'s saved rows and
from `turnsignal backtest --out` directories; everything else in the file stays byte for byte."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.__main__ import git_commit, save_rows
from docs.generate import block_names, generate, main, render_calibration, replace_blocks

ROOT = Path(__file__).resolve().parents[1]

PAGE = """# Page

Prose before, with a table that is not generated:

| a | b |
|---|---|
| 1 | 2 |

<!-- begin generated: bench:bench_demo -->
_Measured on 2026-11-24 at commit c7a550b._

| old | table |
|---|---|
| 9 | 9 |
<!-- end generated -->

Prose between.

<!-- begin generated: bench:bench_missing -->
kept as it is: no results file
<!-- end generated -->

<!-- begin generated: backtest:demo -->
old backtest table
<!-- end generated -->
Prose after.
"""

FIT_ROWS = [
    {"case": "full fit, empty cache", "method": "hierarchical", "wall_s": 61.2, "compile_s": 46.0, "rhat_max": 1.0057,
     "divergences": 3},
    {"case": "turnsignal precompile", "method": "precompile", "wall_s": 103.4},
    {"case": "B1 | logistic", "cut": "params<=760M", "method": "B1_logistic", "n": 156, "mae_pts": 3.06, "cov90": None},
]


def _outside_blocks(text: str) -> str:
    return re.sub(r"<!-- begin generated: \S+ -->\n.*?<!-- end generated -->", "<block>", text, flags=re.DOTALL)


@pytest.fixture()
def docs_dir(tmp_path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "page.md").write_text(PAGE)
    return docs


def test_bench_rows_replace_only_their_block(docs_dir, tmp_path) -> None:
    results = tmp_path / "results"
    path = save_rows("bench_demo", "Demo", FIT_ROWS, 12.3, results)
    saved = json.loads(path.read_text())
    assert saved["rows"] == FIT_ROWS and saved["commit"] == git_commit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", saved["date"])

    written = generate(docs_dir, results, commit="unused")
    text = (docs_dir / "page.md").read_text()
    assert written == {docs_dir / "page.md": ["bench:bench_demo"]}
    assert _outside_blocks(text) == _outside_blocks(PAGE)
    assert block_names(text) == ["bench:bench_demo", "bench:bench_missing", "backtest:demo"]
    assert "kept as it is: no results file" in text and "old backtest table" in text
    assert "| old | table |" not in text
    assert f"_Measured on {saved['date'][:10]} at commit {saved['commit']}._" in text
    # the fit rows and the precompile row share a table; the backtest row (new columns) gets its own
    assert "| case | method | wall (s) | compile (s) | max R-hat | divergences |\n|---|---|---:|---:|---:|---:|" in text
    assert "| turnsignal precompile | precompile | 103.4 |  |  |  |" in text
    assert "| B1 \\| logistic | params<=760M | B1_logistic | 156 | 3.06 |  |" in text


def test_rerunning_gives_the_same_file(docs_dir, tmp_path) -> None:
    results = tmp_path / "results"
    save_rows("bench_demo", "Demo", FIT_ROWS, 1.0, results)
    generate(docs_dir, results, commit="abc1234")
    once = (docs_dir / "page.md").read_text()
    generate(docs_dir, results, commit="abc1234")
    assert (docs_dir / "page.md").read_text() == once


def _backtest_dir(path: Path) -> Path:
    """A small synthetic `turnsignal backtest --out` directory: two cuts, two methods."""
    path.mkdir()
    rows = []
    for cut in ("params<=760M", "params<=370M"):
        for method in ("hierarchical", "hierarchical_stacked"):
            for ratio_bin, n in (("all", 4), ("1-3x", 4)):
                rows.append({"method": method, "ratio_bin": ratio_bin, "n": n, "mae_points": 2.5, "crps_points": 1.75,
                             "coverage_50": 0.5, "coverage_90": 0.875, "width_50_points": 3.25,
                             "width_90_points": 8.5, "cut": cut})
    pd.DataFrame(rows).to_csv(path / "summary.csv", index=False)
    scenarios = [{"label": "params<=760M", "reach": 17.2, "training_models": list("abc"), "heldout_models": ["d"],
                  "stacking_weights": {"compute": 0.66, "params_tokens": 0.34}},
                 {"label": "params<=370M", "reach": 73.0, "training_models": list("ab"), "heldout_models": ["d"],
                  "stacking_weights": {"compute": 0.07, "params_tokens": 0.93}}]
    (path / "summary.json").write_text(json.dumps({"scenarios": scenarios}))
    (path / "diagnostics.json").write_text(json.dumps({
        "params<=760M": {"hierarchical_stacked": {"weighting": "leave_largest_out", "link_discrepancy": 0.1}},
        "params<=370M": {"hierarchical_stacked": {"weighting": "loo", "link_discrepancy": 0.0}}}))
    return path


def test_backtest_directory_fills_its_block(docs_dir, tmp_path) -> None:
    out = _backtest_dir(tmp_path / "bt")
    assert main(["--docs", str(docs_dir), "--results", str(tmp_path / "none"), "--backtest", f"demo={out}",
                 "--commit", "c0ffee1"]) == 0
    text = (docs_dir / "page.md").read_text()
    assert _outside_blocks(text) == _outside_blocks(PAGE)
    assert "old backtest table" not in text and "| old | table |" in text
    assert "at commit c0ffee1._" in text
    assert ("**params<=760M**: 3 training models, 1 held-out models, reach 17.2x. Stacking weights: compute 0.66, "
            "params_tokens 0.34 (leave_largest_out; link discrepancy 0.10 spreads/decade).") in text
    assert "reach 73x. Stacking weights: compute 0.07, params_tokens 0.93 (loo)." in text
    assert text.count("| hierarchical_stacked | 1-3x | 4 | 2.50 | 1.75 | 50% | 88% | 3.2 | 8.5 |") == 2


def test_bad_backtest_argument_exits_2(docs_dir, tmp_path) -> None:
    assert main(["--docs", str(docs_dir), "--backtest", str(tmp_path)]) == 2
    assert main(["--docs", str(docs_dir), "--backtest", f"demo={tmp_path}"]) == 2
    assert (docs_dir / "page.md").read_text() == PAGE


def test_replace_blocks_leaves_unknown_names() -> None:
    assert replace_blocks(PAGE, {"bench:nothing": "x"}) == PAGE


def test_the_real_docs_blocks_are_well_formed() -> None:
    """Every generated block of docs/*.md has a known kind, and begin/end markers pair up."""
    for path in (ROOT / "docs").glob("*.md"):
        text = path.read_text()
        names = block_names(text)
        assert text.count("<!-- begin generated:") == len(names) == text.count("<!-- end generated -->"), path
        assert all(name.split(":")[0] in ("bench", "backtest", "smooth", "calibration", "discrimination")
                   for name in names), path


def test_smooth_block_compares_the_choices(tmp_path) -> None:
    """A ``smooth:<prefix>`` block puts the backtests keyed ``<prefix>_<choice>`` side by side."""
    from docs.generate import render_smooth_comparison

    dirs = {}
    for choice, crps in (("auto", 0.02), ("bpb", 0.03)):
        out = tmp_path / choice
        out.mkdir()
        scenario = {"label": "params<=1B", "smooth_choice": {"choice": {"t": "bpb"}} if choice == "auto" else None}
        (out / "summary.json").write_text(json.dumps({"scenarios": [scenario]}))
        pd.DataFrame({"method": "hierarchical", "ratio_bin": ["all", "3-10x"], "n": [4, 2], "mae_points": 1.0,
                      "crps_points": [crps * 100, 5.0], "coverage_50": 0.5, "coverage_90": 0.9,
                      "width_50_points": 2.0, "width_90_points": 6.0, "cut": "params<=1B"}).to_csv(out / "summary.csv",
                                                                                                   index=False)
        dirs[f"x_{choice}"] = out
    text = render_smooth_comparison("x", dirs, "abc1234")
    assert "| params<=1B | all | hierarchical | auto | 4 | 1.00 | 2.00 |" in text
    assert "| params<=1B | 3-10x | hierarchical | bpb | 2 |" in text and "- params<=1B: bpb for t" in text


def test_calibration_block_lists_coverage_and_pit_per_bin(tmp_path) -> None:
    out = _backtest_dir(tmp_path / "bt")
    meta = json.loads((out / "summary.json").read_text())
    meta["calibration"] = [{"cut": "params<=760M", "method": "hierarchical", "ratio_bin": "1-3x", "n": 4,
                            "coverage_50": 0.5, "coverage_90": 0.75, "pit_histogram": [0, 1, 0, 0, 1, 1, 0, 0, 0, 1]}]
    (out / "summary.json").write_text(json.dumps(meta))
    body = render_calibration(out, "c0ffee1")
    assert "at commit c0ffee1._" in body
    assert "| params<=760M | hierarchical | 1-3x | 4 | 50% | 75% | 0 1 0 0 1 1 0 0 0 1 |" in body


def test_discrimination_block_lists_jumps_and_the_shuffle_test(tmp_path) -> None:
    from docs.generate import render_discrimination

    out = tmp_path / "bt"
    out.mkdir()
    scenario = {"label": "params<=760M", "jump_discrimination": [
        {"method": "hierarchical", "n": 156, "n_jumped": 6, "spearman": 0.861, "auc": float("nan")}],
        "shuffle_test": {"method": "hierarchical (compute)", "crps_real_points": 1.75, "crps_ratios": [0.97, 1.27],
                         "mae_ratios": [0.98, 1.25]}}
    (out / "summary.json").write_text(json.dumps({"scenarios": [scenario]}))
    body = render_discrimination(out, "c0ffee1")
    assert "at commit c0ffee1._" in body and "| params<=760M | hierarchical | 156 | 6 | 0.86 |  |" in body
    assert "| params<=760M | hierarchical (compute) | 1.75 | 0.97 1.27 | 0.98 1.25 |" in body
