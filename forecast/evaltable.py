"""The eval table: the one long format everything in Turnsignal speaks.

One row per (model, task, metric[, shots, split, step]). Required columns: `family`, `model`,
`params` (parameter count, > 0), `task`, `metric`, `value`. Optional: `tokens` (training tokens,
> 0), `compute_flops` (training FLOPs, default 6 * params * tokens), `chance` (success rate of random
guessing, in [0, 1)), `n_examples`, `shots`, `split`, `step` (training step of the checkpoint; NaN
means the final checkpoint). Any other column is kept as metadata.

`validate_eval_table` returns a new, normalised frame; every problem found is collected into one
`EvalTableError` that names the source, the row and the column.

Row convention in messages: rows are 1-based *data* rows, the header is not counted, so "row 1" is
the first row under the header (line 2 of a CSV file).
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from forecast.compute import training_flops
from forecast.metrics import Metric, lookup_metric

REQUIRED_COLUMNS: tuple[str, ...] = ("family", "model", "params", "task", "metric", "value")
STANDARD_COLUMNS: tuple[str, ...] = (
    "family",
    "model",
    "params",
    "tokens",
    "compute_flops",
    "task",
    "metric",
    "value",
    "kind",
    "higher_is_better",
    "chance",
    "n_examples",
    "shots",
    "split",
    "step",
)
STRING_COLUMNS: tuple[str, ...] = ("family", "model", "task", "metric", "split")
NUMERIC_COLUMNS: tuple[str, ...] = (
    "params",
    "tokens",
    "compute_flops",
    "value",
    "chance",
    "n_examples",
    "shots",
    "step",
)
# Two rows with the same values here describe the same measurement.
DUPLICATE_KEY: tuple[str, ...] = ("family", "model", "task", "metric", "shots", "split", "step")
# Columns whose disagreement between two same-key rows makes them conflicting duplicates.
_CORE_VALUES: tuple[str, ...] = ("params", "tokens", "compute_flops", "value", "chance", "n_examples")
ALL_TASKS = "*"
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Problem:
    """One validation problem. `row` is the 1-based data row (header not counted), or None."""

    source: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


class EvalTableError(ValueError):
    """An eval table failed validation; `problems` lists everything that was wrong."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(_format_problems(self.problems))


def _format_problems(problems: list[Problem]) -> str:
    sources = sorted({p.source for p in problems})
    head = (
        f"invalid eval table {', '.join(sources)}: {len(problems)} problem(s) "
        "(rows are 1-based data rows, header not counted: row 1 is line 2 of a CSV)"
    )
    lines = [head] + [f"  - {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reading


def read_csv_table(path: Path, sep: str) -> pd.DataFrame:
    """Read a CSV keeping every cell as written (numbers are parsed later, with row-level errors)."""
    _check_csv_shape(path, sep)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True, index_col=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise EvalTableError([Problem(str(path), None, None, f"cannot parse as CSV: {err}")]) from err
    for column in frame.columns:
        if column not in STANDARD_COLUMNS:
            frame[column] = _numeric_if_possible(frame[column])
    return frame


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    """Metadata columns: float64 when every non-empty cell is a number, else Python str objects."""
    try:
        return pd.to_numeric(column, errors="raise").astype("float64")
    except (ValueError, TypeError):
        return column.astype(object)


def _check_csv_shape(path: Path, sep: str) -> None:
    """Every data row must have as many fields as the header (pandas would silently shift them)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    problems = []
    try:
        with opener(path, "rt", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep)
            header = next(reader, None)
            if header is None:
                raise EvalTableError([Problem(str(path), None, None, "the file is empty")])
            for row_number, fields in enumerate(reader, start=1):
                if fields and len(fields) != len(header):
                    problems.append(Problem(str(path), row_number, None,
                                            f"{len(fields)} fields, the header has {len(header)}"))
    except (UnicodeDecodeError, csv.Error, OSError) as err:
        raise EvalTableError([Problem(str(path), None, None, f"cannot parse as CSV: {err}")]) from err
    if problems:
        raise EvalTableError(problems)


# ----------------------------------------------------------------------------- validation


def validate_eval_table(
    df: pd.DataFrame,
    *,
    source: str = "<table>",
    chance: float | None = None,
    smooth_direction: str | None = None,
    row_numbers: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Validate `df` and return a new normalised eval table.

    Output columns, in order: `STANDARD_COLUMNS` (family, model, params, tokens, compute_flops,
    task, metric, value, kind, higher_is_better, chance, n_examples, shots, split, step), then the
    input's other columns unchanged. Numbers are float64 (params and tokens are counts,
    compute_flops is training FLOPs, not log10); strings are Python `str` in object columns; missing
    optional values are NaN. Exact duplicate rows are dropped; everything else that is wrong is
    collected and raised as one `EvalTableError`.

    `chance` fills the chance rate of success-metric rows that have none; `smooth_direction`
    ("lower"/"higher") accepts unknown metric names as smooth metrics with that direction.
    `row_numbers` (one per row of `df`) are the 1-based data rows of `source` the rows came from,
    for adapters that derive `df` from a larger file; by default row i of `df` is row i + 1.
    """
    if chance is not None and not (0.0 <= float(chance) < 1.0):
        raise ValueError(f"chance must be in [0, 1), got {chance}")
    problems: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise EvalTableError(
            [Problem(source, None, c, "required column is missing") for c in missing]
        )
    work = df.reset_index(drop=True).copy()
    rows = np.arange(1, len(work) + 1) if row_numbers is None else np.asarray(row_numbers, int)
    if len(rows) != len(work):
        raise ValueError(f"row_numbers has {len(rows)} entries for {len(work)} rows")
    if len(work) == 0:
        raise EvalTableError([Problem(source, None, None, "the table has no rows")])

    for column in STRING_COLUMNS + NUMERIC_COLUMNS:
        work[column] = _clean_column(work, column, required=column in REQUIRED_COLUMNS,
                                     source=source, rows=rows, problems=problems)

    _check_positive(work, "params", source, rows, problems)
    _check_positive(work, "tokens", source, rows, problems)
    _check_positive(work, "compute_flops", source, rows, problems)
    _check_positive(work, "n_examples", source, rows, problems)
    _check_nonnegative(work, "shots", source, rows, problems)
    _check_nonnegative(work, "step", source, rows, problems)

    metrics = _resolve_metrics(work, smooth_direction, source, rows, problems)
    work["kind"] = pd.Series([m.kind if m else None for m in metrics], dtype=object)
    work["higher_is_better"] = [bool(m.higher_is_better) if m else False for m in metrics]
    _check_values_in_range(work, metrics, source, rows, problems)
    _fill_and_check_chance(work, metrics, chance, source, rows, problems)
    _check_all_tasks_rows(work, metrics, source, rows, problems)

    missing_flops = work["compute_flops"].isna()
    work.loc[missing_flops, "compute_flops"] = training_flops(work["params"], work["tokens"])

    if problems:
        raise EvalTableError(sorted(problems, key=lambda p: (p.row or 0)))
    work["_row"] = rows
    work = _collapse_duplicates(work, source)
    extras = [c for c in df.columns if c not in STANDARD_COLUMNS]
    out = work[list(STANDARD_COLUMNS) + extras].reset_index(drop=True)
    out["higher_is_better"] = out["higher_is_better"].astype(bool)
    for column in extras:
        if isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].astype(object)  # Python str objects, like the key columns
    return out


def _is_missing(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def _clean_column(
    work: pd.DataFrame,
    column: str,
    *,
    required: bool,
    source: str,
    rows: np.ndarray,
    problems: list[Problem],
) -> pd.Series:
    """The column cleaned, NaN where missing: stripped Python str objects (``STRING_COLUMNS``) or
    float64 (``NUMERIC_COLUMNS``; non-numbers and non-finite values are reported). A missing
    required value is reported."""
    numeric = column in NUMERIC_COLUMNS
    if column not in work.columns:
        return pd.Series(np.nan, index=work.index, dtype="float64" if numeric else object)
    raw = work[column]
    if numeric and (raw.dtype == bool or pd.api.types.is_bool_dtype(raw.dtype)):
        raw = raw.astype("float64")
    missing = _is_missing(raw).to_numpy()
    if numeric:
        cleaned = _parse_numbers(raw, missing, column, source, rows, problems)
    else:
        cleaned = pd.Series([np.nan if m else str(v).strip() for v, m in zip(raw.tolist(), missing)],
                            index=work.index, dtype=object)
    if required:
        for r in rows[missing]:
            problems.append(Problem(source, int(r), column, "missing value (required)"))
    return cleaned


def _parse_numbers(raw: pd.Series, missing: np.ndarray, column: str, source: str, rows: np.ndarray,
                   problems: list[Problem]) -> pd.Series:
    """``raw`` as float64 (NaN where missing or not finite); report non-numbers and non-finite values."""
    numbers = pd.to_numeric(raw.where(~missing), errors="coerce").astype("float64")
    values = numbers.to_numpy()
    not_numeric = ~missing & np.isnan(values)
    raw_list = raw.tolist()
    for i in np.flatnonzero(not_numeric):
        problems.append(Problem(source, int(rows[i]), column, f"not a number: {raw_list[i]!r}"))
    for i in np.flatnonzero(np.isinf(values)):
        problems.append(Problem(source, int(rows[i]), column, f"not finite: {values[i]:g}"))
    return pd.Series(np.where(np.isinf(values), np.nan, values), index=raw.index, dtype="float64")


def _check_positive(work, column, source, rows, problems) -> None:
    values = work[column].to_numpy()
    for i in np.flatnonzero(~np.isnan(values) & (values <= 0)):
        problems.append(Problem(source, int(rows[i]), column, f"must be > 0, got {values[i]:g}"))


def _check_nonnegative(work, column, source, rows, problems) -> None:
    values = work[column].to_numpy()
    for i in np.flatnonzero(~np.isnan(values) & (values < 0)):
        problems.append(Problem(source, int(rows[i]), column, f"must be >= 0, got {values[i]:g}"))


def _resolve_metrics(
    work: pd.DataFrame,
    smooth_direction: str | None,
    source: str,
    rows: np.ndarray,
    problems: list[Problem],
) -> list[Metric | None]:
    """Look every metric name up once; report unknown names at every row that uses them.

    An unknown name is also accepted when the table itself says, consistently on every row of
    that metric, `kind == "smooth"` and a `higher_is_better` value (a table this module wrote).
    """
    resolved: dict[str, Metric | str] = {}
    for name in pd.unique(work["metric"].dropna()):
        direction = smooth_direction or _declared_smooth_direction(work, name)
        try:
            resolved[name] = lookup_metric(name, direction)  # type: ignore[arg-type]
        except ValueError as err:
            resolved[name] = str(err)
    out: list[Metric | None] = []
    for r, name in zip(rows, work["metric"].tolist()):
        found = resolved.get(name) if isinstance(name, str) else None
        if isinstance(found, str):
            problems.append(Problem(source, int(r), "metric", found))
            found = None
        out.append(found)
    return out


def _declared_smooth_direction(work: pd.DataFrame, name: str) -> str | None:
    """"lower"/"higher" if every row of metric `name` declares kind smooth and one direction."""
    if "kind" not in work.columns or "higher_is_better" not in work.columns:
        return None
    rows = work[work["metric"] == name]
    kinds = set(rows["kind"].astype(str).str.strip())
    directions = set(rows["higher_is_better"].astype(str).str.strip().str.lower())
    if kinds != {"smooth"} or len(directions) != 1:
        return None
    return {"true": "higher", "false": "lower"}.get(directions.pop())


def _check_values_in_range(work, metrics, source, rows, problems) -> None:
    values = work["value"].to_numpy()
    for r, metric, value in zip(rows, metrics, values):
        if metric is None or np.isnan(value) or metric.in_range(value):
            continue
        what = "success rate" if metric.kind == "success" else f"{metric.name}"
        problems.append(
            Problem(source, int(r), "value",
                    f"{what} {value:g} outside [{metric.lower:g}, {metric.upper:g}] "
                    f"for metric {metric.name!r}")
        )


def _fill_and_check_chance(work, metrics, chance, source, rows, problems) -> None:
    is_success = np.array([m is not None and m.kind == "success" for m in metrics], dtype=bool)
    values = work["chance"].to_numpy().copy()
    if chance is not None:
        values[is_success & np.isnan(values)] = float(chance)
    for r in rows[is_success & np.isnan(values)]:
        problems.append(
            Problem(source, int(r), "chance",
                    "success metric needs a chance rate (fill the column or pass a global chance)")
        )
    bad = ~np.isnan(values) & ((values < 0) | (values >= 1))
    for i in np.flatnonzero(bad):
        problems.append(Problem(source, int(rows[i]), "chance", f"must be in [0, 1), got {values[i]:g}"))
    work["chance"] = values


def _check_all_tasks_rows(work, metrics, source, rows, problems) -> None:
    tasks = work["task"].tolist()
    for r, task, metric in zip(rows, tasks, metrics):
        if task == ALL_TASKS and metric is not None and metric.kind != "smooth":
            problems.append(
                Problem(source, int(r), "task",
                        f"task '*' (all tasks) is only allowed for smooth metrics, "
                        f"not {metric.name!r}")
            )


def _key_frame(work: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Columns with NaN replaced by a sentinel so NaN == NaN when grouping."""
    return pd.DataFrame({c: work[c].astype(object).where(work[c].notna(), "<NA>") for c in columns})


def _collapse_duplicates(work: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows identical in key and core values; raise on same key with different values."""
    key = _key_frame(work, DUPLICATE_KEY)
    core = _key_frame(work, DUPLICATE_KEY + _CORE_VALUES)
    keep = ~core.duplicated(keep="first")
    deduped = work[keep.to_numpy()]
    dkey = key[keep.to_numpy()]
    clash = dkey.duplicated(keep=False).to_numpy()
    if not clash.any():
        return deduped
    problems = []
    for group in _clash_groups(deduped[clash], dkey[clash]):
        first = group.iloc[0]
        for _, other in group.iloc[1:].iterrows():
            differing = [c for c in _CORE_VALUES if not _same(first[c], other[c])]
            label = ", ".join(f"{c}={_show(first[c])}" for c in DUPLICATE_KEY if pd.notna(first[c]))
            problems.append(
                Problem(source, int(other["_row"]), differing[0] if differing else "value",
                        f"conflicting duplicate of row {int(first['_row'])} ({label}): "
                        + "; ".join(f"{c} {_show(first[c])} vs {_show(other[c])}" for c in differing))
            )
    raise EvalTableError(problems)


def _clash_groups(rows_frame: pd.DataFrame, keys: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Yield the rows sharing one duplicate key, in file order."""
    labels = keys.astype(str).agg("\x1f".join, axis=1)
    for index in labels.groupby(labels, sort=False).groups.values():
        yield rows_frame.loc[index]


def _show(value: object) -> str:
    """A value as a user would write it in a CSV cell."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.10g}"
    return str(value)


def _same(a: object, b: object) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    return a == b


# ----------------------------------------------------------------------------- selection


def final_checkpoints(df: pd.DataFrame) -> pd.DataFrame:
    """For each (family, model, task, metric) keep the rows of the final checkpoint.

    A NaN `step` means "final checkpoint", so NaN-step rows win over any numbered step; otherwise
    the largest step is kept. Rows that differ in shots or split are kept side by side.
    """
    if "step" not in df.columns:
        return df.copy()
    group_cols = ["family", "model", "task", "metric"]
    rank = df["step"].astype("float64").fillna(np.inf)
    best = rank.groupby([df[c] for c in group_cols], dropna=False, sort=False).transform("max")
    return df[(rank == best).to_numpy()].reset_index(drop=True)
