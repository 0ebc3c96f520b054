"""RFC 9457 problem details: every error a person or a program gets back from Leadfarm.

Each problem names what went wrong in `detail` in words a person can act on, and for bad
input lists every offending field in `errors` (`field` as a dotted path, `pointer` as a
JSON Pointer into the request body).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise anywhere below a route to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.type_ = type_
        self.errors = errors
        self.headers = headers


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "pointer": "/" + field.replace(".", "/"), "message": message}


def problem_of(error: DomainError) -> Problem:
    """The problem that answers a domain refusal (`services.errors`), naming its fields."""
    errors = [
        field_error(e.field, e.message) | ({} if e.line is None else {"line": str(e.line)})
        for e in error.errors
    ]
    return Problem(error.status, error.detail, errors=errors or None)


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem.type_,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            return Problem(400, f"The request body is not valid JSON: {err.get('msg')}.")
        field = ".".join(loc) or "body"
        errors.append(field_error(field, str(err.get("msg", "invalid"))))
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, f"The request has invalid fields. {summary}", errors=errors)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each invalid field.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["field", "pointer", "message"],
    "properties": {
        "field": {"type": "string"},
        "pointer": {"type": "string"},
        "message": {"type": "string"},
    },
}


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the API answers on errors: problem+json for every
    4xx (FastAPI documents only its own 422 shape, which these handlers replace)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in doc.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = problem
            responses.setdefault("4XX", {"description": "A problem (RFC 9457)", "content": problem})
            if path == "/readyz":
                responses["503"] = {"description": "Not ready", "content": problem}
    return doc


def install_problem_handlers(app: FastAPI) -> None:
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(DomainError)
    async def _refused(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(request, problem_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, _validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no route {request.method} {request.url.path}."
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
            allowed = allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem_response(request, Problem(exc.status_code, detail, headers=headers))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            Problem(500, "Something went wrong on our side; it was logged. Try again later."),
        )


ROUTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
"""The methods a route may take (OPTIONS is the CORS middleware's, before any route)."""


def allowed_methods(request: Request) -> list[str]:
    """Every method a route of the app takes on the request's path, for a 405's `Allow`
    (RFC 9110 wants them all). The route that refused the method knows only its own: the
    webhook's path has a POST route and a GET one (a provider's verification request), and
    whichever came first used to be the only method named."""
    routes = request.app.router.routes
    return [
        method
        for method in ROUTED_METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
