"""The HTTP app factory: a runtime's services' routes plus /healthz, /readyz, /metrics,
the admin key API, problem+json errors, request metrics and request ids; security headers
on every response, CORS (closed unless `LEADFARM_CORS_ORIGINS` lists origins) and a rate
limit per API key (`LEADFARM_API_RATE_LIMIT_PER_SECOND`, `LEADFARM_API_RATE_LIMIT_BURST`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import pages as console_pages
from contracts.envelope import new_correlation_id, new_traceparent
from services import metrics, tracing
from services.apidocs import install_api_docs
from services.auth import KeyRateLimiter, admin_router
from services.bodylimit import BodyLimitMiddleware
from services.controlchars import ControlCharacterMiddleware
from services.logs import log_fields, request_id_var, trace_id_of, trace_id_var
from services.openapi import install_declared_bodies
from services.problems import ROUTED_METHODS, Problem, install_problem_handlers, problem_response
from services.runtime import Runtime

# Metric labels are bounded: any token is a valid HTTP method, and each new label value
# would be a new time series in Prometheus.
HTTP_METHODS = frozenset({*ROUTED_METHODS, "OPTIONS"})


class HttpSettings(BaseSettings):
    """The HTTP edge's settings (LEADFARM_*), read when an app is created."""

    model_config = SettingsConfigDict(env_prefix="LEADFARM_", extra="ignore")

    cors_origins: str = ""
    """Comma-separated origins allowed to call the API from a browser (e.g.
    `https://crm.example.com`). Empty (the default): no CORS headers, so browsers refuse
    cross-origin calls. `*` is refused: the API is authenticated."""
    api_rate_limit_per_second: float = Field(50.0, gt=0)
    """Requests per second allowed per API key (per process), after the burst."""
    api_rate_limit_burst: int = Field(500, ge=1)

    def origins(self) -> list[str]:
        found = [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
        if "*" in found:
            raise ValueError("LEADFARM_CORS_ORIGINS: list origins; '*' is not allowed")
        return found


# Sent on every response. The API answers JSON only, so its policy forbids everything; the
# dashboard (audit/dashboard.py) and the API docs pages (services/apidocs.py) set their own.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
DEFAULT_HEADERS = (
    *SECURITY_HEADERS,
    (b"content-security-policy", API_CSP.encode()),
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, without overriding those a route
    set itself. `Cache-Control: no-store` unless the route chose a caching policy: API
    answers carry personal data and must not be kept by browsers or proxies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in DEFAULT_HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
"""An incoming `X-Request-Id` kept as it is: short, and nothing a log or a header could
be made to misread (no spaces, control characters or `@`). Any other is replaced."""
access_log = logging.getLogger("leadfarm.access")


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if REQUEST_ID.fullmatch(given):
                return given
            break
    return new_correlation_id()


class ObserveMiddleware:
    """Request ids (a sane `X-Request-Id`, else a new one, echoed on the response) for the
    logs, an access log line per request, and request metrics.

    The access line names the route template, never the path or the query string, which
    may hold an email address. Plain ASGI rather than `@app.middleware("http")`:
    Starlette's BaseHTTPMiddleware runs each request through an extra task and memory
    streams, which the profile of the webhook path showed as a hot spot."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The metrics' children by their labels, looked up once (as many as the labels'
        # own combinations): prometheus-client's `labels()` costs about a microsecond.
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._seconds: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        token = request_id_var.set(request_id)
        trace_token = None
        if not tracing.enabled:
            scope, trace_id = _traced(scope)
            trace_token = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status = 500
        echoed = (b"x-request-id", request_id.encode())

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            # The router put the matched route into this same scope.
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    method,
                    path,
                    status,
                    extra=log_fields(
                        method=method,
                        route=path,
                        status=status,
                        duration_ms=round(elapsed * 1000, 3),
                    ),
                )
            request_id_var.reset(token)
            if trace_token is not None:
                trace_id_var.reset(trace_token)
            counted = self._requests.get((method, path, status))
            if counted is None:
                counted = metrics.HTTP_REQUESTS.labels(method, path, str(status))
                self._requests[(method, path, status)] = counted
            counted.inc()
            timed = self._seconds.get(path)
            if timed is None:
                timed = self._seconds[path] = metrics.HTTP_SECONDS.labels(path)
            timed.observe(elapsed)


def _traced(scope: Scope) -> tuple[Scope, str]:
    """With tracing off: the request's trace id, for its logs, from its W3C `traceparent`;
    a request without a valid one is given one, so the events it causes continue the trace
    its logs name. (With tracing on, the OpenTelemetry middleware does this.)"""
    stale = False  # an invalid traceparent, or a tracestate without a valid one
    for name, value in scope["headers"]:
        if name == b"traceparent":
            found = trace_id_of(value.decode("latin-1"))
            if found:
                return scope, found
            stale = True
        elif name == b"tracestate":
            stale = True
    given = new_traceparent()
    headers = (
        [(n, v) for n, v in scope["headers"] if n not in (b"traceparent", b"tracestate")]
        if stale
        else list(scope["headers"])
    )
    headers.append((b"traceparent", given.encode()))
    return {**scope, "headers": headers}, given[3:35]


def create_app(
    runtime: Runtime, on_started: Callable[[], Awaitable[None]] | None = None
) -> FastAPI:
    http_settings = HttpSettings()
    origins = http_settings.origins()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            await on_started()
        try:
            yield
        finally:
            await runtime.stop()
            # uvicorn ends the process by re-raising SIGTERM, so no exit hook runs after.
            tracing.flush()

    names = ", ".join(s.name for s in runtime.specs)
    app = FastAPI(
        title=f"Leadfarm ({names})",
        version="1",
        description="Leadfarm's HTTP API. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url=None,  # served from this process instead of a CDN: install_api_docs
        redoc_url=None,
        telemetry=tracing.fastapi_telemetry(),
    )
    app.state.runtime = runtime
    app.state.key_store = runtime.key_store
    app.state.key_limiter = KeyRateLimiter(
        http_settings.api_rate_limit_per_second, http_settings.api_rate_limit_burst
    )
    install_problem_handlers(app)
    install_declared_bodies(app)
    # The direct routes first (services/directroutes.py; FastAPI's own path when traced),
    # then the services' APIs: FastAPI tries a request's path against the routes in
    # order (twice per level, about 1.5 us a try), and the webhooks and the APIs are what
    # is called most; the API docs pages come after them.
    if not tracing.enabled:
        app.router.routes.extend(route for spec in runtime.specs for route in spec.direct_routes)
    for spec in runtime.specs:
        app.include_router(spec.router)
    install_api_docs(app)
    app.include_router(_health_router(runtime))
    app.include_router(admin_router())
    app.include_router(console_pages.router())
    limits = {path: size for spec in runtime.specs for path, size in spec.body_limits.items()}
    app.add_middleware(BodyLimitMiddleware, per_path=limits)
    app.add_middleware(ControlCharacterMiddleware)  # before any route puts the URL into SQL

    app.add_middleware(ObserveMiddleware)

    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            expose_headers=["Retry-After", "X-Request-Id"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: covers 413s and preflights
    return app


def _health_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> dict[str, str] | Response:
        """Ready for traffic: started, not shutting down, database and bus answering."""
        if not runtime.ready:
            return problem_response(request, Problem(503, "Leadfarm is starting or stopping."))
        down = runtime.down()
        if down:
            names = ", ".join(f"{name} ({why})" for name, why in sorted(down.items()))
            return problem_response(
                request, Problem(503, f"Background work stopped and is being restarted: {names}")
            )
        try:
            await runtime.database.ping()
        except Exception as exc:  # noqa: BLE001 - reported as unready, not raised
            return problem_response(request, Problem(503, f"The database does not answer: {exc}"))
        try:
            await runtime.bus.ping()
        except Exception as exc:  # noqa: BLE001 - reported as unready, not raised
            return problem_response(
                request, Problem(503, f"The event bus does not answer: {exc!r}")
            )
        return {"status": "ready", "runtime": runtime.mode}

    # `/` is where a person lands first: the dashboard where this process serves audit
    # (the embedded runtime, or audit's own process), else the API's documentation.
    home = "/audit/v1/dashboard" if any(s.name == "audit" for s in runtime.specs) else "/docs"

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(home, status_code=307)

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
