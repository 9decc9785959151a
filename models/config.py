"""Fit configuration and priors, as data. ``FitConfig`` is the one declaration of a fit's options: the
API's fit request (api/domain/fits/schemas.py) and the CLI's fit options (api/cli.py) take their
defaults, bounds and help texts from its fields. Light: no pandas, numpy or PyMC at import.

Priors are a dict ``name -> {"dist": <PyMC distribution>, <its parameters>}`` so a user can override
any of them (``FitConfig(priors={"log_rate_mu": {"dist": "Normal", "mu": -1.0, "sigma": 0.5}})``) and
the exact priors used are stored with every fit.

Units of the priors (see ``forecast.links``): the smooth metric is standardised per series (mean 0,
sd 1 over the training models, lower is better); ``rate`` is per decade of compute; ``spread`` is in
standardised smooth units; the ceiling gap is a fraction of the range between chance and 1.
"""
from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from models.defaults import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TARGET_ACCEPT, DEFAULT_TUNE

DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    # Trend of the smooth metric, parameterised by what the data pin down: its level and slope (per
    # decade, > 0 means improving) at the mean training compute x0, each series on its own (the data
    # pin them down), and its curvature ``rate``, pooled across series. Derived: amplitude = slope / rate, floor = level - amplitude.
    "level": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    "log_slope": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    "log_rate_mu": {"dist": "Normal", "mu": math.log(0.4), "sigma": 0.8},
    "log_rate_sd": {"dist": "HalfNormal", "sigma": 0.3},
    "smooth_noise": {"dist": "HalfNormal", "sigma": 0.3},
    # Two-variable trend (params_tokens): the tokens term's slope (per decade of tokens) and rate.
    "log_slope_tokens": {"dist": "Normal", "mu": 0.0, "sigma": 1.5},
    "log_rate_tokens_mu": {"dist": "Normal", "mu": math.log(0.4), "sigma": 0.8},
    "log_rate_tokens_sd": {"dist": "HalfNormal", "sigma": 0.3},
    # Link from the smooth metric to success: threshold, spread ("logit variance"), ceiling gap. The gap
    # prior centres ceilings ~8% of the way short of perfect (label noise; logit(0.08) = -2.4).
    "threshold_mu": {"dist": "Normal", "mu": -1.0, "sigma": 2.0},
    "threshold_sd": {"dist": "HalfNormal", "sigma": 1.5},
    "log_spread_mu": {"dist": "Normal", "mu": 0.0, "sigma": 1.0},
    "log_spread_sd": {"dist": "HalfNormal", "sigma": 0.5},
    "logit_gap_mu": {"dist": "Normal", "mu": -2.5, "sigma": 1.0},
    # Tasks' ceilings differ little on the logit scale; a wider scale lets one weakly identified task
    # (OLMo csqa: gap, threshold and spread trade off) open a funnel (docs/performance.md, "Divergences").
    "logit_gap_sd": {"dist": "HalfNormal", "sigma": 0.25},
    # Several families in one fit: how far a family's threshold and log spread may shift from the
    # benchmark's pooled value (standardised smooth units; each family's series is standardised apart).
    # Zero-sum across families (base task = the families' average).
    "threshold_family_shift": {"dist": "ZeroSumNormal", "sigma": 1.0},
    "log_spread_family_shift": {"dist": "ZeroSumNormal", "sigma": 0.5},
    # Per-example margins (only with lm-eval per-sample data): mean margin = k * (threshold - s) + offset
    # and margin sd = k * spread, in nats; k is nats per standardised smooth unit.
    "log_margin_scale": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
    "margin_offset": {"dist": "Normal", "mu": 0.0, "sigma": 2.0},
    # Intermediate checkpoints (link_checkpoints="all") are noisier about the link than final ones
    # (learning rate not annealed): their Beta concentration is the task's times this ratio.
    "checkpoint_concentration_ratio": {"dist": "Beta", "alpha": 2.0, "beta": 2.0},
    # Accuracy noise: Beta with concentration kappa (absorbs seed and checkpoint noise).
    "log_concentration_mu": {"dist": "Normal", "mu": math.log(300.0), "sigma": 1.5},
    "log_concentration_sd": {"dist": "HalfNormal", "sigma": 0.5},
}

PRIOR_DISTRIBUTIONS: dict[str, dict[str, bool]] = {
    "Normal": {"mu": False, "sigma": True},
    "HalfNormal": {"sigma": True},
    "StudentT": {"nu": True, "mu": False, "sigma": True},
    "HalfStudentT": {"nu": True, "sigma": True},
    "Cauchy": {"alpha": False, "beta": True},
    "HalfCauchy": {"beta": True},
    "LogNormal": {"mu": False, "sigma": True},
    "Laplace": {"mu": False, "b": True},
    "Gamma": {"alpha": True, "beta": True},
    "Exponential": {"lam": True},
    "Beta": {"alpha": True, "beta": True},
    "TruncatedNormal": {"mu": False, "sigma": True, "lower": False, "upper": False},
    "Uniform": {"lower": False, "upper": False},
    "ZeroSumNormal": {"sigma": True},
}
"""PyMC distributions a prior may use: their parameter names, each True when it must be > 0.
``ZeroSumNormal`` only for the per-family shifts (``*_family_shift``), which are vectors over families."""

POSITIVE_DISTRIBUTIONS = frozenset({"HalfNormal", "HalfStudentT", "HalfCauchy", "LogNormal", "Gamma", "Exponential",
                                    "Beta"})
"""Distributions with positive support, required for scale priors (``*_sd``, ``smooth_noise``, the checkpoint ratio)."""

SMOOTH_NOISE_DOF = 4.0
"""Student-t degrees of freedom of the smooth metric's noise around its trend (robust to outliers)."""

SUCCESS_EPS = 1e-6
"""Expected success is clipped to [SUCCESS_EPS, 1 - SUCCESS_EPS] (keeps Beta/Binomial likelihoods finite)."""


def _one_or_many(value: Any) -> Any:
    """A single name stands for a list of one."""
    return [value] if isinstance(value, str) else value


def _checkpoints_per_run() -> int:
    from forecast.design import CHECKPOINTS_PER_RUN  # pandas: imported when a config is made, not with this module

    return CHECKPOINTS_PER_RUN


class FitConfig(BaseModel):
    """Everything that defines a fit. Stored (as JSON) in the InferenceData of every fit. Each field's
    ``description`` is its help text (the API's schema, the CLI's ``--help``)."""

    model_config = ConfigDict(extra="forbid")

    smooth_metric: str = Field("bpb", min_length=1, max_length=100,
                               description="smooth metric (e.g. bpb, nll, ppl)")
    success_metric: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        default_factory=lambda: ["acc"], min_length=1,
        description="success metric; with several, each task uses the first one listed that it has")
    tasks: list[str] | None = Field(None, min_length=1, description="only these tasks")
    families: list[str] | None = Field(None, min_length=1, description="only these model families")
    trend: Literal["stacked", "compute", "params_tokens"] = Field(
        "stacked", description="stacked (both forms below mixed by leave-largest-out stacking weights, widened "
        "beyond the training range by a link discrepancy; the default, chosen by the backtests) | compute (power "
        "law in FLOPs) | params_tokens (E + A/N^a + B/D^b)")
    link_checkpoints: Literal["final", "all"] = Field(
        "final", description="final | all: also fit the link on a few intermediate checkpoints per run, evenly "
        "spaced in log(step) (needs a `step` column)")
    checkpoints_per_run: int = Field(default_factory=_checkpoints_per_run, ge=1,
                                     description="intermediate checkpoints per run with link_checkpoints all")
    priors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="prior overrides: name -> {dist, its parameters} (see DEFAULT_PRIORS)")
    sampler: Literal["nutpie", "pymc"] = Field("nutpie", description="nutpie (default, fast) | pymc (fallback)")
    draws: int = Field(DEFAULT_DRAWS, ge=50, description="posterior draws per chain")
    tune: int = Field(DEFAULT_TUNE, ge=50, description="warm-up steps per chain")
    chains: int = Field(DEFAULT_CHAINS, ge=1, description="independent chains (R-hat needs >= 2)")
    target_accept: float = Field(DEFAULT_TARGET_ACCEPT, gt=0.5, lt=1.0, description="NUTS target acceptance rate")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random seed of the sampler and the predictive draws")

    @field_validator("priors")
    @classmethod
    def _known_priors(cls, priors: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = sorted(set(priors) - set(DEFAULT_PRIORS))
        if unknown:
            raise ValueError(f"unknown prior names {unknown}; known: {sorted(DEFAULT_PRIORS)}")
        for name, spec in priors.items():
            _check_prior(name, spec)
        return priors

    def resolved_priors(self) -> dict[str, dict[str, Any]]:
        """Defaults overlaid with the user's overrides."""
        return {**DEFAULT_PRIORS, **self.priors}

    def structural_key(self) -> str:
        """The part of the config that defines the model (not how it is sampled), as canonical JSON.

        ``checkpoints_per_run`` counts only when the link uses intermediate checkpoints."""
        keys = ("smooth_metric", "success_metric", "tasks", "families", "trend", "link_checkpoints")
        if self.link_checkpoints == "all":
            keys += ("checkpoints_per_run",)
        data = {k: getattr(self, k) for k in keys} | {"priors": self.resolved_priors()}
        return json.dumps(data, sort_keys=True)


def _check_prior(name: str, spec: dict[str, Any]) -> None:
    """ValueError unless ``spec`` is a known distribution with known, finite (and where needed > 0) parameters."""
    dist = spec.get("dist")
    if dist not in PRIOR_DISTRIBUTIONS:
        raise ValueError(f"prior {name!r} needs 'dist' set to one of {sorted(PRIOR_DISTRIBUTIONS)}, got {dist!r}")
    if (dist == "ZeroSumNormal") != name.endswith("_family_shift"):
        raise ValueError(f"prior {name!r}: ZeroSumNormal is for the *_family_shift priors and they need it")
    if (name.endswith("_sd") or name in ("smooth_noise", "checkpoint_concentration_ratio")) \
            and dist not in POSITIVE_DISTRIBUTIONS:
        raise ValueError(f"prior {name!r} is a scale (> 0): use one of {sorted(POSITIVE_DISTRIBUTIONS)}, not {dist}")
    allowed = PRIOR_DISTRIBUTIONS[dist]
    for key, value in spec.items():
        if key == "dist":
            continue
        if key not in allowed:
            raise ValueError(f"prior {name!r}: {dist} has no parameter {key!r}; it takes {sorted(allowed)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"prior {name!r}: parameter {key!r} must be a finite number, got {value!r}")
        if allowed[key] and value <= 0:
            raise ValueError(f"prior {name!r}: parameter {key!r} must be > 0, got {value!r}")
