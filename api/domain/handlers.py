"""Route handlers built from service functions, for routes that only pass the request on.

Litestar injects a handler's arguments by their names and types (`db_session`, `participant`, path
parameters, `data` for the body) and documents the route from its signature. `forward` builds a
handler from a service function `fn(session, caller, *rest) -> Out`: it takes `db_session`,
`participant` and the parameters in `rest` (same names, types and defaults) and returns what `fn`
returns, so the service's signature is the route's.
"""
from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from litestar.handlers import HTTPRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Participant

CALLER = {"db_session": AsyncSession, "participant": Participant}  # what every authenticated handler takes first
Route = Callable[[Callable[..., Any]], HTTPRouteHandler]  # e.g. `get("/v1/x/{x_id:str}", tags=["x"])`


def as_handler(call: Callable[..., Awaitable[Any]], parameters: dict[str, Any], returns: Any, doc: str, name: str,
               defaults: dict[str, Any] | None = None) -> Callable[..., Awaitable[Any]]:
    """An async function calling `call(**arguments)` whose signature declares `parameters` (name ->
    type, keyword-only, with `defaults`) and `returns`: what Litestar reads to inject and document."""

    async def handler(**arguments: Any) -> Any:
        return await call(**arguments)

    defaults = defaults or {}
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=defaults.get(p, inspect.Parameter.empty))
         for p, kind in parameters.items()], return_annotation=returns)
    handler.__annotations__ = parameters | {"return": returns}
    handler.__doc__, handler.__name__, handler.__qualname__ = doc, name, name
    return handler


def forward(route: Route, fn: Callable[..., Awaitable[Any]], doc: str, name: str | None = None) -> HTTPRouteHandler:
    """The route handler (`route` applied) passing the session, the caller and the rest of `fn`'s
    parameters to `fn`; `name` (default `fn`'s) names the handler, and with it the OpenAPI operation."""
    hints = get_type_hints(fn)
    rest = list(inspect.signature(fn).parameters.values())[2:]
    parameters = CALLER | {p.name: hints[p.name] for p in rest}
    defaults = {p.name: p.default for p in rest if p.default is not inspect.Parameter.empty}

    def call(db_session: AsyncSession, participant: Participant, **arguments: Any) -> Awaitable[Any]:
        return fn(db_session, participant, **arguments)

    return route(as_handler(call, parameters, hints["return"], doc, name or fn.__name__, defaults))
