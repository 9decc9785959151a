"""Scoring: turn counting predictions + outcome into score rows (vectorised through
forecast.scoring), leaderboards and calibration summaries.

Numeric forecasts are converted to piecewise-linear CDFs on the question's scale (log10 for "log"
questions): quantiles become knots (lower, 0), (q_j, level_j), (upper, 1); a grid CDF uses the 21
grid edges as knots. CRPS is exact for that CDF; the log score is that of the grid bucket holding
the outcome; PIT = F(outcome); covered_50/90 = PIT inside [0.25, 0.75] / [0.05, 0.95].
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant, Question, Score
from api.domain.scoring.schemas import (
    BinaryCalibration, Calibration, Leaderboard, LeaderboardRow, NumericCalibration, ReliabilityBin, ScoreOut,
)
from api.errors import ApiError
from forecast import scoring

GRID_POINTS = 21


@dataclass(frozen=True)
class NumericSpec:
    """A numeric question's bounds and scale (enough to score forecasts on it)."""

    lower: float
    upper: float
    scale: str


def numeric_spec(question: Question) -> NumericSpec:
    assert question.lower is not None and question.upper is not None
    return NumericSpec(question.lower, question.upper, question.scale or "linear")


def numeric_knots(spec: NumericSpec, payload: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """CDF knots (x on the question's scale, F) of a stored numeric payload."""
    lo, hi = float(scoring.to_scale(spec.lower, spec.scale)), float(scoring.to_scale(spec.upper, spec.scale))
    if "quantiles" in payload:
        q = payload["quantiles"]
        values = np.clip(scoring.to_scale(q["values"], spec.scale), lo, hi)
        return scoring.cdf_knots_from_quantiles(q["levels"], values, lo, hi)
    return np.linspace(lo, hi, GRID_POINTS), np.asarray(payload["cdf"], dtype=float)


def score_binary(probabilities: np.ndarray, outcomes: np.ndarray) -> dict[str, np.ndarray]:
    """log_score (nats) and brier per binary forecast."""
    return {"log_score": scoring.log_score_binary(probabilities, outcomes), "brier": scoring.brier_score(probabilities, outcomes)}


def numeric_knot_blocks(
    specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]],
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """CDF knots of n stored numeric payloads, vectorised by form: a list of blocks (rows, x, F),
    one per form (quantile sets grouped by their number of quantiles; grid CDFs), where `rows` are
    the payloads' indices and x, F (len(rows), K) their knots exactly as `numeric_knots` builds them.
    `bounds`: `spec_arrays(specs)` if the caller already has it."""
    n = len(payloads)
    if len(specs) != n:
        raise ValueError("specs and payloads must have the same length")
    lo, hi, is_log = bounds if bounds is not None else spec_arrays(specs)
    groups: dict[int, list[int]] = {}  # number of quantiles -> rows; -1 for grid CDFs
    for i, payload in enumerate(payloads):
        quantiles = payload.get("quantiles")
        groups.setdefault(-1 if quantiles is None else len(quantiles["levels"]), []).append(i)
    blocks = []
    for k, members in groups.items():
        rows = np.asarray(members, dtype=np.intp)
        if k < 0:
            x = np.linspace(lo[rows], hi[rows], GRID_POINTS, axis=1)
            cdfs = [payloads[i]["cdf"] for i in members]
            if any(len(c) != GRID_POINTS for c in cdfs):
                raise ValueError(f"a grid CDF must have {GRID_POINTS} values")
            f = np.array(cdfs, dtype=float).reshape(x.shape)
        else:
            levels = np.array([payloads[i]["quantiles"]["levels"] for i in members], dtype=float).reshape(len(rows), k)
            value_lists = [payloads[i]["quantiles"]["values"] for i in members]
            if any(len(v) != k for v in value_lists):
                raise ValueError("levels and values must have the same length")
            raw = np.array(value_lists, dtype=float).reshape(len(rows), k)
            log_rows = is_log[rows, None]
            values = np.where(log_rows, np.log10(np.where(log_rows, raw, 1.0)), raw)
            values = np.clip(values, lo[rows, None], hi[rows, None])
            x, f = scoring.cdf_knots_from_quantile_sets(levels, values, lo[rows], hi[rows])
        blocks.append((rows, x, f))
    return blocks


def numeric_knots_batch(specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded CDF knots (xs, fs), shape (n, K), of n stored numeric payloads at once: equal to
    `pad_knots([numeric_knots(spec, payload) ...])`, built per form by `numeric_knot_blocks`."""
    return scoring.pad_knot_blocks(numeric_knot_blocks(specs, payloads), len(payloads))


def spec_arrays(specs: Sequence[NumericSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-forecast bounds on the question's scale (lower, upper) and a log-scale mask, (n,) each.

    Specs are deduplicated by identity first (callers pass one object per question), so the
    Python-level work is per distinct spec, not per forecast."""
    ids = np.fromiter(map(id, specs), dtype=np.uint64, count=len(specs))
    _, first, codes = np.unique(ids, return_index=True, return_inverse=True)
    table = [specs[int(i)] for i in first]
    lo = np.array([float(scoring.to_scale(s.lower, s.scale)) for s in table], dtype=float)
    hi = np.array([float(scoring.to_scale(s.upper, s.scale)) for s in table], dtype=float)
    log = np.array([s.scale == "log" for s in table], dtype=bool)
    codes = codes.reshape(-1)
    return lo[codes], hi[codes], log[codes]


def score_numeric_payloads(outcomes: np.ndarray, specs: Sequence[NumericSpec], payloads: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """`score_numeric` of stored payloads, vectorised: knots are built per form and each form is
    scored at its own knot width (no padding of 3-quantile sets to a 21-point grid)."""
    n = len(payloads)
    y = np.asarray(outcomes, dtype=float)
    lo, hi, is_log = bounds = spec_arrays(specs)
    out: dict[str, np.ndarray] = {}
    for rows, x, f in numeric_knot_blocks(specs, payloads, bounds):
        values = _score_numeric_core(y[rows], lo[rows], hi[rows], is_log[rows], x, f)
        for name, column in values.items():
            if name not in out:
                out[name] = np.empty(n, dtype=column.dtype)
            out[name][rows] = column
    if not out:
        empty = np.empty(0)
        return {"crps": empty, "crps_normalized": empty, "pit": empty, "log_score": empty,
                "covered_50": empty.astype(bool), "covered_90": empty.astype(bool)}
    return out


def score_numeric(outcomes: np.ndarray, specs: Sequence[NumericSpec], knots: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """`score_numeric_padded` for per-forecast knots (padded here with `forecast.scoring.pad_knots`)."""
    xs, fs = scoring.pad_knots(knots)
    return score_numeric_padded(outcomes, specs, xs, fs)


def score_numeric_padded(outcomes: np.ndarray, specs: Sequence[NumericSpec], xs: np.ndarray, fs: np.ndarray) -> dict[str, np.ndarray]:
    """crps, crps_normalized, log_score (bucket), pit, covered_50, covered_90 per numeric forecast.

    `outcomes` are in the questions' units; everything is computed on each question's scale.
    xs, fs: padded knots (n, K) as from `numeric_knots_batch`."""
    return _score_numeric_core(np.asarray(outcomes, dtype=float), *spec_arrays(specs), xs, fs)


def _score_numeric_core(outcomes: np.ndarray, lo: np.ndarray, hi: np.ndarray, is_log: np.ndarray,
                        xs: np.ndarray, fs: np.ndarray) -> dict[str, np.ndarray]:
    y = np.where(is_log, np.log10(np.maximum(outcomes, 1e-300)), outcomes)
    edges = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, GRID_POINTS)[None, :]
    crps = scoring.crps_piecewise_linear(y, xs, fs)
    pit = scoring.pit_piecewise_linear(y, xs, fs)
    return {
        "crps": crps, "crps_normalized": crps / (hi - lo), "pit": pit,
        "log_score": scoring.log_score_bucket(y, xs, fs, edges),
        "covered_50": (pit >= 0.25) & (pit <= 0.75), "covered_90": (pit >= 0.05) & (pit <= 0.95),
    }


def score_rows(question: Question, outcome: float, predictions: list[Any]) -> list[dict[str, Any]]:
    """Score values (dicts of Score columns) for the counting predictions of one question."""
    if not predictions:
        return []
    n = len(predictions)
    if question.kind == "binary":
        p = np.array([pr.probability for pr in predictions], dtype=float)
        values = score_binary(p, np.full(n, outcome))
    else:
        values = score_numeric_payloads(np.full(n, outcome), [numeric_spec(question)] * n, [pr.payload for pr in predictions])
    rows = []
    for i, pr in enumerate(predictions):
        row: dict[str, Any] = {"prediction_id": pr.id, "participant_id": pr.participant_id, "outcome": outcome,
                               "probability": pr.probability}
        for name, column in values.items():
            value = column[i]
            row[name] = bool(value) if column.dtype == bool else float(value)
        rows.append(row)
    return rows


async def question_scores(session: AsyncSession, question: Question, history: bool) -> list[ScoreOut]:
    statement = select(Score).where(Score.question_id == question.id).order_by(Score.computed_at, Score.id)
    if not history:
        statement = statement.where(Score.is_current.is_(True))
    return [ScoreOut.model_validate(s) for s in (await session.execute(statement)).scalars()]


async def participant_scores(session: AsyncSession, participant_id: str) -> list[ScoreOut]:
    statement = select(Score).where(Score.participant_id == participant_id, Score.is_current.is_(True)).order_by(Score.computed_at)
    return [ScoreOut.model_validate(s) for s in (await session.execute(statement)).scalars()]


LEADERBOARD_COLUMNS = {"log_score": (Score.log_score, True), "brier": (Score.brier, False), "crps": (Score.crps_normalized, False)}


def rank_rows(rows: list[tuple[str, str, str, bool, float, int]], metric: str, min_questions: int) -> Leaderboard:
    """Sort by mean score (best first), rank those with >= min_questions (ties share a rank)."""
    higher_is_better = LEADERBOARD_COLUMNS[metric][1]
    ordered = sorted(rows, key=lambda r: (-r[4] if higher_is_better else r[4], r[1]))
    ranked: list[LeaderboardRow] = []
    unranked: list[LeaderboardRow] = []
    for pid, handle, name, is_bot, score, n in ordered:
        row = LeaderboardRow(rank=None, participant_id=pid, handle=handle, display_name=name, is_bot=is_bot,
                             score=float(score), n_questions=int(n))
        if n >= min_questions:
            previous = ranked[-1] if ranked else None
            row.rank = previous.rank if previous is not None and previous.score == row.score else len(ranked) + 1
            ranked.append(row)
        else:
            unranked.append(row)
    return Leaderboard(metric=metric, min_questions=min_questions, ranked=ranked, unranked=unranked)


async def leaderboard(session: AsyncSession, metric: str, min_questions: int) -> Leaderboard:
    """Mean of the metric over each participant's current scores (one per resolved question)."""
    column = LEADERBOARD_COLUMNS[metric][0]
    statement = (
        select(Participant.id, Participant.handle, Participant.display_name, Participant.is_bot, func.avg(column), func.count(column))
        .join(Score, Score.participant_id == Participant.id)
        .where(Score.is_current.is_(True), column.is_not(None))
        .group_by(Participant.id, Participant.handle, Participant.display_name, Participant.is_bot)
    )
    rows = [tuple(r) for r in (await session.execute(statement)).all()]
    return rank_rows(rows, metric, min_questions)  # type: ignore[arg-type]


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def binary_calibration(probabilities: np.ndarray, outcomes: np.ndarray, log_scores: np.ndarray, n_bins: int) -> BinaryCalibration:
    bins = scoring.reliability_bins(probabilities, outcomes, n_bins)
    rows = [ReliabilityBin(lower=float(bins["lower"][k]), upper=float(bins["upper"][k]), count=int(bins["count"][k]),
                           mean_forecast=None if bins["count"][k] == 0 else float(bins["mean_forecast"][k]),
                           observed_frequency=None if bins["count"][k] == 0 else float(bins["observed_frequency"][k]))
            for k in range(n_bins)]
    if probabilities.size == 0:
        return BinaryCalibration(n=0, mean_log_score=None, mean_brier=None, ece=None, brier_reliability=None,
                                 brier_resolution=None, brier_uncertainty=None, reliability_bins=rows)
    parts = scoring.brier_decomposition(probabilities, outcomes, n_bins)
    return BinaryCalibration(
        n=int(probabilities.size), mean_log_score=_mean(log_scores), mean_brier=parts["brier"],
        ece=scoring.expected_calibration_error(probabilities, outcomes, n_bins), brier_reliability=parts["reliability"],
        brier_resolution=parts["resolution"], brier_uncertainty=parts["uncertainty"], reliability_bins=rows)


async def calibration(session: AsyncSession, participant_id: str, n_bins: int) -> Calibration:
    """Reliability bins, ECE, Brier decomposition (binary) and PIT histogram, coverage (numeric)."""
    if await session.get(Participant, participant_id) is None:
        raise ApiError(404, "participant not found", "participant_id")
    scores = (await session.execute(select(Score).where(Score.participant_id == participant_id, Score.is_current.is_(True)))).scalars().all()
    binary = [s for s in scores if s.brier is not None]
    numeric = [s for s in scores if s.pit is not None]
    p = np.array([s.probability for s in binary], dtype=float)
    o = np.array([s.outcome for s in binary], dtype=float)
    pit = np.array([s.pit for s in numeric], dtype=float)
    return Calibration(
        participant_id=participant_id,
        binary=binary_calibration(p, o, np.array([s.log_score for s in binary]), n_bins),
        numeric=NumericCalibration(
            n=len(numeric), mean_log_score=_mean(np.array([s.log_score for s in numeric])),
            mean_crps_normalized=_mean(np.array([s.crps_normalized for s in numeric], dtype=float)),
            coverage_50=_mean(np.array([s.covered_50 for s in numeric], dtype=float)),
            coverage_90=_mean(np.array([s.covered_90 for s in numeric], dtype=float)),
            pit_histogram=[int(c) for c in scoring.pit_histogram(pit, n_bins)] if pit.size else [0] * n_bins,
        ),
    )
