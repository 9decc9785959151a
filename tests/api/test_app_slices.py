"""The app serves every slice listed in `api.app.SLICES`, and a slice that cannot be imported fails
start-up loudly instead of silently dropping its routes."""
from __future__ import annotations

import importlib

import pytest

from api import app as app_module
from api.settings import Settings


def _settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


def test_every_listed_slice_contributes_its_routes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = app_module.create_app(_settings(tmp_path))
    served = {route.path for route in app.routes}
    for name in app_module.SLICES:
        routes = importlib.import_module(f"api.domain.{name}.routes").ROUTES
        assert routes, f"slice {name} exposes no routes"
        for handler in routes:
            for path in handler.paths:
                assert any(p == path or p.startswith(path.rstrip("/")) for p in served), f"{name}: {path} not served"


def test_a_broken_slice_fails_start_up(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app_module, "SLICES", (*app_module.SLICES, "no_such_slice"))
    with pytest.raises(ModuleNotFoundError, match="no_such_slice"):
        app_module.create_app(_settings(tmp_path))
