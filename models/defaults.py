"""Sampler defaults of every fit, in one place (a light module: the CLI and the API schemas read it
without importing pandas or PyMC). ``models.config.FitConfig`` uses them.

Chosen on the full OLMo ladder fit (13 tasks, final checkpoints), seeds 0-11, measured 2026-11-24 on
the 2-core machine (see the README's full-fit section): 400 warm-up + 1,600 draws per chain gave max
R-hat 1.0033-1.0074 (every seed <= 1.01), min bulk ESS 603-930 and 1 divergence at one seed in 12
(and 3 at seed 0 in the cold-cache bench run, whose freshly compiled code gives other chains),
sampling 12-17 s; the earlier 1,000 + 1,000 gave R-hat above 1.01 at 4 seeds of 12 (up to 1.0136),
ESS 289-560, 0 divergences, sampling 14-20 s. nutpie's adaptation settles well within 400 steps here
(its own default is 300); the extra draws are what bring R-hat under 1.01. target_accept 0.99: at
0.95 and 0.9 the same fit diverged at 3 of 4 seeds.
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
