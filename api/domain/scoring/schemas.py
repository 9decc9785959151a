"""Score, leaderboard and calibration bodies. Units as in `api.db.models.Score`."""
from __future__ import annotations

from datetime import datetime

from api.schemas import ResponseBody


class ScoreOut(ResponseBody):
    """Scores of one counting prediction. log_score in nats (higher better); brier in p^2 (binary);
    crps in the question's scale units (log10 of the unit for log-scale questions), crps_normalized =
    crps / (upper - lower) on that scale; pit in [0, 1]; covered_50/90: central-interval coverage."""

    id: str
    prediction_id: str
    question_id: str
    participant_id: str
    resolution_id: str
    is_current: bool
    outcome: float
    probability: float | None
    log_score: float
    brier: float | None
    crps: float | None
    crps_normalized: float | None
    pit: float | None
    covered_50: bool | None
    covered_90: bool | None
    computed_at: datetime


class LeaderboardRow(ResponseBody):
    rank: int | None
    participant_id: str
    handle: str
    display_name: str
    is_bot: bool
    score: float
    n_questions: int


class Leaderboard(ResponseBody):
    """`metric`: log_score (all questions, higher better), brier (binary, lower better), crps
    (numeric, normalized CRPS, lower better). Only participants with >= min_questions are ranked."""

    metric: str
    min_questions: int
    ranked: list[LeaderboardRow]
    unranked: list[LeaderboardRow]


class ReliabilityBin(ResponseBody):
    lower: float
    upper: float
    count: int
    mean_forecast: float | None
    observed_frequency: float | None


class BinaryCalibration(ResponseBody):
    n: int
    mean_log_score: float | None
    mean_brier: float | None
    ece: float | None
    brier_reliability: float | None
    brier_resolution: float | None
    brier_uncertainty: float | None
    reliability_bins: list[ReliabilityBin]


class NumericCalibration(ResponseBody):
    n: int
    mean_log_score: float | None
    mean_crps_normalized: float | None
    coverage_50: float | None
    coverage_90: float | None
    pit_histogram: list[int]


class Calibration(ResponseBody):
    participant_id: str
    binary: BinaryCalibration
    numeric: NumericCalibration
