"""Home, sign in (with an API key), sign out, and registration (when open)."""
from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import hash_api_key, participant_for_key
from api.db.models import Participant
from api.domain.participants.schemas import ParticipantCreate
from api.domain.participants.service import register as register_participant
from api.web.common import FormError, attempt, done, form_of, page, parse

Req = Request[Any, Any, Any]


@get("/", name="web_home")
async def home(request: Req, viewer: Participant | None) -> Template:
    """The landing page: what Turnsignal is and where to go."""
    return page(request, "home.html", viewer, open_registration=request.app.state.settings.open_registration)


@get("/signin")
async def signin_form(request: Req, viewer: Participant | None, next_url: str | None = None) -> Template:
    return page(request, "signin.html", viewer, next_url=_safe_next(next_url))


def _safe_next(url: str | None) -> str:
    """Only local paths are followed after sign-in."""
    return url if url and url.startswith("/") and not url.startswith("//") else "/questions"


@post("/signin")
async def signin(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template | Redirect:
    """Check the key, keep its hash in the session."""
    data = await form_of(request)
    next_url = _safe_next(data.get("next_url"))
    participant = await participant_for_key(db_session, data.get("api_key", "")) if data.get("api_key") else None
    if participant is None:
        return page(request, "signin.html", None, status=401, next_url=next_url,
                    errors={"api_key": "invalid API key"})
    request.session["key_hash"] = hash_api_key(data["api_key"])
    return done(request, next_url, f"Signed in as @{participant.handle}.")


@post("/signout")
async def signout(request: Req) -> Redirect:
    request.session.pop("key_hash", None)
    return done(request, "/", "Signed out.")


@get("/register")
async def register_form(request: Req, viewer: Participant | None) -> Template:
    return page(request, "register.html", viewer, open_registration=request.app.state.settings.open_registration)


@post("/register")
async def register(request: Req, db_session: AsyncSession, viewer: Participant | None) -> Template:
    """Register through the same service as POST /v1/participants; the key is shown once, and signed in."""
    data = await form_of(request)
    settings = request.app.state.settings
    try:
        body = parse(ParticipantCreate, {"handle": data.get("handle", ""), "display_name": data.get("display_name", "")})
        created = await attempt(register_participant(db_session, body, None, settings.open_registration))
    except FormError as error:
        return page(request, "register.html", viewer, status=422, errors=error.errors, values=data,
                    open_registration=settings.open_registration)
    request.session["key_hash"] = hash_api_key(created.api_key)
    return page(request, "registered.html", None, created=created)


ROUTES = [home, signin_form, signin, signout, register_form, register]
