"""The `turnsignal` command line. Heavy libraries (PyMC) are imported inside commands, never at start."""
from __future__ import annotations

import typer

app = typer.Typer(help="Turnsignal: forecast, bet on and score capability emergence.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Turnsignal command line."""


# --- REST service commands (issue 3): `serve` and `admin create-participant` -------------------
admin_app = typer.Typer(help="Administer the REST service's database.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="uvicorn worker processes (keep 1 on SQLite)"),
) -> None:
    """Apply database migrations, then serve the REST API (database from TURNSIGNAL_DATABASE_URL)."""
    import uvicorn

    typer.echo(f"turnsignal: serving on http://{host}:{port} (OpenAPI at /schema)", err=True)
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


@admin_app.command("create-participant")
def create_participant(
    handle: str = typer.Option(..., help="unique handle, letters/digits/._-"),
    display_name: str = typer.Option(..., help="name shown on leaderboards"),
    role: str = typer.Option("participant", help="admin | participant"),
    bot: bool = typer.Option(False, "--bot", help="mark the participant as a bot"),
) -> None:
    """Create a participant (migrating the database first) and print its API key once."""
    import asyncio

    from api.admin import create_participant_with_migrations

    try:
        key = asyncio.run(create_participant_with_migrations(handle, display_name, role, bot))
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(key)


if __name__ == "__main__":
    app()
