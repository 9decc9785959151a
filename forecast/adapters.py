"""Adapters from public evaluation logs into the eval table (see `forecast.evaltable`).

- `olmo_ladder`: the OLMo-2 model ladder (Bhagia et al. 2024) tidy CSVs in `../shared/data/olmo_ladder`.
- `pythia_lambada`: Pythia v1 LAMBADA (OpenAI) perplexity and accuracy from `../shared/data/pythia_evals`.
- `lm_eval_results`: lm-evaluation-harness aggregated results JSON (current `"acc,none"` keys and the
  older plain `"acc"` keys).
- `lm_eval_samples` / `margins_summary`: per-example margins from the harness's `--log_samples` JSONL.

Every table-returning adapter returns a validated eval table (`validate_eval_table`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast.evaltable import EvalTableError, Problem, final_checkpoints, validate_eval_table
from forecast.metrics import lookup_metric

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
) -> pd.DataFrame:
    """OLMo-2 ladder runs as an eval table: `bpb` (smooth, bits per byte) and accuracy (success).

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
    table, row_numbers = _olmo_rows(raw, split=split, source=str(path))
    table = validate_eval_table(table, source=str(path), row_numbers=row_numbers)
    if checkpoints == "final":
        table = final_checkpoints(table)
    return table.sort_values(["params", "tokens", "model", "task", "metric", "step"],
                             kind="stable").reset_index(drop=True)


def _olmo_rows(raw: pd.DataFrame, *, split: str, source: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Filter raw OLMo ladder rows and map them to eval-table columns (not yet validated).

    Also returns the 1-based data row of the source file each output row came from.
    """
    rows = raw[
        raw["format"].eq(OLMO_FORMAT)
        & raw["source_dir"].eq(OLMO_SOURCE_DIR)
        & raw["split"].eq(split)
    ]
    success = rows["task"].map(OLMO_SUCCESS_OVERRIDES).fillna(OLMO_SUCCESS_METRIC)
    rows = rows[rows["metric"].eq(OLMO_SMOOTH_METRIC) | rows["metric"].eq(success)]
    if rows.empty:
        raise EvalTableError([Problem(source, None, None,
                                      f"no OLMo ladder rows with format={OLMO_FORMAT!r}, "
                                      f"source_dir={OLMO_SOURCE_DIR!r}, split={split!r}")])
    subtask = rows["subtask"].astype(object)
    has_subtask = subtask.notna().to_numpy()
    task = np.where(has_subtask, rows["task"].astype(str) + "_" + subtask.astype(str),
                    rows["task"].astype(str))
    chance = rows["task"].map(OLMO_CHANCE).astype("float64")
    is_success = rows["metric"].ne(OLMO_SMOOTH_METRIC)
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


# ----------------------------------------------------------------------------- lm-eval results

_NON_METRIC_KEYS = {"alias", "samples", "sample_len", "name", "sample_count"}
_PRETRAINED = re.compile(r"(?:^|,)\s*(?:pretrained|model|path|base_name)=([^,]+)")
_REVISION_STEP = re.compile(r"(?:^|,)\s*revision=(?:global_)?step(\d+)")


def lm_eval_results(
    path: str | Path,
    *,
    family: str,
    model: str,
    params: float,
    tokens: float | None = None,
    chance: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Eval table from an lm-evaluation-harness aggregated results JSON.

    Reads `results[task]["<metric>,<filter>"]` (harness >= 0.4) or `results[task]["<metric>"]`
    (older). Only metric names the registry knows are kept (acc, acc_norm, exact_match, pass@1,
    ppl, word_perplexity, byte_perplexity, bits_per_byte, ...); `*_stderr` values go to a `stderr`
    column. When a metric is reported under several filters the "none" filter wins, else the first
    one listed (the `filter` column says which). `shots` comes from `n-shot` (or the old
    `config.num_fewshot`), `n_examples` from `n-samples.effective`, `step` from a
    `revision=step<N>` model argument. `chance` is one rate for every success row or a
    {task: rate} mapping; success rows without one fail validation.
    """
    payload = _load_json(path)
    frame = lm_eval_results_frame(payload, source=str(path), family=family, model=model,
                                  params=params, tokens=tokens, chance=chance)
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
) -> pd.DataFrame:
    """Unvalidated eval-table rows from a parsed results JSON (see `lm_eval_results`).

    Missing `model` / `params` are taken from `config.model_args` (`pretrained=...`) and
    `config.model_num_parameters` when present; `family` defaults to the model name.
    """
    results = payload.get("results")
    if not isinstance(results, Mapping) or not results:
        raise EvalTableError([Problem(source, None, None,
                                      "not an lm-evaluation-harness results file: no 'results'")])
    config = payload.get("config") or {}
    model_args = str(config.get("model_args") or "")
    model = model or _match(_PRETRAINED, model_args) or payload.get("model_name")
    if params is None and (config.get("model_num_parameters") or 0) > 0:
        params = float(config["model_num_parameters"])
    step = _match(_REVISION_STEP, model_args)
    records = []
    for task, entry in results.items():
        for metric, (filter_name, value, stderr) in _task_metrics(entry).items():
            records.append({
                "family": family or model,
                "model": model,
                "params": params,
                "tokens": tokens,
                "task": task,
                "metric": metric,
                "value": value,
                "chance": _chance_for(chance, task, metric),
                "n_examples": _n_examples(payload, task),
                "shots": _shots(payload, task),
                "step": float(step) if step else np.nan,
                "filter": filter_name,
                "stderr": stderr,
            })
    if not records:
        raise EvalTableError([Problem(source, None, None, "no known metrics in 'results'")])
    return pd.DataFrame.from_records(records)


def _load_json(path: str | Path) -> Mapping[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise EvalTableError([Problem(str(path), None, None, f"invalid JSON: {err}")]) from err


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1).strip() if found else None


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


def _chance_for(chance: float | Mapping[str, float] | None, task: str, metric: str) -> float:
    if lookup_metric(metric).kind != "success" or chance is None:
        return np.nan
    if isinstance(chance, Mapping):
        return float(chance[task]) if task in chance else np.nan
    return float(chance)


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

_SAMPLES_FILE = re.compile(r"^samples_(?P<task>.+?)_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.jsonl$")
SAMPLE_COLUMNS = ("family", "model", "task", "example_id", "margin", "correct", "n_choices")


def lm_eval_samples(
    path: str | Path,
    *,
    family: str,
    model: str,
    task: str | None = None,
) -> pd.DataFrame:
    """Per-example margins from lm-evaluation-harness `--log_samples` output.

    `path` is one `samples_<task>_<timestamp>.jsonl` file or a directory of them (the task name is
    taken from the file name unless `task` is given). For each multiple-choice sample, the
    per-choice log-likelihoods (nats) are read from `filtered_resps` (falling back to `resps`),
    each entry `[loglikelihood, is_greedy]` (the harness writes both as strings), and the correct
    choice from `target` (an index, or the text of a choice as in `arguments`), else `gold`.

    Returns one row per example, columns `family, model, task, example_id, margin, correct,
    n_choices`, where margin = log p(correct choice) - max log p(wrong choice), in nats, and
    correct = margin > 0 (ties count as wrong). Samples that are not multiple-choice
    log-likelihood requests (generation tasks, a single choice) are skipped; a file with none
    usable raises ValueError.
    """
    path = Path(path)
    files = sorted(path.glob("samples_*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no samples_*.jsonl files")
    frames = [_samples_file(f, family=family, model=model, task=task) for f in files]
    return pd.concat(frames, ignore_index=True)


def _samples_file(path: Path, *, family: str, model: str, task: str | None) -> pd.DataFrame:
    if task is None:
        named = _SAMPLES_FILE.match(path.name)
        task = named.group("task") if named else path.stem.removeprefix("samples_")
    records = []
    with path.open() as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {line_number}: invalid JSON: {err}") from err
            parsed = _sample_margin(sample)
            if parsed is None:
                continue
            margin, n_choices = parsed
            records.append((family, model, task, sample.get("doc_id", line_number - 1), margin,
                            bool(margin > 0), n_choices))
    if not records:
        raise ValueError(f"{path}: no multiple-choice log-likelihood samples found")
    frame = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    frame["margin"] = frame["margin"].astype("float64")
    frame["n_choices"] = frame["n_choices"].astype("int64")
    for column in ("family", "model", "task"):
        frame[column] = frame[column].astype(object)
    return frame


def _sample_margin(sample: Mapping[str, Any]) -> tuple[float, int] | None:
    """(margin in nats, number of choices) for one logged sample, or None if not multiple choice."""
    logliks = _choice_logliks(sample)
    if logliks is None or len(logliks) < 2:
        return None
    target = _target_index(sample, len(logliks))
    if target is None:
        return None
    wrong = np.delete(np.asarray(logliks), target)
    return float(logliks[target] - wrong.max()), len(logliks)


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
