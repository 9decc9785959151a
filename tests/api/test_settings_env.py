"""Every `TURNSIGNAL_*` setting the README's settings table lists is read by `Settings.from_env`."""
import dataclasses
import re
from pathlib import Path

import pytest

from api.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
NOT_SERVICE_SETTINGS = {"TURNSIGNAL_CACHE_DIR", "TURNSIGNAL_TEST_POSTGRES_URL", "TURNSIGNAL_DATABASE_URL"}
SAMPLE_VALUES = {"TURNSIGNAL_OPEN_REGISTRATION": "false", "TURNSIGNAL_REDIS_URL": "redis://127.0.0.1:1/0",
                 "TURNSIGNAL_DATABASE_SCHEMA": "elsewhere", "TURNSIGNAL_DATA_DIR": "/tmp/elsewhere",
                 "TURNSIGNAL_RATE_REGISTRATION": "3/minute"}


def _readme_settings() -> list[str]:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `TURNSIGNAL_")]
    names = {re.match(r"\| `(TURNSIGNAL_[A-Z_]+)`", row).group(1) for row in rows}
    return sorted(names - NOT_SERVICE_SETTINGS)


@pytest.mark.parametrize("variable", _readme_settings())
def test_readme_setting_changes_settings(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    default = dataclasses.asdict(Settings.from_env())
    monkeypatch.setenv(variable, SAMPLE_VALUES.get(variable, "7"))
    changed = dataclasses.asdict(Settings.from_env())
    assert changed != default, f"{variable} is in the README but Settings.from_env ignores it"


ENVIRONMENT_READERS = {
    "api/settings.py": "every setting",
    "api/devserver.py": "passes an environment on to the server process it starts",
    "models/__init__.py": "TURNSIGNAL_CACHE_DIR and the compile caches' variables (models/ cannot import api/)",
}


def test_settings_are_read_only_in_api_settings() -> None:
    root = README.parent
    readers = {str(path.relative_to(root)) for package in ("api", "models", "forecast")
               for path in (root / package).rglob("*.py") if re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text())}
    assert readers <= set(ENVIRONMENT_READERS), sorted(readers - set(ENVIRONMENT_READERS))
