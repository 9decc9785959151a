"""The `turnsignal` command line. Heavy libraries (PyMC) are imported inside commands, never at start."""
from __future__ import annotations

import typer

app = typer.Typer(help="Turnsignal: forecast, bet on and score capability emergence.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Turnsignal command line."""


if __name__ == "__main__":
    app()
