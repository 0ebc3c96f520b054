"""OpenTelemetry tracing: spans from every service, one trace per lead across them.

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`console`, `otlp`...) and
`OTEL_SDK_DISABLED` is not `true`. When off, nothing of the SDK is loaded and no
instrumentation is installed; the hot path only reads `enabled`, a module-level bool.

When on, the standard `OTEL_*` variables configure the SDK (sampler, batch processor,
OTLP endpoint and protocol, resource attributes); `OTEL_SERVICE_NAME` defaults to the
service's name (`leadfarm` for the embedded runtime's process-level spans). FastAPI's own
telemetry traces the requests; each database engine, aiokafka and httpx are instrumented
with the OpenTelemetry instrumentations. Leadfarm's own spans are an event's creation
(`create <topic>`, in the transaction that emits it) and its processing (`process
<group>`, by the consumer runner).

How the context flows:
- `emit` starts a `create` span under the span at hand (the HTTP request, or the
  processing of the event being handled) and writes its W3C context both into the
  envelope (the CloudEvents `traceparent` extension) and as `traceparent`/`tracestate`
  headers of the outbox row, so the embedded log carries them as the Kafka record does.
- the outbox relay sends each record with its context attached; aiokafka's instrumentation
  makes a `send` span under it and puts that span's context in the record's headers.
- the consumer runner starts a `process` span per event it handles, a child of the context
  in the record's headers (the envelope's when a record has none), and, for a batch, a
  batch span linked to each of them that holds the transaction's SQL.
- the router's webhook deliveries keep the context of their event, so the POST to a rep's
  tool is in the lead's trace and carries its `traceparent`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine

    from services.bus.base import Message

enabled = False
"""True once `configure` set tracing up. Read it as `tracing.enabled` (never imported by
name), so a check costs one attribute read when tracing is off."""

TRACE_HEADERS = ("traceparent", "tracestate")
PROCESS_NAME = "leadfarm"
"""The service name of the embedded runtime's process-level spans (HTTP, SQL)."""

_state: dict[str, Any] = {}


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an exporter named and the SDK not off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(_exporter_names(environ))


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def configure(
    service_name: str,
    *,
    processors: Sequence[SpanProcessor] = (),
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Set tracing up for this process if the environment asks for it (or `processors`
    are given: tests pass an in-memory one). Returns whether tracing is on."""
    global enabled
    if enabled or (not processors and not requested(environ)):
        return enabled
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    shared = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
    shared.add_span_processor(_redacting_processor())
    for processor in processors:
        shared.add_span_processor(processor)
    if requested(environ):
        for exporter in _exporters(environ):
            shared.add_span_processor(BatchSpanProcessor(exporter))
    # OTEL_SERVICE_NAME, when set, names every span of the process.
    explicit = environ.get("OTEL_SERVICE_NAME", "").strip() or None
    provider = TracerProvider(
        resource=_resource(explicit or service_name), active_span_processor=shared
    )
    trace.set_tracer_provider(provider)  # for code that asks the API for a tracer
    sql_provider = TracerProvider(
        sampler=ParentBased(ALWAYS_OFF),
        resource=provider.resource,
        active_span_processor=shared,
        shutdown_on_exit=False,
    )
    _state.update(
        provider=provider,
        sql_provider=sql_provider,
        shared=shared,
        explicit=explicit,
        services={},
    )
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    enabled = True
    return True


def instrument_http_client(client: httpx.AsyncClient) -> None:
    """Trace the requests of an outbound client (services/outbound.py) when tracing is on.
    Per client, not httpx's global instrumentation: that wraps httpx's own transport
    only, and outbound clients send through aiohttp's (httpx_aiohttp)."""
    if not enabled:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_state["provider"])


def flush() -> None:
    """Export the spans still waiting in the batch processor."""
    if enabled:
        _state["shared"].force_flush()


def shutdown() -> None:
    """Flush and turn tracing off (tests; the process's exit flushes by itself)."""
    global enabled
    if not enabled:
        return
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor

    AIOKafkaInstrumentor().uninstrument()
    _state["shared"].force_flush()
    enabled = False
    _state.clear()


def _resource(service_name: str) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    return Resource.create({SERVICE_NAME: service_name})


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names, found by the SDK's entry points (the
    OTLP protocol from OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, gRPC by default)."""
    found: list[SpanExporter] = []
    for name in _exporter_names(environ):
        if name == "otlp":
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "grpc"
            ).strip()
            if protocol not in ("grpc", "http/protobuf"):
                raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported")
            name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        points = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not points:
            raise ValueError(f"OTEL_TRACES_EXPORTER: no exporter named {name!r}")
        found.append(next(iter(points)).load()())
    return found


def tracer(service: str) -> Tracer:
    """The tracer of one service's own spans. In the embedded runtime the five services
    share a process, so each has a provider of its own (one shared processor) and its spans
    carry its name as `service.name`."""
    from opentelemetry.sdk.trace import TracerProvider

    services: dict[str, Tracer] = _state["services"]
    found = services.get(service)
    if found is None:
        provider: TracerProvider = _state["provider"]
        if _state["explicit"] is None:
            provider = TracerProvider(
                resource=_resource(service),
                active_span_processor=_state["shared"],
                shutdown_on_exit=False,
            )
        found = services[service] = provider.get_tracer("leadfarm")
    return found


PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry support (`FastAPI(telemetry=...)`): server spans named
    by route, and spans of dependencies, the endpoint and serialisation. Off with tracing
    (so each request skips even its provider checks); never its metrics (Prometheus has
    them) or its log records (they would carry exception messages); no probes."""
    if not enabled:
        return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    return {
        "tracer_provider": _state["provider"],
        "metrics": False,
        "logs": False,
        "auto_configure": False,
        "exclude": lambda scope: scope.get("path") in PROBES,
    }


_URL_ATTRIBUTES = ("url.path", "url.full", "http.target", "http.url")
_QUERY_ATTRIBUTE = "url.query"


def _masked_query(query: str) -> str:
    """A query string with every value masked: values carry secrets (a provider's
    `?token=`, Meta's `hub.verify_token`, `appsecret_proof`) as often as email addresses."""
    from urllib.parse import parse_qsl

    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{key}=REDACTED" for key, _ in pairs)


def _masked_url(url: str) -> str:
    from services.logs import redact

    base, mark, query = url.partition("?")
    return redact(base) + (mark + _masked_query(query) if mark else "")


def _redacting_processor() -> SpanProcessor:
    """A span processor that masks the URL attributes of every span as it starts: email
    addresses, phone numbers and tokens in the path (a lead looked up by email), as the
    logs do, and every value of the query string."""
    from opentelemetry.sdk.trace import SpanProcessor

    class RedactUrls(SpanProcessor):
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            attributes = getattr(span, "attributes", None) or {}
            for key in _URL_ATTRIBUTES:
                value = attributes.get(key)
                if isinstance(value, str):
                    masked = _masked_url(value)
                    if masked != value:
                        span.set_attribute(key, masked)
            query = attributes.get(_QUERY_ATTRIBUTE)
            if isinstance(query, str) and query:
                span.set_attribute(_QUERY_ATTRIBUTE, _masked_query(query))

    return RedactUrls()


def instrument_engine(engine: AsyncEngine) -> None:
    if not enabled:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    # The instrumentor instruments once per process; engines come and go with runtimes
    # (tests run several), so each gets its own EngineTracer, as `instrument(engine=)` does.
    # Its provider traces a statement only inside traced work: the pollers' statements
    # (relay, timers, workers finding nothing to do) would each be a trace of one span.
    provider: TracerProvider = _state["sql_provider"]
    connections = get_meter(SQLAlchemyInstrumentor.__module__).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(  # type: ignore[no-untyped-call]
        provider.get_tracer(SQLAlchemyInstrumentor.__module__), engine.sync_engine, connections
    )


def traceparent_of(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def context_of(headers: Mapping[str, str]) -> Context:
    """The context a W3C `traceparent` (and `tracestate`) names; empty when invalid."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(headers)


def _headers_of(span: Span) -> dict[str, str]:
    headers = {"traceparent": traceparent_of(span)}
    state = span.get_span_context().trace_state
    if state:
        headers["tracestate"] = state.to_header()
    return headers


class CreatedEvent:
    """The `create` span of one event being emitted, and the context it hands on."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.headers = _headers_of(span)
        self.traceparent = self.headers["traceparent"]

    def describe(self, event_id: str, subject: str) -> None:
        self.span.set_attribute("messaging.message.id", event_id)
        self.span.set_attribute("cloudevents.event_id", event_id)
        self.span.set_attribute("cloudevents.event_subject", subject)


@contextlib.contextmanager
def creating_event(
    service: str, topic: str, event_type: str, parent: str | None
) -> Iterator[CreatedEvent]:
    """A `create` span for an event said now. Its parent is the span at hand (the request,
    or an event's processing) unless `parent` (the context the caller says the event
    continues) is of another trace: in a batch the span at hand is the batch's, and each
    event continues the processing span of the event that caused it."""
    from opentelemetry import trace

    context = None
    current = trace.get_current_span().get_span_context()
    if parent:
        given = trace.get_current_span(context_of({"traceparent": parent})).get_span_context()
        if given.is_valid and (not current.is_valid or given.trace_id != current.trace_id):
            context = context_of({"traceparent": parent})
    with tracer(service).start_as_current_span(
        f"create {topic}",
        context=context,
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "create",
            "messaging.destination.name": topic,
            "cloudevents.event_type": event_type,
        },
    ) as span:
        yield CreatedEvent(span)


class Consuming:
    """The spans of one fetch's processing: a `process` span per event handled (not for
    the ones the consumer skips), a child of its producer's context; for a batch, a batch
    span linked to each (the current span while the batch's transaction runs); for one
    message, its own span is the current one."""

    def __init__(
        self,
        service: str,
        group: str,
        messages: Sequence[Message],
        producer: Callable[[Message], str | None],
    ) -> None:
        self.service = service
        self.group = group
        self.batch_size = len(messages)
        self.producer = producer
        self.spans: list[Span] = []
        self._batch: Span | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Consuming:
        if self.batch_size > 1:
            from opentelemetry import trace

            self._batch = self._stack.enter_context(
                tracer(self.service).start_as_current_span(
                    f"process {self.group} batch",
                    kind=trace.SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.operation.type": "process",
                        "messaging.consumer.group.name": self.group,
                        "messaging.batch.message_count": self.batch_size,
                    },
                )
            )
        return self

    def traceparent(self, message: Message) -> str:
        """Start the `process` span of an event handled from `message`; returns its
        context, which the events said while handling it continue."""
        from opentelemetry import trace

        headers = {k: v for k, v in message.headers.items() if k in TRACE_HEADERS}
        if "traceparent" not in headers:
            headers = {"traceparent": self.producer(message) or ""}
        span = tracer(self.service).start_span(
            f"process {self.group}",
            context=context_of(headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.consumer.group.name": self.group,
                "messaging.destination.name": message.topic,
                "messaging.destination.partition.id": str(message.partition),
                "messaging.kafka.offset": message.offset,
                "messaging.batch.message_count": self.batch_size,
            },
        )
        self.spans.append(span)
        if self._batch is not None:
            self._batch.add_link(span.get_span_context())
        else:
            self._stack.enter_context(trace.use_span(span))
        return traceparent_of(span)

    def rolled_back(self) -> None:
        from opentelemetry import trace

        if self._batch is not None:
            self._batch.set_status(
                trace.StatusCode.ERROR, "batch rolled back; handled one event at a time"
            )

    def __exit__(self, *exc: object) -> None:
        try:
            self._stack.__exit__(*exc)  # type: ignore[arg-type]
        finally:
            for span in self.spans:
                span.end()


@contextlib.contextmanager
def continued(headers: Mapping[str, str], drop: Sequence[str] = ()) -> Iterator[dict[str, str]]:
    """Run the block in the trace context `headers` carry (a record's, a delivery's); yields
    the headers without those named in `drop`."""
    from opentelemetry import context

    token = context.attach(context_of(headers))
    try:
        yield {k: v for k, v in headers.items() if k not in drop}
    finally:
        context.detach(token)


@contextlib.contextmanager
def span(service: str, name: str, parent: str | None, **attributes: str) -> Iterator[None]:
    """A span of `service`'s own work, under the context `parent` names (a root when
    none)."""
    context = context_of({"traceparent": parent}) if parent else None
    with tracer(service).start_as_current_span(name, context=context, attributes=attributes):
        yield


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids (hex), for the logs; None when there is no span."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
