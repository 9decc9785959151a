"""The web pages' session and CSRF protection, and who the signed-in viewer is.

The session is Litestar's client-side cookie session (`ts_session`: AES-GCM encrypted and
authenticated, HttpOnly, SameSite=Lax); it holds sha256 of the API key the viewer signed in with
(never the key), so a rotated key ends its sessions. Every form POST must carry the `_csrf_token`
of the `ts_csrf` cookie (Litestar's CSRF middleware). Both apply to the web router only, never to /v1.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from litestar import Request
from litestar.types import ASGIApp
from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig

from api.auth import participant_for_hash
from api.db.models import Participant
from api.settings import Settings

log = logging.getLogger("turnsignal.api")
SESSION_COOKIE, CSRF_COOKIE = "ts_session", "ts_csrf"
SESSION_DAYS = 14


def _secret(settings: Settings) -> bytes:
    """32 bytes from TURNSIGNAL_SESSION_SECRET, or random ones for this process (with a warning)."""
    if settings.session_secret:
        return hashlib.sha256(settings.session_secret.encode()).digest()
    log.warning("TURNSIGNAL_SESSION_SECRET is not set: web sign-ins end when the server restarts")
    return secrets.token_bytes(32)


def web_middleware(settings: Settings) -> list[DefineMiddleware]:
    """Session then CSRF middleware for the web router."""
    secret = _secret(settings)
    session = CookieBackendConfig(secret=secret, key=SESSION_COOKIE, httponly=True, samesite="lax",
                                  max_age=SESSION_DAYS * 86_400)
    csrf = CSRFConfig(secret=hashlib.sha256(b"csrf" + secret).hexdigest(), cookie_name=CSRF_COOKIE,
                      cookie_httponly=True, cookie_samesite="lax")
    return [DefineMiddleware(_session_middleware, config=session), DefineMiddleware(CSRFMiddleware, config=csrf)]


def _session_middleware(app: ASGIApp, config: CookieBackendConfig) -> ASGIApp:
    """The session middleware, built when the route is (its cipher cannot be deep-copied with the router)."""
    return config.middleware(app)


async def provide_viewer(request: Request[Any, Any, Any]) -> Participant | None:
    """The signed-in participant (from the session's key hash), or None."""
    key_hash = request.session.get("key_hash") if request.scope.get("session") is not None else None
    if not key_hash:
        return None
    participant = await participant_for_hash(request.app.state, key_hash)
    if participant is None:
        request.session.pop("key_hash", None)
    return participant
