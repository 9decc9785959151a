"""One JSON error shape for every failure, and the handlers that produce it.

Every non-2xx reply has the body::

    {"error": {"status": 422, "message": "probability must be in [0.001, 0.999]", "field": "probability"}}

`field` names the offending input (a body field like `quantiles.values`, a header like
`Authorization`, a path/query parameter) or is null. Unexpected exceptions become a 500 with a
generic message: internals, SQL and hidden data never appear in a reply. A SQLite write lock held by
another connection past the busy timeout is a 503 (retry), not a 500.
"""
from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError

from api.db import is_database_busy

log = logging.getLogger("turnsignal.api")


class ApiError(Exception):
    """A client-facing error: HTTP `status`, a human `message`, and the `field` it concerns."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def not_found(what: str, field: str | None = None) -> ApiError:
    """404 for a missing *or invisible* resource: the reply never says which of the two it is."""
    return ApiError(404, f"{what} not found", field)


def forbidden(message: str = "not allowed", field: str | None = None) -> ApiError:
    """403 for an authenticated caller lacking the right (e.g. admin-only actions)."""
    return ApiError(403, message, field)


def error_body(status: int, message: str, field: str | None) -> dict[str, Any]:
    """The one error body shape."""
    return {"error": {"status": status, "message": message, "field": field}}


def _reply(status: int, message: str, field: str | None, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=error_body(status, message, field), status_code=status, headers=headers)


def _field_of_validation(extra: Any) -> tuple[str | None, str | None]:
    """(field, message) from Litestar's ValidationException extra (a list of {key, message, source})."""
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        first = extra[0]
        key = first.get("key")
        return (str(key) if key not in (None, "") else None), first.get("message")
    return None, None


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return _reply(exc.status, exc.message, exc.field)


def handle_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    field, message = _field_of_validation(exc.extra)
    if message and "\\x00" in message:  # a form field's NUL check (api.schemas.FormText) in msgspec's words
        message = "must not contain NUL characters"
    detail = exc.detail or "invalid request"
    text = f"{detail} {message or ''}".lower()
    if not field and ("malformed" in text or "json" in text or "decode" in text):
        return _reply(400, f"malformed JSON body: {message or detail}", "body")
    # no key: the body as a whole could not be decoded (e.g. "Number out of range", wrong top-level type)
    return _reply(exc.status_code if exc.status_code < 500 else 400, message or detail, field or "body")


def handle_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    message = exc.detail or "error"
    field = "body" if status == 413 else ("Authorization" if status == 401 else None)
    if status == 400:  # Litestar raises bare 400s only when the body cannot be decoded
        field = "body"
    if status == 413:
        message = "request body too large"
    return _reply(status, message, field, headers=getattr(exc, "headers", None))


def handle_value_error(_: Request[Any, Any, Any], exc: ValueError) -> Response[Any]:
    """Plain ValueErrors from the pure math layer (forecast/) become 422 with their message."""
    return _reply(422, str(exc) or "invalid value", getattr(exc, "field", None))


def handle_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """A request nested too deeply for the decoder (the depth check in `api.input_limits` should
    catch it first): 400, never 500."""
    log.warning("recursion limit on %s %s", request.method, request.url.path)
    return _reply(400, "request nested too deeply", "body")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _reply(500, "internal server error", None)


def handle_database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """SQLite's write lock held by another connection past the busy timeout
    (`TURNSIGNAL_DB_BUSY_TIMEOUT_SECONDS`): 503 with Retry-After, nothing written; others are 500s."""
    if not is_database_busy(exc):
        return handle_unexpected(request, exc)
    log.warning("database busy (write lock held too long) on %s %s", request.method, request.url.path)
    return _reply(503, "the database is busy (another writer holds its lock); retry shortly", None,
                  headers={"Retry-After": "1"})


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DBAPIError: handle_database_error,
    ApiError: handle_api_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    ValueError: handle_value_error,
    RecursionError: handle_recursion,
    Exception: handle_unexpected,
}
