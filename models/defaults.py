"""Sampler defaults of every fit, in one place (a light module: the CLI and the API schemas read it
without importing pandas or PyMC). ``models.config.FitConfig`` uses them.

Counts are per chain. How they were chosen (R-hat, ESS, divergences and sampling time of the full
OLMo ladder fit across seeds and settings) is in docs/performance.md, "Sampler defaults".
"""
from __future__ import annotations

DEFAULT_DRAWS = 1600
"""Posterior draws per chain (kept)."""
DEFAULT_TUNE = 400
"""Warm-up (adaptation) steps per chain (discarded)."""
DEFAULT_CHAINS = 2
"""Independent chains: one per core on a 2-core laptop; R-hat needs at least 2."""
DEFAULT_TARGET_ACCEPT = 0.99
"""NUTS target acceptance rate: smaller steps, fewer divergences on the link's curved posterior."""
