"""Every request has an id (a sane `X-Request-Id`, else a new one), echoed on the response;
an access log line (method, route template, status, duration, request id; no path values
or query string, which may hold an email); and its request id and trace id in every log
line written while it is handled, whether tracing is on or off."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from services import tracing
from services.app import ObserveMiddleware
from services.logs import JsonFormatter, request_id_var

EMAIL = "dana.lee@acme.example"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Lines(logging.Handler):
    """The JSON lines the service would write."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def make_app() -> FastAPI:
    app = FastAPI(telemetry=tracing.fastapi_telemetry())
    work = logging.getLogger("leadfarm.test.work")

    @app.get("/people/{email}")
    async def person(email: str, note: str = "") -> dict[str, str | None]:
        if email == "nobody":
            raise HTTPException(404, "no such person")
        work.info("looking the person up")
        work.warning("still looking")
        return {"request_id": request_id_var.get()}

    @app.get("/trace-headers")
    async def trace_headers(request: Request) -> list[list[str]]:
        return [
            [name, value]
            for name, value in request.headers.items()
            if name in ("traceparent", "tracestate", "x-kept")
        ]

    app.add_middleware(ObserveMiddleware)
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()), base_url="http://lf"
    ) as client:
        yield client


async def test_the_access_log_has_the_fields_and_no_personal_data(
    http: httpx.AsyncClient, lines: Lines
) -> None:
    response = await http.get(
        f"/people/{EMAIL}", params={"note": EMAIL}, headers={"X-Request-Id": "rq-7"}
    )
    assert response.status_code == 200
    (access,) = [e for e in lines.entries() if e["logger"] == "leadfarm.access"]
    assert access["method"] == "GET"
    assert access["route"] == "/people/{email}"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["duration_ms"] >= 0
    assert access["request_id"] == "rq-7"
    assert access["msg"] == "GET /people/{email} 200"
    line = next(raw for raw in lines.lines if '"leadfarm.access"' in raw)
    assert "acme" not in line
    assert "note" not in line
    assert "%40" not in line

    missing = await http.get("/nowhere/" + EMAIL)
    assert missing.status_code == 404
    last = [e for e in lines.entries() if e["logger"] == "leadfarm.access"][-1]
    assert (last["route"], last["status"]) == ("unmatched", 404)
    assert "acme" not in str(last)


async def test_the_request_id_is_echoed_or_made(http: httpx.AsyncClient) -> None:
    given = await http.get("/people/x", headers={"X-Request-Id": "rq-42:a/b"})
    assert given.headers["x-request-id"] == "rq-42:a/b" == given.json()["request_id"]

    made = await http.get("/people/x")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert made.headers["x-request-id"] == made.json()["request_id"]

    for bad in ("x" * 129, "two words", "rq\x7f1", "jo@acme.example", ""):
        replaced = await http.get("/people/x", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), bad


async def test_control_characters_in_the_request_id_are_replaced() -> None:
    app = make_app()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/people/x",
        "raw_path": b"/people/x",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-request-id", b"rq\r\nset-cookie: a=b"), (b"host", b"lf")],
        "client": ("127.0.0.1", 1),
        "server": ("lf", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    echoed = dict(start["headers"])[b"x-request-id"]  # type: ignore[call-overload]
    assert re.fullmatch(rb"[0-9a-f]{32}", echoed)


def _inside(lines: Lines) -> list[dict[str, object]]:
    return [e for e in lines.entries() if e["logger"] in ("leadfarm.test.work", "leadfarm.access")]


async def test_every_line_of_a_request_has_its_request_id_and_trace_id(
    http: httpx.AsyncClient, lines: Lines
) -> None:
    await http.get("/people/x", headers={"X-Request-Id": "rq-1", "traceparent": TRACEPARENT})
    inside = _inside(lines)
    assert len(inside) == 3
    assert {(e["request_id"], e["trace_id"]) for e in inside} == {("rq-1", TRACE_ID)}

    # Without a traceparent the request is given a trace of its own, named in its lines.
    before = len(lines.lines)
    response = await http.get("/people/x")
    inside = [e for e in lines.entries()[before:] if e["logger"] != "httpx"]
    ids = {(e.get("request_id"), e.get("trace_id")) for e in inside}
    assert len(ids) == 1
    ((request_id, trace_id),) = ids
    assert request_id == response.headers["x-request-id"]
    assert isinstance(trace_id, str)
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)


async def test_with_tracing_on_the_lines_name_the_current_span(lines: Lines) -> None:
    exporter = InMemorySpanExporter()
    tracing.configure("leadfarm", processors=[SimpleSpanProcessor(exporter)])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=make_app()), base_url="http://lf"
        ) as client:
            await client.get(
                f"/people/{EMAIL}",
                params={"note": EMAIL, "token": "s3cr3t-t0ken"},
                headers={"X-Request-Id": "rq-2", "traceparent": TRACEPARENT},
            )
    finally:
        tracing.shutdown()
    inside = _inside(lines)
    assert len(inside) == 3
    assert {(e["request_id"], e["trace_id"]) for e in inside} == {("rq-2", TRACE_ID)}
    finished = exporter.get_finished_spans()
    (server,) = [s for s in finished if s.name == "GET /people/{email}"]
    assert server.context is not None
    spans = {f"{s.context.span_id:016x}" for s in finished if s.context is not None}
    assert {e["span_id"] for e in inside} <= spans
    (access,) = [e for e in inside if e["logger"] == "leadfarm.access"]
    assert access["span_id"] == f"{server.context.span_id:016x}"
    # The spans keep the request's URL redacted, as the logs do.
    recorded = str([dict(s.attributes or {}) for s in finished])
    assert "/people/[email]" in recorded
    assert "note=REDACTED&token=REDACTED" in recorded
    assert "acme" not in recorded
    assert "s3cr3t" not in recorded


async def test_a_request_without_a_valid_traceparent_is_given_one_for_its_events(
    http: httpx.AsyncClient,
) -> None:
    """The route sees the traceparent its events continue: the caller's when valid, else a
    new one that replaces an invalid one and drops a tracestate that came with it."""
    kept = await http.get("/trace-headers", headers={"traceparent": TRACEPARENT, "x-kept": "1"})
    assert kept.json() == [["traceparent", TRACEPARENT], ["x-kept", "1"]]

    made = (await http.get("/trace-headers", headers={"x-kept": "1"})).json()
    assert made[0] == ["x-kept", "1"]
    assert made[1][0] == "traceparent"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", made[1][1])
    assert len(made) == 2

    replaced = (
        await http.get(
            "/trace-headers",
            headers={"traceparent": "00-not-a-trace", "tracestate": "vendor=1", "x-kept": "1"},
        )
    ).json()
    assert [name for name, _ in replaced] == ["x-kept", "traceparent"]
    assert replaced[1][1] != "00-not-a-trace"
    assert "vendor=1" not in str(replaced)


async def test_requests_are_counted_and_timed_per_route_and_status(
    http: httpx.AsyncClient,
) -> None:
    def counted(status: str) -> float:
        labels = {"method": "GET", "route": "/people/{email}", "status": status}
        return REGISTRY.get_sample_value("leadfarm_http_requests_total", labels) or 0.0

    def timed() -> float:
        labels = {"route": "/people/{email}"}
        return REGISTRY.get_sample_value("leadfarm_http_request_seconds_count", labels) or 0.0

    ok, missing, seconds = counted("200"), counted("404"), timed()
    for _ in range(3):
        assert (await http.get("/people/x")).status_code == 200
    assert (await http.get("/people/nobody")).status_code == 404
    assert (await http.get("/people/y")).status_code == 200
    assert counted("200") == ok + 4
    assert counted("404") == missing + 1
    assert timed() == seconds + 5
