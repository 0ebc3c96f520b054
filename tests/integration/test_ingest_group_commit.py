"""ingest's write path at the HTTP edge, on both runtimes: concurrent requests share
group-commit rounds and each is answered only once its data is readable; one refused
request never takes the others with it; a source changed through the API takes effect for
the very next webhook on every replica, with no source read per webhook; and the fetch
worker is woken by the commit that stores a delivery to fetch."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select
from starlette.types import ASGIApp

from ingest.fetcher import FetchWorker
from ingest.models import deliveries
from services.app import create_app
from services.db import Database, statement_owner
from services.runtime import cluster_runtime
from tests.backends import ADMIN, Backend, ClusterBackend, eventually
from tests.integration.test_fetch_flow import graph_api, webhook
from tests.unit.ingest.providers.test_webflow import submission
from tests.unit.ingest.test_webhook_hardening import WF_SECRET, webflow_headers

TOKEN = {"Authorization": "Bearer tok"}


async def zapier_source(http: httpx.AsyncClient, name: str, token: str = "tok") -> None:  # noqa: S107
    created = await http.put(
        f"/ingest/v1/sources/{name}",
        json={"provider": "zapier", "secrets": {"token": token}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text


def ingest_database(backend: Backend) -> Database:
    return backend.runtimes["ingest"].database


@contextmanager
def statements_of_ingest(database: Database) -> Iterator[list[str]]:
    """Record the SQL statements run for ingest."""
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement_owner.get() == "ingest":
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", on_statement)


@contextmanager
def transactions_storing_deliveries(database: Database) -> Iterator[set[tuple[int, int]]]:
    """Record each transaction that inserted a delivery (connection, its nth transaction)."""
    begun: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()

    def on_begin(conn: Any) -> None:
        begun[id(conn)] = begun.get(id(conn), 0) + 1

    def on_statement(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # alone, or with the round's other inserts in one statement (services/pgwrite.py)
        if "INSERT INTO INGEST_DELIVERIES" in statement.upper():
            seen.add((id(conn), begun.get(id(conn), 0)))

    engine = database.engine.sync_engine
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_statement)


async def stored(backend: Backend, source: str, external_id: str) -> bool:
    async with backend.runtimes["ingest"].units["ingest"].read() as conn:
        found = await conn.scalar(
            select(deliveries.c.id).where(
                deliveries.c.source == source, deliveries.c.external_id == external_id
            )
        )
    return found is not None


def rounds(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "leadfarm_group_commit_rounds_total", {"service": "ingest", "outcome": outcome}
        )
        or 0.0
    )


async def test_concurrent_webhooks_share_commits_and_are_answered_once_stored(
    backend: Backend,
) -> None:
    http = backend.client("ingest")
    await zapier_source(http, "gc")
    tag = uuid.uuid4().hex[:8]
    count = 24

    async def post(i: int) -> None:
        external_id = f"gc-{tag}-{i}"
        response = await http.post(
            "/ingest/v1/webhooks/gc",
            json={"id": external_id, "Email": f"gc-{tag}-{i}@acme.example"},
            headers=TOKEN,
        )
        assert response.status_code == 200, response.text
        # The 2xx means stored: readable by anyone the moment it is answered.
        assert await stored(backend, "gc", external_id), external_id

    with transactions_storing_deliveries(ingest_database(backend)) as transactions:
        await asyncio.gather(*(post(i) for i in range(count)))
    assert 0 < len(transactions) < count // 2, f"{len(transactions)} transactions for {count}"


async def test_one_unusable_lead_among_concurrent_ones_is_refused_alone(
    backend: Backend,
) -> None:
    http = backend.client("ingest")
    await zapier_source(http, "gc-bad")
    tag = uuid.uuid4().hex[:8]
    bad = 5

    async def post(i: int) -> httpx.Response:
        fields = {"Company": "Acme"} if i == bad else {"Email": f"ok-{tag}-{i}@acme.example"}
        return await http.post(
            "/ingest/v1/webhooks/gc-bad", json={"id": f"{tag}-{i}", **fields}, headers=TOKEN
        )

    answers = await asyncio.gather(*(post(i) for i in range(12)))
    refused = answers[bad]
    assert refused.status_code == 422, refused.text
    assert {e["field"] for e in refused.json()["errors"]} >= {"email", "phone"}
    for i, answer in enumerate(answers):
        if i != bad:
            assert answer.status_code == 200, answer.text
            assert await stored(backend, "gc-bad", f"{tag}-{i}")
    assert not await stored(backend, "gc-bad", f"{tag}-{bad}")


async def test_a_copy_refused_inside_a_shared_round_splits_it_and_takes_nobody_with_it(
    backend: Backend,
) -> None:
    """Two copies of one signed webhook in one round: the round sees the first's replay
    record, so the copy is refused (409) inside the round; the round is split and the
    others are stored all the same."""
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/wf-split",
        json={"provider": "webflow", "secrets": {"secret": WF_SECRET}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    tag = uuid.uuid4().hex[:8]
    stamp = int(time.time() * 1000)
    bodies = [
        orjson.dumps(submission(f"split-{tag}-{i}", email=f"split-{tag}-{i}@acme.example"))
        for i in range(8)
    ]
    split_before = rounds("split")

    async def post(i: int) -> httpx.Response:
        body = bodies[min(i, 7)]  # the ninth is a copy of the eighth, signature and all
        return await http.post(
            "/ingest/v1/webhooks/wf-split",
            content=body,
            headers=webflow_headers(body, stamp + min(i, 7)),
        )

    answers = await asyncio.gather(*(post(i) for i in range(9)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 8 + [409], [a.text for a in answers]
    for i in range(8):
        assert await stored(backend, "wf-split", f"split-{tag}-{i}")
    assert rounds("split") > split_before


@asynccontextmanager
async def another_replica(
    backend: Backend,
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """A second ingest process on the same database (cluster); embedded has one process."""
    if not isinstance(backend, ClusterBackend):
        yield backend.client("ingest"), ingest_database(backend)
        return
    replica = cluster_runtime(backend.settings, "ingest")
    await replica.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(replica)), base_url="http://lf"
    )
    try:
        yield client, replica.database
    finally:
        await client.aclose()
        await replica.stop()


async def test_a_rotated_secret_takes_effect_for_the_very_next_webhook_on_every_replica(
    backend: Backend,
) -> None:
    changes = backend.client("ingest")
    await zapier_source(changes, "rot", token="old-token")
    tag = uuid.uuid4().hex[:8]

    def lead(i: int) -> dict[str, str]:
        return {"id": f"{tag}-{i}", "Email": f"rot-{tag}-{i}@acme.example"}

    async with another_replica(backend) as (replica, replica_database):
        old = {"Authorization": "Bearer old-token"}
        new = {"Authorization": "Bearer new-token"}
        first = await replica.post("/ingest/v1/webhooks/rot", json=lead(0), headers=old)
        assert first.status_code == 200, first.text  # the replica holds the source now
        with statements_of_ingest(replica_database) as statements:
            for i in range(1, 4):
                again = await replica.post("/ingest/v1/webhooks/rot", json=lead(i), headers=old)
                assert again.status_code == 200, again.text
        assert not [s for s in statements if "ingest_sources" in s], statements

        rotated = await changes.post(
            "/ingest/v1/sources/rot/secret:rotate",
            json={"secret": "token", "value": "new-token", "overlap_s": 0},
            headers=ADMIN,
        )
        assert rotated.status_code == 200, rotated.text
        # The replica's copy still says old-token: the round that would store this sees
        # the version moved, and the webhook is verified again against the new secret.
        refused = await replica.post("/ingest/v1/webhooks/rot", json=lead(4), headers=old)
        assert refused.status_code == 401, refused.text
        assert not await stored(backend, "rot", f"{tag}-4")
        accepted = await replica.post("/ingest/v1/webhooks/rot", json=lead(5), headers=new)
        assert accepted.status_code == 200, accepted.text

        await zapier_source(changes, "rot-2", token="two")
        created = await replica.post(
            "/ingest/v1/webhooks/rot-2", json=lead(6), headers={"Authorization": "Bearer two"}
        )
        assert created.status_code == 200, created.text
        rotated = await changes.post(
            "/ingest/v1/sources/rot-2/secret:rotate",
            json={"secret": "token", "value": "three", "overlap_s": 0},
            headers=ADMIN,
        )
        assert rotated.status_code == 200, rotated.text
        # The replica's copy refuses the new secret: it asks for the source as of now.
        accepted = await replica.post(
            "/ingest/v1/webhooks/rot-2", json=lead(7), headers={"Authorization": "Bearer three"}
        )
        assert accepted.status_code == 200, accepted.text


@pytest.fixture
def slow_fetch_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_POLL_INTERVAL_S", "30")


@pytest.mark.usefixtures("slow_fetch_poll")
async def test_the_fetch_worker_is_woken_by_the_commit_that_stores_a_pending_delivery(
    backend: Backend, serve_api: Callable[[ASGIApp], str]
) -> None:
    worker = next(
        w for w in backend.runtimes["ingest"].specs[0].workers if isinstance(w, FetchWorker)
    )
    assert worker.settings.fetch_poll_interval_s == 30
    base = serve_api(graph_api({"lg-9": [{"name": "email", "values": ["wake@acme.example"]}]}, []))
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/fb-wake",
        headers=ADMIN,
        json={
            "provider": "meta",
            "api_base_url": base,
            "secrets": {"app_secret": "meta-app-secret", "verify_token": "v", "access_token": "t"},
        },
    )
    assert created.status_code == 201, created.text
    await asyncio.sleep(0.5)  # the worker's first (empty) round is over: it waits now
    body, headers = webhook("lg-9")
    started = time.monotonic()
    response = await http.post("/ingest/v1/webhooks/fb-wake", content=body, headers=headers)
    assert response.status_code == 200, response.text

    async def fetched() -> bool:
        listed = (await http.get("/ingest/v1/deliveries", headers=ADMIN)).json()
        return any(d["external_id"] == "lg-9" and d["status"] == "accepted" for d in listed)

    await eventually(fetched, timeout=5)
    assert time.monotonic() - started < 5


async def test_a_round_of_signed_webhooks_costs_the_same_statements_whatever_its_size(
    backend: Backend,
) -> None:
    """A round reads what its works touch with one statement and writes each table with one
    multi-row statement: no statement per webhook, no SAVEPOINT, no purge once the minute's
    purge is done (ingest/roundstore.py)."""
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/wf-cost",
        json={"provider": "webflow", "secrets": {"secret": WF_SECRET}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    stamp = int(time.time() * 1000)
    tag = uuid.uuid4().hex[:8]
    warm = orjson.dumps(submission(f"warm-{tag}", email=f"warm-{tag}@acme.example"))
    first = await http.post(
        "/ingest/v1/webhooks/wf-cost", content=warm, headers=webflow_headers(warm, stamp)
    )
    assert first.status_code == 200, first.text  # the purge of the minute is done

    count = 24
    bodies = [
        orjson.dumps(submission(f"cost-{tag}-{i}", email=f"cost-{tag}-{i}@acme.example"))
        for i in range(count)
    ]
    committed_before = rounds("committed")
    with statements_of_ingest(ingest_database(backend)) as statements:
        answers = await asyncio.gather(
            *(
                http.post(
                    "/ingest/v1/webhooks/wf-cost",
                    content=body,
                    headers=webflow_headers(body, stamp + 1 + i),
                )
                for i, body in enumerate(bodies)
            )
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    round_count = int(rounds("committed") - committed_before)
    assert 0 < round_count < count // 2
    upper = [s.lstrip().upper() for s in statements]
    assert not [s for s in upper if s.startswith(("SAVEPOINT", "DELETE"))], statements
    for table in ("INGEST_DELIVERIES", "INGEST_LEADS", "INGEST_WEBHOOK_REPLAYS", "OUTBOX"):
        inserts = [s for s in upper if f"INSERT INTO {table} " in s]
        assert len(inserts) == round_count, (table, inserts)
    writes = [s for s in upper if s.startswith(("INSERT", "WITH W0 AS"))]
    if backend.name == "cluster":  # on PostgreSQL inserts of several tables go together
        assert len(writes) < 4 * round_count, writes
    # One read per round for every table the works touch (other SELECT statements here are
    # the relay's and the fetch worker's, which run beside the rounds).
    reads = [s for s in upper if "INGEST_LEADS" in s and s.startswith("SELECT")]
    assert len(reads) == round_count, (reads, upper)
    for table in ("INGEST_LEADS", "INGEST_DELIVERIES", "INGEST_WEBHOOK_REPLAYS"):
        assert all(f"FROM {table}" in s for s in reads), (table, reads)
    # On PostgreSQL the reference versions come with the round's locks, not on their own.
    assert not [s for s in upper if s.startswith("SELECT REFERENCE_VERSIONS")], upper
    updates = [s for s in upper if s.startswith("UPDATE INGEST_")]
    assert not updates, updates

    body = bodies[0]
    copy = await http.post(
        "/ingest/v1/webhooks/wf-cost", content=body, headers=webflow_headers(body, stamp + 99)
    )
    assert copy.status_code == 200, copy.text  # signed anew: a repeat, answered as stored
