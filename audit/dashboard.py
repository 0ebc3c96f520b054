"""The sales manager's dashboard, served by audit: one HTML page, its script and style
sheet, and Chart.js, all from this origin (the page must work on a closed network).

The page holds no data. It asks for a manager API key, keeps it in the tab's
sessionStorage (never in a URL or a cookie), and calls audit's JSON endpoints with it in the
Authorization header. The Content-Security-Policy allows scripts, styles and requests to
this origin only; Chart.js draws on canvas and sets styles through the DOM, which the
policy allows, so it needs no `unsafe-inline` or `unsafe-eval`.

The files are in `audit/static` (package data, so they ship in the wheel): `dashboard.html`,
`app.js`, `app.css`, `format.js` (how numbers, durations, money and times are written;
unit-tested in Node), `signin.js` (the key sign-in, shared with the console at `/console`,
console/pages.py) and `vendor/chart.umd.min.js` (Chart.js as published on npm; its
version, checksum and licence are in `vendor/README.md`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Response

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# URL name -> (file under STATIC, media type).
ASSETS = {
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "format.js": ("format.js", "text/javascript; charset=utf-8"),
    "signin.js": ("signin.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "text/javascript; charset=utf-8"),
}


@cache
def asset(name: str) -> bytes:
    """A file of the dashboard, read once."""
    return (STATIC / name).read_bytes()


def add_routes(router: APIRouter) -> None:
    """The page and its assets; none holds data, so none needs a key."""

    @router.get("/dashboard", include_in_schema=False)
    async def page() -> Response:
        return Response(
            asset("dashboard.html"), media_type="text/html; charset=utf-8", headers=HEADERS
        )

    def serve(url_name: str, file: str, media_type: str) -> None:
        async def send() -> Response:
            return Response(asset(file), media_type=media_type, headers=HEADERS)

        router.add_api_route(
            f"/dashboard/{url_name}", send, methods=["GET"], include_in_schema=False
        )

    for url_name, (file, media_type) in ASSETS.items():
        serve(url_name, file, media_type)
