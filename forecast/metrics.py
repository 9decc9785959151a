"""Metric registry: which eval metrics are smooth (likelihood-like) and which are success rates.

A *smooth* metric moves steadily with scale (bits per byte, negative log-likelihood, perplexity,
validation loss). A *success* metric is a thresholded rate in [0, 1] (accuracy, exact match, pass@1)
that sits near chance and then rises. The model links the two, so every metric name in an eval
table must resolve to one of these kinds with a known direction and range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["smooth", "success"]
SmoothDirection = Literal["lower", "higher"]


@dataclass(frozen=True)
class Metric:
    """One metric's kind, direction and valid value range [lower, upper]."""

    name: str
    kind: MetricKind
    higher_is_better: bool
    lower: float
    upper: float

    def in_range(self, value: float) -> bool:
        """True when `value` lies in [lower, upper]."""
        return self.lower <= value <= self.upper


_INF = math.inf

# name -> (kind, higher_is_better, lower, upper)
_REGISTRY: dict[str, tuple[MetricKind, bool, float, float]] = {
    # smooth, lower is better
    "bpb": ("smooth", False, 0.0, _INF),  # bits per byte of the correct answer
    "bits_per_byte": ("smooth", False, 0.0, _INF),  # Pythia / lm-eval wikitext
    "nll": ("smooth", False, 0.0, _INF),  # negative log-likelihood, nats
    "ppl": ("smooth", False, 1.0, _INF),  # perplexity
    "perplexity": ("smooth", False, 1.0, _INF),
    "word_perplexity": ("smooth", False, 1.0, _INF),
    "byte_perplexity": ("smooth", False, 1.0, _INF),
    "CrossEntropyLoss": ("smooth", False, 0.0, _INF),  # OLMo LM validation loss, nats/token
    # smooth, higher is better
    "logp_correct": ("smooth", True, -_INF, 0.0),  # log-probability of the correct answer, nats
    "soft_log": ("smooth", True, -_INF, 0.0),  # OLMo mean log-prob of the correct choice
    "p_correct": ("smooth", True, 0.0, 1.0),  # probability of the correct answer
    "soft": ("smooth", True, 0.0, 1.0),  # OLMo mean probability of the correct choice
    # success rates
    "acc": ("success", True, 0.0, 1.0),
    "acc_norm": ("success", True, 0.0, 1.0),
    "len_norm": ("success", True, 0.0, 1.0),  # OLMo's per-character-normalised accuracy
    "exact_match": ("success", True, 0.0, 1.0),
    "pass@1": ("success", True, 0.0, 1.0),
}


def _loss_like(name: str) -> bool:
    """`*_loss` and `val_loss*` names (any case) are smooth, lower-is-better losses."""
    lowered = name.lower()
    return lowered.endswith("_loss") or lowered.startswith("val_loss") or lowered == "loss"


def known_metric_names() -> list[str]:
    """Registered metric names (patterns `*_loss` / `val_loss*` are also accepted)."""
    return sorted(_REGISTRY)


def lookup_metric(name: str, smooth_direction: SmoothDirection | None = None) -> Metric:
    """Resolve a metric name to its `Metric`.

    Registered names and the `*_loss` / `val_loss*` patterns resolve on their own. An unknown
    name raises `ValueError` unless `smooth_direction` ("lower" or "higher" is better) is given,
    in which case it is treated as an unbounded smooth metric with that direction.
    """
    if name in _REGISTRY:
        kind, higher, lower, upper = _REGISTRY[name]
        return Metric(name, kind, higher, lower, upper)
    if _loss_like(name):
        return Metric(name, "smooth", False, 0.0, _INF)
    if smooth_direction is None:
        raise ValueError(
            f"unknown metric {name!r}: known metrics are {', '.join(known_metric_names())} "
            "and *_loss / val_loss*; pass a smooth direction ('lower' or 'higher' is better) "
            "to accept it as a smooth metric"
        )
    if smooth_direction not in ("lower", "higher"):
        raise ValueError(f"smooth_direction must be 'lower' or 'higher', got {smooth_direction!r}")
    return Metric(name, "smooth", smooth_direction == "higher", -_INF, _INF)
