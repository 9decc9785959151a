"""The `turnsignal` command line. Heavy libraries (PyMC) are imported inside commands, never at start."""
from __future__ import annotations

import typer

from models.config import FitConfig  # light: pydantic only (no pandas, numpy or PyMC)
from api.cli_io import (FIT_SUFFIXES, PLOT_SUFFIXES, SIGNIFICANT_DIGITS, CliGroup, ProgressLines, check_out,
                        check_out_dir, input_file, load_fit, read_csv, read_eval, say, write_bytes,
                        write_table)

# CliGroup: every error ends in a one- or two-line message and exit 2 (user) or 1 (internal), no traceback
app = typer.Typer(help="Turnsignal: forecast, bet on and score capability emergence.", no_args_is_help=True,
                  cls=CliGroup, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"turnsignal {version('turnsignal')}")
        except PackageNotFoundError:
            typer.echo("turnsignal (version unknown: not installed)")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit"),
) -> None:
    """Turnsignal command line."""


# --- REST service commands (issue 3): `serve` and `admin create-participant` -------------------
admin_app = typer.Typer(help="Administer the REST service's database.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="uvicorn worker processes (safe on SQLite and PostgreSQL; each migrates, one at a time)", min=1),
    with_worker: bool = typer.Option(False, "--with-worker/--no-worker", help="also start a fit worker process"),
) -> None:
    """Apply database migrations, then serve the REST API (database from TURNSIGNAL_DATABASE_URL)."""
    import subprocess
    import sys

    import uvicorn

    worker = None
    if with_worker:  # started after the API's migrations would race; the worker migrates too (idempotent)
        import signal

        # uvicorn re-raises the SIGTERM it shut down on with the handler found at start: make that one
        # exit through `finally` (stopping the worker) instead of killing this process on the spot
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        worker = subprocess.Popen([sys.executable, "-m", "api.domain.fits.worker"])
        typer.echo(f"turnsignal: fit worker started (pid {worker.pid})", err=True)
    typer.echo(f"turnsignal: serving on http://{host}:{port} (OpenAPI at /schema)", err=True)
    try:
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")
    finally:
        if worker is not None:  # Ctrl-C or SIGTERM stops both
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()


@app.command("worker")
def worker_command() -> None:
    """Run a fit worker: takes queued fits from the database (TURNSIGNAL_DATABASE_URL) and runs them."""
    from api.domain.fits.worker import main as run_worker_main

    run_worker_main()


plot_app = typer.Typer(help="Write plots (PNG or SVG, by the --out suffix).", no_args_is_help=True)
app.add_typer(plot_app, name="plot")


@plot_app.command("emergence")
def plot_emergence(
    fit_path: str = typer.Option(..., "--fit", help="a saved fit (NetCDF)"),
    task: str = typer.Option(..., "--task", help="the task to draw"),
    out: str = typer.Option(..., "--out", help="emergence.png or .svg (- : PNG on stdout)"),
) -> None:
    """Emergence curve of one task: observed points, posterior median, 50/90% bands vs log10 FLOPs."""
    from models.plots import emergence_curve

    fmt = check_out(out, PLOT_SUFFIXES)
    write_bytes(emergence_curve(load_fit(fit_path), task, fmt="png" if fmt == "-" else fmt), out)


@admin_app.command("create-participant")
def create_participant(
    handle: str = typer.Option(..., help="unique handle, letters/digits/._-"),
    display_name: str = typer.Option(..., help="name shown on leaderboards"),
    role: str = typer.Option("participant", help="admin | participant"),
    bot: bool = typer.Option(False, "--bot", help="mark the participant as a bot"),
) -> None:
    """Create a participant (migrating the database first) and print its API key once."""
    import asyncio

    from api.admin import create_participant_with_migrations

    try:
        key = asyncio.run(create_participant_with_migrations(handle, display_name, role, bot))
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(key)


# --- Forecasting commands (issue 2): fit, predict, emergence, backtest, data -------------------
data_app = typer.Typer(help="Convert evaluation results into the eval table.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _config_option(field: str, flag: str, comma_list: bool = False) -> typer.models.OptionInfo:
    """The option `flag` for FitConfig's `field`, with that field's default and description as help; a
    `comma_list` option takes the list as one comma-separated string."""
    info = FitConfig.model_fields[field]
    default = info.get_default(call_default_factory=True)
    if comma_list:
        default = ",".join(default) if default else None
    return typer.Option(default, flag, help=f"{info.description}{' (comma list)' if comma_list else ''}")


SMOOTH_OPT = _config_option("smooth_metric", "--smooth")
SUCCESS_OPT = _config_option("success_metric", "--success", comma_list=True)
FAMILY_OPT = _config_option("families", "--family", comma_list=True)
TASKS_OPT = _config_option("tasks", "--tasks", comma_list=True)
SEED_OPT = _config_option("seed", "--seed")
TREND_OPT = _config_option("trend", "--trend")
SAMPLER_OPT = _config_option("sampler", "--sampler")
DRAWS_OPT = _config_option("draws", "--draws")
TUNE_OPT = _config_option("tune", "--tune")
CHAINS_OPT = _config_option("chains", "--chains")
CHECKPOINTS_OPT = _config_option("link_checkpoints", "--link-checkpoints")
CHANCE_OPT = typer.Option(None, "--chance", help="chance rate for success rows that lack a `chance` column")
DIRECTION_OPT = typer.Option(None, "--smooth-direction", help="lower|higher: direction of an unknown smooth metric")
PROGRESS_OPT = typer.Option(None, "--progress/--no-progress", help="sampler progress bar (default: on a terminal)")


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _fit_config(smooth, success, family, tasks, seed, trend, sampler, draws, tune, chains, link_checkpoints=None):
    """The FitConfig of the fit options (comma lists split); an option not given keeps FitConfig's default."""
    options = dict(smooth_metric=smooth, success_metric=_split(success), families=_split(family), tasks=_split(tasks),
                   seed=seed, trend=trend, sampler=sampler, draws=draws, tune=tune, chains=chains,
                   link_checkpoints=link_checkpoints)
    return FitConfig(**{name: value for name, value in options.items() if value is not None})


def _read_table(path, chance, direction, smooth=None):
    """The eval table of --data; with `smooth` (--smooth's value), checked to have that smooth metric."""
    table = read_eval(path, "--data", chance, direction)
    if smooth is not None:
        from forecast.surrogate import check_smooth_metric

        try:
            check_smooth_metric(table, smooth)
        except ValueError as error:
            raise ValueError(f"--smooth: {error}") from None
    return table


def _fit(table, config, progress, margins=None):
    import contextlib
    import sys

    from models.stacking import make_forecaster

    show = sys.stderr.isatty() if progress is None else progress
    forecaster = make_forecaster(config)
    stacked = config.trend == "stacked"
    what = ("both trend forms, then both again without each family's largest models and again without its "
            "longest-trained runs, for the stacking weights and the link discrepancy"
            if stacked else f"the {config.trend} trend form")
    say(f"fitting the hierarchical model, {what} ({config.sampler}, {config.chains} chains x {config.draws} "
        "draws); each fit compiles first, longer if `turnsignal precompile` never ran")
    # no progress bar (a log, a pipe): a line every few seconds instead, so a long fit is visibly alive
    with contextlib.nullcontext() if show else ProgressLines(config.chains * (config.tune + config.draws)) as lines:
        forecaster.fit(table, progress=show, margins=margins, on_phase=lines and lines.phase,
                       on_draws=lines and lines.iterations)
    d = forecaster.diagnostics
    say(f"fitted {len(forecaster.design.tasks)} tasks on {len(forecaster.design.models)} models: compile "
        f"{d.compile_seconds:.1f} s, sampling {d.sampling_seconds:.1f} s, max R-hat {d.rhat_max:.3f}, "
        f"min bulk ESS {d.ess_bulk_min:.0f}, {d.divergences} divergences")
    for warning in d.warnings:
        say(f"WARNING: {warning}")
    if stacked:
        weights = ", ".join(f"{form} {w:.2f}" for form, w in forecaster.weights.items())
        say(f"stacking weights: {weights} ({forecaster.weights_from}); link discrepancy "
            f"{forecaster.link_discrepancy:.2f} spreads per decade of compute and {forecaster.token_discrepancy:.2f} "
            "per decade of tokens per parameter beyond the training range")
        for note in forecaster.notes:
            say(f"note: {note}")
    if config.smooth_metric == "auto":
        from forecast.surrogate import choice_summary

        say(choice_summary(forecaster.smooth_choice_record()))
    return forecaster


@app.command()
def fit(
    data: str = typer.Option(..., "--data", help="eval table (CSV, Parquet or lm-eval results JSON)"),
    out: str = typer.Option(..., "--out", help="where to write the fit (NetCDF: fit.nc)"),
    smooth: str = SMOOTH_OPT, success: str = SUCCESS_OPT, family: str = FAMILY_OPT, tasks: str = TASKS_OPT,
    seed: int = SEED_OPT, trend: str = TREND_OPT, sampler: str = SAMPLER_OPT, draws: int = DRAWS_OPT,
    tune: int = TUNE_OPT, chains: int = CHAINS_OPT, chance: float = CHANCE_OPT, smooth_direction: str = DIRECTION_OPT,
    progress: bool = PROGRESS_OPT,
    margins: str = typer.Option(None, "--margins", help="per-example margin summaries CSV (`turnsignal data "
                                "lm-eval-samples`): they inform each task's threshold and spread"),
    link_checkpoints: str = CHECKPOINTS_OPT,
) -> None:
    """Fit the hierarchical model to an eval table and save the posterior (with its config) to --out."""
    check_out(out, FIT_SUFFIXES, stdout_ok=False)
    input_file(data, "--data")
    config = _fit_config(smooth, success, family, tasks, seed, trend, sampler, draws, tune, chains,
                         link_checkpoints)
    margin_table = read_csv(margins, "--margins") if margins else None
    table = _read_table(data, chance, smooth_direction, config.smooth_metric)
    path = _fit(table, config, progress, margin_table).save(out)
    say(f"wrote {path}")


@app.command()
def precompile(
    every_checkpoint: bool = typer.Option(False, "--every-checkpoint",
                                          help="also the compute form with the link on every checkpoint "
                                               "(`--link-checkpoints all`, not the default)"),
) -> None:
    """Compile the default fit's model structures into the compile cache once (`make install` runs this),
    so a first fit compiles only what is specific to its data. Once per install; its time on 2 cores is in
    docs/performance.md."""
    from models import compile_cache_dir
    from models.precompile import EVERY_CHECKPOINT_STRUCTURES, STRUCTURES
    from models.precompile import precompile as run_precompile

    say(f"pre-compiling into {compile_cache_dir()} (one time; later fits of these structures reuse it)")
    timings = run_precompile(STRUCTURES + (EVERY_CHECKPOINT_STRUCTURES if every_checkpoint else ()), on_progress=say)
    say(f"pre-compiled {len(timings)} model structures in {sum(seconds for _, seconds in timings):.0f} s")


def _table_out(what: str):
    """The optional `--out` of a command that prints its table: the file's suffix picks the format."""
    return typer.Option(None, "--out", help=f"{what} .csv, .json or .parquet; - for CSV on stdout "
                        "(the table is printed, too, except with -)")


@app.command()
def predict(
    targets: str = typer.Option(..., "--targets", help="CSV: model, params, tokens or compute_flops, task"),
    out: str = _table_out("predictions"),
    fit_path: str = typer.Option(None, "--fit", help="a saved fit (from `turnsignal fit`)"),
    data: str = typer.Option(None, "--data", help="or an eval table to fit first"),
    smooth: str = SMOOTH_OPT, success: str = SUCCESS_OPT, family: str = FAMILY_OPT, tasks: str = TASKS_OPT,
    seed: int = SEED_OPT, trend: str = TREND_OPT, sampler: str = SAMPLER_OPT, draws: int = DRAWS_OPT,
    tune: int = TUNE_OPT, chains: int = CHAINS_OPT, chance: float = CHANCE_OPT, smooth_direction: str = DIRECTION_OPT,
    progress: bool = PROGRESS_OPT,
) -> None:
    """Predicted success quantiles (and the smooth metric) for target models."""
    if (fit_path is None) == (data is None):
        raise ValueError("give exactly one of --fit (a saved fit) or --data (an eval table to fit)")
    check_out(out)
    target_table = read_csv(targets, "--targets")
    missing = sorted({"task", "params"} - set(target_table.columns))
    if missing:
        raise ValueError(f"--targets {targets}: no column {', '.join(missing)} (columns: model, params, "
                         "tokens or compute_flops, task)")
    forecaster = _load_or_fit(fit_path, data, chance, smooth_direction, progress,
                              smooth, success, family, tasks, seed, trend, sampler, draws, tune, chains)
    try:
        predictions = forecaster.predict(target_table, seed=seed)
    except ValueError as error:  # tasks not in the fit, sizes missing: name the file
        raise ValueError(f"--targets {targets}: {error}") from None
    if forecaster.config.smooth_metric == "auto":  # which metric each task's smooth columns are in
        from forecast.surrogate import label_predictions

        predictions = label_predictions(predictions, forecaster.training_rows)
    write_table(predictions, out, digits=SIGNIFICANT_DIGITS, echo=True)


def _load_or_fit(fit_path, data, chance, direction, progress, *config_args):
    if fit_path is not None:
        return load_fit(fit_path)
    config = _fit_config(*config_args)
    return _fit(_read_table(data, chance, direction, config.smooth_metric), config, progress)


LEVEL_OPT = typer.Option(None, "--level", help="relative level q: chance + q (1 - chance) [default 0.5]")
SUCCESS_AT_OPT = typer.Option(None, "--success-at", help="or an absolute success rate, e.g. 0.6")
REACHED_BY_OPT = typer.Option(None, "--reached-by", help="also report P(emerged by this log10 FLOPs)")


@app.command()
def emergence(
    fit_path: str = typer.Option(..., "--fit", help="a saved fit"), out: str = _table_out("emergence"),
    level: float = LEVEL_OPT, success_at: float = SUCCESS_AT_OPT, reached_by: float = REACHED_BY_OPT,
) -> None:
    """Posterior emergence scale per task, in log10 training FLOPs (inf = beyond the searched range)."""
    if level is not None and success_at is not None:
        raise ValueError("give at most one of --level or --success-at")
    check_out(out)
    forecaster = load_fit(fit_path)
    table = forecaster.emergence(level=None if success_at is not None else (level or 0.5),
                                 success_at=success_at, reached_by=reached_by)
    lo, hi = forecaster.search_range()
    say(f"searched {lo:.1f} to {hi:.1f} log10 FLOPs")
    if forecaster.config.smooth_metric == "auto":
        from forecast.surrogate import choice_summary

        say(choice_summary(forecaster.smooth_choice_record()))
    write_table(table, out, digits=SIGNIFICANT_DIGITS, echo=True)


BACKTEST_HELP = """Blind backtest: fit on small models only, predict larger ones, score all methods alike.

Methods: hierarchical (the config's trend form), hierarchical_stacked (compute and params_tokens
trend forms mixed by Bayesian stacking of a leave-largest-out check on the training runs, widened
beyond the training range by the link discrepancy that check estimates; PSIS-LOO weights when a
family has under 3 sizes or under 3 runs below its largest; weights and discrepancy are printed and
written to diagnostics.json),
B1_logistic and B2_two_step (baselines). Held-out results are always final checkpoints;
--link-checkpoints all lets the training runs' intermediate checkpoints inform the link.

Cuts: --train-max-params (or --train-max-flops) takes one value or a comma list (e.g.
760e6,370e6); every scenario then predicts the same models, those above the largest cut.

Without a cut, the extrapolation-matched default suite runs (one family only): a cut can sit at each
model size leaving >= 3 training runs in >= 2 sizes; its reach is the compute of the largest model
over the largest training run; the suite takes the smallest cut with reach 3-30x ("near", about a
decade) and the smallest with reach 30-300x ("far", about two decades). OLMo-2 ladder: <= 760M
(17x) and <= 370M (73x), both predicting the 1.3B and 3.2B runs; Pythia: <= 410M (29x).

Output (--out directory): predictions.csv, summary.csv (per cut x method x extrapolation-ratio bin:
MAE, CRPS, 50%/90% coverage and width, in percentage points), summary.json (also each method's jump
discrimination: Spearman and AUC of predicted vs actual jump over the largest training run; and the
shuffle test's CRPS/MAE ratios with --shuffle-test), diagnostics.json.

Methods' `hierarchical` uses --trend's form (compute when --trend is stacked, the default).
"""


def _cuts(train_max_params: str | None, train_max_flops: str | None):
    """Parse the comma lists of cuts; None when neither is given (the default suite)."""
    from models.backtest import Cut

    if train_max_params is not None and train_max_flops is not None:
        raise ValueError("give at most one of --train-max-params or --train-max-flops")
    if train_max_params is None and train_max_flops is None:
        return None
    by, option, text = ("params", "--train-max-params", train_max_params) if train_max_params is not None else \
        ("flops", "--train-max-flops", train_max_flops)
    values = []
    for item in _split(text) or []:
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"{option}: {item!r} is not a number") from None
    if not values:
        raise ValueError(f"{option} needs at least one number")
    return [Cut(by, v) for v in values]


@app.command(help=BACKTEST_HELP)
def backtest(
    data: str = typer.Option(..., "--data", help="eval table"),
    out: str = typer.Option(..., "--out", help="output directory"),
    train_max_params: str = typer.Option(None, "--train-max-params", help="train on models with params <= N; "
                                         "a comma list runs one scenario per cut (default: the suite described above)"),
    train_max_flops: str = typer.Option(None, "--train-max-flops", help="or with compute <= C FLOPs (comma list)"),
    methods: str = typer.Option(None, "--methods", help="comma list of hierarchical, hierarchical_stacked, "
                                "B1_logistic, B2_two_step (default: all)"),
    n_boot: int = typer.Option(200, "--n-boot", help="bootstrap replicates of the baselines"),
    smooth: str = SMOOTH_OPT, success: str = SUCCESS_OPT, family: str = FAMILY_OPT, tasks: str = TASKS_OPT,
    seed: int = SEED_OPT, trend: str = TREND_OPT, sampler: str = SAMPLER_OPT, draws: int = DRAWS_OPT,
    tune: int = TUNE_OPT, chains: int = CHAINS_OPT, chance: float = CHANCE_OPT, smooth_direction: str = DIRECTION_OPT,
    progress: bool = PROGRESS_OPT, link_checkpoints: str = CHECKPOINTS_OPT,
    shuffle_test: bool = typer.Option(False, "--shuffle-test", help="also refit the single-form hierarchical model "
                                      "with each task's smooth series given to another task, and report how much "
                                      "worse its held-out predictions get"),
    shuffle_permutations: int = typer.Option(5, "--shuffle-permutations", min=1,
                                             help="random permutations (seeded by --seed) of the shuffle test"),
    scenario: str = typer.Option("sizes", "--scenario", help="sizes (the cuts above) | tokens (train on every "
                                 "size's 1xC and 2xC runs, predict the 5xC and 10xC ones; and train on every run "
                                 "up to the third-largest size, predict the second-largest size's longest run)"),
) -> None:
    import sys

    check_out_dir(out)
    input_file(data, "--data")
    config = _fit_config(smooth, success, family, tasks, seed, trend, sampler, draws, tune, chains,
                         link_checkpoints)
    from models.backtest import METHODS, default_cuts, format_summary_table, format_weights, run_backtest_suite
    from models.backtest.run import run_token_suite

    if scenario not in ("sizes", "tokens"):
        raise ValueError(f"--scenario must be sizes or tokens, not {scenario!r}")

    def report(scenario) -> None:
        weights = format_weights(scenario)
        say(f"{scenario.label}: reach {scenario.reach:.3g}x, {len(scenario.training_models)} training models, "
            f"{len(scenario.heldout_models)} held-out models" + (f"; stacking weights {weights}" if weights else ""))
        for note in scenario.notes:
            say(f"{scenario.label}: note: {note}")

    cuts = _cuts(train_max_params, train_max_flops)
    chosen = _split(methods) or list(METHODS)
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if scenario == "tokens" and (cuts is not None or shuffle_test):
        raise ValueError("--scenario tokens sets its own splits: drop --train-max-params/--train-max-flops and "
                         "--shuffle-test")
    table = _read_table(data, chance, smooth_direction, config.smooth_metric)
    show = sys.stderr.isatty() if progress is None else progress
    if scenario == "tokens":
        say(f"token-extrapolation scenarios ({', '.join(chosen)})")
        suite = run_token_suite(table, config=config, n_boot=n_boot, methods=chosen, on_scenario=report, progress=show)
    else:
        if cuts is None:
            cuts = default_cuts(table, config)
            say("no cut given: the extrapolation-matched default suite, " + ", ".join(c.label for c in cuts))
        say(f"fitting on the training models and predicting the held-out ones ({', '.join(chosen)}); "
            f"{len(cuts)} scenario(s)")
        suite = run_backtest_suite(table, cuts, config=config, n_boot=n_boot, methods=chosen, on_scenario=report,
                                   progress=show, shuffle_permutations=shuffle_permutations if shuffle_test else 0)
    suite.write(out)
    typer.echo(format_summary_table(suite.summary))
    from models.backtest.shuffle import format_discrimination, format_shuffle

    for result in suite.scenarios:
        if result.stacking_weights:
            typer.echo(f"stacking weights ({result.label}): {format_weights(result)}")
        typer.echo("\n".join(f"{result.label}: {line}" for line in format_discrimination(result.discrimination)
                             .splitlines()))
        if result.shuffle:
            typer.echo(f"{result.label}: {format_shuffle(result.shuffle)}")
    say(f"wrote predictions and summary to {out}")


def _convert(adapter_name: str, out: str, path: str, **kwargs) -> None:
    """Run a ``forecast.adapters`` function on the file ``path`` and write its table to ``out``; a file
    without the columns the adapter reads is a user error naming the file."""
    check_out(out)
    input_file(path, "input")
    import forecast.adapters as adapters

    try:
        table = getattr(adapters, adapter_name)(path, **kwargs)
    except KeyError as error:
        raise ValueError(f"input {path}: no column {error.args[0]!r}: not the file this command converts "
                         "(see --help)") from None
    write_table(table, out)


def _shared_data_command(name: str, adapter_name: str, source: str, summary: str, smooth: str | None = None) -> None:
    """Register `turnsignal data NAME PATH --out F [--checkpoints final|all]` for one shared-data adapter;
    `smooth` (the metrics the adapter can keep) adds `--smooth` (comma list)."""

    def convert(
        path: str = typer.Argument(..., help=source),
        out: str = typer.Option(..., "--out", help="eval table to write (CSV or Parquet)"),
        checkpoints: str = typer.Option("final", "--checkpoints", help="final | all"),
        smooth_metrics: str = typer.Option(None, "--smooth", help=f"smooth metrics to keep (comma list of "
                                           f"{smooth or 'none: this source has one'}; default: the first)"),
    ) -> None:
        if smooth_metrics is not None and smooth is None:
            raise ValueError(f"--smooth: `turnsignal data {name}` has no choice of smooth metric")
        extra = {"smooth": _split(smooth_metrics)} if smooth_metrics is not None else {}
        try:
            _convert(adapter_name, out, path, checkpoints=checkpoints, **extra)
        except ValueError as error:  # the adapter's "smooth: ..." / "checkpoints: ..." names the option
            raise ValueError(f"--{error}" if str(error).startswith(("smooth:", "checkpoints:")) else str(error)) from None

    convert.__doc__ = summary
    data_app.command(name)(convert)


_shared_data_command("olmo", "olmo_ladder", "olmo_ladder_final_checkpoints.csv or olmo_ladder_long.csv.gz",
                     "OLMo-2 ladder (shared data) -> eval table: rc format, bpb smooth, len_norm success (acc for boolq).",
                     smooth="bpb, soft, soft_log")
_shared_data_command("pythia", "pythia_lambada", "pythia_evals_core_long.csv",
                     "Pythia LAMBADA (shared data) -> eval table: ppl smooth, acc success.")
_shared_data_command("obsscaling", "obsscaling", "obsscaling_long.csv",
                     "ObsScaling base models of many families (shared data) -> eval table: success rows, and a "
                     "derived smooth `capability` (task *: mean logit of normalised MMLU, ARC-C, HellaSwag, "
                     "Winograd scores).")


@data_app.command("lm-eval-samples")
def data_lm_eval_samples(
    path: str = typer.Argument(..., help="a --log_samples file (samples_<task>_<time>.jsonl or .json, or the "
                               "0.4.0 <model_args>_<task>.jsonl), or the run's output folder"),
    out: str = typer.Option(None, "--out", help="margin summaries CSV, for `turnsignal fit --margins` "
                            "(default, or '-': CSV on stdout)"),
    family: str = typer.Option(None, "--family", help="model family (default: the model name)"),
    model: str = typer.Option(None, "--model", help="model name (default: from the run's results JSON beside "
                              "the samples, as `data lm-eval` takes it)"),
) -> None:
    """lm-eval per-sample log-likelihoods -> per-(task, model) margin summaries (mean, sd in nats, n, accuracy).

    Files of generative and loglikelihood tasks are skipped with a note; ties count as the harness counts them.
    """
    from forecast.adapters import lm_eval_samples, margins_summary

    table = margins_summary(lm_eval_samples(path, family=family, model=model, note=say))
    write_table(table, out or "-")  # CSV on stdout by default: a data table feeds other tools


@data_app.command("lm-eval")
def data_lm_eval(
    path: str = typer.Argument(..., help="lm-evaluation-harness results JSON (results_<time>.json)"),
    out: str = typer.Option(None, "--out", help="eval table to write (CSV or Parquet; default, or '-': CSV on "
                            "stdout)"),
    family: str = typer.Option(None, "--family", help="model family (default: the model name)"),
    model: str = typer.Option(None, "--model", help="model name (default: pretrained= of config.model_args)"),
    params: float = typer.Option(None, "--params", help="parameter count (default: config.model_num_parameters)"),
    tokens: float = typer.Option(None, "--tokens", help="training tokens"),
    chance: list[str] = typer.Option(None, "--chance", help="TASK=RATE (repeat or comma-separate) sets named "
                                     "tasks' chance rates; a bare RATE applies to every task. Default: per task, "
                                     "from the file's task configs, the run's samples files, the output type "
                                     "and the built-in table (forecast.adapters.LM_EVAL_CHANCE)"),
    samples: str = typer.Option(None, "--samples", help="folder of the run's samples files, for chance rates "
                                "(default: beside the results file, same time)"),
) -> None:
    """lm-evaluation-harness aggregated results -> eval table rows (group aggregates left out, per-task chance)."""
    from forecast.adapters import lm_eval_results, parse_chance

    table = lm_eval_results(path, family=family, model=model, params=params, tokens=tokens,
                            chance=parse_chance(chance), samples_dir=samples, note=say)
    write_table(table, out or "-")  # CSV on stdout by default: a data table feeds other tools


if __name__ == "__main__":
    app()
