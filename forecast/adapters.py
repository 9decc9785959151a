"""Adapters from public evaluation logs into the eval table (see `forecast.evaltable`).

- `olmo_ladder`: the OLMo-2 model ladder (Bhagia et al. 2024) tidy CSVs in `../shared/data/olmo_ladder`.
- `pythia_lambada`: Pythia v1 LAMBADA (OpenAI) perplexity and accuracy from `../shared/data/pythia_evals`.
- `obsscaling`: ObsScaling base-model scores of many families (`../shared/data/obsscaling`), with a
  derived smooth `capability`.
- `lm_eval_results`: lm-evaluation-harness aggregated results JSON (current `"acc,none"` keys and the
  older plain `"acc"` keys), with per-task chance rates (`lm_eval_chance`, `LM_EVAL_CHANCE`).
- `lm_eval_samples` / `margins_summary`: per-example margins from the harness's `--log_samples`
  files (`lm_eval_sample_files` finds them).

Every table-returning adapter returns a validated eval table (`validate_eval_table`).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast.evaltable import EvalTableError, Problem, final_checkpoints, read_csv_table, validate_eval_table
from forecast.metrics import known_metric_names, lookup_metric

Checkpoints = Literal["final", "all"]

# ----------------------------------------------------------------------------- OLMo ladder

# Chance rates from ../shared/data/olmo_ladder/README.md (random guessing over the choices).
OLMO_CHANCE: dict[str, float] = {
    "mmlu": 1 / 4,
    "hellaswag": 1 / 4,
    "arc_easy": 1 / 4,
    "arc_challenge": 1 / 4,
    "openbookqa": 1 / 4,
    "csqa": 1 / 5,
    "socialiqa": 1 / 3,
    "piqa": 1 / 2,
    "boolq": 1 / 2,
    "winogrande": 1 / 2,
    "copa": 1 / 2,
}
OLMO_SMOOTH_METRIC = "bpb"
OLMO_SMOOTH_METRICS = ("bpb", "soft", "soft_log")
"""The smooth metrics of the ladder's rc rows (data README: bits per byte, mean probability and mean
log-probability of the correct choice)."""
OLMO_SUCCESS_METRIC = "len_norm"
# boolq has no len_norm (two one-word answers); its success metric is plain `acc`.
OLMO_SUCCESS_OVERRIDES: dict[str, str] = {"boolq": "acc"}
OLMO_SOURCE_DIR = "peteish-moreeval"
OLMO_FORMAT = "rc"
_OLMO_COLUMNS = [
    "family", "model", "params", "tokens", "task", "subtask", "shots", "metric", "value",
    "split", "format", "run", "chinchilla_multiple", "step", "source_dir",
]


def olmo_ladder(
    path: str | Path,
    *,
    checkpoints: Checkpoints = "final",
    split: str = "val",
    smooth: tuple[str, ...] | list[str] = (OLMO_SMOOTH_METRIC,),
) -> pd.DataFrame:
    """OLMo-2 ladder runs as an eval table: `bpb` (smooth, bits per byte) and accuracy (success).

    `smooth` lists the smooth metrics kept (any of `OLMO_SMOOTH_METRICS`: `bpb`; `soft` and
    `soft_log`, the mean probability and log-probability of the correct choice), for a fit's
    `--smooth auto` to choose among.

    `path` is `olmo_ladder_final_checkpoints.csv`, `olmo_ladder_long.csv.gz` (every checkpoint) or a
    raw slice of either with the same columns. Rows kept: `format == "rc"` (cloze / ranked
    classification), `source_dir == "peteish-moreeval"` (the other folders re-log the same runs or
    study learning-rate schedules), `split == split` (default "val": every task has a val split,
    only arc_*, mmlu and openbookqa also log test, which would otherwise give two rows per run and
    task), metrics `bpb` and `len_norm` (`acc` for boolq, which has no len_norm; the metric name
    stays `acc` on boolq rows). Each training run (`run`, e.g. `190M-1xC`, `1B-1xC-rerun`) is one
    model; MMLU subtasks become tasks `mmlu_stem`, `mmlu_humanities`, `mmlu_social_sciences`,
    `mmlu_other`. `checkpoints="final"` keeps each run's last logged step, "all" every step.

    Extra metadata columns: `ladder_size` (the file's `model`, e.g. "ladder-190M") and
    `chinchilla_multiple` (tokens / Chinchilla-optimal tokens).
    """
    _check_checkpoints(checkpoints)
    raw = pd.read_csv(path, usecols=lambda c: c in _OLMO_COLUMNS)
    unknown = sorted(set(smooth) - set(OLMO_SMOOTH_METRICS))
    if unknown or not smooth:
        raise ValueError(f"smooth: unknown OLMo ladder smooth metric(s) {unknown}; choose from "
                         f"{', '.join(OLMO_SMOOTH_METRICS)}")
    table, row_numbers = _olmo_rows(raw, split=split, source=str(path), smooth=tuple(smooth))
    table = validate_eval_table(table, source=str(path), row_numbers=row_numbers)
    if checkpoints == "final":
        table = final_checkpoints(table)
    return table.sort_values(["params", "tokens", "model", "task", "metric", "step"],
                             kind="stable").reset_index(drop=True)


def _olmo_rows(raw: pd.DataFrame, *, split: str, source: str,
               smooth: tuple[str, ...] = (OLMO_SMOOTH_METRIC,)) -> tuple[pd.DataFrame, np.ndarray]:
    """Filter raw OLMo ladder rows and map them to eval-table columns (not yet validated).

    Also returns the 1-based data row of the source file each output row came from.
    """
    rows = raw[
        raw["format"].eq(OLMO_FORMAT)
        & raw["source_dir"].eq(OLMO_SOURCE_DIR)
        & raw["split"].eq(split)
    ]
    success = rows["task"].map(OLMO_SUCCESS_OVERRIDES).fillna(OLMO_SUCCESS_METRIC)
    rows = rows[rows["metric"].isin(smooth) | rows["metric"].eq(success)]
    if rows.empty:
        raise EvalTableError([Problem(source, None, None,
                                      f"no OLMo ladder rows with format={OLMO_FORMAT!r}, "
                                      f"source_dir={OLMO_SOURCE_DIR!r}, split={split!r}")])
    subtask = rows["subtask"].astype(object)
    has_subtask = subtask.notna().to_numpy()
    task = np.where(has_subtask, rows["task"].astype(str) + "_" + subtask.astype(str),
                    rows["task"].astype(str))
    chance = rows["task"].map(OLMO_CHANCE).astype("float64")
    is_success = ~rows["metric"].isin(smooth)
    table = pd.DataFrame({
        "family": rows["family"].to_numpy(dtype=object),
        "model": rows["run"].to_numpy(dtype=object),
        "params": rows["params"].to_numpy(),
        "tokens": rows["tokens"].to_numpy(),
        "task": task.astype(object),
        "metric": rows["metric"].to_numpy(dtype=object),
        "value": rows["value"].to_numpy(),
        "chance": np.where(is_success, chance, np.nan),
        "shots": rows["shots"].to_numpy(),
        "split": rows["split"].to_numpy(dtype=object),
        "step": rows["step"].to_numpy(),
        "ladder_size": rows["model"].to_numpy(dtype=object),
        "chinchilla_multiple": rows["chinchilla_multiple"].to_numpy(),
    })
    return table, rows.index.to_numpy() + 1


def _check_checkpoints(checkpoints: str) -> None:
    if checkpoints not in ("final", "all"):
        raise ValueError(f"checkpoints must be 'final' or 'all', got {checkpoints!r}")


# ----------------------------------------------------------------------------- Pythia LAMBADA

PYTHIA_FAMILY = "pythia-v1"
PYTHIA_FINAL_STEP = 143000.0
LAMBADA_TASK = "lambada_openai"
# The LAMBADA (OpenAI) test set has 5,153 passages; the files' acc_stderr matches
# sqrt(acc * (1 - acc) / 5153) (e.g. pythia-1.4b: 0.616 -> 0.00677).
LAMBADA_N_EXAMPLES = 5153.0
# Open-vocabulary last-word prediction: guessing has (essentially) zero success.
LAMBADA_CHANCE = 0.0


def pythia_lambada(
    path: str | Path,
    *,
    checkpoints: Checkpoints = "final",
    deduped: bool = False,
    shots: int = 0,
) -> pd.DataFrame:
    """Pythia v1 on LAMBADA (OpenAI): `ppl` (smooth, perplexity of the last word, lower is better)
    and `acc` (success, chance 0).

    `path` is `pythia_evals_core_long.csv` or a raw slice of it. Keeps family `pythia-v1`, the
    standard (`deduped=False`) or deduplicated-Pile models, `shots`-shot evaluations, skipping the
    `folder=baseline` re-evaluations of four deduped models (they duplicate step 143000).
    `checkpoints="final"` keeps step 143000; "all" keeps every logged step except step 0 (zero
    training tokens: an untrained model has no place on a compute axis). `tokens` =
    step x 2,097,152 as in the data README; `params` is the nominal size from the model name.
    `n_examples` = 5153 (LAMBADA OpenAI test set). Extra column: `stderr` from the source JSON.
    """
    _check_checkpoints(checkpoints)
    raw = pd.read_csv(path)
    deduped_flag = raw["deduped"].astype(str).str.lower().eq(str(deduped).lower())
    rows = raw[
        raw["family"].eq(PYTHIA_FAMILY)
        & deduped_flag
        & raw["task"].eq(LAMBADA_TASK)
        & raw["shots"].astype("float64").eq(float(shots))
        & raw["metric"].isin(["ppl", "acc"])
        & raw["tokens"].astype("float64").gt(0)
        & ~_baseline_rows(raw)
    ]
    if checkpoints == "final":
        rows = rows[rows["step"].astype("float64").eq(PYTHIA_FINAL_STEP)]
    if rows.empty:
        raise EvalTableError([Problem(str(path), None, None, "no Pythia v1 LAMBADA rows found")])
    is_success = rows["metric"].eq("acc").to_numpy()
    table = pd.DataFrame({
        "family": rows["family"].to_numpy(dtype=object),
        "model": rows["model"].to_numpy(dtype=object),
        "params": rows["params"].to_numpy(),
        "tokens": rows["tokens"].to_numpy(),
        "task": rows["task"].to_numpy(dtype=object),
        "metric": rows["metric"].to_numpy(dtype=object),
        "value": rows["value"].to_numpy(),
        "chance": np.where(is_success, LAMBADA_CHANCE, np.nan),
        "n_examples": LAMBADA_N_EXAMPLES,
        "shots": rows["shots"].to_numpy(),
        "step": rows["step"].to_numpy(),
        "stderr": rows["stderr"].to_numpy(),
    })
    table = validate_eval_table(table, source=str(path), row_numbers=rows.index.to_numpy() + 1)
    return table.sort_values(["params", "model", "metric", "step"], kind="stable").reset_index(
        drop=True
    )


def _baseline_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows from the `baseline` folder (a bias case study that re-evaluates the final deduped
    checkpoints, with slightly different numbers); the `zero-shot` folder's rows are kept."""
    if "eval_set" not in raw.columns:
        return pd.Series(False, index=raw.index)
    return raw["eval_set"].astype(str).str.startswith("folder=baseline")


# ----------------------------------------------------------------------------- ObsScaling

# Chance rates (random guessing) of the ObsScaling tasks kept as success metrics: multiple choice over
# 4 options (MMLU, ARC-C, HellaSwag, GPQA, BIG-bench parsinlu_qa), 2 (Winograd, XWinograd), 10
# (MMLU-Pro); generated answers (GSM8K, HumanEval, MATH, IFEval, BIG-bench arithmetic,
# word_unscrambling, ipa_transliterate exact match) 0. Left out: TruthfulQA (mc2, a probability
# mass), BBH and MuSR (the number of options varies by subtask), ipa_transliterate bleu (not a rate).
OBSSCALING_CHANCE: dict[str, float] = {
    "MMLU": 1 / 4, "ARC-C": 1 / 4, "HellaSwag": 1 / 4, "Winograd": 1 / 2, "XWinograd": 1 / 2,
    "GSM8K": 0.0, "HumanEval": 0.0, "parsinlu_qa": 1 / 4, "word_unscrambling": 0.0,
    "ipa_transliterate": 0.0, "arithmetic_2da": 0.0, "arithmetic_2dm": 0.0, "arithmetic_3da": 0.0,
    "arithmetic_3ds": 0.0, "leaderboard_gpqa": 1 / 4, "leaderboard_ifeval": 0.0,
    "leaderboard_math_hard": 0.0, "leaderboard_mmlu_pro": 1 / 10,
}
OBSSCALING_CAPABILITY = "capability"
"""The derived smooth metric (task ``*``): the file has no likelihood metric (data README)."""
OBSSCALING_CAPABILITY_TASKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd")
OBSSCALING_CAPABILITY_CLIP = 0.01
_OBSSCALING_METRICS = {"score": "acc", "acc": "acc", "exact_match": "exact_match", "pass@1": "pass@1"}


def obsscaling(path: str | Path, *, checkpoints: Checkpoints = "final") -> pd.DataFrame:
    """ObsScaling (Ruan, Maddison and Hashimoto 2024) base-model scores as an eval table.

    `path` is `obsscaling_long.csv` (or a slice of it). Every model is one run of its `family`, final
    checkpoint only (`checkpoints` must be "final"); models without a pretraining-token count are
    left out (compute is unknown). Success rows: the tasks of `OBSSCALING_CHANCE` (`score` becomes
    `acc`; `exact_match`, `pass@1` and BIG-bench `acc` keep their names; BIG-bench tasks have 2 shots).

    The file has no smooth (likelihood) metric, so one is derived, in the spirit of the paper's
    principal capability measures: `capability` (task `*`, higher is better), a model's mean over
    `OBSSCALING_CAPABILITY_TASKS` of logit((score - chance) / (1 - chance)), the normalised score
    clipped to [0.01, 0.99]; only models with all four scores get one. A blind backtest never reads
    a held-out model's capability (it predicts it from compute), so it stays a fair test; forecasting
    those four tasks themselves from it is circular on the training models, so backtest the others.
    Extra column: `source_file`.
    """
    if checkpoints != "final":
        raise ValueError("checkpoints: ObsScaling has final checkpoints only ('final')")
    raw = pd.read_csv(path)
    known = raw["task"].isin(list(OBSSCALING_CHANCE)) & raw["metric"].isin(list(_OBSSCALING_METRICS))
    rows = raw[known & raw["tokens"].notna() & raw["value"].notna()]
    if rows.empty:
        raise EvalTableError([Problem(str(path), None, None, "no ObsScaling rows with a known task and token count")])
    table = pd.DataFrame({
        "family": rows["family"].astype(str).to_numpy(dtype=object),
        "model": rows["model"].astype(str).to_numpy(dtype=object),
        "params": rows["params"].to_numpy(float), "tokens": rows["tokens"].to_numpy(float),
        "task": rows["task"].to_numpy(dtype=object),
        "metric": rows["metric"].map(_OBSSCALING_METRICS).to_numpy(dtype=object),
        "value": rows["value"].to_numpy(float),
        "chance": rows["task"].map(OBSSCALING_CHANCE).to_numpy(float),
        "shots": rows["shots"].to_numpy(float),
        "source_file": rows["source_file"].astype(str).to_numpy(dtype=object),
    })
    capability = _obsscaling_capability(table)
    numbers = np.concatenate([rows.index.to_numpy() + 1, np.full(len(capability), len(raw) + 1)])
    table = validate_eval_table(pd.concat([table, capability], ignore_index=True), source=str(path),
                                smooth_direction="higher", row_numbers=numbers)
    return table.sort_values(["family", "params", "model", "task", "metric"], kind="stable").reset_index(drop=True)


def _obsscaling_capability(table: pd.DataFrame) -> pd.DataFrame:
    """One `capability` row (task `*`) per model that has every `OBSSCALING_CAPABILITY_TASKS` score."""
    parts = table[table["task"].isin(list(OBSSCALING_CAPABILITY_TASKS))]
    normalised = ((parts["value"] - parts["chance"]) / (1 - parts["chance"])).clip(
        OBSSCALING_CAPABILITY_CLIP, 1 - OBSSCALING_CAPABILITY_CLIP)
    logits = np.log(normalised / (1 - normalised))
    keys = ["family", "model", "params", "tokens"]
    grouped = parts.assign(logit=logits.to_numpy()).groupby(keys, as_index=False).agg(
        value=("logit", "mean"), n=("logit", "size"))
    grouped = grouped[grouped["n"] == len(OBSSCALING_CAPABILITY_TASKS)]
    return grouped[keys + ["value"]].assign(task="*", metric=OBSSCALING_CAPABILITY, chance=np.nan,
                                            source_file="derived")


# ----------------------------------------------------------------------------- lm-eval results

# Chance rates (success rate of uniform random guessing) of common lm-evaluation-harness tasks, used
# when the results file itself does not pin one down: 1 / the number of answer options each
# question offers (arc: almost all questions have 4; winogrande, piqa, copa, wsc: 2 options;
# boolq: yes/no; openbookqa, sciq, hellaswag, mmlu, logiqa: 4; commonsense_qa, mathqa: 5;
# social_iqa, mnli, anli, cb: 3; blimp: a minimal pair), and 0 for open-vocabulary answers
# (lambada's last word, gsm8k's number, triviaqa / nq_open strings).
# TruthfulQA mc1/mc2 are left out on purpose: their number of choices varies per question (and mc2
# scores probability mass), so their chance comes from samples files or `chance=`.
LM_EVAL_CHANCE: dict[str, float] = {
    "arc_easy": 1 / 4, "arc_challenge": 1 / 4, "hellaswag": 1 / 4, "openbookqa": 1 / 4,
    "sciq": 1 / 4, "logiqa": 1 / 4, "mmlu": 1 / 4, "winogrande": 1 / 2, "piqa": 1 / 2,
    "boolq": 1 / 2, "copa": 1 / 2, "wsc": 1 / 2, "wsc273": 1 / 2, "wic": 1 / 2, "rte": 1 / 2,
    "commonsense_qa": 1 / 5, "mathqa": 1 / 5, "social_iqa": 1 / 3, "siqa": 1 / 3,
    "mnli": 1 / 3, "cb": 1 / 3, "anli_r1": 1 / 3, "anli_r2": 1 / 3, "anli_r3": 1 / 3,
    "lambada": 0.0, "gsm8k": 0.0, "triviaqa": 0.0, "nq_open": 0.0,
}
# Task-name patterns (matched at the start) with one chance rate for the whole family: mmlu
# subjects and subject groups (not mmlu_pro, which has up to 10 options), the old
# `hendrycksTest-*` names, lambada and gsm8k variants, blimp minimal pairs.
LM_EVAL_CHANCE_PATTERNS: tuple[tuple[str, float], ...] = (
    (r"mmlu_(?!pro)", 1 / 4), (r"hendrycksTest-", 1 / 4), (r"lambada_", 0.0), (r"gsm8k_", 0.0),
    (r"blimp_", 1 / 2),
)
# Output types whose success metric is an exact match of open-ended text or a single
# continuation's greedy check (lambada): guessing has (essentially) zero success.
_ZERO_CHANCE_OUTPUT_TYPES = {"generate_until", "greedy_until", "loglikelihood"}

_NON_METRIC_KEYS = {"alias", "samples", "sample_len", "name", "sample_count"}
_MODEL_KEYS = ("pretrained", "model", "path", "engine", "base_name")
_STEP = re.compile(r"^(?:global_)?step_?(\d+)$")

Note = Callable[[str], None]


def lm_eval_results(
    path: str | Path,
    *,
    family: str | None = None,
    model: str | None = None,
    params: float | None = None,
    tokens: float | None = None,
    chance: float | Mapping[str, float] | None = None,
    samples_dir: str | Path | None = None,
    note: Note | None = None,
) -> pd.DataFrame:
    """Eval table from an lm-evaluation-harness aggregated results JSON (`results_<time>.json`).

    Reads `results[task]["<metric>,<filter>"]` (harness >= 0.4) or `results[task]["<metric>"]`
    (older). Only metric names the registry knows are kept (acc, acc_norm, exact_match, pass@1,
    ppl, perplexity, word_perplexity, byte_perplexity, bits_per_byte, ...); `*_stderr` values go
    to a `stderr` column. When a metric is reported under several filters the "none" filter wins,
    else the first one listed (the `filter` column says which). Group aggregates (`groups`, and
    `group_subtasks` entries with members) are left out: their subtasks carry the same evidence.
    `shots` comes from `n-shot` (or the old `config.num_fewshot`), `n_examples` from
    `n-samples.effective`, `step` from a `revision=step<N>` model argument (`config.model_args`,
    a string or a dict) or `config.model_revision`.

    Chance rates are per task (see `lm_eval_chance`), from the file's task `configs`, the samples
    files of the same run next to the results file (or in `samples_dir`), the output type and the
    `LM_EVAL_CHANCE` table. `chance` overrides them: one rate for every task, or a {task: rate}
    mapping whose key "*" applies to the tasks not named. Tasks with no chance rate, and tasks with
    no known metric, are left out with a note (`note(message)`, default: `warnings.warn`).
    `family`, `model`, `params` default to what the file records (`family` = model name).
    """
    path = Path(path)
    payload = _load_json(path)
    samples = _run_samples_files(path, samples_dir)
    frame = lm_eval_results_frame(payload, source=str(path), family=family, model=model,
                                  params=params, tokens=tokens, chance=chance, samples=samples,
                                  note=note)
    return validate_eval_table(frame, source=str(path))


def lm_eval_results_frame(
    payload: Mapping[str, Any],
    *,
    source: str,
    family: str | None = None,
    model: str | None = None,
    params: float | None = None,
    tokens: float | None = None,
    chance: float | Mapping[str, float] | None = None,
    samples: Mapping[str, Path] | None = None,
    note: Note | None = None,
) -> pd.DataFrame:
    """Unvalidated eval-table rows from a parsed results JSON (see `lm_eval_results`).

    `samples` maps task names to their samples files (chance rates from the number of choices).
    Missing `model` / `params` are taken from `config.model_args` (`pretrained=...`) and
    `config.model_num_parameters` when present; `family` defaults to the model name.
    """
    note = note or _warn
    results = payload.get("results")
    if not isinstance(results, Mapping) or not results:
        raise EvalTableError([Problem(source, None, None,
                                      "not an lm-evaluation-harness results file: no 'results'")])
    config = payload.get("config") if isinstance(payload.get("config"), Mapping) else {}
    args = _model_args(config.get("model_args"))
    model = model or _model_name(payload)
    if params is None and _is_number(config.get("model_num_parameters")) \
            and config["model_num_parameters"] > 0:
        params = float(config["model_num_parameters"])
    _check_identity(source, model=model, params=params)
    step = _revision_step(args.get("revision"), config.get("model_revision"))
    tasks = _leaf_tasks(payload, source, note)
    _check_chance_names(chance, tasks, source)
    identity = {"family": family or model, "model": model, "params": params, "tokens": tokens,
                "step": float(step) if step is not None else np.nan}
    records = [record for task in tasks
               for record in _task_records(payload, task, identity, chance, samples or {},
                                           source=source, note=note)]
    if not records:
        found = "; ".join(f"{t}: {_listing(_metric_names(results[t]))}" for t in tasks)
        raise EvalTableError([Problem(source, None, None,
                                      f"no usable task in 'results' (metrics found: {found}; known "
                                      f"metrics: {', '.join(known_metric_names())})")])
    return pd.DataFrame.from_records(records)


def _task_records(payload: Mapping[str, Any], task: str, identity: Mapping[str, Any], chance: Any,
                  samples: Mapping[str, Path], *, source: str, note: Note) -> list[dict[str, Any]]:
    """Eval-table records of one task: one per known metric; success metrics need a chance rate
    (without one they are left out with a note, smooth metrics kept)."""
    entry = payload["results"][task]
    metrics = _task_metrics(entry)
    if not metrics:
        note(f"{source}: skipped task {task}: no known metric (found "
             f"{_listing(_metric_names(entry))})")
        return []
    rate, origin = _chance_and_origin(payload, task, chance, samples)
    success = [m for m in metrics if lookup_metric(m).kind == "success"]
    if rate is None and success:
        note(f"{source}: skipped {', '.join(success)} of task {task}: no chance rate ({origin}); "
             f"give one with --chance {task}=RATE")
        metrics = {m: v for m, v in metrics.items() if m not in success}
    return [{
        **identity,
        "task": task,
        "metric": metric,
        "value": value,
        "chance": rate if metric in success else np.nan,
        "n_examples": _n_examples(payload, task),
        "shots": _shots(payload, task),
        "filter": filter_name,
        "stderr": stderr,
        "chance_source": origin if metric in success else None,
    } for metric, (filter_name, value, stderr) in metrics.items()]


def _check_identity(source: str, *, model: str | None, params: float | None) -> None:
    """The model name and parameter count must come from the file or the caller."""
    problems = []
    if not model:
        problems.append(Problem(source, None, "model", "no model name in config.model_args "
                                "(pretrained=...) or model_name: give the model name (--model)"))
    if params is None:
        problems.append(Problem(source, None, "params", "no parameter count in "
                                "config.model_num_parameters: give it (--params)"))
    if problems:
        raise EvalTableError(problems)


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "no numeric metric"


def _load_json(path: str | Path) -> Mapping[str, Any]:
    try:
        payload = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise EvalTableError([Problem(str(path), None, None, f"invalid JSON: {err}")]) from err
    if not isinstance(payload, Mapping):
        raise EvalTableError([Problem(str(path), None, None,
                                      "not an lm-evaluation-harness results file: not an object")])
    return payload


def _model_args(model_args: Any) -> dict[str, str]:
    """`config.model_args` as {key: value}: a "k=v,k=v" string or a dict."""
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items() if v is not None}
    pairs = (item.partition("=") for item in str(model_args or "").split(","))
    return {k.strip(): v.strip() for k, sep, v in pairs if sep}


def _model_name(payload: Mapping[str, Any]) -> str | None:
    """The evaluated model's name: `pretrained=` (or model/path/engine/base_name) of
    `config.model_args`, else the top-level `model_name`."""
    config = payload.get("config") if isinstance(payload.get("config"), Mapping) else {}
    args = _model_args(config.get("model_args"))
    name = next((args[k] for k in _MODEL_KEYS if args.get(k)), None) or payload.get("model_name")
    return str(name) if name else None


def lm_eval_run_model(directory: str | Path) -> str | None:
    """Model name recorded by the results JSON(s) in an lm-eval output folder (None if there is
    none, or they name different models)."""
    names = {_model_name(payload) for payload in _results_payloads(Path(directory))}
    return names.pop() if len(names) == 1 else None


def _results_payloads(directory: Path) -> Iterator[Mapping[str, Any]]:
    """The parsed results JSONs (objects with a 'results' key) in an lm-eval output folder."""
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith("samples_"):
            continue
        try:
            payload = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(payload, Mapping) and "results" in payload:
            yield payload


def _revision_step(*revisions: Any) -> int | None:
    """Training step from a Pythia-style revision name (`step113000`, `global_step500`)."""
    for revision in revisions:
        found = _STEP.match(str(revision or "").strip())
        if found:
            return int(found.group(1))
    return None


def _group_names(payload: Mapping[str, Any]) -> set[str]:
    """Group aggregates: keys of `groups`, and `group_subtasks` entries with member tasks."""
    groups = set(payload.get("groups") or {})
    members = payload.get("group_subtasks") or {}
    return groups | {name for name, tasks in members.items() if tasks}


def _leaf_tasks(payload: Mapping[str, Any], source: str, note: Note) -> list[str]:
    """Task names of `results` without group aggregates (noted when any are left out)."""
    groups = _group_names(payload)
    results = {task: entry for task, entry in payload["results"].items() if isinstance(entry, Mapping)}
    left_out = [task for task in results if task in groups]
    if left_out:
        note(f"{source}: left out group aggregates {', '.join(left_out)} (their subtasks are kept)")
    tasks = [task for task in results if task not in groups]
    if not tasks:
        raise EvalTableError([Problem(source, None, None, "'results' holds only group aggregates")])
    return tasks


def _metric_names(entry: Mapping[str, Any]) -> list[str]:
    """Every metric name reported for one task (numeric, not a stderr), in file order."""
    names = (key.partition(",")[0] for key, value in entry.items() if _is_number(value))
    return list(dict.fromkeys(n for n in names
                              if n not in _NON_METRIC_KEYS and not n.endswith("_stderr")))


def _task_metrics(entry: Mapping[str, Any]) -> dict[str, tuple[str | None, float, float]]:
    """{metric: (filter, value, stderr)} for the known metrics of one task's results entry."""
    found: dict[str, tuple[str | None, float, float]] = {}
    for key, value in entry.items():
        name, _, filter_name = key.partition(",")
        if name in _NON_METRIC_KEYS or name.endswith("_stderr") or not _is_number(value):
            continue
        try:
            lookup_metric(name)
        except ValueError:
            continue  # metric the registry does not know (e.g. f1, mcc, pct_stereotype)
        filter_or_none = filter_name or None
        previous = found.get(name)
        if previous is not None and previous[0] in (None, "none"):
            continue
        if previous is not None and filter_or_none != "none":
            continue
        stderr_key = f"{name}_stderr,{filter_name}" if filter_name else f"{name}_stderr"
        stderr = entry.get(stderr_key)
        found[name] = (filter_or_none, float(value),
                       float(stderr) if _is_number(stderr) else np.nan)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ----------------------------------------------------------------------------- lm-eval chance


def parse_chance(specs: str | list[str] | None) -> float | dict[str, float] | None:
    """A `--chance` value: "0.25" (every task) or "task=rate" items, comma-separated or repeated.

    Returns a float, a {task: rate} mapping ("*" for a bare rate given beside named tasks) or None.
    """
    items = [s.strip() for spec in ([specs] if isinstance(specs, str) else specs or [])
             for s in spec.split(",") if s.strip()]
    rates: dict[str, float] = {}
    for item in items:
        task, sep, text = item.rpartition("=")
        key = task.strip() if sep else "*"
        try:
            rate = float(text)
        except ValueError:
            raise ValueError(f"--chance {item!r}: expected RATE or TASK=RATE with a number") from None
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"--chance {item!r}: a chance rate is in [0, 1)")
        rates[key] = rate
    if not rates:
        return None
    return rates["*"] if list(rates) == ["*"] else rates


def _check_chance_names(chance: Any, tasks: list[str], source: str) -> None:
    if isinstance(chance, Mapping):
        unknown = sorted(set(chance) - set(tasks) - {"*"})
        if unknown:
            raise ValueError(f"{source}: chance given for tasks not in the file: "
                             f"{', '.join(unknown)} (tasks: {', '.join(tasks)})")


def lm_eval_chance(task: str, config: Mapping[str, Any] | None = None,
                   samples: Path | None = None) -> tuple[float | None, str]:
    """(chance rate, where it came from) for one lm-eval task; (None, what was tried) if unknown.

    In order: the task config's `doc_to_choice` when it is a list (1 / its length); the samples
    file (mean over samples of 1 / number of choices); the config's `output_type` (0 for
    generate_until / loglikelihood: open-ended answers); the `LM_EVAL_CHANCE` table (exact name,
    then `LM_EVAL_CHANCE_PATTERNS`).
    """
    config = config or {}
    choices = config.get("doc_to_choice")
    if isinstance(choices, list) and choices:
        return 1.0 / len(choices), "config doc_to_choice"
    if samples is not None:
        rate = _samples_chance(samples)
        if rate is not None:
            return rate, f"samples file {samples.name}"
    if config.get("output_type") in _ZERO_CHANCE_OUTPUT_TYPES:
        return 0.0, f"output_type {config['output_type']}"
    if task in LM_EVAL_CHANCE:
        return LM_EVAL_CHANCE[task], "table"
    for pattern, rate in LM_EVAL_CHANCE_PATTERNS:
        if re.match(pattern, task):
            return rate, "table"
    tried = f"output_type {config['output_type']}, " if config.get("output_type") else ""
    return None, (f"{tried}no choice list in its config, no samples file, not in the built-in "
                  "table")


def _chance_and_origin(payload: Mapping[str, Any], task: str, chance: Any,
                       samples: Mapping[str, Path]) -> tuple[float | None, str]:
    if isinstance(chance, Mapping) and (task in chance or "*" in chance):
        return float(chance.get(task, chance.get("*"))), "given"
    if chance is not None and not isinstance(chance, Mapping):
        return float(chance), "given"
    configs = payload.get("configs") or {}
    return lm_eval_chance(task, configs.get(task), samples.get(task))


def _samples_chance(path: Path) -> float | None:
    """Mean of 1 / number of choices over a samples file's multiple-choice samples."""
    counts = [parsed[1] for _, sample in _read_samples(path)
              if (parsed := _sample_margin(sample)) is not None]
    return float(np.mean(1.0 / np.asarray(counts))) if counts else None


def _n_examples(payload: Mapping[str, Any], task: str) -> float:
    entry = (payload.get("n-samples") or {}).get(task) or {}
    value = entry.get("effective", entry.get("original")) if isinstance(entry, Mapping) else None
    return float(value) if _is_number(value) else np.nan


def _shots(payload: Mapping[str, Any], task: str) -> float:
    value = (payload.get("n-shot") or {}).get(task)
    if value is None:
        value = (payload.get("config") or {}).get("num_fewshot")
    return float(value) if _is_number(value) else np.nan


# ----------------------------------------------------------------------------- lm-eval samples

# `samples_<task>_<time>.jsonl` (harness >= 0.4.3, one JSON object a line) and
# `samples_<task>_<time>.json` (0.4.2, one JSON array); <time> is an ISO time with ":" -> "-".
_SAMPLES_NAME = re.compile(
    r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.jsonl?$")
_RESULTS_NAME = re.compile(r"_(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.json$")
SAMPLE_COLUMNS = ("family", "model", "task", "example_id", "margin", "correct", "n_choices")


def lm_eval_sample_files(directory: str | Path, *, stamp: str | None = None) -> dict[str, Path]:
    """{task: samples file} in an lm-evaluation-harness output directory.

    Finds `samples_<task>_<time>.jsonl` (harness >= 0.4.3), `samples_<task>_<time>.json` (0.4.2)
    and the 0.4.0/0.4.1 `<model_args>_<task>.jsonl` files (model_args with "/" and "=" written
    as "__"; the task name is what follows the model_args of a results JSON in the same folder,
    else what follows the last argument's value). With several runs of a task the latest time
    wins; `stamp` keeps only the files of the run with that time ("" = the legacy names).
    """
    directory = Path(directory)
    found: dict[str, tuple[str, Path]] = {}
    prefixes = _legacy_prefixes(directory)
    for path in sorted(directory.iterdir()):
        named = _SAMPLES_NAME.match(path.name)
        if named:
            task, when = named.group("task"), named.group("stamp")
        elif path.suffix == ".jsonl" and not path.name.startswith("samples_"):
            task, when = _legacy_task(path.stem, prefixes), ""
        else:
            continue
        if stamp is not None and when != stamp:
            continue
        if task not in found or when > found[task][0]:
            found[task] = (when, path)
    return {task: path for task, (_, path) in sorted(found.items())}


def _legacy_prefixes(directory: Path) -> list[str]:
    """Sanitised `model_args_` prefixes of the results JSONs in `directory` (0.4.0/0.4.1 naming)."""
    configs = (payload.get("config") for payload in _results_payloads(directory))
    return [re.sub("/|=", "__", config["model_args"]) + "_" for config in configs
            if isinstance(config, Mapping) and isinstance(config.get("model_args"), str)]


def _legacy_task(stem: str, prefixes: list[str]) -> str:
    for prefix in prefixes:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    last = stem.rsplit(",", 1)[-1]
    _, sep, value_and_task = last.partition("__")
    return value_and_task.partition("_")[2] or stem if sep else stem


def _run_samples_files(results_path: Path, samples_dir: str | Path | None) -> dict[str, Path]:
    """Samples files of the run that wrote `results_path`: same folder and time (a results file
    without a time, as 0.4.0/0.4.1 wrote, goes with the legacy-named samples), unless given."""
    if samples_dir is not None:
        return lm_eval_sample_files(samples_dir)
    stamp = _RESULTS_NAME.search(results_path.name)
    return lm_eval_sample_files(results_path.parent, stamp=stamp.group("stamp") if stamp else "")


def lm_eval_samples(
    path: str | Path, *, family: str | None = None, model: str | None = None, task: str | None = None,
    note: Note | None = None,
) -> pd.DataFrame:
    """Per-example margins from lm-evaluation-harness `--log_samples` output.

    `path` is one samples file or a directory of them (every naming `lm_eval_sample_files`
    knows; the task name comes from the file name, without its time; `task` names the task of
    a single file).
    For each multiple-choice sample, the per-choice log-likelihoods (nats) are read from
    `filtered_resps` (falling back to `resps`), each entry `[loglikelihood, is_greedy]` (numbers,
    or strings as the harness >= 0.4.3 writes them), and the correct choice from `target` (an
    index, or the text of a choice as in `arguments`), else `gold`.

    Returns one row per example, columns `family, model, task, example_id, margin, correct,
    n_choices`, where margin = log p(correct choice) - max log p(wrong choice), in nats, and
    correct = the harness's `acc`: the correct choice is the first choice of maximal
    log-likelihood (numpy argmax), so a tie counts as correct only when the correct choice comes
    first. Samples that are not multiple-choice log-likelihood requests are skipped. In a
    directory, files of tasks with none (generative and loglikelihood tasks) or with a per-sample
    `acc` that is not 0/1 (several correct answers, e.g. truthfulqa_mc2) are skipped with a note;
    a single such file, or a directory with no usable file, raises ValueError. `model` defaults
    to the model the run's results JSON (same folder) names, `family` to `model`, as
    `lm_eval_results` does, so margins and eval table rows match.
    """
    note = note or _warn
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such samples file or folder")
    model = model or lm_eval_run_model(path if path.is_dir() else path.parent)
    if model is None:
        raise ValueError(f"{path}: no results JSON beside the samples names the model: give the "
                         "model (and family) names")
    family = family or model
    if path.is_dir():
        files = lm_eval_sample_files(path)
        if not files:
            raise ValueError(f"{path}: no samples files (samples_<task>_<time>.jsonl or .json)")
    else:
        files = {task or _file_task(path): path}
    frames = []
    for name, file in files.items():
        try:
            frames.append(_samples_file(file, family=family, model=model, task=name))
        except _NotMultipleChoice as reason:
            if len(files) == 1:
                raise ValueError(str(reason)) from None
            note(f"skipped {reason}")
    if not frames:
        raise ValueError(f"{path}: no multiple-choice samples file among {len(files)}")
    return pd.concat(frames, ignore_index=True)


class _NotMultipleChoice(ValueError):
    """A samples file with no single-answer multiple-choice sample."""


def _file_task(path: Path) -> str:
    named = _SAMPLES_NAME.match(path.name)
    if named:
        return named.group("task")
    return _legacy_task(path.stem, _legacy_prefixes(path.parent))


def _read_samples(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line or item number, sample) of a samples file: JSON lines, or one JSON array."""
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1)
        while head.isspace():
            head = handle.read(1)
        handle.seek(0)
        if head == "[":
            try:
                items = json.load(handle)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: invalid JSON: {err}") from err
            yield from ((n, item) for n, item in enumerate(items, start=1)
                        if isinstance(item, Mapping))
            return
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {line_number}: invalid JSON: {err}") from err
            if isinstance(sample, Mapping):
                yield line_number, sample


def _samples_file(path: Path, *, family: str, model: str, task: str) -> pd.DataFrame:
    records = []
    for number, sample in _read_samples(path):
        logged = sample.get("acc")
        if _is_number(logged) and logged not in (0, 1):
            raise _NotMultipleChoice(f"{path.name}: task {task} logs a per-sample acc of "
                                     f"{logged:g} (not 0/1: several correct answers)")
        parsed = _sample_margin(sample)
        if parsed is not None:
            margin, n_choices, correct = parsed
            records.append((family, model, task, sample.get("doc_id", number - 1), margin,
                            correct, n_choices))
    if not records:
        raise _NotMultipleChoice(f"{path.name}: task {task} has no multiple-choice "
                                 "log-likelihood samples (a generative or loglikelihood task)")
    frame = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    frame["margin"] = frame["margin"].astype("float64")
    frame["correct"] = frame["correct"].astype(bool)
    frame["n_choices"] = frame["n_choices"].astype("int64")
    for column in ("family", "model", "task"):
        frame[column] = frame[column].astype(object)
    return frame


def _sample_margin(sample: Mapping[str, Any]) -> tuple[float, int, bool] | None:
    """(margin in nats, number of choices, harness-correct) for one logged sample, or None if
    it is not a single-answer multiple-choice sample."""
    logliks = _choice_logliks(sample)
    if logliks is None or len(logliks) < 2:
        return None
    target = _target_index(sample, len(logliks))
    if target is None:
        return None
    values = np.asarray(logliks)
    wrong = np.delete(values, target)
    return float(values[target] - wrong.max()), len(logliks), int(np.argmax(values)) == target


def _choice_logliks(sample: Mapping[str, Any]) -> list[float] | None:
    responses = sample.get("filtered_resps")
    if not isinstance(responses, list):
        responses = [r[0] if isinstance(r, list) and r else r for r in sample.get("resps") or []]
    values = []
    for response in responses:
        first = response[0] if isinstance(response, (list, tuple)) and response else response
        try:
            value = float(first)
        except (TypeError, ValueError):
            return None  # generated text, not a log-likelihood
        if math.isnan(value):
            return None
        values.append(value)
    return values


def _target_index(sample: Mapping[str, Any], n_choices: int) -> int | None:
    target = sample.get("target", sample.get("gold"))
    if isinstance(target, list):
        return None  # several correct answers (e.g. TruthfulQA mc2): no single margin
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        index = int(target)
    elif isinstance(target, str) and target.strip().lstrip("-").isdigit():
        index = int(target.strip())
    elif isinstance(target, str):
        index = _continuation_index(sample, target)
        if index is None:
            return None
    else:
        return None
    return index if 0 <= index < n_choices else None


def _continuation_index(sample: Mapping[str, Any], target: str) -> int | None:
    """Index of the choice whose continuation text equals `target` (whitespace-stripped)."""
    arguments = sample.get("arguments")
    if isinstance(arguments, Mapping):
        arguments = [list(a.values()) if isinstance(a, Mapping) else a for a in arguments.values()]
    continuations = [str(a[1]).strip() for a in arguments or [] if isinstance(a, list) and len(a) > 1]
    return continuations.index(target.strip()) if target.strip() in continuations else None


def margins_summary(samples: pd.DataFrame) -> pd.DataFrame:
    """Per (family, model, task): `margin_mean` and `margin_sd` (nats; sd with ddof=1, NaN for a
    single example), `n` examples and `accuracy` (share with margin > 0).

    margin_sd is the spread of the correct answer's advantage across task instances: the
    "logit variance" that sets how sharply success rises once the mean margin crosses zero.
    """
    grouped = samples.groupby(["family", "model", "task"], sort=True)
    out = grouped.agg(
        margin_mean=("margin", "mean"),
        margin_sd=("margin", "std"),
        n=("margin", "size"),
        accuracy=("correct", "mean"),
    ).reset_index()
    out["n"] = out["n"].astype("int64")
    return out


# ----------------------------------------------------------------------------- any eval-table file


def read_eval_table(
    path: str | Path,
    *,
    chance: float | None = None,
    smooth_direction: str | None = None,
) -> pd.DataFrame:
    """Read and validate an eval table.

    Dispatch: `.parquet`/`.pq` -> Parquet; `.json` -> lm-evaluation-harness aggregated results
    (model name and parameter count are taken from the file's `config`; use
    `lm_eval_results` to give them explicitly); `.jsonl` -> refused with a pointer
    to `forecast.adapters.lm_eval_samples` (per-example margins are not an eval table); anything else
    (`.csv`, `.csv.gz`, `.tsv`) -> CSV, with a tab separator for `.tsv`.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise EvalTableError([Problem(source, None, None, "file not found")])
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif suffixes and suffixes[-1] == ".jsonl" or suffixes[-2:] == [".jsonl", ".gz"]:
        raise EvalTableError(
            [
                Problem(
                    source,
                    None,
                    None,
                    "a .jsonl file is per-sample lm-evaluation-harness output, not an eval table; "
                    "read it with forecast.adapters.lm_eval_samples(path, family=..., model=...)",
                )
            ]
        )
    elif suffixes and suffixes[-1] == ".json":
        frame = _read_lm_eval_json(path)
    else:
        frame = read_csv_table(path, sep="\t" if ".tsv" in suffixes else ",")
    return validate_eval_table(frame, source=source, chance=chance, smooth_direction=smooth_direction)


def _read_lm_eval_json(path: Path) -> pd.DataFrame:
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise EvalTableError([Problem(str(path), None, None, f"invalid JSON: {err}")]) from err
    return lm_eval_results_frame(payload, source=str(path))
