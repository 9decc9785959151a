"""The pure-numba digamma that makes Beta-likelihood models cacheable on disk (models/numba_digamma.py)."""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy import special

from models.numba_digamma import digamma, register


def test_digamma_matches_scipy_over_its_domain() -> None:
    xs = np.concatenate([np.linspace(-5.5, -0.05, 60) + 0.013, np.geomspace(1e-6, 1e8, 300)])
    ours = np.array([digamma(float(x)) for x in xs])
    np.testing.assert_allclose(ours, special.psi(xs), rtol=1e-13, atol=1e-13)


def test_digamma_is_nan_at_its_poles() -> None:
    assert all(np.isnan(digamma(x)) for x in (0.0, -1.0, -7.0))


def test_registered_psi_compiles_with_a_cache_key_and_gives_scipys_values() -> None:
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    register()
    x = pt.dvector("x")
    fn = pytensor.function([x], pt.grad(pt.gammaln(2.0 * x).sum(), x), mode="NUMBA")  # 2 psi(2x)
    _, key = numba_funcify_and_cache_key(fn.maker.fgraph)
    assert key is not None  # the whole graph can be cached (SciPy's psi made it uncacheable)
    values = np.array([0.3, 1.0, 7.5, 250.0])
    np.testing.assert_allclose(fn(values), 2.0 * special.psi(2.0 * values), rtol=1e-13)
