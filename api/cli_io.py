"""The CLI's error policy and its input/output helpers.

Error policy (:class:`CliGroup`, the root command's class): a user error (bad file, wrong format,
bad option value, unwritable output) prints one or two lines on stderr, ``error: ...`` naming the
file or option, and exits 2; a click usage error likewise. Any other exception is an internal
error: one line and a hint, exit 1. ``TURNSIGNAL_DEBUG=1`` shows the traceback instead.

Inputs are checked (exists, is a file, not empty) and read with the file and option named in every
message; outputs are checked before any work starts (a known suffix, an existing directory), so a
typo in ``--out`` never costs a fit. ``--out -`` writes to stdout.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from api.settings import DEBUG_ENV, show_tracebacks

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import ValidationError

    from models.forecaster_protocol import Forecaster

STDOUT = "-"
"""``--out -``: write to standard output."""
TABLE_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
"""Table output formats, by the output file's suffix (JSON is a list of records)."""
FIT_SUFFIXES = {".nc": "netcdf"}
PLOT_SUFFIXES = {".png": "png", ".svg": "svg"}
SIGNIFICANT_DIGITS = 4
"""Significant digits of the numbers in written result tables and printed summaries."""
TABLE_ROWS_PRINTED = 60
"""A printed table longer than this shows its head and tail only (the file has every row)."""
PROGRESS_SECONDS = 10.0
"""How often a long stage prints a progress line when stderr is not a terminal."""
OPTION_NAMES = {"smooth_metric": "--smooth", "success_metric": "--success", "families": "--family"}
"""FitConfig fields whose CLI option is not ``--`` + the field name with dashes."""


def say(message: str) -> None:
    """A status line on stderr (stdout carries only results)."""
    typer.echo(f"turnsignal: {message}", err=True)


# ------------------------------------------------------------------------------- error policy
class CliGroup(TyperGroup):
    """The root command: runs the CLI and turns every exception into the error policy's exit."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = 1
        except BrokenPipeError:  # stdout closed early (`| head`): stop quietly, as click does
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush cannot fail
            code = 1
        except Exception as error:  # noqa: BLE001 - the policy: every exception ends in a message
            if _is_usage_error(error):
                code = _show_usage_error(error)
            elif show_tracebacks():
                raise
            else:
                message, code = describe_error(error)
                typer.echo(message, err=True)
        sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(error: Exception) -> bool:
    """A click (or Typer's vendored click) usage error: unknown option, missing or malformed value."""
    return hasattr(error, "format_message") and isinstance(getattr(error, "exit_code", None), int)


def _show_usage_error(error: Any) -> int:
    """Print a usage error in two lines (the message, where to find help); its exit code (2)."""
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: Typer has printed its help already
        if error.format_message().strip():  # (without rich, the help is the message)
            typer.echo(error.format_message(), err=True)
        return error.exit_code
    hint = f"\n(see '{ctx.command_path} --help')" if ctx is not None else ""
    typer.echo(f"error: {error.format_message()}{hint}", err=True)
    return error.exit_code


def describe_error(error: BaseException) -> tuple[str, int]:
    """(message of at most two lines, exit code): 2 for a user error, 1 for an internal one."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return "error: " + _validation_message(error), 2
    if isinstance(error, OSError):
        if error.filename is not None and error.strerror:
            return f"error: {error.filename}: {error.strerror[:1].lower()}{error.strerror[1:]}", 2
        return "error: " + _two_lines(str(error) or type(error).__name__), 2
    if isinstance(error, ValueError):
        return "error: " + _two_lines(str(error)), 2
    first = (str(error).splitlines() or [""])[0]
    return (f"internal error: {type(error).__name__}: {first}\n"
            f"(this is a bug in turnsignal; rerun with {DEBUG_ENV}=1 for the traceback)"), 1


def _two_lines(message: str) -> str:
    """The first two non-empty lines of ``message``, the second saying how many more were cut."""
    lines = [line for line in message.splitlines() if line.strip()] or ["(no message)"]
    if len(lines) <= 2:
        return "\n".join(lines)
    return f"{lines[0]}\n{lines[1]} (+{len(lines) - 2} more; {DEBUG_ENV}=1 shows all)"


def _validation_message(error: ValidationError) -> str:
    """A pydantic error as ``option --draws: ...`` lines, no URL. FitConfig fields are CLI options."""
    is_config = error.title == "FitConfig"
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"] if not isinstance(part, int)) or "value"
        name = f"option {option_name(field)}" if is_config else f"{error.title} field {field!r}"
        message = item["msg"][:1].lower() + item["msg"][1:]
        given = item.get("input")
        got = "" if isinstance(given, Mapping) or item["type"] == "missing" else f" (got {given!r})"
        parts.append(f"{name}: {message}{got}")
    return _two_lines("\n".join(parts))


def option_name(field: str) -> str:
    """The CLI option of a FitConfig field: ``draws`` -> ``--draws``, ``success_metric`` -> ``--success``."""
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


# ------------------------------------------------------------------------------------ inputs
def input_file(path: str | Path, option: str, directory_ok: bool = False) -> Path:
    """``path`` checked to exist, be a readable file (or a directory when ``directory_ok``) and not
    be empty; ValueError naming ``option`` and the path otherwise."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{option} {p}: no such file")
    if p.is_dir():
        if directory_ok:
            return p
        raise ValueError(f"{option} {p}: is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise ValueError(f"{option} {p}: permission denied")
    if p.stat().st_size == 0:
        raise ValueError(f"{option} {p}: the file is empty")
    return p


def read_csv(path: str | Path, option: str) -> pd.DataFrame:
    """A CSV input (targets, margins), with the file named in any error."""
    p = input_file(path, option)
    import pandas as pd

    try:
        frame = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{option} {p}: not a readable CSV ({_first_line(error)})") from None
    if frame.empty:
        raise ValueError(f"{option} {p}: no rows")
    return frame


def read_eval(path: str | Path, option: str, chance: float | None, direction: str | None) -> pd.DataFrame:
    """A validated eval table (CSV, Parquet or lm-eval results JSON) from ``path``."""
    p = input_file(path, option)
    say(f"reading {p}")
    from forecast.adapters import read_eval_table
    from forecast.evaltable import EvalTableError

    try:
        return read_eval_table(p, chance=chance, smooth_direction=direction)
    except EvalTableError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as error:  # e.g. a Parquet file that is not one
        raise ValueError(f"{option} {p}: cannot read it as an eval table ({_first_line(error)})") from None


def load_fit(path: str | Path, option: str = "--fit") -> Forecaster:
    """A saved fit; a file that is not one (text, truncated, another program's NetCDF) is a ValueError,
    found before the (slow) import of ArviZ."""
    p = input_file(path, option)
    check_fit_file(p, option)
    from models.forecaster import StaleFitError
    from models.stacking import load_fit as load_saved_fit

    try:
        return load_saved_fit(p)
    except StaleFitError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{option} {p}: not a fit written by `turnsignal fit` "
                         f"({type(error).__name__}: {_first_line(error)})") from None


NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")
"""The first bytes of a NetCDF-4 (HDF5) file and of the NetCDF classic formats."""
FIT_ATTRIBUTE = "turnsignal_model_id"
"""A global attribute every saved fit has (see models.forecaster)."""


def check_fit_file(p: Path, option: str) -> None:
    """ValueError unless ``p`` is a readable NetCDF file with a fit's global attribute."""
    with p.open("rb") as file:
        head = file.read(8)
    if not head.startswith(NETCDF_MAGIC):
        raise ValueError(f"{option} {p}: not a NetCDF file (a fit is the .nc file `turnsignal fit` writes)")
    import netCDF4

    try:
        with netCDF4.Dataset(p) as dataset:
            names = dataset.ncattrs()
    except OSError as error:
        raise ValueError(f"{option} {p}: unreadable NetCDF file, truncated or damaged ({_first_line(error)})") from None
    if FIT_ATTRIBUTE not in names:
        raise ValueError(f"{option} {p}: a NetCDF file but not a Turnsignal fit (no {FIT_ATTRIBUTE} attribute)")


def _first_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= 160 else text[:157] + "..."


# ----------------------------------------------------------------------------------- outputs
def check_out(out: str | None, suffixes: Mapping[str, str] = TABLE_SUFFIXES, option: str = "--out",
              stdout_ok: bool = True) -> str | None:
    """The format an output path asks for (a value of ``suffixes``; None for no ``--out``; ``"-"``
    for stdout), checked before any work: known suffix, existing writable directory, not a directory."""
    if out is None:
        return None
    if out == STDOUT:
        if not stdout_ok:
            raise ValueError(f"{option} -: this output cannot go to stdout; give a file name")
        return STDOUT
    p = Path(out)
    fmt = _suffix_format(p, suffixes)
    if fmt is None:
        raise ValueError(f"{option} {out}: unknown suffix {''.join(p.suffixes[-1:]) or '(none)'}; "
                         f"use one of {', '.join(suffixes)}" + (" or - for stdout" if stdout_ok else ""))
    _check_writable_place(p, option)
    return fmt


def check_out_dir(out: str, option: str = "--out") -> Path:
    """An output directory: it may not exist yet, but its parent must; not an existing file."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {out}: exists and is not a directory")
    if not p.exists():
        _check_writable_place(p, option)
    elif not os.access(p, os.W_OK):
        raise ValueError(f"{option} {out}: directory is not writable")
    return p


def _suffix_format(p: Path, suffixes: Mapping[str, str]) -> str | None:
    names = [s.lower() for s in p.suffixes]
    return suffixes.get("".join(names[-2:])) or (suffixes.get(names[-1]) if names else None)


def _check_writable_place(p: Path, option: str) -> None:
    parent = p.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {p}: directory {parent} does not exist (create it first)")
    if p.is_dir():
        raise ValueError(f"{option} {p}: is a directory; give a file name")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{option} {p}: permission denied")


def round_table(frame: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """A copy with every float column rounded to ``digits`` significant digits (inf and NaN kept)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = [round_significant(v, digits) for v in out[column].to_numpy(float)]
    return out


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` to ``digits`` significant digits, as the nearest float (0.6000000000000001 -> 0.6)."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else float(value)


def format_table(frame: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A table as aligned text for a terminal, numbers to ``digits`` significant digits."""
    return frame.to_string(index=False, max_rows=TABLE_ROWS_PRINTED, float_format=lambda v: f"{v:.{digits}g}")


def write_table(frame: pd.DataFrame, out: str | None, digits: int | None = None, echo: bool = False) -> None:
    """Write ``frame`` to ``out`` in the format of its suffix (see :data:`TABLE_SUFFIXES`); ``-``: CSV
    on stdout; None: aligned text on stdout. ``digits``: round float columns to that many significant
    digits (results; None for data). ``echo``: also print the table when writing a file."""
    fmt = check_out(out)
    table = frame if digits is None else round_table(frame, digits)
    if fmt is None or (echo and fmt != STDOUT):
        typer.echo(format_table(table))
    if fmt is None:
        return
    if fmt == STDOUT:
        sys.stdout.write(table.to_csv(index=False))
        sys.stdout.flush()
        return
    if fmt == "parquet":
        table.to_parquet(out, index=False)
    elif fmt == "json":
        Path(out).write_text(table.to_json(orient="records", indent=1) + "\n")
    else:
        table.to_csv(out, index=False)
    say(f"wrote {len(table)} rows to {out}")


def write_bytes(content: bytes, out: str) -> None:
    """Write a file's bytes to ``out`` (``-``: stdout)."""
    if out == STDOUT:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    Path(out).write_bytes(content)
    say(f"wrote {out}")


# ---------------------------------------------------------------------------------- progress
class ProgressLines:
    """Prints ``stage, elapsed seconds[, iterations done]`` on stderr every :data:`PROGRESS_SECONDS`
    while a long fit runs: for logs and pipes, where no progress bar is drawn. A context manager;
    :meth:`phase` names the current stage, :meth:`iterations` reports the sampler's iterations done
    (warm-up and draws, all chains) of ``total`` (per fit: a stack's fits each count from 0 to it)."""

    def __init__(self, total: int, every: float = PROGRESS_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.every = every
        self.clock = clock
        self.stage = "preparing the data"
        self.done: int | None = None
        self._start = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="turnsignal-progress", daemon=True)

    def __enter__(self) -> ProgressLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)

    def phase(self, stage: str) -> None:
        self.stage, self.done = stage, None

    def iterations(self, done: int) -> None:
        self.done = done

    def line(self) -> str:
        text = f"{self.stage}, {self.clock() - self._start:.0f} s elapsed"
        if self.stage.endswith("sampling") and self.done is not None:
            text += f", {self.done} of {self.total} iterations done (warm-up and draws, all chains)"
        return text

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            say(self.line())
