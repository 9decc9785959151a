"""What every web page shares: the signed-in check, rendering with the layout's context, reading
forms into the API's request bodies, and turning the services' errors into messages by field."""
from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from litestar import Request, Response
from litestar.response import Redirect, Template
from pydantic import BaseModel, ValidationError

from api.db.models import Participant
from api.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)
MICRO = 1_000_000


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in viewer; the router redirects to /signin."""


class FormError(Exception):
    """A form's input was refused: `errors` maps field -> message, the page re-renders with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def need(viewer: Participant | None) -> Participant:
    """The viewer, or a redirect to the sign-in page."""
    if viewer is None:
        raise SignInRequired()
    return viewer


def need_admin(viewer: Participant | None) -> Participant:
    """The viewer if an admin; 403 otherwise (the API's own refusal)."""
    from api.auth import require_admin

    admin = need(viewer)
    require_admin(admin)
    return admin


def page(request: Request[Any, Any, Any], name: str, viewer: Participant | None, status: int = 200,
         **context: Any) -> Template:
    """Render `name` with the layout's context (viewer, flash message, a fresh idempotency key)."""
    flash = request.session.pop("flash", None) if request.scope.get("session") is not None else None
    base = {"viewer": viewer, "flash": flash, "idem": uuid.uuid4().hex, "errors": {}, "values": {}}
    return Template(template_name=name, context=base | context, status_code=status)


def done(request: Request[Any, Any, Any], url: str, message: str) -> Redirect:
    """303 to `url` with a one-time `message` shown there."""
    request.session["flash"] = message
    return Redirect(path=url, status_code=303)


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form as a dict of stripped strings (one value per name)."""
    form = await request.form()
    return {key: str(value).strip() for key, value in form.items() if key != "_csrf_token"}


def parse(model: type[Model], data: dict[str, Any]) -> Model:
    """`model` validated from `data`; FormError naming the first bad field with pydantic's message."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "form"
        raise FormError({field.split(".")[0]: f"{field}: {first['msg']}"}) from None


def number(data: dict[str, str], name: str, *, integer: bool = False, required: bool = True) -> Any:
    """The form field `name` as a float (or int); FormError naming it when it is not a number."""
    raw = data.get(name, "")
    if raw == "":
        if required:
            raise FormError({name: f"{name} is required"})
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        raise FormError({name: f"{name} must be a {'whole ' if integer else ''}number"}) from None


async def attempt(call: Awaitable[Any]) -> Any:
    """Await a service call; its ApiError (or an error Response of a money service) becomes a
    FormError with the API's message under the API's field name."""
    try:
        result = await call
    except ApiError as error:
        raise FormError({(error.field or "form").split(".")[0]: error.message}) from None
    if isinstance(result, Response) and result.status_code >= 400:
        body = result.content["error"] if isinstance(result.content, dict) else {}
        raise FormError({(body.get("field") or "form").split(".")[0]: body.get("message", "refused")})
    return result


def content_of(result: Any) -> Any:
    """The body of a service result: a money Response's content, else the result itself."""
    return result.content if isinstance(result, Response) else result


def credits(micro: int | None) -> str:
    """µc as credits with up to 6 decimals ("12.5")."""
    if micro is None:
        return ""
    text = f"{micro / MICRO:,.6f}".rstrip("0").rstrip(".")
    return text


def to_micro(data: dict[str, str], name: str, required: bool = True) -> int | None:
    """A credits field as integer µc; FormError when it is not a number."""
    value = number(data, name, required=required)
    return None if value is None else int(round(value * MICRO))
