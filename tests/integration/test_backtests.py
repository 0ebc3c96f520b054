"""Backtests on both runtimes: a candidate replayed over the archived leads of a window
shows where they would have gone (router) and how they would have been decided
(qualifier), beside the live configuration, with the same numbers on both runtimes and no
side effect on live state. In the cluster the router and the qualifier read audit's export
over real HTTP (`LEADFARM_AUDIT_URL`); embedded, in process through the one app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from sqlalchemy import func, select

from contracts.topics import ServiceName
from qualifier import models as qualifier_models
from qualifier.definitions import DEFAULT_FILE
from router import models as router_models
from services import backtests
from services.app import create_app
from services.backtests import STOPPED, BacktestJobs, Window
from services.clock import ManualClock
from services.tables import outbox, timers
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually
from tests.e2e.processes import free_port
from tests.integration.test_router_flow import ASSIGNED, add_rep, person

QUALIFIED = "leadfarm.lead.qualified.v1"
DEFERRED = "leadfarm.lead.deferred.v1"
QUEUED = "leadfarm.lead.queued.v1"


@contextlib.asynccontextmanager
async def served(app: Any, port: int) -> AsyncIterator[None]:
    """Serve `app` on a real port in this event loop (its runtime is already started)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, result=server.started), timeout=10)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running(
    kind: str, request: pytest.FixtureRequest, data_dir: Path, clock: ManualClock
) -> AsyncIterator[Backend]:
    """The embedded runtime, or the cluster with audit's app on a real port for the others."""
    if kind == "embedded":
        backend: Backend = await EmbeddedBackend(
            data_dir, clock=clock, timer_poll_interval_s=3600
        ).start()
        try:
            yield backend
        finally:
            await backend.stop()
        return
    database = request.getfixturevalue("pg_database")
    kafka = request.getfixturevalue("kafka")
    port = free_port()
    cluster = await ClusterBackend(
        database.url,
        kafka,
        clock=clock,
        timer_poll_interval_s=3600,
        audit_url=f"http://127.0.0.1:{port}",
    ).start()
    try:
        async with served(create_app(cluster.runtimes["audit"]), port):
            yield cluster
    finally:
        await cluster.stop()


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def backtested(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    clock = ManualClock()
    async with running(request.param, request, tmp_path, clock) as backend:
        yield backend, clock


async def finished(backend: Backend, service: ServiceName, job: dict[str, Any]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await backend.client(service).get(
            f"/{service}/v1/backtests/{job['id']}", headers=ADMIN
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] != "running" else None

    return await eventually(probe, timeout=30)


async def outbox_rows(backend: Backend, service: ServiceName) -> int:
    """`service`'s outbox rows, counted once its relay has nothing left to publish: in the
    cluster the relay deletes a row after the broker's ack, which can come after audit has
    archived the event, so a count taken between the two moves with nothing said."""
    unit = backend.runtimes[service].units[service]
    own = outbox.c.service == service
    unpublished = select(func.count()).where(own, outbox.c.published_at.is_(None))

    async def drained() -> bool:
        async with unit.read() as conn:
            return (await conn.execute(unpublished)).scalar_one() == 0

    await eventually(drained)
    async with unit.read() as conn:
        return int((await conn.execute(select(func.count()).where(own))).scalar_one())


async def live_routing_state(backend: Backend) -> dict[str, Any]:
    """What a backtest must not change: the router's events, assignments, leads, cursors,
    weighted counters and timers."""
    async with backend.runtimes["router"].units["router"].read() as conn:
        counts = {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (router_models.assignments, router_models.leads, router_models.pool_reps)
        }
        query = select(func.count()).where(timers.c.service == "router")
        counts[timers.name] = (await conn.execute(query)).scalar_one()
        cursors = (await conn.execute(select(router_models.cursors))).all()
        states = (await conn.execute(select(router_models.pool_reps))).all()
    counts[outbox.name] = await outbox_rows(backend, "router")
    return {"counts": counts, "cursors": sorted(map(tuple, cursors)), "states": states}


async def routed_events(backend: Backend, leads: list[str]) -> list[str]:
    """The ids of the events the router said about `leads`, from audit's archive: on the
    cluster the router's outbox keeps nothing once published, so this is where a said event
    shows."""
    timelines = [await backend.timeline(lead_id) for lead_id in leads]
    return sorted(e["id"] for events in timelines for e in events if e["source"].endswith("router"))


def by_key(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {r["key"]: (r["current"], r["candidate"]) for r in rows}


async def three_leads_to_ana(
    backend: Backend, clock: ManualClock
) -> tuple[list[str], dict[str, Any]]:
    """Three German leads routed live to ana (pool de); returns them and the candidate that
    sends them to pool team-b (bo, cy) instead."""
    router = backend.client("router")
    for rep in ("ana", "bo", "cy"):
        await add_rep(backend, rep)
    for pool, members in (("de", ["ana"]), ("team-b", ["bo", "cy"])):
        response = await router.put(
            f"/router/v1/pools/{pool}",
            json={"members": members, "strategy": "round_robin"},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
    rule = {"conditions": {"countries": ["DE"]}, "pool": "de"}
    response = await router.put("/router/v1/rules/germany", json=rule, headers=ADMIN)
    assert response.status_code == 201, response.text

    since = clock.now()
    leads = []
    for n in range(3):
        lead_id = await backend.post_lead(**person(n))
        events = await backend.timeline_with(lead_id, ASSIGNED)
        assert next(e for e in events if e["type"] == ASSIGNED)["data"]["rep_id"] == "ana"
        leads.append(lead_id)
        clock.advance(timedelta(minutes=10))

    candidate = {
        "since": since.isoformat(),
        "until": clock.now().isoformat(),
        "rules": {"germany": {**rule, "pool": "team-b"}},
    }
    return leads, candidate


async def backtest(backend: Backend, candidate: dict[str, Any]) -> dict[str, Any]:
    """Run a router backtest; returns the finished job."""
    response = await backend.client("router").post(
        "/router/v1/backtests", json=candidate, headers=ADMIN
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/router/v1/backtests/{job['id']}"
    assert job["status"] == "running"
    return await finished(backend, "router", job)


async def test_a_candidate_that_moves_leads_to_another_pool_shows_them_moved(
    backtested: tuple[Backend, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, clock = backtested
    monkeypatch.setattr(backtests, "PAGE_SIZE", 2)  # the three leads come in two pages
    router = backend.client("router")
    leads, candidate = await three_leads_to_ana(backend, clock)
    before = await live_routing_state(backend)
    said = await routed_events(backend, leads)
    assert said, "the live routing is in audit's archive"
    done = job = await backtest(backend, candidate)
    assert done["status"] == "done", done
    assert done["progress"] == {"processed": 3, "total": 3}
    assert done["requested_by"] == "env-admin"  # the id of the key that asked
    result = done["result"]

    assert (result["leads"], result["changed"]) == (3, 3)
    assert by_key(result["pools"]) == {"de": (3, 0), "team-b": (0, 3)}
    assert by_key(result["rules"]) == {"germany": (3, 3)}
    reps = {
        r["rep_id"]: (r["current"]["assigned"], r["candidate"]["assigned"]) for r in result["reps"]
    }
    # Round robin from a fresh cursor on both sides: bo, cy, bo.
    assert reps == {"ana": (3, 0), "bo": (0, 2), "cy": (0, 1)}
    assert [c["lead_id"] for c in result["changes"]] == leads
    first = result["changes"][0]
    assert first["changed"] == ["pool", "rep"]
    assert (first["current"]["pool"], first["current"]["rep_id"]) == ("de", "ana")
    assert (first["candidate"]["pool"], first["candidate"]["rep_id"]) == ("team-b", "bo")
    assert first["current"]["explanation"]["rule"]["id"] == "germany"
    assert first["candidate"]["explanation"]["pool"] == "team-b"
    assert first["candidate"]["explanation"]["trigger"] == "backtest"
    assert result["first_touch"]["candidate"]["deadlines"] == 3
    assert all(d["candidate"] is not None for d in result["deadlines"])

    # Nothing live moved: no event, assignment, lead, cursor, counter or timer.
    assert await live_routing_state(backend) == before
    # The candidate is not live: the next lead still follows the current rule.
    lead_id = await backend.post_lead(**person(9))
    events = await backend.timeline_with(lead_id, ASSIGNED)
    assert next(e for e in events if e["type"] == ASSIGNED)["data"]["rep_id"] == "ana"
    # By now audit has archived what the router said before that lead: nothing about the three.
    assert await routed_events(backend, leads) == said

    listed = await router.get("/router/v1/backtests", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [(j["id"], j["status"]) for j in listed.json()] == [(job["id"], "done")]
    deleted = await router.delete(f"/router/v1/backtests/{job['id']}", headers=ADMIN)
    assert deleted.status_code == 204, deleted.text
    assert (await router.get("/router/v1/backtests", headers=ADMIN)).json() == []


@pytest.mark.integration
async def test_both_runtimes_answer_the_same_numbers_for_the_same_archived_leads(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    answers = []
    for kind in ("embedded", "cluster"):
        clock = ManualClock()
        async with running(kind, request, tmp_path / kind, clock) as backend:
            leads, candidate = await three_leads_to_ana(backend, clock)
            done = await backtest(backend, candidate)
        text = orjson.dumps(done["result"]).decode()
        for n, lead_id in enumerate(leads):  # lead ids are random: name them by their order
            text = text.replace(lead_id, f"lead-{n}")
        answers.append(orjson.loads(text))
    embedded, cluster = answers
    assert embedded["changed"] == 3
    assert embedded == cluster


async def live_qualifier_state(backend: Backend) -> dict[str, Any]:
    """What a qualifier backtest must not change: its decisions, stored profiles,
    definitions and events."""
    async with backend.runtimes["qualifier"].units["qualifier"].read() as conn:
        rows = {
            table.name: sorted(map(repr, (await conn.execute(select(table))).all()))
            for table in (
                qualifier_models.decisions,
                qualifier_models.leads,
                qualifier_models.definitions,
            )
        }
    rows["outbox"] = [str(await outbox_rows(backend, "qualifier"))]
    return rows


async def test_a_candidate_definitions_version_that_changes_stages(
    backtested: tuple[Backend, ManualClock],
) -> None:
    backend, clock = backtested
    qualifier = backend.client("qualifier")
    since = clock.now()
    ids = []
    for n in range(2):
        lead_id = await backend.post_lead(**person(n))
        await backend.timeline_with(lead_id, QUALIFIED, QUEUED)  # no reps: the flow ends
        ids.append(lead_id)
        clock.advance(timedelta(minutes=1))
    before = await live_qualifier_state(backend)
    shipped = DEFAULT_FILE.read_text()
    stricter = shipped.replace('version: "2026.03-default-1"', 'version: "stricter-1"').replace(
        "    min_score: 0", "    min_score: 99"
    )
    assert stricter != shipped
    body = {"since": since.isoformat(), "until": clock.now().isoformat(), "yaml": stricter}
    response = await qualifier.post("/qualifier/v1/backtests", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    done = await finished(backend, "qualifier", response.json())
    assert done["status"] == "done", done
    result = done["result"]

    versions = result["definition_versions"]
    assert versions == {"current": "2026.03-default-1", "candidate": "stricter-1"}
    assert (result["leads"], result["changed"]) == (2, 2)
    assert by_key(result["stages"]) == {"basic_qualified": (0, 2), "sales_qualified": (2, 0)}
    assert by_key(result["outcomes"]) == {"deferred": (0, 2), "qualified": (2, 0)}
    change = result["changes"][0]
    assert change["lead_id"] == ids[0]
    assert change["changed"][:2] == ["outcome", "stage"]
    assert change["current"]["reasons"]
    assert change["candidate"]["reasons"]
    # Nothing live changed: decisions, profiles, definitions, events.
    assert await live_qualifier_state(backend) == before
    # The active version is unchanged and nothing was said about the leads.
    active = await qualifier.get("/qualifier/v1/definitions", headers=ADMIN)
    assert active.json()["version"] == "2026.03-default-1"
    for lead_id in ids:
        assert DEFERRED not in {e["type"] for e in await backend.timeline(lead_id)}


async def test_bad_input_is_a_problem_naming_the_field(
    backtested: tuple[Backend, ManualClock],
) -> None:
    backend, clock = backtested
    now = clock.now()
    window = {"since": now.isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    router, qualifier = backend.client("router"), backend.client("qualifier")

    async def problem(client: Any, path: str, body: dict[str, Any]) -> list[str]:
        response = await client.post(path, json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return [e["field"] for e in response.json()["errors"]]

    backwards = {"since": window["until"], "until": window["since"]}
    assert await problem(router, "/router/v1/backtests", backwards) == ["until"]
    assert await problem(router, "/router/v1/backtests", {"until": window["until"]}) == ["since"]
    unknown_pool = {**window, "rules": {"r1": {"pool": "nowhere"}}}
    assert await problem(router, "/router/v1/backtests", unknown_pool) == ["rules.r1.pool"]
    bad_member = {**window, "pools": {"p1": {"members": ["nobody"]}}}
    assert await problem(router, "/router/v1/backtests", bad_member) == ["pools.p1.members"]
    germany = {"pool": "everyone", "conditions": {"countries": ["Germany"]}}
    bad_condition = {**window, "rules": {"r1": germany}}
    assert await problem(router, "/router/v1/backtests", bad_condition) == [
        "rules.r1.conditions.countries"
    ]
    bad_yaml = DEFAULT_FILE.read_text().replace("    min_score: 0", "    min_score: lots")
    fields = await problem(qualifier, "/qualifier/v1/backtests", {**window, "yaml": bad_yaml})
    assert fields == ["stages.sales_qualified.min_score"]
    assert await problem(qualifier, "/qualifier/v1/backtests", {**window}) == ["yaml"]
    services: tuple[ServiceName, ...] = ("router", "qualifier")
    for service in services:
        listed = await backend.client(service).get(f"/{service}/v1/backtests", headers=ADMIN)
        assert listed.json() == []  # nothing refused became a job
        missing = await backend.client(service).get(
            f"/{service}/v1/backtests/no-such-job", headers=ADMIN
        )
        assert missing.status_code == 404


async def test_a_job_whose_process_died_is_marked_failed_on_restart(
    backtested: tuple[Backend, ManualClock],
) -> None:
    backend, clock = backtested
    jobs = next(
        w
        for spec in backend.runtimes["router"].specs
        if spec.name == "router"
        for w in spec.workers
        if isinstance(w, BacktestJobs)
    )
    now = clock.now()
    job = await jobs.create(Window(since=now - timedelta(days=1), until=now), {}, "someone")
    assert (await jobs.get(job.id)).status == "running"  # type: ignore[union-attr]
    clock.advance(timedelta(minutes=5))  # no heartbeat since: its process is gone
    await jobs.on_start()
    got = await backend.client("router").get(f"/router/v1/backtests/{job.id}", headers=ADMIN)
    assert got.json()["status"] == "failed"
    assert got.json()["error"] == STOPPED


async def test_audits_export_pages_through_a_window_in_time_order(
    backtested: tuple[Backend, ManualClock],
) -> None:
    backend, clock = backtested
    audit = backend.client("audit")
    since = clock.now()
    ids = []
    for n in range(3):
        lead_id = await backend.post_lead(**person(n))
        await backend.timeline_with(lead_id, QUALIFIED)
        ids.append(lead_id)
        clock.advance(timedelta(minutes=1))
    window = {"since": since.isoformat(), "until": clock.now().isoformat()}
    seen: list[str] = []
    totals: list[int | None] = []
    params: dict[str, Any] = {"type": [QUALIFIED, DEFERRED], **window, "limit": 1}
    while True:
        page = await audit.get("/audit/v1/archive/events", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [e["subject"] for e in body["events"]]
        totals.append(body["total"])
        if body["next"] is None:
            break
        params["after"] = body["next"]
    assert seen == ids
    assert totals == [3, None, None, None]  # the last page is empty: three were full

    async def refused(**query: Any) -> list[str]:
        response = await audit.get(
            "/audit/v1/archive/events", params={**params, **query}, headers=ADMIN
        )
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    assert await refused(after="not-a-cursor") == ["after"]
    assert await refused(type="lead.qualified") == ["type"]
    assert await refused(since=window["until"], until=window["since"]) == ["until"]
    unauthenticated = await audit.get("/audit/v1/archive/events", params=params)
    assert unauthenticated.status_code == 401

    # An erased person is left out of the export (audit redacts its archive at once).
    erased = await audit.post("/audit/v1/erasures", json={"lead_id": ids[1]}, headers=ADMIN)
    assert erased.status_code == 201, erased.text
    whole = await audit.get(
        "/audit/v1/archive/events", params={"type": QUALIFIED, **window}, headers=ADMIN
    )
    assert [e["subject"] for e in whole.json()["events"]] == [ids[0], ids[2]]
    assert whole.json()["total"] == 2


async def test_a_backtest_that_cannot_read_the_archive_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    backend = await EmbeddedBackend(tmp_path, clock=clock, audit_url=closed).start()
    try:
        now = clock.now()
        window = {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat()}
        response = await backend.client("router").post(
            "/router/v1/backtests", json=window, headers=ADMIN
        )
        assert response.status_code == 202, response.text
        done = await finished(backend, "router", response.json())
        assert done["status"] == "failed"
        assert done["error"] == "audit's archive did not answer (ConnectError)"
        assert done["result"] is None
    finally:
        await backend.stop()


async def test_a_job_running_when_its_process_stops_is_marked_failed(tmp_path: Path) -> None:
    clock = ManualClock()
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        audit_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = await EmbeddedBackend(tmp_path, clock=clock, audit_url=audit_url).start()
        now = clock.now()
        window = {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat()}
        response = await backend.client("qualifier").post(
            "/qualifier/v1/backtests",
            json={**window, "yaml": DEFAULT_FILE.read_text()},
            headers=ADMIN,
        )
        assert response.status_code == 202, response.text
        await backend.stop()  # SIGTERM: the job is waiting on the archive
    again = await EmbeddedBackend(tmp_path, clock=clock).start()
    try:
        got = await again.client("qualifier").get(
            f"/qualifier/v1/backtests/{response.json()['id']}", headers=ADMIN
        )
        assert got.json()["status"] == "failed"
        assert got.json()["error"] == STOPPED
    finally:
        await again.stop()
