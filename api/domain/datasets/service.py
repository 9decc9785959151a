"""Datasets: upload (validated by forecast.evaltable), content-addressed, immutable; list and read.

Storage: the canonical CSV of the validated table (rows sorted by family, model, task, metric;
columns as the validator returns them) is kept as bytes in the `datasets` table, and its sha256 is
the dataset's content address. The same table uploaded again by the same owner, in any format, returns
that owner's existing dataset (200) instead of a new one (201). Another owner's identical table is
never returned (not even its existence is told): the uploader gets a dataset of their own.

Visibility: `public` datasets are readable by every participant, `private` ones by their owner and
admins only (404 to others, as if absent).
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import transaction
from api.db.models import Participant
from api.domain.datasets.schemas import VISIBILITIES, DatasetOut, DatasetUpload
from api.domain.fits.repository import Dataset
from api.domain.reading import Readable
from api.errors import ApiError

FORMAT_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "lm_eval_json": ".json"}


@dataclass(frozen=True)
class ParsedTable:
    """A validated eval table as canonical CSV bytes plus what the listing shows."""

    content: bytes
    sha256: str
    source_format: str
    table: pd.DataFrame


def _format_of(filename: str | None, declared: str | None) -> str:
    if declared is not None:
        if declared not in FORMAT_SUFFIX:
            raise ApiError(422, f"format must be one of {sorted(FORMAT_SUFFIX)}", "format")
        return declared
    name = (filename or "").lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".json"):
        return "lm_eval_json"
    return "csv"


def canonical_csv(table: pd.DataFrame) -> bytes:
    """The canonical bytes of a validated table: rows sorted by their key, no index, UTF-8."""
    keys = [c for c in ("family", "model", "task", "metric", "step") if c in table.columns]
    ordered = table.sort_values(keys, kind="mergesort").reset_index(drop=True)
    return ordered.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _read(path: Path, source_format: str, form: DatasetUpload) -> pd.DataFrame:
    from forecast.adapters import lm_eval_results_frame
    from forecast.adapters import read_eval_table
    from forecast.evaltable import validate_eval_table

    if source_format != "lm_eval_json":
        return read_eval_table(path, chance=form.chance, smooth_direction=form.smooth_direction)
    import json

    try:
        payload = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(422, f"invalid JSON: {error}", "file") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "an lm-eval results file is a JSON object", "file")
    frame = lm_eval_results_frame(payload, source=form.file.filename or "upload", family=form.family, model=form.model,
                                  params=form.params, tokens=form.tokens, chance=form.chance)
    return validate_eval_table(frame, source=form.file.filename or "upload", smooth_direction=form.smooth_direction)


def parse_table(raw: bytes, form: DatasetUpload) -> ParsedTable:
    """Validate uploaded bytes with the core validator; 422 naming the offending rows and columns."""
    from forecast.evaltable import EvalTableError

    filename = form.file.filename
    source_format = _format_of(filename, form.format)
    if not raw:
        raise ApiError(422, "the uploaded file is empty", "file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{Path(filename or 'upload').stem or 'upload'}{FORMAT_SUFFIX[source_format]}"
        path.write_bytes(raw)
        try:
            table = _read(path, source_format, form)
        except ApiError:
            raise
        except EvalTableError as error:
            raise ApiError(422, str(error).replace(str(path), filename or "upload"), _problem_field(error)) from None
        except (ValueError, TypeError, OSError, KeyError) as error:
            raise ApiError(422, f"could not read the file as {source_format}: {error}".replace(str(path), "upload"), "file") from None
        except Exception as error:  # parquet/JSON parsers raise their own types on garbage bytes
            raise ApiError(422, f"could not read the file as {source_format}: {type(error).__name__}", "file") from None
    content = canonical_csv(table)
    return ParsedTable(content, hashlib.sha256(content).hexdigest(), source_format, table)


def _problem_field(error) -> str:
    first = error.problems[0]
    field = "file" if first.row is None else f"file.rows[{first.row}]"
    return field + (f".{first.column}" if first.column else "")


def read_content(content: bytes) -> pd.DataFrame:
    """A stored dataset's table (already validated) from its canonical CSV bytes."""
    return pd.read_csv(io.BytesIO(content))


def _sorted_unique(table: pd.DataFrame, column: str) -> list[str]:
    return sorted({str(v) for v in table[column].dropna().unique()}) if column in table.columns else []


async def upload_dataset(session: AsyncSession, owner: Participant, form: DatasetUpload,
                         max_bytes: int) -> tuple[DatasetOut, bool]:
    """Store a new dataset, or return the owner's existing one with the same content; (dataset, created).
    Files above `max_bytes` bytes get a 413."""
    if form.visibility not in VISIBILITIES:
        raise ApiError(422, f"visibility must be one of {list(VISIBILITIES)}", "visibility")
    name = (form.name or "").strip()
    if not 1 <= len(name) <= 200:
        raise ApiError(422, "name must have 1 to 200 characters", "name")
    raw = await form.file.read()
    if len(raw) > max_bytes:
        raise ApiError(413, f"dataset file too large: {len(raw)} bytes > {max_bytes}", "file")
    parsed = await asyncio.to_thread(parse_table, raw, form)
    existing = await _by_sha(session, owner, parsed.sha256)
    if existing is not None:
        return DatasetOut.model_validate(existing), False
    table = parsed.table
    dataset = Dataset(sha256=parsed.sha256, name=name, visibility=form.visibility, owner_id=owner.id,
                      source_format=parsed.source_format, n_rows=len(table), families=_sorted_unique(table, "family"),
                      models=_sorted_unique(table, "model"), tasks=_sorted_unique(table, "task"),
                      metrics=_sorted_unique(table, "metric"), content=parsed.content)
    try:
        async with transaction(session):
            session.add(dataset)
    except IntegrityError:  # the same content won a concurrent upload
        existing = await _by_sha(session, owner, parsed.sha256)
        if existing is None:
            raise
        return DatasetOut.model_validate(existing), False
    return DatasetOut.model_validate(dataset), True


async def _by_sha(session: AsyncSession, owner: Participant, sha256: str) -> Dataset | None:
    """`owner`'s dataset with content hash `sha256`, if any."""
    statement = select(Dataset).where(Dataset.owner_id == owner.id, Dataset.sha256 == sha256)
    return (await session.execute(statement)).scalar_one_or_none()


def can_read(viewer: Participant, dataset: Dataset) -> bool:
    """Public datasets: everyone; private: owner and admins."""
    return dataset.visibility == "public" or viewer.role == "admin" or dataset.owner_id == viewer.id


DATASETS = Readable(Dataset, DatasetOut, "dataset", "dataset_id",
                    lambda viewer: or_(Dataset.visibility == "public", Dataset.owner_id == viewer.id))


async def load_dataset(session: AsyncSession, viewer: Participant, dataset_id: str, field: str = "dataset_id") -> Dataset:
    """The dataset if it exists and `viewer` may read it; 404 otherwise (same reply for both)."""
    return await DATASETS.load(session, viewer, dataset_id, field)  # type: ignore[no-any-return]


async def dataset_csv(session: AsyncSession, viewer: Participant, dataset_id: str) -> bytes:
    """The canonical CSV of a readable dataset."""
    return (await load_dataset(session, viewer, dataset_id)).content
