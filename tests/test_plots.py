"""models/plots.py and `turnsignal plot`: the emergence chart of each task of a real (tiny) fit on the
OLMo ladder, and a participant's reliability diagram + PIT histogram.

What is checked is what a reader of the charts relies on, through the matplotlib artists (not
pixels): the 90% predictive band holds most observed points (the mean's bands hold far fewer, which
is why the predictive band is drawn) and is wider than the mean's 90% band; the target level is a
horizontal line at the target success; the emergence median and 90% interval are an error bar at
that level (an arrow at the right edge with the beyond-range probability when the median is beyond
the searched range); the training range is shaded; axis labels name units and the task's metric.
Reliability: ECE and the Brier decomposition in the legend equal forecast.scoring's values on the
raw forecasts, Wilson intervals equal scipy's, one count per bin, the handle in the title, markers
not clipped; the PIT panel is a density against the uniform line, or absent with no numeric scores.
PNGs decode at their size; SVGs are well-formed; bad input is a ValueError naming it; the CLI writes
the file and turns bad input into exit code 2.

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
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.legend import Legend
from PIL import Image
from scipy import stats
from typer.testing import CliRunner

from api.cli import app as cli_app
from forecast import scoring
from forecast.evaltable import validate_eval_table
from models.config import FitConfig
from models.forecaster import EmergenceForecaster
from models.plots import (
    DPI, FIGSIZE_INCHES, calibration_figure, calibration_plots, emergence_curve, emergence_figure, wilson_interval,
)

OLMO = Path(__file__).resolve().parents[1] / "examples" / "data" / "olmo_ladder.csv"
TASKS = ["arc_easy", "piqa"]
SIZE = (int(FIGSIZE_INCHES[0] * DPI), int(FIGSIZE_INCHES[1] * DPI))  # (width, height) in pixels
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    table = pd.read_csv(OLMO)
    table = validate_eval_table(table[table["task"].isin(TASKS)], source="olmo slice")
    config = FitConfig(tasks=TASKS, success_metric=["len_norm", "acc"], draws=100, tune=100, chains=2, seed=1,
                       trend="compute")
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


def by_gid(ax) -> dict[str, object]:
    """The axes' artists (lines, collections, patches, texts) by their gid."""
    return {a.get_gid(): a for a in [*ax.lines, *ax.collections, *ax.patches, *ax.texts] if a.get_gid()}


def band_edges(band: PolyCollection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fill_between band's (x, lower, upper) at each of its x values."""
    v = band.get_paths()[0].vertices
    xs = np.unique(v[:, 0])
    return xs, np.array([v[v[:, 0] == x, 1].min() for x in xs]), np.array([v[v[:, 0] == x, 1].max() for x in xs])


def inside(band: PolyCollection, points: np.ndarray) -> np.ndarray:
    xs, lower, upper = band_edges(band)
    return (points[:, 1] >= np.interp(points[:, 0], xs, lower)) & (points[:, 1] <= np.interp(points[:, 0], xs, upper))


def legend_texts(ax) -> list[str]:
    legends = [ax.get_legend(), *[a for a in ax.artists if isinstance(a, Legend)]]
    return [t.get_text() for legend in legends if legend is not None for t in legend.get_texts()]


@pytest.mark.parametrize("task", TASKS)
def test_emergence_chart_has_predictive_and_mean_bands_target_interval_range_and_units(forecaster, task) -> None:
    figure = emergence_figure(forecaster, task, target_scales={"7B-1xC": 22.4, "13B-2xC": 23.3})
    top, bottom = figure.axes[:2]
    rows = forecaster.training_rows
    rows = rows[rows["task"] == task]
    for ax, panel, metric in ((top, "success", "len_norm"), (bottom, "smooth", "bpb")):
        artists = by_gid(ax)
        for band in ("predictive90", "band90", "band50"):
            assert isinstance(artists[f"{band}-{panel}"], PolyCollection), (band, panel)
        observed = artists[f"observed-{panel}"].get_offsets()
        assert len(observed) == int((rows["metric"] == metric).sum()) > 0
        predictive, mean = artists[f"predictive90-{panel}"], artists[f"band90-{panel}"]
        # where observed results should fall: most do, in the predictive band; far fewer in the mean's
        assert inside(predictive, observed).mean() >= 0.8, (panel, inside(predictive, observed).mean())
        assert inside(mean, observed).mean() < inside(predictive, observed).mean() - 0.2
        _, p_lo, p_hi = band_edges(predictive)
        _, m_lo, m_hi = band_edges(mean)
        assert np.mean(p_hi - p_lo >= m_hi - m_lo) >= 0.95, "the predictive band is not the wider one"
        span = artists[f"training-range-{panel}"]  # axvspan: the training set's compute range
        assert np.allclose([span.get_x(), span.get_x() + span.get_width()],
                           [forecaster.design.x.min(), forecaster.design.x.max()])
        for i, scale in enumerate((22.4, 23.3)):
            assert artists[f"target-{i}-{panel}"].get_xdata()[0] == scale
    summary = forecaster.emergence().set_index("task").loc[task]
    artists = by_gid(top)
    level = artists["target-level"]
    assert np.allclose(level.get_ydata(), summary["target_success"]) and level.get_transform() != top.transData
    chance = forecaster.design.chance[TASKS.index(task)]
    assert np.allclose(artists["chance"].get_ydata(), chance) and top.get_ylim()[0] < chance < top.get_ylim()[1]
    interval = next(c for c in top.containers if isinstance(c, ErrorbarContainer))
    marker, _, (bar,) = interval.lines
    assert np.isclose(marker.get_xdata()[0], summary["log10_flops_median"])
    assert np.isclose(marker.get_ydata()[0], summary["target_success"])
    (x0, y0), (x1, y1) = bar.get_segments()[0]
    assert np.allclose([x0, x1], [summary["log10_flops_q05"], summary["log10_flops_q95"]]) and y0 == y1
    assert bottom.get_xlabel() == "training compute (log10 FLOPs)"
    assert "len_norm" in top.get_ylabel() and "acc" not in top.get_ylabel().replace("accuracy", "")
    smooth_label = bottom.get_ylabel().replace("\n", " ")
    assert "bpb: bits per byte of the correct answer" in smooth_label and "(lower is better)" in smooth_label
    texts = legend_texts(top)
    assert "90% predictive (observed)" in texts and "90% band of the mean" in texts and "training range" in texts
    assert f"emergence: median {summary['log10_flops_median']:.2f},\n90% [{summary['log10_flops_q05']:.2f}, " \
           f"{summary['log10_flops_q95']:.2f}]" in texts, texts
    assert figure.get_suptitle().startswith(f"{task}: emergence curve")


def test_a_median_beyond_the_range_is_an_arrow_at_the_edge_with_its_probability(forecaster) -> None:
    draws = forecaster.emergence_draws("arc_easy", None, 0.99)
    p_beyond = float(np.mean(np.isinf(draws)))
    assert p_beyond > 0.5, "precondition: 99% success lies beyond the searched range"
    top = emergence_figure(forecaster, "arc_easy", success_at=0.99).axes[0]
    artists = by_gid(top)
    arrow = artists["emergence-beyond"]
    right = top.get_xlim()[1]
    assert np.isclose(arrow.xy[0], right) and np.isclose(arrow.xy[1], 0.99) and arrow.arrow_patch is not None
    assert np.isclose(right, forecaster.search_range()[1])
    notes = [t.get_text() for t in top.texts]
    assert any(f"P = {p_beyond:.2f}" in n and "beyond" in n for n in notes), notes
    assert any(f"P(> {right:.1f}) = {p_beyond:.2f}" in t for t in legend_texts(top))
    assert not [c for c in top.containers if isinstance(c, ErrorbarContainer)], "no median marker to draw"


def test_an_upper_end_beyond_the_range_runs_the_interval_to_the_edge(forecaster) -> None:
    levels = np.arange(0.70, 0.95, 0.005)
    p_beyond = np.array([np.mean(np.isinf(forecaster.emergence_draws("arc_easy", None, s))) for s in levels])
    success_at = float(levels[np.argmax((p_beyond > 0.1) & (p_beyond < 0.45))])
    summary = forecaster.emergence(success_at=success_at).set_index("task").loc["arc_easy"]
    assert np.isfinite(summary["log10_flops_median"]) and np.isinf(summary["log10_flops_q95"]), summary
    top = emergence_figure(forecaster, "arc_easy", success_at=success_at).axes[0]
    right = top.get_xlim()[1]
    marker, _, (bar,) = next(c for c in top.containers if isinstance(c, ErrorbarContainer)).lines
    assert np.isclose(marker.get_xdata()[0], summary["log10_flops_median"])
    assert np.allclose(sorted(bar.get_segments()[0][:, 0]), [summary["log10_flops_q05"], right])
    assert np.isclose(by_gid(top)["emergence-beyond"].xy[0], right)
    assert any(f"beyond]; P(> {right:.1f}) = {summary['p_beyond_range']:.2f}" in t for t in legend_texts(top))


def test_emergence_curve_png_and_svg_render_deterministically(forecaster) -> None:
    first = png_pixels(emergence_curve(forecaster, TASKS[0]))
    second = png_pixels(emergence_curve(forecaster, TASKS[1]))
    assert first.std() > 0.05, "a blank image"
    assert not np.array_equal(first, second), "two tasks drew the same picture"
    assert np.array_equal(first, png_pixels(emergence_curve(forecaster, TASKS[0]))), "not deterministic"
    svg = emergence_curve(forecaster, TASKS[1], fmt="svg")
    assert {"predictive90-success", "band90-success", "observed-success", "target-level"} <= set(svg_groups(svg))


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "hellaswag"}, "not in this fit"),
    ({"task": "arc_easy", "fmt": "pdf"}, "png or svg"),
    ({"task": "arc_easy", "target_scales": {"big": float("nan")}}, "finite"),
    ({"task": "arc_easy", "target_scales": {"big": "soon"}}, "must be a number"),
    ({"task": "arc_easy", "n_grid": 1}, "n_grid"),
    ({"task": "arc_easy", "figsize": (8, 0)}, "figsize"),
])
def test_emergence_curve_bad_input_is_a_clear_value_error(forecaster, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        emergence_curve(forecaster, **kwargs)


def test_emergence_curve_of_an_unfitted_forecaster_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        emergence_curve(EmergenceForecaster(FitConfig(trend="compute")), "arc_easy")


def simulated_bins(n: int = 400, seed: int = 3) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Reliability bins of n simulated, slightly over-confident forecasts (as the scoring service
    builds them), with the raw probabilities and outcomes; forecasts of exactly 0 and 1 included."""
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.beta(0.7, 0.7, n - 10), np.zeros(5), np.ones(5)])
    o = (rng.random(n) < np.clip(0.5 + 0.8 * (p - 0.5), 0, 1)).astype(float)
    b = scoring.reliability_bins(p, o, 10)
    bins = [{"lower": float(b["lower"][k]), "upper": float(b["upper"][k]), "count": int(b["count"][k]),
             "mean_forecast": float(b["mean_forecast"][k]) if b["count"][k] else None,
             "observed_frequency": float(b["observed_frequency"][k]) if b["count"][k] else None} for k in range(10)]
    return bins, p, o


def test_reliability_diagram_shows_ece_brier_parts_wilson_intervals_counts_and_the_handle() -> None:
    bins, p, o = simulated_bins()
    parts = scoring.brier_decomposition(p, o, 10)
    ece = scoring.expected_calibration_error(p, o, 10)
    figure = calibration_figure(bins, [0] * 10, title="@alice: 400 binary, 0 numeric forecasts resolved",
                                brier=parts["brier"])
    assert len(figure.axes) == 1, "no numeric scores: no PIT panel"
    assert "@alice" in figure.get_suptitle()
    ax = figure.axes[0]
    texts = " | ".join(legend_texts(ax))
    assert f"ECE = {ece:.3f}" in texts and f"Brier = {parts['brier']:.3f}" in texts, texts
    assert (f"REL {parts['reliability']:.3f} − RES {parts['resolution']:.3f} + UNC {parts['uncertainty']:.3f}"
            in texts), texts
    used = [b for b in bins if b["count"]]
    artists = by_gid(ax)
    counts = sorted(t.get_text() for gid, t in artists.items() if gid.startswith("bin-count-"))
    assert counts == sorted(f"n={b['count']}" for b in used)
    points = artists["reliability-bins"]
    assert len(points.get_offsets()) == len(used) and not points.get_clip_on()
    assert np.allclose(points.get_offsets(), [[b["mean_forecast"], b["observed_frequency"]] for b in used])
    for low, high in (ax.get_xlim(), ax.get_ylim()):  # markers at 0 and 1 are whole, not half-clipped
        assert low < 0 and high > 1
    bars = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    segments = bars.lines[2][0].get_segments()
    for segment, b in zip(segments, used):
        k = round(b["observed_frequency"] * b["count"])
        ci = stats.binomtest(k, b["count"]).proportion_ci(confidence_level=0.9, method="wilson")
        assert np.allclose(sorted(segment[:, 1]), [ci.low, ci.high]), (b, segment, ci)
    assert "forecast probability" in ax.get_xlabel() and "observed frequency" in ax.get_ylabel()


def test_pit_panel_is_a_density_against_the_uniform_line_with_coverage() -> None:
    bins, _, _ = simulated_bins()
    pit = [3, 0, 1, 4, 2]
    figure = calibration_figure(bins, pit, title="@bob", coverage={"coverage_50": 0.4, "coverage_90": 0.8})
    assert len(figure.axes) == 2
    ax = figure.axes[1]
    artists = by_gid(ax)
    heights = [artists[f"pit-bar-{i}"].get_height() for i in range(len(pit))]
    assert np.allclose(heights, np.array(pit) / sum(pit) * len(pit))  # a density: the uniform is 1
    assert np.allclose(artists["pit-uniform"].get_ydata(), 1.0)
    assert "PIT" in ax.get_xlabel() and "density" in ax.get_ylabel()
    assert {"50% interval covers 40%", "90% interval covers 80%"} <= set(legend_texts(ax))
    png = png_pixels(calibration_plots(bins, pit))
    assert png.std() > 0.05
    assert not np.array_equal(png, png_pixels(calibration_plots(bins, [0, 0, 10, 0, 0]))), "PIT counts not drawn"


def test_wilson_interval_matches_scipy_and_holds_its_proportion() -> None:
    for k, n in ((0, 5), (3, 4), (7, 7), (40, 97)):
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        assert np.allclose(wilson_interval(np.array([k]), np.array([n])), [[ci.low], [ci.high]])
    n = np.repeat(np.arange(1, 60), 60)
    k = np.minimum(np.tile(np.arange(60), 59), n)
    low, high = wilson_interval(k, n)
    assert np.all((low <= k / n) & (k / n <= high)), "an interval that misses its own proportion"
    one = [{"lower": 0.9, "upper": 1.0, "count": 1, "mean_forecast": 0.9, "observed_frequency": 1.0},
           {"lower": 0.0, "upper": 0.1, "count": 1, "mean_forecast": 0.1, "observed_frequency": 0.0}]
    png_pixels(calibration_plots(one, [1]))  # single forecasts at the ends render (no negative error bar)


def test_calibration_plots_with_nothing_resolved_yet_still_render() -> None:
    empty = [{**b, "count": 0, "mean_forecast": None, "observed_frequency": None} for b in simulated_bins()[0]]
    figure = calibration_figure(empty, [0] * 10)
    assert len(figure.axes) == 1 and "reliability-bins" not in by_gid(figure.axes[0])
    assert not any("ECE" in t for t in legend_texts(figure.axes[0]))
    assert "reliability-bins" not in svg_groups(calibration_plots([], [], fmt="svg"))
    png_pixels(calibration_plots([], []))


BINS = simulated_bins()[0]


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


def test_calibration_plots_bad_brier_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="brier"):
        calibration_plots(BINS, [1], brier=1.5)


def test_cli_plot_emergence_writes_png_and_svg(fit_path, tmp_path) -> None:
    runner = CliRunner()
    png, svg = tmp_path / "out" / "arc.png", tmp_path / "out" / "piqa.svg"
    png.parent.mkdir()  # the CLI refuses to create a missing output directory
    for task, out in (("arc_easy", png), ("piqa", svg)):
        result = runner.invoke(cli_app, ["plot", "emergence", "--fit", str(fit_path), "--task", task, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.output
    png_pixels(png.read_bytes())
    assert any(t.startswith("piqa: emergence curve") for t in svg_texts(svg.read_bytes()))
    assert "observed-success" in svg_groups(svg.read_bytes())


@pytest.mark.parametrize("args, message", [
    (["--task", "hellaswag", "--out", "x.png"], "not in this fit"),
    (["--task", "arc_easy", "--out", "x.pdf"], "use one of .png, .svg"),
])
def test_cli_plot_bad_input_exits_2_without_traceback(fit_path, tmp_path, args, message) -> None:
    result = CliRunner().invoke(cli_app, ["plot", "emergence", "--fit", str(fit_path),
                                          *[str(tmp_path / a) if a.startswith("x.") else a for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir()), "nothing is written on error"
