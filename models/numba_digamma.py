"""A numba digamma for PyTensor's ``Psi`` op, so compiled models can be cached on disk.

PyTensor's numba backend evaluates ``psi`` (the gradient of ``gammaln``, hence of every Beta
likelihood) through a pointer to SciPy's Cython function. Compiled code holding such a pointer
cannot be cached, so the whole log-density graph of a model with a Beta likelihood missed the
numba cache and was compiled again in every process (docs/performance.md has the gain).
:func:`register` gives ``Psi`` a pure-numba implementation with a cache key.

Math: for x < 0 the reflection ``psi(x) = psi(1 - x) - pi / tan(pi x)``; then the recurrence
``psi(x) = psi(x + 1) - 1 / x`` up to x >= 10; there the asymptotic series
``psi(x) = ln x - 1/(2x) - sum_k B_2k / (2k x^2k)`` through k = 6 (truncation error below 1e-15).
Poles (x = 0, -1, -2, ...) give nan, like SciPy's ``psi``.
"""
from __future__ import annotations

import math
from hashlib import sha256

_registered = False

# B_2k / (2k) for k = 1..6: 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760
_SERIES = (1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0, -691.0 / 32760.0)
_SHIFT_TO = 10.0


def digamma(x: float) -> float:
    """The digamma function psi(x) = d/dx ln Gamma(x), float in, float out (pure Python/numba)."""
    if x <= 0.0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0.0:
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < _SHIFT_TO:
        result -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    tail = inv2 * (_SERIES[0] + inv2 * (_SERIES[1] + inv2 * (_SERIES[2] + inv2 * (
        _SERIES[3] + inv2 * (_SERIES[4] + inv2 * _SERIES[5])))))
    return result + math.log(x) - 0.5 / x - tail


def register() -> None:
    """Make PyTensor's numba backend compile ``Psi`` with :func:`digamma` (cacheable). Idempotent."""
    global _registered
    if _registered:
        return
    from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_and_cache_key
    from pytensor.scalar.math import Psi

    kernel = numba_njit(digamma)
    key = sha256(f"turnsignal.digamma/{_SHIFT_TO}/{_SERIES}".encode()).hexdigest()

    @register_funcify_and_cache_key(Psi)
    def _numba_funcify_psi(op, node=None, **kwargs):
        return kernel, key

    _registered = True
