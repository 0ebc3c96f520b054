"""Tracing is configured by the standard OTEL_* variables, off by default, and when off
nothing of the OpenTelemetry SDK is even imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from services import tracing
from services.db import Database


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_named(environ: dict[str, str], on: bool) -> None:
    assert tracing.requested(environ) is on


def test_the_exporters_are_the_ones_named() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    found = tracing._exporters({"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert [type(e) for e in found] == [ConsoleSpanExporter, Grpc]
    http = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    assert [type(e) for e in tracing._exporters(http)] == [Http]
    with pytest.raises(ValueError, match="no exporter named 'zipkin-ish'"):
        tracing._exporters({"OTEL_TRACES_EXPORTER": "zipkin-ish"})


@pytest.fixture
def memory() -> Iterator[None]:
    yield
    tracing.shutdown()


def _service_names(environ: dict[str, str], service: str) -> tuple[str, str]:
    exporter = InMemorySpanExporter()
    tracing.configure(service, processors=[SimpleSpanProcessor(exporter)], environ=environ)
    with tracing.span("qualifier", "work", None):
        pass
    provider = tracing._state["provider"]
    (span,) = exporter.get_finished_spans()
    return str(provider.resource.attributes["service.name"]), str(
        span.resource.attributes["service.name"]
    )


@pytest.mark.usefixtures("memory")
def test_the_service_name_defaults_to_the_services() -> None:
    # `leadfarm serve ingest`: the process's spans are ingest's; a service's own spans its.
    assert _service_names({}, "ingest") == ("ingest", "qualifier")


@pytest.mark.usefixtures("memory")
def test_otel_service_name_names_every_span() -> None:
    assert _service_names({"OTEL_SERVICE_NAME": "lf-eu"}, "leadfarm") == ("lf-eu", "lf-eu")


def test_with_tracing_off_the_sdk_is_never_loaded(tmp_path: object) -> None:
    """A process that builds the embedded runtime and its app, and handles a request,
    imports nothing of the SDK or the instrumentations (FastAPI itself imports the API)."""
    program = f"""
import asyncio, os, sys
os.environ.pop("OTEL_TRACES_EXPORTER", None)
import httpx
from services.app import create_app
from services.runtime import embedded_runtime
from services.settings import Settings

async def main():
    settings = Settings(env="test", data_dir={str(tmp_path)!r}, admin_key="k" * 32)
    app = create_app(embedded_runtime(settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lf") as c:
        assert (await c.get("/healthz")).status_code == 200
    sdk = ("opentelemetry.sdk", "opentelemetry.instrumentation")
    loaded = sorted(m for m in sys.modules if m.startswith(sdk))
    assert not loaded, loaded

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.usefixtures("memory")
async def test_statements_are_traced_inside_traced_work_only(tmp_path: Path) -> None:
    """A poller's statement (the relay, timers, workers finding nothing to do) would be a
    trace of one span each; a statement is traced only under a span."""
    exporter = InMemorySpanExporter()
    tracing.configure("leadfarm", processors=[SimpleSpanProcessor(exporter)], environ={})
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")  # tracing on: its engine is traced
    try:
        async with database.connect() as conn:
            await conn.execute(text("SELECT 1"))
        with tracing.span("ingest", "work", None):
            async with database.connect() as conn:
                await conn.execute(text("SELECT 2"))
    finally:
        await database.dispose()
    finished = exporter.get_finished_spans()
    (work,) = [s for s in finished if s.name == "work"]
    # The engine says BEGIN itself (services/db.py), a statement of its own.
    statements = [
        s
        for s in finished
        if s.name != "work" and (s.attributes or {}).get("db.statement") != "BEGIN"
    ]
    assert len(statements) == 1
    assert statements[0].parent is not None
    assert work.context is not None
    assert statements[0].parent.span_id == work.context.span_id


def test_a_wrong_exporter_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-ish")
    assert main(["up", "--data-dir", str(tmp_path), "--port", "1"]) == 2
    assert "OTEL_TRACES_EXPORTER: no exporter named 'zipkin-ish'" in capsys.readouterr().err
    assert not tracing.enabled


def test_otlp_exports_to_the_collector_the_variables_name(
    monkeypatch: pytest.MonkeyPatch, serve_api: Callable[[ASGIApp], str]
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[bytes] = []

    async def traces(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=200)

    base = serve_api(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])]))
    environ = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        "OTEL_SERVICE_NAME": "router-eu",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert tracing.configure("router", environ=environ)
    try:
        with tracing.span("router", "webhook deliver", None):
            pass
        tracing.flush()
    finally:
        tracing.shutdown()
    assert received
    exported = ExportTraceServiceRequest.FromString(received[0])
    (resource_spans,) = exported.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "router-eu"
    names = [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert names == ["webhook deliver"]
