"""Tables whose rows only some viewers may read (datasets, sealed results): one rule per table,
applied to listings and single reads alike, and the pair of GET routes (list, read one) built on it.

Admins read every row. Everyone else reads the rows `Readable.others_read(viewer)` admits and gets
the same 404 for a row they may not read as for a missing one (nothing reveals that it exists).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from litestar import get
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant
from api.domain.handlers import CALLER, as_handler
from api.errors import not_found

Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class Readable(Generic[Out]):
    """A table of rows with `id` and `created_at` columns, its response body and its read rule."""

    model: Any  # the ORM class
    out: type[Out]  # the response body of one row
    what: str  # the row's name in a 404 ("dataset")
    id_param: str  # the path parameter naming one row ("dataset_id"), also the 404's field
    others_read: Callable[[Participant], ColumnElement[bool]]  # SQL condition: rows a non-admin may read

    def rule(self, viewer: Participant) -> ColumnElement[bool]:
        """The SQL condition selecting the rows `viewer` may read."""
        return true() if viewer.role == "admin" else self.others_read(viewer)

    async def load(self, session: AsyncSession, viewer: Participant, row_id: str, field: str | None = None) -> Any:
        """The row if it exists and `viewer` may read it; 404 naming `field` (default `id_param`) otherwise."""
        statement = select(self.model).where(self.model.id == row_id, self.rule(viewer))
        row = (await session.execute(statement)).scalar_one_or_none()
        if row is None:
            raise not_found(self.what, field or self.id_param)
        return row

    async def get(self, session: AsyncSession, viewer: Participant, row_id: str) -> Out:
        """One readable row as its response body."""
        return self.out.model_validate(await self.load(session, viewer, row_id))

    async def list_all(self, session: AsyncSession, viewer: Participant) -> list[Out]:
        """Every row `viewer` may read, oldest first."""
        statement = select(self.model).where(self.rule(viewer)).order_by(self.model.created_at)
        return [self.out.model_validate(row) for row in (await session.execute(statement)).scalars()]


def read_routes(readable: Readable[Any], path: str, tag: str, list_doc: str, get_doc: str) -> list[HTTPRouteHandler]:
    """GET `path` (`Readable.list_all` for the caller) and GET `path/{<id_param>}` (`Readable.get`),
    documented by `list_doc` and `get_doc`."""

    def list_rows(db_session: AsyncSession, participant: Participant) -> Awaitable[list[Any]]:
        return readable.list_all(db_session, participant)

    def get_row(db_session: AsyncSession, participant: Participant, **path_params: str) -> Awaitable[Any]:
        return readable.get(db_session, participant, path_params[readable.id_param])

    name = readable.what.replace(" ", "_")
    return [get(path, tags=[tag])(as_handler(list_rows, CALLER, list[readable.out], list_doc, f"list_{name}s")),  # type: ignore[name-defined]
            get(f"{path}/{{{readable.id_param}:str}}", tags=[tag])(
                as_handler(get_row, CALLER | {readable.id_param: str}, readable.out, get_doc, f"get_{name}"))]
