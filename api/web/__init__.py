"""Server-rendered web pages on the same app as /v1: Jinja templates (api/web/templates), a little
CSS and optional JavaScript (api/web/static), and handlers calling the same domain services as the
REST routes. Session and CSRF middleware apply to these pages only (api.web.session)."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.errors import ApiError
from api.settings import Settings
from api.web.common import SignInRequired, credits
from api.web.session import provide_viewer, web_middleware

HERE = Path(__file__).parent
PAGES = ("account", "questions", "scores", "money", "models", "admin")


def _sign_in(request: Request[Any, Any, Any], _: SignInRequired) -> Redirect:
    return Redirect(path=f"/signin?next_url={request.url.path}", status_code=303)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An error as a page with the API's message (never a traceback)."""
    if isinstance(exc, ApiError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail or "refused"
    else:
        status, message = 500, "internal error"
    return Template(template_name="error.html", status_code=status,
                    context={"status": status, "message": message, "viewer": None, "flash": None})


def web_router(settings: Settings) -> Router:
    """Every page, behind the session and CSRF middleware."""
    handlers = [h for name in PAGES for h in importlib.import_module(f"api.web.pages_{name}").ROUTES]
    return Router(path="/", route_handlers=handlers, middleware=web_middleware(settings),
                  dependencies={"viewer": Provide(provide_viewer)}, include_in_schema=False,
                  exception_handlers={SignInRequired: _sign_in, ApiError: _error_page, HTTPException: _error_page})


def _filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["credits"] = credits
    engine.engine.filters["pct"] = lambda p: "" if p is None else f"{100 * p:.1f}%"
    engine.engine.filters["num"] = lambda x, digits=3: "" if x is None else f"{x:.{digits}g}"
    engine.engine.filters["when"] = lambda t: "" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_filters)


def static_files() -> Any:
    """/static: the pages' CSS and JavaScript."""
    return create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False)
