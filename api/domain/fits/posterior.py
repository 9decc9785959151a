"""Loading saved posteriors (NetCDF) in the API process, WITHOUT PyMC.

`models.forecaster` imports PyMC only inside `fit()`, so loading a saved fit and computing
predictions, emergence draws and plots is numpy/ArviZ only. Loaded forecasters are cached per fit
id (least recently used, `CACHE_SIZE` entries); the first estimate on a fit pays the load (reading
the NetCDF, plus ArviZ's import the very first time), later ones are pure numpy.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.forecaster_protocol import Forecaster

CACHE_SIZE = 4
_CACHE: "OrderedDict[str, Forecaster]" = OrderedDict()
_LOCK = threading.Lock()


def load_forecaster(fit_id: str, path: str) -> Forecaster:
    """The forecaster of a done fit, single-form or stacked (cached). Blocking: call via `asyncio.to_thread`."""
    with _LOCK:
        if fit_id in _CACHE:
            _CACHE.move_to_end(fit_id)
            return _CACHE[fit_id]
    from models.stacking import load_fit

    forecaster = load_fit(path)
    with _LOCK:
        _CACHE[fit_id] = forecaster
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return forecaster


def clear_cache() -> None:
    """Forget every loaded posterior (tests)."""
    with _LOCK:
        _CACHE.clear()
