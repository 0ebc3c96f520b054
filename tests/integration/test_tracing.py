"""OpenTelemetry traces, on both runtimes: one trace follows a lead from the HTTP request
that brings it through all five services to the POST to a rep's tool; on Kafka the
context crosses in the records' `traceparent` header."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from contracts.envelope import Envelope
from contracts.topics import SERVICES
from services import tracing
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually
from tests.integration.test_flow import SALES_READY, add_rep

ASSIGNED = "leadfarm.lead.assigned.v1"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure("leadfarm", processors=[SimpleSpanProcessor(exporter)])
    yield exporter
    tracing.shutdown()


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def traced(
    request: pytest.FixtureRequest, tmp_path: Path, spans: InMemorySpanExporter
) -> AsyncIterator[Backend]:
    backend: Backend
    if request.param == "embedded":
        backend = await EmbeddedBackend(tmp_path).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        backend = await ClusterBackend(database.url, kafka).start()
    yield backend
    await backend.stop()


def reps_tool(heard: list[dict[str, str]]) -> ASGIApp:
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        body = orjson.loads(await request.body())
        with lock:
            heard.append({"subject": body["subject"], **request.headers})
        return Response(status_code=204)

    return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


async def test_one_trace_follows_a_lead_from_the_request_to_the_reps_tool(
    traced: Backend, spans: InMemorySpanExporter, serve_api: Callable[[ASGIApp], str]
) -> None:
    heard: list[dict[str, str]] = []
    base = serve_api(reps_tool(heard))
    created = await traced.client("router").post(
        "/router/v1/subscriptions",
        json={"url": f"{base}/hooks", "events": ["lead.assigned"], "description": "the CRM"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    await add_rep(traced)

    trace_id = secrets.token_hex(16)
    caller = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    response = await traced.client("ingest").post(
        "/ingest/v1/leads", json=SALES_READY, headers={**ADMIN, "traceparent": caller}
    )
    assert response.status_code == 202, response.text
    lead_id = response.json()["lead_id"]

    async def hook_heard() -> list[dict[str, str]]:
        return [h for h in heard if h["subject"] == lead_id]

    (hook,) = await eventually(hook_heard, timeout=60)
    # The rep's tool is told which trace the lead is in.
    assert hook["traceparent"].split("-")[1] == trace_id
    # The events carry the trace too (the CloudEvents traceparent extension).
    events = await traced.timeline_with(lead_id, ASSIGNED, "leadfarm.forecast.changed.v1")
    assert {e["traceparent"].split("-")[1] for e in events} == {trace_id}

    def in_trace() -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.context is not None and f"{s.context.trace_id:032x}" == trace_id
        ]

    def orphans(found: list[ReadableSpan]) -> list[ReadableSpan]:
        """Spans whose parent is not (yet: spans are exported as they end) in the trace."""
        ids = {s.context.span_id for s in found if s.context is not None}
        return [s for s in found if s.parent is not None and s.parent.span_id not in ids]

    request_parent = int(caller.split("-")[2], 16)

    async def complete() -> list[ReadableSpan] | None:
        found = in_trace()
        services = {service_of(s) for s in found}
        client_posts = [s for s in found if s.kind == SpanKind.CLIENT and s.name == "POST"]
        # The delivery's span ends once its outcome is recorded, after the POST's.
        delivered = [s for s in found if s.name == "webhook deliver"]
        # The tree holds together once every span in flight has ended: every span's parent
        # is in the trace, but the request's, whose parent is the caller's.
        whole = [s.parent.span_id for s in orphans(found) if s.parent] == [request_parent]
        done = set(SERVICES) <= services and client_posts and delivered and whole
        return found if done else None

    found = await eventually(complete, timeout=30)
    names = {(service_of(s), s.name) for s in found}
    # The request that brought the lead, each service's processing of its events, and
    # the POST to the rep's tool, in one trace.
    assert any(s.kind == SpanKind.SERVER and "/ingest/v1/leads" in s.name for s in found)
    for service in ("qualifier", "router", "nurture", "audit"):
        assert any(svc == service and name.startswith("process ") for svc, name in names)
    assert ("router", "webhook deliver") in names
    assert any(s.name.startswith("create ") and service_of(s) == "ingest" for s in found)
    # A consumer's `process` spans are for the events it handles, not those it skips: the
    # qualifier reads ingest's topic but handles lead.captured, not lead.received.
    by_id = {s.context.span_id: s for s in found if s.context is not None}

    def event_type_of(span: ReadableSpan) -> str:
        while not span.name.startswith("create ") and span.parent is not None:
            span = by_id[span.parent.span_id]
        return str((span.attributes or {}).get("cloudevents.event_type"))

    qualified = {
        event_type_of(s)
        for s in found
        if s.name.startswith("process ") and service_of(s) == "qualifier"
    }
    assert "leadfarm.lead.captured.v1" in qualified
    assert "leadfarm.lead.received.v1" not in qualified
    # Each event's envelope names the span that created it.
    creates = {f"{s.context.span_id:016x}" for s in found if s.name.startswith("create ")}
    assert {e["traceparent"].split("-")[2] for e in events} <= creates


@pytest.mark.integration
async def test_on_kafka_the_context_crosses_in_the_record_headers(
    pg_database: Any, kafka: str, spans: InMemorySpanExporter
) -> None:
    backend = await ClusterBackend(pg_database.url, kafka).start()
    try:
        lead_id = await backend.post_lead(**SALES_READY)
        await backend.timeline_with(lead_id, "leadfarm.lead.qualified.v1")
        consumer = AIOKafkaConsumer(
            backend.topic("ingest"),
            bootstrap_servers=kafka,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
    finally:
        await backend.stop()
    records = [r for rs in batches.values() for r in rs]
    assert records
    by_id = {s.context.span_id: s for s in spans.get_finished_spans() if s.context is not None}
    for record in records:
        headers = dict(record.headers)
        assert [k for k, _ in record.headers].count("traceparent") == 1
        envelope = Envelope.from_json(record.value)
        header = headers["traceparent"].decode()
        # The header is the context of aiokafka's `send` span, a child of the `create` span
        # the envelope names: one trace, the header one hop further on.
        _, trace_id, span_id, _ = header.split("-")
        assert envelope.traceparent.split("-")[1] == trace_id
        send = by_id[int(span_id, 16)]
        assert send.kind == SpanKind.PRODUCER
        assert send.name.endswith(" send")
        assert send.parent is not None
        assert f"{send.parent.span_id:016x}" == envelope.traceparent.split("-")[2]
        # And the consumers' processing continues from the header.
        processing = [
            s
            for s in by_id.values()
            if s.name.startswith("process ")
            and s.parent is not None
            and s.parent.span_id == int(span_id, 16)
        ]
        assert {service_of(s) for s in processing} >= {"audit"}
