"""Turnsignal models: PyMC builders returning ``pm.Model`` and the fit/predict/save/load wrapper.

Importing this package points PyTensor's and numba's compile caches at the user's cache directory
(unless the environment already sets them), so a second fit of the same model compiles faster.
"""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def _configure_compile_caches() -> None:
    cache = Path(os.environ.get("TURNSIGNAL_CACHE_DIR", user_cache_dir("turnsignal")))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    if "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache / 'pytensor'}"]))


_configure_compile_caches()
