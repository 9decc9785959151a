"""models/plots.py and `turnsignal plot`: the emergence curve of each task of a real (tiny) fit on the
OLMo ladder, and a participant's reliability diagram + PIT histogram.

What is checked is the rendered output itself: PNGs decode (Pillow and matplotlib) at 800 x 600
pixels, SVGs parse as XML and contain the expected artists (found by their SVG ids): the 50/90% bands
and posterior median of success and of the smooth metric, one observed point per training row of
that task, chance, the emergence median, a line per target scale; bins and PIT bars. Bad input is a
ValueError naming it; the CLI writes the file and turns bad input into exit code 2.

One fit (2 tasks, 100 draws x 2 chains: compile dominates, ~30 s) is shared by the module.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli import app as cli_app
from forecast.evaltable import validate_eval_table
from models.config import FitConfig
from models.forecaster import EmergenceForecaster
from models.plots import DPI, FIGSIZE_INCHES, calibration_plots, emergence_curve

OLMO = Path(__file__).resolve().parents[1] / "examples" / "data" / "olmo_ladder.csv"
TASKS = ["arc_easy", "piqa"]
SIZE = (int(FIGSIZE_INCHES[0] * DPI), int(FIGSIZE_INCHES[1] * DPI))  # (width, height) in pixels
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    table = pd.read_csv(OLMO)
    table = validate_eval_table(table[table["task"].isin(TASKS)], source="olmo slice")
    config = FitConfig(tasks=TASKS, success_metric=["len_norm", "acc"], draws=100, tune=100, chains=2, seed=1)
    forecaster = EmergenceForecaster(config).fit(table, progress=False)
    return forecaster.save(tmp_path_factory.mktemp("plots") / "fit.nc")


@pytest.fixture(scope="module")
def forecaster(fit_path) -> EmergenceForecaster:
    return EmergenceForecaster.load(fit_path)


def png_pixels(content: bytes) -> np.ndarray:
    """Decode with Pillow and with matplotlib; both must agree on the size."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(content)) as image:
        image.verify()
    with Image.open(io.BytesIO(content)) as image:
        assert image.size == SIZE
    pixels = mpimg.imread(io.BytesIO(content), format="png")
    assert pixels.shape[:2] == (SIZE[1], SIZE[0])
    return pixels


def svg_groups(content: bytes) -> dict[str, ET.Element]:
    """Parse the SVG (must be well-formed XML with an <svg> root); its groups by id."""
    root = ET.fromstring(content)
    assert root.tag == f"{SVG}svg"
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}


def svg_texts(content: bytes) -> list[str]:
    """Every text matplotlib drew (it writes each as an XML comment next to its glyph paths)."""
    return [t.strip() for t in re.findall(r"<!--(.*?)-->", content.decode(), flags=re.S)]


def n_marks(group: ET.Element) -> int:
    """Markers drawn in a scatter group (<use> references or one <path> each)."""
    return len(list(group.iter(f"{SVG}use"))) or len(list(group.iter(f"{SVG}path")))


@pytest.mark.parametrize("task", TASKS)
def test_emergence_curve_svg_has_bands_medians_observed_points_and_marks(forecaster, task) -> None:
    content = emergence_curve(forecaster, task, fmt="svg", target_scales={"7B-1xC": 22.4, "13B-2xC": 23.3})
    groups = svg_groups(content)
    for panel in ("success", "smooth"):
        for artist in ("band90", "band50", "median"):
            assert f"{artist}-{panel}" in groups, (artist, panel, sorted(groups))
    rows = forecaster.training_rows
    rows = rows[rows["task"] == task]
    n_success = int(rows["metric"].isin(forecaster.config.success_metric).sum())
    n_smooth = int((rows["metric"] == forecaster.config.smooth_metric).sum())
    assert n_success > 0 and n_smooth > 0
    assert n_marks(groups["observed-success"]) == n_success
    assert n_marks(groups["observed-smooth"]) == n_smooth
    assert "chance" in groups
    for i in range(2):  # each target scale is a vertical line on both panels
        assert {f"target-{i}-success", f"target-{i}-smooth"} <= set(groups)
    texts = svg_texts(content)
    assert {f"{task}: emergence curve", "90% band", "50% band", "observed", "7B-1xC", "13B-2xC",
            "log10 training compute (FLOPs)", "posterior median (len_norm)", "bpb"} <= set(texts), texts
    median = float(np.median(forecaster.emergence_draws(task)))
    if np.isfinite(median):
        assert "emergence-median" in groups and f"emergence median {median:.2f}" in texts


def test_emergence_curve_png_decodes_at_its_size_and_depends_on_task_and_marks(forecaster) -> None:
    first = png_pixels(emergence_curve(forecaster, TASKS[0]))
    second = png_pixels(emergence_curve(forecaster, TASKS[1]))
    marked = png_pixels(emergence_curve(forecaster, TASKS[0], target_scales={"big": 23.0}))
    assert first.std() > 0.05, "a blank image"
    assert not np.array_equal(first, second), "two tasks drew the same picture"
    assert not np.array_equal(first, marked), "the target scale is not drawn"
    assert np.array_equal(first, png_pixels(emergence_curve(forecaster, TASKS[0]))), "not deterministic"


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "hellaswag"}, "not in this fit"),
    ({"task": "arc_easy", "fmt": "pdf"}, "png or svg"),
    ({"task": "arc_easy", "target_scales": {"big": float("nan")}}, "finite"),
    ({"task": "arc_easy", "target_scales": {"big": "soon"}}, "must be a number"),
    ({"task": "arc_easy", "n_grid": 1}, "n_grid"),
])
def test_emergence_curve_bad_input_is_a_clear_value_error(forecaster, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        emergence_curve(forecaster, **kwargs)


def test_emergence_curve_of_an_unfitted_forecaster_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        emergence_curve(EmergenceForecaster(FitConfig()), "arc_easy")


BINS = [
    {"lower": 0.0, "upper": 0.1, "count": 4, "mean_forecast": 0.05, "observed_frequency": 0.25},
    {"lower": 0.1, "upper": 0.5, "count": 0, "mean_forecast": None, "observed_frequency": None},
    {"lower": 0.5, "upper": 0.9, "count": 3, "mean_forecast": 0.7, "observed_frequency": 2 / 3},
    {"lower": 0.9, "upper": 1.0, "count": 2, "mean_forecast": 0.95, "observed_frequency": 1.0},
]


def test_calibration_plots_draw_used_bins_and_one_bar_per_pit_bucket() -> None:
    pit = [3, 0, 1, 4, 2]
    content = calibration_plots(BINS, pit, fmt="svg", title="participant abc: 9 binary, 10 numeric resolved")
    groups = svg_groups(content)
    assert n_marks(groups["reliability-bins"]) == 3  # the empty bin is not drawn
    assert sorted(g for g in groups if g.startswith("pit-bar-")) == [f"pit-bar-{i}" for i in range(len(pit))]
    texts = svg_texts(content)
    assert {"reliability (binary)", "PIT histogram (numeric)", "participant abc: 9 binary, 10 numeric resolved",
            "uniform", "perfect"} <= set(texts), texts
    png = png_pixels(calibration_plots(BINS, pit))
    assert png.std() > 0.05
    other = png_pixels(calibration_plots(BINS, [0, 0, 10, 0, 0]))
    assert not np.array_equal(png, other), "the PIT histogram does not depend on the counts"


def test_calibration_plots_with_nothing_resolved_yet_still_render() -> None:
    groups = svg_groups(calibration_plots([], [], fmt="svg"))
    assert "reliability-bins" not in groups and not any(g.startswith("pit-bar-") for g in groups)
    png_pixels(calibration_plots([], []))


@pytest.mark.parametrize("bins, pit, fmt, message", [
    (BINS, [1, 2], "jpg", "png or svg"),
    ([{**BINS[0], "count": -1}], [1], "png", "bin 0: count"),
    ([BINS[0], {**BINS[2], "mean_forecast": 1.5}], [1], "png", "bin 1: mean_forecast"),
    ([{**BINS[0], "observed_frequency": None}], [1], "png", "bin 0: observed_frequency"),
    (["not a bin"], [1], "png", "bin 0"),
    (BINS, [1, -2], "png", "pit_histogram"),
    (BINS, [1, float("inf")], "png", "pit_histogram"),
    (BINS, ["a", "b"], "png", "pit_histogram"),
])
def test_calibration_plots_bad_input_is_a_clear_value_error(bins, pit, fmt, message) -> None:
    with pytest.raises(ValueError, match=message):
        calibration_plots(bins, pit, fmt=fmt)


def test_cli_plot_emergence_writes_png_and_svg(fit_path, tmp_path) -> None:
    runner = CliRunner()
    png, svg = tmp_path / "out" / "arc.png", tmp_path / "out" / "piqa.svg"
    for task, out in (("arc_easy", png), ("piqa", svg)):
        result = runner.invoke(cli_app, ["plot", "emergence", "--fit", str(fit_path), "--task", task, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.output
    png_pixels(png.read_bytes())
    assert "piqa: emergence curve" in svg_texts(svg.read_bytes()) and "observed-success" in svg_groups(svg.read_bytes())


@pytest.mark.parametrize("args, message", [
    (["--task", "hellaswag", "--out", "x.png"], "not in this fit"),
    (["--task", "arc_easy", "--out", "x.pdf"], "png or svg"),
])
def test_cli_plot_bad_input_exits_2_without_traceback(fit_path, tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli_app, ["plot", "emergence", "--fit", str(fit_path),
                                          *[str(tmp_path / a) if a.startswith("x.") else a for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir()), "nothing is written on error"
