"""Checks on the raw request before any parameter or body is parsed: `refuse_hostile_input` is the
app's `before_request` hook.

- A NUL character in a path or query parameter (PostgreSQL cannot store it): 400 naming the parameter.
- A JSON body nested deeper than `MAX_JSON_DEPTH` arrays and objects: 400 (deep nesting would
  otherwise exhaust the parser's recursion). Bodies with few brackets are not scanned at all.

NUL characters inside JSON bodies are refused by the request schemas (`api.schemas.RequestBody`).
"""
from __future__ import annotations

import re
from typing import Any

from litestar import Request

from api.errors import ApiError

MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # strings (skipped) and brackets
_OPENING = frozenset(b"[{")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `body` (JSON text) nests arrays and objects more than `limit` deep (brackets inside
    strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        first = token.group()[0]
        if first in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif first != ord('"'):
            depth -= 1
    return False


def _nul_parameter(request: Request[Any, Any, Any]) -> str | None:
    """The name of the first path or query parameter whose name or value holds a NUL, else None."""
    query = request.scope.get("query_string", b"")
    if "\x00" not in request.scope["path"] and b"%00" not in query and b"\x00" not in query:
        return None  # path parameters come from the (decoded) path; a query NUL is sent as %00 or raw
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            return str(name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


async def refuse_hostile_input(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook: 400 for a NUL in a path or query parameter or an over-deep JSON body."""
    field = _nul_parameter(request)
    if field is not None:
        raise ApiError(400, f"{field} must not contain NUL characters", field)
    if request.method in BODY_METHODS and "json" in request.headers.get("content-type", ""):
        if json_depth_exceeds(await request.body()):
            raise ApiError(400, f"JSON body nested more than {MAX_JSON_DEPTH} levels deep", "body")
