"""No statement on a lead's path scans a table that grows with the leads, on either runtime.

Leadfarm keeps every lead, delivery, event and inbox row for months: a read the database
cannot answer from an index is a scan that costs more with every lead (on SQLite, ingest's
round lookup scanned every delivery, because a row-value IN cannot search a partial index).
This runs leads through Leadfarm, records every statement each service ran, and asks the
database for each one's plan: SQLite's `EXPLAIN QUERY PLAN`, and PostgreSQL's `EXPLAIN`
with sequential scans disabled (so a `Seq Scan` left in a plan means no index can serve it).
A full scan of a table that holds a row per lead (or more) fails it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from contracts.topics import ServiceName
from services.tables import AUTH_SCHEMA
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually

LEADS = 4
_SQLITE_SCAN = re.compile(r"^SCAN (\w+)")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")
Ran = list[tuple[ServiceName, str, Any]]


def _first(parameters: Any, many: bool) -> Any:
    return parameters[0] if many and parameters else parameters


def _reads(ran: Ran) -> Iterable[tuple[ServiceName, str, Any]]:
    for service, statement, parameters in ran:
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
            yield service, statement, parameters


def _short(statement: str) -> str:
    return " ".join(statement.split())[:240]


def _rep_tool() -> Starlette:
    """A rep's tool that takes every webhook."""

    async def hook(_request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


async def _run_leads(backend: Backend, rep_tool: str) -> Ran:
    """Leads through every service, the router's webhooks to a rep's tool included."""
    ran: Ran = []
    listeners: list[tuple[sa.Engine, Callable[..., None]]] = []
    for service, runtime in backend.runtimes.items():
        engine = runtime.units[service].database.engine.sync_engine
        if isinstance(backend, EmbeddedBackend) and listeners:
            break  # one database (and one engine) for every service

        def note(
            _c: Any,
            _cur: Any,
            statement: str,
            parameters: Any,
            _x: Any,
            many: bool,
            service: ServiceName = service,
        ) -> None:
            ran.append((service, statement, _first(parameters, many)))

        listeners.append((engine, note))
    response = await backend.client("router").post(
        "/router/v1/reps",
        json={"id": "ana", "name": "Ana", "email": "ana@example.com"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    subscription = await backend.client("router").post(
        "/router/v1/subscriptions",
        json={"url": f"{rep_tool}/hooks", "events": ["lead.assigned"]},
        headers=ADMIN,
    )
    assert subscription.status_code == 201, subscription.text
    deliveries = f"/router/v1/subscriptions/{subscription.json()['id']}/deliveries"

    async def all_delivered() -> bool:
        response = await backend.client("router").get(deliveries, headers=ADMIN)
        statuses = [d["status"] for d in response.json()]
        return statuses == ["delivered"] * LEADS

    for engine, note in listeners:
        sa.event.listen(engine, "before_cursor_execute", note)
    try:
        leads = [
            await backend.post_lead(
                email=f"lead{i}@acme{i}.example",
                company=f"Acme {i}",
                country="de",
                source="website",
                timeframe_days=30,
                asked_to_be_contacted=True,
            )
            for i in range(LEADS)
        ]
        for lead_id in leads:
            await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
        await eventually(all_delivered)
    finally:
        for engine, note in listeners:
            sa.event.remove(engine, "before_cursor_execute", note)
    assert len(ran) > 50, "the leads' statements were recorded"
    return ran


def _sqlite_scans(backend: EmbeddedBackend, ran: Ran) -> dict[str, set[str]]:
    engine = backend.runtime.units["ingest"].database.engine.sync_engine
    scans: dict[str, set[str]] = {}
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        growing = {
            t for t in tables if raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] >= LEADS
        }
        assert {"ingest_leads", "outbox", "inbox", "router_webhook_deliveries"} <= growing
        for _, statement, parameters in _reads(ran):
            for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()):
                match = _SQLITE_SCAN.match(row[3])
                if match and match.group(1) in growing:
                    scans.setdefault(_short(statement), set()).add(row[3])
    return scans


async def _postgres_scans(backend: ClusterBackend, ran: Ran) -> dict[str, set[str]]:
    assert backend.settings.database_url is not None
    dsn = backend.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    scans: dict[str, set[str]] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET enable_seqscan = off")
        for service in backend.runtimes:
            await conn.execute(f"SET search_path TO {service}, {AUTH_SCHEMA}")
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = $1", service
                )
            ]
            growing = {
                t for t in tables if await conn.fetchval(f'SELECT count(*) FROM "{t}"') >= LEADS
            }
            for owner, statement, parameters in _reads(ran):
                if owner != service:
                    continue
                values = list(parameters.values()) if isinstance(parameters, dict) else parameters
                plan = await conn.fetch(f"EXPLAIN {statement}", *(values or ()))
                for row in plan:
                    match = _PG_SCAN.search(row[0])
                    if match and match.group(1) in growing:
                        scans.setdefault(f"{service}: {_short(statement)}", set()).add(row[0])
    finally:
        await conn.close()
    return scans


async def test_no_statement_on_a_leads_path_scans_a_growing_table(
    backend: Backend, serve_api: Callable[[ASGIApp], str]
) -> None:
    ran = await _run_leads(backend, serve_api(_rep_tool()))
    if isinstance(backend, EmbeddedBackend):
        scans = _sqlite_scans(backend, ran)
    else:
        assert isinstance(backend, ClusterBackend)
        scans = await _postgres_scans(backend, ran)
    assert not scans, scans
