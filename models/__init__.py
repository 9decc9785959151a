"""Turnsignal models: PyMC builders returning ``pm.Model`` and the fit/predict/save/load wrapper.

Importing this package points PyTensor's and numba's compile caches at the user's cache directory
(unless the environment already sets them), so a second fit of the same model compiles faster.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from platformdirs import user_cache_dir


def _configure_compile_caches() -> None:
    cache = Path(os.environ.get("TURNSIGNAL_CACHE_DIR", user_cache_dir("turnsignal")))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    if "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache / 'pytensor'}"]))


_configure_compile_caches()


def compile_cache_dir() -> Path:
    """Where numba keeps the compiled model (``NUMBA_CACHE_DIR``; PyTensor's cache is beside it by default)."""
    return Path(os.environ["NUMBA_CACHE_DIR"])
# Notices that say nothing about a fit: sampling runs on numba (no BLAS needed), and ArviZ's refactor
# notice is about its next major version, which pyproject excludes.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
warnings.filterwarnings("ignore", message="\nArviZ is undergoing a major refactor", category=FutureWarning)
