"""Dataset upload form and replies."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from litestar.datastructures import UploadFile

from api.schemas import FormText, ResponseBody

VISIBILITIES = ("public", "private")


@dataclass
class DatasetUpload:
    """multipart/form-data: `file` (CSV, Parquet or lm-eval aggregated results JSON), `name`,
    `visibility` (public | private), optional `format` (csv | parquet | lm_eval_json; default from
    the file name), `chance` (chance rate for success rows lacking one), `smooth_direction`
    (lower | higher, for an unknown smooth metric); for lm-eval JSON also `family`, `model`,
    `params` and `tokens` when the file's config lacks them."""

    file: UploadFile
    name: FormText
    visibility: FormText = "public"
    format: FormText | None = None
    chance: float | None = None
    smooth_direction: FormText | None = None
    family: FormText | None = None
    model: FormText | None = None
    params: float | None = None
    tokens: float | None = None


class DatasetOut(ResponseBody):
    """A stored dataset (without its content). `sha256` is of the canonical CSV of the validated table."""

    id: str
    sha256: str
    name: str
    visibility: Literal["public", "private"]
    owner_id: str
    source_format: str
    n_rows: int
    families: list[str]
    models: list[str]
    tasks: list[str]
    metrics: list[str]
    created_at: datetime
