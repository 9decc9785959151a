"""Turnsignal models: PyMC builders returning ``pm.Model`` and the fit/predict/save/load wrapper.

Importing this package points PyTensor's and numba's compile caches at the user's cache directory
(unless the environment already sets them), so a second fit of the same model compiles faster.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from platformdirs import user_cache_dir


def compile_cache_dir() -> Path:
    """Turnsignal's compile caches: ``pytensor/`` (PyTensor's, which also holds the numba functions
    of the model's graph) and ``numba/`` (numba's own), unless ``PYTENSOR_FLAGS=base_compiledir=...``
    or ``NUMBA_CACHE_DIR`` point elsewhere. ``TURNSIGNAL_CACHE_DIR``, else the user cache directory."""
    return Path(os.environ.get("TURNSIGNAL_CACHE_DIR", user_cache_dir("turnsignal")))


def _configure_compile_caches() -> None:
    cache = compile_cache_dir()
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    if "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache / 'pytensor'}"]))


_configure_compile_caches()
# Notices that say nothing about a fit: sampling runs on numba (no BLAS needed), and ArviZ's refactor
# notice is about its next major version, which pyproject excludes.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
warnings.filterwarnings("ignore", message="\nArviZ is undergoing a major refactor", category=FutureWarning)
