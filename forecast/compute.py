"""Training compute in FLOPs from parameters and tokens: the 6 x params x tokens convention (forward
and backward pass; Kaplan et al. 2020) that the eval table uses when ``compute_flops`` is missing.

The one place the factor lives. Every function takes scalars, NumPy arrays or pandas Series
(params and tokens are counts, compute is FLOPs; ``log10_*`` are base-10 logarithms of them).
"""
from __future__ import annotations

import numpy as np

FLOPS_PER_PARAM_TOKEN = 6.0
"""Training FLOPs per parameter per token."""


def training_flops(params, tokens):
    """Training FLOPs of a model with ``params`` parameters trained on ``tokens`` tokens."""
    return FLOPS_PER_PARAM_TOKEN * params * tokens


def log10_training_flops(log10_params, log10_tokens):
    """log10 training FLOPs from log10 params and log10 tokens."""
    return np.log10(FLOPS_PER_PARAM_TOKEN) + log10_params + log10_tokens


def tokens_from_flops(flops, params):
    """Training tokens that ``flops`` FLOPs buy a model of ``params`` parameters."""
    return flops / (FLOPS_PER_PARAM_TOKEN * params)


def log10_size_on_path(log10_flops, tokens_per_param):
    """(log10 params, log10 tokens) of the model trained with ``log10_flops`` at ``tokens_per_param``
    tokens per parameter r (compute = 6 r params^2)."""
    log10_params = 0.5 * (log10_flops - np.log10(FLOPS_PER_PARAM_TOKEN * tokens_per_param))
    return log10_params, log10_params + np.log10(tokens_per_param)
