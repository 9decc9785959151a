"""The typed client and the end-to-end example against a real `turnsignal serve` process."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from api.client import ApiError, Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "e2e_service.py"


def _example():
    spec = importlib.util.spec_from_file_location("e2e_service", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(180)
def test_example_runs_against_a_real_server(capsys) -> None:
    example = _example()
    with example.own_server() as (base_url, admin_key):
        example.run(base_url, admin_key)
        with Client(base_url) as anonymous, pytest.raises(ApiError) as refused:
            anonymous.me()
        assert refused.value.status == 401 and refused.value.field == "Authorization"
    out = capsys.readouterr().out
    assert "asking for the sealed result -> 404" in out and "leaderboard" in out and "PIT histogram" in out
