"""The OpenAPI pages, served with no internet: `openapi_config()` and `static_router()`.

`/schema` (and `/schema/redoc`) is ReDoc, `/schema/swagger` is Swagger UI, `/schema/openapi.json`
and `/schema/openapi.yaml` (`.yml`) are the document itself. The UIs' scripts, styles and favicon
come from `/schema/static/`, which serves the static folder of the `drf-spectacular-sidecar` wheel
(Swagger UI's `swagger-ui-dist` and ReDoc's standalone bundle, with their licences). Only that folder
is read: the package's Django app is never imported. Litestar's other UIs (Stoplight Elements,
RapiDoc, Scalar) load from public CDNs only, so they are not offered.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from api.openapi_docs import BEARER, components

SCHEMA_PATH = "/schema"
STATIC_PATH = f"{SCHEMA_PATH}/static"
ASSETS_PACKAGE = "drf_spectacular_sidecar"
SWAGGER = f"{STATIC_PATH}/swagger-ui-dist"
REDOC_JS = f"{STATIC_PATH}/redoc/bundles/redoc.standalone.js"
FAVICON = f"<link rel='icon' type='image/png' href='{SWAGGER}/favicon-32x32.png'>"


def assets_dir() -> Path:
    """The folder holding `swagger-ui-dist/` and `redoc/` (found without importing the package)."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {ASSETS_PACKAGE} package (Swagger UI and ReDoc files) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / ASSETS_PACKAGE
    if not (folder / "swagger-ui-dist").is_dir():
        raise RuntimeError(f"{folder} has no swagger-ui-dist folder: reinstall {ASSETS_PACKAGE}")
    return folder


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """OpenAPI served at `/schema` with ReDoc (the root), Swagger UI, JSON and YAML, all local."""
    plugins = [
        RedocRenderPlugin(path=["/", "/redoc"], js_url=REDOC_JS, google_fonts=False, favicon=FAVICON),
        SwaggerRenderPlugin(path="/swagger", js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                            css_url=f"{SWAGGER}/swagger-ui.css",
                            standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js", favicon=FAVICON),
        JsonRenderPlugin(path="/openapi.json"),
        YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
    ]
    return OpenAPIConfig(title=title, version=version, path=SCHEMA_PATH, render_plugins=plugins,
                         components=components(), security=[{BEARER: []}])


def static_router() -> Router:
    """`/schema/static/<file>`: the UIs' files, not part of the OpenAPI document."""
    return create_static_files_router(path=STATIC_PATH, directories=[assets_dir()], include_in_schema=False,
                                      name="schema-static")
