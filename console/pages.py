"""The console's page and its assets, served from this origin like the dashboard
(audit/dashboard.py), under the same Content-Security-Policy and headers.

The page holds no data and needs no key: it signs in with the dashboard's code
(`audit/static/signin.js`, served here too, so there is one sign-in) and calls the services'
JSON APIs on this origin with the key in the Authorization header. Every process serves it;
it works where all services answer on one origin: the embedded runtime, or a cluster behind
the Helm chart's Ingress (which routes `/console` like the services' own paths).

The files are in `console/static` (package data): `console.html`, `console.js`,
`console.css`, and `vendor/diff.min.js` (jsdiff as published on npm; version, checksum and
licence in `vendor/README.md`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Response

from audit import dashboard

STATIC = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
# URL name -> (file, media type).
ASSETS: dict[str, tuple[Path, str]] = {
    "console.js": (STATIC / "console.js", JS),
    "conditions.js": (STATIC / "conditions.js", JS),
    "backtest.js": (STATIC / "backtest.js", JS),
    "console.css": (STATIC / "console.css", "text/css; charset=utf-8"),
    "diff.min.js": (STATIC / "vendor" / "diff.min.js", JS),
    "signin.js": (dashboard.STATIC / "signin.js", JS),
}


@cache
def asset(file: Path) -> bytes:
    """A file of the console, read once."""
    return file.read_bytes()


def router() -> APIRouter:
    """`/console` and its assets; none holds data, so none needs a key."""
    routes = APIRouter()

    @routes.get("/console", include_in_schema=False)
    async def page() -> Response:
        return Response(
            asset(STATIC / "console.html"),
            media_type="text/html; charset=utf-8",
            headers=dashboard.HEADERS,
        )

    def serve(url_name: str, file: Path, media_type: str) -> None:
        async def send() -> Response:
            return Response(asset(file), media_type=media_type, headers=dashboard.HEADERS)

        routes.add_api_route(f"/console/{url_name}", send, methods=["GET"], include_in_schema=False)

    for url_name, (file, media_type) in ASSETS.items():
        serve(url_name, file, media_type)
    return routes
