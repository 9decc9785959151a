"""Route middleware for dataset uploads: a 413 as soon as the request body passes
`Settings.max_dataset_bytes` plus `MULTIPART_SLACK_BYTES` (form fields and multipart boundaries),
counted while the body streams in, so an oversized upload is never read into memory whole. An
announced Content-Length above the limit is refused before any body byte is read. The service
then checks the file itself against `max_dataset_bytes` exactly."""
from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError

MULTIPART_SLACK_BYTES = 64 * 1024


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"dataset upload too large: the body may have at most {limit} bytes", "file")


def _announced_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limit_upload_body(app: ASGIApp) -> ASGIApp:
    """Wrap `app` so that its request body is counted (bytes) and cut off past the dataset limit."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        limit = scope["litestar_app"].state.settings.max_dataset_bytes + MULTIPART_SLACK_BYTES
        announced = _announced_length(scope)
        if announced is not None and announced > limit:
            raise _too_large(limit)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await app(scope, counting_receive, send)

    return middleware
