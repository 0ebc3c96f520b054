"""The HTTP app factory: a runtime's services' routes plus /healthz, /readyz, /metrics,
the admin key API, problem+json errors, request metrics and request ids."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services import metrics
from services.auth import admin_router
from services.bodylimit import BodyLimitMiddleware
from services.logs import request_id_var
from services.problems import Problem, install_problem_handlers, problem_response
from services.runtime import Runtime


def create_app(
    runtime: Runtime, on_started: Callable[[], Awaitable[None]] | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            await on_started()
        try:
            yield
        finally:
            await runtime.stop()

    names = ", ".join(s.name for s in runtime.specs)
    app = FastAPI(
        title=f"Leadfarm ({names})",
        version="1",
        description="Leadfarm's HTTP API. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.key_store = runtime.key_store
    install_problem_handlers(app)
    app.include_router(_health_router(runtime))
    app.include_router(admin_router())
    for spec in runtime.specs:
        app.include_router(spec.router)
    limits = {path: size for spec in runtime.specs for path, size in spec.body_limits.items()}
    app.add_middleware(BodyLimitMiddleware, per_path=limits)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        token = request_id_var.set(request.headers.get("x-request-id") or uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(path).observe(time.perf_counter() - started)
        return response

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

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
