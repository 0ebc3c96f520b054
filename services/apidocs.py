"""The API docs pages, /docs (Swagger UI) and /redoc (ReDoc), served with their assets from
this process: they work on a closed network, and their Content-Security-Policy allows
scripts from this origin only.

The assets (swagger-ui-dist's bundle and style sheet, ReDoc's standalone bundle) come from
the `fastapi-offline` package, which ships the same files FastAPI's default pages load from
a CDN and follows their releases. Its `FastAPIOffline` factory is not used: its pages start
Swagger UI with an inline script, which a CSP without 'unsafe-inline' refuses; here the
start-up script is a file of this origin and the page passes it the document's URL in a
data attribute.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

# Swagger UI needs nothing but this origin (and data: images for its icons). ReDoc injects
# <style> elements (styled-components) and runs its search in a blob: worker; scripts stay
# 'self' on both pages.
SWAGGER_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
REDOC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

SWAGGER_INIT = """"use strict";
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


class _Assets(StaticFiles):
    """The packaged files, revalidated by ETag rather than kept (`no-store` otherwise)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def install_api_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for `app` (created with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PATH, _Assets(directory=ASSETS_DIR), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        return _page(
            f"{app.title} - Swagger UI",
            SWAGGER_CSP,
            root,
            f'<link rel="stylesheet" href="{root}{ASSETS_PATH}/swagger-ui.css">',
            f'<div id="swagger-ui" data-openapi-url="{html.escape(root + str(app.openapi_url))}">'
            "</div>"
            f'<script src="{root}{ASSETS_PATH}/swagger-ui-bundle.js"></script>'
            f'<script src="{root}/docs/swagger-init.js"></script>',
        )

    @app.get("/docs/swagger-init.js", include_in_schema=False)
    async def swagger_init() -> Response:
        return Response(
            SWAGGER_INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        # ReDoc's bundle starts itself on a <redoc spec-url> element: no script of ours.
        return _page(
            f"{app.title} - ReDoc",
            REDOC_CSP,
            root,
            "",
            f'<redoc spec-url="{html.escape(root + str(app.openapi_url))}"></redoc>'
            f'<script src="{root}{ASSETS_PATH}/redoc.standalone.js"></script>',
        )


def _page(title: str, csp: str, root: str, head: str, body: str) -> Response:
    page = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="icon" href="{root}{ASSETS_PATH}/favicon.png">\n{head}\n</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )
    return Response(
        page,
        media_type="text/html",
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )
