"""The OpenAPI pages work with no internet: every HTML page of every render plugin the app enables
references only paths on this server, and each of those paths answers 200 with the right kind of
content (JavaScript, CSS, PNG) from the installed package. The CDN-only UIs are not served."""
from __future__ import annotations

import re

import pytest
from litestar.enums import MediaType

from api.schema_docs import SCHEMA_PATH

pytestmark = pytest.mark.anyio

ASSET_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
KIND = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def html_pages(app) -> list[str]:
    """Every path (under /schema) of the app's HTML render plugins, with the root page."""
    plugins = app.openapi_config.render_plugins
    paths = {path for plugin in plugins if plugin.media_type == MediaType.HTML for path in plugin.paths}
    return sorted(SCHEMA_PATH + ("" if path == "/" else path) for path in paths | {"/"})


async def test_every_schema_ui_page_loads_only_local_assets(app, client) -> None:
    pages = html_pages(app)
    assert {"/schema", "/schema/redoc", "/schema/swagger"} <= set(pages), pages
    assets: set[str] = set()
    for page in pages:
        reply = await client.get(page)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html"), page
        html = reply.text
        refs = ASSET_REF.findall(html)
        assert refs, f"{page} references no script or style"
        outside = [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>]*", html)]
        assert not outside, f"{page} references other hosts: {outside}"
        assert all(ref.startswith(f"{SCHEMA_PATH}/static/") for ref in refs), (page, refs)
        assets.update(refs)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets) and any(a.endswith("redoc.standalone.js") for a in assets)
    for asset in sorted(assets):
        reply = await client.get(asset)
        assert reply.status_code == 200, asset
        suffix = asset[asset.rfind("."):]
        assert KIND[suffix] in reply.headers["content-type"], (asset, reply.headers["content-type"])
        assert len(reply.content) > 500, asset
    swagger_js = (await client.get(f"{SCHEMA_PATH}/static/swagger-ui-dist/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in swagger_js


async def test_the_openapi_document_is_still_served_and_cdn_only_uis_are_not(client) -> None:
    assert "/v1/participants" in (await client.get("/schema/openapi.json")).json()["paths"]
    assert (await client.get("/schema/openapi.yaml")).status_code == 200
    for page in ("/schema/elements", "/schema/rapidoc", "/schema/scalar"):
        assert (await client.get(page)).status_code == 404, page
    assert (await client.get("/schema/static/nothing-here.js")).status_code == 404
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert not any(p.startswith("/schema") for p in paths), "the static files route leaked into the API document"
