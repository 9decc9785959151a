"""What the OpenAPI document says beyond the handlers' signatures: every status an operation can
return, with the one error body (`ErrorReply`, see `api.errors`), the bearer-key scheme, which
`Idempotency-Key` headers are required, and the media types of the plot routes.

`document_routes(handlers)` applies the rules to the route handlers before the app registers them.
The statuses of an operation are the union of:

- 401, 429 and 503 for every operation (a missing or wrong key; a rate limit; SQLite's write lock held by another connection past its busy timeout);
- 400 when it takes any input (path, query, header or body): a malformed or ill-typed value;
- 403 when it needs an admin; 404 when its path names a row; 413 when it takes a body;
- the operation's own row in `STATUSES` (what its service raises: 403, 404 for ids in the body,
  409 state conflicts, 410, 422 semantic checks).

The fuzz test (tests/api/test_fuzz_schema.py) fails on any reply the document does not describe.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, OpenAPIMediaType, Operation, Schema, SecurityScheme
from pydantic import BaseModel, Field

from api.domain.datasets.schemas import DatasetOut
from api.domain.fits.schemas import FitOut

BEARER = "bearer"
SECURITY_SCHEMES = {BEARER: SecurityScheme(type="http", scheme="bearer", description="Authorization: Bearer <api key>")}
KEY_HEADER = "Idempotency-Key"
INJECTED = {"request", "state", "db_session", "participant", "admin", "caller", "data", "idempotency_key"}
"""Handler parameters that are not inputs of their own (`data` and the key header are counted apart)."""


class ErrorDetail(BaseModel):
    status: int = Field(description="the HTTP status, repeated")
    message: str = Field(description="what is wrong, in plain words")
    field: str | None = Field(description="the offending input (body field, header, path or query parameter), or null")


class ErrorReply(BaseModel):
    """The body of every non-2xx reply."""

    error: ErrorDetail


# (method, path) -> statuses beyond the derived ones (see the module doc).
STATUSES: dict[tuple[str, str], set[int]] = {
    ("POST", "/v1/participants"): {403, 409},
    ("POST", "/v1/questions"): {422},
    ("PATCH", "/v1/questions/{question_id:str}"): {403, 409, 422},
    ("POST", "/v1/questions/{question_id:str}/open"): {403, 409},
    ("POST", "/v1/questions/{question_id:str}/close"): {403, 409},
    ("POST", "/v1/questions/{question_id:str}/predictions"): {409, 422},
    ("GET", "/v1/questions/{question_id:str}/aggregate"): {409},
    ("POST", "/v1/predictions/{prediction_id:str}/open"): {409, 422},
    ("POST", "/v1/results"): {422},
    ("POST", "/v1/results/{result_id:str}/reveal"): {409, 422},
    ("POST", "/v1/questions/{question_id:str}/resolution"): {409, 422},
    ("POST", "/v1/questions/{question_id:str}/annul"): {409, 422},
    ("POST", "/v1/admin/grants"): {404, 409},
    ("POST", "/v1/bets"): {404, 409, 422},
    ("POST", "/v1/bets/{bet_id:str}/accept"): {403, 409, 422},
    ("POST", "/v1/bets/{bet_id:str}/cancel"): {403, 409},
    ("POST", "/v1/markets"): {404, 409, 422},
    ("POST", "/v1/markets/{market_id:str}/trades"): {409, 422},
    ("POST", "/v1/datasets"): {422},
    ("POST", "/v1/fits"): {404, 422},
    ("POST", "/v1/fits/{fit_id:str}/cancel"): {403, 409},
    ("GET", "/v1/fits/{fit_id:str}/idata.nc"): {409, 410},
    ("GET", "/v1/fits/{fit_id:str}/emergence"): {409, 410, 422},
    ("GET", "/v1/fits/{fit_id:str}/predict"): {409, 410, 422},
    ("POST", "/v1/fits/{fit_id:str}/predict"): {409, 410, 422},
    ("GET", "/v1/fits/{fit_id:str}/plots/{name:str}"): {409, 410, 422},
}

# (method, path) -> {other success status: its body}.
OTHER_SUCCESS: dict[tuple[str, str], dict[int, Any]] = {
    ("POST", "/v1/datasets"): {200: DatasetOut},  # the same content exists already (201: new)
    ("POST", "/v1/fits"): {200: FitOut},  # the cached equal fit (202: queued)
}

KEY_REQUIRED = {("POST", path) for path in (
    "/v1/bets", "/v1/bets/{bet_id:str}/accept", "/v1/bets/{bet_id:str}/cancel", "/v1/markets",
    "/v1/markets/{market_id:str}/trades", "/v1/admin/grants")}
"""Money-moving operations: the service refuses them without an Idempotency-Key (400)."""

IMAGES = {("GET", "/v1/fits/{fit_id:str}/plots/{name:str}"),
          ("GET", "/v1/participants/{participant_id:str}/plots/{name:str}")}
"""Operations replying with a PNG or an SVG image, by the extension of `name`."""

ANONYMOUS_ALLOWED = {("POST", "/v1/participants")}
"""Operations that also serve a caller without a key."""


@dataclass
class DocumentedOperation(Operation):
    """An Operation that marks a required Idempotency-Key and documents image replies; subclassed per
    handler with the two flags set."""

    key_required: ClassVar[bool] = False
    images: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for parameter in self.parameters or []:
            if self.key_required and getattr(parameter, "name", None) == KEY_HEADER:
                parameter.required = True
                parameter.schema = Schema(type="string", min_length=1, max_length=200)  # type: ignore[arg-type]
        if self.images and self.responses and "200" in self.responses:
            image = OpenAPIMediaType(schema=Schema(type="string", format="binary"))  # type: ignore[arg-type]
            self.responses["200"].content = {"image/png": image, "image/svg+xml": image}  # type: ignore[union-attr]


def _inputs(handler: HTTPRouteHandler) -> set[str]:
    """The names of the handler's own inputs (path, query and header parameters, `data`)."""
    names = set(inspect.signature(handler.fn).parameters)
    return (names - INJECTED) | (names & {"data", "idempotency_key"})


def statuses_of(method: str, handler: HTTPRouteHandler) -> set[int]:
    """Every error status the operation `method` of `handler` can return (see the module doc)."""
    path = next(iter(handler.paths))
    params = set(inspect.signature(handler.fn).parameters)
    found = {401, 429, 503} | STATUSES.get((method, path), set())  # 503: SQLite's write lock held too long
    if _inputs(handler) or "{" in path:
        found.add(400)
    if "admin" in params:
        found.add(403)
    if "{" in path:
        found.add(404)
    if "data" in params:
        found.add(413)
    return found


def _error_spec(status: int) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorReply, generate_examples=False, description=HTTPStatus(status).phrase)


def _document(handler: HTTPRouteHandler) -> None:
    method = next(iter(handler.http_methods))
    path = next(iter(handler.paths))
    responses: dict[int, ResponseSpec] = {status: _error_spec(status) for status in sorted(statuses_of(method, handler))}
    for status, body in OTHER_SUCCESS.get((method, path), {}).items():
        responses[status] = ResponseSpec(data_container=body, generate_examples=False, description=HTTPStatus(status).phrase)
    handler.responses = responses
    handler.security = [{}, {BEARER: []}] if (method, path) in ANONYMOUS_ALLOWED else [{BEARER: []}]
    handler.operation_class = type(f"{handler.handler_name}Operation", (DocumentedOperation,),
                                   {"key_required": (method, path) in KEY_REQUIRED, "images": (method, path) in IMAGES})


def document_routes(handlers: Iterable[Any]) -> None:
    """Apply the rules to every HTTP route handler in `handlers` (idempotent)."""
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            _document(handler)


def components() -> Components:
    """The shared components of the document: the bearer-key scheme."""
    return Components(security_schemes=SECURITY_SCHEMES)  # type: ignore[arg-type]
