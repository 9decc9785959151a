"""Trend and link functions: the model's pure math, written once for numpy and PyTensor.

Conventions (used everywhere in Turnsignal):

* ``x`` is log10 training compute in FLOPs (compute ~ 6 * params * tokens).
* The smooth metric enters the model *standardised and oriented*: ``s = sign * (raw - center) / scale``
  per task, with ``sign = -1`` for higher-is-better metrics, so that internally lower ``s`` is always
  better (like bits per byte). ``center``/``scale`` come from the training data (see ``forecast.design``).
* ``chance`` is the success rate of random guessing, ``gap`` the distance of the accuracy ceiling from 1.

Every function takes ``ops``: an object with ``exp``, ``log``, ``erfc`` and ``sqrt`` attributes. The
default :data:`NUMPY` evaluates on numpy arrays; ``models`` passes PyTensor's tensor module so the
sampled model and the numpy predictions share one formula (a test checks they agree).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import special

NUMPY = SimpleNamespace(exp=np.exp, log=np.log, erfc=special.erfc, sqrt=np.sqrt)
"""numpy/scipy implementations of the operations the link functions need."""

LN10 = float(np.log(10.0))


def normal_cdf(z: Any, ops: Any = NUMPY) -> Any:
    """Standard normal CDF Phi(z) via erfc, accurate in both tails."""
    return 0.5 * ops.erfc(-z / np.sqrt(2.0))


def trend_compute(x: Any, floor: Any, log_amplitude: Any, rate: Any, x0: float, ops: Any = NUMPY) -> Any:
    """Saturating power law in compute: ``s = floor + exp(log_amplitude - rate * (x - x0))``.

    ``x`` is log10 FLOPs; ``rate`` is per decade of compute (a power-law exponent ``a`` in
    ``C**-a`` corresponds to ``rate = a * ln 10``); ``floor`` is the irreducible level of the
    standardised smooth metric. All arguments broadcast.
    """
    return floor + ops.exp(log_amplitude - rate * (x - x0))


def trend_params_tokens(
    log10_params: Any,
    log10_tokens: Any,
    floor: Any,
    log_amp_params: Any,
    rate_params: Any,
    log_amp_tokens: Any,
    rate_tokens: Any,
    n0: float,
    d0: float,
    ops: Any = NUMPY,
) -> Any:
    """Two-variable form ``s = E + A / N**a + B / D**b`` written in log10 units and centred.

    ``s = floor + exp(log_amp_params - rate_params * (log10 N - n0))
                + exp(log_amp_tokens - rate_tokens * (log10 D - d0))`` with rates per decade.
    """
    params_term = ops.exp(log_amp_params - rate_params * (log10_params - n0))
    tokens_term = ops.exp(log_amp_tokens - rate_tokens * (log10_tokens - d0))
    return floor + params_term + tokens_term


def success_from_smooth(
    s: Any,
    threshold: Any,
    spread: Any,
    chance: Any,
    gap: Any,
    steps: Any = 1,
    ops: Any = NUMPY,
) -> Any:
    """Expected success rate given the (standardised, lower-is-better) smooth metric ``s``.

    Each example's margin of the right answer over the best wrong one is ``Normal(mu, sd)`` with ``mu``
    linear in ``s``; an example succeeds when its margin is positive, so the per-step success is
    ``Phi((threshold - s) / spread)``. With ``steps`` = k sequential steps (exact match over k
    tokens or operations) it is raised to the power k, then mapped between chance and the ceiling:

    ``success = chance + (1 - chance - gap) * Phi((threshold - s) / spread) ** steps``.

    ``spread`` (> 0) is the per-example "logit variance" in units of ``s``.
    """
    per_step = normal_cdf((threshold - s) / spread, ops)
    return chance + (1.0 - chance - gap) * per_step**steps


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (numpy only; used by closed-form emergence)."""
    return special.ndtri(p)


def smooth_for_success(
    target: np.ndarray,
    threshold: np.ndarray,
    spread: np.ndarray,
    chance: np.ndarray,
    gap: np.ndarray,
    steps: np.ndarray | float = 1,
) -> np.ndarray:
    """Invert :func:`success_from_smooth`: the standardised smooth level where success equals ``target``.

    Returns ``+inf`` where the target is at or below chance (reached at any smooth level) and ``-inf``
    where it is at or above the ceiling ``1 - gap`` (never reached).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (np.asarray(target) - chance) / (1.0 - chance - gap)
        per_step = np.clip(fraction, 0.0, 1.0) ** (1.0 / np.asarray(steps, dtype=float))
        level = threshold - spread * normal_ppf(per_step)
    return np.where(fraction <= 0, np.inf, np.where(fraction >= 1, -np.inf, level))
